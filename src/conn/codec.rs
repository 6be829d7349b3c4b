//! The packet codec seam: how pings, pongs and message chunks look on the wire.
//!
//! The threads, the scheduler, reassembly and the limits are the same for every protocol
//! family; only the bytes of a packet differ (go-wire's `03 | channel | eof | varint |
//! payload` for Tendermint v0.12, a length-delimited protobuf `Packet` for CometBFT). A
//! family plugs in by implementing [`PacketCodec`]; [`MConnConfig::codec`] chooses one,
//! and [`GoWire`] is the default.
//!
//! [`MConnConfig::codec`]: super::MConnConfig::codec

use std::any::TypeId;
use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

use super::wire;
use crate::error::{ChannelId, Error};

/// A packet found at the front of a buffer; a message chunk names its payload as a
/// range of that buffer, so the connection can take it without copying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Keepalive request; the connection answers with a pong.
    Ping,
    /// Keepalive answer.
    Pong,
    /// A chunk of a message.
    Msg {
        /// The channel the message belongs to.
        channel: ChannelId,
        /// Whether this chunk ends the message.
        eof: bool,
        /// Where the chunk's bytes are in the buffer passed to `decode`.
        payload: Range<usize>,
    },
}

/// Encodes and decodes one protocol family's packets. Pure: no I/O, no state.
///
/// The contract the connection relies on, which a test codec in `tests/` exercises:
/// - `decode` looks only at the front of `buf` and returns `Ok(None)` while `buf` holds
///   only a prefix of a packet, `Ok(Some((packet, used)))` once it holds a whole one
///   (1 ≤ `used` ≤ `buf.len()`, payload within `..used`), and an error as soon as the
///   bytes seen prove one. It must bound what a packet may claim by `max_payload` before
///   the payload has arrived, so the read buffer never grows beyond one legal packet.
/// - A packet takes at most `max_payload + 74` bytes (go-wire's `max_payload + 10`, and
///   room for other framings).
///
/// The connection checks all of this itself: a codec that breaks it stops the
/// connection with an error (`Malformed` or `PacketTooLarge`), never a hang or a panic.
/// - `encode_msg` writes a packet that `decode` reads back as the same chunk, for any
///   payload up to `max_payload` bytes.
pub trait PacketCodec: Send + Sync + 'static {
    /// A short name for logs and `Debug` (two codecs with the same name compare equal).
    fn name(&self) -> &'static str;
    /// Appends a ping packet.
    fn encode_ping(&self, out: &mut Vec<u8>);
    /// Appends a pong packet.
    fn encode_pong(&self, out: &mut Vec<u8>);
    /// Appends a packet carrying `payload` as a chunk of a message on `channel`; `eof`
    /// marks the message's last chunk.
    fn encode_msg(&self, out: &mut Vec<u8>, channel: ChannelId, eof: bool, payload: &[u8]);
    /// Decodes the packet at the front of `buf` (see the trait docs for the contract).
    fn decode(&self, buf: &[u8], max_payload: usize) -> Result<Option<(Decoded, usize)>, Error>;
}

/// A shareable handle to a [`PacketCodec`]: what [`MConnConfig`](super::MConnConfig)
/// holds. Defaults to [`GoWire`].
#[derive(Clone)]
pub struct Codec {
    inner: Arc<dyn PacketCodec>,
    /// The codec is [`GoWire`]: the connection's per-packet calls go to it directly
    /// (inlined), not through the trait object.
    go_wire: bool,
}

impl Codec {
    /// Wraps a codec.
    pub fn new<C: PacketCodec>(codec: C) -> Self {
        Codec {
            inner: Arc::new(codec),
            go_wire: TypeId::of::<C>() == TypeId::of::<GoWire>(),
        }
    }

    /// Whether the codec is [`GoWire`].
    #[inline]
    pub(crate) fn is_go_wire(&self) -> bool {
        self.go_wire
    }

    /// [`PacketCodec::encode_msg`], inlined for [`GoWire`].
    #[inline]
    pub(crate) fn encode_msg_fast(
        &self,
        out: &mut Vec<u8>,
        channel: ChannelId,
        eof: bool,
        payload: &[u8],
    ) {
        if self.go_wire {
            GoWire.encode_msg(out, channel, eof, payload);
        } else {
            self.inner.encode_msg(out, channel, eof, payload);
        }
    }

    /// [`PacketCodec::decode`], inlined for [`GoWire`].
    #[inline]
    pub(crate) fn decode_fast(
        &self,
        buf: &[u8],
        max_payload: usize,
    ) -> Result<Option<(Decoded, usize)>, Error> {
        if self.go_wire {
            GoWire.decode(buf, max_payload)
        } else {
            self.inner.decode(buf, max_payload)
        }
    }
}

impl Default for Codec {
    fn default() -> Self {
        Codec::new(GoWire)
    }
}

impl Deref for Codec {
    type Target = dyn PacketCodec;
    fn deref(&self) -> &Self::Target {
        &*self.inner
    }
}

impl PartialEq for Codec {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Codec {}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Codec({})", self.name())
    }
}

/// Tendermint v0.12's go-wire packets (see [`wire`](super::wire)).
#[derive(Clone, Copy, Debug, Default)]
pub struct GoWire;

impl PacketCodec for GoWire {
    fn name(&self) -> &'static str {
        "go-wire"
    }

    fn encode_ping(&self, out: &mut Vec<u8>) {
        out.push(wire::PACKET_TYPE_PING);
    }

    fn encode_pong(&self, out: &mut Vec<u8>) {
        out.push(wire::PACKET_TYPE_PONG);
    }

    #[inline]
    fn encode_msg(&self, out: &mut Vec<u8>, channel: ChannelId, eof: bool, payload: &[u8]) {
        wire::encode_msg_header(out, channel, eof, payload.len());
        out.extend_from_slice(payload);
    }

    #[inline]
    fn decode(&self, buf: &[u8], max_payload: usize) -> Result<Option<(Decoded, usize)>, Error> {
        let max_total = wire::max_packet_total_size(max_payload);
        Ok(
            wire::decode_packet(buf, max_total)?.map(|(p, used)| match p {
                wire::PacketRef::Ping => (Decoded::Ping, used),
                wire::PacketRef::Pong => (Decoded::Pong, used),
                wire::PacketRef::Msg {
                    channel,
                    eof,
                    payload,
                } => {
                    // go-wire puts the payload last.
                    let start = used - payload.len();
                    let payload = start..used;
                    (
                        Decoded::Msg {
                            channel,
                            eof,
                            payload,
                        },
                        used,
                    )
                }
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_wire_round_trips_and_names_the_payload_range() {
        let c = Codec::default();
        let mut out = Vec::new();
        c.encode_ping(&mut out);
        c.encode_msg(&mut out, 0x20, true, b"hey");
        c.encode_pong(&mut out);
        assert_eq!(
            out,
            [0x01, 0x03, 0x20, 0x01, 0x01, 0x03, b'h', b'e', b'y', 0x02]
        );
        let (p, used) = c.decode(&out, 1024).unwrap().unwrap();
        assert_eq!((p, used), (Decoded::Ping, 1));
        let rest = &out[1..];
        let (p, used) = c.decode(rest, 1024).unwrap().unwrap();
        assert_eq!(
            p,
            Decoded::Msg {
                channel: 0x20,
                eof: true,
                payload: 5..8
            }
        );
        assert_eq!(&rest[5..8], b"hey");
        assert_eq!(used, 8);
        assert_eq!(c.decode(&rest[..7], 1024).unwrap(), None);
    }

    #[test]
    fn codecs_compare_by_name() {
        assert_eq!(Codec::default(), Codec::new(GoWire));
        assert_eq!(format!("{:?}", Codec::default()), "Codec(go-wire)");
    }
}
