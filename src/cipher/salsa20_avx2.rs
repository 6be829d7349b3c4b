//! Eight Salsa20 blocks side by side in AVX2 registers: word `w` of the eight states is
//! one `__m256i` (lane `j` = block `j`), a rotation is two shifts and an OR (AVX2 has
//! no vector rotate), and the keystream is put back in byte order by an 8 × 8
//! transposition of words (unpacks within 128-bit lanes, then `vperm2i128`) before it
//! is XORed into the data.
//!
//! Safe code: the intrinsics are safe to call inside a `#[target_feature]` function, and
//! bytes become vectors and back by `bytemuck::must_cast` (checked at compile time).
//! Calling [`xor_blocks8`] needs AVX2, which `super::backend` checks at run time.

//!
//! Compiled only with Rust 1.89 or newer (`cfg(mconn_simd)`, from `build.rs`), hence
//! the `allow` of clippy's lint against items newer than the crate's `rust-version`.
#![allow(clippy::incompatible_msrv)]

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_cmpgt_epi32, _mm256_or_si256, _mm256_permute2x128_si256,
    _mm256_set1_epi32, _mm256_setr_epi32, _mm256_slli_epi32, _mm256_srli_epi32, _mm256_sub_epi32,
    _mm256_unpackhi_epi32, _mm256_unpackhi_epi64, _mm256_unpacklo_epi32, _mm256_unpacklo_epi64,
    _mm256_xor_si256,
};

use bytemuck::must_cast;

use super::salsa20_core::BLOCK_SIZE;

/// Blocks per batch.
pub(crate) const LANES: usize = 8;

/// `v <<< R` (`L` = 32 - `R`): two shifts and an OR, AVX2 having no vector rotate.
#[target_feature(enable = "avx2")]
#[inline]
fn rotate<const R: i32, const L: i32>(v: __m256i) -> __m256i {
    _mm256_or_si256(_mm256_slli_epi32::<R>(v), _mm256_srli_epi32::<L>(v))
}

/// The quarter round on words `(a, b, c, d)` of all eight blocks: `x[t] ^= (x[p] +
/// x[q]) <<< r` four times. A function rather than a macro so that an unoptimised build
/// keeps each one's temporaries in a frame of its own (the handshake's writer thread
/// has a 64 KiB stack); optimised, it is inlined and the indices are constants.
#[target_feature(enable = "avx2")]
#[inline]
fn quarter_round(x: &mut [__m256i; 16], a: usize, b: usize, c: usize, d: usize) {
    x[b] = _mm256_xor_si256(x[b], rotate::<7, 25>(_mm256_add_epi32(x[a], x[d])));
    x[c] = _mm256_xor_si256(x[c], rotate::<9, 23>(_mm256_add_epi32(x[b], x[a])));
    x[d] = _mm256_xor_si256(x[d], rotate::<13, 19>(_mm256_add_epi32(x[c], x[b])));
    x[a] = _mm256_xor_si256(x[a], rotate::<18, 14>(_mm256_add_epi32(x[d], x[c])));
}

/// A column round, then a row round.
#[target_feature(enable = "avx2")]
#[inline]
fn double_round(x: &mut [__m256i; 16]) {
    quarter_round(x, 0, 4, 8, 12);
    quarter_round(x, 5, 9, 13, 1);
    quarter_round(x, 10, 14, 2, 6);
    quarter_round(x, 15, 3, 7, 11);
    quarter_round(x, 0, 1, 2, 3);
    quarter_round(x, 5, 6, 7, 4);
    quarter_round(x, 10, 11, 8, 9);
    quarter_round(x, 15, 12, 13, 14);
}

/// XORs the keystream blocks `counter .. counter + 8` of `input` (the Salsa20 input
/// words; 8 and 9 are replaced by each block's counter) into `data`, which must be
/// 512 bytes.
///
/// Panics if `data` has another length (a bug in the caller).
#[target_feature(enable = "avx2")]
pub(crate) fn xor_blocks8(input: &[u32; 16], counter: u64, data: &mut [u8]) {
    xor_init::<false>(counter_init(input, counter), &mut [0; 32], data);
}

/// The first eight keystream blocks of `input` (counter 0) as secretbox uses them:
/// bytes 0..32 into `key` (the Poly1305 key), bytes 32..512 XORed into `data`, which
/// must be 480 bytes. So the start of a message needs no copy through a scratch batch.
///
/// Panics if `data` has another length (a bug in the caller).
#[target_feature(enable = "avx2")]
pub(crate) fn key_and_xor8(input: &[u32; 16], key: &mut [u8; 32], data: &mut [u8]) {
    xor_init::<true>(counter_init(input, 0), key, data);
}

/// The eight states of blocks `counter .. counter + 8` of `input`.
#[target_feature(enable = "avx2")]
#[inline]
fn counter_init(input: &[u32; 16], counter: u64) -> [__m256i; 16] {
    let word = |w: usize| _mm256_set1_epi32(input[w] as i32);
    let mut init: [__m256i; 16] = core::array::from_fn(word);
    // Block j's counter is counter + j, carried into the high word where the low wraps
    // (an unsigned low < j, compared as signed after flipping the top bits).
    let iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let low = _mm256_add_epi32(_mm256_set1_epi32(counter as u32 as i32), iota);
    let top = _mm256_set1_epi32(i32::MIN);
    let wrapped = _mm256_cmpgt_epi32(_mm256_xor_si256(iota, top), _mm256_xor_si256(low, top));
    init[8] = low;
    // `wrapped` is -1 where the low word wrapped: subtracting it adds the carry.
    init[9] = _mm256_sub_epi32(_mm256_set1_epi32((counter >> 32) as u32 as i32), wrapped);
    init
}

/// XORs eight keystream blocks into `data` (512 bytes), each from its own nonce and
/// counter: block `j` is the block of `input` with words 6..10 (the 8-byte nonce, then
/// the counter) replaced by `lanes[j]` (`salsa20_core::xor_lanes`, eight at a time).
///
/// Panics if `data` has another length (a bug in the caller).
#[target_feature(enable = "avx2")]
pub(crate) fn xor_lanes8(input: &[u32; 16], lanes: &[[u32; 4]; LANES], data: &mut [u8]) {
    let word = |w: usize| _mm256_set1_epi32(input[w] as i32);
    let mut init: [__m256i; 16] = core::array::from_fn(word);
    for (w, init) in init[6..10].iter_mut().enumerate() {
        let column: [u32; LANES] = core::array::from_fn(|j| lanes[j][w]);
        *init = must_cast(column);
    }
    xor_init::<false>(init, &mut [0; 32], data);
}

/// The twenty rounds from `init` (word `w` of the eight states in `init[w]`), the
/// feed-forward, and the eight keystream blocks XORed into `data` (512 bytes) in byte
/// order; or, if `KEY`, the first 32 keystream bytes into `key` and the other 480
/// XORed into `data` (480 bytes).
#[target_feature(enable = "avx2")]
#[inline]
fn xor_init<const KEY: bool>(init: [__m256i; 16], key: &mut [u8; 32], data: &mut [u8]) {
    let skip = if KEY { 32 } else { 0 };
    assert_eq!(data.len(), LANES * BLOCK_SIZE - skip, "8 blocks");
    let mut x = init;
    for _ in 0..10 {
        double_round(&mut x);
    }
    for (x, i) in x.iter_mut().zip(init) {
        *x = _mm256_add_epi32(*x, i);
    }
    // Transpose: first, within each 128-bit lane k (blocks 4k .. 4k + 4), words
    // 4g .. 4g + 4 of block 4k + b gathered into v[g][b]; u[b] lists v[0..4][b].
    let v: [[__m256i; 4]; 4] = core::array::from_fn(|g| {
        let [a, b, c, d] = [x[4 * g], x[4 * g + 1], x[4 * g + 2], x[4 * g + 3]];
        let (t0, t1) = (_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
        let (t2, t3) = (_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));
        [
            _mm256_unpacklo_epi64(t0, t2),
            _mm256_unpackhi_epi64(t0, t2),
            _mm256_unpacklo_epi64(t1, t3),
            _mm256_unpackhi_epi64(t1, t3),
        ]
    });
    let u: [[__m256i; 4]; 4] = core::array::from_fn(|b| [v[0][b], v[1][b], v[2][b], v[3][b]]);
    // Then block 4k + b is lane k of u[0], u[1] (its first 32 bytes) and of
    // u[2], u[3] (its last 32).
    let (halves, _) = data.as_chunks_mut::<32>();
    for (b, u) in u.into_iter().enumerate() {
        let out = [
            (b, _mm256_permute2x128_si256::<0x20>(u[0], u[1])),
            (b, _mm256_permute2x128_si256::<0x20>(u[2], u[3])),
            (4 + b, _mm256_permute2x128_si256::<0x31>(u[0], u[1])),
            (4 + b, _mm256_permute2x128_si256::<0x31>(u[2], u[3])),
        ];
        for (i, (block, keystream)) in out.into_iter().enumerate() {
            let at = 2 * block + i % 2;
            let half = match (KEY, at) {
                (true, 0) => {
                    *key = must_cast(keystream);
                    continue;
                }
                (true, _) => &mut halves[at - 1],
                (false, _) => &mut halves[at],
            };
            let d: __m256i = must_cast(*half);
            *half = must_cast(_mm256_xor_si256(d, keystream));
        }
    }
}
