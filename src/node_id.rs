//! [`NodeId`], CometBFT's short form of a node's identity, and [`ExpectedId`], either
//! form as what a dial expects to reach.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::peer_id::{parse_hex, PeerId};

/// A node's CometBFT id: the first 20 bytes of the SHA-256 of its Ed25519 public key,
/// shown as 40 lower-case hex digits (what CometBFT prints and puts in `id@host:port`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 20]);

impl NodeId {
    /// The id of the node whose public key is `key`.
    pub fn of(key: &PeerId) -> NodeId {
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0u8; 20];
        id.copy_from_slice(&digest[..20]);
        NodeId(id)
    }
}

impl From<PeerId> for NodeId {
    fn from(key: PeerId) -> Self {
        NodeId::of(&key)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl FromStr for NodeId {
    type Err = Error;

    /// Parses exactly 40 hex digits, either case.
    ///
    /// Errors: [`Error::InvalidPeerId`] saying what is wrong.
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(NodeId(parse_hex(s)?))
    }
}

/// Which node a dial must reach: its public key ([`PeerId`], Tendermint v0.12's form) or
/// its [`NodeId`] (CometBFT's). With encryption on, the key the peer proves must match.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedId {
    /// The node's public key.
    Key(PeerId),
    /// The node's CometBFT id.
    Node(NodeId),
}

impl ExpectedId {
    /// Whether the node with public key `key` is this one.
    pub fn matches(&self, key: &PeerId) -> bool {
        match self {
            ExpectedId::Key(k) => k == key,
            ExpectedId::Node(n) => *n == NodeId::of(key),
        }
    }
}

impl From<PeerId> for ExpectedId {
    fn from(key: PeerId) -> Self {
        ExpectedId::Key(key)
    }
}

impl From<NodeId> for ExpectedId {
    fn from(id: NodeId) -> Self {
        ExpectedId::Node(id)
    }
}

impl fmt::Display for ExpectedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedId::Key(k) => k.fmt(f),
            ExpectedId::Node(n) => n.fmt(f),
        }
    }
}

impl fmt::Debug for ExpectedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedId::Key(k) => k.fmt(f),
            ExpectedId::Node(n) => n.fmt(f),
        }
    }
}

impl FromStr for ExpectedId {
    type Err = Error;

    /// 64 hex digits are a public key, 40 a CometBFT node id (either case); the id part
    /// of an `id@host:port` address.
    ///
    /// Errors: [`Error::InvalidPeerId`] for anything else.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.len() {
            40 => Ok(ExpectedId::Node(s.parse()?)),
            64 => Ok(ExpectedId::Key(s.parse()?)),
            n => Err(Error::InvalidPeerId(format!(
                "{n} characters, expected 40 hex digits (a node id) or 64 (a public key)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE_IDS: &str = include_str!("../tests/vectors/cometbft-v0.38/node_id_vectors.tsv");

    #[test]
    fn node_ids_are_tendermint_rs_vectors() {
        let mut seen = 0;
        for line in NODE_IDS.lines().filter(|l| !l.starts_with('#')) {
            let cols: Vec<&str> = line.split('\t').collect();
            let Some(key) = cols[1].strip_prefix("pubkey=") else {
                continue; // the node_key.json row: tests/node_key_file.rs reads it
            };
            let id = NodeId::of(&key.parse().unwrap());
            assert_eq!(id.to_string(), cols[2]);
            assert_eq!(cols[2].parse::<NodeId>().unwrap(), id);
            assert!(ExpectedId::Node(id).matches(&key.parse().unwrap()));
            seen += 1;
        }
        assert_eq!(seen, 1);
    }

    #[test]
    fn expected_ids_parse_by_length_and_match_only_their_node() {
        let key = PeerId([7; 32]);
        let other = PeerId([8; 32]);
        let node = NodeId::of(&key);
        let by_key: ExpectedId = key.to_string().parse().unwrap();
        let by_node: ExpectedId = node.to_string().to_uppercase().parse().unwrap();
        assert_eq!((by_key, by_node), (key.into(), node.into()));
        for e in [by_key, by_node] {
            assert!(e.matches(&key) && !e.matches(&other), "{e}");
        }
        for bad in [
            "",
            "ab",
            &"a".repeat(41),
            &"g".repeat(40),
            &format!("{node}@x"),
        ] {
            assert!(matches!(
                bad.parse::<ExpectedId>(),
                Err(Error::InvalidPeerId(_))
            ));
        }
    }
}
