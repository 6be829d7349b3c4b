//! PEX as CometBFT speaks it (PROTOCOL.md §5.4; feature `cometbft`):
//! `tendermint.p2p.Message`, a oneof of `PexRequest{}` (field 1) and
//! `PexAddrs{repeated NetAddress addrs = 1}` (field 2), each address
//! `{string id = 1; string ip = 2; uint32 port = 3}`. Pure.
//!
//! Read as Go reads it, and refused where Go disconnects: no message type set, an IP
//! that does not parse, a port over 65535. An address whose id is not a node id (40 hex
//! digits) is skipped, as Go's address book skips it. More than [`MAX_ADDRS`] addresses
//! is refused (a Go node never sends more). Addresses without an id are not sent: Go
//! would skip them.

use std::net::IpAddr;

use super::address::NetAddress;
use super::message::{PexMessage, MAX_ADDRS};
use crate::cometbft::pb::{self, Fields, Value};
use crate::error::Error;

/// Field numbers of `Message`'s oneof.
const TAG_REQUEST: u64 = 1;
const TAG_ADDRS: u64 = 2;

#[derive(Clone, PartialEq, prost::Message)]
struct Message {
    #[prost(oneof = "Sum", tags = "1, 2")]
    sum: Option<Sum>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Sum {
    #[prost(message, tag = "1")]
    PexRequest(PexRequest),
    #[prost(message, tag = "2")]
    PexAddrs(PexAddrs),
}

#[derive(Clone, PartialEq, prost::Message)]
struct PexRequest {}

#[derive(Clone, PartialEq, prost::Message)]
struct PexAddrs {
    #[prost(message, repeated, tag = "1")]
    addrs: Vec<ProtoAddress>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoAddress {
    #[prost(string, tag = "1")]
    id: String,
    #[prost(string, tag = "2")]
    ip: String,
    #[prost(uint32, tag = "3")]
    port: u32,
}

/// The message's bytes as a CometBFT node writes them.
pub fn encode(msg: &PexMessage) -> Vec<u8> {
    let sum = match msg {
        PexMessage::Request => Sum::PexRequest(PexRequest {}),
        PexMessage::Addrs(addrs) => Sum::PexAddrs(PexAddrs {
            addrs: addrs
                .iter()
                .filter_map(|a| {
                    Some(ProtoAddress {
                        id: a.id()?.to_string(),
                        ip: a.ip().to_string(),
                        port: u32::from(a.port()),
                    })
                })
                .collect(),
        }),
    };
    prost::Message::encode_to_vec(&Message { sum: Some(sum) })
}

/// Reads a message; see the module docs for what is refused. The addresses are counted
/// by hand before any is decoded, so a message of many tiny entries allocates nothing
/// beyond [`MAX_ADDRS`] of them; as in Go, the last oneof member set is the message.
pub fn decode(buf: &[u8]) -> Result<PexMessage, Error> {
    let bad = |why: String| Error::Malformed(format!("PEX message: {why}"));
    let mut last = None;
    for field in Fields::new(buf) {
        match field? {
            (n @ (TAG_REQUEST | TAG_ADDRS), Value::Bytes(member)) => last = Some((n, member)),
            (n @ (TAG_REQUEST | TAG_ADDRS), _) => return Err(pb::wrong_type("PEX Message", n)),
            _ => {}
        }
    }
    match last {
        None => Err(bad("no message type".into())),
        Some((TAG_REQUEST, member)) => {
            let _: PexRequest =
                prost::Message::decode(&buf[member]).map_err(|e| bad(e.to_string()))?;
            Ok(PexMessage::Request)
        }
        Some((_, member)) => {
            let member = &buf[member];
            let mut count = 0usize;
            for field in Fields::new(member) {
                if field?.0 == 1 {
                    count += 1;
                    if count > MAX_ADDRS {
                        return Err(bad(format!("over {MAX_ADDRS} addresses")));
                    }
                }
            }
            let PexAddrs { addrs } =
                prost::Message::decode(member).map_err(|e| bad(e.to_string()))?;
            let mut out = Vec::with_capacity(addrs.len());
            for a in addrs {
                let ip: IpAddr =
                    a.ip.parse()
                        .map_err(|_| bad(format!("invalid IP address {:?}", a.ip)))?;
                let port = u16::try_from(a.port)
                    .map_err(|_| bad(format!("invalid port number {}", a.port)))?;
                if let Ok(id) = a.id.parse() {
                    out.push(NetAddress::new(ip, port).with_id(id));
                }
            }
            Ok(PexMessage::Addrs(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_id::NodeId;

    const VECTORS: &str =
        include_str!("../../tests/vectors/cometbft-v0.38/cometbft-v0.38.25_pex_vectors.tsv");

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn go_pex_vectors_decode_and_the_request_encodes_byte_for_byte() {
        let rows: Vec<Vec<&str>> = VECTORS
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('\t').collect())
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][0], "PexRequest");
        assert_eq!(encode(&PexMessage::Request), hex(rows[0][2]));
        assert_eq!(decode(&hex(rows[0][2])).unwrap(), PexMessage::Request);
        // Go's vector uses the id "1", which is not a node id: Go's book skips that
        // address, and so do we; its bytes still decode.
        assert_eq!(rows[1][0], "PexAddrs");
        assert_eq!(decode(&hex(rows[1][2])).unwrap(), PexMessage::Addrs(vec![]));
        // The same bytes with the id a real node would send round-trip exactly.
        let with_id = |id: &str| {
            let addr = ProtoAddress {
                id: id.into(),
                ip: "127.0.0.1".into(),
                port: 9090,
            };
            prost::Message::encode_to_vec(&Message {
                sum: Some(Sum::PexAddrs(PexAddrs { addrs: vec![addr] })),
            })
        };
        assert_eq!(
            with_id("1"),
            hex(rows[1][2]),
            "our schema writes Go's bytes"
        );
        let id = NodeId([0xab; 20]);
        let bytes = with_id(&id.to_string());
        let addr = NetAddress::new([127, 0, 0, 1].into(), 9090).with_id(id);
        assert_eq!(decode(&bytes).unwrap(), PexMessage::Addrs(vec![addr]));
        assert_eq!(encode(&PexMessage::Addrs(vec![addr])), bytes);
    }

    #[test]
    fn what_go_disconnects_for_is_an_error() {
        let addrs = |ip: &str, port: u32| {
            prost::Message::encode_to_vec(&Message {
                sum: Some(Sum::PexAddrs(PexAddrs {
                    addrs: vec![ProtoAddress {
                        id: NodeId([1; 20]).to_string(),
                        ip: ip.into(),
                        port,
                    }],
                })),
            })
        };
        for (why, bytes) in [
            ("no type", vec![]),
            ("not protobuf", vec![0xff]),
            ("bad IP", addrs("1.2.3", 1)),
            ("host name", addrs("example.com", 1)),
            ("port", addrs("1.2.3.4", 65536)),
        ] {
            assert!(decode(&bytes).is_err(), "{why}");
        }
        assert!(decode(&addrs("::1", 65535)).is_ok());
        let many = PexAddrs {
            addrs: vec![
                ProtoAddress {
                    id: NodeId([1; 20]).to_string(),
                    ip: "1.2.3.4".into(),
                    port: 1,
                };
                MAX_ADDRS + 1
            ],
        };
        let bytes = prost::Message::encode_to_vec(&Message {
            sum: Some(Sum::PexAddrs(many)),
        });
        assert!(decode(&bytes).is_err());
    }

    #[test]
    fn addresses_without_an_id_are_not_sent() {
        let bare = NetAddress::new([1, 2, 3, 4].into(), 5);
        assert_eq!(
            decode(&encode(&PexMessage::Addrs(vec![bare]))).unwrap(),
            PexMessage::Addrs(vec![])
        );
    }
}
