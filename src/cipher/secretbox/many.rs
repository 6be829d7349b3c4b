//! Several secretboxes sealed or opened in one go (a SecretConnection write seals up to
//! 64 frames): the same bytes and tags as one [`SecretBox::seal_in_place`] or
//! [`SecretBox::open_in_place`] per message, computed in a different order.
//!
//! A message needs `32 + len` keystream bytes: the Poly1305 key, then the message. Its
//! whole batches (`N` blocks, the backend's width) are computed as one message alone
//! computes them, but what is left over (a 1026-byte frame needs 16 blocks and 34
//! bytes of a 17th) would waste most of a batch, and computed as a lone block it costs
//! about four blocks' worth of a batch. Here the left-over blocks of up to
//! [`GROUP`] messages share batches instead, one message's block per lane
//! (`Backend::xor_lanes`: each lane has its own nonce and counter).
//!
//! The batched path takes messages of at least one batch less the key (so that the
//! Poly1305 key is in a whole batch) and at most `IN_ONE_PASS` bytes, whose nonces
//! share their first 16 bytes (one XSalsa20 subkey, as a SecretConnection's do for 2^64
//! frames); any other group goes one message at a time.

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::{AuthError, SecretBox, Tag, IN_ONE_PASS, NONCE_SIZE};
use crate::cipher::backend::Backend;
use crate::cipher::poly1305_donna::Poly1305;
use crate::cipher::salsa20_core::{salsa20_input, BLOCK_SIZE};
use crate::cipher::xsalsa20::xor;

/// Messages per group: their left-over blocks share batches.
pub(crate) const GROUP: usize = 8;

/// Keystream bytes before a message's own: the Poly1305 key.
const KEY_BYTES: usize = 32;

/// Most blocks of the widest batch (AVX-512's 16).
const WIDEST: usize = 16;

/// The Salsa20 input for `nonce` under `subkey`: words 6 and 7 from the nonce's last 8
/// bytes.
fn input(subkey: &[u8; 32], nonce: &[u8; NONCE_SIZE]) -> [u32; 16] {
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&nonce[16..]);
    salsa20_input(subkey, &tail)
}

/// The left-over blocks of a group's messages: `(message, block)` pairs, computed
/// together by [`run`](Self::run).
struct Tails {
    jobs: [(usize, u64); GROUP * WIDEST],
    len: usize,
}

impl Tails {
    fn new() -> Self {
        Tails {
            jobs: [(0, 0); GROUP * WIDEST],
            len: 0,
        }
    }

    /// Message `i`'s blocks `blocks` (at most a batch: no overflow).
    fn add(&mut self, i: usize, blocks: std::ops::Range<u64>) {
        for b in blocks {
            self.jobs[self.len] = (i, b);
            self.len += 1;
        }
    }

    /// Computes every left-over block, `backend.lane_batch()` at a time, and XORs each
    /// into its message (`bufs[i]`, under `nonces[i]`).
    fn run(
        &self,
        backend: Backend,
        subkey: &[u8; 32],
        nonces: &[[u8; 24]],
        bufs: &mut [&mut [u8]],
    ) {
        if self.len == 0 {
            return;
        }
        match backend.lane_batch() {
            8 => self.run_in::<8>(backend, subkey, nonces, bufs),
            _ => self.run_in::<4>(backend, subkey, nonces, bufs),
        }
    }

    fn run_in<const M: usize>(
        &self,
        backend: Backend,
        subkey: &[u8; 32],
        nonces: &[[u8; 24]],
        bufs: &mut [&mut [u8]],
    ) {
        let mut base = input(subkey, &nonces[0]);
        let mut keystream = [0u8; 8 * BLOCK_SIZE];
        for jobs in self.jobs[..self.len].chunks(M) {
            // Lanes past the last job repeat the first (computed, not used). Words 6 and
            // 7 straight from the nonce: a whole Salsa20 input per lane would leave
            // copies of the subkey on the stack, unwiped.
            let lanes: [[u32; 4]; M] = core::array::from_fn(|j| {
                let (i, b) = jobs.get(j).copied().unwrap_or(jobs[0]);
                let word = |at: usize| {
                    let bytes = [
                        nonces[i][at],
                        nonces[i][at + 1],
                        nonces[i][at + 2],
                        nonces[i][at + 3],
                    ];
                    u32::from_le_bytes(bytes)
                };
                [word(16), word(20), b as u32, (b >> 32) as u32]
            });
            let keystream = &mut keystream[..M * BLOCK_SIZE];
            keystream.fill(0);
            backend.xor_lanes::<M>(&base, &lanes, keystream);
            for (&(i, b), block) in jobs.iter().zip(keystream.chunks_exact(BLOCK_SIZE)) {
                // Block b covers keystream bytes 64 b .. 64 b + 64, past the key (b >= 1).
                let at = b as usize * BLOCK_SIZE - KEY_BYTES;
                let buf = &mut *bufs[i];
                let end = buf.len().min(at + BLOCK_SIZE);
                xor(&mut buf[at..end], &block[..end - at]);
            }
        }
        keystream.zeroize();
        base.zeroize();
    }
}

impl SecretBox {
    /// Seals each `bufs[i]` in place under `nonces[i]` and puts its tag in `tags[i]`:
    /// the same bytes and tags as [`seal_in_place`](Self::seal_in_place) on each.
    ///
    /// Panics if the three slices' lengths differ (a bug in the caller).
    pub(crate) fn seal_many(
        &self,
        nonces: &[[u8; NONCE_SIZE]],
        bufs: &mut [&mut [u8]],
        tags: &mut [Tag],
    ) {
        assert!(nonces.len() == bufs.len() && bufs.len() == tags.len());
        let groups = nonces.chunks(GROUP).zip(bufs.chunks_mut(GROUP));
        for ((nonces, bufs), tags) in groups.zip(tags.chunks_mut(GROUP)) {
            match self.backend.lanes() {
                16 => self.seal_group::<16>(nonces, bufs, tags),
                8 => self.seal_group::<8>(nonces, bufs, tags),
                _ => self.seal_group::<4>(nonces, bufs, tags),
            }
        }
    }

    /// Checks and opens each `bufs[i]` in place under `nonces[i]` and `tags[i]`, in
    /// order: the same as [`open_in_place`](Self::open_in_place) on each in turn, which
    /// stops at the first that does not authenticate.
    ///
    /// Errors: `(i, AuthError)` if `bufs[i]` did not authenticate; `bufs[..i]` are then
    /// opened and `bufs[i..]` left as they were.
    ///
    /// Panics if the three slices' lengths differ (a bug in the caller).
    pub(crate) fn open_many(
        &self,
        nonces: &[[u8; NONCE_SIZE]],
        bufs: &mut [&mut [u8]],
        tags: &[Tag],
    ) -> Result<(), (usize, AuthError)> {
        assert!(nonces.len() == bufs.len() && bufs.len() == tags.len());
        let groups = nonces.chunks(GROUP).zip(bufs.chunks_mut(GROUP));
        for (g, ((nonces, bufs), tags)) in groups.zip(tags.chunks(GROUP)).enumerate() {
            match self.backend.lanes() {
                16 => self.open_group::<16>(nonces, bufs, tags),
                8 => self.open_group::<8>(nonces, bufs, tags),
                _ => self.open_group::<4>(nonces, bufs, tags),
            }
            .map_err(|(i, e)| (g * GROUP + i, e))?;
        }
        Ok(())
    }

    /// Whether a group can take the batched path (see the module docs).
    fn batched<const N: usize>(nonces: &[[u8; NONCE_SIZE]], bufs: &[&mut [u8]]) -> bool {
        let lengths = N * BLOCK_SIZE - KEY_BYTES..=IN_ONE_PASS;
        nonces.iter().all(|n| n[..16] == nonces[0][..16])
            && bufs.iter().all(|b| lengths.contains(&b.len()))
    }

    /// Message `buf`'s whole batches after its first, XORed in place, and its left-over
    /// blocks (at most a batch) handed to `tails` as message `i`.
    fn middle<const N: usize>(
        &self,
        input: &[u32; 16],
        i: usize,
        buf: &mut [u8],
        tails: &mut Tails,
    ) {
        let batch = N * BLOCK_SIZE;
        let blocks = (KEY_BYTES + buf.len() + BLOCK_SIZE - 1) / BLOCK_SIZE;
        // Batches wholly inside the message's keystream (its last block may be partial).
        let batches = (KEY_BYTES + buf.len()) / batch;
        for k in 1..batches {
            let at = k * batch - KEY_BYTES;
            let counter = (k * N) as u64;
            self.backend
                .xor_blocks::<N>(input, counter, &mut buf[at..at + batch]);
        }
        tails.add(i, (batches * N) as u64..blocks as u64);
    }

    fn seal_group<const N: usize>(
        &self,
        nonces: &[[u8; NONCE_SIZE]],
        bufs: &mut [&mut [u8]],
        tags: &mut [Tag],
    ) {
        if !Self::batched::<N>(nonces, bufs) {
            for ((nonce, buf), tag) in nonces.iter().zip(bufs.iter_mut()).zip(tags) {
                *tag = self.seal_in_place(nonce, buf);
            }
            return;
        }
        let batch = N * BLOCK_SIZE;
        let mut subkey = self.subkey(&nonces[0]);
        let mut keys = [[0u8; KEY_BYTES]; GROUP];
        let mut tails = Tails::new();
        for (i, buf) in bufs.iter_mut().enumerate() {
            let mut input = input(&subkey, &nonces[i]);
            // The first batch: the Poly1305 key, then the message's start.
            let start = &mut buf[..batch - KEY_BYTES];
            self.backend.key_and_xor::<N>(&input, &mut keys[i], start);
            self.middle::<N>(&input, i, buf, &mut tails);
            input.zeroize();
        }
        tails.run(self.backend, &subkey, nonces, bufs);
        for ((buf, key), tag) in bufs.iter().zip(&keys).zip(tags) {
            *tag = Poly1305::with_backend(key, self.backend).finish(buf);
        }
        keys.zeroize();
        subkey.zeroize();
    }

    fn open_group<const N: usize>(
        &self,
        nonces: &[[u8; NONCE_SIZE]],
        bufs: &mut [&mut [u8]],
        tags: &[Tag],
    ) -> Result<(), (usize, AuthError)> {
        if !Self::batched::<N>(nonces, bufs) {
            let each = nonces.iter().zip(bufs.iter_mut()).zip(tags).enumerate();
            for (i, ((nonce, buf), tag)) in each {
                self.open_in_place(nonce, buf, tag).map_err(|e| (i, e))?;
            }
            return Ok(());
        }
        let batch = N * BLOCK_SIZE;
        let mut subkey = self.subkey(&nonces[0]);
        let mut first = [0u8; WIDEST * BLOCK_SIZE];
        let mut tails = Tails::new();
        let mut opened = Ok(());
        for (i, buf) in bufs.iter_mut().enumerate() {
            let mut input = input(&subkey, &nonces[i]);
            // The first batch's keystream: the Poly1305 key, then the message's start.
            let first = &mut first[..batch];
            first.fill(0);
            self.backend.xor_blocks::<N>(&input, 0, first);
            let mut key = [0u8; KEY_BYTES];
            key.copy_from_slice(&first[..KEY_BYTES]);
            let expected = Poly1305::with_backend(&key, self.backend).finish(buf);
            key.zeroize();
            // Authenticate first: a forged message is never decrypted.
            if !bool::from(expected.ct_eq(&tags[i])) {
                opened = Err((i, AuthError));
                input.zeroize();
                break;
            }
            xor(&mut buf[..batch - KEY_BYTES], &first[KEY_BYTES..]);
            self.middle::<N>(&input, i, buf, &mut tails);
            input.zeroize();
        }
        first.zeroize();
        tails.run(self.backend, &subkey, nonces, bufs);
        subkey.zeroize();
        opened
    }
}
