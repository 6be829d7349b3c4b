//! The set of connected peers: keyed by id, counting inbound and outbound, resolving
//! duplicates and refusing peers over the limits atomically. Pure: no threads, no sockets.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::RejectReason;
use crate::peer_id::PeerId;

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

/// An entry and when it entered the set (a number that only grows).
struct Entry<P> {
    stamp: u64,
    peer: Arc<P>,
}

struct Inner<P> {
    map: HashMap<PeerId, Entry<P>>,
    /// Entries on their way out (replaced by a better-ranked duplicate, or being
    /// removed) and not yet gone: no longer found by id or counted, but still returned
    /// by `close` (so a stop finishes them) and by `departing_before`.
    departing: Vec<Entry<P>>,
    next_stamp: u64,
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
                next_stamp: 0,
                inbound: 0,
                outbound: 0,
                closed: false,
            }),
        }
    }
}

/// Why [`PeerSet::try_add`] did not add a peer.
#[derive(Debug, PartialEq, Eq)]
pub enum NotAdded {
    /// The set is closed: the switch is stopping.
    Closed,
    /// The peer is refused for this reason.
    Refused(RejectReason),
}

/// What [`PeerSet::try_add`] did.
pub struct Added<P> {
    /// When the entry entered the set (for [`PeerSet::departing_before`]).
    pub stamp: u64,
    /// The entry it replaced, now departing, for the caller to stop.
    pub replaced: Option<Arc<P>>,
}

impl<P: Member> PeerSet<P> {
    /// Adds `peer` unless it is over its direction's limit or the set is closed. If an
    /// entry with its id is present, `peer` takes its place only if it
    /// [`replaces`](Member::replaces) it (the replaced entry stays departing until
    /// [`remove`](Self::remove)d); otherwise it is refused as a duplicate.
    pub fn try_add(
        &self,
        peer: Arc<P>,
        max_in: usize,
        max_out: usize,
    ) -> Result<Added<P>, NotAdded> {
        let mut s = self.inner.lock();
        if s.closed {
            return Err(NotAdded::Closed);
        }
        let id = peer.member_id();
        if let Some(old) = s.map.get(&id) {
            if !peer.replaces(&old.peer) {
                return Err(NotAdded::Refused(RejectReason::Duplicate));
            }
        }
        // The limit counts the set as it will be, without the entry replaced.
        let out = peer.member_outbound();
        let freed = s
            .map
            .get(&id)
            .is_some_and(|old| old.peer.member_outbound() == out) as usize;
        let (count, max) = if out {
            (s.outbound, max_out)
        } else {
            (s.inbound, max_in)
        };
        if count - freed >= max {
            return Err(NotAdded::Refused(if out {
                RejectReason::TooManyOutbound
            } else {
                RejectReason::TooManyInbound
            }));
        }
        let replaced = s.map.remove(&id).map(|old| {
            Self::uncount(&mut s, &old.peer);
            let p = old.peer.clone();
            s.departing.push(old);
            p
        });
        if out {
            s.outbound += 1;
        } else {
            s.inbound += 1;
        }
        let stamp = s.next_stamp;
        s.next_stamp += 1;
        s.map.insert(id, Entry { stamp, peer });
        Ok(Added { stamp, replaced })
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
        if !s.map.get(&id).is_some_and(|e| Arc::ptr_eq(&e.peer, peer)) {
            return false;
        }
        if let Some(e) = s.map.remove(&id) {
            Self::uncount(&mut s, peer);
            s.departing.push(e);
        }
        true
    }

    /// The departing entries with this id that entered the set before `stamp`. (Only
    /// those: an entry waiting for a later one could wait for one that waits for it.)
    pub fn departing_before(&self, id: &PeerId, stamp: u64) -> Vec<Arc<P>> {
        let s = self.inner.lock();
        s.departing
            .iter()
            .filter(|e| e.stamp < stamp && e.peer.member_id() == *id)
            .map(|e| e.peer.clone())
            .collect()
    }

    /// Removes exactly this entry (not a newer one with the same id), present or
    /// departing. True if it was there.
    pub fn remove(&self, peer: &Arc<P>) -> bool {
        let mut s = self.inner.lock();
        let id = peer.member_id();
        if s.map.get(&id).is_some_and(|e| Arc::ptr_eq(&e.peer, peer)) {
            s.map.remove(&id);
            Self::uncount(&mut s, peer);
            return true;
        }
        let before = s.departing.len();
        s.departing.retain(|e| !Arc::ptr_eq(&e.peer, peer));
        s.departing.len() != before
    }

    /// The peer with this id.
    pub fn get(&self, id: &PeerId) -> Option<Arc<P>> {
        self.inner.lock().map.get(id).map(|e| e.peer.clone())
    }

    /// Whether a peer with this id is present.
    #[cfg(test)]
    pub fn contains(&self, id: &PeerId) -> bool {
        self.inner.lock().map.contains_key(id)
    }

    /// Every peer.
    pub fn list(&self) -> Vec<Arc<P>> {
        self.inner
            .lock()
            .map
            .values()
            .map(|e| e.peer.clone())
            .collect()
    }

    /// (outbound, inbound).
    pub fn counts(&self) -> (usize, usize) {
        let s = self.inner.lock();
        (s.outbound, s.inbound)
    }

    /// Whether the set refuses adds (the switch is stopping or flushing to stop).
    pub fn is_closed(&self) -> bool {
        self.inner.lock().closed
    }

    /// Refuses further adds and returns the entries present or departing now.
    pub fn close(&self) -> Vec<Arc<P>> {
        let mut s = self.inner.lock();
        s.closed = true;
        s.map
            .values()
            .chain(&s.departing)
            .map(|e| e.peer.clone())
            .collect()
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
            assert_eq!(first.map(|a| a.replaced.is_none()), Ok(true));
            let kept = set.get(&id(7)).unwrap();
            assert!(Arc::ptr_eq(&kept, &conns[0]), "rank 1 is kept");
            if order == [0, 1] {
                assert_eq!(
                    second.map(|_| ()),
                    Err(NotAdded::Refused(RejectReason::Duplicate))
                );
                assert_eq!(set.close().len(), 1);
            } else {
                let added = second.unwrap();
                let replaced = added.replaced.expect("the first was replaced");
                assert!(Arc::ptr_eq(&replaced, &conns[1]));
                assert_eq!(set.list().len(), 1, "a departing entry is not listed");
                assert_eq!(set.close().len(), 2, "but a stop still finishes it");
                assert_eq!(set.departing_before(&id(7), added.stamp).len(), 1);
                assert!(set.remove(&replaced));
                assert!(set.departing_before(&id(7), added.stamp).is_empty());
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
            Err(NotAdded::Refused(RejectReason::TooManyOutbound))
        );
        // The same direction frees its own place.
        assert!(set
            .try_add(Arc::new(P(id(2), false, 1)), 1, 1)
            .unwrap()
            .replaced
            .is_some());
        assert_eq!(set.counts(), (1, 1));
    }

    #[test]
    fn a_departing_entry_is_not_found_or_counted_but_closed() {
        let set = PeerSet::default();
        let p = Arc::new(P(id(3), false, 0));
        let p_stamp = set.try_add(p.clone(), 9, 9).unwrap().stamp;
        assert!(set.depart(&p));
        assert!(!set.depart(&p), "once");
        assert!(set.get(&id(3)).is_none());
        assert_eq!(set.counts(), (0, 0));
        // A new entry with the id is added beside it, not in its place; it sees the
        // departing one as earlier, and the departing one does not see itself.
        let q = Arc::new(P(id(3), false, 9));
        let q_added = set.try_add(q.clone(), 9, 9).unwrap();
        assert!(q_added.replaced.is_none());
        assert_eq!(set.departing_before(&id(3), q_added.stamp).len(), 1);
        assert!(set.departing_before(&id(3), p_stamp).is_empty());
        // q departs too: a later entry waits for both, q for neither of later ones.
        assert!(set.depart(&q));
        let r = Arc::new(P(id(3), false, 9));
        let r_stamp = set.try_add(r, 9, 9).unwrap().stamp;
        assert_eq!(set.departing_before(&id(3), r_stamp).len(), 2);
        assert_eq!(set.departing_before(&id(3), q_added.stamp).len(), 1);
        assert!(set.remove(&p));
        assert_eq!(set.departing_before(&id(3), r_stamp).len(), 1);
        assert!(set.remove(&q));
        assert!(set.departing_before(&id(3), r_stamp).is_empty());
    }

    #[test]
    fn limits_duplicates_and_close() {
        let set = PeerSet::default();
        set.try_add(Arc::new(P(id(1), false, 5)), 1, 1).unwrap();
        assert_eq!(
            set.try_add(Arc::new(P(id(2), false, 0)), 1, 1).map(|_| ()),
            Err(NotAdded::Refused(RejectReason::TooManyInbound))
        );
        set.try_add(Arc::new(P(id(3), true, 5)), 1, 1).unwrap();
        assert_eq!(
            set.try_add(Arc::new(P(id(4), true, 0)), 1, 1).map(|_| ()),
            Err(NotAdded::Refused(RejectReason::TooManyOutbound))
        );
        assert_eq!(
            set.try_add(Arc::new(P(id(1), true, 5)), 9, 9).map(|_| ()),
            Err(NotAdded::Refused(RejectReason::Duplicate)),
            "an equal rank does not replace"
        );
        // Removing a stale entry with the same id does not remove the current one.
        let stale = Arc::new(P(id(1), false, 5));
        assert!(!set.remove(&stale));
        assert_eq!(set.close().len(), 2);
        assert_eq!(
            set.try_add(Arc::new(P(id(5), false, 0)), 9, 9).map(|_| ()),
            Err(NotAdded::Closed)
        );
    }
}
