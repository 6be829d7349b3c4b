//! The X25519 step both handshakes share: a random ephemeral secret, its public half,
//! and the Diffie-Hellman secret with the peer's, refusing a low-order key. Pure but for
//! the random secret.

use std::io;

use rand_core::{OsRng, RngCore};
use x25519_dalek::{x25519, X25519_BASEPOINT_BYTES};
use zeroize::Zeroizing;

use crate::error::{Error, SecretError};

/// A fresh random ephemeral X25519 secret, from the operating system's generator.
///
/// Errors: [`Error::Io`] if the OS random number generator fails.
pub(crate) fn random_ephemeral() -> Result<Zeroizing<[u8; 32]>, Error> {
    let mut eph = Zeroizing::new([0u8; 32]);
    OsRng.try_fill_bytes(&mut eph[..]).map_err(|e| {
        Error::Io(io::Error::new(
            io::ErrorKind::Other,
            format!("OS random number generator failed: {e}"),
        ))
    })?;
    Ok(eph)
}

/// One side's ephemeral X25519 key pair for one handshake. The secret is wiped when it
/// is dropped.
pub(crate) struct Ephemeral {
    /// The secret scalar, as given (X25519 clamps it inside the multiplication).
    pub secret: Zeroizing<[u8; 32]>,
    /// Its public key, sent to the peer.
    pub public: [u8; 32],
}

impl Ephemeral {
    /// The pair of `secret`.
    pub fn new(secret: [u8; 32]) -> Self {
        let secret = Zeroizing::new(secret);
        let public = ephemeral_public(&secret);
        Ephemeral { secret, public }
    }
}

/// The X25519 public key of an ephemeral secret (Go's `curve25519.ScalarBaseMult`). The
/// secret is used as it is; X25519 clamps it inside the multiplication.
pub(crate) fn ephemeral_public(eph_secret: &[u8; 32]) -> [u8; 32] {
    x25519(*eph_secret, X25519_BASEPOINT_BYTES)
}

/// X25519 of our ephemeral secret and the peer's ephemeral key.
///
/// Errors: [`SecretError::LowOrderKey`] if the result is all zero: the peer sent a
/// low-order point and the secret would be known to anyone. (CometBFT's Go refuses it
/// the same way; Go v0.12 does not check.)
pub(crate) fn dh_secret(
    loc_eph_secret: &[u8; 32],
    rem_eph_public: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>, SecretError> {
    let dh = Zeroizing::new(x25519(*loc_eph_secret, *rem_eph_public));
    // Constant time is not needed to tell "all zero": that outcome is public anyway.
    if dh.iter().all(|&b| b == 0) {
        return Err(SecretError::LowOrderKey);
    }
    Ok(dh)
}
