//! The dispatch pool: `workers` threads, each with a bounded queue, running reactor
//! callbacks.
//!
//! Every message of one (peer, channel) goes to the same worker, so a reactor sees them
//! in order; different peers and channels spread over the workers. Two bounds hold the
//! memory: each worker's queue holds at most `worker_queue_capacity` jobs, and each peer
//! has a byte [`Budget`](super::budget::Budget) for its messages waiting for (or inside)
//! a reactor. When either is full, the sending peer's recv thread waits (TCP
//! backpressure): nothing is dropped, and the wait ends as soon as that connection starts
//! stopping, so a `stop()` from a callback never deadlocks on it.
//!
//! `add_peer` jobs travel on a second, unbounded queue per worker, so handing one over
//! never blocks (it may come from a worker, or from a peer's removal finishing): at most
//! one per admission waits there.
//!
//! Removal uses a fence: a job sent to every worker behind all of the peer's messages;
//! the last worker to reach it finishes the removal. When the switch stops, each worker
//! finishes the callback it is in and leaves; the last one to leave finishes every
//! removal still owed (see `Host::sweep`), so `remove_peer` always runs on a worker,
//! after the peer's last callback, and never nested inside another callback.

use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender, TryRecvError, TrySendError};
use log::warn;

use super::peer::Peer;
use super::reactor::Reactor;
use crate::conn::ChannelDescriptor;
use crate::error::{ChannelId, Error};
use crate::threads::{self, catch};

/// What a queued message is charged against its peer's budget besides its bytes (the
/// job and its handles), so that a flood of empty messages is bounded too.
const JOB_OVERHEAD: usize = 128;

/// Bytes of a peer's budget held by one queued message, and the message's bytes in its
/// reactor's pending count; both given back when dropped (handled, or dropped with its
/// queue).
pub(super) struct Charge {
    peer: Arc<Peer>,
    n: usize,
    reactor: Option<(Arc<AtomicUsize>, usize)>,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.peer.budget.release(self.n);
        if let Some((pending, len)) = &self.reactor {
            pending.fetch_sub(*len, Relaxed);
        }
    }
}

/// The reactors of a running switch, and which one owns each channel.
pub(super) struct Reactors {
    pub list: Vec<(String, Arc<dyn Reactor>)>,
    by_channel: [Option<u8>; 256],
    pub channels: Vec<ChannelDescriptor>,
    /// Per reactor (in `list`'s order): message bytes handed to workers for it and not
    /// yet handled.
    pending: Vec<Arc<AtomicUsize>>,
}

impl Reactors {
    /// Builds the table; two reactors claiming one channel is an error.
    pub fn new(list: Vec<(String, Arc<dyn Reactor>)>) -> Result<Self, Error> {
        let mut by_channel = [None; 256];
        let mut channels = Vec::new();
        if list.len() > 255 {
            return Err(Error::InvalidConfig("at most 255 reactors".into()));
        }
        for (i, (name, r)) in list.iter().enumerate() {
            for d in r.channels() {
                if let Some(other) = by_channel[d.id as usize] {
                    let other: &(String, Arc<dyn Reactor>) = &list[other as usize];
                    return Err(Error::InvalidConfig(format!(
                        "channel {:#04x} is claimed by reactors {:?} and {:?}",
                        d.id, other.0, name
                    )));
                }
                by_channel[d.id as usize] = Some(i as u8);
                channels.push(d);
            }
        }
        let pending = list.iter().map(|_| Arc::default()).collect();
        Ok(Reactors {
            list,
            by_channel,
            channels,
            pending,
        })
    }

    pub fn for_channel(&self, ch: ChannelId) -> Option<&Arc<dyn Reactor>> {
        self.by_channel[ch as usize].map(|i| &self.list[i as usize].1)
    }

    /// Each reactor's name and the message bytes waiting for it (or inside it) now.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub fn pending_bytes(&self) -> impl Iterator<Item = (&str, usize)> + '_ {
        let names = self.list.iter().map(|(name, _)| name.as_str());
        names.zip(self.pending.iter().map(|p| p.load(Relaxed)))
    }

    fn pending_for(&self, ch: ChannelId) -> Option<&Arc<AtomicUsize>> {
        self.by_channel[ch as usize].map(|i| &self.pending[i as usize])
    }
}

/// What to do once a peer's `add_peer` calls are over, or will never run: called once,
/// with whether they ran. Dropped uncalled (its job never ran), it is called with false.
pub(super) struct OnAdded(Option<Box<dyn FnOnce(bool) + Send>>);

impl OnAdded {
    pub fn new(f: impl FnOnce(bool) + Send + 'static) -> Self {
        OnAdded(Some(Box::new(f)))
    }

    fn call(mut self, added: bool) {
        if let Some(f) = self.0.take() {
            f(added);
        }
    }
}

impl Drop for OnAdded {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            if let Err(p) = catch(|| f(false)) {
                warn!("finishing an admission panicked: {p}");
            }
        }
    }
}

/// What workers need from the switch.
pub(super) trait Host: Send + Sync + 'static {
    fn reactors(&self) -> &Reactors;
    /// Whether `peer` may still be added to reactors: it is the entry for its id in the
    /// peer set (not replaced by a better-ranked connection meanwhile). A peer whose
    /// connection already failed is still added: the messages it delivered before are
    /// handed over, and `remove_peer` follows.
    fn is_current(&self, peer: &Arc<Peer>) -> bool;
    /// A reactor panicked handling `peer`: stop that peer.
    fn reactor_panicked(&self, peer: &Arc<Peer>, what: String);
    /// The last fence of `peer` was reached: run `remove_peer` and finish the removal.
    fn finish_removal(&self, peer: &Arc<Peer>);
    /// The switch stopped and every other worker has left: finish every removal still
    /// owed (on the calling worker, the last one).
    fn sweep(&self);
}

pub(super) enum Job {
    Msg {
        charge: Charge,
        ch: ChannelId,
        msg: Bytes,
    },
    AddPeer {
        peer: Arc<Peer>,
        then: OnAdded,
    },
    Fence {
        peer: Arc<Peer>,
        remaining: Arc<AtomicUsize>,
    },
}

/// The senders of the worker queues.
pub(super) struct Dispatch {
    /// Messages and fences, bounded.
    queues: Vec<Sender<Job>>,
    /// `add_peer` jobs, unbounded (one per admission at most).
    control: Vec<Sender<Job>>,
    /// The reactors, for their pending byte counts.
    reactors: Arc<Reactors>,
}

impl Dispatch {
    /// Starts `n` workers. They stop when `stop` disconnects.
    pub fn start(
        n: usize,
        capacity: usize,
        stack: usize,
        stop: Receiver<()>,
        host: Arc<dyn Host>,
        reactors: Arc<Reactors>,
    ) -> Result<(Dispatch, Vec<JoinHandle<()>>), Error> {
        let mut queues = Vec::with_capacity(n);
        let mut control = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        let left = Arc::new(AtomicUsize::new(n));
        for i in 0..n {
            let (tx, rx) = bounded(capacity);
            let (ctx, crx) = unbounded();
            let (stop, host, l) = (stop.clone(), host.clone(), left.clone());
            let h = threads::spawn(&format!("mconn-worker-{i}"), Some(stack), move || {
                worker(rx, crx, stop, host, l)
            });
            match h {
                Ok(h) => handles.push(h),
                Err(e) => {
                    // The workers already started see the queues go and leave; this one
                    // and the ones not started do not count.
                    left.fetch_sub(n - i, AcqRel);
                    return Err(e.into());
                }
            }
            queues.push(tx);
            control.push(ctx);
        }
        let dispatch = Dispatch {
            queues,
            control,
            reactors,
        };
        Ok((dispatch, handles))
    }

    fn worker_for(&self, route: u64, ch: ChannelId) -> usize {
        let h = route ^ (ch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h.rotate_left(29) % self.queues.len() as u64) as usize
    }

    /// Hands a message to its worker, waiting while the peer's budget or the worker's
    /// queue is full, unless the peer's connection starts stopping (then the message is
    /// dropped with the connection).
    pub fn send_msg(&self, peer: &Arc<Peer>, ch: ChannelId, msg: Bytes) {
        let n = msg.len().saturating_add(JOB_OVERHEAD);
        if !peer.budget.acquire(n, &peer.stopping) {
            return;
        }
        let q = &self.queues[self.worker_for(peer.route, ch)];
        let reactor = self.reactors.pending_for(ch).map(|p| {
            p.fetch_add(msg.len(), Relaxed);
            (p.clone(), msg.len())
        });
        let job = Job::Msg {
            charge: Charge {
                peer: peer.clone(),
                n,
                reactor,
            },
            ch,
            msg,
        };
        match q.try_send(job) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(job)) => {
                select! {
                    send(q, job) -> _ => {}
                    recv(peer.stopping) -> _ => {}
                }
            }
        }
    }

    /// Hands `peer`'s `add_peer` calls to its worker, without waiting; `then` follows
    /// them (or, if they never run, is called with false). They run only if the peer is
    /// still current then (see [`Host::is_current`]).
    pub fn add_peer(&self, peer: &Arc<Peer>, then: OnAdded) {
        let q = &self.control[self.worker_for(peer.route, 0)];
        // A worker that left drops the job, and with it `then`.
        let _ = q.send(Job::AddPeer {
            peer: peer.clone(),
            then,
        });
    }

    /// Sends a fence for `peer` to every worker; the last to reach it finishes the
    /// removal. False if `stop` fired first (the last worker's sweep then finishes it).
    pub fn fence(&self, peer: &Arc<Peer>, stop: &Receiver<()>) -> bool {
        let remaining = Arc::new(AtomicUsize::new(self.queues.len()));
        for q in &self.queues {
            let job = Job::Fence {
                peer: peer.clone(),
                remaining: remaining.clone(),
            };
            select! {
                send(q, job) -> r => if r.is_err() { return false },
                recv(stop) -> _ => return false,
            }
        }
        true
    }
}

fn stopping(stop: &Receiver<()>) -> bool {
    matches!(stop.try_recv(), Err(TryRecvError::Disconnected))
}

fn worker(
    rx: Receiver<Job>,
    control: Receiver<Job>,
    stop: Receiver<()>,
    host: Arc<dyn Host>,
    left: Arc<AtomicUsize>,
) {
    threads::mark_callback_thread();
    loop {
        let job = select! {
            recv(control) -> job => match job {
                Ok(job) => job,
                Err(_) => break,
            },
            recv(rx) -> job => match job {
                Ok(job) => job,
                Err(_) => break,
            },
            recv(stop) -> _ => break,
        };
        // Once the switch stops, queued jobs are dropped (their removals are swept).
        if stopping(&stop) {
            break;
        }
        // A panic outside a reactor (reactor panics are caught where they happen) must
        // not take the worker, and with it every message routed to it, away.
        if let Err(p) = catch(|| run(&*host, job)) {
            warn!("a dispatch job panicked: {p}");
        }
    }
    // The messages still queued are dropped now: a bounded channel keeps its messages
    // until its last sender goes (the switch's), and each holds a peer and its bytes.
    // (A message queued between this and the drop below waits for the switch's end.)
    while rx.try_recv().is_ok() {}
    // Dropping the control queue drops the add_peer jobs in it (and says so to their
    // admissions), also those handed over by the sweep below: an unbounded channel
    // drops what it holds when its receivers go.
    drop((rx, control));
    if left.fetch_sub(1, AcqRel) == 1 {
        if let Err(p) = catch(|| host.sweep()) {
            warn!("finishing removals at stop panicked: {p}");
        }
    }
}

fn run(host: &dyn Host, job: Job) {
    match job {
        Job::Msg { charge, ch, msg } => {
            let peer = &charge.peer;
            let Some(reactor) = host.reactors().for_channel(ch) else {
                return;
            };
            if let Err(p) = catch(|| reactor.receive(ch, peer, msg)) {
                host.reactor_panicked(peer, p);
            }
            // The charge is given back here, once `receive` returned.
        }
        Job::AddPeer { peer, then } => {
            let current = host.is_current(&peer);
            if current {
                run_add_peer(host, &peer);
            }
            then.call(current);
        }
        Job::Fence { peer, remaining } => {
            if remaining.fetch_sub(1, AcqRel) == 1 {
                host.finish_removal(&peer);
            }
        }
    }
}

/// Every reactor's `add_peer`, all of them once begun (so that each reactor sees either
/// nothing of the peer, or `add_peer` and later `remove_peer`).
fn run_add_peer(host: &dyn Host, peer: &Arc<Peer>) {
    peer.life.mark_added();
    for (_, r) in &host.reactors().list {
        if let Err(p) = catch(|| r.add_peer(peer)) {
            host.reactor_panicked(peer, p);
        }
    }
}

/// Every reactor's `remove_peer` for `peer`, if its `add_peer` calls began. The caller
/// makes sure this runs once per peer.
pub(super) fn run_remove_peer(reactors: &Reactors, peer: &Arc<Peer>, reason: &Error) {
    if !peer.life.was_added() {
        return;
    }
    for (name, r) in &reactors.list {
        if let Err(p) = catch(|| r.remove_peer(peer, reason)) {
            warn!("reactor {name:?} panicked in remove_peer for {peer}: {p}");
        }
    }
}
