//! What the keepalive did, as counters any thread may read: pings and pongs each way, and
//! the round-trip time of our last answered ping. Pure: times are nanoseconds after the
//! connection's epoch, passed in.
//!
//! A round trip runs from the moment the send thread decided to ping (the ping then
//! waits behind at most one batch) to the moment the recv thread decoded the pong that
//! answers it, so it is what an application sees: network, the peer's queues and both
//! processes' scheduling.
//!
//! Pings and pongs carry no number, so a pong can be paired with its ping only when the
//! order says which it is: a measurement starts with a ping sent while no other is
//! unanswered, and ends with the next pong (pongs come back in order). While pongs lag
//! by more than an interval, several pings are in flight and no new measurement starts:
//! `rtt` keeps its last value rather than pair a pong with the wrong ping. A peer that
//! coalesces two pings into one pong (as mconn does when pings come faster than it
//! writes) leaves one ping unanswered for good; once no pong has come for a whole
//! interval, those are taken as answered and measuring resumes.
//!
//! Hostile pongs: a peer that ever sent more pongs than we sent pings (a pong flood, or
//! pongs nobody asked for) is not measured again, and its `rtt` is cleared, so spraying
//! pongs cannot pin a round trip near zero. A peer that sends exactly one early pong per
//! ping cannot be told apart from a fast one: the wire has nothing to check it against.

use std::time::Duration;

use parking_lot::Mutex;

/// The keepalive's counters of one connection. Pings and pongs are rare (one each per
/// `ping_interval`; the peer's pings are answered by coalesced, rate-limited pongs), so
/// one lock suffices; a pong flood costs one uncontended lock per pong.
#[derive(Debug)]
pub(crate) struct PingStats {
    ping_interval_ns: u64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    counts: PingCounts,
    /// Our pings not yet paired with a pong.
    unanswered: u64,
    /// When the ping being measured went out.
    measuring: Option<u64>,
    /// When the last pong arrived.
    last_pong: Option<u64>,
    /// The peer sent more pongs than we sent pings: no more measurements.
    distrusted: bool,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PingCounts {
    pub pings_sent: u64,
    pub pongs_received: u64,
    pub pings_received: u64,
    pub pongs_sent: u64,
    pub rtt: Option<Duration>,
}

impl PingStats {
    /// Counters for a connection that pings every `ping_interval`.
    pub fn new(ping_interval: Duration) -> Self {
        PingStats {
            ping_interval_ns: u64::try_from(ping_interval.as_nanos()).unwrap_or(u64::MAX),
            state: Mutex::default(),
        }
    }

    /// Our ping is going out at `at_ns`: it starts a measurement if no other ping is
    /// unanswered (or none has been answered for an interval, see the module docs).
    pub fn ping_sent(&self, at_ns: u64) {
        let mut s = self.state.lock();
        s.counts.pings_sent += 1;
        let quiet = s
            .last_pong
            .map_or(true, |t| at_ns.saturating_sub(t) >= self.ping_interval_ns);
        if s.measuring.is_none() && !s.distrusted && (s.unanswered == 0 || quiet) {
            s.unanswered = 0;
            s.measuring = Some(at_ns);
        }
        s.unanswered += 1;
    }

    /// A pong arrived at `at_ns`; returns the round trip if it ends a measurement.
    pub fn pong_received(&self, at_ns: u64) -> Option<Duration> {
        let mut s = self.state.lock();
        s.counts.pongs_received += 1;
        s.last_pong = Some(at_ns);
        s.unanswered = s.unanswered.saturating_sub(1);
        if s.counts.pongs_received > s.counts.pings_sent {
            s.distrusted = true;
            s.measuring = None;
            s.counts.rtt = None;
        }
        let sent = s.measuring.take()?;
        let rtt = Duration::from_nanos(at_ns.saturating_sub(sent));
        s.counts.rtt = Some(rtt);
        Some(rtt)
    }

    /// The peer pinged us (counted even when pongs are coalesced).
    pub fn ping_received(&self) {
        self.state.lock().counts.pings_received += 1;
    }

    /// Our pong is going out.
    pub fn pong_sent(&self) {
        self.state.lock().counts.pongs_sent += 1;
    }

    /// The counters now.
    pub fn counts(&self) -> PingCounts {
        self.state.lock().counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn stats() -> PingStats {
        PingStats::new(Duration::from_millis(100))
    }

    #[test]
    fn a_pong_after_our_ping_measures_the_round_trip() {
        let s = stats();
        assert_eq!(s.counts().rtt, None, "nothing measured yet");
        s.ping_sent(0); // at the epoch itself
        assert_eq!(s.pong_received(7 * MS), Some(Duration::from_millis(7)));
        s.ping_sent(100 * MS);
        assert_eq!(s.pong_received(103 * MS), Some(Duration::from_millis(3)));
        let c = s.counts();
        assert_eq!(c.rtt, Some(Duration::from_millis(3)), "the last one");
        assert_eq!((c.pings_sent, c.pongs_received), (2, 2));
    }

    #[test]
    fn pongs_lagging_by_more_than_an_interval_are_not_paired_with_newer_pings() {
        // The peer answers each ping 350 ms late; we ping every 100 ms.
        let s = stats();
        let mut measured = Vec::new();
        for t in (0..3000).step_by(50) {
            let now = t * MS;
            if t % 100 == 0 {
                s.ping_sent(now);
            }
            // The pong for the ping sent 350 ms ago (pings at multiples of 100).
            if t >= 350 && (t - 350) % 100 == 0 {
                if let Some(rtt) = s.pong_received(now) {
                    measured.push(rtt);
                }
            }
        }
        assert_eq!(
            measured,
            [Duration::from_millis(350)],
            "only the exact pairing"
        );
        assert_eq!(s.counts().rtt, Some(Duration::from_millis(350)));
    }

    #[test]
    fn a_coalesced_pong_is_forgiven_after_a_quiet_interval() {
        let s = stats();
        s.ping_sent(0);
        s.ping_sent(100 * MS); // both answered by one pong
        assert_eq!(s.pong_received(150 * MS), Some(Duration::from_millis(150)));
        // One ping looks unanswered for ever; after an interval without pongs it is not.
        s.ping_sent(200 * MS);
        assert_eq!(s.pong_received(202 * MS), None, "150 ms: too soon to tell");
        s.ping_sent(310 * MS);
        assert_eq!(s.pong_received(314 * MS), Some(Duration::from_millis(4)));
    }

    #[test]
    fn a_peer_that_sends_more_pongs_than_pings_is_not_measured() {
        let s = stats();
        s.ping_sent(0);
        assert!(s.pong_received(MS).is_some());
        // A spray: a pong every millisecond, our pings every 100 ms.
        let mut got = Vec::new();
        for t in 2..1000u64 {
            if t % 100 == 0 {
                s.ping_sent(t * MS);
            }
            got.extend(s.pong_received(t * MS));
        }
        assert!(got.is_empty(), "{got:?}");
        assert_eq!(
            s.counts().rtt,
            None,
            "the measurement before is dropped too"
        );
    }

    #[test]
    fn unasked_pongs_before_any_ping_measure_nothing() {
        let s = stats();
        assert_eq!(s.pong_received(5 * MS), None);
        s.ping_sent(10 * MS);
        assert_eq!(
            s.pong_received(12 * MS),
            None,
            "a peer that lied once is not trusted"
        );
        let c = s.counts();
        assert_eq!((c.pings_sent, c.pongs_received, c.rtt), (1, 2, None));
    }

    #[test]
    fn clock_extremes_saturate() {
        let s = PingStats::new(Duration::MAX);
        s.ping_sent(u64::MAX);
        // A pong "before" the ping (clock readings from two threads) is a zero round trip.
        assert_eq!(s.pong_received(5), Some(Duration::ZERO));
        s.ping_sent(0);
        assert_eq!(
            s.pong_received(u64::MAX),
            Some(Duration::from_nanos(u64::MAX))
        );
    }

    #[test]
    fn the_peers_pings_and_our_pongs_are_counted_apart() {
        let s = stats();
        for _ in 0..10 {
            s.ping_received();
        }
        s.pong_sent();
        let c = s.counts();
        assert_eq!((c.pings_received, c.pongs_sent), (10, 1));
        assert_eq!((c.pings_sent, c.pongs_received, c.rtt), (0, 0, None));
    }
}
