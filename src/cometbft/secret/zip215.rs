//! Ed25519 verification under ZIP-215's rules, the ones Go's CometBFT uses
//! (curve25519-voi's `VerifyOptionsZIP_215`, `crypto/ed25519/ed25519.go:27-29`). Pure.
//!
//! * `S` must be a canonical scalar (below the group order ℓ);
//! * `A` and `R` must decode to curve points, and non-canonical encodings are accepted
//!   (curve25519-dalek's `decompress` reduces the y-coordinate and accepts a negative
//!   zero x);
//! * the cofactored equation `[8]([S]B − [k]A − R) = identity` must hold, with
//!   `k = SHA-512(R ‖ A ‖ M) mod ℓ` over the encodings as received.
//!
//! ed25519-dalek's `verify` uses the cofactorless equation and compares R's encoding, so
//! it refuses some signatures Go accepts (a mixed-order R, a non-canonical R); a peer
//! whose signature Go accepts must be accepted here too.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use sha2::{Digest, Sha512};

/// Whether `signature` is `public_key`'s signature of `msg` under ZIP-215's rules.
#[allow(non_snake_case)]
pub(crate) fn verify(public_key: &[u8; 32], msg: &[u8], signature: &[u8; 64]) -> bool {
    let mut R_bytes = [0u8; 32];
    let mut s_bytes = [0u8; 32];
    R_bytes.copy_from_slice(&signature[..32]);
    s_bytes.copy_from_slice(&signature[32..]);
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };
    let (Some(A), Some(R)) = (
        CompressedEdwardsY(*public_key).decompress(),
        CompressedEdwardsY(R_bytes).decompress(),
    ) else {
        return false;
    };
    let mut wide = [0u8; 64];
    wide.copy_from_slice(
        &Sha512::new()
            .chain_update(R_bytes)
            .chain_update(public_key)
            .chain_update(msg)
            .finalize(),
    );
    let k = Scalar::from_bytes_mod_order_wide(&wide);
    // [S]B - [k]A
    let R_prime = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-A, &s);
    (R_prime - R).mul_by_cofactor().is_identity()
}

/// Whether `public_key` decodes to a point of small order (the identity or a torsion
/// point): with one, a forged signature verifies for any message under ZIP-215.
pub(crate) fn is_small_order(public_key: &[u8; 32]) -> bool {
    CompressedEdwardsY(*public_key)
        .decompress()
        .is_some_and(|a| a.is_small_order())
}
