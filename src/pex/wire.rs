//! Which PEX wire a peer speaks: its protocol family's. Go v0.12's go-wire messages
//! (`message.rs`) for a Tendermint v0.12 peer, CometBFT's protobuf ones (`proto.rs`) for
//! a CometBFT peer; the book and the reactor's rules are the same for both.

use super::message::PexMessage;
use crate::error::Error;
use crate::node_id::NodeId;
use crate::switch::Peer;

/// Whether `peer` speaks CometBFT.
#[cfg(feature = "cometbft")]
fn cometbft(peer: &Peer) -> bool {
    peer.codec_name() == "cometbft"
}

/// The id the book keeps for `peer`'s address: its node id if it speaks CometBFT (whose
/// addresses name their node, and whose nodes dial only the node named), none for a
/// Tendermint v0.12 peer (whose addresses never did: a v0.12 node at an address may
/// come back with another key).
pub(super) fn book_id(peer: &Peer) -> Option<NodeId> {
    #[cfg(feature = "cometbft")]
    if cometbft(peer) {
        return Some(NodeId::of(&peer.id()));
    }
    #[cfg(not(feature = "cometbft"))]
    let _ = peer;
    None
}

/// Whether `peer` may send addresses only in answer to our request (CometBFT's rule: Go
/// disconnects a peer whose list nobody asked for; Go v0.12 took any).
pub(super) fn answers_only(peer: &Peer) -> bool {
    #[cfg(feature = "cometbft")]
    if cometbft(peer) {
        return true;
    }
    #[cfg(not(feature = "cometbft"))]
    let _ = peer;
    false
}

/// `msg` as `peer` reads it.
pub(super) fn encode(peer: &Peer, msg: &PexMessage) -> Vec<u8> {
    #[cfg(feature = "cometbft")]
    if cometbft(peer) {
        return super::proto::encode(msg);
    }
    #[cfg(not(feature = "cometbft"))]
    let _ = peer;
    msg.encode()
}

/// A message from `peer`.
pub(super) fn decode(peer: &Peer, bytes: &[u8]) -> Result<PexMessage, Error> {
    #[cfg(feature = "cometbft")]
    if cometbft(peer) {
        return super::proto::decode(bytes);
    }
    #[cfg(not(feature = "cometbft"))]
    let _ = peer;
    PexMessage::decode(bytes)
}
