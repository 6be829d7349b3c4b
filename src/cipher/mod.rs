//! NaCl secretbox (XSalsa20-Poly1305) for the SecretConnection's frames, two to three
//! times as fast as the `crypto_secretbox` crate on a 1026-byte frame
//! (`examples/cipher_rate.rs`): the Salsa20 core computes several blocks side by side,
//! 4 in `[u32; N]` lanes that LLVM vectorises (SSE2 in a default x86-64 build), or, on
//! a CPU found at run time to have them, 8 in AVX2 or 16 in AVX-512 registers; and
//! Poly1305 is a `u128` poly1305-donna, which beats the `poly1305` crate's AVX2 backend
//! on 1 KiB messages. A pure module: keys, nonces and buffers in, bytes and tags out;
//! byte-identical to `crypto_secretbox` and to the frames recorded from Go (see `tests`).
//! Safe Rust except [`backend`], the crate's one file with `unsafe` (a call into a
//! `#[target_feature]` function after run-time detection; see its docs).
//!
//! * [`backend`]: which build of the Salsa20 core runs, chosen at run time.
//! * `salsa20_core`: the multi-block Salsa20 block function and HSalsa20, portable.
//! * `salsa20_avx2`, `salsa20_avx512`: 8 and 16 blocks at a time with x86-64
//!   intrinsics.
//! * [`xsalsa20`]: the XSalsa20 keystream over buffers of any length.
//! * [`poly1305_donna`]: Poly1305 in `u128` arithmetic (poly1305-donna-64).
//! * `poly1305_limbs`: the 44/44/42-bit limb arithmetic both Poly1305 paths use.
//! * `poly1305_wide`: Poly1305 four blocks at a time in AVX2 lanes, for the long
//!   stretches of a frame.
//! * [`secretbox`]: seal and open in place, tag apart.

mod aead_impl;
#[allow(unsafe_code)] // the one exception: see the module's docs
pub(crate) mod backend;
pub(crate) mod poly1305_donna;
mod poly1305_limbs;
#[cfg(all(target_arch = "x86_64", mconn_simd))]
pub(crate) mod poly1305_wide;
#[cfg(all(target_arch = "x86_64", mconn_simd))]
mod salsa20_avx2;
#[cfg(all(target_arch = "x86_64", mconn_simd))]
mod salsa20_avx512;
mod salsa20_core;
pub(crate) mod secretbox;
pub(crate) mod xsalsa20;

#[cfg(test)]
mod tests;

pub(crate) use secretbox::many::GROUP;
#[allow(unused_imports)] // AuthError and Tag: the tests' and the example's names
pub(crate) use secretbox::{AuthError, SecretBox, Tag};
