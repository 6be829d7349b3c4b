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
    buf: Vec<u8>,
    written: usize,
    writer: Box<dyn Write + Send>,
    codec: Codec,
    decay: Decay,
    max_payload: usize,
    batch: usize,
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
}

impl Outbox {
    pub fn new(p: OutboxParts, now: Instant) -> Self {
        Outbox {
            channels: p.channels,
            buf: Vec::new(),
            written: 0,
            writer: p.writer,
            codec: p.codec,
            decay: Decay::new(now),
            max_payload: p.max_payload,
            batch: p.batch,
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
        self.codec.encode_ping(&mut self.buf);
    }

    /// Appends a pong to the batch.
    pub fn push_pong(&mut self) {
        self.codec.encode_pong(&mut self.buf);
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
            let ch = &mut self.channels[i];
            if ch
                .write_packet(&mut self.buf, &self.codec, self.max_payload)
                .is_some()
                && !ch.in_hand()
            {
                self.finished += 1;
            }
            // A channel that streams small messages finishes one per packet: take its next
            // one now, while its queue slot is fresh (see `SendChannel::refill`). Only
            // with room left, so a full batch never holds a message out of its queue.
            if self.buf.len() < self.batch {
                ch.refill();
            }
        }
        self.has_pending()
    }

    /// Takes what callers staged into the batch, if the batch has room, and counts it
    /// for its channel (see `stage.rs`). Returns whether the stage is empty now.
    pub fn absorb(&mut self, stage: &mut Stage) -> bool {
        if self.closed || self.buf.len() >= self.batch {
            return stage.is_empty();
        }
        let before = self.buf.len();
        if let Some(t) = stage.take_into(&mut self.buf) {
            let wire = self.buf.len() - before;
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

#[cfg(test)]
mod tests;
