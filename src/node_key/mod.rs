//! The node's long-term identity: an Ed25519 key pair, as go-crypto's `PrivKeyEd25519`.
//! The same in every build: the `secret-connection` feature adds the connection that
//! proves it, never a different key or id. (On disk: `file.rs`.)

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::peer_id::PeerId;

mod file;

/// A node's Ed25519 key pair. It signs the SecretConnection's handshake challenge; its
/// public key is the peer's identity (see [`id`](Self::id)).
///
/// The secret never appears in `Debug` output and is wiped from memory when the key is
/// dropped. The same key, id and API in every build (the `secret-connection` feature
/// adds only the connection that proves it).
///
/// # Example
///
/// A node that keeps its identity across restarts:
///
/// ```
/// use mconn::{NodeInfo, NodeKey, Switch, SwitchConfig};
///
/// # fn main() -> Result<(), mconn::Error> {
/// # let dir = std::env::temp_dir().join(format!("mconn-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).map_err(mconn::Error::Io)?;
/// # let path = dir.join("node_key.json");
/// // CometBFT's and tendermint-rs's node_key.json; created (owner-only) if missing.
/// let key = NodeKey::load_or_generate(&path)?;
/// println!("this node is {}", key.id());
/// assert_eq!(NodeKey::load(&path)?.id(), key.id(), "the same node after a restart");
///
/// let config = SwitchConfig::default().node_key(Some(key.clone()));
/// let switch = Switch::new(config, NodeInfo::new("keeper", "demo-net"))?;
/// assert_eq!(switch.id(), key.id());
/// # std::fs::remove_dir_all(&dir).map_err(mconn::Error::Io)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct NodeKey {
    signing: SigningKey,
}

impl NodeKey {
    /// A new random key, seeded from the operating system's random number generator.
    ///
    /// Blocks only if the OS has not gathered enough entropy yet (early at boot).
    ///
    /// Errors: [`Error::Io`] if the OS random number generator fails.
    pub fn generate() -> Result<Self, Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        OsRng.try_fill_bytes(&mut seed[..]).map_err(|e| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::Other,
                format!("OS random number generator failed: {e}"),
            ))
        })?;
        Ok(Self::from_seed(*seed))
    }

    /// The key pair of a 32-byte Ed25519 seed (RFC 8032 secret key; the first half of
    /// go-crypto's 64-byte `PrivKeyEd25519`).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let seed = Zeroizing::new(seed);
        NodeKey {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// Go's `GenPrivKeyEd25519FromSecret`: the key whose seed is SHA-256 of `secret`.
    /// Deterministic, for tests and fixed identities; the secret must be hard to guess.
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&Sha256::digest(secret));
        Self::from_seed(*seed)
    }

    /// The 32-byte seed (secret). Keep it secret: anyone holding it is this node.
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The node's id: its public key (printed as Go v0.12's `PubKey.KeyString()`, 64
    /// upper-case hex digits). The Switch keys its peers by it.
    pub fn id(&self) -> PeerId {
        PeerId(self.public_key())
    }

    /// Signs `msg` (deterministic RFC 8032 Ed25519, as go-crypto's `Sign`).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey")
            .field("id", &self.id().to_string())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_id_but_not_the_seed() {
        let k = NodeKey::from_seed([7u8; 32]);
        let dbg = format!("{k:?}");
        assert!(dbg.contains(&k.id().to_string()));
        assert!(!dbg.to_lowercase().contains(&"07".repeat(32)));
        assert_eq!(k.seed(), [7u8; 32]);
    }

    /// RFC 8032 section 7.1, test 1: the key and id do not depend on the build's
    /// features (this runs in `cargo test --no-default-features --lib` too).
    #[test]
    fn rfc8032_test_1_in_every_build() {
        let hex = |s: &str| -> [u8; 32] {
            let mut out = [0u8; 32];
            for (i, b) in out.iter_mut().enumerate() {
                *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or_default();
            }
            out
        };
        let k = NodeKey::from_seed(hex(
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        ));
        let public = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        assert_eq!(k.public_key(), public);
        assert_eq!(k.id(), PeerId(public));
        let sig = k.sign(b"");
        assert_eq!(
            sig[..8],
            [0xe5, 0x56, 0x43, 0x00, 0xc3, 0x60, 0xac, 0x72],
            "RFC 8032's signature of the empty message"
        );
    }

    #[test]
    fn generated_keys_differ() {
        let (a, b) = (NodeKey::generate(), NodeKey::generate());
        assert!(matches!((&a, &b), (Ok(_), Ok(_))));
        if let (Ok(a), Ok(b)) = (a, b) {
            assert_ne!(a.public_key(), b.public_key());
            assert_eq!(a.id(), PeerId(a.public_key()));
        }
    }
}
