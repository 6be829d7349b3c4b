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

use super::format::{FrameFormat, FrameNonce};
use super::frame::open;
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
    /// Plaintext of the last opened frame not yet handed out.
    plain: Range<usize>,
    /// A frame failed to open: the stream is unusable from here on.
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
            plain: 0..0,
            failed: None,
        }
    }

    /// Opens the next buffered frame, if a whole one is buffered.
    fn open_next(&mut self) -> Result<bool, SecretError> {
        if self.sealed.len() < F::SEALED_FRAME_SIZE {
            return Ok(false);
        }
        let frame = self.sealed.start..self.sealed.start + F::SEALED_FRAME_SIZE;
        let nonce = self.nonce;
        self.nonce.advance()?;
        let chunk = open(&self.cipher, &nonce, &mut self.buf[frame.clone()])?;
        self.sealed.start = frame.end;
        self.plain = frame.start + chunk.start..frame.start + chunk.end;
        Ok(true)
    }

    /// Reads decrypted bytes into `out`. Blocks (in `r.read`) only when nothing is
    /// buffered. `Ok(0)` is a clean end of stream, between two frames.
    ///
    /// Errors: `r`'s errors as they are (a stall keeps any partial frame for the next
    /// call); `UnexpectedEof` if the stream ends inside a frame; a frame that fails to
    /// open is `Error::Secret` carried in an `io::Error`, now and on every later call.
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
            if let Some(e) = &self.failed {
                if n > 0 {
                    return Ok(n);
                }
                return Err(Error::Secret(e.clone()).into());
            }
            match self.open_next() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    self.failed = Some(e);
                    continue;
                }
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
