//! Poly1305 as poly1305-donna-64 does it: the accumulator in three 44/44/42-bit limbs,
//! products in `u128` (one `mul` each on x86-64), and blocks taken two at a time with
//! `r^2` (one multiply of `r` at setup) so that two blocks' multiplies overlap: one block
//! at a time, each waits for the last one's product, and 1 KiB ran about 1.5 times
//! slower (four at a time measured no faster than two). For the SecretConnection's
//! 1026-byte frames this is about 4 times as fast as the `poly1305` crate's AVX2
//! backend, whose per-message setup (powers of `r`, four-way finalisation) outweighs its
//! wide multiplies on ~65 blocks (`examples/cipher_rate.rs`). Byte-identical to that
//! crate (`tests/differential.rs`). Where the backend has AVX2, whole 64-byte groups of
//! a long stretch (128 bytes or more) go four blocks at a time through
//! [`poly1305_wide`](super::poly1305_wide) instead, about 1.6 times as fast on a frame.

use zeroize::Zeroize;

use super::backend::{Backend, WidePoly};
use super::poly1305_limbs::{carry, mul, M42, M44};

/// Size of a Poly1305 block.
pub(crate) const BLOCK: usize = 16;

/// A Poly1305 computation in progress under one 32-byte one-time key. The key and the
/// accumulator are wiped on drop.
pub(crate) struct Poly1305 {
    /// `r`, clamped, in limbs.
    r: [u64; 3],
    /// `r^2 mod 2^130 - 5`, in limbs (for [`two_blocks`](Self::two_blocks)).
    r2: [u64; 3],
    /// The accumulator `h`, in limbs (each may exceed its width by a few bits between
    /// blocks).
    h: [u64; 3],
    /// The final addend `s` (key bytes 16..32), as two little-endian halves.
    s: [u64; 2],
    /// Four blocks at a time, where the CPU has AVX2 and the backend may use it.
    wide: Option<WidePoly>,
}

/// A little-endian `u64` from the first 8 bytes of `b`.
fn le64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

/// The limbs of a 16-byte block plus `hibit` (`1 << 40` is 2^128: a whole block's
/// padding bit; 0 for the padded last block).
#[inline(always)]
fn limbs(block: &[u8], hibit: u64) -> [u64; 3] {
    let (t0, t1) = (le64(&block[0..]), le64(&block[8..]));
    [
        t0 & M44,
        ((t0 >> 44) | (t1 << 20)) & M44,
        ((t1 >> 24) & M42) | hibit,
    ]
}

/// Limb-wise sum (no carries: the limbs have room).
#[inline(always)]
fn add(a: [u64; 3], b: [u64; 3]) -> [u64; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

impl Poly1305 {
    /// Starts a MAC under `key` (`r || s`).
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        let (t0, t1) = (le64(&key[0..]), le64(&key[8..]));
        let r = [
            t0 & 0xffc_0fff_ffff,
            ((t0 >> 44) | (t1 << 20)) & 0xfff_ffc0_ffff,
            (t1 >> 24) & 0x00f_ffff_fc0f,
        ];
        Poly1305 {
            r,
            r2: carry(mul(r, r)),
            h: [0; 3],
            s: [le64(&key[16..]), le64(&key[24..])],
            wide: None,
        }
    }

    /// Starts a MAC under `key`, four blocks at a time over long stretches where
    /// `backend` has AVX2 ([`Backend::wide_poly1305`]).
    pub(crate) fn with_backend(key: &[u8; 32], backend: Backend) -> Self {
        let mut mac = Self::new(key);
        mac.wide = backend.wide_poly1305(mac.r, mac.r2);
        mac
    }

    /// `h = (h + block + hibit 2^128) * r mod 2^130 - 5`, `block` 16 bytes.
    #[inline(always)]
    fn block(&mut self, block: &[u8], hibit: u64) {
        let h = add(self.h, limbs(block, hibit));
        self.h = carry(mul(h, self.r));
    }

    /// Two blocks at once: `h = (h + a) r^2 + b r`, the same as two calls of
    /// [`block`](Self::block) (Horner's rule unrolled), but the two products are
    /// independent and share one carry chain, so the CPU overlaps them instead of waiting
    /// for each block's multiply to finish before the next starts.
    #[inline(always)]
    fn two_blocks(&mut self, a: &[u8], b: &[u8]) {
        let h = add(self.h, limbs(a, 1 << 40));
        let [d0, d1, d2] = mul(h, self.r2);
        let [e0, e1, e2] = mul(limbs(b, 1 << 40), self.r);
        self.h = carry([d0 + e0, d1 + e1, d2 + e2]);
    }

    /// Adds whole 16-byte blocks: four at a time in AVX2 lanes over a long stretch where
    /// it can, then two at a time while it can.
    #[inline(always)]
    fn blocks(&mut self, mut data: &[u8]) {
        if let Some(wide) = &self.wide {
            let groups = data.len() - data.len() % WidePoly::GROUP;
            if groups >= WidePoly::MIN {
                wide.absorb(&mut self.h, &data[..groups]);
                data = &data[groups..];
            }
        }
        let mut pairs = data.chunks_exact(2 * BLOCK);
        for pair in &mut pairs {
            let (a, b) = pair.split_at(BLOCK);
            self.two_blocks(a, b);
        }
        for b in pairs.remainder().chunks_exact(BLOCK) {
            self.block(b, 1 << 40);
        }
    }

    /// Adds whole 16-byte blocks. `data.len()` must be a multiple of 16 (a bug
    /// otherwise: the extra bytes would be ignored, so it panics in debug builds).
    pub(crate) fn update_blocks(&mut self, data: &[u8]) {
        debug_assert_eq!(data.len() % BLOCK, 0, "whole blocks only");
        self.blocks(data);
    }

    /// Adds the rest of the message (whole blocks, then a final partial block padded
    /// with `1, 0, 0, ...` as Poly1305 pads the end of a message) and returns the tag.
    pub(crate) fn finish(mut self, rest: &[u8]) -> [u8; 16] {
        let whole = rest.len() - rest.len() % BLOCK;
        let (body, tail) = rest.split_at(whole);
        self.blocks(body);
        if !tail.is_empty() {
            let mut last = [0u8; BLOCK];
            last[..tail.len()].copy_from_slice(tail);
            last[tail.len()] = 1;
            self.block(&last, 0);
        }
        self.tag()
    }

    /// Fully reduces `h` mod 2^130 - 5 (constant time) and returns `h + s mod 2^128`.
    fn tag(&self) -> [u8; 16] {
        let [mut h0, mut h1, mut h2] = self.h;
        let mut c;
        for _ in 0..2 {
            c = h1 >> 44;
            h1 &= M44;
            h2 += c;
            c = h2 >> 42;
            h2 &= M42;
            h0 += c * 5;
            c = h0 >> 44;
            h0 &= M44;
            h1 += c;
        }
        // g = h + 5 - 2^130; take g if it did not go negative, that is if h >= p.
        let mut g0 = h0 + 5;
        c = g0 >> 44;
        g0 &= M44;
        let mut g1 = h1 + c;
        c = g1 >> 44;
        g1 &= M44;
        let g2 = (h2 + c).wrapping_sub(1 << 42);
        let take_g = (g2 >> 63).wrapping_sub(1);
        h0 = (h0 & !take_g) | (g0 & take_g);
        h1 = (h1 & !take_g) | (g1 & take_g);
        h2 = (h2 & !take_g) | (g2 & M42 & take_g);
        // h += s, modulo 2^128.
        let [s0, s1] = self.s;
        h0 += s0 & M44;
        c = h0 >> 44;
        h0 &= M44;
        h1 += (((s0 >> 44) | (s1 << 20)) & M44) + c;
        c = h1 >> 44;
        h1 &= M44;
        h2 = (h2 + (s1 >> 24) + c) & M42;
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&(h0 | (h1 << 44)).to_le_bytes());
        out[8..].copy_from_slice(&((h1 >> 20) | (h2 << 24)).to_le_bytes());
        out
    }
}

impl Drop for Poly1305 {
    fn drop(&mut self) {
        self.r.zeroize();
        self.r2.zeroize();
        self.h.zeroize();
        self.s.zeroize();
        if let Some(wide) = &mut self.wide {
            wide.wipe();
        }
    }
}
