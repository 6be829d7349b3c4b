//! Rate limiting and rate measuring. Pure; the clock is passed in.
//!
//! [`TokenBucket`] limits a byte stream to `rate` bytes per second with a burst of a tenth
//! of a second; the thread it limits sleeps for the [`Grant::Wait`] it is given, nobody
//! else does. [`RateMeter`] estimates the current rate as an exponential moving average
//! with a one-second half-life.

use std::time::{Duration, Instant};

/// What a [`TokenBucket`] allows now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Grant {
    /// Transfer up to this many bytes now.
    Now(usize),
    /// Nothing yet; ask again after this long.
    Wait(Duration),
}

/// A token bucket of `rate` bytes per second holding at most a tenth of a second's worth
/// (and at least one byte).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`. `rate` must be at least 1.
    pub fn new(rate: u64, now: Instant) -> Self {
        let rate = rate.max(1) as f64;
        let burst = (rate / 10.0).max(1.0).floor();
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.last = now.max(self.last);
    }

    /// How many of `want` bytes may go now. To avoid tiny transfers it waits until
    /// `min(want, burst)` bytes are available.
    pub fn grant(&mut self, now: Instant, want: usize) -> Grant {
        if want == 0 {
            return Grant::Now(0);
        }
        self.refill(now);
        let need = (want as f64).min(self.burst);
        if self.tokens >= need {
            let n = (self.tokens.min(want as f64)).floor().max(1.0);
            Grant::Now(n as usize)
        } else {
            let secs = (need - self.tokens) / self.rate;
            Grant::Wait(Duration::from_secs_f64(secs).max(Duration::from_micros(100)))
        }
    }

    /// Records that `n` bytes were transferred (after a `Grant::Now`).
    pub fn consume(&mut self, n: usize) {
        self.tokens -= n as f64;
    }
}

/// Half-life of the rate average.
const HALF_LIFE: Duration = Duration::from_secs(1);
/// Bytes are folded into the average at most this often.
const SAMPLE: Duration = Duration::from_millis(100);

/// Estimates bytes per second from a stream of (time, bytes) records.
#[derive(Debug, Clone)]
pub struct RateMeter {
    rate: f64,
    pending: u64,
    window_start: Instant,
}

impl RateMeter {
    /// A meter at rest at `now`.
    pub fn new(now: Instant) -> Self {
        RateMeter {
            rate: 0.0,
            pending: 0,
            window_start: now,
        }
    }

    fn blended(&self, now: Instant) -> Option<f64> {
        let el = now.saturating_duration_since(self.window_start);
        if el < SAMPLE {
            return None;
        }
        let inst = self.pending as f64 / el.as_secs_f64();
        let keep = 0.5f64.powf(el.as_secs_f64() / HALF_LIFE.as_secs_f64());
        Some(self.rate * keep + inst * (1.0 - keep))
    }

    /// Records `bytes` transferred at `now`.
    pub fn record(&mut self, now: Instant, bytes: usize) {
        self.pending += bytes as u64;
        if let Some(r) = self.blended(now) {
            self.rate = r;
            self.pending = 0;
            self.window_start = now;
        }
    }

    /// The estimated rate at `now`, in bytes per second (idle time lowers it).
    pub fn rate(&self, now: Instant) -> f64 {
        self.blended(now).unwrap_or(self.rate)
    }
}

/// How many bytes the send thread may put in one batch: `send_buffer_size`, or with a
/// `send_rate` one burst of it (a tenth of a second's worth, at least one byte; a batch
/// passes its size by less than one packet). The send thread looks at the keepalive
/// between batches, so a batch that takes many seconds to trickle out at a low rate
/// would hold back our pings and, worse, the pongs the peer waits for.
pub fn batch_size(send_buffer_size: usize, send_rate: Option<u64>) -> usize {
    match send_rate {
        Some(rate) => {
            send_buffer_size.min(usize::try_from((rate / 10).max(1)).unwrap_or(usize::MAX))
        }
        None => send_buffer_size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limits_the_batch_to_one_burst() {
        assert_eq!(batch_size(512 << 10, None), 512 << 10);
        assert_eq!(batch_size(512 << 10, Some(20_000)), 2_000);
        assert_eq!(batch_size(512 << 10, Some(5)), 1, "never empty");
        assert_eq!(batch_size(512 << 10, Some(u64::MAX)), 512 << 10);
        assert_eq!(
            batch_size(100, Some(20_000)),
            100,
            "never above the buffer size"
        );
    }

    #[test]
    fn bucket_limits_to_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10_000, t0);
        // Transfer as much as allowed over 10 simulated seconds.
        let mut now = t0;
        let mut total = 0usize;
        while now < t0 + Duration::from_secs(10) {
            match b.grant(now, 4096) {
                Grant::Now(n) => {
                    b.consume(n);
                    total += n;
                }
                Grant::Wait(d) => now += d,
            }
        }
        // 10 s at 10 000 B/s plus the initial burst of 1000.
        assert!((100_000..=101_000 + 1_000).contains(&total), "{total}");
    }

    #[test]
    fn bucket_waits_for_a_useful_amount() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000, t0);
        assert_eq!(b.grant(t0, 50), Grant::Now(50));
        b.consume(50);
        // 50 left; 100 wanted (the whole burst): wait 50 ms rather than send a sliver.
        match b.grant(t0, 100) {
            Grant::Wait(d) => assert!((d.as_secs_f64() - 0.05).abs() < 1e-6, "{d:?}"),
            g => panic!("{g:?}"),
        }
        assert_eq!(
            b.grant(t0 + Duration::from_millis(50), 100),
            Grant::Now(100)
        );
        assert_eq!(b.grant(t0 + Duration::from_millis(50), 30), Grant::Now(30));
        assert_eq!(b.grant(t0, 0), Grant::Now(0));
        let mut tiny = TokenBucket::new(1, t0);
        assert_eq!(tiny.grant(t0, 10), Grant::Now(1));
    }

    #[test]
    fn meter_tracks_a_steady_rate_and_decays_when_idle() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(t0);
        for i in 1..=200u32 {
            m.record(t0 + Duration::from_millis(50) * i, 50_000); // 1 MB/s
        }
        let now = t0 + Duration::from_secs(10);
        let r = m.rate(now);
        assert!((r - 1_000_000.0).abs() < 50_000.0, "{r}");
        let idle = m.rate(now + Duration::from_secs(10));
        assert!(idle < 2_000.0, "{idle}");
        assert_eq!(RateMeter::new(t0).rate(t0 + Duration::from_secs(5)), 0.0);
    }
}
