//! The crate's errors.
//!
//! [`Error`] is why a connection, a handshake or a decode failed. [`SendError`] and
//! [`TrySendError`] are why a message was not accepted; both hand the message back with
//! `into_inner`, so nothing is silently lost.

use std::fmt;
use std::io;

mod label;
mod secret;

pub use self::secret::SecretError;

/// A channel identifier: one byte on the wire.
pub type ChannelId = u8;

/// Why a connection, a handshake or a decode failed.
///
/// Every way a peer can violate the protocol has its own variant whose message says
/// what was wrong, so a log line is enough to tell a broken peer from a broken network.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error from the socket or the transport.
    Io(io::Error),
    /// The peer closed the connection cleanly, between two packets.
    PeerClosed,
    /// A go-wire varint's size byte is not 0..=8 (or 0xF1..=0xF8 for a negative).
    VarintOverflow {
        /// The offending size byte.
        size_byte: u8,
    },
    /// A go-wire varint is "negative zero" (size byte 0xF0), which go-wire rejects.
    VarintNegativeZero,
    /// A length prefix decoded to a negative number.
    InvalidLength {
        /// The decoded (negative) length.
        length: i64,
    },
    /// A byte slice or string is longer than the decoder allows.
    LengthOverLimit {
        /// The decoded length.
        length: u64,
        /// The largest length allowed here.
        limit: usize,
    },
    /// A field of a go-wire structure is longer than what is left of its size limit.
    FieldOverLimit {
        /// Which field.
        field: &'static str,
        /// The length it claims.
        length: u64,
        /// The bytes that were left.
        limit: usize,
    },
    /// A packet's type byte is not Ping (0x01), Pong (0x02) or Msg (0x03).
    UnknownPacketType {
        /// The offending type byte.
        byte: u8,
    },
    /// A msg packet is larger than `max_packet_msg_payload_size` allows.
    PacketTooLarge {
        /// 2 + varint bytes + payload length: the size go-wire checks.
        size: u64,
        /// The largest accepted size (`max_packet_msg_payload_size + 10`).
        limit: usize,
    },
    /// A msg packet names a channel this connection does not have.
    UnknownChannel {
        /// The channel id the peer sent.
        channel: ChannelId,
    },
    /// A reassembled message would exceed its channel's `recv_message_capacity`.
    MessageTooLarge {
        /// The channel.
        channel: ChannelId,
        /// The size the message would have had with the offending packet.
        size: usize,
        /// The channel's `recv_message_capacity`.
        limit: usize,
    },
    /// We pinged the peer and heard nothing back within `pong_timeout`.
    PongTimeout,
    /// A configuration value is invalid; the text says which and why.
    InvalidConfig(String),
    /// A string that should be a [`PeerId`](crate::PeerId) (64 hex digits) is not.
    InvalidPeerId(String),
    /// A string field is not valid UTF-8.
    InvalidUtf8 {
        /// Which field.
        field: &'static str,
    },
    /// A go-wire value is malformed in a way the other variants do not name.
    Malformed(String),
    /// The peer did not finish the handshake within `handshake_timeout`.
    HandshakeTimeout,
    /// A peer was refused; the reason says why.
    Rejected(RejectReason),
    /// The secret connection failed: bad frame, bad signature or bad key.
    Secret(SecretError),
    /// A reactor panicked while handling this peer's message; the text is the panic message.
    ReactorPanic(String),
    /// This node's application disconnected the peer ([`Peer::disconnect`](crate::Peer::disconnect));
    /// the text is its reason.
    Disconnected(String),
    /// The connection or switch was stopped locally (also: a dial, listen or admission
    /// on a switch that is stopping).
    Stopped,
    /// Code running on a connection's thread panicked: a user callback (`on_receive`),
    /// the transport, or mconn itself. The text says which, and the panic message. The
    /// connection stopped; this is its `on_error`.
    Panicked(String),
}

/// Why the Switch refused a peer. Each is a distinct error for `dial`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// The peer is ourselves (it presented our own node key).
    SelfConnection,
    /// A peer with this id is already connected.
    Duplicate,
    /// The peer's NodeInfo is incompatible with ours; the text says how.
    Incompatible(String),
    /// `max_inbound_peers` inbound peers are already connected.
    TooManyInbound,
    /// `max_outbound_peers` outbound peers are already connected.
    TooManyOutbound,
    /// A user filter refused the peer's address or id; the text is the filter's reason.
    Filtered(String),
    /// A user filter did not answer within `filter_timeout`.
    FilterTimeout,
    /// `max_handshaking` inbound handshakes were in progress: this one, the oldest, was
    /// closed to make room (a flood of silent connections cannot lock good peers out).
    TooManyHandshakes,
    /// The authenticated key differs from the key the NodeInfo or the dialer expected.
    KeyMismatch(String),
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::SelfConnection => f.write_str("connection to self"),
            RejectReason::Duplicate => f.write_str("duplicate peer id"),
            RejectReason::Incompatible(why) => write!(f, "incompatible peer: {why}"),
            RejectReason::TooManyInbound => f.write_str("too many inbound peers"),
            RejectReason::TooManyOutbound => f.write_str("too many outbound peers"),
            RejectReason::Filtered(why) => write!(f, "refused by filter: {why}"),
            RejectReason::FilterTimeout => f.write_str("peer filter timed out"),
            RejectReason::TooManyHandshakes => f.write_str(
                "too many inbound handshakes in progress (max_handshaking): this one, the \
                 oldest, was closed to make room",
            ),
            RejectReason::KeyMismatch(why) => write!(f, "key mismatch: {why}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "i/o error: {e}"),
            Error::PeerClosed => f.write_str("peer closed the connection"),
            Error::VarintOverflow { size_byte } => {
                write!(f, "varint overflow: size byte {size_byte:#04x} is over 8")
            }
            Error::VarintNegativeZero => f.write_str("varint is negative zero (size byte 0xf0)"),
            Error::InvalidLength { length } => write!(f, "invalid length: {length} is negative"),
            Error::LengthOverLimit { length, limit } => {
                write!(f, "length {length} is over the limit of {limit} bytes")
            }
            Error::FieldOverLimit {
                field,
                length,
                limit,
            } => write!(
                f,
                "field {field} claims {length} bytes, only {limit} are left of its limit"
            ),
            Error::UnknownPacketType { byte } => {
                write!(f, "unknown packet type {byte:#04x}")
            }
            Error::PacketTooLarge { size, limit } => write!(
                f,
                "msg packet too large: {size} bytes, the limit is {limit} (payload limit + 10)"
            ),
            Error::UnknownChannel { channel } => write!(f, "unknown channel {channel:#04x}"),
            Error::MessageTooLarge {
                channel,
                size,
                limit,
            } => write!(
                f,
                "message on channel {channel:#04x} would be {size} bytes, over its \
                 recv_message_capacity of {limit}"
            ),
            Error::PongTimeout => f.write_str("peer did not answer our ping within pong_timeout"),
            Error::InvalidConfig(why) => write!(f, "invalid configuration: {why}"),
            Error::InvalidPeerId(why) => write!(f, "invalid peer id: {why}"),
            Error::InvalidUtf8 { field } => write!(f, "field {field} is not valid UTF-8"),
            Error::Malformed(why) => write!(f, "malformed input: {why}"),
            Error::HandshakeTimeout => f.write_str("handshake did not finish in time"),
            Error::Rejected(why) => write!(f, "peer rejected: {why}"),
            Error::Secret(why) => write!(f, "secret connection: {why}"),
            Error::ReactorPanic(why) => write!(f, "reactor panicked: {why}"),
            Error::Stopped => f.write_str("stopped locally"),
            Error::Disconnected(why) => write!(f, "disconnected by this node: {why}"),
            Error::Panicked(why) => f.write_str(why),
        }
    }
}

/// What a socket operation on an address was, and how it failed: the text of an
/// [`Error::Io`] from a dial or a listen ("connecting to 10.0.0.7:26656: Connection
/// refused"), so the message names the address. Its kind stays the original's.
#[derive(Debug)]
struct AtAddr {
    what: String,
    error: io::Error,
}

impl fmt::Display for AtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.error)
    }
}

/// `Display` says it all (see [`Error`]'s `source`).
impl std::error::Error for AtAddr {}

/// `error`, saying it happened `what`-ing (e.g. "connecting to 1.2.3.4:5"); same kind.
pub(crate) fn io_at(what: impl Into<String>, error: io::Error) -> Error {
    let kind = error.kind();
    Error::Io(io::Error::new(
        kind,
        AtAddr {
            what: what.into(),
            error,
        },
    ))
}

impl Clone for Error {
    /// A copy for a second reader (an event stream, a log). An [`Error::Io`] is copied as
    /// its kind, its OS error code if it has one, and its text; the error that an
    /// `io::Error` may wrap is not itself cloned.
    fn clone(&self) -> Self {
        match self {
            Error::Io(e) => Error::Io(match e.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(e.kind(), e.to_string()),
            }),
            Error::PeerClosed => Error::PeerClosed,
            Error::VarintOverflow { size_byte } => Error::VarintOverflow {
                size_byte: *size_byte,
            },
            Error::VarintNegativeZero => Error::VarintNegativeZero,
            Error::InvalidLength { length } => Error::InvalidLength { length: *length },
            Error::LengthOverLimit { length, limit } => Error::LengthOverLimit {
                length: *length,
                limit: *limit,
            },
            Error::FieldOverLimit {
                field,
                length,
                limit,
            } => Error::FieldOverLimit {
                field,
                length: *length,
                limit: *limit,
            },
            Error::UnknownPacketType { byte } => Error::UnknownPacketType { byte: *byte },
            Error::PacketTooLarge { size, limit } => Error::PacketTooLarge {
                size: *size,
                limit: *limit,
            },
            Error::UnknownChannel { channel } => Error::UnknownChannel { channel: *channel },
            Error::MessageTooLarge {
                channel,
                size,
                limit,
            } => Error::MessageTooLarge {
                channel: *channel,
                size: *size,
                limit: *limit,
            },
            Error::PongTimeout => Error::PongTimeout,
            Error::InvalidConfig(s) => Error::InvalidConfig(s.clone()),
            Error::InvalidPeerId(s) => Error::InvalidPeerId(s.clone()),
            Error::InvalidUtf8 { field } => Error::InvalidUtf8 { field },
            Error::Malformed(s) => Error::Malformed(s.clone()),
            Error::HandshakeTimeout => Error::HandshakeTimeout,
            Error::Rejected(r) => Error::Rejected(r.clone()),
            Error::Secret(e) => Error::Secret(e.clone()),
            Error::ReactorPanic(s) => Error::ReactorPanic(s.clone()),
            Error::Disconnected(s) => Error::Disconnected(s.clone()),
            Error::Stopped => Error::Stopped,
            Error::Panicked(s) => Error::Panicked(s.clone()),
        }
    }
}

/// Every variant's `Display` says everything, the wrapped I/O error's text included, so
/// `source()` is `None`: a printer that walks the chain would otherwise print it twice.
/// Match `Error::Io(e)` for the `io::Error` itself.
impl std::error::Error for Error {}

impl std::error::Error for RejectReason {}

impl From<io::Error> for Error {
    /// Wraps an I/O error; an I/O error that carries an `Error` (a transport reporting a
    /// protocol failure through `Read`/`Write`) is unwrapped back into it.
    fn from(e: io::Error) -> Self {
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            if let Some(inner) = e.into_inner() {
                if let Ok(err) = inner.downcast::<Error>() {
                    return *err;
                }
            }
            return Error::Malformed("unreadable transport error".into());
        }
        Error::Io(e)
    }
}

impl From<SecretError> for Error {
    /// [`Error::Secret`].
    fn from(e: SecretError) -> Self {
        Error::Secret(e)
    }
}

impl From<Error> for io::Error {
    /// Carries an `Error` through `Read`/`Write` (kind `InvalidData`); `Error::from`
    /// unwraps it again. An `Io` error is passed through as it is.
    fn from(e: Error) -> Self {
        match e {
            Error::Io(io) => io,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

impl Error {
    /// Whether this error means the peer misbehaved (as opposed to the network failing or
    /// us stopping). Misbehaviour is logged at WARN.
    pub fn is_protocol_violation(&self) -> bool {
        matches!(
            self,
            Error::VarintOverflow { .. }
                | Error::VarintNegativeZero
                | Error::InvalidLength { .. }
                | Error::LengthOverLimit { .. }
                | Error::FieldOverLimit { .. }
                | Error::UnknownPacketType { .. }
                | Error::PacketTooLarge { .. }
                | Error::UnknownChannel { .. }
                | Error::MessageTooLarge { .. }
                | Error::InvalidUtf8 { .. }
                | Error::Malformed(_)
                | Error::Secret(_)
        )
    }
}

#[cfg(test)]
mod tests;
