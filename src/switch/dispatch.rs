//! The dispatch pool: `workers` threads, each with a bounded queue, running reactor
//! callbacks.
//!
//! Every message of one (peer, channel) goes to the same worker, so a reactor sees them
//! in order; different peers and channels spread over the workers. A full queue blocks
//! the sending peer's recv thread (TCP backpressure): nothing is dropped, and the wait
//! ends as soon as that connection starts stopping, so a `stop()` from a callback never
//! deadlocks on it. Removal uses a fence: a job sent to every worker behind all of the
//! peer's messages; the last worker to reach it runs `remove_peer`.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use bytes::Bytes;
use crossbeam_channel::{bounded, select, Receiver, Sender, TrySendError};
use log::warn;

use super::peer::Peer;
use super::reactor::Reactor;
use crate::conn::ChannelDescriptor;
use crate::error::{ChannelId, Error};

thread_local! {
    static ON_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Whether the current thread is a dispatch worker.
pub(crate) fn on_worker() -> bool {
    ON_WORKER.with(|w| w.get())
}

/// The reactors of a running switch, and which one owns each channel.
pub(crate) struct Reactors {
    pub list: Vec<(String, Arc<dyn Reactor>)>,
    by_channel: [Option<u8>; 256],
    pub channels: Vec<ChannelDescriptor>,
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
        Ok(Reactors {
            list,
            by_channel,
            channels,
        })
    }

    pub fn for_channel(&self, ch: ChannelId) -> Option<&Arc<dyn Reactor>> {
        self.by_channel[ch as usize].map(|i| &self.list[i as usize].1)
    }
}

/// What workers need from the switch.
pub(crate) trait Host: Send + Sync + 'static {
    fn reactors(&self) -> &Reactors;
    /// A reactor panicked handling `peer`: stop that peer.
    fn reactor_panicked(&self, peer: &Arc<Peer>, what: String);
    /// The last fence of `peer` was reached: run `remove_peer` and finish the removal.
    fn finish_removal(&self, peer: &Arc<Peer>);
}

pub(crate) enum Job {
    Msg {
        peer: Arc<Peer>,
        ch: ChannelId,
        msg: Bytes,
    },
    AddPeer {
        peer: Arc<Peer>,
        done: Sender<()>,
    },
    Fence {
        peer: Arc<Peer>,
        remaining: Arc<AtomicUsize>,
    },
}

/// The senders of the worker queues.
pub(crate) struct Dispatch {
    queues: Vec<Sender<Job>>,
}

impl Dispatch {
    /// Starts `n` workers. They stop when `stop` disconnects.
    pub fn start(
        n: usize,
        capacity: usize,
        stack: usize,
        stop: Receiver<()>,
        host: Arc<dyn Host>,
    ) -> Result<(Dispatch, Vec<JoinHandle<()>>), Error> {
        let mut queues = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = bounded(capacity);
            let (stop, host) = (stop.clone(), host.clone());
            let h = thread::Builder::new()
                .name(format!("mconn-worker-{i}"))
                .stack_size(stack)
                .spawn(move || worker(rx, stop, host))?;
            queues.push(tx);
            handles.push(h);
        }
        Ok((Dispatch { queues }, handles))
    }

    fn worker_for(&self, route: u64, ch: ChannelId) -> usize {
        let h = route ^ (ch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h.rotate_left(29) % self.queues.len() as u64) as usize
    }

    /// Hands a message to its worker, waiting while the queue is full unless the peer's
    /// connection starts stopping (then the message is dropped with the connection).
    pub fn send_msg(&self, peer: &Arc<Peer>, ch: ChannelId, msg: Bytes) {
        let q = &self.queues[self.worker_for(peer.route, ch)];
        let job = Job::Msg {
            peer: peer.clone(),
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

    /// Runs every reactor's `add_peer` for `peer` on its worker and waits for it (inline
    /// when already on a worker, which must not wait for itself). False if `stop` fired.
    pub fn add_peer(&self, host: &dyn Host, peer: &Arc<Peer>, stop: &Receiver<()>) -> bool {
        if on_worker() {
            run_add_peer(host, peer);
            return true;
        }
        let (done_tx, done) = bounded::<()>(0);
        let q = &self.queues[self.worker_for(peer.route, 0)];
        let job = Job::AddPeer {
            peer: peer.clone(),
            done: done_tx,
        };
        select! {
            send(q, job) -> r => if r.is_err() { return false },
            recv(stop) -> _ => return false,
        }
        select! {
            recv(done) -> _ => true,
            recv(stop) -> _ => false,
        }
    }

    /// Sends a fence for `peer` to every worker; the last to reach it finishes the
    /// removal. False if `stop` fired first (the switch's stop then finishes it).
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

fn worker(rx: Receiver<Job>, stop: Receiver<()>, host: Arc<dyn Host>) {
    ON_WORKER.with(|w| w.set(true));
    loop {
        if let Err(crossbeam_channel::TryRecvError::Disconnected) = stop.try_recv() {
            return;
        }
        let job = select! {
            recv(rx) -> job => match job {
                Ok(job) => job,
                Err(_) => return,
            },
            recv(stop) -> _ => return,
        };
        run(&*host, job);
    }
}

fn run(host: &dyn Host, job: Job) {
    match job {
        Job::Msg { peer, ch, msg } => {
            let Some(reactor) = host.reactors().for_channel(ch) else {
                return;
            };
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| reactor.receive(ch, &peer, msg))) {
                host.reactor_panicked(&peer, panic_text(p));
            }
        }
        Job::AddPeer { peer, done } => {
            run_add_peer(host, &peer);
            drop(done);
        }
        Job::Fence { peer, remaining } => {
            if remaining.fetch_sub(1, AcqRel) == 1 {
                host.finish_removal(&peer);
            }
        }
    }
}

fn run_add_peer(host: &dyn Host, peer: &Arc<Peer>) {
    peer.life.added_to_reactors.store(true, Release);
    for (_, r) in &host.reactors().list {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| r.add_peer(peer))) {
            host.reactor_panicked(peer, panic_text(p));
        }
    }
}

/// Runs every reactor's `remove_peer` once for `peer` (the first caller wins).
pub(crate) fn run_remove_peer(reactors: &Reactors, peer: &Arc<Peer>, reason: &Error) {
    if peer.life.remove_called.swap(true, AcqRel) || !peer.life.added_to_reactors.load(Acquire) {
        return;
    }
    for (name, r) in &reactors.list {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| r.remove_peer(peer, reason))) {
            warn!(
                "reactor {name:?} panicked in remove_peer for {peer}: {}",
                panic_text(p)
            );
        }
    }
}

/// The message of a panic payload.
pub(crate) fn panic_text(p: Box<dyn Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-text panic payload)".to_string()
    }
}
