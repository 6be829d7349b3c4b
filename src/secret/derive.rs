//! The handshake's pure derivations (Go's `sc.go` steps 2 to 5): shared secret, key
//! order, nonces and challenge. No I/O; each is checked against the Go vectors.

use ripemd::Ripemd160;
use salsa20::cipher::consts::U10;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::nonce::Nonce;
use super::nonce::NONCE_SIZE;
use crate::error::SecretError;
use crate::sealed_stream::dh::dh_secret;
// Where the vector tests find it.
#[cfg(test)]
pub(crate) use crate::sealed_stream::dh::ephemeral_public;

/// The connection's one symmetric key (Go's `box.Precompute`, libsodium's
/// `crypto_box_beforenm`): HSalsa20 of the X25519 result with a zero 16-byte input.
///
/// Errors: [`SecretError::LowOrderKey`] if the X25519 result is all zero, meaning the
/// peer sent a low-order point and the key would be known to anyone. Go v0.12 does not
/// check this; a real peer never sends such a key.
pub(crate) fn shared_secret(
    loc_eph_secret: &[u8; 32],
    rem_eph_public: &[u8; 32],
) -> Result<[u8; 32], SecretError> {
    let dh = dh_secret(loc_eph_secret, rem_eph_public)?;
    let key = salsa20::Key::from_slice(&dh[..]);
    let mut out = salsa20::hsalsa::<U10>(key, &Default::default());
    let mut shared = [0u8; 32];
    shared.copy_from_slice(&out);
    zeroize::Zeroize::zeroize(out.as_mut_slice());
    Ok(shared)
}

/// The two ephemeral public keys in byte order, `(lo, hi)` (Go's `sort32`). Equal keys
/// give `(b, a)`, as in Go.
pub(crate) fn sort_keys<'a>(a: &'a [u8; 32], b: &'a [u8; 32]) -> (&'a [u8; 32], &'a [u8; 32]) {
    if a < b {
        (a, b)
    } else {
        (b, a)
    }
}

/// `nonce1` = RIPEMD-160(lo || hi) followed by four zero bytes (Go's `hash24`).
pub(crate) fn base_nonce(lo: &[u8; 32], hi: &[u8; 32]) -> Nonce {
    let digest = Ripemd160::new()
        .chain_update(lo)
        .chain_update(hi)
        .finalize();
    let mut n = [0u8; NONCE_SIZE];
    n[..20].copy_from_slice(&digest);
    Nonce::new(n)
}

/// The challenge both sides sign: SHA-256(lo || hi) (Go's `hash32`).
pub(crate) fn challenge(lo: &[u8; 32], hi: &[u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update(lo)
        .chain_update(hi)
        .finalize()
        .into()
}

/// Everything one side derives from the two ephemeral keys.
#[derive(Clone)]
pub(crate) struct Derived {
    /// The symmetric key of both directions.
    pub shared: Zeroizing<[u8; 32]>,
    /// The nonce of the first frame we receive.
    pub recv_nonce: Nonce,
    /// The nonce of the first frame we send.
    pub send_nonce: Nonce,
    /// The 32 bytes each side signs.
    pub challenge: [u8; 32],
    /// Whether our ephemeral key sorts first. The side that is lo receives with
    /// `nonce1` and sends with `nonce2` (= `nonce1` with its last byte XOR 1).
    // Read only by the tests since it stopped being public API.
    #[cfg_attr(not(test), allow(dead_code))]
    pub loc_is_lo: bool,
}

/// Steps 2 to 5 for one side: shared secret, sort, nonces, challenge.
///
/// Errors: [`SecretError::LowOrderKey`] as for [`shared_secret`].
pub(crate) fn derive_keys(
    loc_eph_secret: &[u8; 32],
    loc_eph_public: &[u8; 32],
    rem_eph_public: &[u8; 32],
) -> Result<Derived, SecretError> {
    let shared = Zeroizing::new(shared_secret(loc_eph_secret, rem_eph_public)?);
    let (lo, hi) = sort_keys(loc_eph_public, rem_eph_public);
    // Go compares pointers: "my key is the one sort32 put first". With equal keys
    // sort32 puts the remote one first, so neither side is lo.
    let loc_is_lo = loc_eph_public < rem_eph_public;
    let nonce1 = base_nonce(lo, hi);
    let mut b = *nonce1.as_bytes();
    b[NONCE_SIZE - 1] ^= 1;
    let nonce2 = Nonce::new(b);
    let (recv_nonce, send_nonce) = if loc_is_lo {
        (nonce1, nonce2)
    } else {
        (nonce2, nonce1)
    };
    Ok(Derived {
        shared,
        recv_nonce,
        send_nonce,
        challenge: challenge(lo, hi),
        loc_is_lo,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree_and_use_opposite_nonces() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let (pa, pb) = (ephemeral_public(&a), ephemeral_public(&b));
        let da = derive_keys(&a, &pa, &pb).unwrap();
        let db = derive_keys(&b, &pb, &pa).unwrap();
        assert_eq!(*da.shared, *db.shared);
        assert_eq!(da.challenge, db.challenge);
        assert_eq!(da.send_nonce, db.recv_nonce);
        assert_eq!(da.recv_nonce, db.send_nonce);
        assert_ne!(da.loc_is_lo, db.loc_is_lo);
    }

    #[test]
    fn zero_point_is_rejected() {
        assert_eq!(
            shared_secret(&[9u8; 32], &[0u8; 32]),
            Err(SecretError::LowOrderKey)
        );
    }
}
