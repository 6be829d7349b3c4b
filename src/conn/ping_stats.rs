//! What the keepalive did, as counters any thread may read: pings and pongs each way, and
//! the round-trip time of our last answered ping. Pure: times are nanoseconds after the
//! connection's epoch, passed in.
//!
//! The round trip runs from the moment the send thread decided to ping (the ping then
//! waits behind at most one batch) to the moment the recv thread decoded a pong, so it is
//! what an application sees: network, the peer's queues and both processes' scheduling.
//! Only a pong that arrives while one of our pings is outstanding counts; a pong nobody
//! asked for changes nothing, so a peer cannot make up a round trip without being pinged.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The keepalive's counters of one connection. Every method is a few relaxed atomic
/// operations; pings and pongs are rare (one each per `ping_interval`, and the peer's
/// pings are answered by coalesced, rate-limited pongs).
#[derive(Debug, Default)]
pub(crate) struct PingStats {
    pings_sent: AtomicU64,
    pongs_received: AtomicU64,
    pings_received: AtomicU64,
    pongs_sent: AtomicU64,
    /// One more than the time our outstanding ping went out; 0: none outstanding.
    outstanding: AtomicU64,
    /// One more than the last round trip in nanoseconds; 0: none measured yet.
    last_rtt: AtomicU64,
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
    /// Our ping is going out at `at_ns`. A ping still outstanding is replaced: the pong
    /// that comes next answers the newer one at the earliest.
    pub fn ping_sent(&self, at_ns: u64) {
        self.pings_sent.fetch_add(1, Relaxed);
        self.outstanding.store(at_ns.saturating_add(1), Relaxed);
    }

    /// A pong arrived at `at_ns`; returns the round trip if it answers our ping.
    pub fn pong_received(&self, at_ns: u64) -> Option<Duration> {
        self.pongs_received.fetch_add(1, Relaxed);
        let sent = self.outstanding.swap(0, Relaxed);
        if sent == 0 {
            return None;
        }
        let rtt = at_ns.saturating_sub(sent - 1);
        self.last_rtt.store(rtt.saturating_add(1), Relaxed);
        Some(Duration::from_nanos(rtt))
    }

    /// The peer pinged us (counted even when pongs are coalesced).
    pub fn ping_received(&self) {
        self.pings_received.fetch_add(1, Relaxed);
    }

    /// Our pong is going out.
    pub fn pong_sent(&self) {
        self.pongs_sent.fetch_add(1, Relaxed);
    }

    /// The counters now.
    pub fn counts(&self) -> PingCounts {
        let rtt = self.last_rtt.load(Relaxed);
        PingCounts {
            pings_sent: self.pings_sent.load(Relaxed),
            pongs_received: self.pongs_received.load(Relaxed),
            pings_received: self.pings_received.load(Relaxed),
            pongs_sent: self.pongs_sent.load(Relaxed),
            rtt: rtt.checked_sub(1).map(Duration::from_nanos),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_pong_after_our_ping_measures_the_round_trip() {
        let s = PingStats::default();
        assert_eq!(s.counts().rtt, None, "nothing measured yet");
        s.ping_sent(0); // at the epoch itself: 0 must not read as "none"
        assert_eq!(s.pong_received(7 * MS), Some(Duration::from_millis(7)));
        s.ping_sent(100 * MS);
        assert_eq!(s.pong_received(103 * MS), Some(Duration::from_millis(3)));
        let c = s.counts();
        assert_eq!(c.rtt, Some(Duration::from_millis(3)), "the last one");
        assert_eq!((c.pings_sent, c.pongs_received), (2, 2));
    }

    #[test]
    fn unasked_pongs_measure_nothing() {
        let s = PingStats::default();
        assert_eq!(s.pong_received(5 * MS), None);
        s.ping_sent(10 * MS);
        assert!(s.pong_received(12 * MS).is_some());
        // A second pong for the same ping (or a made-up one) keeps the measured value.
        assert_eq!(s.pong_received(50 * MS), None);
        let c = s.counts();
        assert_eq!(c.rtt, Some(Duration::from_millis(2)));
        assert_eq!((c.pings_sent, c.pongs_received), (1, 3));
    }

    #[test]
    fn a_newer_ping_replaces_an_outstanding_one() {
        let s = PingStats::default();
        s.ping_sent(0);
        s.ping_sent(60 * MS);
        assert_eq!(s.pong_received(61 * MS), Some(Duration::from_millis(1)));
    }

    #[test]
    fn clock_extremes_saturate() {
        let s = PingStats::default();
        s.ping_sent(u64::MAX);
        // A pong "before" the ping (clock readings from two threads) is a zero round trip.
        assert_eq!(s.pong_received(5), Some(Duration::ZERO));
        s.ping_sent(0);
        assert_eq!(
            s.pong_received(u64::MAX),
            Some(Duration::from_nanos(u64::MAX))
        );
        assert_eq!(s.counts().rtt, Some(Duration::from_nanos(u64::MAX - 1)));
    }

    #[test]
    fn the_peers_pings_and_our_pongs_are_counted_apart() {
        let s = PingStats::default();
        for _ in 0..10 {
            s.ping_received();
        }
        s.pong_sent();
        let c = s.counts();
        assert_eq!((c.pings_received, c.pongs_sent), (10, 1));
        assert_eq!((c.pings_sent, c.pongs_received, c.rtt), (0, 0, None));
    }
}
