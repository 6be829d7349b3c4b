//! The ZIP-215 verifier against two others: ed25519-consensus (ZIP-215 itself, the
//! oracle) on everything, and ed25519-dalek's `verify` (RFC 8032, cofactorless) on
//! honest signatures, where all three must agree, and on hand-built signatures where it
//! must disagree (non-canonical encodings, small-order and mixed-order points).

#![allow(non_snake_case)]

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use proptest::prelude::*;
use sha2::{Digest, Sha512};

use crate::cometbft::secret::zip215::verify;

/// ed25519-consensus's verdict.
fn consensus(pk: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    ed25519_consensus::VerificationKey::try_from(*pk)
        .and_then(|vk| vk.verify(&ed25519_consensus::Signature::from(*sig), msg))
        .is_ok()
}

/// ed25519-dalek's `verify` verdict.
fn dalek(pk: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    VerifyingKey::from_bytes(pk)
        .and_then(|vk| vk.verify(msg, &ed25519_dalek::Signature::from_bytes(sig)))
        .is_ok()
}

/// `k = SHA-512(R || A || M) mod ℓ` over the encodings given.
fn challenge(R: &[u8; 32], A: &[u8; 32], msg: &[u8]) -> Scalar {
    let mut h = [0u8; 64];
    h.copy_from_slice(
        &Sha512::new()
            .chain_update(R)
            .chain_update(A)
            .chain_update(msg)
            .finalize(),
    );
    Scalar::from_bytes_mod_order_wide(&h)
}

/// A signature `R || S` with `S = r + k·a`, for R and A encoded as given.
fn sign_raw(a: &Scalar, A: &[u8; 32], r: &Scalar, R: &[u8; 32], msg: &[u8]) -> [u8; 64] {
    let S = r + challenge(R, A, msg) * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(R);
    sig[32..].copy_from_slice(S.as_bytes());
    sig
}

fn scalar(seed: u8) -> Scalar {
    Scalar::from_bytes_mod_order_wide(&[seed; 64])
}

fn enc(p: &EdwardsPoint) -> [u8; 32] {
    p.compress().to_bytes()
}

/// The identity point (y = 1) encoded with y = p + 1.
const IDENTITY_NON_CANONICAL: [u8; 32] = {
    let mut b = [0xff; 32];
    b[0] = 0xee;
    b[31] = 0x7f;
    b
};

/// The identity point with the sign bit of x set (x = 0, "negative zero").
const IDENTITY_NEGATIVE_ZERO: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 1;
    b[31] = 0x80;
    b
};

/// A point of order 4 (y = 0) encoded with y = p.
const ORDER4_NON_CANONICAL: [u8; 32] = {
    let mut b = [0xff; 32];
    b[0] = 0xed;
    b[31] = 0x7f;
    b
};

/// Whether ZIP-215 must accept, and whether ed25519-dalek's `verify` must say otherwise.
struct Case {
    name: &'static str,
    pk: [u8; 32],
    msg: &'static [u8],
    sig: [u8; 64],
    zip215: bool,
    dalek_differs: bool,
}

fn hand_built() -> Vec<Case> {
    let msg: &'static [u8] = b"challenge";
    let (a, r) = (scalar(3), scalar(5));
    let A = enc(&(a * B));
    let identity = enc(&EdwardsPoint::default());
    let zero_s = |R: [u8; 32]| {
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&R);
        sig
    };
    // An honest R plus a torsion point: the cofactored equation holds, the
    // cofactorless one does not.
    let R_mixed = enc(&(r * B + EIGHT_TORSION[1]));
    let honest = sign_raw(&a, &A, &r, &enc(&(r * B)), msg);
    let mut unreduced = honest;
    // S + ℓ: the same scalar, not canonical (S + ℓ < 2^255 as S < ℓ < 2^253).
    let S_plus_l = {
        let mut s = [0u8; 32];
        s.copy_from_slice(&honest[32..]);
        let l = Scalar::ZERO - Scalar::ONE; // ℓ - 1
        let mut carry = 1u16; // + 1: ℓ
        let mut out = [0u8; 32];
        for i in 0..32 {
            let sum = u16::from(s[i]) + u16::from(l.as_bytes()[i]) + carry;
            out[i] = sum as u8;
            carry = sum >> 8;
        }
        out
    };
    unreduced[32..].copy_from_slice(&S_plus_l);
    let off_curve = (2u8..)
        .map(|y| {
            let mut b = [0u8; 32];
            b[0] = y;
            b
        })
        .find(|b| CompressedEdwardsY(*b).decompress().is_none())
        .expect("some small y is off the curve");
    vec![
        Case {
            name: "honest",
            pk: A,
            msg,
            sig: honest,
            zip215: true,
            dalek_differs: false,
        },
        Case {
            name: "mixed-order R",
            pk: A,
            msg,
            sig: sign_raw(&a, &A, &r, &R_mixed, msg),
            zip215: true,
            dalek_differs: true,
        },
        Case {
            name: "R = identity, y non-canonical; A = identity",
            pk: identity,
            msg,
            sig: zero_s(IDENTITY_NON_CANONICAL),
            zip215: true,
            dalek_differs: true,
        },
        Case {
            name: "R = identity, negative zero x; A = identity",
            pk: identity,
            msg,
            sig: zero_s(IDENTITY_NEGATIVE_ZERO),
            zip215: true,
            dalek_differs: true,
        },
        Case {
            name: "A = identity, y non-canonical; R = identity",
            pk: IDENTITY_NON_CANONICAL,
            msg,
            sig: zero_s(identity),
            zip215: true,
            dalek_differs: false,
        },
        Case {
            name: "A of order 4, y non-canonical; R = identity",
            pk: ORDER4_NON_CANONICAL,
            msg,
            sig: zero_s(identity),
            zip215: true,
            dalek_differs: false,
        },
        Case {
            name: "S not reduced",
            pk: A,
            msg,
            sig: unreduced,
            zip215: false,
            dalek_differs: false,
        },
        Case {
            name: "A off the curve",
            pk: off_curve,
            msg,
            sig: honest,
            zip215: false,
            dalek_differs: false,
        },
        Case {
            name: "R off the curve",
            pk: A,
            msg,
            sig: {
                let mut s = honest;
                s[..32].copy_from_slice(&off_curve);
                s
            },
            zip215: false,
            dalek_differs: false,
        },
        Case {
            name: "another message",
            pk: A,
            msg: b"other",
            sig: honest,
            zip215: false,
            dalek_differs: false,
        },
    ]
}

#[test]
fn hand_built_cases_follow_zip215_where_rfc8032_differs() {
    for c in hand_built() {
        assert_eq!(verify(&c.pk, c.msg, &c.sig), c.zip215, "{}: ours", c.name);
        assert_eq!(
            consensus(&c.pk, c.msg, &c.sig),
            c.zip215,
            "{}: ed25519-consensus",
            c.name
        );
        if c.dalek_differs {
            assert_ne!(
                dalek(&c.pk, c.msg, &c.sig),
                c.zip215,
                "{}: ed25519-dalek",
                c.name
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Honest signatures verify under all three; one flipped bit fails under all three.
    #[test]
    fn honest_signatures_agree_with_ed25519_dalek(
        seed in any::<[u8; 32]>(),
        msg in proptest::collection::vec(any::<u8>(), 0..200),
        bit in 0usize..512,
    ) {
        let key = SigningKey::from_bytes(&seed);
        let pk = key.verifying_key().to_bytes();
        let sig = key.sign(&msg).to_bytes();
        prop_assert!(verify(&pk, &msg, &sig));
        prop_assert!(dalek(&pk, &msg, &sig));
        prop_assert!(consensus(&pk, &msg, &sig));
        let mut bad = sig;
        bad[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(!verify(&pk, &msg, &bad));
        prop_assert_eq!(dalek(&pk, &msg, &bad), false);
        prop_assert_eq!(consensus(&pk, &msg, &bad), false);
    }

    /// Keys and nonces with torsion components, in any encoding the curve allows:
    /// ZIP-215 accepts what ed25519-consensus accepts.
    #[test]
    fn torsion_components_agree_with_ed25519_consensus(
        a in any::<[u8; 32]>(),
        r in any::<[u8; 32]>(),
        ta in 0usize..8,
        tr in 0usize..8,
        msg in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let (a, r) = (Scalar::from_bytes_mod_order(a), Scalar::from_bytes_mod_order(r));
        let A = enc(&(a * B + EIGHT_TORSION[ta]));
        let R = enc(&(r * B + EIGHT_TORSION[tr]));
        let sig = sign_raw(&a, &A, &r, &R, &msg);
        prop_assert!(verify(&A, &msg, &sig));
        prop_assert!(consensus(&A, &msg, &sig));
    }

    /// Arbitrary bytes (S mostly canonical): the same verdict as ed25519-consensus.
    #[test]
    fn arbitrary_bytes_agree_with_ed25519_consensus(
        pk in any::<[u8; 32]>(),
        mut sig in any::<[u8; 64]>(),
        msg in proptest::collection::vec(any::<u8>(), 0..32),
    ) {
        sig[63] &= 0x0f;
        prop_assert_eq!(verify(&pk, &msg, &sig), consensus(&pk, &msg, &sig));
    }
}
