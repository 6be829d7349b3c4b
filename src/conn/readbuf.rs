//! The recv thread's read buffer. Pure apart from the `Read` it is handed.
//!
//! Bytes are read into large blocks; a message that fits in one packet is handed out as a
//! `Bytes` view of its block, so it is never copied after the read. A block is freed when
//! every message cut from it has been dropped, so holding many small received messages for
//! a long time keeps their blocks alive: copy them if you keep them.

use std::io::{self, Read};

use bytes::{Buf, Bytes, BytesMut};

/// Default size of a read block.
pub const READ_BLOCK: usize = 64 * 1024;

pub(crate) struct ReadBuf {
    /// `buf[..filled]` is data not yet consumed; `buf[filled..]` is zeroed free space.
    buf: BytesMut,
    filled: usize,
    block: usize,
    min_free: usize,
}

impl ReadBuf {
    /// A buffer that reads into blocks of `block` bytes and always has room for
    /// `min_free` more bytes (the largest packet) before a read.
    pub fn new(block: usize, min_free: usize) -> Self {
        ReadBuf {
            buf: BytesMut::new(),
            filled: 0,
            block: block.max(2 * min_free),
            min_free,
        }
    }

    /// The bytes read and not yet consumed.
    pub fn data(&self) -> &[u8] {
        &self.buf[..self.filled]
    }

    /// Drops the first `n` bytes of data.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.filled);
        self.buf.advance(n);
        self.filled -= n;
    }

    /// Takes the first `n` bytes of data without copying them.
    pub fn take(&mut self, n: usize) -> Bytes {
        debug_assert!(n <= self.filled);
        self.filled -= n;
        self.buf.split_to(n).freeze()
    }

    /// Reads at most `max` bytes (at least one) from `r`; `Ok(0)` is the end of the stream.
    pub fn read_from<R: Read + ?Sized>(&mut self, r: &mut R, max: usize) -> io::Result<usize> {
        if self.buf.len() - self.filled < self.min_free {
            let mut next = BytesMut::zeroed(self.block.max(self.filled + self.min_free));
            next[..self.filled].copy_from_slice(&self.buf[..self.filled]);
            self.buf = next;
        }
        let end = self.buf.len().min(self.filled.saturating_add(max.max(1)));
        loop {
            match r.read(&mut self.buf[self.filled..end]) {
                Ok(n) => {
                    self.filled += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_takes_and_keeps_partial_data_across_blocks() {
        let src: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let mut r = &src[..];
        let mut rb = ReadBuf::new(64, 32);
        let mut got = Vec::new();
        loop {
            let n = rb.read_from(&mut r, usize::MAX).unwrap();
            if n == 0 {
                break;
            }
            // Leave a few bytes behind each time so they must move to the next block.
            while rb.data().len() > 7 {
                let b = rb.take(5);
                got.extend_from_slice(&b);
                rb.consume(0);
            }
        }
        got.extend_from_slice(rb.data());
        assert_eq!(got, src);
    }

    #[test]
    fn respects_max_and_room_for_a_packet() {
        let src = [1u8; 100];
        let mut r = &src[..];
        let mut rb = ReadBuf::new(64, 40);
        assert_eq!(rb.read_from(&mut r, 3).unwrap(), 3);
        assert_eq!(rb.data(), &[1, 1, 1]);
        rb.consume(2);
        assert_eq!(rb.data(), &[1]);
        let n = rb.read_from(&mut r, usize::MAX).unwrap();
        assert!(n >= 40, "at least min_free of room: {n}");
    }
}
