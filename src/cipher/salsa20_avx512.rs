//! Sixteen Salsa20 blocks side by side in AVX-512 registers: word `w` of the sixteen
//! states is one `__m512i` (lane `j` = block `j`), the rotations are `vprold`, and the
//! sixteen keystream blocks are put back in byte order by a 16 × 16 transposition of
//! words (unpacks within 128-bit lanes, then shuffles of 128-bit lanes) before they are
//! XORed into the data.
//!
//! Safe code: the intrinsics are safe to call inside a `#[target_feature]` function, and
//! bytes become vectors and back by `bytemuck::must_cast` (checked at compile time).
//! Calling [`xor_blocks16`] needs AVX-512 F, which `super::backend` checks at run time.

//!
//! Compiled only with Rust 1.89 or newer (`cfg(mconn_simd)`, from `build.rs`), hence
//! the `allow` of clippy's lint against items newer than the crate's `rust-version`.
#![allow(clippy::incompatible_msrv)]

use core::arch::x86_64::{
    __m512i, _mm512_add_epi32, _mm512_cmplt_epu32_mask, _mm512_mask_add_epi32, _mm512_rol_epi32,
    _mm512_set1_epi32, _mm512_setr_epi32, _mm512_shuffle_i32x4, _mm512_unpackhi_epi32,
    _mm512_unpackhi_epi64, _mm512_unpacklo_epi32, _mm512_unpacklo_epi64, _mm512_xor_si512,
};

use bytemuck::must_cast;

use super::salsa20_core::BLOCK_SIZE;

/// Blocks per batch.
pub(crate) const LANES: usize = 16;

/// The quarter round on words `(a, b, c, d)` of all sixteen blocks: `x[t] ^= (x[p] +
/// x[q]) <<< r` four times. A function rather than a macro so that an unoptimised build
/// keeps each one's temporaries in a frame of its own (the handshake's writer thread
/// has a 64 KiB stack); optimised, it is inlined and the indices are constants.
#[target_feature(enable = "avx512f")]
#[inline]
fn quarter_round(x: &mut [__m512i; 16], a: usize, b: usize, c: usize, d: usize) {
    x[b] = _mm512_xor_si512(x[b], _mm512_rol_epi32::<7>(_mm512_add_epi32(x[a], x[d])));
    x[c] = _mm512_xor_si512(x[c], _mm512_rol_epi32::<9>(_mm512_add_epi32(x[b], x[a])));
    x[d] = _mm512_xor_si512(x[d], _mm512_rol_epi32::<13>(_mm512_add_epi32(x[c], x[b])));
    x[a] = _mm512_xor_si512(x[a], _mm512_rol_epi32::<18>(_mm512_add_epi32(x[d], x[c])));
}

/// A column round, then a row round.
#[target_feature(enable = "avx512f")]
#[inline]
fn double_round(x: &mut [__m512i; 16]) {
    quarter_round(x, 0, 4, 8, 12);
    quarter_round(x, 5, 9, 13, 1);
    quarter_round(x, 10, 14, 2, 6);
    quarter_round(x, 15, 3, 7, 11);
    quarter_round(x, 0, 1, 2, 3);
    quarter_round(x, 5, 6, 7, 4);
    quarter_round(x, 10, 11, 8, 9);
    quarter_round(x, 15, 12, 13, 14);
}

/// XORs the keystream blocks `counter .. counter + 16` of `input` (the Salsa20 input
/// words; 8 and 9 are replaced by each block's counter) into `data`, which must be
/// 1024 bytes.
///
/// Panics if `data` has another length (a bug in the caller).
#[target_feature(enable = "avx512f")]
pub(crate) fn xor_blocks16(input: &[u32; 16], counter: u64, data: &mut [u8]) {
    assert_eq!(
        data.len(),
        LANES * BLOCK_SIZE,
        "xor_blocks16 takes 16 blocks"
    );
    let word = |w: usize| _mm512_set1_epi32(input[w] as i32);
    let mut init: [__m512i; 16] = core::array::from_fn(word);
    // Block j's counter is counter + j, carried into the high word where the low wraps.
    let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let low = _mm512_add_epi32(_mm512_set1_epi32(counter as u32 as i32), iota);
    let wrapped = _mm512_cmplt_epu32_mask(low, iota);
    let high = _mm512_set1_epi32((counter >> 32) as u32 as i32);
    init[8] = low;
    init[9] = _mm512_mask_add_epi32(high, wrapped, high, _mm512_set1_epi32(1));
    let mut x = init;
    for _ in 0..10 {
        double_round(&mut x);
    }
    for (x, i) in x.iter_mut().zip(init) {
        *x = _mm512_add_epi32(*x, i);
    }
    // Transpose: first, within each 128-bit lane k (blocks 4k .. 4k + 4), words
    // 4g .. 4g + 4 of block 4k + b gathered into v[g][b]; u[b] lists v[0..4][b].
    let v: [[__m512i; 4]; 4] = core::array::from_fn(|g| {
        let [a, b, c, d] = [x[4 * g], x[4 * g + 1], x[4 * g + 2], x[4 * g + 3]];
        let (t0, t1) = (_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
        let (t2, t3) = (_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
        [
            _mm512_unpacklo_epi64(t0, t2),
            _mm512_unpackhi_epi64(t0, t2),
            _mm512_unpacklo_epi64(t1, t3),
            _mm512_unpackhi_epi64(t1, t3),
        ]
    });
    let u: [[__m512i; 4]; 4] = core::array::from_fn(|b| [v[0][b], v[1][b], v[2][b], v[3][b]]);
    // Then, for each b, a 4 × 4 transposition of 128-bit lanes: block 4k + b is lane k
    // of u[0], u[1], u[2], u[3] in turn.
    let (blocks, _) = data.as_chunks_mut::<BLOCK_SIZE>();
    for (b, u) in u.into_iter().enumerate() {
        let s0 = _mm512_shuffle_i32x4::<0x44>(u[0], u[1]);
        let s1 = _mm512_shuffle_i32x4::<0xee>(u[0], u[1]);
        let s2 = _mm512_shuffle_i32x4::<0x44>(u[2], u[3]);
        let s3 = _mm512_shuffle_i32x4::<0xee>(u[2], u[3]);
        let out = [
            _mm512_shuffle_i32x4::<0x88>(s0, s2),
            _mm512_shuffle_i32x4::<0xdd>(s0, s2),
            _mm512_shuffle_i32x4::<0x88>(s1, s3),
            _mm512_shuffle_i32x4::<0xdd>(s1, s3),
        ];
        for (k, keystream) in out.into_iter().enumerate() {
            let block = &mut blocks[4 * k + b];
            let d: __m512i = must_cast(*block);
            *block = must_cast(_mm512_xor_si512(d, keystream));
        }
    }
}
