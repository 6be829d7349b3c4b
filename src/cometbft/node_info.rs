//! CometBFT's NodeInfo (PROTOCOL.md §4): `tendermint.p2p.DefaultNodeInfo`, its checks
//! (Go's `Validate` and `CompatibleWith`) and how it maps to the switch's [`NodeInfo`].
//! Pure: the handshake (`handshake.rs`) does the I/O.

use crate::error::Error;
use crate::node_id::NodeId;
use crate::peer_id::PeerId;
use crate::switch::{NodeInfo, ProtocolVersion};

/// The most bytes a NodeInfo body may take (Go's `maxNodeInfoSize`).
pub const MAX_NODE_INFO_SIZE: usize = 10240;

/// Most channels a NodeInfo may list (Go's `maxNumChannels`).
const MAX_CHANNELS: usize = 16;

/// The listen address a switch that does not listen sends: CometBFT refuses an empty
/// one, and this one names no reachable address (port 0), so nobody dials it.
pub(crate) const NO_LISTEN_ADDR: &str = "0.0.0.0:0";

/// `tendermint.p2p.DefaultNodeInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct DefaultNodeInfo {
    /// Always written (non-nullable in gogoproto).
    #[prost(message, optional, tag = "1")]
    pub protocol_version: Option<ProtoVersion>,
    #[prost(string, tag = "2")]
    pub default_node_id: String,
    #[prost(string, tag = "3")]
    pub listen_addr: String,
    #[prost(string, tag = "4")]
    pub network: String,
    #[prost(string, tag = "5")]
    pub version: String,
    #[prost(bytes = "vec", tag = "6")]
    pub channels: Vec<u8>,
    #[prost(string, tag = "7")]
    pub moniker: String,
    /// Always written (non-nullable in gogoproto).
    #[prost(message, optional, tag = "8")]
    pub other: Option<Other>,
}

/// `tendermint.p2p.ProtocolVersion`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProtoVersion {
    #[prost(uint64, tag = "1")]
    pub p2p: u64,
    #[prost(uint64, tag = "2")]
    pub block: u64,
    #[prost(uint64, tag = "3")]
    pub app: u64,
}

/// `tendermint.p2p.DefaultNodeInfoOther`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Other {
    #[prost(string, tag = "1")]
    pub tx_index: String,
    #[prost(string, tag = "2")]
    pub rpc_address: String,
}

/// What we send: `ours` under the id of `key`. An empty listen address becomes
/// [`NO_LISTEN_ADDR`].
pub(crate) fn to_proto(ours: &NodeInfo, key: &PeerId) -> DefaultNodeInfo {
    let v = ours.protocol_version;
    let listen_addr = if ours.listen_addr.is_empty() {
        NO_LISTEN_ADDR.to_string()
    } else {
        ours.listen_addr.clone()
    };
    DefaultNodeInfo {
        protocol_version: Some(ProtoVersion {
            p2p: v.p2p,
            block: v.block,
            app: v.app,
        }),
        default_node_id: NodeId::of(key).to_string(),
        listen_addr,
        network: ours.network.clone(),
        version: ours.version.clone(),
        channels: ours.channels.clone(),
        moniker: ours.moniker.clone(),
        other: Some(Other {
            tx_index: ours.tx_index.clone(),
            rpc_address: ours.rpc_address.clone(),
        }),
    }
}

/// The length-delimited encoding of what we send.
pub(crate) fn encode(ours: &NodeInfo, key: &PeerId) -> Vec<u8> {
    prost::Message::encode_length_delimited_to_vec(&to_proto(ours, key))
}

/// Decodes the peer's NodeInfo body, checks it as Go's `Validate` does, and checks that
/// its id is that of `key`, the key the connection authenticated.
pub fn decode(body: &[u8], key: &PeerId) -> Result<NodeInfo, Error> {
    let theirs: DefaultNodeInfo =
        prost::Message::decode(body).map_err(|e| Error::Malformed(format!("NodeInfo: {e}")))?;
    validate(&theirs).map_err(|why| Error::Malformed(format!("NodeInfo: {why}")))?;
    let id = NodeId::of(key);
    if theirs.default_node_id != id.to_string() {
        return Err(Error::Rejected(crate::error::RejectReason::KeyMismatch(
            format!(
                "NodeInfo claims id {:?} but the connection authenticated {id}",
                theirs.default_node_id
            ),
        )));
    }
    let v = theirs.protocol_version.unwrap_or_default();
    let other = theirs.other.unwrap_or_default();
    Ok(NodeInfo {
        pub_key: key.0,
        moniker: theirs.moniker,
        network: theirs.network,
        listen_addr: theirs.listen_addr,
        version: theirs.version,
        channels: theirs.channels,
        protocol_version: ProtocolVersion {
            p2p: v.p2p,
            block: v.block,
            app: v.app,
        },
        tx_index: other.tx_index,
        rpc_address: other.rpc_address,
        ..NodeInfo::default()
    })
}

/// Go's `DefaultNodeInfo.Validate` (`p2p/node_info.go`), without its DNS lookup of a
/// listen address that is a host name (any host is accepted if the address parses).
pub(crate) fn validate(info: &DefaultNodeInfo) -> Result<(), String> {
    listen_addr_ok(&info.listen_addr)
        .map_err(|why| format!("listen address {:?}: {why}", info.listen_addr))?;
    if !info.version.is_empty() {
        ascii_text(&info.version).map_err(|why| format!("version: {why}"))?;
    }
    if info.channels.len() > MAX_CHANNELS {
        return Err(format!(
            "{} channels, at most {MAX_CHANNELS}",
            info.channels.len()
        ));
    }
    let mut seen = [false; 256];
    for &c in &info.channels {
        if std::mem::replace(&mut seen[c as usize], true) {
            return Err(format!("channel {c:#04x} listed twice"));
        }
    }
    ascii_text(&info.moniker).map_err(|why| format!("moniker: {why}"))?;
    let other = info.other.clone().unwrap_or_default();
    if !matches!(other.tx_index.as_str(), "" | "on" | "off") {
        return Err(format!(
            "tx_index {:?}, expected \"on\", \"off\" or nothing",
            other.tx_index
        ));
    }
    if !other.rpc_address.is_empty() {
        ascii_text(&other.rpc_address).map_err(|why| format!("rpc_address: {why}"))?;
    }
    Ok(())
}

/// Go's `ValidateASCIIText`: non-empty, printable ASCII (no tabs), not all spaces.
fn ascii_text(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty".into());
    }
    if !s.bytes().all(|b| (32..=126).contains(&b)) {
        return Err(format!("{s:?} is not printable ASCII"));
    }
    if s.bytes().all(|b| b == b' ') {
        return Err("only spaces".into());
    }
    Ok(())
}

/// Whether `addr` (after an optional `scheme://`) is `host:port` with a non-empty host
/// (IPv6 in brackets) and a decimal port up to 65535, as Go's `NewNetAddressString`
/// requires of `id@` + the listen address.
fn listen_addr_ok(addr: &str) -> Result<(), String> {
    let rest = addr.split_once("://").map_or(addr, |(_, r)| r);
    let (host, port) = rest.rsplit_once(':').ok_or("no port")?;
    let host = match host.strip_prefix('[') {
        Some(h) => h.strip_suffix(']').ok_or("unclosed bracket")?,
        None if host.contains(':') => return Err("IPv6 host without brackets".into()),
        None => host,
    };
    if host.is_empty() || host.contains('@') {
        return Err("no host".into());
    }
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port {port:?} is not a number"));
    }
    port.parse::<u16>()
        .map_err(|_| format!("port {port} is over 65535"))?;
    Ok(())
}

/// Whether a switch can send `ours` (under any id, with any listen address it fills in):
/// every check a CometBFT peer makes of it, a network, and the size limit.
pub(crate) fn check_ours(ours: &NodeInfo) -> Result<(), String> {
    if ours.network.is_empty() {
        return Err("NodeInfo.network is empty: peers must name the same network".into());
    }
    let key = PeerId([0; 32]);
    let mut proto = to_proto(ours, &key);
    validate(&proto).map_err(|why| format!("NodeInfo: {why} (CometBFT peers refuse it)"))?;
    // Room for the longest listen address a switch fills in.
    if ours.listen_addr.is_empty() {
        proto.listen_addr = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535".into();
    }
    let size = prost::Message::encoded_len(&proto);
    if size > MAX_NODE_INFO_SIZE {
        return Err(format!(
            "NodeInfo encodes to {size} bytes, over the {MAX_NODE_INFO_SIZE}-byte limit"
        ));
    }
    Ok(())
}

/// Go's `CompatibleWith`: the same block version and network, and a channel in common
/// (unless we list none).
pub(crate) fn compatible(ours: &NodeInfo, theirs: &NodeInfo) -> Result<(), String> {
    let (a, b) = (ours.protocol_version.block, theirs.protocol_version.block);
    if a != b {
        return Err(format!("peer is on block version {b}, we are on {a}"));
    }
    if ours.network != theirs.network {
        return Err(format!(
            "peer is on network {:?}, we are on {:?}",
            theirs.network, ours.network
        ));
    }
    if !ours.channels.is_empty() && !ours.channels.iter().any(|c| theirs.channels.contains(c)) {
        return Err(format!(
            "no channel in common (ours {:02x?}, theirs {:02x?})",
            ours.channels, theirs.channels
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
