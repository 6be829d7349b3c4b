//! The Switch: owns peers, runs handshakes, and dispatches messages to reactors. This
//! file is the handle; `state.rs` holds what the switch's threads share, and each
//! concern (admission, dispatch, dialling, removal, stopping) has a file of its own.

mod admission;
mod budget;
mod channel_reactor;
mod config;
mod counters;
mod dial;
mod dials_in_flight;
mod dispatch;
mod endpoints;
mod events;
mod filter;
pub(crate) mod handshake;
mod handshaking;
mod listen;
mod listeners;
mod message_types;
#[cfg(feature = "metrics")]
mod metrics;
mod node_info;
mod owned_threads;
mod peer;
mod peer_life;
mod peer_set;
mod persistent;
pub(crate) mod protocol;
mod reactor;
mod redials;
mod removal;
mod state;
mod stop;
mod tendermint_v012;
mod view;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::Receiver;

pub use self::channel_reactor::{ChannelReactor, Event};
pub use self::config::{ReconnectSchedule, SwitchConfig};
pub use self::events::SwitchEvent;
#[cfg(feature = "cometbft")]
pub(crate) use self::message_types::MessageTypes;
pub use self::node_info::{NodeInfo, ProtocolVersion};
pub use self::peer::Peer;
pub use self::protocol::{Handshake, HandshakeSetup, Handshaken, Protocol};
pub use self::reactor::Reactor;
use self::state::SwitchState;
use self::view::spawn_owned;
pub(crate) use self::view::SwitchView;
use crate::error::{ChannelId, Error};
use crate::peer_id::PeerId;
use crate::send_error::{SendError, TrySendError};
use crate::time;

/// A running node: reactors, listeners, peers.
///
/// # Threads
///
/// A switch owns: one accept thread per listener, one short-lived handshake thread per
/// incoming connection, `workers` dispatch workers (reactor callbacks run here, on
/// normal-size stacks), one lifecycle thread that removes peers, and one thread per
/// persistent peer that redials it; also a short-lived thread per user filter call and
/// per graceful peer removal. Each peer adds its connection's two I/O threads.
/// [`stop`](Switch::stop) ends all of them in bounded time, and is safe from inside any
/// callback.
///
/// # Handles
///
/// `Switch` is a cheap `Clone` handle (`Send + Sync`). Dropping the last one stops the
/// switch. Reactors should keep a [`WeakSwitch`], so nothing keeps itself alive.
///
/// # Example
///
/// A server that answers each request, and a client that asks once, both served from
/// channels ([`ChannelReactor`](crate::ChannelReactor)); `examples/select_loop.rs` does
/// the same from one `select!` loop.
///
/// ```
/// use mconn::{ChannelDescriptor, ChannelReactor, Event, NodeInfo, Switch, SwitchConfig};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = |name: &str| -> Result<_, mconn::Error> {
///     let (reactor, events) = ChannelReactor::new(vec![ChannelDescriptor::new(0x40, 1)], 64);
///     let switch = Switch::new(SwitchConfig::default(), NodeInfo::new(name, "demo-net"))?;
///     switch.add_reactor("requests", reactor)?;
///     Ok((switch, events))
/// };
/// let (server, server_events) = node("server")?;
/// let addr = server.listen("127.0.0.1:0")?;
/// let (client, client_events) = node("client")?;
///
/// let peer = client.dial(addr)?; // handshaken and running when it returns
/// peer.send(0x40, "what time is it?")?;
/// for event in server_events.iter() {
///     if let Event::Message { peer, channel, msg } = event {
///         assert_eq!(msg, "what time is it?");
///         peer.send(channel, "tea time")?;
///         break;
///     }
/// }
/// let answer = client_events.iter().find_map(|e| match e {
///     Event::Message { msg, .. } => Some(msg),
///     _ => None,
/// });
/// assert_eq!(answer.as_deref(), Some(&b"tea time"[..]));
/// client.flush_stop(std::time::Duration::from_secs(5));
/// server.stop();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Switch {
    inner: Arc<Handle>,
}

/// A handle that does not keep the switch alive; [`upgrade`](Self::upgrade) it to use it.
#[derive(Clone, Default)]
pub struct WeakSwitch {
    inner: Weak<Handle>,
    /// The state, reached by [`view`](Self::view) without making a handle (see there).
    state: Weak<SwitchState>,
}

struct Handle {
    state: Arc<SwitchState>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.state.stop();
    }
}

/// What [`Switch::broadcast`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct BroadcastResult {
    /// Peers whose queue took the message.
    pub sent: Vec<PeerId>,
    /// Peers that did not take it, and why (each error holds a shared copy of the message).
    pub failed: Vec<(PeerId, SendError)>,
}

impl Switch {
    /// A switch with this config and NodeInfo. `node_info.pub_key` is replaced by the
    /// switch's node key; `listen_addr`, if empty, is set by the first `listen`.
    /// Nothing runs until the first `listen` or `dial`.
    ///
    /// Errors: [`Error::InvalidConfig`] for a bad config, or a NodeInfo that no peer
    /// could accept: a version that is not `major.minor.patch`, an empty network, or an
    /// encoding over [`NodeInfo::MAX_SIZE`].
    pub fn new(config: SwitchConfig, node_info: NodeInfo) -> Result<Switch, Error> {
        Ok(Switch {
            inner: Arc::new(Handle {
                state: SwitchState::new(config, node_info)?,
            }),
        })
    }

    fn state(&self) -> &Arc<SwitchState> {
        &self.inner.state
    }

    /// This node's id (its public key).
    pub fn id(&self) -> PeerId {
        self.state().id()
    }

    /// This node's NodeInfo, as sent in handshakes.
    pub fn node_info(&self) -> NodeInfo {
        self.state().node_info()
    }

    /// Adds a reactor for the channels it declares. Only before the first `listen` or
    /// `dial`. Errors: [`Error::InvalidConfig`] if a channel is already claimed or the
    /// switch has started.
    pub fn add_reactor<R: Reactor>(&self, name: &str, reactor: Arc<R>) -> Result<(), Error> {
        self.state().add_reactor(name, reactor)
    }

    /// Refuses peers whose address the filter rejects (it may take up to
    /// `filter_timeout`; a late answer is a refusal).
    pub fn set_addr_filter(
        &self,
        f: impl Fn(&SocketAddr) -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.state().filters().set_addr(Arc::new(f));
    }

    /// Refuses peers whose id the filter rejects (bounded by `filter_timeout`).
    pub fn set_id_filter(&self, f: impl Fn(&PeerId) -> Result<(), String> + Send + Sync + 'static) {
        self.state().filters().set_id(Arc::new(f));
    }

    /// A new subscription to the switch's [`SwitchEvent`]s: inbound connections refused,
    /// dials failed, persistent peers given up. The channel holds `capacity` events
    /// (clamped to 2..=65 536); the switch never waits for it: while it is full, events
    /// are counted and dropped, and the count arrives as [`SwitchEvent::Lost`]. The
    /// receiver disconnects when the switch stops (after what it holds). Drop it to
    /// unsubscribe; its slot is freed at the next event, so subscribe once, not per
    /// loop. (Peers added and removed, and messages, come through a
    /// reactor: see [`ChannelReactor`](crate::ChannelReactor).)
    pub fn events(&self, capacity: usize) -> Receiver<SwitchEvent> {
        self.state().events().subscribe(capacity)
    }

    /// Runs `f` on a thread the switch owns, named `name`: `stop` signals it (`stopping`
    /// disconnects) and waits for it to return, so `f` must return soon after. For work
    /// that belongs to the switch's life, such as a discovery loop. A `stop` called on
    /// it starts the stop and returns (it cannot wait for itself).
    ///
    /// Errors: [`Error::Stopped`] once the switch is stopping; [`Error::Io`] if the
    /// thread cannot be spawned.
    pub fn spawn(
        &self,
        name: &str,
        f: impl FnOnce(&Receiver<()>) + Send + 'static,
    ) -> Result<(), Error> {
        spawn_owned(self.state(), name, f)
    }

    /// Every connected peer.
    pub fn peers(&self) -> Vec<Arc<Peer>> {
        self.state().peers().list()
    }

    /// The peer with this id.
    pub fn peer(&self, id: &PeerId) -> Option<Arc<Peer>> {
        self.state().peers().get(id)
    }

    /// (outbound, inbound) peer counts.
    pub fn num_peers(&self) -> (usize, usize) {
        self.state().peers().counts()
    }

    /// Sends `msg` on channel `ch` to every peer. The message is shared, not copied. A
    /// peer whose queue is full gets until `send_timeout` after the call began, so one
    /// slow peer cannot hold the call longer than that; the result says who took it.
    pub fn broadcast(&self, ch: ChannelId, msg: impl Into<Bytes>) -> BroadcastResult {
        let msg = msg.into();
        let deadline = crate::time::after(self.state().config().mconn.send_timeout);
        let mut result = BroadcastResult::default();
        let mut full = Vec::new();
        for p in self.peers() {
            match p.try_send(ch, msg.clone()) {
                Ok(()) => result.sent.push(p.id()),
                Err(TrySendError::Full(_)) => full.push(p),
                Err(TrySendError::Closed(m)) => result.failed.push((p.id(), SendError::Closed(m))),
                Err(TrySendError::UnknownChannel(c, m)) => result
                    .failed
                    .push((p.id(), SendError::UnknownChannel(c, m))),
            }
        }
        for p in full {
            let left = deadline.saturating_duration_since(Instant::now());
            match p.send_within(ch, msg.clone(), left.max(Duration::from_micros(1))) {
                Ok(()) => result.sent.push(p.id()),
                Err(e) => result.failed.push((p.id(), e)),
            }
        }
        result
    }

    /// Stops `peer` and removes it, with `err` as the reason `remove_peer` sees. Returns
    /// at once; safe from inside reactor callbacks.
    pub fn stop_peer_for_error(&self, peer: &Arc<Peer>, err: Error) {
        peer.queue_removal(err);
    }

    /// Writes what is queued for `peer` (bounded by `send_timeout`), then closes and
    /// removes it. Returns at once.
    pub fn stop_peer_gracefully(&self, peer: &Arc<Peer>) {
        peer.queue_graceful_removal();
    }

    /// Stops the switch gracefully, within `timeout`: takes no new peers (handshakes in
    /// progress and new dials end with [`Error::Stopped`]) and no new sends, has every
    /// peer's connection write what it has queued, all at once, then [`stop`](Self::stop)s.
    /// Whatever is not written when `timeout` runs out (a peer that does not read, say)
    /// is dropped. Same threading rules as `stop`. Unlike the settings where a huge
    /// `Duration` means "never", `Duration::MAX` here waits as long as a peer that is
    /// alive (it pings) does not read: pass the longest wait you accept.
    pub fn flush_stop(&self, timeout: Duration) {
        let deadline = time::after(timeout);
        let peers = self.state().peers().close();
        for p in &peers {
            p.conn.begin_flush();
        }
        for p in &peers {
            p.conn.wait_flushed(deadline);
        }
        self.stop();
    }

    /// Stops the switch: listeners, handshakes, dialers, every peer and every worker.
    /// Every added peer gets its `remove_peer`, on a worker, after its last callback.
    /// Idempotent and bounded: it waits for callbacks already running, never for a TCP
    /// connect in progress or a user filter.
    ///
    /// From inside a callback (a reactor's, or a connection's `on_receive`/`on_error`,
    /// of this or any switch) it starts the stop and returns without waiting for the
    /// threads that run callbacks, which might be waiting for this one; they are joined
    /// by the next `stop()` outside a callback, or when the last handle is dropped.
    pub fn stop(&self) {
        self.state().stop();
    }

    /// Registers this switch's metrics in `registry` (feature `metrics`), under the
    /// `p2p` subsystem of the registry's prefix: with
    /// `Registry::with_prefix("cometbft")` the names are CometBFT's
    /// (`cometbft_p2p_peers`, `cometbft_p2p_peer_receive_bytes_total{peer_id,chID}`, ...).
    /// The README lists every metric.
    ///
    /// They are read from the switch at each scrape: nothing is counted for them on a
    /// message's path, and a removed peer's series are gone at the next scrape. The
    /// registry holds the switch weakly (it neither keeps the switch running nor fails
    /// once it is gone). Register a switch once per registry: the names would repeat.
    ///
    /// ```
    /// use mconn::prometheus_client::{encoding::prometheus_text, registry::Registry};
    /// use mconn::{NodeInfo, Switch, SwitchConfig};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let switch = Switch::new(SwitchConfig::default(), NodeInfo::new("node", "net"))?;
    /// let mut registry = Registry::with_prefix("cometbft");
    /// switch.register_metrics(&mut registry);
    /// let mut text = String::new();
    /// prometheus_text::encode(&mut text, &registry)?;
    /// assert!(text.contains("cometbft_p2p_peers 0"));
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        metrics::register(self.state(), registry);
    }

    /// Whether the switch has not been stopped.
    pub fn is_running(&self) -> bool {
        !self.state().is_stopped()
    }

    /// A handle that does not keep the switch alive.
    pub fn downgrade(&self) -> WeakSwitch {
        WeakSwitch {
            inner: Arc::downgrade(&self.inner),
            state: Arc::downgrade(self.state()),
        }
    }
}

impl WeakSwitch {
    /// The switch, if a strong handle still exists.
    pub fn upgrade(&self) -> Option<Switch> {
        self.inner.upgrade().map(|inner| Switch { inner })
    }

    /// The switch without a handle, for the switch's own threads (discovery's): they
    /// must never keep it alive, so that dropping the application's last handle stops
    /// it. `None` once no handle is left.
    ///
    /// It never holds a handle, not even for a moment: a handle upgraded here could be
    /// the last one when the application drops its own, and the switch would then stop
    /// on this (owned, callback-marked) thread, which does not wait for the switch's
    /// threads, so the application's drop would return before they finish.
    pub(crate) fn view(&self) -> Option<SwitchView> {
        if self.inner.strong_count() == 0 {
            return None;
        }
        self.state.upgrade().map(SwitchView)
    }
}

impl fmt::Debug for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Switch")
            .field("id", &self.id())
            .field("peers", &self.num_peers())
            .finish()
    }
}

impl fmt::Debug for WeakSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeakSwitch")
    }
}
