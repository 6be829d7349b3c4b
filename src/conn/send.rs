//! The two ways bytes leave a connection: the send thread's loop, and the direct write a
//! caller of `send` makes on an idle connection. Both drive the same [`Outbox`] under its
//! lock; the loop's timing decisions come from [`SendTiming`] (pure, tested apart).
//!
//! The send thread gathers packets from the channels in scheduler order into one batch of
//! up to `send_buffer_size` bytes and writes it: it keeps writing while any channel has
//! data, so a burst costs few system calls and a lone message costs no timer. A caller of
//! `send` on an idle connection may run one round of the same code itself (the direct
//! path), saving a thread hop; it only does so when nothing else is queued, so the
//! scheduler's order is kept.

use std::sync::atomic::Ordering::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::Receiver;
use log::{debug, trace, warn};

use super::flowrate::{Grant, TokenBucket};
use super::outbox::{Outbox, Written, IDLE_BUFFER};
use super::send_timing::{Batch, SendTiming};
use super::shared::{ConnState, Shared};
use crate::error::Error;
use crate::send_error::SendError;
use crate::transport::TCP_WRITE_TIMEOUT;
use crate::{threads, time};

/// A `send` that comes sooner than this after the previous direct write goes through the
/// send thread: a lone message saves a thread hop, a stream of them is batched.
pub(crate) const DIRECT_GAP: Duration = Duration::from_micros(20);

/// Counts `n` written bytes in the connection's totals.
fn count_written(shared: &Shared, n: usize) {
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
    if let Err(p) = threads::catch(|| shared.outbox.lock().close()) {
        warn!("dropping the transport's writer panicked: {p}");
    }
    shared.stage.close();
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
    let mut timing = SendTiming::new(
        cfg.ping_interval,
        cfg.pong_timeout,
        cfg.flush_throttle,
        start,
    );
    let mut rate = cfg.send_rate.map(|r| TokenBucket::new(r, start));
    loop {
        let state = shared.state();
        if state == ConnState::Stopping {
            return Ok(());
        }
        let now = Instant::now();
        let mut outbox = shared.outbox.lock();
        // The stage before any queue: what a caller staged may precede a message it
        // queued since (see `stage.rs`).
        let stage_left = shared.staged() && !take_stage(shared, &mut outbox);

        let control = timing.begin(now, shared.last_heard(now), shared.pong_wanted())?;
        if control.ping {
            trace!("-> ping");
            shared.ping_sent(now);
            outbox.push_ping();
        }
        if control.pong {
            shared.pong_sent();
            trace!("-> pong");
            outbox.push_pong();
        }
        let more = outbox.fill(now) || stage_left;
        shared.sub_pending(outbox.take_finished());
        let batch = Batch {
            has_output: outbox.has_output(),
            more,
            flushing: state == ConnState::Flushing,
        };
        let write = timing.write_now(now, batch, control);
        if write {
            write_batch(shared, &mut outbox, &mut rate, &mut timing)?;
            timing.written();
        }
        let idle = outbox.is_idle();
        // The stage's buffer is the outbox's previous one: both are trimmed together.
        let oversized =
            idle && (outbox.oversized() || shared.stage.lock.lock().capacity() > IDLE_BUFFER);
        if timing.trim_now(now, idle, oversized) {
            outbox.trim();
            shared.stage.lock.lock().trim(IDLE_BUFFER);
        }
        drop(outbox);

        // Under the stage's lock, after `state` was read: see `enqueue.rs`.
        if state == ConnState::Flushing && idle && flush_done(shared) {
            shared.flushed();
        }
        if more || (write && !idle) {
            continue;
        }
        if linger(shared) {
            continue;
        }
        // Senders wake a waiting thread only (`wake_queued`): look once more for a
        // message queued before they could see it waiting.
        shared.wait_begin();
        let woken = if shared.has_queued() {
            Ok(())
        } else {
            wake.recv_deadline(timing.wake_at())
        };
        shared.wait_end();
        match woken {
            Ok(()) | Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

/// Whether nothing staged or pending is left for a flush (see `enqueue.rs`: decided
/// under the stage's lock).
fn flush_done(shared: &Shared) -> bool {
    let stage = shared.stage.lock.lock();
    stage.is_empty() && shared.pending() == 0
}

/// Takes the stage into the batch if it has room, and lets senders waiting for room in
/// the stage go on. Returns whether the stage is empty now.
fn take_stage(shared: &Shared, outbox: &mut Outbox) -> bool {
    let mut stage = shared.stage.lock.lock();
    let empty = outbox.absorb(&mut stage);
    if empty {
        shared.stage.signal.hint.set(0);
    }
    drop(stage);
    if empty {
        shared.stage.signal.taken.notify_all();
    }
    empty
}

/// Watches the queues for a moment before waiting (2^step spin-loop hints for each step
/// up to `LINGER_STEPS`: 15, well under a microsecond): a sender streaming messages has usually
/// queued the next one by then, and it neither wakes the thread nor tries the direct path
/// (both are for a thread that waits), so a stream costs no wake-up and no outbox lock per
/// message. It never yields: a sender that pauses longer finds the thread waiting, and a
/// lone message then goes out on the direct path without a thread hop. Returns whether a
/// message came.
fn linger(shared: &Shared) -> bool {
    for step in 0..=LINGER_STEPS {
        if shared.has_queued() {
            return true;
        }
        for _ in 0..1u32 << step {
            std::hint::spin_loop();
        }
    }
    false
}

/// [`linger`]'s steps.
const LINGER_STEPS: u32 = 3;

/// Writes the whole batch, honouring the send rate. On a stall it looks at the keepalive
/// (a peer that neither reads nor answers is dropped) and at stop, then goes on.
fn write_batch(
    shared: &Shared,
    outbox: &mut Outbox,
    rate: &mut Option<TokenBucket>,
    timing: &mut SendTiming,
) -> Result<(), Error> {
    loop {
        let mut limit = usize::MAX;
        if let Some(bucket) = rate.as_mut() {
            match bucket.grant(Instant::now(), outbox.unwritten()) {
                Grant::Now(n) => limit = n,
                Grant::Wait(d) => {
                    std::thread::sleep(d);
                    if shared.state() == ConnState::Stopping {
                        return Ok(());
                    }
                    continue;
                }
            }
        }
        let mut sent = 0;
        let res = outbox.write_some(limit, None, |n| {
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
                if shared.state() == ConnState::Stopping {
                    return Ok(());
                }
                let now = Instant::now();
                if timing.on_stall(now, shared.last_heard(now))? {
                    shared.ping_sent(now);
                    outbox.push_ping();
                }
            }
        }
    }
}

/// Writes `msg` on channel `idx` from the caller's thread if the connection is idle (and
/// neither `flush_throttle` nor `send_rate` asks for the send thread's timing), for at
/// most `timeout` (what is left then goes to the send thread). `Err(msg)` means "use
/// the queue".
#[inline]
pub(crate) fn direct(
    shared: &Shared,
    idx: usize,
    msg: Bytes,
    timeout: Duration,
) -> Result<Result<(), SendError>, Bytes> {
    // A busy send thread holds the outbox lock (and batches this message with the rest);
    // staged packets go first. Two loads, inlined: a stream pays no call for them.
    if !shared.send_waiting() || shared.staged() {
        return Err(msg);
    }
    direct_write(shared, idx, msg, timeout)
}

/// [`direct`] once the send thread was seen waiting with nothing staged.
#[inline(never)]
fn direct_write(
    shared: &Shared,
    idx: usize,
    msg: Bytes,
    timeout: Duration,
) -> Result<Result<(), SendError>, Bytes> {
    // One write may block for the transport's write timeout: only a caller that can
    // wait that long writes directly.
    let cfg = &shared.config;
    let throttled = !cfg.flush_throttle.is_zero() || cfg.send_rate.is_some();
    if throttled || timeout < cfg.send_timeout.min(TCP_WRITE_TIMEOUT) {
        return Err(msg);
    }
    let Some(mut outbox) = shared.outbox.try_lock() else {
        return Err(msg);
    };
    if !outbox.is_idle() || !shared.is_running() {
        return Err(msg);
    }
    // Read the clock only once the cheap checks passed.
    let now = Instant::now();
    // Not within DIRECT_GAP of the previous direct write: a caller sending back to back
    // is better served by the send thread, which batches its messages into few writes.
    if outbox
        .last_direct
        .is_some_and(|t| now.saturating_duration_since(t) < DIRECT_GAP)
    {
        return Err(msg);
    }
    // Nothing staged, nothing on its way to a queue; and from now on this message is
    // pending, so nobody stages a packet that could land between its packets.
    {
        let stage = shared.stage.lock.lock();
        // Also the flush's running check (see `enqueue.rs`); a refusal comes from there.
        if !stage.is_empty() || shared.pending() != 0 || !shared.is_running() {
            return Err(msg);
        }
        shared.add_pending();
    }
    let keep = msg.clone();
    let until = time::deadline(now, timeout);
    let res = threads::catch(|| {
        outbox.start(idx, msg);
        outbox.fill(now);
        shared.sub_pending(outbox.take_finished());
        outbox.write_some(usize::MAX, Some(until), |n| count_written(shared, n))
    });
    outbox.last_direct = Some(Instant::now());
    let left = outbox.has_output() || outbox.has_pending();
    drop(outbox);
    match res {
        Ok(Ok(_)) => {
            if left {
                shared.wake();
            }
            Ok(Ok(()))
        }
        Ok(Err(e)) => {
            shared.begin_stop(Some(e.into()));
            Ok(Err(SendError::Closed(keep)))
        }
        Err(p) => {
            let why = format!("the transport's writer (or mconn) panicked in send: {p}");
            shared.begin_stop(Some(Error::Panicked(why)));
            Ok(Err(SendError::Closed(keep)))
        }
    }
}
