//! The recv thread's read buffer. Pure apart from the `Read` it is handed.
//!
//! One buffer, reused: bytes are read into it, packets are decoded from it, and a message
//! that fits in one packet is copied out once into a `Bytes` of its own (so a received
//! message never keeps the read buffer alive, however long it is held).
//!
//! The buffer adapts to the traffic: an idle connection holds a small one, a busy one
//! doubles it up to [`MAX_READ_BLOCK`] so large reads need few system calls, and halves it
//! again when reads come back nearly empty. A packet larger than the buffer (with a large
//! `max_packet_msg_payload_size`) grows it by doubling as its bytes arrive, so memory
//! follows what the peer actually sent, never what a header claims or what the setting
//! allows. Only newly grown space is ever zeroed.

use std::io::{self, Read};

use bytes::Bytes;

/// Smallest read buffer (an idle connection's).
pub const MIN_READ_BLOCK: usize = 2 * 1024;
/// Largest read buffer (a busy connection's).
pub const MAX_READ_BLOCK: usize = 256 * 1024;

pub(crate) struct ReadBuf {
    /// `buf[start..end]` is data not yet consumed; the rest is free space.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The size the buffer should have.
    block: usize,
    min_block: usize,
    max_block: usize,
}

impl ReadBuf {
    /// A buffer of `min_block` to `max_block` bytes, larger only while it holds a packet
    /// that does not fit.
    pub fn new(min_block: usize, max_block: usize) -> Self {
        let min_block = min_block.max(1);
        ReadBuf {
            buf: Vec::new(),
            start: 0,
            end: 0,
            block: min_block,
            min_block,
            max_block: max_block.max(min_block),
        }
    }

    /// The size the buffer will have at the next read.
    #[cfg(test)]
    pub fn next_block(&self) -> usize {
        self.block
    }

    /// The bytes read and not yet consumed.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Drops the first `n` bytes of data.
    #[inline]
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Takes the first `n` bytes of data, copied into a buffer of their own.
    #[inline]
    pub fn take(&mut self, n: usize) -> Bytes {
        let b = Bytes::copy_from_slice(&self.buf[self.start..self.start + n]);
        self.consume(n);
        b
    }

    /// Moves the data to the front and resizes the buffer towards `block`. The data left
    /// at a read is one incomplete packet: if it fills more than half the block, the
    /// buffer doubles its size, so a packet of any size is read in a number of steps
    /// logarithmic in its size and never needs more than twice its size.
    fn make_room(&mut self) {
        let len = self.end - self.start;
        let want = self.block.max(2 * len);
        let shrink = self.buf.len() > 2 * want;
        if self.start > 0 && (len == 0 || shrink || self.buf.len() - self.end < want - len) {
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = len;
        }
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        } else if shrink {
            self.buf.truncate(want);
            self.buf.shrink_to_fit();
        }
    }

    /// Reads at most `max` bytes (at least one) from `r`; `Ok(0)` is the end of the stream.
    pub fn read_from<R: Read + ?Sized>(&mut self, r: &mut R, max: usize) -> io::Result<usize> {
        self.make_room();
        let stop = self.buf.len().min(self.end.saturating_add(max.max(1)));
        let offered = stop - self.end;
        loop {
            match r.read(&mut self.buf[self.end..stop]) {
                Ok(n) => {
                    self.end += n;
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

    /// Bytes the buffer holds (for tests of the memory bound).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_takes_and_keeps_partial_data_across_blocks() {
        let src: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let mut r = &src[..];
        let mut rb = ReadBuf::new(64, 64);
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
    fn respects_max_and_keeps_room() {
        let src = [1u8; 100];
        let mut r = &src[..];
        let mut rb = ReadBuf::new(64, 64);
        assert_eq!(rb.read_from(&mut r, 3).unwrap(), 3);
        assert_eq!(rb.data(), &[1, 1, 1]);
        rb.consume(2);
        assert_eq!(rb.data(), &[1]);
        let n = rb.read_from(&mut r, usize::MAX).unwrap();
        assert_eq!(n, 63, "the rest of the block");
    }

    /// Issue 11, item 2: the buffer used to start at twice the largest packet, so an idle
    /// connection with 16 MiB packets held 32 MiB. It grows only as a packet arrives.
    #[test]
    fn a_large_packet_grows_the_buffer_as_it_arrives_and_it_shrinks_after() {
        let packet = vec![9u8; 16 << 20];
        let mut rb = ReadBuf::new(MIN_READ_BLOCK, MAX_READ_BLOCK);
        let mut one: &[u8] = &[1];
        rb.read_from(&mut one, usize::MAX).unwrap();
        rb.consume(1);
        assert!(rb.capacity() <= MIN_READ_BLOCK, "idle: {}", rb.capacity());
        // The packet arrives in pieces; nothing is consumed until it is complete.
        let mut r = &packet[..];
        let mut reads = 0;
        while rb.data().len() < packet.len() {
            let n = rb.read_from(&mut r, usize::MAX).unwrap();
            assert!(n > 0);
            reads += 1;
            assert!(
                rb.capacity() <= 2 * rb.data().len().max(MAX_READ_BLOCK),
                "{} held for {} bytes",
                rb.capacity(),
                rb.data().len()
            );
        }
        assert!(reads < 200, "{reads} reads for one packet");
        assert!(rb.data() == &packet[..]);
        rb.consume(packet.len());
        // Quiet again: back to a small buffer within a few reads.
        for _ in 0..40 {
            let mut one: &[u8] = &[7];
            rb.read_from(&mut one, usize::MAX).unwrap();
            rb.consume(1);
        }
        assert!(rb.capacity() <= 2 * MIN_READ_BLOCK, "{}", rb.capacity());
    }

    #[test]
    fn blocks_grow_under_load_and_shrink_when_quiet() {
        let big = vec![0u8; 1 << 20];
        let mut r = &big[..];
        let mut rb = ReadBuf::new(1024, 16 * 1024);
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
        let mut one: &[u8] = &[7];
        rb.read_from(&mut one, usize::MAX).unwrap();
        assert!(
            rb.capacity() <= 2 * 1024,
            "and the buffer shrinks: {}",
            rb.capacity()
        );
    }
}
