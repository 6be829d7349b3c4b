//! The set of connected peers: keyed by id, counting inbound and outbound, refusing
//! duplicates and peers over the limits atomically. Pure: no threads, no sockets.

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
}

struct Inner<P> {
    map: HashMap<PeerId, Arc<P>>,
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
                inbound: 0,
                outbound: 0,
                closed: false,
            }),
        }
    }
}

impl<P: Member> PeerSet<P> {
    /// Adds `peer` unless its id is present, its direction is at its limit, or the set is
    /// closed.
    pub fn try_add(&self, peer: Arc<P>, max_in: usize, max_out: usize) -> Result<(), RejectReason> {
        let mut s = self.inner.lock();
        if s.closed {
            return Err(RejectReason::SwitchStopped);
        }
        let id = peer.member_id();
        if s.map.contains_key(&id) {
            return Err(RejectReason::Duplicate);
        }
        if peer.member_outbound() {
            if s.outbound >= max_out {
                return Err(RejectReason::TooManyOutbound);
            }
            s.outbound += 1;
        } else {
            if s.inbound >= max_in {
                return Err(RejectReason::TooManyInbound);
            }
            s.inbound += 1;
        }
        s.map.insert(id, peer);
        Ok(())
    }

    /// Removes exactly this entry (not a newer one with the same id). True if it was there.
    pub fn remove(&self, peer: &Arc<P>) -> bool {
        let mut s = self.inner.lock();
        let id = peer.member_id();
        match s.map.get(&id) {
            Some(p) if Arc::ptr_eq(p, peer) => {
                s.map.remove(&id);
                if peer.member_outbound() {
                    s.outbound -= 1;
                } else {
                    s.inbound -= 1;
                }
                true
            }
            _ => false,
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

    /// Refuses further adds and returns the peers present now.
    pub fn close(&self) -> Vec<Arc<P>> {
        let mut s = self.inner.lock();
        s.closed = true;
        s.map.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct P(PeerId, bool);
    impl Member for P {
        fn member_id(&self) -> PeerId {
            self.0
        }
        fn member_outbound(&self) -> bool {
            self.1
        }
    }

    fn id(n: u8) -> PeerId {
        PeerId([n; 32])
    }

    #[test]
    fn add_and_remove_a_hundred() {
        let set = PeerSet::default();
        let peers: Vec<_> = (0..100u8).map(|i| Arc::new(P(id(i), i % 2 == 0))).collect();
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
                std::thread::spawn(move || set.try_add(Arc::new(P(id(9), false)), 40, 10).is_ok())
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

    #[test]
    fn limits_duplicates_and_close() {
        let set = PeerSet::default();
        set.try_add(Arc::new(P(id(1), false)), 1, 1).unwrap();
        assert_eq!(
            set.try_add(Arc::new(P(id(2), false)), 1, 1),
            Err(RejectReason::TooManyInbound)
        );
        set.try_add(Arc::new(P(id(3), true)), 1, 1).unwrap();
        assert_eq!(
            set.try_add(Arc::new(P(id(4), true)), 1, 1),
            Err(RejectReason::TooManyOutbound)
        );
        assert_eq!(
            set.try_add(Arc::new(P(id(1), true)), 9, 9),
            Err(RejectReason::Duplicate)
        );
        // Removing a stale entry with the same id does not remove the current one.
        let stale = Arc::new(P(id(1), false));
        assert!(!set.remove(&stale));
        assert_eq!(set.close().len(), 2);
        assert_eq!(
            set.try_add(Arc::new(P(id(5), false)), 9, 9),
            Err(RejectReason::SwitchStopped)
        );
    }
}
