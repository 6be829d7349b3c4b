//! The addresses being dialled now, so that discovery does not dial one twice at once.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use parking_lot::Mutex;

/// The addresses being dialled now (connect, handshake or admission), each with its
/// number of dials: discovery must not dial one of them again meanwhile, since a second
/// connection to one node replaces the first and the peer would seem to leave and come
/// back.
#[derive(Default)]
pub(super) struct DialsInFlight(Mutex<HashMap<SocketAddr, usize>>);

impl DialsInFlight {
    /// Counts a dial of `addr` until the returned guard drops.
    pub(super) fn enter(&self, addr: SocketAddr) -> InFlight<'_> {
        *self.0.lock().entry(addr).or_default() += 1;
        InFlight { set: self, addr }
    }

    /// The addresses with at least one dial in progress.
    pub(super) fn addresses(&self) -> HashSet<SocketAddr> {
        self.0.lock().keys().copied().collect()
    }
}

/// One dial in [`DialsInFlight`], until dropped.
pub(super) struct InFlight<'a> {
    set: &'a DialsInFlight,
    addr: SocketAddr,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut map = self.set.0.lock();
        if let Some(n) = map.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_listed_while_any_of_its_dials_is_in_flight() {
        let set = DialsInFlight::default();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        assert!(set.addresses().is_empty());
        let first = set.enter(a);
        let second = set.enter(a);
        let other = set.enter(b);
        assert_eq!(set.addresses(), HashSet::from([a, b]));
        drop(first);
        assert_eq!(
            set.addresses(),
            HashSet::from([a, b]),
            "a second dial of a remains"
        );
        drop(second);
        assert_eq!(set.addresses(), HashSet::from([b]));
        drop(other);
        assert!(set.addresses().is_empty());
    }
}
