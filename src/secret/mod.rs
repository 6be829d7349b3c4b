//! Tendermint v0.12's SecretConnection: an authenticated, encrypted stream between two
//! nodes, byte-compatible with Go's `p2p/secret_connection.go` (feature
//! `secret-connection`, on by default).
//!
//! # Protocol
//!
//! 1. Each side writes a fresh 32-byte X25519 ephemeral public key and reads the peer's.
//! 2. Shared key = HSalsa20(X25519(our ephemeral secret, their ephemeral key), 0^16)
//!    (`shared_secret`); one key for both directions.
//! 3. The two ephemeral keys sorted, `lo || hi`, give the nonces (RIPEMD-160, see
//!    `derive_keys`) and the challenge (SHA-256).
//! 4. Each side sends its Ed25519 public key and its signature of the challenge in one
//!    frame (`AuthSigMessage`) and checks the peer's.
//! 5. From then on every frame is `BE16(len) || data (<= 1024) || zero padding`, 1026
//!    bytes sealed with XSalsa20-Poly1305 into 1042 bytes; each direction's nonce
//!    advances by 2 per frame.
//!
//! [`SecretConnection::handshake`] runs it; [`SecretConnection::into_transport`] hands
//! the result to an [`MConnection`](crate::MConnection).
//!
//! # Where we differ from Go v0.12
//!
//! * An ephemeral key whose X25519 result is all zero (a low-order point) is refused
//!   with [`SecretError::LowOrderKey`](crate::SecretError::LowOrderKey); Go accepts it.
//! * Reading hands out every decrypted byte; Go's `Read` drops the rest of a frame
//!   that does not fit the caller's buffer (the vectors' READ QUIRK). So when sending to
//!   Go, write each go-wire primitive of a NodeInfo with its own `write`, as Go does.
//! * The nonce counter refuses to wrap at 2^192
//!   ([`NonceExhausted`](crate::SecretError::NonceExhausted)); Go wraps.
//! * A `write` of many frames is one system call, not one per frame; the bytes on the
//!   wire are the same.
//! * Signatures are verified strictly (`verify_signature`): an identity key of small
//!   order is refused with [`WeakKey`](crate::SecretError::WeakKey) (with the identity
//!   point as key, the signature R = identity, s = 0 "verifies" any challenge, so anyone
//!   could claim that identity under Go v0.12), and so are signatures with a small-order
//!   R or an unreduced scalar. An honest signer, Go's included, never makes those.

mod auth;
mod connection;
mod derive;
mod frame;
mod nonce;
#[cfg(test)]
mod tests;
mod transport;

pub use self::connection::SecretConnection;
pub use self::transport::{SecretReader, SecretWriter};
