//! Turns on `cfg(mconn_simd)`, the AVX2 and AVX-512 Salsa20 cores of
//! `src/cipher/backend.rs`, when the compiler is Rust 1.89 or newer: their intrinsics
//! and `#[target_feature(enable = "avx512f")]` are stable from 1.89 on, while the crate
//! builds from 1.71. An older compiler (or one whose version cannot be read) builds the
//! portable core alone, which is correct everywhere, only slower.

use std::env;
use std::process::Command;

/// The first Rust release with everything the SIMD cores use.
const SIMD_MINOR: u32 = 89;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok());
    // "rustc 1.95.0 (59807616e 2026-04-14)" → 95
    let minor = version.as_deref().and_then(|v| {
        let mut parts = v.split_whitespace().nth(1)?.split('.');
        (parts.next()? == "1").then_some(())?;
        parts.next()?.parse::<u32>().ok()
    });
    if minor.is_some_and(|m| m >= SIMD_MINOR) {
        println!("cargo:rustc-cfg=mconn_simd");
    }
}
