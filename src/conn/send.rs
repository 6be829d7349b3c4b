//! The send side: [`SendCore`] (the channels' send state, the output batch and the
//! writer, behind one lock) and the send thread's loop.
//!
//! The send thread gathers packets from the channels in scheduler order into one batch of
//! up to `send_buffer_size` bytes and writes it: it keeps writing while any channel has
//! data, so a burst costs few system calls and a lone message costs no timer. A caller of
//! `send` on an idle connection may run one round of the same code itself (the "direct
//! path"), saving a thread hop; it only does so when nothing else is queued, so the
//! scheduler's order is kept.

use std::io::{self, Write};
use std::sync::atomic::Ordering::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use log::{debug, trace, warn};

use super::channel::SendChannel;
use super::flowrate::{Grant, TokenBucket};
use super::keepalive::{Action, Keepalive, PongLimiter};
use super::schedule::{self, Decay, Schedulable};
use super::shared::{Shared, FLUSHING, STOPPING};
use super::wire::{PACKET_TYPE_PING, PACKET_TYPE_PONG};
use crate::error::Error;
use crate::transport::is_stall;
use crate::{threads, time};

/// The most batch buffer an idle connection keeps...
const IDLE_BUFFER: usize = 16 * 1024;
/// ...once it has been idle this long (so bursts do not reallocate every time).
const TRIM_AFTER: Duration = Duration::from_secs(1);

/// How a write round ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// Everything in the batch is written.
    All,
    /// `limit` bytes were written, or `until` came, and more are left.
    Partial,
    /// The writer timed out with bytes left; they stay in the batch.
    Stalled,
}

/// The send state: channels, the batch being written, and the writer.
pub(crate) struct SendCore {
    channels: Vec<SendChannel>,
    buf: Vec<u8>,
    written: usize,
    writer: Box<dyn Write + Send>,
    decay: Decay,
    max_payload: usize,
    batch: usize,
    /// The writer accepted everything but its `flush` stalled: it still holds bytes.
    flush_pending: bool,
    /// The writer was released (the send thread exited); nothing may be written.
    closed: bool,
}

impl SendCore {
    pub fn new(
        channels: Vec<SendChannel>,
        writer: Box<dyn Write + Send>,
        max_payload: usize,
        batch: usize,
        now: Instant,
    ) -> Self {
        SendCore {
            channels,
            buf: Vec::new(),
            written: 0,
            writer,
            decay: Decay::new(now),
            max_payload,
            batch,
            // The transport may hold bytes from before (an encrypted handshake's stalled
            // write): the send thread's first round flushes them.
            flush_pending: true,
            closed: false,
        }
    }

    /// Whether any channel has something to send.
    pub fn has_pending(&self) -> bool {
        self.channels.iter().any(|c| c.pending())
    }

    /// Nothing queued, nothing being chunked, nothing unwritten: a direct send cannot
    /// overtake anything.
    pub fn is_idle(&self) -> bool {
        !self.closed && !self.has_output() && !self.has_pending()
    }

    /// Starts `msg` on the idle channel `idx` (direct path).
    pub fn start(&mut self, idx: usize, msg: bytes::Bytes) {
        self.channels[idx].start(msg);
    }

    /// Appends a ping or pong to the batch.
    pub fn push_control(&mut self, byte: u8) {
        self.buf.push(byte);
    }

    /// Batch bytes not yet handed to the writer.
    pub fn unwritten(&self) -> usize {
        self.buf.len() - self.written
    }

    /// Whether anything is left to write or to flush.
    pub fn has_output(&self) -> bool {
        self.written < self.buf.len() || self.flush_pending
    }

    /// Fills the batch with packets in scheduler order until it holds `send_buffer_size`
    /// bytes or no channel has more. Returns whether data is still pending.
    pub fn fill(&mut self, now: Instant) -> bool {
        let steps = self.decay.due(now);
        if steps > 0 {
            self.channels.iter_mut().for_each(|c| c.decay(steps));
        }
        while self.buf.len() < self.batch {
            let Some(i) = schedule::pick(&self.channels) else {
                return false;
            };
            self.channels[i].write_packet(&mut self.buf, self.max_payload);
        }
        self.has_pending()
    }

    /// Writes at most `limit` bytes of the batch, and, with `until`, stops writing at that
    /// instant (checked after each partial write). A stall (write timeout) ends the round
    /// with bytes left; any other error is fatal. `on_written` is told each write.
    pub fn write_some(
        &mut self,
        limit: usize,
        until: Option<Instant>,
        mut on_written: impl FnMut(usize),
    ) -> io::Result<Written> {
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "connection closed",
            ));
        }
        let stop_at = self.buf.len().min(self.written.saturating_add(limit));
        while self.written < stop_at {
            match self.writer.write(&self.buf[self.written..stop_at]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n;
                    on_written(n);
                    if self.written < stop_at && until.is_some_and(|t| Instant::now() >= t) {
                        return Ok(Written::Partial);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_stall(&e) => return Ok(Written::Stalled),
                Err(e) => return Err(e),
            }
        }
        if self.written < self.buf.len() {
            return Ok(Written::Partial);
        }
        self.buf.clear();
        self.written = 0;
        // A transport that buffers (an encrypting one, say) may stall in flush too.
        match self.writer.flush() {
            Ok(()) => {
                self.flush_pending = false;
                Ok(Written::All)
            }
            Err(e) if is_stall(&e) => {
                self.flush_pending = true;
                Ok(Written::Stalled)
            }
            Err(e) => Err(e),
        }
    }

    /// Gives back a large batch buffer once everything is written (an idle connection
    /// should not hold a busy one's buffer).
    pub fn trim(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > IDLE_BUFFER {
            self.buf = Vec::new();
        }
    }

    /// Whether the batch buffer is larger than an idle connection should keep.
    pub fn oversized(&self) -> bool {
        self.buf.capacity() > IDLE_BUFFER
    }

    /// Releases the writer and the queues (the send thread is exiting): senders blocked
    /// on a full queue fail at once with `Closed`.
    pub fn close(&mut self) {
        self.closed = true;
        self.channels = Vec::new();
        self.writer = Box::new(io::sink());
        self.buf = Vec::new();
        self.written = 0;
        self.flush_pending = false;
    }
}

/// Counts `n` written bytes in the connection's totals.
pub(crate) fn count_written(shared: &Shared, n: usize) {
    shared.bytes_sent.fetch_add(n as u64, Relaxed);
    shared.send_meter.lock().record(Instant::now(), n);
}

/// The send thread: runs until the connection stops. A panic (in the transport's writer
/// or in our own code) stops the connection with [`Error::Panicked`].
pub(crate) fn run(shared: Arc<Shared>, wake: Receiver<()>) {
    let result = threads::catch(|| send_loop(&shared, &wake)).unwrap_or_else(|p| {
        Err(Error::Panicked(format!(
            "the mconn-send thread panicked (in the transport's writer, or a bug in mconn): {p}"
        )))
    });
    if let Err(p) = threads::catch(|| shared.core.lock().close()) {
        warn!("dropping the transport's writer panicked: {p}");
    }
    match result {
        Ok(()) => debug!("send thread stopped"),
        Err(e) => {
            debug!("send thread stopping: {e}");
            shared.begin_stop(Some(e));
        }
    }
    shared.thread_exited();
}

fn send_loop(shared: &Shared, wake: &Receiver<()>) -> Result<(), Error> {
    let cfg = &shared.config;
    let start = Instant::now();
    let mut keepalive = Keepalive::new(cfg.ping_interval, cfg.pong_timeout);
    let mut pong_limiter = PongLimiter::new(start);
    let mut rate = cfg.send_rate.map(|r| TokenBucket::new(r, start));
    // When the oldest unwritten packet entered the batch (for flush_throttle).
    let mut unflushed_since: Option<Instant> = None;
    // Since when the connection has been idle with a large batch buffer.
    let mut idle_since: Option<Instant> = None;
    loop {
        let state = shared.state();
        if state == STOPPING {
            return Ok(());
        }
        let now = Instant::now();
        let mut deadline = time::deadline(now, Duration::from_secs(3600));
        let mut core = shared.core.lock();

        // Keepalive: our ping, and the pong we owe.
        let mut urgent = false;
        let (action, ka_deadline) = keepalive.poll(now, shared.last_heard(now));
        match action {
            Action::Timeout => return Err(Error::PongTimeout),
            Action::SendPing => {
                trace!("-> ping");
                core.push_control(PACKET_TYPE_PING);
                urgent = true;
            }
            Action::Wait => {}
        }
        deadline = deadline.min(ka_deadline);
        if shared.pong_wanted.load(Acquire) {
            if pong_limiter.try_take(now) {
                shared.pong_wanted.store(false, Release);
                trace!("-> pong");
                core.push_control(PACKET_TYPE_PONG);
                urgent = true;
            } else {
                deadline = deadline.min(pong_limiter.next_token_at());
            }
        }

        let more = core.fill(now);
        if core.has_output() {
            unflushed_since.get_or_insert(now);
        }

        // Write now, unless flush_throttle asks us to wait for more.
        let mut write = core.has_output();
        if write && !cfg.flush_throttle.is_zero() && !urgent && !more && state != FLUSHING {
            let due = time::deadline(unflushed_since.unwrap_or(now), cfg.flush_throttle);
            if now < due {
                write = false;
                deadline = deadline.min(due);
            }
        }
        if write {
            write_batch(shared, &mut core, &mut rate, &mut keepalive)?;
            unflushed_since = None;
        }
        let idle = core.is_idle();
        if idle && core.oversized() {
            let since = *idle_since.get_or_insert(now);
            if now >= since + TRIM_AFTER {
                core.trim();
                idle_since = None;
            } else {
                deadline = deadline.min(since + TRIM_AFTER);
            }
        } else if !idle {
            idle_since = None;
        }
        drop(core);

        if state == FLUSHING && idle {
            let _ = shared.flushed_tx.try_send(());
        }
        if more || (write && !idle) {
            continue;
        }
        match wake.recv_deadline(deadline) {
            Ok(()) | Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

/// Writes the whole batch, honouring the send rate. On a stall it looks at the keepalive
/// (a peer that neither reads nor answers is dropped) and at stop, then goes on.
fn write_batch(
    shared: &Shared,
    core: &mut SendCore,
    rate: &mut Option<TokenBucket>,
    keepalive: &mut Keepalive,
) -> Result<(), Error> {
    loop {
        let mut limit = usize::MAX;
        if let Some(bucket) = rate.as_mut() {
            match bucket.grant(Instant::now(), core.unwritten()) {
                Grant::Now(n) => limit = n,
                Grant::Wait(d) => {
                    std::thread::sleep(d);
                    if shared.state() == STOPPING {
                        return Ok(());
                    }
                    continue;
                }
            }
        }
        let mut sent = 0;
        let res = core.write_some(limit, None, |n| {
            sent += n;
            count_written(shared, n);
        });
        if let Some(bucket) = rate.as_mut() {
            bucket.consume(sent);
        }
        match res? {
            Written::All => return Ok(()),
            Written::Partial => {}
            Written::Stalled => {
                if shared.state() == STOPPING {
                    return Ok(());
                }
                let now = Instant::now();
                match keepalive.poll(now, shared.last_heard(now)).0 {
                    Action::Timeout => return Err(Error::PongTimeout),
                    Action::SendPing => core.push_control(PACKET_TYPE_PING),
                    Action::Wait => {}
                }
            }
        }
    }
}
