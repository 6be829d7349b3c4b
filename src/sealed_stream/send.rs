//! The sending direction's state: the cipher, our send nonce, and the sealed frames not
//! yet written, for either family's [`FrameFormat`]. Shared by a connection and the
//! writer half of its transport.
//!
//! Writes are resumable: a write that stalls (a socket write timeout) keeps its sealed
//! ciphertext and finishes writing it on the next `write` or `flush`, so no byte is lost
//! or sent twice, and the nonce always matches what the peer expects next.
//!
//! Each `write` or `flush` makes at most one socket write that can block (a short one
//! means the socket is full: a blocking socket only returns short once its write timeout
//! passed), so one call blocks for at most about one socket write timeout, which is what
//! lets a caller of `MConnection::send` keep its own timeout.

use std::io::{self, IoSlice, Write};

use super::format::{FrameFormat, DATA_MAX_SIZE};
use super::frame::{pad_with, tag_and_body};
use crate::error::Error;
use crate::transport::is_stall;

/// Most frames sealed by one `write` call (64 KiB of data, written in one system call
/// where the socket takes it).
pub(crate) const MAX_FRAMES_PER_WRITE: usize = 64;

pub(crate) struct SendState<F: FrameFormat> {
    cipher: F,
    nonce: F::Nonce,
    /// Sealed frames in `out[..sealed]`; `out[written..sealed]` is not yet written.
    /// `out` keeps its length between calls (what lies past `sealed` is stale and never
    /// sent), so sealing does not zero 64 KiB first only to overwrite it.
    out: Vec<u8>,
    sealed: usize,
    written: usize,
}

impl<F: FrameFormat> SendState<F> {
    /// Sends with `cipher`, the first frame under `nonce`.
    pub fn new(cipher: F, nonce: F::Nonce) -> Self {
        SendState {
            cipher,
            nonce,
            out: Vec::new(),
            sealed: 0,
            written: 0,
        }
    }

    /// Whether sealed bytes are waiting to be written.
    pub fn has_pending(&self) -> bool {
        self.written < self.sealed
    }

    /// Offers all pending ciphertext to `w` in one write. `Ok` if it took it all;
    /// `WouldBlock` if it took less (the socket is full: call again); other errors as
    /// they are. What is left stays pending.
    fn drain_once<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<()> {
        let offered = self.sealed - self.written;
        let n = loop {
            match w.write(&self.out[self.written..self.sealed]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        self.written += n;
        if n < offered {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "socket full: sealed bytes left to write",
            ));
        }
        self.sealed = 0;
        self.written = 0;
        Ok(())
    }

    /// Seals up to [`MAX_FRAMES_PER_WRITE`] frames of the bytes of `bufs`, in order, into
    /// the (empty) pending buffer. Returns how many bytes were sealed.
    fn seal(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        debug_assert!(!self.has_pending());
        let total = bufs.iter().fold(0usize, |n, b| n.saturating_add(b.len()));
        let want = total.min(MAX_FRAMES_PER_WRITE * DATA_MAX_SIZE);
        let frames = (want + DATA_MAX_SIZE - 1) / DATA_MAX_SIZE;
        self.sealed = 0;
        self.written = 0;
        let room = frames * F::SEALED_FRAME_SIZE;
        if self.out.len() < room {
            self.out.resize(room, 0);
        }
        // Every byte of each frame is written: its length, chunk and zero padding here
        // (the chunk gathered from the slices), its tag when it is sealed.
        let mut from = Gather { bufs, at: 0 };
        let slots = self.out[..room].chunks_exact_mut(F::SEALED_FRAME_SIZE);
        for (k, slot) in slots.enumerate() {
            let len = (want - k * DATA_MAX_SIZE).min(DATA_MAX_SIZE);
            let body = tag_and_body::<F>(slot).1;
            pad_with::<F>(len, body, |data| from.copy_to(data)).map_err(Error::Secret)?;
        }
        let (frames, failed) = self
            .cipher
            .seal_frames(&mut self.nonce, &mut self.out[..room]);
        self.sealed = frames * F::SEALED_FRAME_SIZE;
        // Frames left unsealed (the nonce ran out) keep no plaintext behind.
        self.out[self.sealed..room].fill(0);
        if let (0, Some(e)) = (frames, failed) {
            return Err(Error::Secret(e).into());
        }
        // Send what was sealed; if that is not all, the next call reports why.
        Ok(want.min(frames * DATA_MAX_SIZE))
    }

    /// Seals up to [`MAX_FRAMES_PER_WRITE`] frames of `buf` (each non-empty call makes
    /// its own frames) and writes them. Returns how many bytes of `buf` were taken: once
    /// sealed they count as written even if the socket did not take them all; the rest
    /// goes out with the next `write` or `flush`.
    ///
    /// Each call makes at most one socket write that can block. Earlier ciphertext is
    /// written first; if the socket does not take it all, the stall is returned and
    /// nothing of `buf` is taken; if it does, `buf`'s frames are sealed and left for the
    /// next call.
    pub fn write<W: Write + ?Sized>(&mut self, w: &mut W, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(w, &[IoSlice::new(buf)])
    }

    /// [`write`](Self::write) of the bytes of `bufs`, in order: the frames are cut from
    /// the slices as from one buffer, each chunk copied once, into its frame.
    pub fn write_vectored<W: Write + ?Sized>(
        &mut self,
        w: &mut W,
        bufs: &[IoSlice<'_>],
    ) -> io::Result<usize> {
        if bufs.iter().all(|b| b.is_empty()) {
            return Ok(0);
        }
        let had_pending = self.has_pending();
        if had_pending {
            self.drain_once(w)?;
        }
        let take = self.seal(bufs)?;
        if !had_pending {
            match self.drain_once(w) {
                Err(e) if !is_stall(&e) => return Err(e),
                _ => {}
            }
        }
        Ok(take)
    }

    /// Writes the pending ciphertext (in one socket write), then flushes `w`.
    ///
    /// Errors: a stall (`WouldBlock`/`TimedOut`, or a socket that took only part of the
    /// bytes) means "call again"; anything else is fatal.
    pub fn flush<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<()> {
        if self.has_pending() {
            self.drain_once(w)?;
        }
        w.flush()
    }
}

/// The bytes of several slices read in order, as one buffer.
struct Gather<'a, 'b> {
    bufs: &'a [IoSlice<'b>],
    /// Bytes of `bufs[0]` already read.
    at: usize,
}

impl Gather<'_, '_> {
    /// Copies the next `out.len()` bytes into `out` (the caller knows they are there).
    fn copy_to(&mut self, mut out: &mut [u8]) {
        while !out.is_empty() {
            let Some((first, rest)) = self.bufs.split_first() else {
                debug_assert!(false, "fewer bytes than asked for");
                return;
            };
            let n = (first.len() - self.at).min(out.len());
            let (head, tail) = out.split_at_mut(n);
            head.copy_from_slice(&first[self.at..self.at + n]);
            out = tail;
            self.at += n;
            if self.at == first.len() {
                self.bufs = rest;
                self.at = 0;
            }
        }
    }
}
