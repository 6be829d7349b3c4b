//! [`OwnedThreads`]: the threads a switch owns, and how its stop waits for them.
//!
//! Two kinds. Long-lived threads (workers, the lifecycle thread, accept threads) are
//! kept and joined at stop. Short-lived threads (handshakes, persistent dialers,
//! flushes) come and go: each holds a token, and the stop first waits until every token
//! is dropped (those threads end quickly once the switch is stopping), then joins them.
//! Once the stop began, no new short-lived thread starts, and a long-lived one started
//! late is left to end on its own.

use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::Mutex;

use crate::error::Error;
use crate::threads;

/// The threads a switch owns. See the module docs.
pub(super) struct OwnedThreads {
    /// Workers, the lifecycle thread and accept threads: joined by `stop`. `None` once
    /// `stop` took them (a thread started later is refused).
    long_lived: Mutex<Option<Vec<JoinHandle<()>>>>,
    /// Short-lived threads (handshakes, persistent dialers, flushes) hold a clone;
    /// `stop` waits until every clone is dropped, then joins them.
    tokens: Mutex<Option<Sender<()>>>,
    short_lived: Mutex<Vec<JoinHandle<()>>>,
    tokens_rx: Receiver<()>,
}

impl OwnedThreads {
    /// No threads yet.
    pub(super) fn new() -> Self {
        let (tokens_tx, tokens_rx) = bounded(0);
        OwnedThreads {
            long_lived: Mutex::new(Some(Vec::new())),
            tokens: Mutex::new(Some(tokens_tx)),
            short_lived: Mutex::new(Vec::new()),
            tokens_rx,
        }
    }

    /// Keeps a thread for `stop` to join. After `stop` took the list, the thread is
    /// left to end on its own (everything it waits for is closed by then).
    pub(super) fn own(&self, h: JoinHandle<()>) {
        if let Some(list) = self.long_lived.lock().as_mut() {
            list.push(h);
        }
    }

    /// Spawns a short-lived thread that `stop` waits for and joins. Fails once stopping.
    pub(super) fn spawn_short_lived(
        &self,
        name: &str,
        stack: Option<usize>,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<(), Error> {
        // Held until the handle is kept: `stop` takes the tokens first, so it waits for
        // this thread and then finds its handle.
        let tokens = self.tokens.lock();
        let Some(token) = tokens.clone() else {
            return Err(Error::Stopped);
        };
        let h = threads::spawn(name, stack, move || {
            let _token = token;
            f();
        })?;
        let mut list = self.short_lived.lock();
        list.retain(|h| !h.is_finished());
        list.push(h);
        Ok(())
    }

    /// No short-lived thread starts from now on (the first half of a stop).
    pub(super) fn refuse_new(&self) {
        drop(self.tokens.lock().take());
    }

    /// Waits for every short-lived thread, then joins them and every long-lived one.
    /// Only after [`refuse_new`](Self::refuse_new), and never on a thread that some owned
    /// thread may wait for.
    pub(super) fn join_all(&self) {
        // Handshakes, persistent dialers and flushes end quickly now.
        let _ = self.tokens_rx.recv();
        let short_lived = std::mem::take(&mut *self.short_lived.lock());
        let handles = self.long_lived.lock().take().unwrap_or_default();
        for h in short_lived.into_iter().chain(handles) {
            let _ = h.join();
        }
    }
}
