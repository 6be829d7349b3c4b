//! CometBFT's message types, labelled as its p2p metrics label them (`message_type`):
//! the Go package and type of the message a reactor sends, such as
//! `consensus_NewRoundStep` or `mempool_Txs`. Each standard channel carries one protobuf
//! `Message` whose oneof member names the type (evidence's channel carries an
//! `EvidenceList` itself). Pure; unit-tested against `tendermint-proto`'s encodings.
//!
//! The labels are v0.34 – v0.38's (their Go packages are named after the reactor). v1.0
//! moved the types to versioned packages, so its own nodes print `v1_NewRoundStep`;
//! mconn prints the v0.38 name for both, so one dashboard query fits every peer.

use super::pb::{Fields, Value};
use crate::error::ChannelId;
use crate::switch::MessageTypes;

/// Every label, grouped by the reactor whose channels carry them.
const NAMES: &[&str] = &[
    // 0x00 PEX (`tendermint.p2p.Message`), fields 1, 2.
    "p2p_PexRequest",
    "p2p_PexAddrs",
    // 0x20-0x23 consensus (`tendermint.consensus.Message`), fields 1-10 (10: v1.0).
    "consensus_NewRoundStep",
    "consensus_NewValidBlock",
    "consensus_Proposal",
    "consensus_ProposalPOL",
    "consensus_BlockPart",
    "consensus_Vote",
    "consensus_HasVote",
    "consensus_VoteSetMaj23",
    "consensus_VoteSetBits",
    "consensus_HasProposalBlockPart",
    // 0x30 mempool (`tendermint.mempool.Message`), field 1.
    "mempool_Txs",
    // 0x38 evidence: an `EvidenceList`, no oneof.
    "types_EvidenceList",
    // 0x40 blocksync (`tendermint.blocksync.Message`), fields 1-5.
    "blocksync_BlockRequest",
    "blocksync_NoBlockResponse",
    "blocksync_BlockResponse",
    "blocksync_StatusRequest",
    "blocksync_StatusResponse",
    // 0x60, 0x61 statesync (`tendermint.statesync.Message`), fields 1-4.
    "statesync_SnapshotsRequest",
    "statesync_SnapshotsResponse",
    "statesync_ChunkRequest",
    "statesync_ChunkResponse",
];

/// CometBFT's table.
pub(crate) const MESSAGE_TYPES: MessageTypes = MessageTypes {
    names: NAMES,
    classify,
};

/// For a channel: where its labels start in `NAMES` and how many oneof members it has
/// (0: the message is one type whatever it holds).
fn group(ch: ChannelId) -> Option<(usize, u64)> {
    Some(match ch {
        0x00 => (0, 2),
        0x20..=0x23 => (2, 10),
        0x30 => (12, 1),
        0x38 => (13, 0),
        0x40 => (14, 5),
        0x60 | 0x61 => (19, 4),
        _ => return None,
    })
}

/// The label index of `msg` on `ch`: its oneof member (the last one set wins, as when Go
/// decodes it); `None` for a channel CometBFT does not define, a message with no member
/// set, or one that does not parse.
fn classify(ch: ChannelId, msg: &[u8]) -> Option<usize> {
    let (base, members) = group(ch)?;
    if members == 0 {
        return Some(base);
    }
    let mut member = None;
    for field in Fields::new(msg) {
        match field.ok()? {
            (f, Value::Bytes(_)) if (1..=members).contains(&f) => member = Some(f),
            _ => {}
        }
    }
    member.map(|f| base + (f - 1) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost014::Message;
    use tendermint_proto::v0_38 as pb;

    fn label(ch: ChannelId, msg: &[u8]) -> Option<&'static str> {
        classify(ch, msg).map(|i| NAMES[i])
    }

    #[test]
    fn messages_encoded_by_tendermint_proto_get_cometbfts_labels() {
        use pb::consensus::message::Sum as C;
        let consensus = pb::consensus::Message {
            sum: Some(C::HasVote(pb::consensus::HasVote {
                height: 7,
                round: 1,
                r#type: 1,
                index: 3,
            })),
        };
        assert_eq!(
            label(0x22, &consensus.encode_to_vec()),
            Some("consensus_HasVote")
        );
        let pol = pb::consensus::Message {
            sum: Some(C::ProposalPol(Default::default())),
        };
        assert_eq!(
            label(0x20, &pol.encode_to_vec()),
            Some("consensus_ProposalPOL")
        );
        let bits = pb::consensus::Message {
            sum: Some(C::VoteSetBits(Default::default())),
        };
        assert_eq!(
            label(0x23, &bits.encode_to_vec()),
            Some("consensus_VoteSetBits")
        );

        let txs = pb::mempool::Message {
            sum: Some(pb::mempool::message::Sum::Txs(pb::mempool::Txs {
                txs: vec![b"tx".to_vec()],
            })),
        };
        assert_eq!(label(0x30, &txs.encode_to_vec()), Some("mempool_Txs"));

        use pb::blocksync::message::Sum as B;
        let status = pb::blocksync::Message {
            sum: Some(B::StatusResponse(pb::blocksync::StatusResponse {
                height: 9,
                base: 1,
            })),
        };
        assert_eq!(
            label(0x40, &status.encode_to_vec()),
            Some("blocksync_StatusResponse")
        );

        use pb::statesync::message::Sum as S;
        let chunk = pb::statesync::Message {
            sum: Some(S::ChunkRequest(pb::statesync::ChunkRequest {
                height: 1,
                format: 1,
                index: 0,
            })),
        };
        assert_eq!(
            label(0x61, &chunk.encode_to_vec()),
            Some("statesync_ChunkRequest")
        );

        use pb::p2p::message::Sum as P;
        let addrs = pb::p2p::Message {
            sum: Some(P::PexAddrs(Default::default())),
        };
        assert_eq!(label(0x00, &addrs.encode_to_vec()), Some("p2p_PexAddrs"));
        // Evidence's channel carries the list itself: any bytes are one.
        let list = pb::types::EvidenceList { evidence: vec![] };
        assert_eq!(
            label(0x38, &list.encode_to_vec()),
            Some("types_EvidenceList")
        );
    }

    #[test]
    fn what_cometbft_would_not_decode_has_no_label() {
        assert_eq!(label(0x50, &[0x0a, 0x00]), None, "no such channel");
        assert_eq!(label(0x20, &[]), None, "no oneof member set");
        assert_eq!(
            label(0x20, &[0x5a, 0x00]),
            None,
            "field 11: unknown to v1.0"
        );
        assert_eq!(label(0x20, &[0x0a, 0x05, 0x00]), None, "cut short");
        assert_eq!(label(0x30, &[0x08, 0x01]), None, "a varint, not a message");
        // The last member set wins, with unknown fields skipped on the way.
        assert_eq!(
            label(0x40, &[0x0a, 0x00, 0x98, 0x01, 0x05, 0x1a, 0x00]),
            Some("blocksync_BlockResponse")
        );
    }

    #[test]
    fn every_group_stays_inside_the_table() {
        for ch in 0..=255u8 {
            if let Some((base, members)) = group(ch) {
                assert!(base + (members.max(1) as usize) <= NAMES.len(), "{ch:#x}");
            }
        }
        assert_eq!(NAMES.len(), 23);
    }
}
