//! NaCl secretbox (XSalsa20-Poly1305) for the SecretConnection's frames, several times
//! faster than the `crypto_secretbox` crate in safe Rust: the Salsa20 core computes
//! several blocks side by side in `[u32; N]` lanes that LLVM vectorises, and Poly1305 is
//! the `poly1305` crate (which picks its AVX2 backend at run time). A pure module: keys,
//! nonces and buffers in, bytes and tags out; byte-identical to `crypto_secretbox` and
//! to the frames recorded from Go (see `tests`).
//!
//! * `salsa20_core`: the multi-block Salsa20 block function and HSalsa20.
//! * [`xsalsa20`]: the XSalsa20 keystream over buffers of any length.
//! * [`secretbox`]: seal and open in place, tag apart.

mod salsa20_core;
pub(crate) mod secretbox;
pub(crate) mod xsalsa20;

#[cfg(test)]
mod tests;

// The names the frame path will use; unused until it is wired in.
#[allow(unused_imports)]
pub(crate) use secretbox::{AuthError, SecretBox, Tag};
