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

use super::node_info::{NodeInfo, PeerId};
use super::peer_set::Member;
use crate::conn::{ConnectionStatus, MConnection};
use crate::error::{ChannelId, Error, SendError, TrySendError};

/// A request to the switch's lifecycle thread.
pub(crate) enum Lifecycle {
    /// The peer is gone or must go, for this reason.
    Remove(Arc<Peer>, Error),
    /// Flush the peer's queues, then remove it.
    Graceful(Arc<Peer>),
}

/// Where a peer is in its life.
pub(crate) struct PeerLife {
    /// Disconnected when admission is over (the peer was added to reactors, or not).
    admitted_tx: Mutex<Option<Sender<()>>>,
    pub admitted: Receiver<()>,
    /// Set just before the reactors' `add_peer` calls.
    pub added_to_reactors: AtomicBool,
    /// Set by whoever calls the reactors' `remove_peer` (so it happens once).
    pub remove_called: AtomicBool,
    /// 0 = live, 1 = removal requested, 2 = removed.
    pub removal: AtomicU8,
    removed_tx: Mutex<Option<Sender<()>>>,
    /// Disconnected when the peer is fully removed (after `remove_peer` returned).
    pub removed: Receiver<()>,
    /// Why the peer is being removed (for `remove_peer`).
    pub reason: Mutex<Option<Error>>,
}

impl PeerLife {
    fn new() -> Self {
        let (admitted_tx, admitted) = crossbeam_channel::bounded(0);
        let (removed_tx, removed) = crossbeam_channel::bounded(0);
        PeerLife {
            admitted_tx: Mutex::new(Some(admitted_tx)),
            admitted,
            added_to_reactors: AtomicBool::new(false),
            remove_called: AtomicBool::new(false),
            removal: AtomicU8::new(0),
            removed_tx: Mutex::new(Some(removed_tx)),
            removed,
            reason: Mutex::new(None),
        }
    }

    pub fn finish_admission(&self) {
        drop(self.admitted_tx.lock().take());
    }

    pub fn mark_removed(&self) {
        self.removal.store(2, Release);
        drop(self.removed_tx.lock().take());
    }
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
    lifecycle: Sender<Lifecycle>,
    data: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

impl Peer {
    pub(crate) fn new(
        info: NodeInfo,
        outbound: bool,
        persistent: bool,
        remote_addr: SocketAddr,
        conn: MConnection,
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
    /// has the switch remove the peer. Blocks until the connection is closed;
    /// `remove_peer` follows on a worker.
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
