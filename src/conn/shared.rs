//! What the handle, the send thread and the recv thread share: the lifecycle state, the
//! send core, the wake-up signal and the counters.
//!
//! Lifecycle: Running → (Flushing →) Stopping. The first transition to Stopping records
//! the error that caused it (if any), shuts the transport down and wakes the send thread;
//! later attempts change nothing, so exactly one cause wins.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use log::error;
use parking_lot::Mutex;

use super::channel::ChannelCounters;
use super::flowrate::RateMeter;
use super::send::SendCore;
use super::MConnConfig;
use crate::error::{ChannelId, Error};
use crate::latch::Latch;
use crate::threads;
use crate::transport::{Closer, TCP_WRITE_TIMEOUT};

/// A `send` that comes sooner than this after the previous direct write goes through the
/// send thread: a lone message saves a thread hop, a stream of them is batched.
pub(crate) const DIRECT_GAP: Duration = Duration::from_micros(20);

pub(crate) const RUNNING: u8 = 0;
pub(crate) const FLUSHING: u8 = 1;
pub(crate) const STOPPING: u8 = 2;

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
    /// Go's `maxMsgPacketTotalSize` for our payload limit.
    pub max_total: usize,
    pub peer_addr: Option<SocketAddr>,
    state: AtomicU8,
    pub epoch: Instant,
    /// Nanoseconds after `epoch` when bytes last arrived.
    last_recv_ns: AtomicU64,
    /// The recv thread is handling packets (possibly blocked in a callback): the peer is
    /// not silent, we are busy.
    recv_busy: AtomicBool,
    /// The peer pinged us and the pong is not written yet.
    pub pong_wanted: AtomicBool,
    wake_tx: Sender<()>,
    pub core: Mutex<SendCore>,
    pub channels: Vec<ChannelHandle>,
    index: [Option<u8>; 256],
    error: Mutex<Option<Error>>,
    closer: Mutex<Option<Closer>>,
    threads_alive: AtomicUsize,
    pub bytes_sent: AtomicU64,
    pub bytes_recv: AtomicU64,
    pub send_meter: Mutex<RateMeter>,
    pub recv_meter: Mutex<RateMeter>,
    /// The send thread signals here when a flush_stop has written everything.
    pub flushed_tx: Sender<()>,
    pub flushed_rx: Receiver<()>,
    /// Whether `send` may write directly on an idle connection (no throttle, no rate).
    pub direct_ok: bool,
    /// The shortest `send` timeout that may write directly: one write can block for the
    /// transport's write timeout (`min(send_timeout, 250 ms)` for TCP).
    pub direct_min_timeout: Duration,
    /// Nanoseconds after `epoch` when the last direct write ended.
    last_direct_ns: AtomicU64,
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
    pub core: SendCore,
    pub channels: Vec<ChannelHandle>,
    pub closer: Closer,
    pub send_done: Receiver<()>,
    pub recv_done: Receiver<()>,
}

impl Shared {
    pub fn new(p: SharedParts) -> Self {
        let now = Instant::now();
        let mut index = [None; 256];
        for (i, ch) in p.channels.iter().enumerate() {
            index[ch.id as usize] = Some(i as u8);
        }
        let (flushed_tx, flushed_rx) = crossbeam_channel::bounded(1);
        let direct_ok = p.config.flush_throttle.is_zero() && p.config.send_rate.is_none();
        let direct_min_timeout = p
            .config
            .send_timeout
            .min(TCP_WRITE_TIMEOUT);
        Shared {
            max_total: super::wire::max_packet_total_size(p.config.max_packet_msg_payload_size),
            config: p.config,
            peer_addr: p.peer_addr,
            state: AtomicU8::new(RUNNING),
            epoch: now,
            last_recv_ns: AtomicU64::new(0),
            recv_busy: AtomicBool::new(false),
            pong_wanted: AtomicBool::new(false),
            wake_tx: p.wake_tx,
            core: Mutex::new(p.core),
            channels: p.channels,
            index,
            error: Mutex::new(None),
            closer: Mutex::new(Some(p.closer)),
            threads_alive: AtomicUsize::new(2),
            bytes_sent: AtomicU64::new(0),
            bytes_recv: AtomicU64::new(0),
            send_meter: Mutex::new(RateMeter::new(now)),
            recv_meter: Mutex::new(RateMeter::new(now)),
            flushed_tx,
            flushed_rx,
            direct_ok,
            direct_min_timeout,
            last_direct_ns: AtomicU64::new(0),
            send_done: p.send_done,
            recv_done: p.recv_done,
            stopping: Latch::new(),
        }
    }

    pub fn state(&self) -> u8 {
        self.state.load(Acquire)
    }

    pub fn is_running(&self) -> bool {
        self.state() == RUNNING
    }

    /// The index of channel `id` in `channels`.
    pub fn channel_index(&self, id: ChannelId) -> Option<usize> {
        self.index[id as usize].map(usize::from)
    }

    /// Wakes the send thread (coalesced: at most one wake-up is pending).
    pub fn wake(&self) {
        let _ = self.wake_tx.try_send(());
    }

    /// Running → Flushing. False if not running.
    pub fn begin_flush(&self) -> bool {
        let ok = self
            .state
            .compare_exchange(RUNNING, FLUSHING, AcqRel, Acquire)
            .is_ok();
        self.wake();
        ok
    }

    /// Moves to Stopping. The first caller records `cause`, shuts the transport down and
    /// wakes the send thread, and gets `true`; later callers change nothing.
    pub fn begin_stop(&self, cause: Option<Error>) -> bool {
        if self.state.swap(STOPPING, AcqRel) == STOPPING {
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

    /// Whether a direct write may start at `now`: not within [`DIRECT_GAP`] of the end of
    /// the previous one. A caller sending back to back is better served by the send
    /// thread, which batches its messages into few writes.
    pub fn direct_allowed(&self, now: Instant) -> bool {
        let last = self.last_direct_ns.load(Relaxed);
        last == 0 || self.nanos(now).saturating_sub(last) >= DIRECT_GAP.as_nanos() as u64
    }

    /// Records the end of a direct write.
    pub fn direct_done(&self, now: Instant) {
        self.last_direct_ns.store(self.nanos(now).max(1), Relaxed);
    }

    fn nanos(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }
}
