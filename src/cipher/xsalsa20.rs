//! The XSalsa20 stream cipher (a 24-byte nonce: HSalsa20 turns the key and the first 16
//! nonce bytes into a subkey, then Salsa20 runs with the subkey and the last 8 bytes),
//! XORing its keystream into buffers of any length, `N` blocks at a time.

use zeroize::Zeroize;

use super::backend::Backend;
use super::salsa20_core::{block, hsalsa20, salsa20_input, BLOCK_SIZE};

/// Largest supported batch, in bytes (sixteen blocks).
const MAX_BATCH: usize = 16 * BLOCK_SIZE;

/// An XSalsa20 keystream positioned at a byte offset, computing `N` (4, 8 or 16) blocks
/// per batch with the vectorised core in the build `backend` chooses. Like
/// `salsa20::XSalsa20`'s `apply_keystream`: successive calls continue the stream where
/// the last one stopped. The subkey and any unused keystream are wiped on drop.
pub(crate) struct XSalsa20<const N: usize> {
    /// The build of the Salsa20 core that computes the batches.
    backend: Backend,
    /// The Salsa20 input (subkey, nonce tail); words 8 and 9 are set per block.
    input: [u32; 16],
    /// The block counter of the next block to compute.
    counter: u64,
    /// Keystream computed but not all used: `spare[used..filled]` is still to come.
    spare: [u8; MAX_BATCH],
    /// Bytes of `spare` already used.
    used: usize,
    /// Bytes of `spare` holding keystream (one batch or one block).
    filled: usize,
}

impl<const N: usize> XSalsa20<N> {
    /// Bytes in one batch.
    pub(crate) const BATCH: usize = N * BLOCK_SIZE;

    /// The keystream of `key` and `nonce`, at byte 0, computed by `backend`.
    #[allow(dead_code)] // the tests' and examples/cipher_rate.rs's (SecretBox keeps subkeys)
    pub(crate) fn new(backend: Backend, key: &[u8; 32], nonce: &[u8; 24]) -> Self {
        let mut subkey = subkey(key, nonce);
        let stream = Self::with_subkey(backend, &subkey, nonce);
        subkey.zeroize();
        stream
    }

    /// [`new`](Self::new) with the HSalsa20 step done: `subkey` is [`subkey`]`(key,
    /// nonce)`, which a caller may keep while the nonce's first 16 bytes stay the same.
    pub(crate) fn with_subkey(backend: Backend, subkey: &[u8; 32], nonce: &[u8; 24]) -> Self {
        assert!(
            N == 4 || N == 8 || N == 16,
            "XSalsa20 computes 4, 8 or 16 blocks at a time"
        );
        let mut tail = [0u8; 8];
        tail.copy_from_slice(&nonce[16..]);
        let input = salsa20_input(subkey, &tail);
        XSalsa20 {
            backend,
            input,
            counter: 0,
            spare: [0; MAX_BATCH],
            used: 0,
            filled: 0,
        }
    }

    /// XORs the next `data.len()` keystream bytes into `data`.
    pub(crate) fn apply_keystream(&mut self, data: &mut [u8]) {
        // First what is left of the keystream computed last time.
        let n = data.len().min(self.filled - self.used);
        let (head, mut data) = data.split_at_mut(n);
        xor(head, &self.spare[self.used..self.used + n]);
        self.used += n;
        // Then whole batches, straight into `data`.
        while data.len() >= Self::BATCH {
            let (chunk, rest) = data.split_at_mut(Self::BATCH);
            self.backend
                .xor_blocks::<N>(&self.input, self.counter, chunk);
            self.counter = self.counter.wrapping_add(N as u64);
            data = rest;
        }
        if data.is_empty() {
            return;
        }
        // Then the start of one more batch if more than half of it is needed (a lone
        // block costs about two lanes of a batch), else block by block.
        let blocks = (data.len() + BLOCK_SIZE - 1) / BLOCK_SIZE;
        let len = if 2 * blocks > N {
            self.fill_batch();
            data.len()
        } else {
            let whole = data.len() - data.len() % BLOCK_SIZE;
            let (body, tail) = data.split_at_mut(whole);
            for chunk in body.chunks_exact_mut(BLOCK_SIZE) {
                xor(chunk, &block(&self.input, self.counter));
                self.counter = self.counter.wrapping_add(1);
            }
            data = tail;
            if data.is_empty() {
                return;
            }
            self.spare[..BLOCK_SIZE].copy_from_slice(&block(&self.input, self.counter));
            self.counter = self.counter.wrapping_add(1);
            self.filled = BLOCK_SIZE;
            data.len()
        };
        xor(data, &self.spare[..len]);
        self.used = len;
    }

    /// Computes the next batch now, for a caller that knows it will use more than half
    /// of it (secretbox: the 32-byte Poly1305 key, then the message) but asks in smaller
    /// pieces. Only at a point where no computed keystream is left, which the callers
    /// ensure: panics otherwise (a bug).
    pub(crate) fn fill_batch(&mut self) {
        assert_eq!(self.used, self.filled, "keystream left over");
        let spare = &mut self.spare[..Self::BATCH];
        spare.fill(0);
        self.backend
            .xor_blocks::<N>(&self.input, self.counter, spare);
        self.counter = self.counter.wrapping_add(N as u64);
        self.used = 0;
        self.filled = Self::BATCH;
    }
}

impl<const N: usize> Drop for XSalsa20<N> {
    fn drop(&mut self) {
        self.input.zeroize();
        self.spare[..self.filled].zeroize();
    }
}

/// The XSalsa20 subkey of `key` and `nonce`: HSalsa20 of the nonce's first 16 bytes.
pub(crate) fn subkey(key: &[u8; 32], nonce: &[u8; 24]) -> [u8; 32] {
    let mut head = [0u8; 16];
    head.copy_from_slice(&nonce[..16]);
    hsalsa20(key, &head)
}

/// `data[i] ^= keystream[i]`, for slices of the same length.
#[inline(always)]
pub(crate) fn xor(data: &mut [u8], keystream: &[u8]) {
    for (d, k) in data.iter_mut().zip(keystream) {
        *d ^= k;
    }
}
