//! A small seeded generator (xorshift64*) for the choices that need spreading, not
//! secrecy: reconnect jitter, the order seeds are dialled in, the address book's picks
//! (whose placement secrecy comes from the book's key). Pure but for `from_clock`.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// xorshift64*.
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: no modulo bias worth the name for the sizes used here.
        ((self.next() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `k` distinct indices of `0..n` in random order (Floyd's algorithm): O(k).
    pub fn distinct(&mut self, k: usize, n: usize) -> Vec<usize> {
        let k = k.min(n);
        let mut chosen = HashSet::with_capacity(k);
        let mut out = Vec::with_capacity(k);
        for j in n - k..n {
            let t = self.below(j as u64 + 1) as usize;
            let pick = if chosen.contains(&t) { j } else { t };
            chosen.insert(pick);
            out.push(pick);
        }
        // Floyd's order is not uniform: shuffle.
        for i in (1..out.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            out.swap(i, j);
        }
        out
    }
}

impl Rng {
    /// Seeded from the clock, the process id and `extra` (say, an address's port), so
    /// that nodes started together do not make the same choices.
    pub fn from_clock(extra: u64) -> Self {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Rng::new(t ^ (std::process::id() as u64).rotate_left(40) ^ extra.rotate_left(17))
    }

    /// Uniform in `[0, max)` (zero when `max` is zero).
    pub fn duration_below(&mut self, max: Duration) -> Duration {
        let nanos = max.as_nanos().min(u64::MAX as u128) as u64;
        Duration::from_nanos(self.below(nanos))
    }

    /// Puts `items` in a uniformly random order (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_indices_are_distinct_in_range_and_all_reachable() {
        let mut rng = Rng::new(1);
        let mut hit = [0u32; 20];
        for _ in 0..2000 {
            let d = rng.distinct(5, 20);
            assert_eq!(d.len(), 5);
            assert_eq!(d.iter().collect::<HashSet<_>>().len(), 5);
            for i in d {
                hit[i] += 1;
            }
        }
        // Each index expected 500 times.
        assert!(hit.iter().all(|&h| (350..650).contains(&h)), "{hit:?}");
        assert_eq!(rng.distinct(9, 3).len(), 3);
        assert!(rng.distinct(0, 0).is_empty());
    }

    #[test]
    fn durations_and_shuffles_stay_in_range() {
        let mut rng = Rng::new(9);
        assert_eq!(rng.duration_below(Duration::ZERO), Duration::ZERO);
        for _ in 0..1000 {
            assert!(rng.duration_below(Duration::from_millis(5)) < Duration::from_millis(5));
        }
        assert!(rng.duration_below(Duration::MAX) < Duration::MAX);
        let mut v: Vec<u32> = (0..50).collect();
        rng.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(v, sorted, "a shuffle of 50 moved something");
    }
}
