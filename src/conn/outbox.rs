//! The [`Outbox`]: what a connection has to send and the writer it goes to. Pure state
//! (the only I/O is the writer it is given, a `Vec<u8>` in the tests).
//!
//! It holds the channels' send side, the batch of encoded packets being written, and the
//! writer, behind one lock in the connection. [`fill`](Outbox::fill) gathers packets from
//! the channels in scheduler order into the batch, up to `send_buffer_size` bytes;
//! [`write_some`](Outbox::write_some) hands the batch to the writer. Both the send thread
//! and a caller writing directly (see `send.rs`) drive it.

use std::io::{self, Write};
use std::time::Instant;

use bytes::Bytes;

use super::batch::Batch;
use super::channel::SendChannel;
use super::codec::Codec;
use super::schedule::{self, Decay, Schedulable};
use super::stage::Stage;
use crate::transport::is_stall;

/// The most batch buffer an idle connection keeps.
pub(crate) const IDLE_BUFFER: usize = 16 * 1024;

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
pub(crate) struct Outbox {
    channels: Vec<SendChannel>,
    batch: Batch,
    writer: Box<dyn Write + Send>,
    codec: Codec,
    decay: Decay,
    max_payload: usize,
    /// The batch is filled up to this many bytes.
    limit: usize,
    /// Large messages' chunks go into the batch by reference (see `batch.rs`).
    by_ref: bool,
    /// The writer accepted everything but its `flush` stalled: it still holds bytes.
    flush_pending: bool,
    /// The writer was released (the send thread exited); nothing may be written.
    closed: bool,
    /// Messages whose last packet went into the batch since [`take_finished`] was
    /// last called (queued or direct ones; staged ones were never pending).
    ///
    /// [`take_finished`]: Outbox::take_finished
    finished: usize,
    /// When the last direct write ended (the direct path's rule, in `send.rs`).
    pub last_direct: Option<Instant>,
}

/// What an [`Outbox`] is built from.
pub(crate) struct OutboxParts {
    pub channels: Vec<SendChannel>,
    pub writer: Box<dyn Write + Send>,
    pub codec: Codec,
    pub max_payload: usize,
    pub batch: usize,
    /// The writer takes several slices at once (`writev`): see `batch.rs`.
    pub vectored: bool,
}

impl Outbox {
    pub fn new(p: OutboxParts, now: Instant) -> Self {
        Outbox {
            channels: p.channels,
            batch: Batch::default(),
            writer: p.writer,
            // A reference needs the payload to be the packet's tail, as go-wire's is.
            by_ref: p.vectored && p.codec.is_go_wire(),
            codec: p.codec,
            decay: Decay::new(now),
            max_payload: p.max_payload,
            limit: p.batch,
            // The transport may hold bytes from before (an encrypted handshake's stalled
            // write): the first round flushes them.
            flush_pending: true,
            closed: false,
            finished: 0,
            last_direct: None,
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
    pub fn start(&mut self, idx: usize, msg: Bytes) {
        self.channels[idx].start(msg);
    }

    /// Appends a ping to the batch.
    pub fn push_ping(&mut self) {
        self.codec.encode_ping(self.batch.buf());
    }

    /// Appends a pong to the batch.
    pub fn push_pong(&mut self) {
        self.codec.encode_pong(self.batch.buf());
    }

    /// Batch bytes not yet handed to the writer.
    pub fn unwritten(&self) -> usize {
        self.batch.unwritten()
    }

    /// Whether anything is left to write or to flush.
    pub fn has_output(&self) -> bool {
        self.batch.unwritten() > 0 || self.flush_pending
    }

    /// Fills the batch with packets in scheduler order until it holds `send_buffer_size`
    /// bytes or no channel has more. Returns whether data is still pending.
    pub fn fill(&mut self, now: Instant) -> bool {
        let steps = self.decay.due(now);
        if steps > 0 {
            self.channels.iter_mut().for_each(|c| c.decay(steps));
        }
        while self.batch.len() < self.limit {
            let Some(i) = schedule::pick(&self.channels) else {
                return false;
            };
            let ch = &mut self.channels[i];
            if ch
                .write_packet(&mut self.batch, &self.codec, self.max_payload, self.by_ref)
                .is_some()
                && !ch.in_hand()
            {
                self.finished += 1;
            }
            // A channel that streams small messages finishes one per packet: take its next
            // one now, while its queue slot is fresh (see `SendChannel::refill`). Only
            // with room left, so a full batch never holds a message out of its queue.
            if self.batch.len() < self.limit {
                ch.refill();
            }
        }
        self.has_pending()
    }

    /// Takes what callers staged into the batch, if the batch has room, and counts it
    /// for its channel (see `stage.rs`). Returns whether the stage is empty now.
    pub fn absorb(&mut self, stage: &mut Stage) -> bool {
        if self.closed || self.batch.len() >= self.limit {
            return stage.is_empty();
        }
        let before = self.batch.len();
        // (An empty buffer is swapped for the stage's: references at its start stay
        // before the staged bytes, as they came first.)
        if let Some(t) = stage.take_into(self.batch.buf()) {
            let wire = self.batch.len() - before;
            self.channels[t.channel].count_staged(t.msgs, t.payload, wire);
        }
        true
    }

    /// How many messages finished (see the field) since the last call.
    pub fn take_finished(&mut self) -> usize {
        std::mem::take(&mut self.finished)
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
        let stop_at = self
            .batch
            .len()
            .min(self.batch.written().saturating_add(limit));
        while self.batch.written() < stop_at {
            match self.batch.write_once(&mut *self.writer, stop_at) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    on_written(n);
                    if self.batch.written() < stop_at && until.is_some_and(|t| Instant::now() >= t)
                    {
                        return Ok(Written::Partial);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_stall(&e) => return Ok(Written::Stalled),
                Err(e) => return Err(e),
            }
        }
        if self.batch.unwritten() > 0 {
            return Ok(Written::Partial);
        }
        self.batch.clear();
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
        if self.batch.len() == 0 && self.batch.capacity() > IDLE_BUFFER {
            self.batch.release();
        }
    }

    /// Whether the batch buffer is larger than an idle connection should keep.
    pub fn oversized(&self) -> bool {
        self.batch.capacity() > IDLE_BUFFER
    }

    /// Releases the writer and the queues (the send thread is exiting): senders blocked
    /// on a full queue fail at once with `Closed`.
    pub fn close(&mut self) {
        self.closed = true;
        self.channels = Vec::new();
        self.writer = Box::new(io::sink());
        self.batch.release();
        self.flush_pending = false;
    }
}

#[cfg(test)]
mod tests;
