//! A short, fixed name for each kind of error: the `reason` label of the switch's
//! counters (`metrics.rs` in the switch). The set is closed, so a metric labelled with
//! it has a bounded number of series whatever peers send: the text of an error (which a
//! peer may choose) never becomes a label.

use std::io::ErrorKind;

use super::{Error, RejectReason};

impl Error {
    /// This error's kind as a metric label: `snake_case`, from a fixed set.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Error::Io(e) => match e.kind() {
                ErrorKind::ConnectionRefused => "connection_refused",
                ErrorKind::TimedOut | ErrorKind::WouldBlock => "timed_out",
                ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof => "connection_reset",
                _ => "io",
            },
            Error::PeerClosed => "peer_closed",
            Error::VarintOverflow { .. }
            | Error::VarintNegativeZero
            | Error::InvalidLength { .. }
            | Error::LengthOverLimit { .. }
            | Error::FieldOverLimit { .. }
            | Error::UnknownPacketType { .. }
            | Error::InvalidUtf8 { .. }
            | Error::Malformed(_) => "malformed",
            Error::PacketTooLarge { .. } => "packet_too_large",
            Error::UnknownChannel { .. } => "unknown_channel",
            Error::MessageTooLarge { .. } => "message_too_large",
            Error::PongTimeout => "pong_timeout",
            Error::InvalidConfig(_) => "invalid_config",
            Error::InvalidPeerId(_) => "invalid_peer_id",
            Error::HandshakeTimeout => "handshake_timeout",
            Error::Rejected(r) => r.label(),
            Error::Secret(_) => "secret_connection",
            Error::ReactorPanic(_) => "reactor_panic",
            Error::Disconnected(_) => "disconnected",
            Error::Stopped => "stopped",
            Error::Panicked(_) => "panicked",
        }
    }
}

impl RejectReason {
    /// This refusal's kind as a metric label.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            RejectReason::SelfConnection => "self_connection",
            RejectReason::Duplicate => "duplicate",
            RejectReason::Incompatible(_) => "incompatible",
            RejectReason::TooManyInbound => "too_many_inbound",
            RejectReason::TooManyOutbound => "too_many_outbound",
            RejectReason::Filtered(_) => "filtered",
            RejectReason::FilterTimeout => "filter_timeout",
            RejectReason::TooManyHandshakes => "too_many_handshakes",
            RejectReason::KeyMismatch(_) => "key_mismatch",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn labels_are_short_snake_case_and_ignore_the_text() {
        let errors = [
            Error::Io(io::Error::from(ErrorKind::ConnectionRefused)),
            Error::Io(io::Error::new(ErrorKind::Other, "anything a peer says")),
            Error::Malformed("peer-chosen text".into()),
            Error::Rejected(RejectReason::Filtered("peer-chosen".into())),
            Error::Rejected(RejectReason::Incompatible("x".repeat(10_000))),
            Error::Disconnected("app text".into()),
            Error::PongTimeout,
        ];
        let labels: Vec<_> = errors.iter().map(Error::label).collect();
        assert_eq!(
            labels,
            [
                "connection_refused",
                "io",
                "malformed",
                "filtered",
                "incompatible",
                "disconnected",
                "pong_timeout"
            ]
        );
        for l in labels {
            assert!(l.len() <= 24 && l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }
}
