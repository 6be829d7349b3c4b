//! Playing a CometBFT node by hand with code mconn did not write: the `tendermint-p2p`
//! crate's SecretConnection (checked against CometBFT's Go code) and `tendermint-proto`'s
//! messages (CometBFT's .proto files). Shared by the interop and hostile-peer tests.

use std::io::{BufReader, Read};
use std::net::TcpStream;
use std::time::Duration;

use mconn::{NodeId, PeerId};
use prost014::Message;
use tendermint_p2p::secret_connection::{SecretConnection, Version};
use tendermint_proto::v0_38::p2p::{
    packet, DefaultNodeInfo, DefaultNodeInfoOther, Packet, PacketMsg, ProtocolVersion,
};

/// Their stream: writes go to the SecretConnection (`get_mut()`), reads through a
/// buffer of at least a frame (a shorter read panics inside tendermint-p2p).
pub type Theirs = BufReader<SecretConnection<TcpStream>>;

/// A node key from one seed byte.
pub fn key(seed: u8) -> ed25519_consensus::SigningKey {
    ed25519_consensus::SigningKey::from([seed; 32])
}

/// The id mconn knows that key by.
pub fn peer_id(key: &ed25519_consensus::SigningKey) -> PeerId {
    PeerId(key.verification_key().to_bytes())
}

/// A valid v0.38 NodeInfo for `key` on "test-chain", listening on 127.0.0.1:26656.
pub fn comet_node_info(
    key: &ed25519_consensus::SigningKey,
    moniker: &str,
    channels: &[u8],
) -> DefaultNodeInfo {
    DefaultNodeInfo {
        protocol_version: Some(ProtocolVersion {
            p2p: 8,
            block: 11,
            app: 0,
        }),
        default_node_id: NodeId::of(&peer_id(key)).to_string(),
        listen_addr: "tcp://127.0.0.1:26656".into(),
        network: "test-chain".into(),
        version: "0.38.25".into(),
        channels: channels.to_vec(),
        moniker: moniker.into(),
        other: Some(DefaultNodeInfoOther {
            tx_index: "on".into(),
            rpc_address: "tcp://127.0.0.1:26657".into(),
        }),
    }
}

/// Their SecretConnection handshake as `key` on `tcp` (reads time out after `secs`).
pub fn secret(tcp: TcpStream, key: &ed25519_consensus::SigningKey, secs: u64) -> Theirs {
    tcp.set_read_timeout(Some(Duration::from_secs(secs)))
        .unwrap();
    let sc = SecretConnection::new(tcp, key.clone(), Version::V0_34).expect("their handshake");
    BufReader::with_capacity(4096, sc)
}

/// One packet with its length in front, as it travels.
pub fn delimited(p: packet::Sum) -> Vec<u8> {
    Packet { sum: Some(p) }.encode_length_delimited_to_vec()
}

/// `msg` as PacketMsgs on `channel`, chunked as Go's `nextPacketMsg` does.
pub fn chunks(channel: u8, msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = msg;
    loop {
        let n = rest.len().min(1024);
        out.extend(delimited(packet::Sum::PacketMsg(PacketMsg {
            channel_id: i32::from(channel),
            eof: n == rest.len(),
            data: rest[..n].to_vec(),
        })));
        rest = &rest[n..];
        if rest.is_empty() {
            return out;
        }
    }
}

/// Reads one length-delimited message of type `M` (at most 1 MiB).
pub fn read_delimited<M: Message + Default>(r: &mut Theirs) -> M {
    let mut len = 0u64;
    for shift in (0..64).step_by(7) {
        let mut b = [0u8; 1];
        r.read_exact(&mut b).expect("length byte");
        len |= u64::from(b[0] & 0x7f) << shift;
        if b[0] < 0x80 {
            break;
        }
    }
    assert!(len <= 1 << 20, "a {len}-byte message");
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).expect("message body");
    M::decode(&body[..]).expect("decodes")
}
