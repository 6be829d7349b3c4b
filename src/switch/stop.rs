//! The stop sequence, and what it keeps: whether the switch stopped, the signal every
//! thread leaves on, and the peers whose removals are still owed.
//!
//! # Stopping
//!
//! `stop()` has two halves. The first, on any thread, closes everything and signals every
//! thread to leave, without waiting for any of them. The second, only on a thread that
//! runs no callbacks (see `crate::threads`), waits: for the short-lived threads, then
//! joins workers, the lifecycle thread and accept threads, then every peer's connection.
//! The last worker to leave finishes the removals still owed, so `remove_peer` runs on a
//! worker, after the peer's last callback, and never inside another callback.

use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::Arc;

use crossbeam_channel::Receiver;
use log::info;
use parking_lot::Mutex;

use super::handshaking::Handshaking;
use super::listeners::Listeners;
use super::owned_threads::OwnedThreads;
use super::peer::Peer;
use super::peer_set::PeerSet;
use crate::latch::Latch;

/// A switch's stop: its state and its two halves. See the module docs.
pub(super) struct Stopping {
    stopped: AtomicBool,
    /// Open once the switch is stopping.
    signal: Latch,
    /// Held by the `stop()` that joins, so a second one waits for it.
    join_lock: Mutex<()>,
    /// The peers when the switch stopped: the last worker finishes their removals.
    closing: Mutex<Vec<Arc<Peer>>>,
}

impl Stopping {
    /// A switch not stopped.
    pub(super) fn new() -> Self {
        Stopping {
            stopped: AtomicBool::new(false),
            signal: Latch::new(),
            join_lock: Mutex::new(()),
            closing: Mutex::new(Vec::new()),
        }
    }

    /// Whether the switch was stopped.
    pub(super) fn is_stopped(&self) -> bool {
        self.stopped.load(Acquire)
    }

    /// Ready (disconnected) once the switch is stopping, for `select!`.
    pub(super) fn signal(&self) -> &Receiver<()> {
        self.signal.signal()
    }

    /// Marks the switch stopped: true for the first call only, which must then
    /// [`begin`](Self::begin). The caller holds the switch's start lock, so a start and
    /// a stop never interleave: either the workers exist, or never will.
    pub(super) fn mark(&self) -> bool {
        !self.stopped.swap(true, AcqRel)
    }

    /// The first half of `stop`: close everything and tell every thread to leave. Waits
    /// for nothing but the wake-up connections to listeners.
    pub(super) fn begin(
        &self,
        peers: &PeerSet<Peer>,
        handshaking: &Mutex<Handshaking>,
        threads: &OwnedThreads,
        listeners: &Listeners,
    ) {
        info!("switch stopping");
        let peers = peers.close();
        // Before the signal: the last worker to leave on it finishes these removals.
        *self.closing.lock() = peers.clone();
        self.signal.open();
        handshaking.lock().shutdown_all();
        for p in &peers {
            p.conn.begin_stop();
        }
        threads.refuse_new();
        // Accept threads block in accept(): a connection wakes each one up.
        listeners.wake_all();
    }

    /// The second half of `stop`: wait for every thread the switch owns (never called on
    /// a callback thread, so no thread it waits for can be waiting for it).
    pub(super) fn join(&self, threads: &OwnedThreads) {
        let _g = self.join_lock.lock();
        threads.join_all();
        // The workers are gone: the last one finished every removal.
        let peers = std::mem::take(&mut *self.closing.lock());
        for p in &peers {
            p.conn.stop();
        }
        info!("switch stopped");
    }

    /// The peers the switch had when it stopped (empty before), whose removals the last
    /// worker to leave finishes.
    pub(super) fn closing(&self) -> Vec<Arc<Peer>> {
        self.closing.lock().clone()
    }
}
