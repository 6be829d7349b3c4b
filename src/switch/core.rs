//! The switch's shared state: reactors and workers once started, the peer set, the
//! handshakes in progress, the threads it owns, the lifecycle thread that removes peers,
//! and the stop sequence.
//!
//! # Stopping
//!
//! `stop()` has two halves. The first, on any thread, closes everything and signals every
//! thread to leave, without waiting for any of them. The second, only on a thread that
//! runs no callbacks (see `crate::threads`), waits: for the short-lived threads, then
//! joins workers, the lifecycle thread and accept threads, then every peer's connection.
//! The last worker to leave finishes the removals still owed, so `remove_peer` runs on a
//! worker, after the peer's last callback, and never inside another callback.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender};
use log::{debug, info, warn};
use parking_lot::{Mutex, RwLock};

use super::config::SwitchConfig;
use super::dispatch::{run_remove_peer, Dispatch, Host, Reactors};
use super::filter::{AddrFilter, IdFilter};
use super::handshaking::Handshaking;
use super::key::NodeKey;
use super::node_info::NodeInfo;
use super::peer::{Lifecycle, Peer};
use super::peer_set::PeerSet;
use super::reactor::Reactor;
use crate::error::{Error, RejectReason};
use crate::latch::Latch;
use crate::threads;

/// What exists once the switch has started (first listen or dial).
pub(crate) struct Running {
    pub reactors: Arc<Reactors>,
    pub dispatch: Dispatch,
    /// Each peer's dispatch budget in bytes.
    pub peer_budget: usize,
}

pub(crate) struct SwitchCore {
    pub config: SwitchConfig,
    pub key: NodeKey,
    pub info: Mutex<NodeInfo>,
    pub pending_reactors: Mutex<Vec<(String, Arc<dyn Reactor>)>>,
    start_lock: Mutex<()>,
    pub running: OnceLock<Arc<Running>>,
    pub peers: PeerSet<Peer>,
    stopped: AtomicBool,
    /// Open once the switch is stopping.
    pub stop: Latch,
    pub lifecycle_tx: Sender<Lifecycle>,
    lifecycle_rx: Receiver<Lifecycle>,
    /// Workers, the lifecycle thread and accept threads: joined by `stop`. `None` once
    /// `stop` took them (a thread started later is refused).
    threads: Mutex<Option<Vec<JoinHandle<()>>>>,
    /// Held by the `stop()` that joins, so a second one waits for it.
    join_lock: Mutex<()>,
    /// The peers when the switch stopped: the last worker finishes their removals.
    closing: Mutex<Vec<Arc<Peer>>>,
    /// Short-lived threads (handshakes, persistent dialers, flushes) hold a clone;
    /// `stop` waits until every clone is dropped, then joins them.
    tokens: Mutex<Option<Sender<()>>>,
    short_lived: Mutex<Vec<JoinHandle<()>>>,
    tokens_rx: Receiver<()>,
    pub handshaking: Mutex<Handshaking>,
    pub listeners: Mutex<Vec<SocketAddr>>,
    pub addr_filter: RwLock<Option<AddrFilter>>,
    pub id_filter: RwLock<Option<IdFilter>>,
}

impl SwitchCore {
    pub fn new(config: SwitchConfig, mut info: NodeInfo) -> Result<Arc<Self>, Error> {
        config.validate()?;
        info.check_own().map_err(Error::InvalidConfig)?;
        let key = match config.node_key.clone() {
            Some(k) => k,
            None => NodeKey::generate()?,
        };
        info.pub_key = key.public_key();
        let (lifecycle_tx, lifecycle_rx) = unbounded();
        let (tokens_tx, tokens_rx) = bounded(0);
        Ok(Arc::new(SwitchCore {
            handshaking: Mutex::new(Handshaking::new(config.max_handshaking)),
            config,
            key,
            info: Mutex::new(info),
            pending_reactors: Mutex::new(Vec::new()),
            start_lock: Mutex::new(()),
            running: OnceLock::new(),
            peers: PeerSet::default(),
            stopped: AtomicBool::new(false),
            stop: Latch::new(),
            lifecycle_tx,
            lifecycle_rx,
            threads: Mutex::new(Some(Vec::new())),
            join_lock: Mutex::new(()),
            closing: Mutex::new(Vec::new()),
            tokens: Mutex::new(Some(tokens_tx)),
            short_lived: Mutex::new(Vec::new()),
            tokens_rx,
            listeners: Mutex::new(Vec::new()),
            addr_filter: RwLock::new(None),
            id_filter: RwLock::new(None),
        }))
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Acquire)
    }

    /// Starts the workers and the lifecycle thread on first use; reactors are fixed from
    /// then on.
    pub fn ensure_started(self: &Arc<Self>) -> Result<&Arc<Running>, Error> {
        if let Some(r) = self.running.get() {
            return Ok(r);
        }
        let _g = self.start_lock.lock();
        if let Some(r) = self.running.get() {
            return Ok(r);
        }
        if self.is_stopped() {
            return Err(Error::Rejected(RejectReason::SwitchStopped));
        }
        let list = std::mem::take(&mut *self.pending_reactors.lock());
        let reactors = Arc::new(Reactors::new(list)?);
        if reactors.channels.is_empty() {
            return Err(Error::InvalidConfig(
                "add at least one reactor with a channel before listen or dial".into(),
            ));
        }
        self.config.mconn.validate(&reactors.channels)?;
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
            core: Arc::downgrade(self),
        });
        let (dispatch, handles) = Dispatch::start(
            self.config.workers,
            self.config.worker_queue_capacity,
            self.config.worker_stack_size,
            self.stop.signal().clone(),
            host,
        )?;
        for h in handles {
            self.own_thread(h);
        }
        let core = self.clone();
        let lifecycle = threads::spawn("mconn-lifecycle", None, move || core.lifecycle_loop())?;
        self.own_thread(lifecycle);
        let _ = self.running.set(Arc::new(Running {
            reactors,
            dispatch,
            peer_budget,
        }));
        self.running
            .get()
            .ok_or_else(|| Error::InvalidConfig("switch failed to start".into()))
    }

    /// Keeps a thread for `stop` to join. After `stop` took the list, the thread is
    /// left to end on its own (everything it waits for is closed by then).
    pub fn own_thread(&self, h: JoinHandle<()>) {
        if let Some(list) = self.threads.lock().as_mut() {
            list.push(h);
        }
    }

    /// Spawns a short-lived thread that `stop` waits for and joins. Fails once stopping.
    pub fn spawn_owned(
        &self,
        name: &str,
        stack: Option<usize>,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<(), Error> {
        // Held until the handle is kept: `stop` takes the tokens first, so it waits for
        // this thread and then finds its handle.
        let tokens = self.tokens.lock();
        let Some(token) = tokens.clone() else {
            return Err(Error::Rejected(RejectReason::SwitchStopped));
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

    /// The lifecycle thread: removes peers one request at a time.
    fn lifecycle_loop(self: Arc<Self>) {
        loop {
            let req = select! {
                recv(self.lifecycle_rx) -> req => match req {
                    Ok(req) => req,
                    Err(_) => return,
                },
                recv(self.stop.signal()) -> _ => return,
            };
            // A bug here must not end the thread that every later removal needs.
            if let Err(p) = threads::catch(|| self.handle(req)) {
                warn!("a peer removal panicked: {p}");
            }
        }
    }

    fn handle(&self, req: Lifecycle) {
        match req {
            Lifecycle::Remove(peer, reason) => self.remove(&peer, reason),
            Lifecycle::Graceful(peer) => {
                let p = peer.clone();
                let spawned = self.spawn_owned("mconn-flush", None, move || {
                    p.conn.flush_stop();
                    p.queue_removal(Error::Stopped);
                });
                if spawned.is_err() {
                    self.remove(&peer, Error::Stopped);
                }
            }
            Lifecycle::Resume(peer) => self.proceed(&peer),
        }
    }

    /// Stops `peer` and, behind all its queued messages, finishes its removal (once).
    /// If the peer is still being admitted, the rest waits for that (see
    /// [`PeerLife::removal_may_proceed`](super::peer_life::PeerLife::removal_may_proceed)):
    /// this thread never waits for an admission, which may wait for another removal.
    fn remove(&self, peer: &Arc<Peer>, reason: Error) {
        if peer.life.request_removal(reason) && peer.life.removal_may_proceed() {
            self.proceed(peer);
        }
    }

    /// The rest of a removal, once admission is over (so the connection's recv thread no
    /// longer waits at the admission gate, and `conn.stop()` cannot wait for ever).
    fn proceed(&self, peer: &Arc<Peer>) {
        peer.conn.stop();
        let Some(running) = self.running.get() else {
            return;
        };
        if !peer.life.was_added() {
            self.finish(running, peer);
        } else if !running.dispatch.fence(peer, self.stop.signal()) {
            debug!("switch stopping; {peer} is removed by stop");
        }
    }

    /// The last step of a removal, once per peer: out of the peer set (so a reactor may
    /// dial it again from `remove_peer`, as in Go; it stays departing meanwhile, so a new
    /// connection to that node is added only after this one is gone), `remove_peer`,
    /// then the signal that the peer is gone.
    fn finish(&self, running: &Running, peer: &Arc<Peer>) {
        let Some(reason) = peer.life.claim_finish() else {
            return;
        };
        // A protocol violation was logged at WARN by the connection already.
        info!("removing peer {peer}: {reason}");
        self.peers.depart(peer);
        run_remove_peer(&running.reactors, peer, &reason);
        peer.life.mark_removed();
        self.peers.remove(peer);
        debug!("peer {peer} removed");
    }

    /// Stops everything; see [`Switch::stop`](crate::Switch::stop).
    pub fn stop(&self) {
        self.begin_stop();
        if threads::on_callback_thread() {
            // Waiting here could wait for ourselves, or for a callback that waits for
            // us; the threads are joined by the next stop() outside callbacks.
            return;
        }
        self.join_all();
    }

    /// The first half of `stop`: close everything and tell every thread to leave. Waits
    /// for nothing but the wake-up connections to listeners.
    fn begin_stop(&self) {
        {
            // Serialised with `ensure_started`: either the workers exist, or never will.
            let _g = self.start_lock.lock();
            if self.stopped.swap(true, AcqRel) {
                return;
            }
        }
        info!("switch stopping");
        let peers = self.peers.close();
        *self.closing.lock() = peers.clone();
        self.stop.open();
        self.handshaking.lock().shutdown_all();
        for p in &peers {
            p.conn.begin_stop();
        }
        drop(self.tokens.lock().take());
        // Accept threads block in accept(): a connection wakes each one up.
        let listeners = self.listeners.lock().clone();
        for addr in listeners {
            let _ = TcpStream::connect_timeout(&wake_addr(addr), Duration::from_secs(1));
        }
    }

    /// The second half of `stop`: wait for every thread the switch owns (never called on
    /// a callback thread, so no thread it waits for can be waiting for it).
    fn join_all(&self) {
        let _g = self.join_lock.lock();
        // Handshakes, persistent dialers and flushes end quickly now.
        let _ = self.tokens_rx.recv();
        let short_lived = std::mem::take(&mut *self.short_lived.lock());
        let handles = self.threads.lock().take().unwrap_or_default();
        for h in short_lived.into_iter().chain(handles) {
            let _ = h.join();
        }
        // The workers are gone: the last one finished every removal.
        let peers = std::mem::take(&mut *self.closing.lock());
        for p in &peers {
            p.conn.stop();
        }
        info!("switch stopped");
    }
}

/// The address that reaches a listener bound to `addr` from this host.
pub(crate) fn wake_addr(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// What workers see of the switch: the reactors (strongly, used per message) and the
/// core (weakly, used on panics and removals).
struct WorkerHost {
    reactors: Arc<Reactors>,
    core: Weak<SwitchCore>,
}

impl Host for WorkerHost {
    fn reactors(&self) -> &Reactors {
        &self.reactors
    }

    fn is_current(&self, peer: &Arc<Peer>) -> bool {
        self.core.upgrade().is_some_and(|core| {
            core.peers
                .get(&peer.id())
                .is_some_and(|p| Arc::ptr_eq(&p, peer))
        })
    }

    fn reactor_panicked(&self, peer: &Arc<Peer>, what: String) {
        warn!("a reactor panicked handling {peer}: {what}; stopping that peer");
        peer.queue_removal(Error::ReactorPanic(what));
    }

    fn finish_removal(&self, peer: &Arc<Peer>) {
        if let Some(core) = self.core.upgrade() {
            if let Some(running) = core.running.get() {
                core.finish(running, peer);
            }
        }
    }

    fn sweep(&self) {
        let Some(core) = self.core.upgrade() else {
            return;
        };
        let Some(running) = core.running.get() else {
            return;
        };
        let peers = core.closing.lock().clone();
        for p in &peers {
            core.finish(running, p);
        }
    }
}
