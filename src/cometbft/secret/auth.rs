//! The auth-signature message (`shareAuthSignature`, `secret_connection.go:402-445`):
//! our Ed25519 key and our signature of the challenge, a delimited protobuf
//! `AuthSigMessage` sent through the encrypted stream, and the check of the peer's.
//! Pure.

use prost::Message;

use super::proto::{self, PublicKeySum};
use super::zip215;
use crate::error::SecretError;
use crate::node_key::NodeKey;

/// Size of the delimited message: `66 0a 22 0a 20 <key> 12 40 <signature>`.
pub(crate) const AUTH_SIG_MSG_SIZE: usize = 103;

/// A peer's public key and its signature of the challenge.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct AuthSigMessage {
    /// The sender's Ed25519 public key (the proto's `pub_key.ed25519`).
    pub pub_key: [u8; 32],
    /// The sender's signature of the challenge (the proto's `sig`).
    pub sig: [u8; 64],
}

impl AuthSigMessage {
    /// `key`'s message: its public key and its signature of `challenge`.
    pub fn signed(key: &NodeKey, challenge: &[u8; 32]) -> Self {
        AuthSigMessage {
            pub_key: key.public_key(),
            sig: key.sign(challenge),
        }
    }

    /// The delimited protobuf encoding, as Go writes it (field order, the key always
    /// written).
    pub fn encode(&self) -> [u8; AUTH_SIG_MSG_SIZE] {
        let mut out = [0u8; AUTH_SIG_MSG_SIZE];
        out[..5].copy_from_slice(&[0x66, 0x0a, 0x22, 0x0a, 0x20]);
        out[5..37].copy_from_slice(&self.pub_key);
        out[37..39].copy_from_slice(&[0x12, 0x40]);
        out[39..].copy_from_slice(&self.sig);
        out
    }

    /// Decodes a message body (the bytes after the length prefix).
    ///
    /// Errors: [`SecretError::BadAuthMessage`] if it is not an `AuthSigMessage`, has
    /// no key, a key that is not a 32-byte Ed25519 key (Go refuses secp256k1 here too),
    /// or a signature that is not 64 bytes.
    pub fn decode(body: &[u8]) -> Result<Self, SecretError> {
        let bad = |why: String| SecretError::BadAuthMessage(why);
        let msg = proto::AuthSigMessage::decode(body)
            .map_err(|e| bad(format!("not an AuthSigMessage: {e}")))?;
        let key = match msg.pub_key.and_then(|k| k.sum) {
            Some(PublicKeySum::Ed25519(key)) => key,
            Some(PublicKeySum::Secp256k1(_)) => {
                return Err(bad("expected an ed25519 key, got secp256k1".into()))
            }
            None => return Err(bad("no public key".into())),
        };
        Ok(AuthSigMessage {
            pub_key: exact(key, "the ed25519 key")?,
            sig: exact(msg.sig, "the signature")?,
        })
    }

    /// Whether the peer proved its key: `sig` must be the key's signature of
    /// `challenge` under ZIP-215's rules, as Go checks it (see `zip215.rs`).
    ///
    /// One difference from Go, on purpose (as in v0.12): a public key of small order is
    /// refused, because with it a forged signature verifies for any challenge, so
    /// anyone could claim that identity. No honest key is of small order.
    ///
    /// Errors: [`SecretError::WeakKey`] for a small-order key;
    /// [`SecretError::BadSignature`] if the signature does not verify.
    pub fn verify(&self, challenge: &[u8; 32]) -> Result<(), SecretError> {
        if zip215::is_small_order(&self.pub_key) {
            return Err(SecretError::WeakKey);
        }
        if !zip215::verify(&self.pub_key, challenge, &self.sig) {
            return Err(SecretError::BadSignature);
        }
        Ok(())
    }
}

/// `bytes` as an array of exactly `N` bytes.
///
/// Errors: [`SecretError::BadAuthMessage`] naming `what` if it is another length.
fn exact<const N: usize>(bytes: Vec<u8>, what: &str) -> Result<[u8; N], SecretError> {
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| SecretError::BadAuthMessage(format!("{what} is {len} bytes, expected {N}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_verifies() {
        let challenge = [5u8; 32];
        let m = AuthSigMessage::signed(&NodeKey::from_secret(b"x"), &challenge);
        let enc = m.encode();
        assert_eq!(AuthSigMessage::decode(&enc[1..]), Ok(m));
        assert_eq!(m.verify(&challenge), Ok(()));
        assert_eq!(m.verify(&[6u8; 32]), Err(SecretError::BadSignature));
    }

    #[test]
    fn malformed_messages_are_bad_auth_messages() {
        let m = AuthSigMessage::signed(&NodeKey::from_secret(b"x"), &[1u8; 32]);
        let body = m.encode()[1..].to_vec();
        let mut secp = vec![0x0a, 0x23, 0x12, 0x21];
        secp.extend([2u8; 33]);
        secp.extend_from_slice(&body[36..]);
        let mut short_key = vec![0x0a, 0x21, 0x0a, 0x1f];
        short_key.extend_from_slice(&body[4..35]);
        short_key.extend_from_slice(&body[36..]);
        let cases: [(&str, Vec<u8>); 6] = [
            ("truncated", body[..100].to_vec()),
            ("no key", body[36..].to_vec()),
            ("empty key", [&[0x0a, 0x00][..], &body[36..]].concat()),
            ("secp256k1", secp),
            ("31-byte key", short_key),
            (
                "63-byte signature",
                [&body[..36], &[0x12, 0x3f], &body[38..101]].concat(),
            ),
        ];
        for (what, bytes) in cases {
            assert!(
                matches!(
                    AuthSigMessage::decode(&bytes),
                    Err(SecretError::BadAuthMessage(_))
                ),
                "{what}"
            );
        }
    }
}
