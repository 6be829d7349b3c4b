//! [`AddrBook`]: the addresses a node knows, in Go v0.12.1's (bitcoind's) new and old
//! tables, with the rules Go's code meant (see `known.rs`): attempts and successes are
//! marked, a connected address moves to the old table, and bad addresses leave.
//!
//! The data structure is pure: every method that depends on time has an `_at` form
//! taking seconds since the Unix epoch (tests drive it with an injected clock), and
//! randomness comes from a generator seeded at construction. `pick`, `need_more` and
//! `selection` cost O(1), O(1) and O(selection size), never a scan of the book;
//! `remove_bad` scans it and is meant to run now and then.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use super::address::NetAddress;
use super::buckets::{self, BookKey, BUCKET_SIZE, NEW_BUCKETS, OLD_BUCKETS};
use super::known::{Known, Secs, Table};
use super::sample::{IndexedSet, Rng};

/// Fewer addresses than this and the book asks peers for more (Go: 1000).
pub const NEED_MORE_BELOW: usize = 1000;
/// A selection is this percentage of the book (Go: 23)...
const SELECTION_PERCENT: usize = 23;
/// ...but at least this many (or all there are)...
const SELECTION_MIN: usize = 32;
/// ...and at most this many (what one PEX message may carry).
const SELECTION_MAX: usize = super::message::MAX_ADDRS;
/// New buckets one address may be in (Go: 4).
const MAX_NEW_BUCKETS_PER_ADDRESS: usize = 4;

/// The addresses a node knows about, where they came from and how dialling them went.
/// See the module docs.
pub struct AddrBook {
    key: BookKey,
    strict: bool,
    rng: Rng,
    ours: HashSet<NetAddress>,
    known: HashMap<NetAddress, Known>,
    new_buckets: Vec<Vec<NetAddress>>,
    old_buckets: Vec<Vec<NetAddress>>,
    new_set: IndexedSet,
    old_set: IndexedSet,
}

impl AddrBook {
    /// An empty book with a random key. With `strict` routability (what a public network
    /// wants) it refuses addresses Go's `Routable` refuses: loopback, private,
    /// link-local and other local ranges; without, it takes any valid address (tests,
    /// private networks).
    pub fn new(strict: bool) -> Self {
        let mut key = [0u8; 12];
        let seed = match rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut key) {
            Ok(()) => u64::from_le_bytes([
                key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
            ]),
            Err(_) => now_secs() ^ 0x9e37_79b9_7f4a_7c15,
        };
        Self::with_key(key, strict, seed ^ now_secs().rotate_left(32))
    }

    /// An empty book with this placement key and random seed (deterministic: for tests).
    pub(crate) fn with_key(key: BookKey, strict: bool, seed: u64) -> Self {
        AddrBook {
            key,
            strict,
            rng: Rng::new(seed),
            ours: HashSet::new(),
            known: HashMap::new(),
            new_buckets: vec![Vec::new(); NEW_BUCKETS],
            old_buckets: vec![Vec::new(); OLD_BUCKETS],
            new_set: IndexedSet::default(),
            old_set: IndexedSet::default(),
        }
    }

    /// Addresses known.
    pub fn size(&self) -> usize {
        self.known.len()
    }

    /// Whether the book knows `addr`.
    pub fn contains(&self, addr: &NetAddress) -> bool {
        self.known.contains_key(addr)
    }

    /// Whether to ask peers for more addresses (fewer than 1000 known).
    pub fn need_more(&self) -> bool {
        self.size() < NEED_MORE_BELOW
    }

    /// One of our own addresses: never added, never handed out.
    pub fn add_our_address(&mut self, addr: NetAddress) {
        self.remove(&addr);
        self.ours.insert(addr);
    }

    /// `src` told us about `addr`. False if the book refuses it (ours, not valid, port 0,
    /// or unroutable in strict mode). A full bucket makes room: a bad address goes, or
    /// else the least recently tried one.
    pub fn add(&mut self, addr: NetAddress, src: NetAddress) -> bool {
        self.add_at(addr, src, now_secs())
    }

    pub(crate) fn add_at(&mut self, addr: NetAddress, src: NetAddress, now: Secs) -> bool {
        if self.ours.contains(&addr) || !self.acceptable(&addr) {
            return false;
        }
        match self.known.get_mut(&addr) {
            Some(k) => {
                k.last_seen = now;
                // An id learned for an address without one is kept; one already known
                // is changed only by a connection that proves another (`mark_good`).
                if k.addr.id().is_none() {
                    k.addr = addr;
                }
                if k.table == Table::Old || k.buckets.len() >= MAX_NEW_BUCKETS_PER_ADDRESS {
                    return true;
                }
                // The more buckets it is in, the less likely another (Go, bitcoind).
                let n = 2 * k.buckets.len() as u64;
                if self.rng.below(n) != 0 {
                    return true;
                }
            }
            None => {
                self.known.insert(addr, Known::new(addr, src, now));
            }
        }
        let b = buckets::new_bucket(&self.key, &addr, &src, self.strict);
        self.add_to_new(addr, b, now);
        self.known.contains_key(&addr)
    }

    /// A dial to `addr` is starting.
    pub fn mark_attempt(&mut self, addr: &NetAddress) {
        self.mark_attempt_at(addr, now_secs())
    }

    pub(crate) fn mark_attempt_at(&mut self, addr: &NetAddress, now: Secs) {
        if let Some(k) = self.known.get_mut(addr) {
            k.mark_attempt(now);
        }
    }

    /// We connected to `addr`: it moves to the old table.
    pub fn mark_good(&mut self, addr: &NetAddress) {
        self.mark_good_at(addr, now_secs())
    }

    pub(crate) fn mark_good_at(&mut self, addr: &NetAddress, now: Secs) {
        let Some(k) = self.known.get_mut(addr) else {
            return;
        };
        k.mark_good(now);
        if addr.id().is_some() {
            k.addr = *addr;
        }
        if k.table == Table::New {
            self.move_to_old(*addr, now);
        }
    }

    /// Forgets the node id of `addr`, keeping the address: a dial there found another
    /// node. The next id announced for it (or the key a dial proves) is taken, so a
    /// false id, announced first, hides a node for one failed dial at most.
    pub fn forget_id(&mut self, addr: &NetAddress) {
        if let Some(k) = self.known.get_mut(addr) {
            k.addr = NetAddress::new(k.addr.ip(), k.addr.port());
        }
    }

    /// Forgets `addr` (Go's `MarkBad` and `RemoveAddress`).
    pub fn remove(&mut self, addr: &NetAddress) {
        let Some(k) = self.known.remove(addr) else {
            return;
        };
        let table = match k.table {
            Table::New => &mut self.new_buckets,
            Table::Old => &mut self.old_buckets,
        };
        for b in k.buckets {
            table[b].retain(|a| a != addr);
        }
        self.new_set.remove(addr);
        self.old_set.remove(addr);
    }

    /// Forgets every bad address (see `known.rs`); returns how many. Scans the book.
    pub fn remove_bad(&mut self) -> usize {
        self.remove_bad_at(now_secs())
    }

    pub(crate) fn remove_bad_at(&mut self, now: Secs) -> usize {
        let bad: Vec<NetAddress> = self
            .known
            .values()
            .filter(|k| k.is_bad(now))
            .map(|k| k.addr)
            .collect();
        for a in &bad {
            self.remove(a);
        }
        bad.len()
    }

    /// An address to dial: from the new table with a chance that grows with `new_bias`
    /// (0..=100) and with the square root of its size, as in Go; `None` if empty.
    pub fn pick(&mut self, new_bias: u32) -> Option<NetAddress> {
        let bias = new_bias.min(100) as f64;
        let old_weight = (self.old_set.len() as f64).sqrt() * (100.0 - bias);
        let new_weight = (self.new_set.len() as f64).sqrt() * bias;
        let total = old_weight + new_weight;
        let from_old = if total > 0.0 {
            self.rng.unit() * total < old_weight
        } else {
            self.new_set.is_empty()
        };
        let set = if from_old {
            &self.old_set
        } else {
            &self.new_set
        };
        let picked = set.random(&mut self.rng)?;
        Some(self.current(picked))
    }

    /// `addr` as the book knows it now (with the id it learned since).
    fn current(&self, addr: NetAddress) -> NetAddress {
        self.known.get(&addr).map_or(addr, |k| k.addr)
    }

    /// A random selection to share with a peer: 23 % of the book, at least 32 (or all
    /// there are), at most 250 (Go's `GetSelection`).
    pub fn selection(&mut self) -> Vec<NetAddress> {
        let n = self.size();
        let k = SELECTION_MIN
            .min(n)
            .max(n * SELECTION_PERCENT / 100)
            .min(SELECTION_MAX);
        let (new_n, old_set, new_set) = (self.new_set.len(), &self.old_set, &self.new_set);
        let known = &self.known;
        self.rng
            .distinct(k, n)
            .into_iter()
            .filter_map(|i| {
                if i < new_n {
                    new_set.get(i)
                } else {
                    old_set.get(i - new_n)
                }
            })
            .map(|a| known.get(&a).map_or(a, |k| k.addr))
            .collect()
    }

    /// The placement key and every known address (for the book file).
    pub(super) fn parts(&self) -> (&BookKey, impl Iterator<Item = &Known>) {
        (&self.key, self.known.values())
    }

    /// Puts back an address read from a book file: in the buckets the file names, when
    /// they exist and have room (as Go's `loadFromFile`), else where it would go now; an
    /// old address whose bucket is full goes to the new table. False if the book
    /// refuses it.
    pub(super) fn restore(&mut self, mut k: Known, now: Secs) -> bool {
        let addr = k.addr;
        if self.known.contains_key(&addr) || self.ours.contains(&addr) || !self.acceptable(&addr) {
            return false;
        }
        let listed = std::mem::take(&mut k.buckets);
        let table = k.table;
        let src = k.src;
        k.table = Table::New;
        self.known.insert(addr, k);
        if table == Table::Old {
            let has_room = |b: &usize| {
                self.old_buckets
                    .get(*b)
                    .is_some_and(|x| x.len() < BUCKET_SIZE)
            };
            let ob = listed.first().copied().filter(has_room).or_else(|| {
                Some(buckets::old_bucket(&self.key, &addr, self.strict)).filter(has_room)
            });
            if let Some(ob) = ob {
                self.old_buckets[ob].push(addr);
                if let Some(k) = self.known.get_mut(&addr) {
                    k.table = Table::Old;
                    k.buckets.push(ob);
                }
                self.old_set.insert(addr);
                return true;
            }
        }
        for b in listed.into_iter().take(MAX_NEW_BUCKETS_PER_ADDRESS) {
            if b < NEW_BUCKETS && self.new_buckets[b].len() < BUCKET_SIZE {
                self.add_to_new(addr, b, now);
            }
        }
        if self.known.get(&addr).is_some_and(|k| k.buckets.is_empty()) {
            let nb = buckets::new_bucket(&self.key, &addr, &src, self.strict);
            self.add_to_new(addr, nb, now);
        }
        self.known.contains_key(&addr)
    }

    /// Whether the book takes `addr` at all: valid, dialable (a port), and routable
    /// when strict.
    fn acceptable(&self, addr: &NetAddress) -> bool {
        addr.is_valid() && addr.port() != 0 && (!self.strict || addr.is_routable())
    }

    fn add_to_new(&mut self, addr: NetAddress, b: usize, now: Secs) {
        if self.new_buckets[b].contains(&addr) {
            return;
        }
        if self.new_buckets[b].len() >= BUCKET_SIZE {
            self.expire_new(b, now);
        }
        self.new_buckets[b].push(addr);
        if let Some(k) = self.known.get_mut(&addr) {
            k.buckets.push(b);
            if k.buckets.len() == 1 {
                self.new_set.insert(addr);
            }
        }
    }

    /// Makes room in new bucket `b`: a bad address goes, or else the least recently
    /// tried one.
    fn expire_new(&mut self, b: usize, now: Secs) {
        let bucket = &self.new_buckets[b];
        let victim = bucket
            .iter()
            .find(|a| self.known.get(a).is_some_and(|k| k.is_bad(now)))
            .or_else(|| {
                bucket
                    .iter()
                    .min_by_key(|a| self.known.get(a).map(Known::age_key))
            })
            .copied();
        if let Some(v) = victim {
            self.new_buckets[b].retain(|a| *a != v);
            let gone = self.known.get_mut(&v).map(|k| {
                k.buckets.retain(|x| *x != b);
                k.buckets.is_empty()
            });
            if gone == Some(true) {
                self.known.remove(&v);
                self.new_set.remove(&v);
            }
        }
    }

    fn move_to_old(&mut self, addr: NetAddress, now: Secs) {
        let Some(k) = self.known.get_mut(&addr) else {
            return;
        };
        for b in std::mem::take(&mut k.buckets) {
            self.new_buckets[b].retain(|a| *a != addr);
        }
        k.table = Table::Old;
        self.new_set.remove(&addr);
        let ob = buckets::old_bucket(&self.key, &addr, self.strict);
        if self.old_buckets[ob].len() >= BUCKET_SIZE {
            // Room is made by sending the least recently tried old address back to new.
            let oldest = self.old_buckets[ob]
                .iter()
                .min_by_key(|a| self.known.get(a).map(Known::age_key))
                .copied();
            if let Some(o) = oldest {
                self.old_buckets[ob].retain(|a| *a != o);
                self.old_set.remove(&o);
                if let Some(ko) = self.known.get_mut(&o) {
                    ko.table = Table::New;
                    ko.buckets.clear();
                    let src = ko.src;
                    let nb = buckets::new_bucket(&self.key, &o, &src, self.strict);
                    self.add_to_new(o, nb, now);
                }
            }
        }
        self.old_buckets[ob].push(addr);
        if let Some(k) = self.known.get_mut(&addr) {
            k.buckets.push(ob);
        }
        self.old_set.insert(addr);
    }
}

/// Now, in seconds since the Unix epoch.
pub(super) fn now_secs() -> Secs {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
