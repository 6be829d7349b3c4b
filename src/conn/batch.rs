//! The send [`Batch`]: the bytes the send thread writes next. Pure state; the only I/O is
//! the writer a write is given (a `Vec<u8>` in the tests).
//!
//! Packets are encoded into one buffer, except that the payloads of large messages may
//! be held *by reference* (a `Bytes` slice of the message) at a point of that buffer, so
//! a writer that takes several slices at once (`writev` on a TCP socket) sends them
//! without their being copied first: for a 1 MiB message that copy was a third of the
//! send thread's time. The stream the writer sees is the same either way: the buffer up
//! to the first reference, that reference's bytes, the buffer on to the next, and so on.

use std::io::{self, IoSlice, Write};
use std::ops::Range;

use bytes::Bytes;

/// Most slices handed to one vectored write (Linux's `IOV_MAX` is 1024).
const MAX_SLICES: usize = 1024;

/// A payload held by reference, written after `at` bytes of the buffer: bytes `range`
/// of `owners[owner]`.
struct Ref {
    at: usize,
    owner: usize,
    range: Range<usize>,
}

/// Encoded packets, some payloads by reference, and how much of them is written.
#[derive(Default)]
pub(crate) struct Batch {
    buf: Vec<u8>,
    refs: Vec<Ref>,
    /// The messages the references are slices of, each once (a message's chunks follow
    /// each other, so one reference count per message and batch, not per chunk: the
    /// count's updates were 3 % of a 1 MiB stream's send thread).
    owners: Vec<Bytes>,
    /// Bytes held by reference, in all.
    ref_len: usize,
    /// Bytes of the stream handed to the writer.
    written: usize,
    /// References wholly written, and their bytes.
    done: usize,
    done_len: usize,
}

impl Batch {
    /// Bytes in the stream (the buffer and the references).
    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len() + self.ref_len
    }

    /// Bytes not yet handed to the writer.
    #[inline]
    pub fn unwritten(&self) -> usize {
        self.len() - self.written
    }

    /// Bytes handed to the writer.
    #[inline]
    pub fn written(&self) -> usize {
        self.written
    }

    /// The buffer, to append encoded bytes to (they follow everything in the batch).
    #[inline]
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Appends bytes `range` of `msg` to the stream by reference.
    pub fn push_ref(&mut self, msg: &Bytes, range: Range<usize>) {
        // In bounds, or a panic here rather than in a write.
        let _ = &msg[range.clone()];
        // The last owner is this message if it is the same slice of the same memory
        // (which the owner keeps alive, so no other message can be there).
        let same = self
            .owners
            .last()
            .is_some_and(|o| o.as_ptr() == msg.as_ptr() && o.len() == msg.len());
        if !same {
            self.owners.push(msg.clone());
        }
        self.ref_len += range.len();
        self.refs.push(Ref {
            at: self.buf.len(),
            owner: self.owners.len() - 1,
            range,
        });
    }

    /// The bytes reference `r` stands for.
    #[inline]
    fn bytes_of(&self, r: &Ref) -> &[u8] {
        &self.owners[r.owner][r.range.clone()]
    }

    /// The buffer's capacity (what an idle connection keeps).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Empties the batch, keeping the buffer's capacity.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.refs.clear();
        self.owners.clear();
        self.ref_len = 0;
        self.written = 0;
        self.done = 0;
        self.done_len = 0;
    }

    /// Empties the batch and gives its buffer back.
    pub fn release(&mut self) {
        *self = Batch::default();
    }

    /// One write of the stream from where it stands up to `stop_at` (a position in the
    /// stream): a plain `write` while nothing is held by reference, else a vectored one.
    /// Counts what the writer took and returns it.
    pub fn write_once(&mut self, w: &mut dyn Write, stop_at: usize) -> io::Result<usize> {
        let stop_at = stop_at.min(self.len());
        let n = if self.refs.is_empty() {
            w.write(&self.buf[self.written..stop_at])?
        } else {
            let mut slices = Vec::with_capacity(MAX_SLICES.min(2 * self.refs.len() + 1));
            self.gather(stop_at, &mut slices);
            w.write_vectored(&slices)?
        };
        self.advance(n);
        Ok(n)
    }

    /// The stream from `written` to `stop_at`, as at most [`MAX_SLICES`] slices.
    fn gather<'a>(&'a self, stop_at: usize, out: &mut Vec<IoSlice<'a>>) {
        let written = self.written;
        let take = |out: &mut Vec<IoSlice<'a>>, start: usize, bytes: &'a [u8]| {
            // `start` is where `bytes` begins in the stream: keep its part in
            // written..stop_at.
            let end = start + bytes.len();
            let (from, to) = (written.max(start), stop_at.min(end));
            if from < to && out.len() < MAX_SLICES {
                out.push(IoSlice::new(&bytes[from - start..to - start]));
            }
        };
        // Where the buffer's part after reference `i - 1` begins, in the buffer and in
        // the stream; the references before `done` are written.
        let mut at = self.done.checked_sub(1).map_or(0, |i| self.refs[i].at);
        let mut pos = at + self.done_len;
        for r in &self.refs[self.done..] {
            if pos >= stop_at || out.len() >= MAX_SLICES {
                return;
            }
            take(out, pos, &self.buf[at..r.at]);
            pos += r.at - at;
            take(out, pos, self.bytes_of(r));
            pos += r.range.len();
            at = r.at;
        }
        take(out, pos, &self.buf[at..]);
    }

    /// Counts `n` more bytes written.
    fn advance(&mut self, n: usize) {
        self.written += n;
        while let Some(r) = self.refs.get(self.done) {
            // The stream position where reference `done` ends.
            let end = r.at + self.done_len + r.range.len();
            if end > self.written {
                break;
            }
            self.done_len += r.range.len();
            self.done += 1;
        }
    }
}

#[cfg(test)]
mod tests;
