//! The send scheduler: which channel sends the next packet. Pure; the clock is passed in.
//!
//! Among channels with something pending, the one with the least
//! `recently_sent / priority` goes next; ties go to the first registered. `recently_sent`
//! counts the wire bytes of each packet and decays ×0.8 every 2 s, so a channel that was
//! busy a while ago is not starved now. Ratios are compared by cross-multiplication in
//! integers: exact, no floating point.

use std::time::{Duration, Instant};

/// How often `recently_sent` decays.
pub const DECAY_PERIOD: Duration = Duration::from_secs(2);

/// A channel as the scheduler sees it.
pub trait Schedulable {
    /// Whether the channel has a packet to send.
    fn pending(&self) -> bool;
    /// Wire bytes sent recently.
    fn recently_sent(&self) -> u64;
    /// The channel's priority (at least 1).
    fn priority(&self) -> u32;
}

/// The index of the channel that sends next, or `None` if none has anything pending.
pub fn pick<C: Schedulable>(channels: &[C]) -> Option<usize> {
    let mut best: Option<(usize, u64, u32)> = None;
    for (i, c) in channels.iter().enumerate() {
        if !c.pending() {
            continue;
        }
        let (sent, prio) = (c.recently_sent(), c.priority());
        match best {
            // sent / prio < best_sent / best_prio  <=>  sent * best_prio < best_sent * prio
            Some((_, bs, bp)) if (sent as u128) * (bp as u128) >= (bs as u128) * (prio as u128) => {
            }
            _ => best = Some((i, sent, prio)),
        }
    }
    best.map(|(i, _, _)| i)
}

/// Decays `recently_sent` counters ×0.8 for every whole [`DECAY_PERIOD`] that passed.
#[derive(Debug, Clone)]
pub struct Decay {
    next: Instant,
}

impl Decay {
    /// Starts the decay clock at `now`.
    pub fn new(now: Instant) -> Self {
        Decay {
            next: now + DECAY_PERIOD,
        }
    }

    /// How many decay steps are due at `now` (usually 0 or 1); advances the clock.
    pub fn due(&mut self, now: Instant) -> u32 {
        if now < self.next {
            return 0;
        }
        let behind = now.duration_since(self.next);
        let steps = 1 + (behind.as_nanos() / DECAY_PERIOD.as_nanos()) as u64;
        self.next += DECAY_PERIOD * steps.min(u32::MAX as u64) as u32;
        steps.min(u32::MAX as u64) as u32
    }

    /// When the next step is due.
    #[cfg(test)]
    pub fn next_due(&self) -> Instant {
        self.next
    }
}

/// `sent` after `steps` decays of ×0.8 (integer, rounding down like Go's `int64(x * 0.8)`).
pub fn decayed(mut sent: u64, steps: u32) -> u64 {
    for _ in 0..steps.min(200) {
        if sent == 0 {
            break;
        }
        sent = sent - sent / 5 - u64::from(sent % 5 != 0);
    }
    if steps > 200 {
        0
    } else {
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Ch {
        pending: bool,
        sent: u64,
        prio: u32,
    }

    impl Schedulable for Ch {
        fn pending(&self) -> bool {
            self.pending
        }
        fn recently_sent(&self) -> u64 {
            self.sent
        }
        fn priority(&self) -> u32 {
            self.prio
        }
    }

    fn ch(pending: bool, sent: u64, prio: u32) -> Ch {
        Ch {
            pending,
            sent,
            prio,
        }
    }

    #[test]
    fn picks_least_ratio_ties_to_first() {
        assert_eq!(pick::<Ch>(&[]), None);
        assert_eq!(pick(&[ch(false, 0, 1), ch(false, 0, 1)]), None);
        assert_eq!(
            pick(&[ch(true, 0, 1), ch(true, 0, 5)]),
            Some(0),
            "tie goes to first"
        );
        assert_eq!(pick(&[ch(true, 10, 1), ch(true, 40, 5)]), Some(1), "8 < 10");
        assert_eq!(
            pick(&[ch(true, 10, 1), ch(true, 50, 5)]),
            Some(0),
            "10 == 10: first"
        );
        assert_eq!(
            pick(&[ch(true, 10, 1), ch(false, 0, 5)]),
            Some(0),
            "only pending count"
        );
        assert_eq!(
            pick(&[ch(true, u64::MAX, u32::MAX), ch(true, u64::MAX, 1)]),
            Some(0)
        );
    }

    #[test]
    fn saturated_channels_share_by_priority() {
        // Simulate 1034-byte packets on two always-pending channels with priorities 1 and 4.
        let mut chans = [ch(true, 0, 1), ch(true, 0, 4)];
        let mut bytes = [0u64; 2];
        for _ in 0..10_000 {
            let i = pick(&chans).unwrap();
            chans[i].sent += 1034;
            bytes[i] += 1034;
        }
        let ratio = bytes[1] as f64 / bytes[0] as f64;
        assert!((ratio - 4.0).abs() < 0.01, "ratio {ratio}");
    }

    #[test]
    fn decay_is_point_eight_every_two_seconds() {
        let t0 = Instant::now();
        let mut d = Decay::new(t0);
        assert_eq!(d.due(t0), 0);
        assert_eq!(d.due(t0 + Duration::from_millis(1999)), 0);
        assert_eq!(d.due(t0 + Duration::from_secs(2)), 1);
        assert_eq!(d.due(t0 + Duration::from_secs(3)), 0);
        assert_eq!(
            d.due(t0 + Duration::from_secs(10)),
            4,
            "2 s -> 10 s: four periods"
        );
        assert_eq!(d.next_due(), t0 + Duration::from_secs(12));
        assert_eq!(decayed(1000, 1), 800);
        assert_eq!(decayed(1000, 2), 640);
        assert_eq!(decayed(7, 1), 5, "int64(7 * 0.8) = 5");
        assert_eq!(decayed(1, 1), 0);
        assert_eq!(decayed(u64::MAX, 1000), 0);
    }
}
