//! The receiving direction's state: the cipher, the peer's send nonce, and a buffer of
//! ciphertext read ahead, for either family's [`FrameFormat`]. Shared by a connection
//! and the reader half of its transport.
//!
//! Decrypted chunks are served as a plain byte stream: a chunk larger than the caller's
//! buffer is handed out over several reads (Go v0.12 loses the rest, see the vectors'
//! READ QUIRK; we do not copy that), an empty frame is skipped, and a message may span
//! frames or share one. Frames are opened in place in the read buffer, so reading
//! allocates nothing after the first read.

use std::io::{self, Read};
use std::ops::Range;

use super::format::FrameFormat;
use super::frame::chunk;
use crate::error::{Error, SecretError};

/// Size of the read-ahead buffer, in frames.
const READ_FRAMES: usize = 64;

pub(crate) struct RecvState<F: FrameFormat> {
    cipher: F,
    nonce: F::Nonce,
    /// Allocated on the first read.
    buf: Box<[u8]>,
    /// Ciphertext read but not yet opened.
    sealed: Range<usize>,
    /// Whole frames opened (all that were buffered, at once) but not yet handed out,
    /// their declared lengths not yet checked.
    opened: Range<usize>,
    /// Plaintext of the frame being handed out.
    plain: Range<usize>,
    /// A frame failed to open: the stream is unusable after the frames before it.
    failed: Option<SecretError>,
}

impl<F: FrameFormat> RecvState<F> {
    /// Receives with `cipher`, the first frame under `nonce`.
    pub fn new(cipher: F, nonce: F::Nonce) -> Self {
        RecvState {
            cipher,
            nonce,
            buf: Box::new([]),
            sealed: 0..0,
            opened: 0..0,
            plain: 0..0,
            failed: None,
        }
    }

    /// Opens every whole buffered frame (the cipher may do several at once). Returns
    /// whether that moved anything (frames opened, or one failed); a frame that fails to
    /// open is kept as `failed`, to be reported once the frames before it are handed out.
    fn open_buffered(&mut self) -> bool {
        let whole = self.sealed.len() / F::SEALED_FRAME_SIZE * F::SEALED_FRAME_SIZE;
        if whole == 0 {
            return false;
        }
        let slots = self.sealed.start..self.sealed.start + whole;
        let (frames, failed) = self
            .cipher
            .open_frames(&mut self.nonce, &mut self.buf[slots]);
        self.opened = self.sealed.start..self.sealed.start + frames * F::SEALED_FRAME_SIZE;
        self.sealed.start = self.opened.end;
        self.failed = failed;
        frames > 0 || self.failed.is_some()
    }

    /// Moves to the next opened frame's chunk; a declared length over 1024 fails the
    /// stream there.
    fn next_opened(&mut self) {
        let frame = self.opened.start..self.opened.start + F::SEALED_FRAME_SIZE;
        self.opened.start = frame.end;
        match chunk::<F>(&self.buf[frame.clone()]) {
            Ok(chunk) => self.plain = frame.start + chunk.start..frame.start + chunk.end,
            Err(e) => {
                self.opened = 0..0;
                self.failed = Some(e);
            }
        }
    }

    /// Reads decrypted bytes into `out`. Blocks (in `r.read`) only when nothing is
    /// buffered. `Ok(0)` is a clean end of stream, between two frames.
    ///
    /// Errors: `r`'s errors as they are (a stall keeps any partial frame for the next
    /// call); `UnexpectedEof` if the stream ends inside a frame; a frame that fails to
    /// open is `Error::Secret` carried in an `io::Error`, now and on every later call,
    /// once the frames before it are handed out.
    pub fn read<R: Read + ?Sized>(&mut self, r: &mut R, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let mut n = 0;
        loop {
            if !self.plain.is_empty() {
                let k = self.plain.len().min(out.len() - n);
                let from = self.plain.start;
                out[n..n + k].copy_from_slice(&self.buf[from..from + k]);
                self.plain.start += k;
                n += k;
                if n == out.len() {
                    return Ok(n);
                }
                continue;
            }
            if !self.opened.is_empty() {
                self.next_opened();
                continue;
            }
            if let Some(e) = &self.failed {
                if n > 0 {
                    return Ok(n);
                }
                return Err(Error::Secret(e.clone()).into());
            }
            if self.open_buffered() {
                continue;
            }
            if n > 0 {
                return Ok(n);
            }
            if self.fill(r)? == 0 {
                if self.sealed.is_empty() {
                    return Ok(0);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "secret connection: stream ended inside a sealed frame",
                ));
            }
        }
    }

    /// Reads more ciphertext after what is buffered. Returns the bytes read; 0 means
    /// the end of the stream.
    fn fill<R: Read + ?Sized>(&mut self, r: &mut R) -> io::Result<usize> {
        if self.buf.is_empty() {
            self.buf = vec![0u8; READ_FRAMES * F::SEALED_FRAME_SIZE].into_boxed_slice();
        }
        if self.sealed.start > 0 {
            // Less than a frame is left: move it to the front.
            self.buf.copy_within(self.sealed.clone(), 0);
            self.sealed = 0..self.sealed.len();
        }
        loop {
            match r.read(&mut self.buf[self.sealed.end..]) {
                Ok(k) => {
                    self.sealed.end += k;
                    return Ok(k);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
