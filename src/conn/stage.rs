//! The [`Stage`]: packets that callers of `send` encoded themselves, waiting for the send
//! thread to take them into its batch in one move. The `Stage` is pure state; the
//! connection keeps it in a [`StageCell`], behind a lock of its own apart from the
//! outbox's, so that a caller never waits for a write in progress.
//!
//! A stream of small messages on one channel is the common case, and there the
//! scheduler's choice is trivial. Taking each message through its channel's queue cost a
//! queue slot written by the caller and read by the send thread, a reference count
//! touched by both, and the send thread's encoding: most of a small message's cost. A
//! staged message is encoded by the caller into the stage, and the send thread takes the
//! whole stage as its batch (a buffer swap).
//!
//! What may be staged ([`Stage::route`]) keeps both promises the queues keep:
//! - **Order per channel.** The stage holds one channel's packets at a time. A message
//!   of channel `c` is staged only if nothing is queued or being sent on any channel
//!   (`pending == 0`: everything before it is in the batch already), or if the stage
//!   holds `c`'s packets (it goes after them); and while the stage holds `c`'s packets, a
//!   message of `c` never goes to the queue (it waits for the send thread to take the
//!   stage), since the queue could be read first. The send thread takes the stage before
//!   it reads any queue.
//! - **The scheduler's priorities.** Once anything is queued (another channel is busy
//!   too), the stage takes no more: a message of `c` waits for the stage to be taken and
//!   then queues like the rest, so busy channels share the link by priority. Messages
//!   larger than one packet always go through the queue, so a large message's packets
//!   interleave with other channels' as the scheduler picks.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use parking_lot::{Condvar, Mutex};

use super::codec::Codec;
use crate::error::ChannelId;

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Encode it into the stage now.
    Stage,
    /// Put it in its channel's queue (counted in `pending` before it is pushed).
    Queue,
    /// Wait until the send thread takes the stage, then route it again.
    Wait,
}

/// Packets of one channel, encoded by callers, not yet taken by the send thread.
#[derive(Debug)]
pub(crate) struct Stage {
    buf: Vec<u8>,
    /// The channel (index) whose packets `buf` holds; `None` when empty.
    channel: Option<usize>,
    /// Messages and payload bytes in `buf`, for the channel's counters.
    msgs: u64,
    payload: u64,
    /// The most bytes the stage holds (the send thread's batch size): a caller who would
    /// go over waits for the send thread.
    limit: usize,
    /// The send thread has exited: nothing is staged any more.
    closed: bool,
}

/// What the send thread took from the stage: the bytes of `msgs` messages (`payload`
/// bytes of them) on channel `channel`.
#[derive(Debug)]
pub(crate) struct Staged {
    pub channel: usize,
    pub msgs: u64,
    pub payload: u64,
}

impl Stage {
    /// An empty stage holding at most `limit` bytes (one packet always fits).
    pub fn new(limit: usize) -> Self {
        Stage {
            buf: Vec::new(),
            channel: None,
            msgs: 0,
            payload: 0,
            limit,
            closed: false,
        }
    }

    /// Where a message of `len` bytes on channel `idx` goes, given the messages queued or
    /// being sent on all channels (`pending`) and the largest payload of one packet. See
    /// the [module docs](self).
    #[inline]
    pub fn route(&self, idx: usize, len: usize, max_payload: usize, pending: usize) -> Route {
        if self.closed {
            // The queue reports the connection closed.
            return Route::Queue;
        }
        match self.channel {
            Some(c) if c == idx => {
                let room = self.buf.len() + len + PACKET_OVERHEAD <= self.limit;
                if len <= max_payload && pending == 0 && room {
                    Route::Stage
                } else {
                    Route::Wait
                }
            }
            Some(_) => Route::Queue,
            None if len <= max_payload && pending == 0 => Route::Stage,
            None => Route::Queue,
        }
    }

    /// Encodes `msg` (at most one packet's payload: `route` said [`Route::Stage`]) as one
    /// packet of channel `id` (index `idx`).
    #[inline]
    pub fn push(&mut self, idx: usize, id: ChannelId, msg: &[u8], codec: &Codec) {
        debug_assert!(self.channel.map_or(true, |c| c == idx));
        codec.encode_msg_fast(&mut self.buf, id, true, msg);
        self.channel = Some(idx);
        self.msgs += 1;
        self.payload += msg.len() as u64;
    }

    /// Whether nothing is staged.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.channel.is_none()
    }

    /// Moves the staged bytes to the end of `batch` (swapping buffers when `batch` is
    /// empty, so nothing is copied) and empties the stage. `None` if it was empty.
    pub fn take_into(&mut self, batch: &mut Vec<u8>) -> Option<Staged> {
        let channel = self.channel.take()?;
        if batch.is_empty() {
            std::mem::swap(batch, &mut self.buf);
        } else {
            batch.extend_from_slice(&self.buf);
        }
        self.buf.clear();
        let taken = Staged {
            channel,
            msgs: self.msgs,
            payload: self.payload,
        };
        self.msgs = 0;
        self.payload = 0;
        Some(taken)
    }

    /// Gives back a buffer larger than `keep` bytes while empty (an idle connection keeps
    /// little).
    pub fn trim(&mut self, keep: usize) {
        if self.is_empty() && self.buf.capacity() > keep {
            self.buf = Vec::new();
        }
    }

    /// The send thread exited: drops what is staged and stages nothing more.
    pub fn close(&mut self) {
        self.closed = true;
        self.channel = None;
        self.buf = Vec::new();
        self.msgs = 0;
        self.payload = 0;
    }

    /// Buffer bytes held.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// The stage behind its lock; the signal that the send thread took it (senders wait for
/// that when the stage is full); and whether it holds anything (read without the lock
/// by the send thread as it lingers). Each on lines of its own: the send thread's reads
/// of the flag and the signal's state must not take the lock's line from a sender, who
/// takes the lock for every message.
pub(crate) struct StageCell {
    pub lock: Aligned<Mutex<Stage>>,
    pub taken: Aligned<Condvar>,
    /// Set under `lock` when the stage becomes non-empty, cleared when it is taken.
    pub staged: Aligned<Flag>,
}

/// A value alone on its cache lines (128 bytes: two lines, for adjacent-line prefetch).
#[repr(align(128))]
pub(crate) struct Aligned<T>(pub T);

impl<T> std::ops::Deref for Aligned<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A flag read without a lock.
pub(crate) struct Flag(AtomicBool);

impl Flag {
    #[inline]
    pub fn get(&self) -> bool {
        self.0.load(Relaxed)
    }

    #[inline]
    pub fn set(&self, v: bool) {
        self.0.store(v, Relaxed);
    }
}

impl StageCell {
    /// `stage`, behind its lock.
    pub fn new(stage: Stage) -> Self {
        StageCell {
            lock: Aligned(Mutex::new(stage)),
            taken: Aligned(Condvar::new()),
            staged: Aligned(Flag(AtomicBool::new(false))),
        }
    }

    /// The send thread exited: nothing more is staged, and waiting senders go on (to a
    /// queue that reports the connection closed).
    pub fn close(&self) {
        let mut stage = self.lock.lock();
        stage.close();
        self.staged.set(false);
        drop(stage);
        self.taken.notify_all();
    }
}

/// Room counted for a packet's framing beyond its payload when checking the limit
/// (go-wire's is at most 10 bytes; the codec contract allows 74).
const PACKET_OVERHEAD: usize = 74;

#[cfg(test)]
mod tests;
