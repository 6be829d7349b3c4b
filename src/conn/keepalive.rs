//! Keepalive timing: when to ping, when the peer has gone quiet, and how often we answer
//! pings. Pure; the clock is passed in.
//!
//! * We ping every `ping_interval`, whether or not other traffic flows (as Go does), so
//!   the round-trip time stays measured on a busy connection too.
//! * If neither a pong nor any other byte arrives within `pong_timeout` of our ping, the
//!   connection stops with `PongTimeout`.
//! * Pings from the peer are answered with one pong each, but coalesced (pings that arrive
//!   before the pong is written share it) and rate-limited by [`PongLimiter`]: at most
//!   [`PONG_BURST`] back to back, then one per [`PONG_INTERVAL`]. A flood of 100 000 pings
//!   therefore costs a handful of pongs, and a pong is never held back longer than
//!   `PONG_INTERVAL`, far inside any peer's pong timeout.

use std::time::{Duration, Instant};

use crate::time::deadline;

/// Pongs that may be written back to back.
pub const PONG_BURST: u32 = 5;
/// After a burst, at most one pong per this interval.
pub const PONG_INTERVAL: Duration = Duration::from_millis(100);

/// What the send thread should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the returned deadline.
    Wait,
    /// Write a ping now.
    SendPing,
    /// The peer did not answer our ping in time: stop with `PongTimeout`.
    Timeout,
}

/// The ping/pong state machine of one connection.
#[derive(Debug, Clone)]
pub struct Keepalive {
    ping_interval: Duration,
    pong_timeout: Duration,
    ping_sent_at: Option<Instant>,
    /// When the last ping went out (the start, before the first): the next is due an
    /// interval later.
    last_ping: Instant,
}

impl Keepalive {
    /// A keepalive started at `now` with the given timings (`pong_timeout <
    /// ping_interval`, checked by the config).
    pub fn new(now: Instant, ping_interval: Duration, pong_timeout: Duration) -> Self {
        Keepalive {
            ping_interval,
            pong_timeout,
            ping_sent_at: None,
            last_ping: now,
        }
    }

    /// Decides at `now`, given the time the last bytes arrived from the peer, what to do
    /// and when to ask again. Receiving anything after our ping answers it (the pong
    /// timeout is about a peer gone quiet; a peer that talks is alive).
    pub fn poll(&mut self, now: Instant, last_recv: Instant) -> (Action, Instant) {
        if let Some(sent) = self.ping_sent_at {
            if last_recv >= sent {
                self.ping_sent_at = None;
            } else {
                let pong_due = deadline(sent, self.pong_timeout);
                if now >= pong_due {
                    return (Action::Timeout, now);
                }
                return (Action::Wait, pong_due);
            }
        }
        let ping_due = deadline(self.last_ping, self.ping_interval);
        if now >= ping_due {
            self.ping_sent_at = Some(now);
            self.last_ping = now;
            (Action::SendPing, deadline(now, self.pong_timeout))
        } else {
            (Action::Wait, ping_due)
        }
    }

    /// Whether we are waiting for an answer to a ping.
    #[cfg(test)]
    pub fn awaiting_pong(&self) -> bool {
        self.ping_sent_at.is_some()
    }
}

/// Rate limit for our pongs: a token bucket of [`PONG_BURST`] tokens refilled one per
/// [`PONG_INTERVAL`].
#[derive(Debug, Clone)]
pub struct PongLimiter {
    tokens: u32,
    last_refill: Instant,
}

impl PongLimiter {
    /// A full bucket at `now`.
    pub fn new(now: Instant) -> Self {
        PongLimiter {
            tokens: PONG_BURST,
            last_refill: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last_refill);
        let earned = (elapsed.as_nanos() / PONG_INTERVAL.as_nanos()) as u64;
        if earned > 0 {
            self.tokens = (self.tokens as u64 + earned).min(PONG_BURST as u64) as u32;
            self.last_refill += PONG_INTERVAL * earned.min(u32::MAX as u64) as u32;
            if self.tokens == PONG_BURST {
                self.last_refill = now;
            }
        }
    }

    /// Takes a token if one is available at `now`.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }

    /// When the next token becomes available (meaningful after `try_take` failed).
    pub fn next_token_at(&self) -> Instant {
        self.last_refill + PONG_INTERVAL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn pings_after_silence_and_times_out() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(t0, 90 * MS, 45 * MS);
        assert_eq!(k.poll(t0, t0), (Action::Wait, t0 + 90 * MS));
        assert_eq!(k.poll(t0 + 89 * MS, t0).0, Action::Wait);
        assert_eq!(k.poll(t0 + 90 * MS, t0), (Action::SendPing, t0 + 135 * MS));
        assert!(k.awaiting_pong());
        assert_eq!(k.poll(t0 + 100 * MS, t0), (Action::Wait, t0 + 135 * MS));
        assert_eq!(k.poll(t0 + 135 * MS, t0).0, Action::Timeout);
    }

    #[test]
    fn anything_received_answers_the_ping() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(t0, 90 * MS, 45 * MS);
        assert_eq!(k.poll(t0 + 90 * MS, t0).0, Action::SendPing);
        // A pong (or any packet) at 100 ms.
        let (a, next) = k.poll(t0 + 120 * MS, t0 + 100 * MS);
        assert_eq!(a, Action::Wait);
        assert!(!k.awaiting_pong());
        assert_eq!(next, t0 + 180 * MS, "next ping an interval after the last");
        // Several intervals of ping/pong keep it alive.
        let mut now = t0 + 180 * MS;
        for _ in 0..5 {
            assert_eq!(k.poll(now, now - 90 * MS).0, Action::SendPing);
            assert_eq!(k.poll(now + 10 * MS, now + 5 * MS).0, Action::Wait);
            now += 90 * MS;
        }
    }

    #[test]
    fn pings_go_out_every_interval_while_traffic_flows() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(t0, 90 * MS, 45 * MS);
        let mut pings = Vec::new();
        for i in 1..100u32 {
            let now = t0 + i * 10 * MS;
            // Something arrives every millisecond: never a timeout.
            match k.poll(now, now - MS).0 {
                Action::SendPing => pings.push(i * 10),
                Action::Wait => {}
                Action::Timeout => panic!("timeout at {i}"),
            }
        }
        assert_eq!(
            pings,
            [90, 180, 270, 360, 450, 540, 630, 720, 810, 900, 990]
        );
    }

    #[test]
    fn huge_intervals_mean_never() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(t0, Duration::MAX, Duration::MAX - MS);
        let year = Duration::from_secs(365 * 24 * 3600);
        let (a, next) = k.poll(t0 + year, t0);
        assert_eq!(a, Action::Wait);
        assert!(next > t0 + 2 * year);
        // Even after a ping (here: an interval that is due), a huge pong timeout waits.
        let mut k = Keepalive::new(t0, MS, Duration::MAX);
        assert_eq!(k.poll(t0 + MS, t0).0, Action::SendPing);
        let (a, next) = k.poll(t0 + year, t0);
        assert_eq!(a, Action::Wait);
        assert!(next > t0 + 2 * year);
    }

    #[test]
    fn pong_limiter_bounds_a_flood() {
        let t0 = Instant::now();
        let mut l = PongLimiter::new(t0);
        // 100 000 pings over one second, each asking for a pong.
        let mut pongs = 0;
        for i in 0..100_000u32 {
            let now = t0 + Duration::from_micros(i as u64 * 10);
            if l.try_take(now) {
                pongs += 1;
            }
        }
        // Burst of 5, then 10 per second.
        assert!(
            (PONG_BURST..=PONG_BURST + 10).contains(&pongs),
            "{pongs} pongs"
        );
        // Drain the bucket, then the next token comes one interval later, not before.
        let now = t0 + Duration::from_millis(1000);
        while l.try_take(now) {}
        let next = l.next_token_at();
        assert!(
            next > now && next <= now + PONG_INTERVAL,
            "{:?}",
            next - now
        );
        assert!(!l.try_take(next - Duration::from_micros(1)));
        assert!(l.try_take(next));
    }

    #[test]
    fn pong_limiter_allows_sequential_pings() {
        let t0 = Instant::now();
        let mut l = PongLimiter::new(t0);
        for i in 0..3 {
            assert!(l.try_take(t0 + i * MS), "ping {i}");
        }
        // After a quiet second the bucket is full again.
        let later = t0 + Duration::from_secs(1);
        for i in 0..PONG_BURST {
            assert!(l.try_take(later), "burst {i}");
        }
        assert!(!l.try_take(later));
    }
}
