//! [`Latch`]: a one-shot signal that any number of threads can wait for, or `select!`
//! on together with other channels. Opening it twice is harmless.

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

/// A one-shot signal: closed until [`open`](Self::open), open for ever after.
pub(crate) struct Latch {
    tx: Mutex<Option<Sender<()>>>,
    rx: Receiver<()>,
}

impl Latch {
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(0);
        Latch {
            tx: Mutex::new(Some(tx)),
            rx,
        }
    }

    /// Opens the latch: every waiter, present and future, goes on.
    pub fn open(&self) {
        drop(self.tx.lock().take());
    }

    /// Whether the latch is open.
    #[cfg(test)]
    pub fn is_open(&self) -> bool {
        matches!(
            self.rx.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected)
        )
    }

    /// Blocks until the latch is open.
    pub fn wait(&self) {
        let _ = self.rx.recv();
    }

    /// A receiver that becomes ready (disconnected) when the latch opens, for `select!`.
    pub fn signal(&self) -> &Receiver<()> {
        &self.rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_once_for_every_waiter() {
        let l = std::sync::Arc::new(Latch::new());
        assert!(!l.is_open());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || l.wait())
            })
            .collect();
        l.open();
        l.open();
        for w in waiters {
            w.join().unwrap();
        }
        assert!(l.is_open());
        assert!(l.signal().recv().is_err(), "ready in a select");
    }
}
