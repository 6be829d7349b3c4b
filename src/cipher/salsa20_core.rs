//! The Salsa20 block function, computed for `N` consecutive blocks side by side, and
//! HSalsa20 (the XSalsa20 subkey step): the portable build, which every target runs
//! (on x86-64 the AVX2 and AVX-512 cores of `super::backend` replace the batches where
//! the CPU has them). Safe Rust only: the states of the `N` blocks are kept as sixteen
//! `[u32; N]` lanes (word `w` of block `j` is `x[w][j]`), and the twenty rounds are
//! written as straight-line scalar code inside a loop over the blocks `j`. LLVM's loop
//! vectoriser turns that loop into SIMD code: each scalar operation becomes one
//! instruction on 4 blocks (`paddd`, `pxor`, `pslld`/`psrld`/`por` for a rotation with
//! SSE2, the baseline of x86-64), and the lanes load and store as whole vectors.
//! (Compiled inside an AVX2 or AVX-512 `#[target_feature]` function the same code
//! vectorises wider, but its start and end become scatters and gathers, which ate most
//! of the gain: hence the intrinsics of `salsa20_avx2` and `salsa20_avx512`.)
//!
//! Three details decide whether it vectorises; the disassembly shows each (see
//! `examples/cipher_rate.rs`):
//!
//! * The rounds are written out ten times, not looped: the loop vectoriser only handles
//!   innermost loops, and a 10-round loop is too big for LLVM to unroll by itself.
//! * A rotation is written as two XORs of shifts (`t ^= v << r; t ^= v >> (32 - r)`),
//!   not `rotate_left`: LLVM recognises a rotate (`fshl`), which SSE2 lacks, and its cost
//!   model then keeps everything scalar (`rol`).
//! * Blocks are independent, so there is no loop-carried dependence to prove away.
//!
//! (Holding the state as `[u32; N]` lanes and writing each step as an operation on whole
//! lanes leaves it to the SLP vectoriser, which gave up on the 20-round dependency
//! chains: mostly scalar code, no faster than the `salsa20` crate.)

/// "expand 32-byte k", the Salsa20 constants for a 256-bit key.
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// Bytes in one Salsa20 block.
pub(crate) const BLOCK_SIZE: usize = 64;

/// Sixteen lanes of `N` words: the state of `N` blocks.
type Lanes<const N: usize> = [[u32; N]; 16];

/// `x[t] ^= (x[p] + x[q]) <<< r`: one step of a quarter round. The rotation is two XORs
/// of shifts so that LLVM does not turn it into a rotate (see the module docs).
#[inline(always)]
fn step(x: &mut [u32; 16], t: usize, p: usize, q: usize, r: u32) {
    let v = x[p].wrapping_add(x[q]);
    x[t] ^= v << r;
    x[t] ^= v >> (32 - r);
}

/// The quarter round on words `(a, b, c, d)`.
#[inline(always)]
fn quarter_round(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    step(x, b, a, d, 7);
    step(x, c, b, a, 9);
    step(x, d, c, b, 13);
    step(x, a, d, c, 18);
}

/// A column round, then a row round.
#[inline(always)]
fn double_round(x: &mut [u32; 16]) {
    quarter_round(x, 0, 4, 8, 12);
    quarter_round(x, 5, 9, 13, 1);
    quarter_round(x, 10, 14, 2, 6);
    quarter_round(x, 15, 3, 7, 11);
    quarter_round(x, 0, 1, 2, 3);
    quarter_round(x, 5, 6, 7, 4);
    quarter_round(x, 10, 11, 8, 9);
    quarter_round(x, 15, 12, 13, 14);
}

/// Twenty rounds, in place, written out rather than looped (see the module docs).
#[inline(always)]
fn rounds(x: &mut [u32; 16]) {
    double_round(x);
    double_round(x);
    double_round(x);
    double_round(x);
    double_round(x);
    double_round(x);
    double_round(x);
    double_round(x);
    double_round(x);
    double_round(x);
}

/// Eight little-endian words from 32 bytes.
fn words8(bytes: &[u8; 32]) -> [u32; 8] {
    let mut w = [0u32; 8];
    for (w, b) in w.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    w
}

/// The Salsa20 input for `key` and the 8-byte `nonce` with block counter 0. Words 8
/// and 9 hold the counter; [`xor_blocks`] fills them in.
pub(crate) fn salsa20_input(key: &[u8; 32], nonce: &[u8; 8]) -> [u32; 16] {
    let k = words8(key);
    let n0 = u32::from_le_bytes([nonce[0], nonce[1], nonce[2], nonce[3]]);
    let n1 = u32::from_le_bytes([nonce[4], nonce[5], nonce[6], nonce[7]]);
    [
        SIGMA[0], k[0], k[1], k[2], k[3], SIGMA[1], n0, n1, 0, 0, SIGMA[2], k[4], k[5], k[6], k[7],
        SIGMA[3],
    ]
}

/// One Salsa20 keystream block of `input` at block `counter`, computed alone (scalar
/// code): for the ends of a message, where a whole batch would be wasted.
pub(crate) fn block(input: &[u32; 16], counter: u64) -> [u8; BLOCK_SIZE] {
    let mut init = *input;
    init[8] = counter as u32;
    init[9] = (counter >> 32) as u32;
    let mut x = init;
    rounds(&mut x);
    let mut out = [0u8; BLOCK_SIZE];
    for ((o, x), i) in out.chunks_exact_mut(4).zip(x).zip(init) {
        o.copy_from_slice(&x.wrapping_add(i).to_le_bytes());
    }
    out
}

/// HSalsa20: the 32-byte XSalsa20 subkey for `key` and the first 16 nonce bytes.
pub(crate) fn hsalsa20(key: &[u8; 32], nonce16: &[u8; 16]) -> [u8; 32] {
    let k = words8(key);
    let mut n = [0u32; 4];
    for (w, b) in n.iter_mut().zip(nonce16.chunks_exact(4)) {
        *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    let input = [
        SIGMA[0], k[0], k[1], k[2], k[3], SIGMA[1], n[0], n[1], n[2], n[3], SIGMA[2], k[4], k[5],
        k[6], k[7], SIGMA[3],
    ];
    let mut x = input;
    rounds(&mut x);
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip([0, 5, 10, 15, 6, 7, 8, 9]) {
        o.copy_from_slice(&x[w].to_le_bytes());
    }
    out
}

/// XORs the keystream blocks `counter .. counter + N` of `input` into `data`, which
/// must be `N * 64` bytes (block `j` covers `data[64 j .. 64 j + 64]`).
///
/// Panics if `data` has another length (a bug in the caller).
pub(crate) fn xor_blocks<const N: usize>(input: &[u32; 16], counter: u64, data: &mut [u8]) {
    let lanes: [[u32; 4]; N] = core::array::from_fn(|j| {
        let c = counter.wrapping_add(j as u64);
        [input[6], input[7], c as u32, (c >> 32) as u32]
    });
    xor_lanes::<N>(input, &lanes, data);
}

/// XORs `N` keystream blocks into `data` (`N * 64` bytes), each from its own nonce and
/// counter: block `j` is the block of `input` with words 6..10 (the 8-byte nonce, then
/// the counter) replaced by `lanes[j]`. So one batch can end several messages.
///
/// Panics if `data` has another length (a bug in the caller).
pub(crate) fn xor_lanes<const N: usize>(input: &[u32; 16], lanes: &[[u32; 4]; N], data: &mut [u8]) {
    assert_eq!(data.len(), N * BLOCK_SIZE, "xor_blocks takes whole batches");
    let mut init: Lanes<N> = [[0; N]; 16];
    for (lane, &word) in init.iter_mut().zip(input) {
        *lane = [word; N];
    }
    for (j, words) in lanes.iter().enumerate() {
        for (w, &word) in words.iter().enumerate() {
            init[6 + w][j] = word;
        }
    }
    // The loop LLVM vectorises: block j's state is lane j of every word.
    let mut keystream: Lanes<N> = [[0; N]; 16];
    for j in 0..N {
        let mut x = [0u32; 16];
        for (x, lane) in x.iter_mut().zip(&init) {
            *x = lane[j];
        }
        rounds(&mut x);
        for ((k, x), lane) in keystream.iter_mut().zip(x).zip(&init) {
            k[j] = x.wrapping_add(lane[j]);
        }
    }
    for (j, block) in data.chunks_exact_mut(BLOCK_SIZE).enumerate() {
        for (w, bytes) in block.chunks_exact_mut(4).enumerate() {
            let k = keystream[w][j].to_le_bytes();
            for (b, k) in bytes.iter_mut().zip(k) {
                *b ^= k;
            }
        }
    }
}
