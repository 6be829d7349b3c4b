//! The addresses a switch keeps redialled (its persistent peers), one redial thread
//! each; `Switch::stop_redialling` cancels one. (The redial loop is `persistent.rs`.)

use std::collections::HashMap;
use std::net::SocketAddr;

use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};
use parking_lot::Mutex;

/// The addresses being redialled. Each entry holds the sending end of its thread's
/// cancel channel: removing the entry drops it, which wakes the thread.
#[derive(Default)]
pub(super) struct Persistent {
    entries: Mutex<HashMap<SocketAddr, (u64, Sender<()>)>>,
    next: Mutex<u64>,
}

impl Persistent {
    /// Registers `addr`: its generation and cancel receiver, or `None` if it is
    /// registered already.
    pub(super) fn register(&self, addr: SocketAddr) -> Option<(u64, Receiver<()>)> {
        let mut entries = self.entries.lock();
        if entries.contains_key(&addr) {
            return None;
        }
        let gen = {
            let mut next = self.next.lock();
            *next = next.wrapping_add(1);
            *next
        };
        let (tx, rx) = bounded(0);
        entries.insert(addr, (gen, tx));
        Some((gen, rx))
    }

    /// Forgets `addr` (its thread ends at its next step); whether it was registered.
    pub(super) fn cancel(&self, addr: SocketAddr) -> bool {
        self.entries.lock().remove(&addr).is_some()
    }

    /// Forgets `addr` if it is still generation `gen` (a thread leaving on its own must
    /// not forget a newer registration of the same address).
    pub(super) fn leave(&self, addr: SocketAddr, gen: u64) {
        let mut entries = self.entries.lock();
        if entries.get(&addr).is_some_and(|(g, _)| *g == gen) {
            entries.remove(&addr);
        }
    }
}

/// Whether the application stopped redialling (the registration was removed).
pub(super) fn cancelled(cancel: &Receiver<()>) -> bool {
    matches!(cancel.try_recv(), Err(TryRecvError::Disconnected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn an_address_is_registered_once_and_cancelling_wakes_its_thread() {
        let p = Persistent::default();
        let (gen, cancel) = p.register(addr(1)).expect("first registration");
        assert!(
            p.register(addr(1)).is_none(),
            "a second loop for one address"
        );
        assert!(!cancelled(&cancel));
        assert!(p.cancel(addr(1)));
        assert!(cancelled(&cancel), "the thread sees the cancel");
        assert!(!p.cancel(addr(1)), "cancelling twice");
        // The old thread leaving must not forget a newer registration.
        let (_, _rx) = p.register(addr(1)).expect("registered again");
        p.leave(addr(1), gen);
        assert!(p.entries.lock().contains_key(&addr(1)));
    }
}
