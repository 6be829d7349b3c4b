//! The CometBFT family put together (PROTOCOL.md §1, §4): its SecretConnection
//! (`secret/`), then both NodeInfos exchanged at once through it (`node_info.rs`), then
//! protobuf packets (`packet.rs`). Its rules for our NodeInfo and for compatibility are
//! Go's, not Tendermint v0.12's.

use std::io::Write;
use std::net::TcpStream;

use super::delimited::read_delimited;
use super::node_info::{self, MAX_NODE_INFO_SIZE};
use super::packet::Packets;
use super::secret::SecretConnection;
use crate::conn::codec::Codec;
use crate::error::Error;
use crate::peer_id::PeerId;
use crate::switch::handshake::{exchange_with, Deadline};
use crate::switch::{Handshake, HandshakeSetup, Handshaken, NodeInfo, Protocol};

impl Protocol {
    /// CometBFT's p2p protocol, as v0.34, v0.37, v0.38 and v1.0 nodes speak it: the
    /// SecretConnection (X25519, a Merlin transcript, HKDF-SHA256, ChaCha20-Poly1305),
    /// a protobuf `DefaultNodeInfo` and protobuf packets. Always encrypted (a switch
    /// refuses `auth_enc(false)` with it). Peers must share the block version
    /// ([`NodeInfo::protocol_version`]), the network, and a channel.
    #[cfg_attr(docsrs, doc(cfg(feature = "cometbft")))]
    pub fn cometbft() -> Self {
        Protocol::new("cometbft", Codec::new(Packets), CometBft)
            .encrypted_only()
            .with_message_types(super::message_type::MESSAGE_TYPES)
    }
}

/// CometBFT's handshake.
struct CometBft;

impl Handshake for CometBft {
    fn run(&self, stream: TcpStream, setup: &HandshakeSetup<'_>) -> Result<Handshaken, Error> {
        if !setup.encrypt {
            return Err(Error::InvalidConfig(
                "CometBFT connections are always encrypted: auth_enc must be on".into(),
            ));
        }
        // Our NodeInfo must pass the peer's checks; one that grew past them since
        // `Switch::new` (more than 16 channels, say) fails here, clearly, not there.
        let ours = node_info::encode(setup.ours, &PeerId(setup.key.public_key()));
        node_info::check_ours(setup.ours).map_err(Error::InvalidConfig)?;
        // As Go does for every connection: small frames must not wait for delayed ACKs.
        stream.set_nodelay(true)?;
        let d = Deadline {
            stream,
            deadline: setup.deadline,
        };
        let mut sc = SecretConnection::handshake(d, setup.key)?;
        let key = PeerId(sc.remote_pubkey());
        let theirs = {
            let (mut r, mut w, d) = sc.halves();
            exchange_with(
                &mut r,
                &mut w,
                &d.stream,
                |w| w.write_all(&ours),
                |r| {
                    let body = read_delimited(r, MAX_NODE_INFO_SIZE, "NodeInfo")?;
                    node_info::decode(&body, &key)
                },
            )
        }?;
        // Both ends derive the same challenge: the rank of duplicate connections.
        let rank_key = sc.challenge().to_vec();
        let sc = sc.map_stream(|d| d.stream);
        let transport = sc.into_transport_with_write_timeout(setup.write_timeout)?;
        Ok(Handshaken::new(theirs, transport, Some(key.0), rank_key))
    }

    fn check_ours(&self, ours: &NodeInfo) -> Result<(), String> {
        node_info::check_ours(ours)
    }

    fn compatible(&self, ours: &NodeInfo, theirs: &NodeInfo) -> Result<(), String> {
        node_info::compatible(ours, theirs)
    }
}
