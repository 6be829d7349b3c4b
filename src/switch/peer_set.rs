//! The set of connected peers: keyed by id, counting inbound and outbound, resolving
//! duplicates and refusing peers over the limits atomically. Pure: no threads, no sockets.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::node_info::PeerId;
use crate::error::RejectReason;

/// What the set needs to know about an entry.
pub trait Member {
    /// The entry's id.
    fn member_id(&self) -> PeerId;
    /// Whether we dialled it.
    fn member_outbound(&self) -> bool;
    /// Whether this entry should take the place of `existing`, an entry with the same id
    /// (a second connection to the same node). Must be a strict order that both ends of
    /// the connections compute alike.
    fn replaces(&self, existing: &Self) -> bool;
}

struct Inner<P> {
    map: HashMap<PeerId, Arc<P>>,
    /// Entries on their way out (replaced by a better-ranked duplicate, or being
    /// removed) and not yet gone: no longer found by id or counted, but still returned
    /// by `close` (so a stop finishes them) and by `departing_with`.
    departing: Vec<Arc<P>>,
    inbound: usize,
    outbound: usize,
    closed: bool,
}

/// A concurrent set of peers.
pub struct PeerSet<P> {
    inner: Mutex<Inner<P>>,
}

impl<P: Member> Default for PeerSet<P> {
    fn default() -> Self {
        PeerSet {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                departing: Vec::new(),
                inbound: 0,
                outbound: 0,
                closed: false,
            }),
        }
    }
}

impl<P: Member> PeerSet<P> {
    /// Adds `peer` unless it is over its direction's limit or the set is closed. If an
    /// entry with its id is present, `peer` takes its place only if it
    /// [`replaces`](Member::replaces) it (the replaced entry is returned, for the caller
    /// to stop, and stays departing until [`remove`](Self::remove)d); otherwise it is
    /// refused as a duplicate.
    pub fn try_add(
        &self,
        peer: Arc<P>,
        max_in: usize,
        max_out: usize,
    ) -> Result<Option<Arc<P>>, RejectReason> {
        let mut s = self.inner.lock();
        if s.closed {
            return Err(RejectReason::SwitchStopped);
        }
        let id = peer.member_id();
        let existing = s.map.get(&id).cloned();
        if let Some(old) = &existing {
            if !peer.replaces(old) {
                return Err(RejectReason::Duplicate);
            }
        }
        // The limit counts the set as it will be, without the entry replaced.
        let out = peer.member_outbound();
        let freed = existing
            .as_ref()
            .is_some_and(|old| old.member_outbound() == out) as usize;
        let (count, max) = if out {
            (s.outbound, max_out)
        } else {
            (s.inbound, max_in)
        };
        if count - freed >= max {
            return Err(if out {
                RejectReason::TooManyOutbound
            } else {
                RejectReason::TooManyInbound
            });
        }
        if let Some(old) = &existing {
            Self::uncount(&mut s, old);
            s.departing.push(old.clone());
        }
        if out {
            s.outbound += 1;
        } else {
            s.inbound += 1;
        }
        s.map.insert(id, peer);
        Ok(existing)
    }

    fn uncount(s: &mut Inner<P>, peer: &Arc<P>) {
        if peer.member_outbound() {
            s.outbound -= 1;
        } else {
            s.inbound -= 1;
        }
    }

    /// Moves exactly this entry (not a newer one with the same id) from the present ones
    /// to the departing ones. True if it was present.
    pub fn depart(&self, peer: &Arc<P>) -> bool {
        let mut s = self.inner.lock();
        let id = peer.member_id();
        match s.map.get(&id) {
            Some(p) if Arc::ptr_eq(p, peer) => {
                s.map.remove(&id);
                Self::uncount(&mut s, peer);
                s.departing.push(peer.clone());
                true
            }
            _ => false,
        }
    }

    /// The departing entries with this id.
    pub fn departing_with(&self, id: &PeerId) -> Vec<Arc<P>> {
        let s = self.inner.lock();
        s.departing
            .iter()
            .filter(|p| p.member_id() == *id)
            .cloned()
            .collect()
    }

    /// Removes exactly this entry (not a newer one with the same id), present or
    /// departing. True if it was there.
    pub fn remove(&self, peer: &Arc<P>) -> bool {
        let mut s = self.inner.lock();
        let id = peer.member_id();
        match s.map.get(&id) {
            Some(p) if Arc::ptr_eq(p, peer) => {
                s.map.remove(&id);
                Self::uncount(&mut s, peer);
                true
            }
            _ => {
                let before = s.departing.len();
                s.departing.retain(|p| !Arc::ptr_eq(p, peer));
                s.departing.len() != before
            }
        }
    }

    /// The peer with this id.
    pub fn get(&self, id: &PeerId) -> Option<Arc<P>> {
        self.inner.lock().map.get(id).cloned()
    }

    /// Whether a peer with this id is present.
    pub fn contains(&self, id: &PeerId) -> bool {
        self.inner.lock().map.contains_key(id)
    }

    /// Every peer.
    pub fn list(&self) -> Vec<Arc<P>> {
        self.inner.lock().map.values().cloned().collect()
    }

    /// (outbound, inbound).
    pub fn counts(&self) -> (usize, usize) {
        let s = self.inner.lock();
        (s.outbound, s.inbound)
    }

    /// Refuses further adds and returns the entries present or departing now.
    pub fn close(&self) -> Vec<Arc<P>> {
        let mut s = self.inner.lock();
        s.closed = true;
        s.map.values().chain(&s.departing).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry: id, outbound, rank (lower replaces higher).
    struct P(PeerId, bool, u32);
    impl Member for P {
        fn member_id(&self) -> PeerId {
            self.0
        }
        fn member_outbound(&self) -> bool {
            self.1
        }
        fn replaces(&self, existing: &Self) -> bool {
            self.2 < existing.2
        }
    }

    fn id(n: u8) -> PeerId {
        PeerId([n; 32])
    }

    #[test]
    fn add_and_remove_a_hundred() {
        let set = PeerSet::default();
        let peers: Vec<_> = (0..100u8)
            .map(|i| Arc::new(P(id(i), i % 2 == 0, 0)))
            .collect();
        for p in &peers {
            set.try_add(p.clone(), 100, 100).unwrap();
        }
        assert_eq!(set.counts(), (50, 50));
        assert_eq!(set.list().len(), 100);
        for p in &peers {
            assert!(set.get(&p.0).is_some());
            assert!(set.remove(p));
            assert!(!set.remove(p), "twice");
        }
        assert_eq!(set.counts(), (0, 0));
        assert!(set.list().is_empty());
    }

    #[test]
    fn concurrent_adds_of_one_peer_one_wins_and_lookups_agree() {
        let set = Arc::new(PeerSet::default());
        let wins: usize = (0..20)
            .map(|_| {
                let set = set.clone();
                std::thread::spawn(move || {
                    set.try_add(Arc::new(P(id(9), false, 0)), 40, 10).is_ok()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap() as usize)
            .sum();
        assert_eq!(wins, 1);
        let found: Vec<bool> = (0..10)
            .map(|_| {
                let set = set.clone();
                std::thread::spawn(move || set.contains(&id(9)) && set.get(&id(9)).is_some())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert!(found.iter().all(|f| *f));
    }

    /// Issue 11, item 13: two connections to one node resolve by rank, whatever order
    /// they arrive in, and the limits count the set as it will be.
    #[test]
    fn a_better_ranked_duplicate_replaces_the_entry_whatever_the_order() {
        for order in [[0usize, 1], [1, 0]] {
            let set = PeerSet::default();
            let conns = [Arc::new(P(id(7), true, 1)), Arc::new(P(id(7), false, 2))];
            let first = set.try_add(conns[order[0]].clone(), 1, 1);
            let second = set.try_add(conns[order[1]].clone(), 1, 1);
            assert_eq!(first.map(|r| r.is_none()), Ok(true));
            let kept = set.get(&id(7)).unwrap();
            assert!(Arc::ptr_eq(&kept, &conns[0]), "rank 1 is kept");
            if order == [0, 1] {
                assert_eq!(second.map(|_| ()), Err(RejectReason::Duplicate));
                assert_eq!(set.close().len(), 1);
            } else {
                let replaced = second.unwrap().expect("the first was replaced");
                assert!(Arc::ptr_eq(&replaced, &conns[1]));
                assert_eq!(set.list().len(), 1, "a departing entry is not listed");
                assert_eq!(set.close().len(), 2, "but a stop still finishes it");
                assert_eq!(set.departing_with(&id(7)).len(), 1);
                assert!(set.remove(&replaced));
                assert!(set.departing_with(&id(7)).is_empty());
                assert_eq!(set.close().len(), 1);
            }
            assert_eq!(set.counts(), (1, 0), "{order:?}");
        }
        // Replacing an inbound entry with an outbound one at the outbound limit: refused.
        let set = PeerSet::default();
        set.try_add(Arc::new(P(id(1), true, 0)), 1, 1).unwrap();
        set.try_add(Arc::new(P(id(2), false, 5)), 1, 1).unwrap();
        assert_eq!(
            set.try_add(Arc::new(P(id(2), true, 1)), 1, 1).map(|_| ()),
            Err(RejectReason::TooManyOutbound)
        );
        // The same direction frees its own place.
        assert!(set
            .try_add(Arc::new(P(id(2), false, 1)), 1, 1)
            .unwrap()
            .is_some());
        assert_eq!(set.counts(), (1, 1));
    }

    #[test]
    fn a_departing_entry_is_not_found_or_counted_but_closed() {
        let set = PeerSet::default();
        let p = Arc::new(P(id(3), false, 0));
        set.try_add(p.clone(), 9, 9).unwrap();
        assert!(set.depart(&p));
        assert!(!set.depart(&p), "once");
        assert!(set.get(&id(3)).is_none());
        assert_eq!(set.counts(), (0, 0));
        // A new entry with the id is added beside it, not in its place.
        let q = Arc::new(P(id(3), false, 9));
        assert!(set.try_add(q.clone(), 9, 9).unwrap().is_none());
        assert_eq!(set.departing_with(&id(3)).len(), 1);
        assert!(set.remove(&p));
        assert!(set.departing_with(&id(3)).is_empty());
        assert!(Arc::ptr_eq(&set.get(&id(3)).unwrap(), &q));
    }

    #[test]
    fn limits_duplicates_and_close() {
        let set = PeerSet::default();
        set.try_add(Arc::new(P(id(1), false, 5)), 1, 1).unwrap();
        assert_eq!(
            set.try_add(Arc::new(P(id(2), false, 0)), 1, 1).map(|_| ()),
            Err(RejectReason::TooManyInbound)
        );
        set.try_add(Arc::new(P(id(3), true, 5)), 1, 1).unwrap();
        assert_eq!(
            set.try_add(Arc::new(P(id(4), true, 0)), 1, 1).map(|_| ()),
            Err(RejectReason::TooManyOutbound)
        );
        assert_eq!(
            set.try_add(Arc::new(P(id(1), true, 5)), 9, 9).map(|_| ()),
            Err(RejectReason::Duplicate),
            "an equal rank does not replace"
        );
        // Removing a stale entry with the same id does not remove the current one.
        let stale = Arc::new(P(id(1), false, 5));
        assert!(!set.remove(&stale));
        assert_eq!(set.close().len(), 2);
        assert_eq!(
            set.try_add(Arc::new(P(id(5), false, 0)), 9, 9).map(|_| ()),
            Err(RejectReason::SwitchStopped)
        );
    }
}
