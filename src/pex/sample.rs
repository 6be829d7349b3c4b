//! Random picks without scanning: a set of addresses that can hand out a uniformly random
//! member in O(1). Pure.

use std::collections::HashMap;

use super::address::NetAddress;
pub(crate) use crate::rng::Rng;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
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
}
