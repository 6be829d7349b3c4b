//! The shared handle behind every clone of an [`MConnection`](super::MConnection) (and
//! the [`WeakMConnection`] that does not keep it alive): what its threads share, and
//! their join handles. Stopping it waits for both threads unless
//! called on a callback thread; dropping the last handle stops it.

use std::fmt;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::shared::Shared;
use crate::threads;

/// A handle that does not keep the connection alive; [`upgrade`](Self::upgrade) it to use it.
#[derive(Clone, Default)]
pub struct WeakMConnection {
    pub(super) inner: Weak<Handle>,
}

impl fmt::Debug for WeakMConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeakMConnection")
    }
}

pub(super) struct Handle {
    pub(super) shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Held while a `stop()` joins, so that a concurrent one returns only once the
    /// threads are joined too.
    join_lock: Mutex<()>,
}

impl Handle {
    pub(super) fn new(shared: Arc<Shared>, threads: Vec<JoinHandle<()>>) -> Self {
        Handle {
            shared,
            threads: Mutex::new(threads),
            join_lock: Mutex::new(()),
        }
    }

    /// Stops the connection; outside a callback thread, waits for both threads and joins
    /// them.
    pub(super) fn stop(&self) {
        let s = &self.shared;
        s.begin_stop(None);
        if threads::on_callback_thread() {
            return;
        }
        let _ = s.send_done.recv();
        let _ = s.recv_done.recv();
        // Both threads have left their loops; joining them is immediate. Only plain
        // threads get here, and no callback thread takes these locks, so holding the join
        // lock while joining cannot block a thread we wait for.
        let _joining = self.join_lock.lock();
        let handles = std::mem::take(&mut *self.threads.lock());
        for h in handles {
            let _ = h.join();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop();
    }
}
