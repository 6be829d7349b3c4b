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

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use parking_lot::{Condvar, Mutex};

use super::codec::Codec;
use crate::error::ChannelId;

/// The most bytes the stage holds, whatever `send_buffer_size` is (a smaller
/// `send_buffer_size` bounds it further). Measured on an Intel Xeon (2 cores, loopback):
/// with 1 KiB messages, a stage of 128 KiB instead of the whole 512 KiB batch halved the
/// send thread's CPU per message (230 to 110 ns, the kernel's part of the write) and
/// took the bench's 1 KiB throughput from about 0.51 to 0.85 of raw TCP; 64 KiB made
/// callers wait for the send thread too often (0.43), 256 KiB gave 0.62. Only one-packet
/// messages are staged: larger ones still fill batches of `send_buffer_size`, which
/// 1 MiB messages need.
pub(crate) const MAX_STAGE: usize = 128 * 1024;

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
    /// The most bytes the stage holds (the send thread's batch size, at most
    /// [`MAX_STAGE`]): a caller who would go over waits for the send thread.
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
    /// An empty stage holding at most `limit` bytes, and never more than [`MAX_STAGE`]
    /// (one packet always fits).
    pub fn new(limit: usize) -> Self {
        Stage {
            buf: Vec::new(),
            channel: None,
            msgs: 0,
            payload: 0,
            limit: limit.min(MAX_STAGE),
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

    /// What [`Hint`] says of this stage, for messages of up to `max_payload` bytes.
    #[inline]
    pub fn hint(&self, max_payload: usize) -> usize {
        match self.channel {
            None => 0,
            Some(c) if self.buf.len() + max_payload + PACKET_OVERHEAD > self.limit => {
                (c + 1) | Hint::FULL
            }
            Some(c) => c + 1,
        }
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
/// by the send thread as it lingers). The lock on a cache line of its own, the other
/// two on another: the send thread's reads of the flag and the signal's state must not
/// take the lock's line from a sender, who takes the lock for every message.
pub(crate) struct StageCell {
    pub lock: Aligned<Mutex<Stage>>,
    /// Notified when the stage is taken, and whether it holds anything.
    pub signal: Aligned<Signal>,
}

/// A value alone on its cache line.
#[repr(align(64))]
pub(crate) struct Aligned<T>(pub T);

/// What senders and the send thread tell each other about the stage outside its lock.
pub(crate) struct Signal {
    pub taken: Condvar,
    /// [`Stage::hint`], stored under the lock whenever it changes.
    pub hint: Hint,
}

impl<T> std::ops::Deref for Aligned<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The stage's state for readers without the lock: 0 when empty, else its channel's
/// index + 1, with [`Hint::FULL`] when a full packet would not fit any more. The send
/// thread reads it as it lingers; a `try_send` that could only be refused reads it
/// instead of taking the lock, so that a caller spinning on `try_send` does not keep
/// the other senders (and the send thread) from the lock.
pub(crate) struct Hint(AtomicUsize);

impl Hint {
    /// Set with the channel when a full packet would not fit.
    pub const FULL: usize = 1 << (usize::BITS - 1);

    #[inline]
    pub fn get(&self) -> usize {
        self.0.load(Relaxed)
    }

    /// Stores `v` if it differs (a store only when the stage changes state).
    #[inline]
    pub fn set(&self, v: usize) {
        if self.0.load(Relaxed) != v {
            self.0.store(v, Relaxed);
        }
    }

    /// Whether anything is staged.
    #[inline]
    pub fn staged(&self) -> bool {
        self.get() != 0
    }

    /// Whether a `try_send` on channel `idx` would be refused for certain, given the
    /// messages pending: the stage holds that channel's packets and is full, or others
    /// are queued (the sender would have to wait for the stage to be taken).
    #[inline]
    pub fn refuses(&self, idx: usize, pending: usize) -> bool {
        let h = self.get();
        h & !Self::FULL == idx + 1 && (h & Self::FULL != 0 || pending > 0)
    }
}

impl StageCell {
    /// `stage`, behind its lock.
    pub fn new(stage: Stage) -> Self {
        StageCell {
            lock: Aligned(Mutex::new(stage)),
            signal: Aligned(Signal {
                taken: Condvar::new(),
                hint: Hint(AtomicUsize::new(0)),
            }),
        }
    }

    /// The send thread exited: nothing more is staged, and waiting senders go on (to a
    /// queue that reports the connection closed).
    pub fn close(&self) {
        let mut stage = self.lock.lock();
        stage.close();
        self.signal.hint.set(0);
        drop(stage);
        self.signal.taken.notify_all();
    }
}

/// Room counted for a packet's framing beyond its payload when checking the limit
/// (go-wire's is at most 10 bytes; the codec contract allows 74).
const PACKET_OVERHEAD: usize = 74;

#[cfg(test)]
mod tests;
