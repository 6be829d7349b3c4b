//! The node key: a node's identity.
//!
//! With the `secret-connection` feature it is an Ed25519 key pair
//! ([`crate::secret::NodeKey`]) that the secret connection proves. Without it, it is 32
//! random bytes, sent in the NodeInfo and not proven: anyone can claim any key.

#[cfg(feature = "secret-connection")]
pub use crate::secret::NodeKey;

#[cfg(not(feature = "secret-connection"))]
pub use self::plain::NodeKey;

#[cfg(not(feature = "secret-connection"))]
mod plain {
    use std::fmt;
    use std::io::Read;

    use crate::error::Error;
    use crate::peer_id::PeerId;

    /// A node's identity key (32 bytes; the public key is the peer id). Unproven without
    /// the `secret-connection` feature.
    #[derive(Clone, PartialEq, Eq)]
    pub struct NodeKey {
        public: [u8; 32],
    }

    impl NodeKey {
        /// A key from the operating system's randomness (/dev/urandom).
        ///
        /// Errors: [`Error::Io`] if no randomness can be read.
        pub fn generate() -> Result<Self, Error> {
            let mut public = [0u8; 32];
            std::fs::File::open("/dev/urandom")?.read_exact(&mut public)?;
            Ok(NodeKey { public })
        }

        /// A fixed key (for tests and for nodes that keep their identity).
        pub fn from_seed(seed: [u8; 32]) -> Self {
            NodeKey { public: seed }
        }

        /// The public key.
        pub fn public_key(&self) -> [u8; 32] {
            self.public
        }

        /// The node's id: its public key.
        pub fn id(&self) -> PeerId {
            PeerId(self.public)
        }
    }

    impl fmt::Debug for NodeKey {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "NodeKey({})", PeerId(self.public).short())
        }
    }
}
