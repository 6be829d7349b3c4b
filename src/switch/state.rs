//! [`SwitchState`]: what a switch shares between its handles and threads, and starting.
//!
//! It is composed of one part per concern, each a type of its own file with private
//! fields: the peer set (`peer_set.rs`), the filters (`filter.rs`), the handshakes in
//! progress (`handshaking.rs`), the listeners (`listeners.rs`), the owned threads
//! (`owned_threads.rs`), the stop (`stop.rs`), the event subscribers (`events.rs`) and
//! the addresses redialled (`redials.rs`). Those files never name `SwitchState`. What
//! the switch does with the whole (admitting, dialling, redialling, listening, removing
//! peers) is written as `impl SwitchState` blocks in `admission.rs`, `dial.rs`,
//! `persistent.rs`, `listen.rs` and `removal.rs`, which see it only through the methods
//! here. This file keeps what only starting and stopping touch: the reactors added before the start, the start lock,
//! and what exists once started ([`Running`]).

use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock, Weak};

use crossbeam_channel::{unbounded, Receiver, Sender};
use log::warn;
use parking_lot::Mutex;

use super::config::SwitchConfig;
use super::counters::Counters;
use super::dials_in_flight::DialsInFlight;
use super::dispatch::{Dispatch, Host, Reactors};
use super::events::Events;
use super::filter::Filters;
use super::handshaking::{Handshaking, Registered};
use super::listeners::Listeners;
use super::message_types::TypeCounters;
use super::node_info::NodeInfo;
use super::owned_threads::OwnedThreads;
use super::peer::{Lifecycle, Peer};
use super::peer_set::PeerSet;
use super::reactor::Reactor;
use super::redials::Persistent;
use super::stop::Stopping;
use crate::error::Error;
use crate::node_key::NodeKey;
use crate::peer_id::PeerId;
use crate::threads;

/// What exists once the switch has started (first listen or dial).
pub(super) struct Running {
    /// The reactors, fixed at the start.
    pub reactors: Arc<Reactors>,
    /// The worker pool that runs their callbacks.
    pub dispatch: Dispatch,
    /// Each peer's dispatch budget in bytes.
    pub peer_budget: usize,
}

/// A switch's shared state. See the module docs.
pub(super) struct SwitchState {
    config: SwitchConfig,
    key: NodeKey,
    info: Mutex<NodeInfo>,
    /// Reactors added before the start; taken by it.
    pending_reactors: Mutex<Vec<(String, Arc<dyn Reactor>)>>,
    /// Held by the start, and by the stop while it marks the switch stopped.
    start_lock: Mutex<()>,
    running: OnceLock<Arc<Running>>,
    peers: PeerSet<Peer>,
    stopping: Stopping,
    /// Requests to the lifecycle thread (`removal.rs`); every peer holds a sender.
    lifecycle_tx: Sender<Lifecycle>,
    lifecycle_rx: Receiver<Lifecycle>,
    threads: OwnedThreads,
    handshaking: Mutex<Handshaking>,
    listeners: Listeners,
    filters: Filters,
    events: Events,
    persistent: Persistent,
    counters: Counters,
    dials_in_flight: DialsInFlight,
    /// Bytes per message type, with the `metrics` feature and a family that names types.
    message_types: Option<Arc<TypeCounters>>,
}

impl SwitchState {
    /// A switch that has not started; see [`Switch::new`](super::Switch::new).
    pub(super) fn new(config: SwitchConfig, mut info: NodeInfo) -> Result<Arc<Self>, Error> {
        config.validate()?;
        config.protocol.check_ours(&info)?;
        let key = match config.node_key.clone() {
            Some(k) => k,
            None => NodeKey::generate()?,
        };
        info.pub_key = key.public_key();
        let (lifecycle_tx, lifecycle_rx) = unbounded();
        // Only the metrics read them: without the feature, nothing is counted.
        let message_types = match config.protocol.message_types() {
            Some(types) if cfg!(feature = "metrics") => Some(Arc::new(TypeCounters::new(types))),
            _ => None,
        };
        Ok(Arc::new(SwitchState {
            handshaking: Mutex::new(Handshaking::new(config.max_handshaking)),
            config,
            key,
            info: Mutex::new(info),
            pending_reactors: Mutex::new(Vec::new()),
            start_lock: Mutex::new(()),
            running: OnceLock::new(),
            peers: PeerSet::default(),
            stopping: Stopping::new(),
            lifecycle_tx,
            lifecycle_rx,
            threads: OwnedThreads::new(),
            listeners: Listeners::default(),
            filters: Filters::default(),
            events: Events::default(),
            persistent: Persistent::default(),
            counters: Counters::default(),
            dials_in_flight: DialsInFlight::default(),
            message_types,
        }))
    }

    /// The switch's settings.
    pub(super) fn config(&self) -> &SwitchConfig {
        &self.config
    }

    /// The node key, which the secret connection proves. (Without encryption only its
    /// public half, the id, is ever used.)
    pub(super) fn key(&self) -> &NodeKey {
        &self.key
    }

    /// This node's id (its public key).
    pub(super) fn id(&self) -> PeerId {
        PeerId(self.key.public_key())
    }

    /// This node's NodeInfo, as sent in handshakes.
    pub(super) fn node_info(&self) -> NodeInfo {
        self.info.lock().clone()
    }

    /// A listener is bound to `local`: the first one becomes the NodeInfo's
    /// `listen_addr`, unless the user gave one.
    pub(super) fn note_listen_addr(&self, local: SocketAddr) {
        let mut info = self.info.lock();
        if info.listen_addr.is_empty() {
            info.listen_addr = local.to_string();
        }
    }

    /// The connected peers.
    pub(super) fn peers(&self) -> &PeerSet<Peer> {
        &self.peers
    }

    /// The user's filters.
    pub(super) fn filters(&self) -> &Filters {
        &self.filters
    }

    /// The event stream's subscribers.
    pub(super) fn events(&self) -> &Events {
        &self.events
    }

    /// Bytes per message type, if counted (see `message_types.rs`).
    pub(super) fn message_types(&self) -> Option<&Arc<TypeCounters>> {
        self.message_types.as_ref()
    }

    /// Dials, handshakes, refusals and removals, for the metrics.
    pub(super) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The addresses being dialled now.
    pub(super) fn dials_in_flight(&self) -> &DialsInFlight {
        &self.dials_in_flight
    }

    /// The persistent peers being redialled.
    pub(super) fn persistent(&self) -> &Persistent {
        &self.persistent
    }

    /// The listeners' addresses.
    pub(super) fn listeners(&self) -> &Listeners {
        &self.listeners
    }

    /// The threads the switch owns.
    pub(super) fn owned_threads(&self) -> &OwnedThreads {
        &self.threads
    }

    /// Tracks a handshake over `stream` until the result is dropped, so that stop (or a
    /// flood of newer inbound handshakes) can end it.
    pub(super) fn register_handshake(
        &self,
        stream: &TcpStream,
        outbound: bool,
    ) -> Result<Registered<'_>, Error> {
        Registered::new(&self.handshaking, stream, outbound)
    }

    /// Where a new peer sends its requests to the lifecycle thread.
    pub(super) fn lifecycle_sender(&self) -> Sender<Lifecycle> {
        self.lifecycle_tx.clone()
    }

    /// Whether the switch was stopped.
    /// Whether the switch takes no new peers: stopped, or flushing to stop
    /// ([`Switch::flush_stop`](super::Switch::flush_stop)). Dials and handshakes end
    /// early then, instead of connecting to be refused.
    pub(super) fn is_closing(&self) -> bool {
        self.is_stopped() || self.peers().is_closed()
    }

    pub(super) fn is_stopped(&self) -> bool {
        self.stopping.is_stopped()
    }

    /// Ready (disconnected) once the switch is stopping, for `select!`.
    pub(super) fn stop_signal(&self) -> &Receiver<()> {
        self.stopping.signal()
    }

    /// What exists once started; `None` before.
    pub(super) fn running(&self) -> Option<&Arc<Running>> {
        self.running.get()
    }

    /// Adds a reactor to those the start will use; see
    /// [`Switch::add_reactor`](super::Switch::add_reactor).
    pub(super) fn add_reactor(&self, name: &str, reactor: Arc<dyn Reactor>) -> Result<(), Error> {
        if self.running.get().is_some() {
            return Err(Error::InvalidConfig(format!(
                "reactor {name:?} added after the switch started"
            )));
        }
        let mut pending = self.pending_reactors.lock();
        let mut all = pending.clone();
        all.push((name.to_string(), reactor));
        Reactors::new(all.clone())?;
        *pending = all;
        Ok(())
    }

    /// Starts the workers and the lifecycle thread on first use; reactors are fixed from
    /// then on.
    pub(super) fn ensure_started(self: &Arc<Self>) -> Result<&Arc<Running>, Error> {
        if let Some(r) = self.running.get() {
            return Ok(r);
        }
        let _g = self.start_lock.lock();
        if let Some(r) = self.running.get() {
            return Ok(r);
        }
        if self.is_stopped() {
            return Err(Error::Stopped);
        }
        let list = std::mem::take(&mut *self.pending_reactors.lock());
        let reactors = Arc::new(Reactors::new(list)?);
        if reactors.channels.is_empty() {
            return Err(Error::InvalidConfig(
                "add at least one reactor with a channel before listen or dial".into(),
            ));
        }
        self.config.mconn.validate(&reactors.channels)?;
        {
            // The NodeInfo names the channels served (CometBFT sends them).
            let mut info = self.info.lock();
            if info.channels.is_empty() {
                info.channels = reactors.channels.iter().map(|c| c.id).collect();
            }
            // With the channels in, the NodeInfo is what peers will judge (CometBFT
            // refuses more than 16): fail here, not in every handshake.
            self.config.protocol.check_ours(&info)?;
        }
        let peer_budget = self.config.peer_queue_bytes.unwrap_or_else(|| {
            reactors
                .channels
                .iter()
                .map(|c| c.recv_message_capacity)
                .max()
                .unwrap_or(0)
        });
        let host: Arc<dyn Host> = Arc::new(WorkerHost {
            reactors: reactors.clone(),
            state: Arc::downgrade(self),
        });
        let (dispatch, handles) = Dispatch::start(
            self.config.workers,
            self.config.worker_queue_capacity,
            self.config.worker_stack_size,
            self.stop_signal().clone(),
            host,
            reactors.clone(),
        )?;
        for h in handles {
            self.threads.own(h);
        }
        let (state, requests) = (self.clone(), self.lifecycle_rx.clone());
        let lifecycle = threads::spawn("mconn-lifecycle", None, move || {
            state.lifecycle_loop(requests)
        })?;
        self.threads.own(lifecycle);
        let _ = self.running.set(Arc::new(Running {
            reactors,
            dispatch,
            peer_budget,
        }));
        self.running
            .get()
            .ok_or_else(|| Error::InvalidConfig("switch failed to start".into()))
    }

    /// Stops everything; see [`Switch::stop`](super::Switch::stop) and `stop.rs`.
    pub(super) fn stop(&self) {
        self.begin_stop();
        if threads::on_callback_thread() {
            // Waiting here could wait for ourselves, or for a callback that waits for
            // us; the threads are joined by the next stop() outside callbacks.
            return;
        }
        self.stopping.join(&self.threads);
    }

    /// The first half of `stop` (see [`Stopping::begin`]), once.
    fn begin_stop(&self) {
        {
            // Serialised with `ensure_started`: either the workers exist, or never will.
            let _g = self.start_lock.lock();
            if !self.stopping.mark() {
                return;
            }
        }
        self.stopping.begin(
            &self.peers,
            &self.handshaking,
            &self.threads,
            &self.listeners,
        );
        // A stopping switch reports nothing more: event loops see their receivers end.
        self.events.close();
    }
}

/// What workers see of the switch: the reactors (strongly, used per message) and the
/// state (weakly, used on panics and removals).
struct WorkerHost {
    reactors: Arc<Reactors>,
    state: Weak<SwitchState>,
}

impl Host for WorkerHost {
    fn reactors(&self) -> &Reactors {
        &self.reactors
    }

    fn is_current(&self, peer: &Arc<Peer>) -> bool {
        self.state.upgrade().is_some_and(|state| {
            state
                .peers
                .get(&peer.id())
                .is_some_and(|p| Arc::ptr_eq(&p, peer))
        })
    }

    fn reactor_panicked(&self, peer: &Arc<Peer>, what: String) {
        warn!("a reactor panicked handling {peer}: {what}; stopping that peer");
        peer.queue_removal(Error::ReactorPanic(what));
    }

    fn finish_removal(&self, peer: &Arc<Peer>) {
        if let Some(state) = self.state.upgrade() {
            if let Some(running) = state.running.get() {
                state.finish(running, peer);
            }
        }
    }

    fn sweep(&self) {
        let Some(state) = self.state.upgrade() else {
            return;
        };
        let Some(running) = state.running.get() else {
            return;
        };
        let peers = state.stopping.closing();
        for p in &peers {
            state.finish(running, p);
        }
    }
}
