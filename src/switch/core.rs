//! The switch's shared state: reactors and workers once started, the peer set, the
//! handshakes in progress, the threads it owns, the lifecycle thread that removes peers,
//! and the stop sequence.

use std::collections::BTreeMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender};
use log::{debug, info, warn};
use parking_lot::{Mutex, RwLock};

use super::config::SwitchConfig;
use super::dispatch::{run_remove_peer, Dispatch, Host, Reactors};
use super::key::NodeKey;
use super::node_info::{NodeInfo, PeerId};
use super::peer::{Lifecycle, Peer};
use super::peer_set::PeerSet;
use super::reactor::Reactor;
use crate::error::{Error, RejectReason};

/// A user filter: `Err(reason)` refuses the peer.
pub type Filter<T> = Arc<dyn Fn(&T) -> Result<(), String> + Send + Sync>;
/// Decides whether to talk to a peer at this address.
pub type AddrFilter = Filter<SocketAddr>;
/// Decides whether to keep a peer with this id.
pub type IdFilter = Filter<PeerId>;

/// What exists once the switch has started (first listen or dial).
pub(crate) struct Running {
    pub reactors: Arc<Reactors>,
    pub dispatch: Dispatch,
    pub host: Arc<dyn Host>,
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
    stop_tx: Mutex<Option<Sender<()>>>,
    /// Disconnected (ready) once the switch is stopping.
    pub stop_rx: Receiver<()>,
    pub lifecycle_tx: Sender<Lifecycle>,
    lifecycle_rx: Receiver<Lifecycle>,
    /// Workers, the lifecycle thread and accept threads: joined by `stop`.
    pub threads: Mutex<Vec<JoinHandle<()>>>,
    /// Short-lived threads (handshakes, persistent dialers, flushes) hold a clone;
    /// `stop` waits until every clone is dropped.
    tokens: Mutex<Option<Sender<()>>>,
    tokens_rx: Receiver<()>,
    pub handshaking: Mutex<Handshaking>,
    pub listeners: Mutex<Vec<SocketAddr>>,
    pub addr_filter: RwLock<Option<AddrFilter>>,
    pub id_filter: RwLock<Option<IdFilter>>,
}

impl SwitchCore {
    pub fn new(config: SwitchConfig, mut info: NodeInfo) -> Result<Arc<Self>, Error> {
        config.validate()?;
        let key = match config.node_key.clone() {
            Some(k) => k,
            None => NodeKey::generate()?,
        };
        info.pub_key = key.public_key();
        let (stop_tx, stop_rx) = bounded(0);
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
            stop_tx: Mutex::new(Some(stop_tx)),
            stop_rx,
            lifecycle_tx,
            lifecycle_rx,
            threads: Mutex::new(Vec::new()),
            tokens: Mutex::new(Some(tokens_tx)),
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
        let host: Arc<dyn Host> = Arc::new(WorkerHost {
            reactors: reactors.clone(),
            core: Arc::downgrade(self),
        });
        let (dispatch, handles) = Dispatch::start(
            self.config.workers,
            self.config.worker_queue_capacity,
            self.config.worker_stack_size,
            self.stop_rx.clone(),
            host.clone(),
        )?;
        let mut threads = self.threads.lock();
        threads.extend(handles);
        let core = self.clone();
        threads.push(
            thread::Builder::new()
                .name("mconn-lifecycle".into())
                .spawn(move || core.lifecycle_loop())?,
        );
        drop(threads);
        let _ = self.running.set(Arc::new(Running {
            reactors,
            dispatch,
            host,
        }));
        self.running
            .get()
            .ok_or_else(|| Error::InvalidConfig("switch failed to start".into()))
    }

    /// Spawns a short-lived thread that `stop` waits for. Fails once stopping.
    pub fn spawn_owned(
        &self,
        name: &str,
        stack: Option<usize>,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<(), Error> {
        let Some(token) = self.tokens.lock().clone() else {
            return Err(Error::Rejected(RejectReason::SwitchStopped));
        };
        let mut b = thread::Builder::new().name(name.into());
        if let Some(s) = stack {
            b = b.stack_size(s);
        }
        b.spawn(move || {
            let _token = token;
            f();
        })?;
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
                recv(self.stop_rx) -> _ => return,
            };
            match req {
                Lifecycle::Remove(peer, reason) => self.remove(&peer, reason),
                Lifecycle::Graceful(peer) => {
                    let p = peer.clone();
                    let spawned = self.spawn_owned("mconn-flush", None, move || {
                        p.conn.flush_stop();
                        p.request(Lifecycle::Remove(p.clone(), Error::Stopped));
                    });
                    if spawned.is_err() {
                        self.remove(&peer, Error::Stopped);
                    }
                }
            }
        }
    }

    /// Stops `peer` and, behind all its queued messages, runs `remove_peer` (once).
    fn remove(&self, peer: &Arc<Peer>, reason: Error) {
        if peer
            .life
            .removal
            .compare_exchange(0, 1, AcqRel, Acquire)
            .is_err()
        {
            return;
        }
        select! {
            recv(peer.life.admitted) -> _ => {}
            recv(self.stop_rx) -> _ => return,
        }
        peer.conn.stop();
        // A protocol violation was logged at WARN by the connection already.
        info!("removing peer {peer}: {reason}");
        *peer.life.reason.lock() = Some(reason);
        let Some(running) = self.running.get() else {
            return;
        };
        if !peer.life.added_to_reactors.load(Acquire) {
            if peer.life.removal.swap(2, AcqRel) != 2 {
                self.finish(running, peer);
            }
        } else if !running.dispatch.fence(peer, &self.stop_rx) {
            debug!("switch stopping; {peer} is removed by stop");
        }
    }

    /// The last step of a removal: `remove_peer` (once), out of the peer set, signal.
    fn finish(&self, running: &Running, peer: &Arc<Peer>) {
        let reason = peer.life.reason.lock().take().unwrap_or(Error::Stopped);
        run_remove_peer(&running.reactors, peer, &reason);
        self.peers.remove(peer);
        peer.life.mark_removed();
        debug!("peer {peer} removed");
    }

    /// Stops everything; see [`Switch::stop`](crate::Switch::stop).
    pub fn stop(&self) {
        if self.stopped.swap(true, AcqRel) {
            return;
        }
        info!("switch stopping");
        drop(self.stop_tx.lock().take());
        // Accept threads block in accept(): a connection wakes each one up.
        for addr in self.listeners.lock().iter() {
            let _ = TcpStream::connect_timeout(&wake_addr(*addr), Duration::from_secs(1));
        }
        self.handshaking.lock().shutdown_all();
        let peers = self.peers.close();
        for p in &peers {
            p.conn.stop();
        }
        // Handshakes, persistent dialers and flushes end quickly now; wait for them.
        drop(self.tokens.lock().take());
        let _ = self.tokens_rx.recv();
        let me = thread::current().id();
        for h in std::mem::take(&mut *self.threads.lock()) {
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
        // No worker runs any more (or only this one, inside stop): finish removals.
        if let Some(running) = self.running.get() {
            for p in &peers {
                if p.life.removal.swap(2, AcqRel) != 2 {
                    self.finish(running, p);
                }
            }
        }
        info!("switch stopped");
    }
}

/// The address that reaches a listener bound to `addr` from this host.
fn wake_addr(mut addr: SocketAddr) -> SocketAddr {
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

    fn reactor_panicked(&self, peer: &Arc<Peer>, what: String) {
        warn!("a reactor panicked handling {peer}: {what}; stopping that peer");
        peer.request(Lifecycle::Remove(peer.clone(), Error::ReactorPanic(what)));
    }

    fn finish_removal(&self, peer: &Arc<Peer>) {
        if let Some(core) = self.core.upgrade() {
            if let Some(running) = core.running.get() {
                if peer.life.removal.swap(2, AcqRel) != 2 {
                    core.finish(running, peer);
                }
            }
        }
    }
}

/// Connections in the middle of a handshake. Bounded: when full, the oldest is shut
/// down to make room, so silent connections cannot lock good peers out.
pub(crate) struct Handshaking {
    cap: usize,
    next: u64,
    entries: BTreeMap<u64, TcpStream>,
    closed: bool,
}

impl Handshaking {
    fn new(cap: usize) -> Self {
        Handshaking {
            cap,
            next: 0,
            entries: BTreeMap::new(),
            closed: false,
        }
    }

    /// Tracks `s` (a clone of it) until unregistered.
    pub fn register(&mut self, s: &TcpStream) -> Result<u64, Error> {
        if self.closed {
            return Err(Error::Rejected(RejectReason::SwitchStopped));
        }
        if self.entries.len() >= self.cap {
            if let Some((_, oldest)) = self.entries.pop_first() {
                debug!("too many handshakes; dropping the oldest");
                let _ = oldest.shutdown(Shutdown::Both);
            }
        }
        let id = self.next;
        self.next += 1;
        self.entries.insert(id, s.try_clone()?);
        Ok(id)
    }

    pub fn unregister(&mut self, id: u64) {
        self.entries.remove(&id);
    }

    fn shutdown_all(&mut self) {
        self.closed = true;
        for (_, s) in std::mem::take(&mut self.entries) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Unregisters a handshake when dropped.
pub(crate) struct Registered<'a> {
    pub reg: &'a Mutex<Handshaking>,
    pub id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.reg.lock().unregister(self.id);
    }
}

/// Runs a user filter on its own thread, waiting at most `timeout` for its answer.
pub(crate) fn run_filter<T: Send + 'static>(
    f: Filter<T>,
    arg: T,
    timeout: Duration,
) -> Result<(), Error> {
    let (tx, rx) = bounded(1);
    thread::Builder::new()
        .name("mconn-filter".into())
        .spawn(move || {
            let _ = tx.send(f(&arg));
        })
        .map_err(|e: io::Error| Error::Io(e))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(why)) => Err(Error::Rejected(RejectReason::Filtered(why))),
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
            Err(Error::Rejected(RejectReason::FilterTimeout))
        }
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(Error::Rejected(
            RejectReason::Filtered("the filter panicked".into()),
        )),
    }
}
