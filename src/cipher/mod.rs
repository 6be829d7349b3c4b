//! NaCl secretbox (XSalsa20-Poly1305) for the SecretConnection's frames, about twice as
//! fast as the `crypto_secretbox` crate on a 1026-byte frame, in safe Rust
//! (`examples/cipher_rate.rs`): the Salsa20 core computes several blocks side by side in
//! `[u32; N]` lanes that LLVM vectorises (SSE2 in a default x86-64 build, wider when
//! AVX2 or AVX-512 is enabled at compile time), and Poly1305 is a `u128`
//! poly1305-donna, which beats the `poly1305` crate's AVX2 backend on 1 KiB messages. A pure module: keys, nonces and buffers in, bytes and tags out;
//! byte-identical to `crypto_secretbox` and to the frames recorded from Go (see `tests`).
//!
//! * `salsa20_core`: the multi-block Salsa20 block function and HSalsa20.
//! * [`xsalsa20`]: the XSalsa20 keystream over buffers of any length.
//! * [`poly1305_donna`]: Poly1305 in `u128` arithmetic (poly1305-donna-64).
//! * [`secretbox`]: seal and open in place, tag apart.

mod aead_impl;
pub(crate) mod poly1305_donna;
mod salsa20_core;
pub(crate) mod secretbox;
pub(crate) mod xsalsa20;

#[cfg(test)]
mod tests;

#[allow(unused_imports)] // AuthError and Tag: the tests' and the example's names
pub(crate) use secretbox::{AuthError, SecretBox, Tag};
