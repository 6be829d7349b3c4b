//! CometBFT's SecretConnection (v0.34 to v1.0): an authenticated, encrypted stream
//! between two nodes, byte-compatible with Go's `p2p/conn/secret_connection.go` and
//! tendermint-rs's (`tests/vectors/cometbft-v0.38/PROTOCOL.md` §3).
//!
//! # Protocol
//!
//! 1. Each side writes its fresh X25519 ephemeral key as a delimited protobuf
//!    `BytesValue` (`22 0a 20 <32>`) and reads the peer's (`ephemeral.rs`,
//!    `../delimited.rs`).
//! 2. The two keys sorted, a Merlin transcript of `lo`, `hi` and the X25519 secret (an
//!    all-zero secret, from a low-order point, is refused); HKDF-SHA256 of the secret
//!    gives one key per direction, the transcript the 32-byte challenge (`derive.rs`).
//! 3. From then on every frame is `LE32(len) || data (<= 1024) || padding`, 1028 bytes
//!    sealed with ChaCha20-Poly1305 into 1044, under the nonce `00000000 || LE64(frame
//!    number)` (`frame.rs`, `nonce.rs`; the engine is the shared `crate::sealed_stream`).
//! 4. Each side sends a delimited `AuthSigMessage` (its Ed25519 key and its signature of
//!    the challenge, 103 bytes) through the encrypted stream and checks the peer's with
//!    ZIP-215's rules, as Go does (`auth.rs`, `zip215.rs`).
//!
//! # Where we differ from Go
//!
//! * An ephemeral key that is not exactly 32 bytes is refused; Go pads or cuts it.
//! * A small-order identity key is refused ([`WeakKey`](crate::SecretError::WeakKey)):
//!   with it a forged signature verifies under ZIP-215 for any challenge.
//! * The nonce counter refuses to pass 2^64 - 1
//!   ([`NonceExhausted`](crate::SecretError::NonceExhausted)); Go panics.
//! * Padding is zero; Go's is whatever its frame buffer held (receivers ignore it).
//! * A `write` of many frames is one system call, not one per frame.

mod auth;
mod connection;
mod derive;
mod ephemeral;
mod frame;
mod nonce;
mod proto;
#[cfg(test)]
mod tests;
mod zip215;

pub use self::connection::SecretConnection;
