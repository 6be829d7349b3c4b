//! The packet codec against CometBFT's `TestConnVectors`, PROTOCOL.md's wire table,
//! gogoproto's decoding rules, hostile bytes, and `prost` as an independent oracle.

use proptest::prelude::*;

use super::*;
use crate::conn::codec::Codec;

const CONN_VECTORS: &str =
    include_str!("../../../tests/vectors/cometbft-v0.38/cometbft-v0.38.25_conn_vectors.tsv");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `bytes` with its uvarint length in front, as it travels.
fn delimited(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    pb::put_uvarint(&mut out, bytes.len() as u64);
    out.extend_from_slice(bytes);
    out
}

fn decode_all(wire: &[u8]) -> Result<Option<(Decoded, usize)>, Error> {
    Packets.decode(wire, 1024)
}

#[test]
fn go_conn_vectors_are_what_we_write_and_read() {
    let mut seen = 0;
    for line in CONN_VECTORS.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let body = hex(cols[2]);
        let mut ours = Vec::new();
        let expected = match cols[0] {
            "PacketPing" => {
                Packets.encode_ping(&mut ours);
                Decoded::Ping
            }
            "PacketPong" => {
                Packets.encode_pong(&mut ours);
                Decoded::Pong
            }
            "PacketMsg" => {
                let data = b"data transmitted over the wire";
                Packets.encode_msg(&mut ours, 1, false, data);
                let start = ours.len() - data.len();
                Decoded::Msg {
                    channel: 1,
                    eof: false,
                    payload: start..ours.len(),
                }
            }
            other => panic!("unknown vector {other}"),
        };
        assert_eq!(ours, delimited(&body), "{}", cols[0]);
        assert_eq!(decode_all(&ours).unwrap(), Some((expected, ours.len())));
        seen += 1;
    }
    assert_eq!(seen, 3);
}

#[test]
fn protocol_table_rows_channel_zero_and_empty_messages() {
    // PROTOCOL.md §5.1: channel 0 leaves `channel_id` out; an empty message leaves `data` out.
    let mut out = Vec::new();
    Packets.encode_msg(&mut out, 0x00, true, &[0x0a, 0x00]);
    assert_eq!(out, hex("081a0610011a020a00"));
    out.clear();
    Packets.encode_msg(&mut out, 0x20, true, &[]);
    assert_eq!(out, hex("061a0408201001"));
    match decode_all(&out).unwrap() {
        Some((
            Decoded::Msg {
                channel: 0x20,
                eof: true,
                payload,
            },
            7,
        )) => assert!(payload.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_limit_is_gos_max_packet_msg_size() {
    assert_eq!(max_packet_size(1024), 1034);
    // A full chunk on channel 1 is exactly at the limit; on channel 0x80 (a two-byte
    // varint) it is one byte over and refused before the body arrives (§5.2).
    let mut out = Vec::new();
    Packets.encode_msg(&mut out, 1, true, &[7; 1024]);
    assert_eq!(out.len(), 1036);
    assert!(matches!(decode_all(&out), Ok(Some((_, 1036)))));
    out.clear();
    Packets.encode_msg(&mut out, 0x80, true, &[7; 1024]);
    assert!(matches!(
        decode_all(&out[..3]),
        Err(Error::PacketTooLarge {
            size: 1035,
            limit: 1034
        })
    ));
}

#[test]
fn prefixes_ask_for_more_and_never_claim_a_packet() {
    let mut out = Vec::new();
    Packets.encode_msg(&mut out, 0x21, false, &[1; 300]);
    for cut in 0..out.len() {
        assert_eq!(decode_all(&out[..cut]).unwrap(), None, "cut at {cut}");
    }
}

#[test]
fn gogoproto_decoding_rules() {
    // Fields in another order, zero values written, an unknown field, data twice.
    let body = [
        0x1a, 0x0f, // PacketMsg, 15 bytes
        0x1a, 0x01, b'x', // data "x" (replaced below)
        0x10, 0x00, // eof false, written anyway
        0x08, 0x05, // channel 5
        0x38, 0x07, // unknown field 7
        0x10, 0x01, // eof true: the last value wins
        0x1a, 0x02, b'o', b'k',
    ];
    let wire = delimited(&body);
    let (packet, used) = decode_all(&wire).unwrap().unwrap();
    assert_eq!(used, wire.len());
    let Decoded::Msg {
        channel,
        eof,
        payload,
    } = packet
    else {
        panic!("{packet:?}")
    };
    assert_eq!((channel, eof, &wire[payload]), (5, true, &b"ok"[..]));
    // The last oneof member set wins; unknown fields in a ping are skipped.
    let wire = delimited(&[0x1a, 0x02, 0x08, 0x01, 0x0a, 0x02, 0x28, 0x01]);
    assert_eq!(
        decode_all(&wire).unwrap(),
        Some((Decoded::Ping, wire.len()))
    );
}

#[test]
fn hostile_packets_are_errors() {
    for (why, wire) in [
        (
            "illegal tag 0 (Go's TestMConnectionReadErrorBadEncoding)",
            vec![0x01, 0x02],
        ),
        ("empty Packet: unknown message type", vec![0x00]),
        ("only unknown fields", delimited(&[0x20, 0x01])),
        ("ping with the wrong wire type", delimited(&[0x08, 0x00])),
        (
            "channel as bytes",
            delimited(&[0x1a, 0x03, 0x0a, 0x01, 0x00]),
        ),
        ("data as a varint", delimited(&[0x1a, 0x02, 0x18, 0x01])),
        ("channel 256", delimited(&[0x1a, 0x03, 0x08, 0x80, 0x02])),
        (
            "channel -1",
            delimited(&[
                0x1a, 0x0b, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ]),
        ),
        (
            "member longer than the packet",
            delimited(&[0x1a, 0x05, 0x08, 0x01]),
        ),
        ("truncated field inside", delimited(&[0x1a, 0x01, 0x08])),
        ("length varint over 64 bits", vec![0xff; 11]),
    ] {
        assert!(decode_all(&wire).is_err(), "{why}: {wire:02x?}");
    }
}

/// `prost`'s reading of the same schema: an oracle written by someone else.
mod oracle {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Packet {
        #[prost(oneof = "Sum", tags = "1, 2, 3")]
        pub sum: Option<Sum>,
    }
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Sum {
        #[prost(message, tag = "1")]
        Ping(Empty),
        #[prost(message, tag = "2")]
        Pong(Empty),
        #[prost(message, tag = "3")]
        Msg(Msg),
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Empty {}
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Msg {
        #[prost(int32, tag = "1")]
        pub channel_id: i32,
        #[prost(bool, tag = "2")]
        pub eof: bool,
        #[prost(bytes = "vec", tag = "3")]
        pub data: Vec<u8>,
    }

    /// How Go's gogoproto reads a `Packet` body, built from prost's pieces: the last
    /// oneof member set wins whole (gogoproto replaces a oneof message where prost would
    /// merge two of the same kind); `None` for bytes it refuses.
    pub fn go_reading(body: &[u8]) -> Option<Option<Sum>> {
        use prost::encoding::{decode_key, decode_varint, skip_field, DecodeContext, WireType};
        use prost::Message;
        let mut buf = body;
        let mut last = None;
        while !buf.is_empty() {
            let (tag, wire_type) = decode_key(&mut buf).ok()?;
            if !(1..=3).contains(&tag) {
                skip_field(wire_type, tag, &mut buf, DecodeContext::default()).ok()?;
                continue;
            }
            if wire_type != WireType::LengthDelimited {
                return None;
            }
            let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
            let member = buf.get(..len)?;
            buf = &buf[len..];
            last = Some(match tag {
                1 => Sum::Ping(Empty::decode(member).ok()?),
                2 => Sum::Pong(Empty::decode(member).ok()?),
                _ => Sum::Msg(Msg::decode(member).ok()?),
            });
        }
        Some(last)
    }
}

#[test]
fn a_oneof_member_set_twice_is_replaced_whole_as_gogoproto_does() {
    // Found by the fuzzer: prost merges two PacketMsg members (keeping the first one's
    // channel); Go's generated code replaces the first with the second.
    let body = [0x1a, 0x02, 0x08, 0x25, 0x1a, 0x02, 0x10, 0x00];
    let wire = delimited(&body);
    assert!(matches!(
        decode_all(&wire).unwrap(),
        Some((
            Decoded::Msg {
                channel: 0,
                eof: false,
                ..
            },
            9
        ))
    ));
    let Some(Some(oracle::Sum::Msg(m))) = oracle::go_reading(&body) else {
        panic!("the oracle reads a message")
    };
    assert_eq!(m.channel_id, 0);
}

proptest! {
    #[test]
    fn what_we_write_prost_reads_and_we_read_back(
        channel in any::<u8>(),
        eof in any::<bool>(),
        data in proptest::collection::vec(any::<u8>(), 0..1100),
    ) {
        use prost::Message;
        let mut out = Vec::new();
        Packets.encode_msg(&mut out, channel, eof, &data);
        let theirs = oracle::Packet::decode_length_delimited(&out[..]).unwrap();
        let msg = oracle::Msg { channel_id: i32::from(channel), eof, data: data.clone() };
        prop_assert_eq!(&theirs, &oracle::Packet { sum: Some(oracle::Sum::Msg(msg)) });
        // prost writes what gogoproto writes, byte for byte.
        prop_assert_eq!(&theirs.encode_length_delimited_to_vec(), &out);
        match Packets.decode(&out, 2048).unwrap() {
            Some((Decoded::Msg { channel: c, eof: e, payload }, used)) => {
                prop_assert_eq!((c, e, used), (channel, eof, out.len()));
                prop_assert_eq!(&out[payload], &data[..]);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_agree_with_gos_reading(
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let wire = delimited(&body);
        let ours = Codec::new(Packets).decode(&wire, 1024);
        let theirs = oracle::go_reading(&body);
        match (ours, theirs) {
            (Ok(Some((Decoded::Ping, n))), Some(p)) => {
                prop_assert_eq!(n, wire.len());
                prop_assert!(matches!(p, Some(oracle::Sum::Ping(_))));
            }
            (Ok(Some((Decoded::Pong, _))), Some(p)) => {
                prop_assert!(matches!(p, Some(oracle::Sum::Pong(_))));
            }
            (Ok(Some((Decoded::Msg { channel, eof, payload }, _))), Some(p)) => {
                let Some(oracle::Sum::Msg(m)) = p else {
                    return Err(TestCaseError::fail("Go's reading saw no message"));
                };
                prop_assert_eq!((i32::from(channel), eof), (m.channel_id, m.eof));
                prop_assert_eq!(&wire[payload], &m.data[..]);
            }
            (Err(_), _) => {}
            (ours, theirs) => prop_assert!(false, "ours {:?}, prost {:?}", ours, theirs),
        }
    }
}
