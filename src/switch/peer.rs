//! [`Peer`]: a connected, handshaken node, and the bookkeeping of its life in the switch.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::*};
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::budget::Budget;
use super::node_info::{NodeInfo, PeerId};
use super::peer_set::Member;
use crate::conn::{ConnectionStatus, MConnection};
use crate::error::{ChannelId, Error, SendError, TrySendError};
use crate::latch::Latch;

/// A request to the switch's lifecycle thread.
pub(crate) enum Lifecycle {
    /// The peer is gone or must go, for this reason.
    Remove(Arc<Peer>, Error),
    /// Flush the peer's queues, then remove it.
    Graceful(Arc<Peer>),
    /// The peer's admission is over; go on with its removal, which waited for that.
    Resume(Arc<Peer>),
}

/// Where a peer is in its life: admitted → (added to reactors) → removal requested →
/// finished (out of the peer set, `remove_peer` run) → removed.
pub(crate) struct PeerLife {
    /// Open when admission is over (the peer was added to reactors, or not).
    admitted: Latch,
    /// (admission over, a removal waits for it): decided together, so a removal
    /// requested while the peer is admitted is resumed exactly once.
    admission: Mutex<(bool, bool)>,
    /// Set just before the reactors' `add_peer` calls.
    added: AtomicBool,
    /// LIVE, REMOVAL_REQUESTED or FINISHING.
    removal: AtomicU8,
    /// Why the peer is being removed (the first request's reason, for `remove_peer`).
    reason: Mutex<Option<Error>>,
    /// Open when the peer is fully removed (after `remove_peer` returned).
    removed: Latch,
    /// What runs once the peer is fully removed (`None` once it has been).
    after_removal: Mutex<Option<Vec<AfterRemoval>>>,
}

/// Something to do once a peer is fully removed.
pub(crate) type AfterRemoval = Box<dyn FnOnce() + Send>;

const LIVE: u8 = 0;
const REMOVAL_REQUESTED: u8 = 1;
const FINISHING: u8 = 2;

impl PeerLife {
    fn new() -> Self {
        PeerLife {
            admitted: Latch::new(),
            admission: Mutex::new((false, false)),
            added: AtomicBool::new(false),
            removal: AtomicU8::new(LIVE),
            reason: Mutex::new(None),
            removed: Latch::new(),
            after_removal: Mutex::new(Some(Vec::new())),
        }
    }

    /// Admission is over. True if a removal was waiting for that: the caller must have
    /// it resumed ([`Lifecycle::Resume`]).
    pub fn finish_admission(&self) -> bool {
        let waiting = {
            let mut a = self.admission.lock();
            a.0 = true;
            std::mem::take(&mut a.1)
        };
        self.admitted.open();
        waiting
    }

    /// Whether a removal may go on now; if admission is not over, the removal is noted
    /// as waiting (and resumed by whoever finishes the admission), and this is false.
    /// The removal must not wait itself: the admission may wait for another removal.
    pub fn removal_may_proceed(&self) -> bool {
        let mut a = self.admission.lock();
        if !a.0 {
            a.1 = true;
        }
        a.0
    }

    /// Ready once admission is over.
    pub fn admitted(&self) -> &Receiver<()> {
        self.admitted.signal()
    }

    /// The reactors' `add_peer` calls begin (so `remove_peer` is owed).
    pub fn mark_added(&self) {
        self.added.store(true, Release);
    }

    /// Whether the reactors' `add_peer` calls began.
    pub fn was_added(&self) -> bool {
        self.added.load(Acquire)
    }

    /// The first request to remove the peer: true, and `reason` is kept. Later requests
    /// change nothing.
    pub fn request_removal(&self, reason: Error) -> bool {
        let first = self
            .removal
            .compare_exchange(LIVE, REMOVAL_REQUESTED, AcqRel, Acquire)
            .is_ok();
        if first {
            *self.reason.lock() = Some(reason);
        }
        first
    }

    /// Claims the last step of the removal: exactly one caller ever gets true.
    pub fn claim_finish(&self) -> bool {
        self.removal.swap(FINISHING, AcqRel) != FINISHING
    }

    /// The removal's reason (`Stopped` if none was given).
    pub fn take_reason(&self) -> Error {
        self.reason.lock().take().unwrap_or(Error::Stopped)
    }

    /// The peer is gone: out of the peer set, `remove_peer` returned. Runs what waited
    /// for that.
    pub fn mark_removed(&self) {
        self.removed.open();
        let waiting = self.after_removal.lock().take().unwrap_or_default();
        for f in waiting {
            f();
        }
    }

    /// Runs `f` once the peer is fully removed: now, if it is.
    pub fn when_removed(&self, f: AfterRemoval) {
        let mut waiting = self.after_removal.lock();
        match waiting.as_mut() {
            Some(list) => list.push(f),
            None => {
                drop(waiting);
                f();
            }
        }
    }

    /// Ready once the peer is fully removed.
    pub fn removed(&self) -> &Receiver<()> {
        self.removed.signal()
    }
}

/// How a connection ranks against another between the same two nodes (lower wins). Both
/// ends compute the same rank for a connection, so when two meet (two dials at once, or
/// each node dialling the other) both keep the same one and close the other.
///
/// A connection dialled by the node with the lower id wins; between two dialled by the
/// same node, the one with the lower key: the SecretConnection's challenge (the same on
/// both ends), or without encryption the dialler's and the listener's socket addresses
/// (the same on both ends unless a NAT rewrites them). A connection that already failed
/// loses to any new one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rank {
    pub dialled_by_higher_id: bool,
    pub key: Vec<u8>,
}

/// A connected peer: its identity, its connection, and data reactors attach to it.
///
/// Cheap to share (`Arc<Peer>`); `Send + Sync`. Sending follows the MConnection's
/// contracts: `send` blocks up to `send_timeout`, `try_send` never blocks, and both
/// hand the message back on failure.
pub struct Peer {
    id: PeerId,
    info: NodeInfo,
    outbound: bool,
    persistent: bool,
    remote_addr: SocketAddr,
    pub(crate) conn: MConnection,
    pub(crate) stopping: Receiver<()>,
    pub(crate) route: u64,
    pub(crate) life: PeerLife,
    pub(crate) rank: Rank,
    /// Bytes of this peer's messages handed to workers and not yet handled.
    pub(super) budget: Budget,
    lifecycle: Sender<Lifecycle>,
    data: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

impl Peer {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        info: NodeInfo,
        outbound: bool,
        persistent: bool,
        remote_addr: SocketAddr,
        conn: MConnection,
        rank: Rank,
        budget_bytes: usize,
        lifecycle: Sender<Lifecycle>,
    ) -> Self {
        let id = info.id();
        let route = id.0[..8].iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
        });
        Peer {
            id,
            info,
            outbound,
            persistent,
            remote_addr,
            stopping: conn.stop_signal(),
            conn,
            route,
            life: PeerLife::new(),
            rank,
            budget: Budget::new(budget_bytes),
            lifecycle,
            data: Mutex::new(HashMap::new()),
        }
    }

    /// The peer's id (its public key).
    pub fn id(&self) -> PeerId {
        self.id
    }

    /// What the peer said about itself; `remote_addr` is the address we see.
    pub fn node_info(&self) -> &NodeInfo {
        &self.info
    }

    /// Whether we dialled this peer.
    pub fn is_outbound(&self) -> bool {
        self.outbound
    }

    /// Whether the switch redials this peer when it drops.
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// The peer's socket address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// Whether the connection is running.
    pub fn is_running(&self) -> bool {
        self.conn.is_running()
    }

    /// Queues `msg` on channel `ch`, waiting up to `send_timeout` for room (see
    /// [`MConnection::send`]).
    pub fn send(&self, ch: ChannelId, msg: impl Into<Bytes>) -> Result<(), SendError> {
        self.conn.send(ch, msg)
    }

    /// Queues `msg` on channel `ch` if there is room now; never blocks.
    pub fn try_send(&self, ch: ChannelId, msg: impl Into<Bytes>) -> Result<(), TrySendError> {
        self.conn.try_send(ch, msg)
    }

    /// Whether a `try_send` on `ch` would find room now.
    pub fn can_send(&self, ch: ChannelId) -> bool {
        self.conn.can_send(ch)
    }

    /// The connection's status.
    pub fn status(&self) -> ConnectionStatus {
        self.conn.status()
    }

    /// Writes everything queued (bounded by `send_timeout`), closes the connection, and
    /// has the switch remove the peer. Blocks until the connection is closed (inside a
    /// callback, until it is flushed: see [`MConnection::stop`]); `remove_peer` follows
    /// on a worker.
    pub fn flush_stop(self: &Arc<Self>) {
        self.conn.flush_stop();
        let _ = self
            .lifecycle
            .send(Lifecycle::Remove(self.clone(), Error::Stopped));
    }

    /// Attaches `value` to this peer under `key`, replacing what was there.
    pub fn set<T: Any + Send + Sync>(&self, key: &str, value: T) {
        self.data.lock().insert(key.to_string(), Arc::new(value));
    }

    /// The value under `key`, if there is one of type `T`.
    pub fn get<T: Any + Send + Sync>(&self, key: &str) -> Option<Arc<T>> {
        let v = self.data.lock().get(key)?.clone();
        v.downcast::<T>().ok()
    }

    pub(crate) fn request(&self, req: Lifecycle) {
        let _ = self.lifecycle.send(req);
    }
}

impl Member for Peer {
    fn member_id(&self) -> PeerId {
        self.id
    }
    fn member_outbound(&self) -> bool {
        self.outbound
    }
    fn replaces(&self, existing: &Self) -> bool {
        // A connection that already failed is replaced by any new one: the other end has
        // let it go (or will), whatever the ranks.
        self.rank < existing.rank || !existing.is_running()
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("id", &self.id)
            .field("moniker", &self.info.moniker)
            .field("remote_addr", &self.remote_addr)
            .field("outbound", &self.outbound)
            .field("persistent", &self.persistent)
            .finish()
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id.short(), self.remote_addr)
    }
}
