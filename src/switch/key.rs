//! The node key: a node's identity. Without the `secret-connection` feature it is 32
//! random bytes, sent in the NodeInfo and not proven (anyone can claim any key).

use std::fmt;
use std::io::Read;

/// A node's identity key (32 bytes; the public key is the peer id).
#[derive(Clone, PartialEq, Eq)]
pub struct NodeKey {
    public: [u8; 32],
}

impl NodeKey {
    /// A key from the operating system's randomness.
    pub fn generate() -> Self {
        NodeKey {
            public: random_bytes(),
        }
    }

    /// A fixed key (for tests and for nodes that keep their identity).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        NodeKey { public: seed }
    }

    /// The public key: the node's id.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeKey({})", crate::PeerId(self.public).short())
    }
}

/// 32 random bytes: /dev/urandom, or hashed time and addresses if that is unavailable.
pub(crate) fn random_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if f.read_exact(&mut out).is_ok() {
            return out;
        }
    }
    use std::hash::{BuildHasher, Hasher};
    for chunk in out.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
    }
    out
}
