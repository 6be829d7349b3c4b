//! The arithmetic of poly1305-donna-64 that both Poly1305 paths share: numbers mod
//! 2^130 - 5 in three limbs of 44, 44 and 42 bits, products in `u128`.

/// Low 44 bits.
pub(crate) const M44: u64 = 0xfff_ffff_ffff;
/// Low 42 bits.
pub(crate) const M42: u64 = 0x3ff_ffff_ffff;

/// `h * r`, its three column sums not yet carried. Limbs wrap at 2^130 as `* 5`, which
/// with 44/44/42-bit limbs is `* 20` for the products that reach 2^132. Every input
/// limb is below 2^45 and `20 r` below 2^50, so each sum of three products stays below
/// 2^97, and the sums of two such products (`two_blocks`) below 2^98.
#[inline(always)]
pub(crate) fn mul(h: [u64; 3], r: [u64; 3]) -> [u128; 3] {
    let [h0, h1, h2] = h;
    let [r0, r1, r2] = r;
    let (s1, s2) = (r1 * 20, r2 * 20);
    let m = |a: u64, b: u64| u128::from(a) * u128::from(b);
    [
        m(h0, r0) + m(h1, s2) + m(h2, s1),
        m(h0, r1) + m(h1, r0) + m(h2, s2),
        m(h0, r2) + m(h1, r1) + m(h2, r0),
    ]
}

/// Carries the column sums of [`mul`] back into limbs of 44, 44 (plus a few bits) and
/// 42 bits, folding what passes 2^130 back in as `* 5`.
#[inline(always)]
pub(crate) fn carry(d: [u128; 3]) -> [u64; 3] {
    let [d0, d1, d2] = d;
    let h0 = d0 as u64 & M44;
    let d1 = d1 + (d0 >> 44);
    let h1 = d1 as u64 & M44;
    let d2 = d2 + (d1 >> 44);
    let h2 = d2 as u64 & M42;
    let h0 = h0 + (d2 >> 42) as u64 * 5;
    [h0 & M44, h1 + (h0 >> 44), h2]
}
