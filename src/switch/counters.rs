//! What the switch counts for its metrics: dials, handshakes, refusals and removals, by
//! direction and reason. Counted where the matching [`SwitchEvent`] is emitted (or
//! where the step runs), read by the Prometheus collector (feature `metrics`). Every
//! label comes from a closed set ([`Error::label`]), so the number of series is bounded
//! whatever peers do. These events are rare (one per connection attempt at most), so one
//! lock is plenty; nothing here is on a message's path.
//!
//! [`SwitchEvent`]: super::events::SwitchEvent

use std::collections::BTreeMap;

use parking_lot::Mutex;

use crate::error::Error;

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) enum Count {
    /// A dial began (persistent redials and discovery's dials included).
    Dial,
    /// A dial produced no peer (reason).
    DialFailed,
    /// A handshake began (direction).
    Handshake,
    /// A handshake failed (direction, reason).
    HandshakeFailed,
    /// A peer was refused after, or instead of, its handshake (direction, reason).
    Refused,
    /// A peer was removed (reason).
    Removed,
}

/// One series: what, which direction (`""` when it has none), why (`""` likewise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub count: Count,
    pub direction: &'static str,
    pub reason: &'static str,
}

/// The switch's counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    counts: Mutex<BTreeMap<Key, u64>>,
}

/// A direction label.
pub(crate) fn direction(outbound: bool) -> &'static str {
    if outbound {
        "outbound"
    } else {
        "inbound"
    }
}

impl Counters {
    /// Adds one to a series without a reason.
    pub fn add(&self, count: Count, direction: &'static str) {
        self.add_key(Key {
            count,
            direction,
            reason: "",
        });
    }

    /// Adds one to a series labelled with `error`'s kind.
    pub fn add_error(&self, count: Count, direction: &'static str, error: &Error) {
        self.add_key(Key {
            count,
            direction,
            reason: error.label(),
        });
    }

    fn add_key(&self, key: Key) {
        *self.counts.lock().entry(key).or_insert(0) += 1;
    }

    /// Every series counted so far, in order.
    #[cfg_attr(not(any(feature = "metrics", test)), allow(dead_code))]
    pub fn snapshot(&self) -> Vec<(Key, u64)> {
        self.counts.lock().iter().map(|(k, v)| (*k, *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RejectReason;

    #[test]
    fn series_are_keyed_by_what_direction_and_kind_of_reason() {
        let c = Counters::default();
        c.add(Count::Dial, "");
        c.add(Count::Dial, "");
        for why in ["a", "b", "c"] {
            let e = Error::Rejected(RejectReason::Filtered(why.into()));
            c.add_error(Count::Refused, direction(false), &e);
        }
        c.add_error(Count::Removed, "", &Error::PongTimeout);
        let snap = c.snapshot();
        let key = |count, direction, reason| Key {
            count,
            direction,
            reason,
        };
        assert_eq!(
            snap,
            [
                (key(Count::Dial, "", ""), 2),
                (key(Count::Refused, "inbound", "filtered"), 3),
                (key(Count::Removed, "", "pong_timeout"), 1),
            ],
            "three filter texts are one series"
        );
    }
}
