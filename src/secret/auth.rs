//! The auth-signature message (Go's `authSigMessage`, step 7): our public key and our
//! signature of the challenge, in go-wire form.

use ed25519_dalek::{Signature, VerifyingKey};

use crate::error::SecretError;

/// Size of the encoded message: `01 || pubkey(32) || 01 || signature(64)`.
pub(crate) const AUTH_SIG_MSG_SIZE: usize = 98;

/// go-wire's registered type byte of an Ed25519 `PubKey` and `Signature`.
const TYPE_ED25519: u8 = 0x01;

/// A peer's public key and its signature of the challenge.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct AuthSigMessage {
    /// The sender's Ed25519 public key.
    pub public_key: [u8; 32],
    /// The sender's signature of the challenge.
    pub signature: [u8; 64],
}

impl AuthSigMessage {
    /// The go-wire encoding: each go-crypto interface wrapper is its type byte (0x01 for
    /// Ed25519) followed by the raw array, with no length prefixes.
    pub fn encode(&self) -> [u8; AUTH_SIG_MSG_SIZE] {
        let mut out = [0u8; AUTH_SIG_MSG_SIZE];
        out[0] = TYPE_ED25519;
        out[1..33].copy_from_slice(&self.public_key);
        out[33] = TYPE_ED25519;
        out[34..].copy_from_slice(&self.signature);
        out
    }

    /// Decodes the go-wire form.
    ///
    /// Errors: [`SecretError::BadAuthMessage`] if a type byte is not 0x01 (Ed25519, the
    /// only key type v0.12's p2p layer can verify).
    pub fn decode(msg: &[u8; AUTH_SIG_MSG_SIZE]) -> Result<Self, SecretError> {
        if msg[0] != TYPE_ED25519 {
            return Err(SecretError::BadAuthMessage(format!(
                "public key type byte is {:#04x}, expected 0x01 (ed25519)",
                msg[0]
            )));
        }
        if msg[33] != TYPE_ED25519 {
            return Err(SecretError::BadAuthMessage(format!(
                "signature type byte is {:#04x}, expected 0x01 (ed25519)",
                msg[33]
            )));
        }
        let mut public_key = [0u8; 32];
        public_key.copy_from_slice(&msg[1..33]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&msg[34..]);
        Ok(AuthSigMessage {
            public_key,
            signature,
        })
    }

    /// Checks that `signature` is the public key's signature of `challenge`.
    ///
    /// Errors: as [`verify_signature`].
    pub fn verify(&self, challenge: &[u8; 32]) -> Result<(), SecretError> {
        verify_signature(&self.public_key, challenge, &self.signature)
    }
}

/// Checks an Ed25519 signature strictly (RFC 8032 with ed25519-dalek's `verify_strict`).
///
/// Stricter than Go v0.12's go-crypto, on purpose: a public key of small order (such as
/// the identity point) is refused, because with it the signature (R = identity, s = 0)
/// "verifies" any message, so anyone could authenticate as that key; and so is a
/// signature whose R is of small order or whose scalar is not reduced. An honest signer,
/// Go's included, never produces those.
///
/// Errors: [`SecretError::WeakKey`] for a small-order public key;
/// [`SecretError::BadSignature`] if the signature does not verify or the key is not a
/// valid point.
pub(crate) fn verify_signature(
    public_key: &[u8; 32],
    msg: &[u8],
    signature: &[u8; 64],
) -> Result<(), SecretError> {
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| SecretError::BadSignature)?;
    if key.is_weak() {
        return Err(SecretError::WeakKey);
    }
    key.verify_strict(msg, &Signature::from_bytes(signature))
        .map_err(|_| SecretError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_key::NodeKey;

    #[test]
    fn round_trips_and_verifies() {
        let k = NodeKey::from_secret(b"x");
        let challenge = [5u8; 32];
        let m = AuthSigMessage {
            public_key: k.public_key(),
            signature: k.sign(&challenge),
        };
        let enc = m.encode();
        assert_eq!(AuthSigMessage::decode(&enc), Ok(m));
        assert_eq!(m.verify(&challenge), Ok(()));
        assert_eq!(m.verify(&[6u8; 32]), Err(SecretError::BadSignature));
        let mut bad = enc;
        bad[33] = 2;
        assert!(matches!(
            AuthSigMessage::decode(&bad),
            Err(SecretError::BadAuthMessage(_))
        ));
    }

    /// Issue 11, item 15: with the identity point as public key, the signature
    /// (R = identity, s = 0) satisfies the plain verification equation for any message.
    #[test]
    fn small_order_keys_and_forged_signatures_are_refused() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut forged = [0u8; 64];
        forged[0] = 1;
        for msg in [&b"any challenge"[..], &[0u8; 32][..]] {
            assert_eq!(
                verify_signature(&identity, msg, &forged),
                Err(SecretError::WeakKey)
            );
        }
        // R = identity, s = 0 under an honest key does not verify either.
        let k = NodeKey::from_secret(b"honest");
        assert_eq!(
            verify_signature(&k.public_key(), b"m", &forged),
            Err(SecretError::BadSignature)
        );
        assert_eq!(
            verify_signature(&k.public_key(), b"m", &k.sign(b"m")),
            Ok(())
        );
    }
}
