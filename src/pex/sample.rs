//! Random picks without scanning: a set of addresses that can hand out a uniformly random
//! member in O(1), and a small seeded generator (xorshift64*; placement secrecy comes
//! from the book's key, not from this). Pure.

use std::collections::{HashMap, HashSet};

use super::address::NetAddress;

/// A set with O(1) insert, remove and uniform random member.
#[derive(Default)]
pub(crate) struct IndexedSet {
    items: Vec<NetAddress>,
    index: HashMap<NetAddress, usize>,
}

impl IndexedSet {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn insert(&mut self, a: NetAddress) {
        if !self.index.contains_key(&a) {
            self.index.insert(a, self.items.len());
            self.items.push(a);
        }
    }

    pub fn remove(&mut self, a: &NetAddress) {
        if let Some(i) = self.index.remove(a) {
            self.items.swap_remove(i);
            if let Some(moved) = self.items.get(i) {
                self.index.insert(*moved, i);
            }
        }
    }

    pub fn get(&self, i: usize) -> Option<NetAddress> {
        self.items.get(i).copied()
    }

    pub fn random(&self, rng: &mut Rng) -> Option<NetAddress> {
        self.get(rng.below(self.items.len() as u64) as usize)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn a(i: u16) -> NetAddress {
        NetAddress::from(SocketAddr::from(([1, 2, 3, 4], i)))
    }

    #[test]
    fn the_set_keeps_its_index_through_removals() {
        let mut s = IndexedSet::default();
        for i in 0..10 {
            s.insert(a(i));
        }
        s.insert(a(3));
        assert_eq!(s.len(), 10);
        s.remove(&a(0));
        s.remove(&a(5));
        s.remove(&a(42));
        assert_eq!(s.len(), 8);
        let mut rng = Rng::new(7);
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            seen.insert(s.random(&mut rng).expect("not empty"));
        }
        assert_eq!(seen.len(), 8, "every member comes up, no removed one");
        assert!(!seen.contains(&a(0)) && !seen.contains(&a(5)));
    }

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
}
