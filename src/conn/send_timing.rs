//! The send thread's decisions as pure functions of its state and the clock: which
//! control packets go out (ping, pong), whether the batch is written now or held for
//! `flush_throttle`, when an idle connection gives back its large buffer, and when the
//! thread must look again. The thread (`send.rs`) only carries them out, so every rule
//! here is tested with an injected clock, without threads or sockets.

use std::time::{Duration, Instant};

use super::keepalive::{Action, Keepalive, PongLimiter};
use crate::error::Error;
use crate::time::deadline;

/// The longest the send thread sleeps without a reason to wake.
const MAX_SLEEP: Duration = Duration::from_secs(3600);
/// An idle connection keeps a large batch buffer this long (so bursts do not reallocate
/// every time), then gives it back.
pub(crate) const TRIM_AFTER: Duration = Duration::from_secs(1);

/// The control packets of one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Control {
    /// Write a ping.
    pub ping: bool,
    /// Write the pong the peer asked for (the caller clears its "pong wanted" flag).
    pub pong: bool,
}

impl Control {
    /// A control packet goes out: write now, whatever `flush_throttle` says.
    pub fn urgent(&self) -> bool {
        self.ping || self.pong
    }
}

/// What the send thread knows about the outbox after filling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Batch {
    /// Bytes are waiting to be written or flushed.
    pub has_output: bool,
    /// Channels have more than the batch could take.
    pub more: bool,
    /// The connection is flushing before a stop (no more waiting for company).
    pub flushing: bool,
}

/// The send thread's timers: keepalive, pong rate limit, flush throttle, buffer trim,
/// and the instant it must wake at the latest.
#[derive(Debug)]
pub(crate) struct SendTiming {
    keepalive: Keepalive,
    pongs: PongLimiter,
    flush_throttle: Duration,
    /// When the oldest unwritten packet entered the batch.
    unflushed_since: Option<Instant>,
    /// Since when the connection has been idle with a large batch buffer.
    idle_since: Option<Instant>,
    wake_at: Instant,
}

impl SendTiming {
    /// Timers for a connection started at `now`.
    pub fn new(
        ping_interval: Duration,
        pong_timeout: Duration,
        flush_throttle: Duration,
        now: Instant,
    ) -> Self {
        SendTiming {
            keepalive: Keepalive::new(now, ping_interval, pong_timeout),
            pongs: PongLimiter::new(now),
            flush_throttle,
            unflushed_since: None,
            idle_since: None,
            wake_at: deadline(now, MAX_SLEEP),
        }
    }

    /// Starts a round at `now`: decides the control packets. `last_heard` is when the
    /// peer was last heard from; `pong_wanted` whether it pinged us. Errors with
    /// `PongTimeout` if our ping went unanswered too long.
    pub fn begin(
        &mut self,
        now: Instant,
        last_heard: Instant,
        pong_wanted: bool,
    ) -> Result<Control, Error> {
        self.wake_at = deadline(now, MAX_SLEEP);
        let mut control = Control::default();
        let (action, at) = self.keepalive.poll(now, last_heard);
        match action {
            Action::Timeout => return Err(Error::PongTimeout),
            Action::SendPing => control.ping = true,
            Action::Wait => {}
        }
        self.wake(at);
        if pong_wanted {
            if self.pongs.try_take(now) {
                control.pong = true;
            } else {
                self.wake(self.pongs.next_token_at());
            }
        }
        Ok(control)
    }

    /// Whether to write the batch now. Without `flush_throttle` (or with a control
    /// packet, more data than one batch, or a flush under way) anything unwritten goes
    /// now; with it, a batch waits until `flush_throttle` after its oldest packet.
    pub fn write_now(&mut self, now: Instant, batch: Batch, control: Control) -> bool {
        if !batch.has_output {
            return false;
        }
        let since = *self.unflushed_since.get_or_insert(now);
        if self.flush_throttle.is_zero() || control.urgent() || batch.more || batch.flushing {
            return true;
        }
        let due = deadline(since, self.flush_throttle);
        if now < due {
            self.wake(due);
            return false;
        }
        true
    }

    /// The batch was written.
    pub fn written(&mut self) {
        self.unflushed_since = None;
    }

    /// Ends a round: whether to give the large batch buffer back now. `idle`: nothing
    /// queued or unwritten; `oversized`: the buffer is larger than an idle one keeps.
    pub fn trim_now(&mut self, now: Instant, idle: bool, oversized: bool) -> bool {
        if !idle {
            self.idle_since = None;
            return false;
        }
        if !oversized {
            return false;
        }
        let due = deadline(*self.idle_since.get_or_insert(now), TRIM_AFTER);
        if now >= due {
            self.idle_since = None;
            return true;
        }
        self.wake(due);
        false
    }

    /// The latest instant the thread must look again, if nothing wakes it before.
    pub fn wake_at(&self) -> Instant {
        self.wake_at
    }

    /// A write stalled (the peer reads nothing): whether a ping is due, or `PongTimeout`
    /// if the peer neither reads nor answers.
    pub fn on_stall(&mut self, now: Instant, last_heard: Instant) -> Result<bool, Error> {
        match self.keepalive.poll(now, last_heard).0 {
            Action::Timeout => Err(Error::PongTimeout),
            Action::SendPing => Ok(true),
            Action::Wait => Ok(false),
        }
    }

    fn wake(&mut self, at: Instant) {
        self.wake_at = self.wake_at.min(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);

    fn timing(throttle: Duration, t0: Instant) -> SendTiming {
        SendTiming::new(60 * S, 45 * S, throttle, t0)
    }

    const QUIET: Batch = Batch {
        has_output: true,
        more: false,
        flushing: false,
    };

    #[test]
    fn pings_after_the_interval_and_times_out_after_the_pong_timeout() {
        let t0 = Instant::now();
        let mut t = timing(Duration::ZERO, t0);
        assert_eq!(t.begin(t0, t0, false).unwrap(), Control::default());
        assert_eq!(t.wake_at(), t0 + 60 * S, "wakes for the ping");
        let c = t.begin(t0 + 60 * S, t0, false).unwrap();
        assert!(c.ping && c.urgent());
        assert_eq!(t.wake_at(), t0 + 105 * S, "wakes for the pong deadline");
        assert!(!t.begin(t0 + 104 * S, t0, false).unwrap().ping);
        assert!(matches!(
            t.begin(t0 + 105 * S, t0, false),
            Err(Error::PongTimeout)
        ));
    }

    #[test]
    fn anything_heard_answers_our_ping() {
        let t0 = Instant::now();
        let mut t = timing(Duration::ZERO, t0);
        assert!(t.begin(t0 + 60 * S, t0, false).unwrap().ping);
        let heard = t0 + 61 * S;
        assert!(t.begin(t0 + 200 * S, heard, false).is_ok());
    }

    #[test]
    fn pongs_are_rate_limited_and_the_thread_wakes_for_the_next_token() {
        let t0 = Instant::now();
        let mut t = timing(Duration::ZERO, t0);
        let mut pongs = 0;
        for _ in 0..100 {
            if t.begin(t0, t0, true).unwrap().pong {
                pongs += 1;
            }
        }
        assert_eq!(pongs, super::super::keepalive::PONG_BURST);
        assert!(t.wake_at() <= t0 + super::super::keepalive::PONG_INTERVAL);
        assert!(t.wake_at() > t0);
    }

    #[test]
    fn without_a_throttle_anything_unwritten_goes_now() {
        let t0 = Instant::now();
        let mut t = timing(Duration::ZERO, t0);
        t.begin(t0, t0, false).unwrap();
        assert!(t.write_now(t0, QUIET, Control::default()));
        let nothing = Batch {
            has_output: false,
            ..QUIET
        };
        assert!(!t.write_now(t0, nothing, Control::default()));
    }

    #[test]
    fn a_throttle_holds_a_quiet_batch_until_its_oldest_packet_is_old_enough() {
        let t0 = Instant::now();
        let mut t = timing(100 * MS, t0);
        t.begin(t0, t0, false).unwrap();
        assert!(!t.write_now(t0, QUIET, Control::default()));
        assert_eq!(t.wake_at(), t0 + 100 * MS);
        // A packet added later does not restart the clock.
        t.begin(t0 + 50 * MS, t0, false).unwrap();
        assert!(!t.write_now(t0 + 50 * MS, QUIET, Control::default()));
        assert_eq!(t.wake_at(), t0 + 100 * MS);
        assert!(t.write_now(t0 + 100 * MS, QUIET, Control::default()));
        t.written();
        t.begin(t0 + 101 * MS, t0, false).unwrap();
        assert!(!t.write_now(t0 + 101 * MS, QUIET, Control::default()));
        assert_eq!(t.wake_at(), t0 + 201 * MS, "a new batch starts a new wait");
    }

    #[test]
    fn a_throttle_never_holds_control_packets_a_full_batch_or_a_flush() {
        let t0 = Instant::now();
        let ping = Control {
            ping: true,
            pong: false,
        };
        for (batch, control) in [
            (QUIET, ping),
            (
                Batch {
                    more: true,
                    ..QUIET
                },
                Control::default(),
            ),
            (
                Batch {
                    flushing: true,
                    ..QUIET
                },
                Control::default(),
            ),
        ] {
            let mut t = timing(100 * MS, t0);
            assert!(t.write_now(t0, batch, control), "{batch:?} {control:?}");
        }
    }

    #[test]
    fn a_huge_throttle_saturates_instead_of_panicking() {
        let t0 = Instant::now();
        let mut t = timing(Duration::MAX, t0);
        t.begin(t0, t0, false).unwrap();
        assert!(!t.write_now(t0, QUIET, Control::default()));
        assert!(t.wake_at() > t0);
    }

    #[test]
    fn an_idle_oversized_buffer_is_trimmed_after_a_second_of_idleness() {
        let t0 = Instant::now();
        let mut t = timing(Duration::ZERO, t0);
        t.begin(t0, t0, false).unwrap();
        assert!(!t.trim_now(t0, true, true));
        assert_eq!(t.wake_at(), t0 + TRIM_AFTER);
        // Busy again: the idle clock restarts.
        assert!(!t.trim_now(t0 + 500 * MS, false, true));
        assert!(!t.trim_now(t0 + TRIM_AFTER, true, true));
        assert!(t.trim_now(t0 + 2 * TRIM_AFTER, true, true));
        // A small buffer is never trimmed and sets no timer.
        t.begin(t0 + 3 * TRIM_AFTER, t0 + 3 * TRIM_AFTER, false)
            .unwrap();
        assert!(!t.trim_now(t0 + 3 * TRIM_AFTER, true, false));
        assert_eq!(t.wake_at(), t0 + 60 * S, "only the ping's timer");
    }

    #[test]
    fn a_stalled_write_still_pings_and_times_out() {
        let t0 = Instant::now();
        let mut t = timing(Duration::ZERO, t0);
        assert!(!t.on_stall(t0 + S, t0).unwrap());
        assert!(t.on_stall(t0 + 60 * S, t0).unwrap());
        assert!(matches!(
            t.on_stall(t0 + 105 * S, t0),
            Err(Error::PongTimeout)
        ));
    }
}
