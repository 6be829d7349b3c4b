//! [`Peer`]: a connected, handshaken node, and the requests it sends the switch's
//! lifecycle thread about its removal. (Where it is in its life is
//! [`PeerLife`].)

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::budget::Budget;
use super::message_types::TypeCounters;
use super::node_info::NodeInfo;
use super::peer_life::PeerLife;
use super::peer_set::Member;
use crate::conn::{ConnectionStatus, MConnection};
use crate::error::{ChannelId, Error};
use crate::peer_id::PeerId;
use crate::send_error::{SendError, TrySendError};

/// A request to the switch's lifecycle thread (served in `removal.rs`). It is defined
/// here, beside the [`Peer`] that sends it, because it holds an `Arc<Peer>`: defined in
/// the removal file, peer.rs and that file would import each other. Send one with
/// [`Peer::queue_removal`], [`Peer::queue_graceful_removal`] or [`Peer::queue_resume`].
pub(super) enum Lifecycle {
    /// The peer is gone or must go, for this reason.
    Remove(Arc<Peer>, Error),
    /// Flush the peer's queues, then remove it.
    Graceful(Arc<Peer>),
    /// The peer's admission is over; go on with its removal, which waited for that.
    Resume(Arc<Peer>),
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
pub(super) struct Rank {
    pub dialled_by_higher_id: bool,
    pub key: Vec<u8>,
}

/// A connected peer: its identity, its connection, and data reactors attach to it.
///
/// Cheap to share (`Arc<Peer>`); `Send + Sync`. Sending follows the MConnection's
/// contracts: `send` blocks up to `send_timeout`, `try_send` never blocks, and both
/// hand the message back on failure.
///
/// # Example
///
/// ```
/// # use mconn::{ChannelDescriptor, ChannelReactor, NodeInfo, Switch, SwitchConfig};
/// use mconn::{SendError, TrySendError};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let node = |name: &str| -> Result<_, mconn::Error> {
/// #     let (reactor, events) = ChannelReactor::new(vec![ChannelDescriptor::new(0x40, 1)], 64);
/// #     let switch = Switch::new(SwitchConfig::default(), NodeInfo::new(name, "demo-net"))?;
/// #     switch.add_reactor("app", reactor)?;
/// #     Ok((switch, events))
/// # };
/// # let (server, _server_events) = node("server")?;
/// # let addr = server.listen("127.0.0.1:0")?;
/// # let (client, _client_events) = node("client")?;
/// let peer = client.dial(addr)?;
/// println!("{} ({}) at {}", peer.id(), peer.node_info().moniker, peer.remote_addr());
///
/// // `send` waits (up to `send_timeout`) for room in the channel's queue.
/// match peer.send(0x40, "hello") {
///     Ok(()) => {}
///     Err(SendError::Timeout(msg)) => println!("peer too slow; {} bytes kept", msg.len()),
///     Err(e) => println!("not sent: {e}"),
/// }
/// // `try_send` never waits: the application decides what to do with a full queue.
/// if let Err(TrySendError::Full(msg)) = peer.try_send(0x40, "again") {
///     println!("queue full; {} bytes kept for later", msg.len());
/// }
/// // Reactors can attach data to a peer...
/// peer.set("score", 10u32);
/// assert_eq!(peer.get::<u32>("score").as_deref(), Some(&10));
/// // ...and the application can send it away with a reason its `remove_peer` sees.
/// peer.disconnect("maintenance");
/// # client.stop();
/// # server.stop();
/// # Ok(())
/// # }
/// ```
pub struct Peer {
    id: PeerId,
    info: NodeInfo,
    outbound: bool,
    persistent: bool,
    remote_addr: SocketAddr,
    /// Its connection's packet codec's name (its protocol family's).
    codec: &'static str,
    pub(super) conn: MConnection,
    pub(super) stopping: Receiver<()>,
    /// Disconnected once the switch is stopping (for reactors that wait, such as
    /// [`ChannelReactor`](super::ChannelReactor)).
    pub(super) switch_stopping: Receiver<()>,
    pub(super) route: u64,
    pub(super) life: PeerLife,
    pub(super) rank: Rank,
    /// Bytes of this peer's messages handed to workers and not yet handled.
    pub(super) budget: Budget,
    lifecycle: Sender<Lifecycle>,
    data: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
    /// Bytes per message type sent, if the switch counts them.
    message_types: Option<Arc<TypeCounters>>,
}

impl Peer {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        info: NodeInfo,
        outbound: bool,
        persistent: bool,
        remote_addr: SocketAddr,
        (conn, codec): (MConnection, &'static str),
        rank: Rank,
        budget_bytes: usize,
        lifecycle: Sender<Lifecycle>,
        switch_stopping: Receiver<()>,
        message_types: Option<Arc<TypeCounters>>,
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
            codec,
            stopping: conn.stop_signal(),
            switch_stopping,
            conn,
            route,
            life: PeerLife::new(),
            rank,
            budget: Budget::new(budget_bytes),
            lifecycle,
            data: Mutex::new(HashMap::new()),
            message_types,
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

    /// Whether this peer was dialled as a persistent peer
    /// ([`Switch::dial_persistent`](super::Switch::dial_persistent)). Fixed at admission:
    /// after [`stop_redialling`](super::Switch::stop_redialling) it stays true, though
    /// the peer is no longer redialled.
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// The peer's socket address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// The name of the packet codec the peer speaks (its protocol family's): reactors
    /// above the switch (PEX) pick their own wire by it.
    #[cfg_attr(not(feature = "cometbft"), allow(dead_code))]
    pub(crate) fn codec_name(&self) -> &'static str {
        self.codec
    }

    /// Whether the connection is running.
    pub fn is_running(&self) -> bool {
        self.conn.is_running()
    }

    /// Queues `msg` on channel `ch`, waiting up to `send_timeout` for room (see
    /// [`MConnection::send`]).
    pub fn send(&self, ch: ChannelId, msg: impl Into<Bytes>) -> Result<(), SendError> {
        self.counted(ch, msg.into(), |m| self.conn.send(ch, m))
    }

    /// Queues `msg` on channel `ch` if there is room now; never blocks.
    pub fn try_send(&self, ch: ChannelId, msg: impl Into<Bytes>) -> Result<(), TrySendError> {
        self.counted(ch, msg.into(), |m| self.conn.try_send(ch, m))
    }

    /// [`send`](Self::send), waiting at most `timeout`.
    pub(super) fn send_within(
        &self,
        ch: ChannelId,
        msg: Bytes,
        timeout: Duration,
    ) -> Result<(), SendError> {
        self.counted(ch, msg, |m| self.conn.send_timeout(ch, m, timeout))
    }

    /// Runs `send` with `msg`; counts its bytes by type if it was queued (and types are
    /// counted).
    fn counted<E>(
        &self,
        ch: ChannelId,
        msg: Bytes,
        send: impl FnOnce(Bytes) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(types) = &self.message_types else {
            return send(msg);
        };
        let (kind, len) = (types.classify(ch, &msg), msg.len());
        send(msg)?;
        types.sent(kind, len);
        Ok(())
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
        self.queue_removal(Error::Stopped);
    }

    /// Disconnects the peer now, for `reason` (what `remove_peer` sees, as
    /// [`Error::Disconnected`]). Returns at once: safe from inside any callback, and
    /// needs no handle to the switch. Queued messages are dropped; use
    /// [`flush_stop`](Self::flush_stop) to write them first. A persistent peer is
    /// redialled at once, like any persistent peer that drops: call
    /// [`Switch::stop_redialling`](super::Switch::stop_redialling) first to keep it away.
    pub fn disconnect(self: &Arc<Self>, reason: impl Into<String>) {
        self.queue_removal(Error::Disconnected(reason.into()));
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

    /// Asks the lifecycle thread to stop and remove this peer, with `reason` as the
    /// reason `remove_peer` sees (unless an earlier request's). Returns at once.
    pub(super) fn queue_removal(self: &Arc<Self>, reason: Error) {
        self.request(Lifecycle::Remove(self.clone(), reason));
    }

    /// Asks the lifecycle thread to flush this peer's queues, then remove it. Returns at
    /// once.
    pub(super) fn queue_graceful_removal(self: &Arc<Self>) {
        self.request(Lifecycle::Graceful(self.clone()));
    }

    /// Tells the lifecycle thread that this peer's admission is over, so a removal that
    /// waited for that goes on (see
    /// [`PeerLife::finish_admission`](super::peer_life::PeerLife::finish_admission)).
    pub(super) fn queue_resume(self: &Arc<Self>) {
        self.request(Lifecycle::Resume(self.clone()));
    }

    fn request(&self, req: Lifecycle) {
        // Fails only once the switch is gone, and then so is every peer's removal.
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
