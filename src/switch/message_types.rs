//! Bytes per message type, each way: CometBFT's `message_receive_bytes_total` and
//! `message_send_bytes_total{message_type}`. Only a protocol family whose messages name
//! their type has a table ([`Protocol::cometbft`](super::Protocol::cometbft)), and the
//! counters exist only with the `metrics` feature, which reads them; otherwise a peer's
//! send and receive paths see `None` and count nothing.
//!
//! Per message: the family's classifier (it reads a key or two at the front of the
//! message) and one relaxed atomic add. Labels come from the family's fixed table.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::error::ChannelId;

/// A family's message types: their labels, and which one a message on a channel is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MessageTypes {
    /// Every label, as the family's own nodes print it.
    pub names: &'static [&'static str],
    /// The index in `names` of a message on a channel; `None` for a message of no known
    /// type (not counted, as the family's nodes do not count what they cannot decode).
    pub classify: fn(ChannelId, &[u8]) -> Option<usize>,
}

/// The counters for one switch.
#[derive(Debug)]
pub(crate) struct TypeCounters {
    types: MessageTypes,
    received: Box<[AtomicU64]>,
    sent: Box<[AtomicU64]>,
}

impl TypeCounters {
    pub fn new(types: MessageTypes) -> Self {
        let zeros = || types.names.iter().map(|_| AtomicU64::new(0)).collect();
        TypeCounters {
            types,
            received: zeros(),
            sent: zeros(),
        }
    }

    /// The type of `msg` on `ch`, if the family knows it.
    pub fn classify(&self, ch: ChannelId, msg: &[u8]) -> Option<usize> {
        (self.types.classify)(ch, msg).filter(|i| *i < self.types.names.len())
    }

    /// `msg` arrived on `ch`.
    pub fn received(&self, ch: ChannelId, msg: &[u8]) {
        if let Some(i) = self.classify(ch, msg) {
            self.received[i].fetch_add(msg.len() as u64, Relaxed);
        }
    }

    /// `len` bytes of type `kind` (from [`classify`](Self::classify)) were queued.
    pub fn sent(&self, kind: Option<usize>, len: usize) {
        if let Some(i) = kind {
            self.sent[i].fetch_add(len as u64, Relaxed);
        }
    }

    /// Every type seen either way: its label, bytes received, bytes sent.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub fn snapshot(&self) -> Vec<(&'static str, u64, u64)> {
        let names = self.types.names.iter();
        let counts = self.received.iter().zip(self.sent.iter());
        names
            .zip(counts)
            .map(|(n, (r, s))| (*n, r.load(Relaxed), s.load(Relaxed)))
            .filter(|(_, r, s)| *r > 0 || *s > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_first_byte(ch: ChannelId, msg: &[u8]) -> Option<usize> {
        if ch != 7 {
            return None;
        }
        msg.first().map(|b| *b as usize)
    }

    const TYPES: MessageTypes = MessageTypes {
        names: &["zero", "one"],
        classify: by_first_byte,
    };

    #[test]
    fn bytes_are_counted_per_type_each_way_and_unknown_ones_are_not() {
        let c = TypeCounters::new(TYPES);
        c.received(7, &[0, 0, 0]);
        c.received(7, &[1]);
        c.received(8, &[0; 100]); // another channel: no type
        c.received(7, &[]); // no type
        c.received(7, &[9, 9]); // an index past the table: refused, not a panic
        c.sent(c.classify(7, &[1, 2]), 2);
        c.sent(None, 1000);
        assert_eq!(c.snapshot(), [("zero", 3, 0), ("one", 1, 2)]);
    }

    #[test]
    fn types_never_seen_are_not_listed() {
        let c = TypeCounters::new(TYPES);
        c.sent(c.classify(7, &[1]), 5);
        assert_eq!(c.snapshot(), [("one", 0, 5)]);
    }
}
