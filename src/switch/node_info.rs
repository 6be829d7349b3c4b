//! [`NodeInfo`]: what two nodes tell each other in the handshake, go-wire encoded exactly
//! as a Go v0.12 Switch writes it.

use std::io::{self, Read};

use crate::conn::wire;
use crate::error::{ChannelId, Error};
use crate::peer_id::PeerId;

/// The most bytes a NodeInfo may take on the wire (Go's `maxNodeInfoSize`).
const MAX_NODE_INFO_SIZE: usize = 10240;

/// Bytes kept free for a listen address the switch fills in (the longest socket address
/// text is 47 characters, plus its length).
const LISTEN_ADDR_ROOM: usize = 64;

/// What a node says about itself in the handshake (Go v0.12 `p2p.NodeInfo`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NodeInfo {
    /// The node's public key: its identity. A Switch sets this to its own key.
    pub pub_key: [u8; 32],
    /// A human-readable name.
    pub moniker: String,
    /// The network (chain) name; peers must be on the same one.
    pub network: String,
    /// The peer's address as we see it (set from the socket by the receiver; sent empty).
    pub remote_addr: String,
    /// Where the node accepts connections (`host:port`), or empty.
    pub listen_addr: String,
    /// `major.minor.patch`; peers must share major and minor.
    pub version: String,
    /// Free-form extra strings (Tendermint v0.12; CometBFT's `other` is the two fields
    /// below).
    pub other: Vec<String>,
    /// The channels the node serves. CometBFT sends them (a switch fills in its
    /// reactors' channels when it starts, unless set) and needs one in common; Tendermint
    /// v0.12 does not send them (empty in its peers' NodeInfo).
    pub channels: Vec<ChannelId>,
    /// CometBFT's protocol versions (peers must share the block version); not sent by
    /// Tendermint v0.12.
    pub protocol_version: ProtocolVersion,
    /// CometBFT's `other.tx_index`: `"on"`, `"off"` or empty; not sent by v0.12.
    pub tx_index: String,
    /// CometBFT's `other.rpc_address`; not sent by v0.12.
    pub rpc_address: String,
}

/// CometBFT's protocol versions, the first field of its NodeInfo. Peers must share
/// `block`; `p2p` and `app` are informative. The default is what CometBFT v0.34 – v0.38
/// nodes send (p2p 8, block 11), with app 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProtocolVersion {
    /// The p2p protocol's version (8 up to v0.38, 9 in v1.0).
    pub p2p: u64,
    /// The block protocol's version (11 from v0.34 to v1.0).
    pub block: u64,
    /// The application's version (chain-specific).
    pub app: u64,
}

impl Default for ProtocolVersion {
    fn default() -> Self {
        ProtocolVersion {
            p2p: 8,
            block: 11,
            app: 0,
        }
    }
}

impl NodeInfo {
    /// The most bytes a NodeInfo may take on the wire (Go's `maxNodeInfoSize`, 10240).
    pub const MAX_SIZE: usize = MAX_NODE_INFO_SIZE;

    /// The version [`new`](Self::new) sets: Tendermint's, which Go v0.12.1 nodes
    /// require to share major and minor with theirs.
    pub const DEFAULT_VERSION: &'static str = "0.12.1";

    /// A NodeInfo for a node called `moniker` on `network`, with version
    /// [`DEFAULT_VERSION`](Self::DEFAULT_VERSION) and nothing else (the switch fills in
    /// its key and listen address).
    pub fn new(moniker: impl Into<String>, network: impl Into<String>) -> Self {
        NodeInfo {
            moniker: moniker.into(),
            network: network.into(),
            version: Self::DEFAULT_VERSION.into(),
            ..NodeInfo::default()
        }
    }

    /// The node's id (its public key).
    pub fn id(&self) -> PeerId {
        PeerId(self.pub_key)
    }

    /// Calls `write` once per go-wire write, in order, exactly as Go's `wire.WriteBinary`
    /// does: the pointer byte, the key, then for each string its varint size byte, its
    /// varint value bytes and its bytes (the empty parts are skipped), then `other`.
    /// Over an encrypted connection each call must become its own frame (see the
    /// vectors' READ QUIRK); over plain TCP the parts can be joined ([`encode`](Self::encode)).
    pub fn write_parts<E>(&self, mut write: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        write(&[0x01])?;
        write(&self.pub_key)?;
        for s in [
            &self.moniker,
            &self.network,
            &self.remote_addr,
            &self.listen_addr,
            &self.version,
        ] {
            write_string_parts(&mut write, s)?;
        }
        write_varint_parts(&mut write, self.other.len())?;
        for s in &self.other {
            write_string_parts(&mut write, s)?;
        }
        Ok(())
    }

    /// The go-wire encoding (pointer form), as one buffer.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = self.write_parts(|p| -> Result<(), ()> {
            out.extend_from_slice(p);
            Ok(())
        });
        out
    }

    /// Reads a NodeInfo of at most [`MAX_SIZE`](Self::MAX_SIZE) bytes. Every length is checked
    /// against what is left of that budget before anything is allocated; strings must be
    /// UTF-8.
    pub fn decode<R: Read + ?Sized>(r: &mut R) -> Result<NodeInfo, Error> {
        let mut r = Budget {
            inner: r,
            left: MAX_NODE_INFO_SIZE,
        };
        let mut ptr = [0u8; 1];
        r.read_exact(&mut ptr)?;
        if ptr[0] != 0x01 {
            return Err(Error::Malformed(format!(
                "NodeInfo pointer byte is {:#04x}, expected 0x01",
                ptr[0]
            )));
        }
        let mut pub_key = [0u8; 32];
        r.read_exact(&mut pub_key)?;
        let moniker = r.string("moniker")?;
        let network = r.string("network")?;
        let remote_addr = r.string("remote_addr")?;
        let listen_addr = r.string("listen_addr")?;
        let version = r.string("version")?;
        // Each string takes at least one byte: more entries than bytes left is a lie.
        let count = r.length("other")?;
        let mut other = Vec::with_capacity(count);
        for _ in 0..count {
            other.push(r.string("other")?);
        }
        Ok(NodeInfo {
            pub_key,
            moniker,
            network,
            remote_addr,
            listen_addr,
            version,
            other,
            ..NodeInfo::default()
        })
    }

    /// Checks that a switch can use this as its own NodeInfo: a `major.minor.patch`
    /// version and a network (without them every peer refuses us, and we every peer),
    /// and an encoding within [`MAX_SIZE`](Self::MAX_SIZE) with room for a listen address.
    pub(crate) fn check_own(&self) -> Result<(), String> {
        split_version(&self.version).map_err(|why| format!("NodeInfo.version: {why}"))?;
        if self.network.is_empty() {
            return Err("NodeInfo.network is empty: peers must name the same network".into());
        }
        // The switch fills in an empty listen address at its first listen.
        let room = if self.listen_addr.is_empty() {
            LISTEN_ADDR_ROOM
        } else {
            0
        };
        let size = self.encode().len() + room;
        if size > MAX_NODE_INFO_SIZE {
            return Err(format!(
                "NodeInfo encodes to {size} bytes (with room for a listen address), over \
                 the {MAX_NODE_INFO_SIZE}-byte limit"
            ));
        }
        Ok(())
    }

    /// Whether we can talk to `other` (Go's `CompatibleWith`): versions must be
    /// `major.minor.patch` with the same major and minor, and networks must match.
    /// The error says why not.
    pub fn compatible_with(&self, other: &NodeInfo) -> Result<(), String> {
        let ours = split_version(&self.version)?;
        let theirs = split_version(&other.version)?;
        if ours.0 != theirs.0 {
            return Err(format!(
                "peer is on major version {}, we are on {}",
                theirs.0, ours.0
            ));
        }
        if ours.1 != theirs.1 {
            return Err(format!(
                "peer is on minor version {}, we are on {}",
                theirs.1, ours.1
            ));
        }
        if self.network != other.network {
            return Err(format!(
                "peer is on network {:?}, we are on {:?}",
                other.network, self.network
            ));
        }
        Ok(())
    }
}

/// A varint as go-wire writes it: the size byte, then (if any) the value bytes.
fn write_varint_parts<E>(
    write: &mut impl FnMut(&[u8]) -> Result<(), E>,
    n: usize,
) -> Result<(), E> {
    let mut v = Vec::with_capacity(9);
    wire::put_varint(&mut v, n as i64);
    write(&v[..1])?;
    if v.len() > 1 {
        write(&v[1..])?;
    }
    Ok(())
}

/// A string as go-wire writes it: its length's varint parts, then the bytes (if any).
fn write_string_parts<E>(write: &mut impl FnMut(&[u8]) -> Result<(), E>, s: &str) -> Result<(), E> {
    write_varint_parts(write, s.len())?;
    if !s.is_empty() {
        write(s.as_bytes())?;
    }
    Ok(())
}

fn split_version(v: &str) -> Result<(&str, &str, &str), String> {
    let parts: Vec<&str> = v.split('.').collect();
    match parts[..] {
        [a, b, c] => Ok((a, b, c)),
        _ => Err(format!("invalid version {v:?}: want major.minor.patch")),
    }
}

/// A reader that fails once more than the budget would be read.
struct Budget<'a, R: Read + ?Sized> {
    inner: &'a mut R,
    left: usize,
}

impl<R: Read + ?Sized> Budget<'_, R> {
    /// A varint length (of a string, or a count of strings) that the bytes left can
    /// hold: negative is `InvalidLength`, more than is left `FieldOverLimit`.
    fn length(&mut self, field: &'static str) -> Result<usize, Error> {
        let len = wire::read_varint(self)?;
        if len < 0 {
            return Err(Error::InvalidLength { length: len });
        }
        if len as u64 > self.left as u64 {
            return Err(Error::FieldOverLimit {
                field,
                length: len as u64,
                limit: self.left,
            });
        }
        Ok(len as usize)
    }

    fn string(&mut self, field: &'static str) -> Result<String, Error> {
        let len = self.length(field)?;
        let mut buf = vec![0u8; len];
        self.read_exact(&mut buf)?;
        String::from_utf8(buf).map_err(|_| Error::InvalidUtf8 { field })
    }
}

impl<R: Read + ?Sized> Read for Budget<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 && !buf.is_empty() {
            return Err(Error::FieldOverLimit {
                field: "NodeInfo",
                length: MAX_NODE_INFO_SIZE as u64 + 1,
                limit: MAX_NODE_INFO_SIZE,
            }
            .into());
        }
        let n = buf.len().min(self.left);
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got;
        Ok(got)
    }
}

#[cfg(test)]
mod tests;
