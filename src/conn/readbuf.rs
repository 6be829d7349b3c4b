//! The recv thread's read buffer. Pure apart from the `Read` it is handed.
//!
//! Bytes are read into blocks; a message that fits in one packet is handed out as a
//! `Bytes` view of its block, so it is never copied after the read. A block is freed when
//! every message cut from it has been dropped, so holding many small received messages for
//! a long time keeps their blocks alive: copy them if you keep them.
//!
//! Blocks adapt to the traffic: an idle connection holds a small one, a busy one doubles
//! its blocks up to [`MAX_READ_BLOCK`] so large reads need few system calls, and halves
//! them again when reads come back nearly empty.

use std::io::{self, Read};

use bytes::{Buf, Bytes, BytesMut};

/// Smallest read block (an idle connection's).
pub const MIN_READ_BLOCK: usize = 4 * 1024;
/// Largest read block (a busy connection's).
pub const MAX_READ_BLOCK: usize = 256 * 1024;

pub(crate) struct ReadBuf {
    /// `buf[..filled]` is data not yet consumed; `buf[filled..]` is zeroed free space.
    buf: BytesMut,
    filled: usize,
    /// Size of the next block.
    block: usize,
    min_block: usize,
    max_block: usize,
    min_free: usize,
}

impl ReadBuf {
    /// A buffer whose blocks range from `min_block` to `max_block` bytes and that always
    /// has room for `min_free` more bytes (the largest packet) before a read.
    pub fn new(min_block: usize, max_block: usize, min_free: usize) -> Self {
        let min_block = min_block.max(2 * min_free);
        ReadBuf {
            buf: BytesMut::new(),
            filled: 0,
            block: min_block,
            min_block,
            max_block: max_block.max(min_block),
            min_free,
        }
    }

    /// The size the next block will have.
    #[cfg(test)]
    pub fn next_block(&self) -> usize {
        self.block
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
        let offered = end - self.filled;
        loop {
            match r.read(&mut self.buf[self.filled..end]) {
                Ok(n) => {
                    self.filled += n;
                    if n == offered {
                        self.block = (self.block * 2).min(self.max_block);
                    } else if n < offered / 16 {
                        self.block = (self.block / 2).max(self.min_block);
                    }
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
        let mut rb = ReadBuf::new(64, 64, 32);
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
        let mut rb = ReadBuf::new(64, 64, 40);
        assert_eq!(rb.read_from(&mut r, 3).unwrap(), 3);
        assert_eq!(rb.data(), &[1, 1, 1]);
        rb.consume(2);
        assert_eq!(rb.data(), &[1]);
        let n = rb.read_from(&mut r, usize::MAX).unwrap();
        assert!(n >= 40, "at least min_free of room: {n}");
    }

    #[test]
    fn blocks_grow_under_load_and_shrink_when_quiet() {
        let big = vec![0u8; 1 << 20];
        let mut r = &big[..];
        let mut rb = ReadBuf::new(1024, 16 * 1024, 100);
        assert_eq!(rb.next_block(), 1024);
        for _ in 0..20 {
            let n = rb.read_from(&mut r, usize::MAX).unwrap();
            rb.consume(n);
        }
        assert_eq!(rb.next_block(), 16 * 1024, "full reads double the blocks");
        // Now a trickle: one byte per read.
        for _ in 0..20 {
            let mut one: &[u8] = &[7];
            rb.read_from(&mut one, usize::MAX).unwrap();
            rb.consume(1);
        }
        assert_eq!(rb.next_block(), 1024, "near-empty reads halve them");
    }
}
