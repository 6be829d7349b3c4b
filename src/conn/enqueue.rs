//! A caller's message on its way in: staged (encoded into the stage by the caller), or
//! queued on its channel, as [`Stage::route`] decides; or, on an idle connection, written
//! directly (`send.rs`).
//!
//! The flush's promise (a sender that saw the connection running has its message
//! written by `flush_stop`, or is refused: never accepted and then dropped) rests on one
//! lock. A sender checks that the connection runs *under the stage's lock*, and there
//! either stages its message or counts it as `pending` before it goes to push it to a
//! queue (where it may wait for room). The send thread declares a flush done only under
//! the same lock, seeing the stage empty and nothing pending, after it saw the state
//! `Flushing`. So either the sender's turn at the lock came first, and the send thread
//! sees its message; or the send thread's did, and the sender sees `Flushing` and is
//! refused.

use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{SendTimeoutError, TrySendError as CbTrySendError};
use parking_lot::MutexGuard;

use super::shared::Shared;
use super::stage::{Route, Stage};
use crate::send_error::{SendError, TrySendError};
use crate::time;

/// Stages or queues `msg` on channel `idx`, waiting up to `timeout` for room.
pub(crate) fn send(s: &Shared, idx: usize, msg: Bytes, timeout: Duration) -> Result<(), SendError> {
    let mut until: Option<Instant> = None;
    loop {
        let mut stage = s.stage.lock.lock();
        if !s.is_running() {
            return Err(SendError::Closed(msg));
        }
        match route(s, &stage, idx, &msg) {
            Route::Stage => {
                stage_and_wake(s, stage, idx, &msg);
                return Ok(());
            }
            Route::Queue => {
                s.add_pending();
                drop(stage);
                // What is left of the timeout, if the sender waited for the stage first.
                let left = match until {
                    Some(until) => until.saturating_duration_since(Instant::now()),
                    None => timeout,
                };
                return queue(s, idx, msg, left);
            }
            Route::Wait => {
                // The clock is read only when a sender has to wait.
                let until = *until.get_or_insert_with(|| time::deadline(Instant::now(), timeout));
                if Instant::now() >= until {
                    return Err(SendError::Timeout(msg));
                }
                s.stage.signal.taken.wait_until(&mut stage, until);
            }
        }
    }
}

/// Stages or queues `msg` on channel `idx` if there is room now.
pub(crate) fn try_send(s: &Shared, idx: usize, msg: Bytes) -> Result<(), TrySendError> {
    // Certain refusals without the lock: a full queue means messages are pending, so the
    // message could not be staged either; and the stage's hint.
    if s.channels[idx].tx.is_full() || s.stage.signal.hint.refuses(idx, s.pending()) {
        return Err(TrySendError::Full(msg));
    }
    let stage = s.stage.lock.lock();
    if !s.is_running() {
        return Err(TrySendError::Closed(msg));
    }
    match route(s, &stage, idx, &msg) {
        Route::Stage => {
            stage_and_wake(s, stage, idx, &msg);
            Ok(())
        }
        Route::Wait => Err(TrySendError::Full(msg)),
        Route::Queue => {
            s.add_pending();
            drop(stage);
            match s.channels[idx].tx.try_send(msg) {
                Ok(()) => {
                    s.wake_queued();
                    Ok(())
                }
                Err(e) => {
                    s.sub_pending(1);
                    Err(match e {
                        CbTrySendError::Full(m) => TrySendError::Full(m),
                        CbTrySendError::Disconnected(m) => TrySendError::Closed(m),
                    })
                }
            }
        }
    }
}

/// Whether a `try_send` of any message of up to one packet on channel `idx` would find
/// room now (one of a full packet's payload is the hardest to place).
pub(crate) fn has_room(s: &Shared, idx: usize) -> bool {
    let stage = s.stage.lock.lock();
    let max = s.config.max_packet_msg_payload_size;
    match stage.route(idx, max, max, s.pending()) {
        Route::Stage => true,
        Route::Wait => false,
        Route::Queue => !s.channels[idx].tx.is_full(),
    }
}

#[inline]
fn route(s: &Shared, stage: &Stage, idx: usize, msg: &Bytes) -> Route {
    stage.route(
        idx,
        msg.len(),
        s.config.max_packet_msg_payload_size,
        s.pending(),
    )
}

/// Stages `msg`, releases the lock, and wakes the send thread if this is the first
/// packet since it last took the stage: until it takes the stage, its last look before
/// it waits sees it non-empty, so later packets need not wake it.
#[inline]
fn stage_and_wake(s: &Shared, mut stage: MutexGuard<'_, Stage>, idx: usize, msg: &Bytes) {
    let first = stage.is_empty();
    stage.push(idx, s.channels[idx].id, msg, &s.config.codec);
    s.stage
        .signal
        .hint
        .set(stage.hint(s.config.max_packet_msg_payload_size));
    drop(stage);
    if first {
        s.wake_queued();
    }
}

/// Queues `msg` (already counted in `pending`), waiting up to `timeout` for room.
fn queue(s: &Shared, idx: usize, msg: Bytes, timeout: Duration) -> Result<(), SendError> {
    // try_send first: the common case needs no clock reading for a deadline.
    let tx = &s.channels[idx].tx;
    let queued = match tx.try_send(msg) {
        Ok(()) => Ok(()),
        Err(CbTrySendError::Disconnected(m)) => Err(SendError::Closed(m)),
        Err(CbTrySendError::Full(m)) => match tx.send_timeout(m, timeout) {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Timeout(m)) => Err(SendError::Timeout(m)),
            Err(SendTimeoutError::Disconnected(m)) => Err(SendError::Closed(m)),
        },
    };
    match queued {
        Ok(()) => s.wake_queued(),
        Err(_) => s.sub_pending(1),
    }
    queued
}
