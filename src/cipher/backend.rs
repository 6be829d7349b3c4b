//! Which build of the multi-block Salsa20 core runs, chosen at run time: the crate's one
//! file with `unsafe` code.
//!
//! The portable core (`salsa20_core::xor_blocks`) is compiled for the target's baseline
//! (SSE2 on x86-64) and computes 4 blocks side by side. On x86-64 two more are written
//! with `core::arch` intrinsics in `#[target_feature]` functions: 8 blocks in AVX2
//! registers (`salsa20_avx2`) and 16 in AVX-512 registers (`salsa20_avx512`).
//! (Both need Rust 1.89, the crate 1.71: `build.rs` sets `cfg(mconn_simd)` on newer
//! compilers, and older ones build the portable core alone.)
//! [`Backend::detect`] picks the widest one the CPU runs (`is_x86_feature_detected!`,
//! which std caches), and the frame cipher uses it with [`Backend::lanes`] blocks per
//! batch. The same AVX2 token also runs Poly1305 four blocks at a time
//! ([`WidePoly`], `poly1305_wide`).
//!
//! # Why `unsafe`, and why it is sound
//!
//! Calling a `#[target_feature]` function is `unsafe`: on a CPU without the feature it
//! would execute instructions the CPU does not have. Each such call below is one
//! `unsafe` block (five in all), reached only through a [`Backend`] variant or a
//! [`WidePoly`] that holds a token (`Avx2`, `Avx512`). A token has a private field, so it
//! is constructed only in this file, in [`Backend::detect`], [`Backend::all`] and
//! `Backend::avx2`, right after
//! `is_x86_feature_detected!` has said the CPU has the feature its function is compiled
//! with. The functions themselves are safe Rust (no pointers; intrinsics are safe inside
//! them, bytes become vectors through `bytemuck`'s checked casts, and Poly1305's lanes
//! are plain arrays the compiler vectorises): the CPU feature
//! is the only obligation. The crate root is `#![deny(unsafe_code)]` (`forbid` would
//! not let this module's `allow` through), and `tests/layout.rs` checks that no other
//! file has `unsafe` and that every block here has its `// SAFETY:` comment.

use zeroize::Zeroize;

use super::salsa20_core;
#[cfg(all(target_arch = "x86_64", mconn_simd))]
use super::{poly1305_wide, salsa20_avx2, salsa20_avx512};

/// The CPU has AVX2: a token only `Backend::detect`, `Backend::all` and
/// `Backend::avx2` make, after checking.
#[cfg(all(target_arch = "x86_64", mconn_simd))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Avx2(());

/// The CPU has AVX-512 F: a token only `Backend::detect` and `Backend::all` make, after checking.
#[cfg(all(target_arch = "x86_64", mconn_simd))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Avx512(());

/// Poly1305 four blocks at a time (`poly1305_wide`) under one key: the AVX2 token and
/// the powers of `r`. Made only by [`Backend::wide_poly1305`].
#[cfg(all(target_arch = "x86_64", mconn_simd))]
pub(crate) struct WidePoly(Avx2, poly1305_wide::Powers);

/// Poly1305 four blocks at a time: never made in a build without the AVX2 code.
#[cfg(not(all(target_arch = "x86_64", mconn_simd)))]
pub(crate) enum WidePoly {}

impl WidePoly {
    /// Bytes of whole groups below which the one-lane code is as fast (the four lanes'
    /// last step and the changes of limbs cost about two groups).
    pub(crate) const MIN: usize = 128;
    /// Bytes per group: [`absorb`](Self::absorb) takes multiples of it.
    pub(crate) const GROUP: usize = 64;

    /// Adds `data` (whole 64-byte groups) to the poly1305-donna-64 accumulator `h`.
    #[inline]
    pub(crate) fn absorb(&self, h: &mut [u64; 3], data: &[u8]) {
        #[cfg(all(target_arch = "x86_64", mconn_simd))]
        {
            let WidePoly(Avx2(()), powers) = self;
            // SAFETY: an `Avx2` token exists only where `is_x86_feature_detected!` said
            // this CPU has AVX2 (`Backend::detect`, `Backend::all`, `Backend::avx2`),
            // the one feature `absorb` is compiled with.
            unsafe { poly1305_wide::absorb(h, powers, data) }
        }
        #[cfg(not(all(target_arch = "x86_64", mconn_simd)))]
        {
            let _ = (h, data);
            match *self {}
        }
    }

    /// Wipes the powers of `r`.
    pub(crate) fn wipe(&mut self) {
        #[cfg(all(target_arch = "x86_64", mconn_simd))]
        self.1.wipe();
        #[cfg(not(all(target_arch = "x86_64", mconn_simd)))]
        match *self {}
    }
}

/// A build of the Salsa20 core and how many blocks it computes per batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// The baseline build, on every target: 4 blocks per batch.
    Portable,
    /// Written for AVX2: 8 blocks per batch.
    #[cfg(all(target_arch = "x86_64", mconn_simd))]
    Avx2(Avx2),
    /// Written for AVX-512 F: 16 blocks per batch.
    #[cfg(all(target_arch = "x86_64", mconn_simd))]
    Avx512(Avx512),
}

impl Backend {
    /// The widest build this CPU runs.
    pub(crate) fn detect() -> Backend {
        #[cfg(all(target_arch = "x86_64", mconn_simd))]
        {
            if is_x86_feature_detected!("avx512f") {
                return Backend::Avx512(Avx512(()));
            }
            if is_x86_feature_detected!("avx2") {
                return Backend::Avx2(Avx2(()));
            }
        }
        Backend::Portable
    }

    /// Every build this CPU runs, the portable one first (for the tests and the rate
    /// example).
    #[allow(dead_code)] // used by the tests and examples/cipher_rate.rs
    pub(crate) fn all() -> Vec<Backend> {
        #[cfg(all(target_arch = "x86_64", mconn_simd))]
        {
            let avx2 = is_x86_feature_detected!("avx2").then_some(Backend::Avx2(Avx2(())));
            let avx512 = is_x86_feature_detected!("avx512f").then_some(Backend::Avx512(Avx512(())));
            [Some(Backend::Portable), avx2, avx512]
                .into_iter()
                .flatten()
                .collect()
        }
        #[cfg(not(all(target_arch = "x86_64", mconn_simd)))]
        vec![Backend::Portable]
    }

    /// Blocks per batch that suit this build: as many as its vector registers hold
    /// (4 for SSE2's 128 bits, 8 for AVX2's 256, 16 for AVX-512's 512).
    pub(crate) fn lanes(self) -> usize {
        match self {
            Backend::Portable => 4,
            #[cfg(all(target_arch = "x86_64", mconn_simd))]
            Backend::Avx2(_) => 8,
            #[cfg(all(target_arch = "x86_64", mconn_simd))]
            Backend::Avx512(_) => 16,
        }
    }

    /// The AVX2 token, if this build and CPU have AVX2: the `Avx2` build's own, or for
    /// the `Avx512` build (whose CPU has AVX2 in practice) after checking.
    #[cfg(all(target_arch = "x86_64", mconn_simd))]
    fn avx2(self) -> Option<Avx2> {
        match self {
            Backend::Avx2(token) => Some(token),
            Backend::Avx512(_) => is_x86_feature_detected!("avx2").then_some(Avx2(())),
            Backend::Portable => None,
        }
    }

    /// Poly1305 four blocks at a time under the key whose `r` (and `r^2`) are given in
    /// poly1305-donna-64 limbs, if this build and CPU have AVX2; `None` otherwise (and
    /// for the portable build, which the tests force).
    pub(crate) fn wide_poly1305(self, r: [u64; 3], r2: [u64; 3]) -> Option<WidePoly> {
        let _ = (r, r2);
        #[cfg(all(target_arch = "x86_64", mconn_simd))]
        if let Some(token) = self.avx2() {
            return Some(WidePoly(token, poly1305_wide::Powers::new(r, r2)));
        }
        None
    }

    /// The first `N` keystream blocks of `input` (counter 0) as secretbox uses them:
    /// bytes 0..32 into `key`, the rest XORed into `data` (`N * 64 - 32` bytes; panics
    /// otherwise). Without a copy through a scratch batch where this build has its own
    /// (AVX2, 8 blocks).
    #[inline]
    pub(crate) fn key_and_xor<const N: usize>(
        self,
        input: &[u32; 16],
        key: &mut [u8; 32],
        data: &mut [u8],
    ) {
        #[cfg(all(target_arch = "x86_64", mconn_simd))]
        if let (Backend::Avx2(_), salsa20_avx2::LANES) = (self, N) {
            // SAFETY: an `Avx2` token exists only where `is_x86_feature_detected!` said
            // this CPU has AVX2 (`Backend::detect`, `Backend::all`), the one feature
            // `key_and_xor8` is compiled with.
            unsafe { salsa20_avx2::key_and_xor8(input, key, data) };
            return;
        }
        let mut scratch = [0u8; 16 * salsa20_core::BLOCK_SIZE];
        let scratch = &mut scratch[..N * salsa20_core::BLOCK_SIZE];
        scratch[32..].copy_from_slice(data);
        self.xor_blocks::<N>(input, 0, scratch);
        key.copy_from_slice(&scratch[..32]);
        data.copy_from_slice(&scratch[32..]);
        scratch[..32].zeroize();
    }

    /// Blocks per batch that suit [`xor_lanes`](Self::xor_lanes) in this build: 8 where
    /// the CPU has AVX2, else 4.
    pub(crate) fn lane_batch(self) -> usize {
        #[cfg(all(target_arch = "x86_64", mconn_simd))]
        if self.avx2().is_some() {
            return salsa20_avx2::LANES;
        }
        4
    }

    /// XORs `N` keystream blocks into `data` (`N * 64` bytes; panics otherwise), each
    /// from its own nonce and counter (`salsa20_core::xor_lanes`): with AVX2 when `N` is
    /// its [`lane_batch`](Self::lane_batch), with the portable build otherwise.
    #[inline]
    pub(crate) fn xor_lanes<const N: usize>(
        self,
        input: &[u32; 16],
        lanes: &[[u32; 4]; N],
        data: &mut [u8],
    ) {
        #[cfg(all(target_arch = "x86_64", mconn_simd))]
        if let (Some(Avx2(())), Ok(eight)) = (self.avx2(), lanes.as_slice().try_into()) {
            // SAFETY: an `Avx2` token exists only where `is_x86_feature_detected!` said
            // this CPU has AVX2 (`Backend::detect`, `Backend::all`, `Backend::avx2`),
            // the one feature `xor_lanes8` is compiled with.
            unsafe { salsa20_avx2::xor_lanes8(input, eight, data) };
            return;
        }
        salsa20_core::xor_lanes::<N>(input, lanes, data);
    }

    /// XORs the keystream blocks `counter .. counter + N` of `input` into `data`
    /// (`N * 64` bytes; panics otherwise) with this build when `N` is its
    /// [`lanes`](Backend::lanes), and with the portable one otherwise.
    #[inline]
    pub(crate) fn xor_blocks<const N: usize>(
        self,
        input: &[u32; 16],
        counter: u64,
        data: &mut [u8],
    ) {
        match self {
            #[cfg(all(target_arch = "x86_64", mconn_simd))]
            Backend::Avx2(_) if N == salsa20_avx2::LANES => {
                // SAFETY: an `Avx2` token exists only where `is_x86_feature_detected!`
                // said this CPU has AVX2 (`Backend::detect`, `Backend::all`), the one
                // feature `xor_blocks8` is compiled with.
                unsafe { salsa20_avx2::xor_blocks8(input, counter, data) }
            }
            #[cfg(all(target_arch = "x86_64", mconn_simd))]
            Backend::Avx512(_) if N == salsa20_avx512::LANES => {
                // SAFETY: an `Avx512` token exists only where `is_x86_feature_detected!`
                // said this CPU has AVX-512 F, the one feature `xor_blocks16` is
                // compiled with.
                unsafe { salsa20_avx512::xor_blocks16(input, counter, data) }
            }
            _ => salsa20_core::xor_blocks::<N>(input, counter, data),
        }
    }
}
