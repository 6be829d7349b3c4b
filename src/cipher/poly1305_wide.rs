//! Poly1305 four blocks at a time, for CPUs with AVX2: Horner's rule split over four
//! lanes, each lane a 130-bit accumulator in five 26-bit limbs, multiplied by `r^4` each
//! step with 32 × 32 → 64-bit products, which are what AVX2's `vpmuludq` computes four
//! at a time. [`Powers`] holds `r^4` and the last step's `r^4, r^3, r^2, r`;
//! [`absorb`] runs whole 64-byte groups and leaves the usual accumulator, so
//! [`Poly1305`](super::poly1305_donna::Poly1305) goes on from there one or two blocks
//! at a time.
//!
//! Why it is the same polynomial: scalar Poly1305 computes `h r^n + m_0 r^n + m_1
//! r^(n-1) + ... + m_(n-1) r` for `n` blocks. Lane `j` (with `h` added into lane 0's
//! first block) accumulates the blocks `m_(4k+j)`, multiplying by `r^4` before each next
//! block, so after the last group lane `j` holds `sum_k m_(4k+j) r^(4(K-1-k))`;
//! multiplying lane `j` by `r^(4-j)` and adding the lanes gives exactly the scalar sum.
//!
//! Safe code written over `[u64; 4]` lanes, which LLVM turns into AVX2 vectors inside
//! the `#[target_feature(enable = "avx2")]` function [`absorb`] (the limbs are masked
//! to 32 bits before each product, the pattern `vpmuludq` matches). Calling it needs
//! AVX2, which `super::backend` checks at run time. Byte-identical to the `poly1305`
//! crate (`tests/differential.rs`, every backend).
//!
//! Limb bounds: message limbs are below 2^26; after [`carry`] limb 1 may reach
//! 2^26 + 2^9, so with a message limb added an accumulator limb stays below
//! 2^27 + 2^9 (not 2^27: runs of 0xff reach 0x8000016, `tests::wide_hostile`). The
//! powers' limbs are at most 2^26 and the `5 r` limbs below 2^29, so every operand of
//! `m32` is below 2^32 and each of the five column sums stays below 2^60.

use zeroize::Zeroize;

use super::poly1305_limbs::{carry as carry44, mul as mul44, M42, M44};

/// Low 26 bits.
const M26: u64 = 0x3ff_ffff;

/// Four lanes of five limbs: `v[limb][lane]`.
type Lanes = [[u64; 4]; 5];

/// Bytes per group: four 16-byte blocks.
pub(crate) const GROUP: usize = 64;

/// The powers of `r` the four lanes multiply by, in 26-bit limbs.
pub(crate) struct Powers {
    /// `r^4` in every lane, and `5 r^4`.
    step: (Lanes, Lanes),
    /// `r^4, r^3, r^2, r` in lanes 0..4, and five times each.
    last: (Lanes, Lanes),
}

impl Powers {
    /// The powers for `r` (and `r^2`), given as poly1305-donna-64 limbs (44/44/42 bits,
    /// each possibly a few bits over).
    pub(crate) fn new(r: [u64; 3], r2: [u64; 3]) -> Self {
        let r3 = carry44(mul44(r2, r));
        let r4 = carry44(mul44(r2, r2));
        let lanes = |p: [[u64; 5]; 4]| -> (Lanes, Lanes) {
            let mut v = [[0u64; 4]; 5];
            let mut s = [[0u64; 4]; 5];
            for (lane, limbs) in p.iter().enumerate() {
                for (k, &l) in limbs.iter().enumerate() {
                    v[k][lane] = l;
                    s[k][lane] = l * 5;
                }
            }
            (v, s)
        };
        let (r, r2, r3, r4) = (to26(r), to26(r2), to26(r3), to26(r4));
        Powers {
            step: lanes([r4, r4, r4, r4]),
            last: lanes([r4, r3, r2, r]),
        }
    }

    /// Wipes the powers (they reveal `r`).
    pub(crate) fn wipe(&mut self) {
        self.step.0.zeroize();
        self.step.1.zeroize();
        self.last.0.zeroize();
        self.last.1.zeroize();
    }
}

/// Adds the whole 64-byte groups of `data` (`data.len()` a multiple of 64, at least 64;
/// a bug otherwise) to the accumulator `h` (donna limbs) and leaves `h` in donna limbs.
#[target_feature(enable = "avx2")]
pub(crate) fn absorb(h: &mut [u64; 3], p: &Powers, data: &[u8]) {
    absorb_lanes(h, p, data)
}

/// [`absorb`]'s body, inlined into it (so compiled with AVX2 there) and into the tests'
/// portable check.
#[inline(always)]
pub(crate) fn absorb_lanes(h: &mut [u64; 3], p: &Powers, data: &[u8]) {
    let mut groups = data.chunks_exact(GROUP);
    let Some(first) = groups.next() else {
        return;
    };
    debug_assert!(groups.remainder().is_empty(), "whole groups only");
    let mut acc = load(first);
    for (k, l) in to26(*h).into_iter().enumerate() {
        acc[k][0] += l;
    }
    for group in groups {
        let m = load(group);
        acc = carry(mul(&acc, &p.step));
        for k in 0..5 {
            for j in 0..4 {
                acc[k][j] += m[k][j];
            }
        }
    }
    let acc = carry(mul(&acc, &p.last));
    let mut sum = [0u64; 5];
    for (k, s) in sum.iter_mut().enumerate() {
        *s = acc[k].iter().sum();
    }
    *h = from26(sum);
}

/// The limbs of four 16-byte blocks, each with its 2^128 padding bit.
#[inline(always)]
fn load(group: &[u8]) -> Lanes {
    let mut m = [[0u64; 4]; 5];
    for (j, block) in group.chunks_exact(16).enumerate() {
        let mut b = [0u8; 16];
        b.copy_from_slice(block);
        let x = u128::from_le_bytes(b);
        m[0][j] = x as u64 & M26;
        m[1][j] = (x >> 26) as u64 & M26;
        m[2][j] = (x >> 52) as u64 & M26;
        m[3][j] = (x >> 78) as u64 & M26;
        m[4][j] = (x >> 104) as u64 | (1 << 24);
    }
    m
}

/// `a * b` of two numbers below 2^32 (the low halves), as `vpmuludq` computes it.
#[inline(always)]
fn m32(a: u64, b: u64) -> u64 {
    (a & 0xffff_ffff) * (b & 0xffff_ffff)
}

/// Lane-wise `h * r`, the five column sums not yet carried; `s` is `5 r` (limbs that
/// pass 2^130 wrap as `* 5`).
#[inline(always)]
fn mul(h: &Lanes, (r, s): &(Lanes, Lanes)) -> Lanes {
    let mut d = [[0u64; 4]; 5];
    for j in 0..4 {
        let (h0, h1, h2, h3, h4) = (h[0][j], h[1][j], h[2][j], h[3][j], h[4][j]);
        let (r0, r1, r2, r3, r4) = (r[0][j], r[1][j], r[2][j], r[3][j], r[4][j]);
        let (s1, s2, s3, s4) = (s[1][j], s[2][j], s[3][j], s[4][j]);
        d[0][j] = m32(h0, r0) + m32(h1, s4) + m32(h2, s3) + m32(h3, s2) + m32(h4, s1);
        d[1][j] = m32(h0, r1) + m32(h1, r0) + m32(h2, s4) + m32(h3, s3) + m32(h4, s2);
        d[2][j] = m32(h0, r2) + m32(h1, r1) + m32(h2, r0) + m32(h3, s4) + m32(h4, s3);
        d[3][j] = m32(h0, r3) + m32(h1, r2) + m32(h2, r1) + m32(h3, r0) + m32(h4, s4);
        d[4][j] = m32(h0, r4) + m32(h1, r3) + m32(h2, r2) + m32(h3, r1) + m32(h4, r0);
    }
    d
}

/// Carries the column sums back into limbs below 2^26 (limb 1 a little over), folding
/// what passes 2^130 in as `* 5`.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `j` picks a lane across all five limb arrays
fn carry(mut d: Lanes) -> Lanes {
    for j in 0..4 {
        let mut c;
        for k in 0..4 {
            c = d[k][j] >> 26;
            d[k][j] &= M26;
            d[k + 1][j] += c;
        }
        c = d[4][j] >> 26;
        d[4][j] &= M26;
        d[0][j] += c * 5;
        c = d[0][j] >> 26;
        d[0][j] &= M26;
        d[1][j] += c;
    }
    d
}

/// Donna limbs (44/44/42 bits, each possibly over) to five 26-bit limbs (the top one
/// possibly a bit over), the same number mod 2^130 - 5.
#[inline(always)]
fn to26(a: [u64; 3]) -> [u64; 5] {
    let [mut a0, mut a1, mut a2] = a;
    let mut c = a0 >> 44;
    a0 &= M44;
    a1 += c;
    c = a1 >> 44;
    a1 &= M44;
    a2 += c;
    c = a2 >> 42;
    a2 &= M42;
    a0 += c * 5;
    c = a0 >> 44;
    a0 &= M44;
    a1 += c;
    c = a1 >> 44;
    a1 &= M44;
    a2 += c; // now a0, a1 < 2^44 and a2 < 2^42 + 1
    [
        a0 & M26,
        ((a0 >> 26) | (a1 << 18)) & M26,
        (a1 >> 8) & M26,
        ((a1 >> 34) | (a2 << 10)) & M26,
        a2 >> 16,
    ]
}

/// Five 26-bit limbs (each below 2^32) to donna limbs, the same number mod 2^130 - 5.
#[inline(always)]
fn from26(l: [u64; 5]) -> [u64; 3] {
    let mut l = l;
    for k in 0..4 {
        l[k + 1] += l[k] >> 26;
        l[k] &= M26;
    }
    l[0] += (l[4] >> 26) * 5;
    l[4] &= M26;
    l[1] += l[0] >> 26;
    l[0] &= M26;
    // l1 < 2^26 + 2^8: its top bit, if set, carries on below.
    let [l0, l1, l2, l3, l4] = l;
    let t = l0 + ((l1 & 0x3_ffff) << 26);
    let d0 = t & M44;
    let t = (t >> 44) + (l1 >> 18) + (l2 << 8) + ((l3 & 0x3ff) << 34);
    let d1 = t & M44;
    let d2 = (t >> 44) + (l3 >> 10) + (l4 << 16);
    [d0, d1, d2]
}

#[cfg(test)]
mod tests {
    //! The changes of limbs against exact arithmetic: both sides' numbers reduced mod
    //! 2^130 - 5 in plain 256-bit integers, over limbs at and past their widths (the
    //! carries the tags' differential tests reach only rarely).
    use proptest::prelude::*;

    use super::*;

    /// `sum(limb << shift)` as a 256-bit integer (four 64-bit words, little end first).
    fn int(limbs: &[(u64, u32)]) -> [u64; 4] {
        let mut x = [0u64; 4];
        for &(v, shift) in limbs {
            let (w, s) = ((shift / 64) as usize, shift % 64);
            let wide = u128::from(v) << s;
            let mut carry = 0u128;
            for (i, part) in [wide as u64, (wide >> 64) as u64, 0, 0].iter().enumerate() {
                if w + i < 4 {
                    let t = u128::from(x[w + i]) + u128::from(*part) + carry;
                    x[w + i] = t as u64;
                    carry = t >> 64;
                }
            }
        }
        x
    }

    /// `x mod 2^130 - 5`, fully reduced.
    fn reduce(mut x: [u64; 4]) -> [u64; 4] {
        loop {
            let hi = (x[2] >> 2) | (x[3] << 62);
            let hi_top = x[3] >> 2;
            if hi == 0 && hi_top == 0 {
                break;
            }
            // x = low 130 bits + (hi + hi_top 2^64) 2^130, and 2^130 = 5 mod p.
            let (a, b) = (u128::from(hi) * 5, u128::from(hi_top) * 5);
            x = int(&[
                (x[0], 0),
                (x[1], 64),
                (x[2] & 3, 128),
                (a as u64, 0),
                ((a >> 64) as u64, 64),
                (b as u64, 64),
                ((b >> 64) as u64, 128),
            ]);
        }
        // x < 2^130: subtract p once if x >= p.
        let p = [u64::MAX - 4, u64::MAX, 3, 0];
        let ge = (x[2], x[1], x[0]) >= (p[2], p[1], p[0]);
        if ge {
            let mut borrow = 0i128;
            for i in 0..3 {
                let t = i128::from(x[i]) - i128::from(p[i]) - borrow;
                x[i] = t as u64;
                borrow = i128::from(t < 0);
            }
        }
        x
    }

    fn value26(l: [u64; 5]) -> [u64; 4] {
        reduce(int(&[
            (l[0], 0),
            (l[1], 26),
            (l[2], 52),
            (l[3], 78),
            (l[4], 104),
        ]))
    }

    fn value44(d: [u64; 3]) -> [u64; 4] {
        reduce(int(&[(d[0], 0), (d[1], 44), (d[2], 88)]))
    }

    /// A limb near the edges: 0, all ones at its width, just past it, or anything.
    fn limb(width: u32, max: u32) -> impl Strategy<Value = u64> {
        let full = (1u64 << width) - 1;
        prop_oneof![
            Just(0),
            Just(full),
            Just(full + 1),
            Just(full - 1),
            0..(1u64 << max),
        ]
    }

    proptest! {
        #[test]
        fn from26_keeps_the_number(l in prop::array::uniform5(limb(26, 32))) {
            let d = from26(l);
            prop_assert!(d[0] < 1 << 45 && d[1] < 1 << 45 && d[2] < 1 << 43, "{:?}", d);
            prop_assert_eq!(value44(d), value26(l));
        }

        #[test]
        fn to26_keeps_the_number(
            a0 in limb(44, 46),
            a1 in limb(44, 46),
            a2 in limb(42, 44),
        ) {
            let l = to26([a0, a1, a2]);
            prop_assert!(l.iter().all(|&x| x < 1 << 27), "{:?}", l);
            prop_assert_eq!(value26(l), value44([a0, a1, a2]));
        }
    }

    /// Every mix of limbs at the edges (the carries that cross two limbs at once, such as
    /// `[M26, M26, M26, M26, M26 + 1]`, which random limbs seldom hit).
    #[test]
    fn from26_keeps_the_number_on_every_edge_mix() {
        let edges = [0, 1, M26, M26 + 1, u64::from(u32::MAX)];
        for i in 0..edges.len().pow(5) {
            let mut l = [0u64; 5];
            let mut k = i;
            for x in &mut l {
                *x = edges[k % edges.len()];
                k /= edges.len();
            }
            assert_eq!(value44(from26(l)), value26(l), "{l:?}");
            assert_eq!(value26(to26(from26(l))), value26(l), "{l:?}");
        }
    }

    /// The reference itself: 2^130 is 5, p is 0, p - 1 stays.
    #[test]
    fn the_reference_reduces_mod_p() {
        assert_eq!(reduce(int(&[(1, 130)])), [5, 0, 0, 0]);
        assert_eq!(reduce([u64::MAX - 4, u64::MAX, 3, 0]), [0; 4]);
        assert_eq!(
            reduce([u64::MAX - 5, u64::MAX, 3, 0]),
            [u64::MAX - 5, u64::MAX, 3, 0]
        );
        assert_eq!(reduce(int(&[(1, 255)])), reduce(int(&[(5, 125)])));
    }
}
