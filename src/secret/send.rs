//! The sending direction's state: the cipher, our send nonce, and the sealed frames not
//! yet written. Shared by [`SecretConnection`](super::SecretConnection) and the writer
//! half of its transport.
//!
//! Writes are resumable: a write that stalls (a socket write timeout) keeps its sealed
//! ciphertext and finishes writing it on the next `write` or `flush`, so no byte is lost
//! or sent twice, and the nonce always matches what the peer expects next.
//!
//! Each call does at most one socket write that the socket does not take whole: a partial
//! write means the socket is full (a blocking socket only returns short once its write
//! timeout passed), so the call returns rather than wait again. One `write` or `flush`
//! therefore blocks for at most about one socket write timeout, which is what lets a
//! caller of `MConnection::send` keep its own timeout.

use std::io::{self, Write};

use super::frame::FrameCipher;
use super::nonce::Nonce;
use super::{DATA_MAX_SIZE, SEALED_FRAME_SIZE};
use crate::error::Error;

/// Most frames sealed by one `write` call (64 KiB of data, written in one system call
/// where the socket takes it).
pub(crate) const MAX_FRAMES_PER_WRITE: usize = 64;

pub(crate) struct SendState {
    cipher: FrameCipher,
    nonce: Nonce,
    /// Sealed frames; `out[written..]` is not yet written.
    out: Vec<u8>,
    written: usize,
}

impl SendState {
    pub fn new(cipher: FrameCipher, nonce: Nonce) -> Self {
        SendState {
            cipher,
            nonce,
            out: Vec::new(),
            written: 0,
        }
    }

    /// Whether sealed bytes are waiting to be written.
    pub fn has_pending(&self) -> bool {
        self.written < self.out.len()
    }

    /// Writes the pending ciphertext, until the socket takes less than it is offered
    /// (then `WouldBlock`: full, call again) or fails. A stall (or any error) is returned
    /// as it is, with what is left kept for the next call.
    fn drain<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<()> {
        while self.written < self.out.len() {
            let offered = self.out.len() - self.written;
            match w.write(&self.out[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n;
                    if n < offered {
                        return Err(io::Error::new(
                            io::ErrorKind::WouldBlock,
                            "socket full: sealed bytes left to write",
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.written = 0;
        Ok(())
    }

    /// Seals up to [`MAX_FRAMES_PER_WRITE`] frames of `buf` (each non-empty call makes
    /// its own frames) and writes them. Returns how many bytes of `buf` were taken: once
    /// sealed they count as written even if the socket stalled before taking them all;
    /// the rest goes out with the next `write` or `flush`.
    ///
    /// Earlier ciphertext is written first; if that stalls, the stall is returned and
    /// nothing of `buf` is taken.
    pub fn write<W: Write + ?Sized>(&mut self, w: &mut W, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.drain(w)?;
        let want = buf.len().min(MAX_FRAMES_PER_WRITE * DATA_MAX_SIZE);
        let frames = (want + DATA_MAX_SIZE - 1) / DATA_MAX_SIZE;
        self.out.resize(frames * SEALED_FRAME_SIZE, 0);
        let mut take = 0;
        let chunks = buf[..want].chunks(DATA_MAX_SIZE);
        for (chunk, out) in chunks.zip(self.out.chunks_exact_mut(SEALED_FRAME_SIZE)) {
            // Advance first: a nonce is never used twice, even if sealing failed.
            let nonce = self.nonce;
            let sealed = self
                .nonce
                .advance()
                .and_then(|()| self.cipher.seal_slice(&nonce, chunk, out));
            if let Err(e) = sealed {
                if take == 0 {
                    self.out.clear();
                    return Err(Error::Secret(e).into());
                }
                // Send what was sealed; the next call reports the error.
                break;
            }
            take += chunk.len();
        }
        self.out
            .truncate((take + DATA_MAX_SIZE - 1) / DATA_MAX_SIZE * SEALED_FRAME_SIZE);
        match self.drain(w) {
            Ok(()) => Ok(take),
            Err(e) if is_stall(&e) => Ok(take),
            Err(e) => Err(e),
        }
    }

    /// Writes the pending ciphertext, then flushes `w`.
    ///
    /// Errors: a stall (`WouldBlock`/`TimedOut`) means "call again"; anything else is
    /// fatal.
    pub fn flush<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<()> {
        self.drain(w)?;
        w.flush()
    }
}

/// Whether an error only means the socket is not ready: the write may be retried.
pub(crate) fn is_stall(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
