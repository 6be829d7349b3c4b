//! [`Budget`]: the bytes of one peer's messages handed to workers and not yet handled.
//!
//! It lives apart from the dispatch pool because a `Peer` owns one, and the pool in turn
//! handles peers: each side names only this file, not the other.

use crossbeam_channel::{bounded, select, Receiver, Sender};
use parking_lot::Mutex;

/// One peer's bytes handed to workers and not yet handled: at most `limit`, except that
/// one message of any size passes when none is waiting (so the limit may be below a
/// channel's `recv_message_capacity`; the peer then holds at most one such message).
pub(super) struct Budget {
    limit: usize,
    used: Mutex<usize>,
    /// A token after each release; only the peer's recv thread waits on it.
    freed_tx: Sender<()>,
    freed_rx: Receiver<()>,
}

impl Budget {
    /// An empty budget of `limit` bytes.
    pub(super) fn new(limit: usize) -> Self {
        let (freed_tx, freed_rx) = bounded(1);
        Budget {
            limit,
            used: Mutex::new(0),
            freed_tx,
            freed_rx,
        }
    }

    /// Takes `n` bytes, waiting while they do not fit. False (nothing taken) if `stop`
    /// fires first.
    pub(super) fn acquire(&self, n: usize, stop: &Receiver<()>) -> bool {
        loop {
            {
                let mut used = self.used.lock();
                if *used == 0 || used.saturating_add(n) <= self.limit {
                    *used += n;
                    return true;
                }
            }
            select! {
                recv(self.freed_rx) -> _ => {}
                recv(stop) -> _ => return false,
            }
        }
    }

    /// Gives back `n` bytes taken by [`acquire`](Self::acquire), waking a waiter.
    pub(super) fn release(&self, n: usize) {
        *self.used.lock() -= n;
        let _ = self.freed_tx.try_send(());
    }

    /// Bytes taken now.
    #[cfg(test)]
    fn used(&self) -> usize {
        *self.used.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn the_budget_lets_one_message_of_any_size_through_and_then_waits() {
        let b = Arc::new(Budget::new(100));
        let (_keep, stop) = bounded::<()>(0);
        assert!(b.acquire(1000, &stop), "nothing in flight: any size passes");
        assert_eq!(b.used(), 1000);
        // The next one waits until the first is given back.
        let (b2, stop2) = (b.clone(), stop.clone());
        let waiter = std::thread::spawn(move || b2.acquire(60, &stop2));
        std::thread::sleep(Duration::from_millis(20));
        assert!(!waiter.is_finished(), "it waits while the budget is used");
        b.release(1000);
        assert!(waiter.join().unwrap());
        assert!(b.acquire(40, &stop), "60 + 40 fit in 100");
        assert_eq!(b.used(), 100);
        // A stop ends a wait with nothing taken.
        let (stop_tx, stop) = bounded::<()>(0);
        let (b3, stop3) = (b.clone(), stop.clone());
        let waiter = std::thread::spawn(move || b3.acquire(1, &stop3));
        drop(stop_tx);
        assert!(!waiter.join().unwrap());
        assert_eq!(b.used(), 100);
    }
}
