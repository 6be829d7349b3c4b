//! What the handle, the send thread and the recv thread share: the lifecycle state, the
//! outbox, the wake-up signal and the counters.
//!
//! Waking the send thread: a sender that queues a message wakes the send thread only if
//! it is waiting ([`Shared::wake_queued`]), so a stream of messages costs no wake-up per
//! message while the thread is busy. The thread raises `waiting` before its last look at
//! the queues, and a sender reads it after its push, with a `SeqCst` fence on each side
//! between the two: either the thread's last look sees the message, or the sender sees
//! `waiting` and wakes it.
//!
//! Lifecycle ([`ConnState`]): Running → (Flushing →) Stopping. The first transition to
//! Stopping records the error that caused it (if any), shuts the transport down and wakes
//! the send thread; later attempts change nothing, so exactly one cause wins.

use std::net::SocketAddr;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use log::error;
use parking_lot::Mutex;

use super::channel::ChannelCounters;
use super::config::MConnConfig;
use super::flowrate::RateMeter;
use super::outbox::Outbox;
use super::ping_stats::PingStats;
use super::stage::{Stage, StageCell};
use crate::error::{ChannelId, Error};
use crate::latch::Latch;
use crate::threads;
use crate::transport::Closer;

/// Where a connection is in its life. Moves only forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum ConnState {
    /// Taking sends.
    Running = 0,
    /// `flush_stop`: writing what is queued, taking no more.
    Flushing = 1,
    /// Stopping or stopped: the transport is shut down.
    Stopping = 2,
}

impl ConnState {
    #[inline]
    fn from_u8(v: u8) -> Self {
        match v {
            0 => ConnState::Running,
            1 => ConnState::Flushing,
            _ => ConnState::Stopping,
        }
    }
}

/// The caller-facing side of one channel.
pub(crate) struct ChannelHandle {
    pub id: ChannelId,
    pub priority: u32,
    pub capacity: usize,
    pub tx: Sender<Bytes>,
    pub counters: std::sync::Arc<ChannelCounters>,
}

pub(crate) struct Shared {
    pub config: MConnConfig,
    pub peer_addr: Option<SocketAddr>,
    state: AtomicU8,
    pub epoch: Instant,
    /// Nanoseconds after `epoch` when bytes last arrived.
    last_recv_ns: AtomicU64,
    /// The recv thread is handling packets (possibly blocked in a callback): the peer is
    /// not silent, we are busy.
    recv_busy: AtomicBool,
    /// The peer pinged us and the pong is not written yet.
    pong_wanted: AtomicBool,
    /// Messages pending (see `pending`) and whether the send thread waits for a wake-up
    /// (or is about to), on a cache line of their own: every send reads both, and
    /// neither changes while a stream of staged messages flows.
    sending: Padded,
    wake_tx: Sender<()>,
    /// What callers encoded for the send thread to take (see `stage.rs`).
    pub stage: StageCell,
    pub outbox: Mutex<Outbox>,
    pub channels: Vec<ChannelHandle>,
    index: [Option<u8>; 256],
    error: Mutex<Option<Error>>,
    closer: Mutex<Option<Closer>>,
    threads_alive: AtomicUsize,
    pub bytes_sent: AtomicU64,
    pub bytes_recv: AtomicU64,
    pub send_meter: Mutex<RateMeter>,
    pub recv_meter: Mutex<RateMeter>,
    /// Pings and pongs each way, and the last round trip.
    pub pings: PingStats,
    /// Open once a flush_stop has written everything.
    pub flushed: Latch,
    /// Disconnected when the send (recv) thread has exited.
    pub send_done: Receiver<()>,
    pub recv_done: Receiver<()>,
    /// Open as soon as the connection starts stopping.
    pub stopping: Latch,
}

/// The pieces `Shared::new` needs that the constructor builds.
pub(crate) struct SharedParts {
    pub config: MConnConfig,
    pub peer_addr: Option<SocketAddr>,
    pub wake_tx: Sender<()>,
    pub outbox: Outbox,
    pub stage: Stage,
    pub channels: Vec<ChannelHandle>,
    pub closer: Closer,
    pub send_done: Receiver<()>,
    pub recv_done: Receiver<()>,
}

impl Shared {
    pub fn new(p: SharedParts) -> Self {
        let now = Instant::now();
        let pings = PingStats::new(p.config.ping_interval);
        let mut index = [None; 256];
        for (i, ch) in p.channels.iter().enumerate() {
            index[ch.id as usize] = Some(i as u8);
        }
        Shared {
            config: p.config,
            peer_addr: p.peer_addr,
            state: AtomicU8::new(ConnState::Running as u8),
            epoch: now,
            last_recv_ns: AtomicU64::new(0),
            recv_busy: AtomicBool::new(false),
            pong_wanted: AtomicBool::new(false),
            sending: Padded {
                pending: AtomicUsize::new(0),
                waiting: AtomicBool::new(false),
            },
            wake_tx: p.wake_tx,
            stage: StageCell::new(p.stage),
            outbox: Mutex::new(p.outbox),
            channels: p.channels,
            index,
            error: Mutex::new(None),
            closer: Mutex::new(Some(p.closer)),
            threads_alive: AtomicUsize::new(2),
            bytes_sent: AtomicU64::new(0),
            bytes_recv: AtomicU64::new(0),
            send_meter: Mutex::new(RateMeter::new(now)),
            recv_meter: Mutex::new(RateMeter::new(now)),
            pings,
            flushed: Latch::new(),
            send_done: p.send_done,
            recv_done: p.recv_done,
            stopping: Latch::new(),
        }
    }

    #[inline]
    pub fn state(&self) -> ConnState {
        // SeqCst: the flush's protocol reads it next to `pending` (see `enqueue.rs`); on
        // x86 a SeqCst load costs what an Acquire one does.
        ConnState::from_u8(self.state.load(SeqCst))
    }

    #[inline]
    pub fn is_running(&self) -> bool {
        self.state() == ConnState::Running
    }

    /// The index of channel `id` in `channels`.
    #[inline]
    pub fn channel_index(&self, id: ChannelId) -> Option<usize> {
        self.index[id as usize].map(usize::from)
    }

    /// Wakes the send thread (coalesced: at most one wake-up is pending).
    pub fn wake(&self) {
        let _ = self.wake_tx.try_send(());
    }

    /// After a message was queued: wakes the send thread if it waits. A thread that does
    /// not wait looks at the queues again before it does (see the module docs).
    #[inline]
    pub fn wake_queued(&self) {
        fence(SeqCst);
        if self.sending.waiting.load(Relaxed) {
            self.wake();
        }
    }

    /// The send thread is about to wait: from now on a queued message wakes it. It must
    /// look at the queues once more after this ([`has_queued`](Self::has_queued)).
    pub fn wait_begin(&self) {
        self.sending.waiting.store(true, Relaxed);
        fence(SeqCst);
    }

    /// The send thread runs again.
    pub fn wait_end(&self) {
        self.sending.waiting.store(false, Relaxed);
    }

    /// Whether the send thread waits (or is about to), a hint for the direct path: a busy
    /// send thread holds the outbox lock, and a sender that tried the lock on every
    /// message would take its cache line from the send thread every time.
    #[inline]
    pub fn send_waiting(&self) -> bool {
        self.sending.waiting.load(Relaxed)
    }

    /// Whether anything is staged, or any channel's queue holds a message.
    pub fn has_queued(&self) -> bool {
        self.staged() || self.channels.iter().any(|c| !c.tx.is_empty())
    }

    /// Whether callers staged packets the send thread has not taken yet.
    #[inline]
    pub fn staged(&self) -> bool {
        self.stage.signal.hint.staged()
    }

    /// Messages queued (or being pushed to a queue: counted under the stage's lock,
    /// with the running check), or in the outbox and not yet wholly in its batch. While
    /// there are any, nothing new is staged (see `stage.rs`), and a flush is not done.
    #[inline]
    pub fn pending(&self) -> usize {
        self.sending.pending.load(SeqCst)
    }

    /// Counts a message about to be queued or started directly.
    #[inline]
    pub fn add_pending(&self) {
        self.sending.pending.fetch_add(1, SeqCst);
    }

    /// `n` pending messages are in the batch now (or were never queued). The last one
    /// wakes a flushing send thread, which may be waiting for it.
    #[inline]
    pub fn sub_pending(&self, n: usize) {
        if n > 0
            && self.sending.pending.fetch_sub(n, SeqCst) == n
            && self.state() == ConnState::Flushing
        {
            self.wake();
        }
    }

    /// Running → Flushing. False if not running.
    pub fn begin_flush(&self) -> bool {
        let ok = self
            .state
            .compare_exchange(
                ConnState::Running as u8,
                ConnState::Flushing as u8,
                SeqCst,
                SeqCst,
            )
            .is_ok();
        self.wake();
        ok
    }

    /// Moves to Stopping. The first caller records `cause`, shuts the transport down and
    /// wakes the send thread, and gets `true`; later callers change nothing.
    pub fn begin_stop(&self, cause: Option<Error>) -> bool {
        let stopping = ConnState::Stopping as u8;
        if self.state.swap(stopping, AcqRel) == stopping {
            return false;
        }
        if let Some(e) = cause {
            *self.error.lock() = Some(e);
        }
        self.stopping.open();
        self.wake();
        // The closer is the transport's (user) code: a panic in it must not escape into
        // whoever stops the connection.
        if let Err(p) = threads::catch(|| {
            if let Some(close) = self.closer.lock().as_ref() {
                close();
            }
        }) {
            error!(
                "the transport's closer panicked: {p}; its reader may stay blocked until the \
                 peer closes"
            );
        }
        true
    }

    /// The error that stopped the connection, once (for `on_error`).
    pub fn take_error(&self) -> Option<Error> {
        self.error.lock().take()
    }

    /// Called by each I/O thread as it exits; the last one releases the transport.
    pub fn thread_exited(&self) {
        if self.threads_alive.fetch_sub(1, AcqRel) == 1 {
            let closer = self.closer.lock().take();
            if let Err(p) = threads::catch(move || drop(closer)) {
                error!("dropping the transport's closer panicked: {p}");
            }
        }
    }

    /// Records that bytes arrived at `now`.
    pub fn mark_received(&self, now: Instant) {
        let ns = now.saturating_duration_since(self.epoch).as_nanos() as u64;
        self.last_recv_ns.store(ns, Release);
    }

    pub fn set_recv_busy(&self, busy: bool) {
        self.recv_busy.store(busy, Release);
    }

    /// When the peer was last heard from, as the keepalive sees it: `now` while the recv
    /// thread is busy with what the peer sent.
    pub fn last_heard(&self, now: Instant) -> Instant {
        if self.recv_busy.load(Acquire) {
            return now;
        }
        self.epoch + Duration::from_nanos(self.last_recv_ns.load(Acquire))
    }

    /// The peer pinged us; wakes the send thread to answer (once per unanswered ping).
    pub fn want_pong(&self) {
        self.pings.ping_received();
        if !self.pong_wanted.swap(true, AcqRel) {
            self.wake();
        }
    }

    /// Whether the peer's ping still waits for our pong.
    pub fn pong_wanted(&self) -> bool {
        self.pong_wanted.load(Acquire)
    }

    /// The pong is going out.
    pub fn pong_sent(&self) {
        self.pings.pong_sent();
        self.pong_wanted.store(false, Release);
    }

    /// Our ping is going out at `now` (the round trip starts).
    pub fn ping_sent(&self, now: Instant) {
        self.pings.ping_sent(self.nanos_at(now));
    }

    /// A pong arrived at `now` (the round trip ends, if it answers our ping).
    pub fn pong_received(&self, now: Instant) {
        self.pings.pong_received(self.nanos_at(now));
    }

    fn nanos_at(&self, now: Instant) -> u64 {
        let ns = now.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// A flush_stop has written everything.
    pub fn flushed(&self) {
        self.flushed.open();
    }
}

/// The pending count and the waiting flag, alone on their cache line.
#[repr(align(64))]
struct Padded {
    pending: AtomicUsize,
    waiting: AtomicBool,
}
