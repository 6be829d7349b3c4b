//! Property tests of the packet codec: round trips, and arbitrary bytes never panic.

use bytes::Bytes;
use mconn::wire::{self, Packet};
use proptest::prelude::*;

const MAX_PAYLOAD: usize = 1024;

fn any_packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        Just(Packet::Ping),
        Just(Packet::Pong),
        (
            any::<u8>(),
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..=MAX_PAYLOAD)
        )
            .prop_map(|(channel, eof, payload)| Packet::Msg {
                channel,
                eof,
                payload: Bytes::from(payload)
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn encode_decode_round_trip(pkts in proptest::collection::vec(any_packet(), 1..8)) {
        let max_total = wire::max_packet_total_size(MAX_PAYLOAD);
        let mut buf = Vec::new();
        for p in &pkts {
            p.encode(&mut buf);
        }
        // Via Read.
        let mut r = &buf[..];
        for p in &pkts {
            let got = Packet::decode(&mut r, max_total).unwrap();
            prop_assert_eq!(got.as_ref(), Some(p));
        }
        prop_assert_eq!(Packet::decode(&mut r, max_total).unwrap(), None);
        // Via slice, also when fed one prefix at a time.
        let mut rest = &buf[..];
        for p in &pkts {
            let (got, used) = wire::decode_packet(rest, max_total).unwrap().unwrap();
            prop_assert_eq!(&got.to_packet(), p);
            prop_assert_eq!(wire::decode_packet(&rest[..used - 1], max_total).unwrap(), None);
            rest = &rest[used..];
        }
    }

    #[test]
    fn varint_round_trip(v in any::<i64>()) {
        let mut out = Vec::new();
        wire::put_varint(&mut out, v);
        prop_assert_eq!(wire::decode_varint(&out).unwrap(), Some((v, out.len())));
        prop_assert_eq!(wire::read_varint(&mut &out[..]).unwrap(), v);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096),
                                   max_payload in 1usize..2048) {
        let max_total = wire::max_packet_total_size(max_payload);
        let mut rest = &bytes[..];
        while let Ok(Some((pkt, used))) = wire::decode_packet(rest, max_total) {
            if let wire::PacketRef::Msg { payload, .. } = pkt {
                prop_assert!(payload.len() + 3 <= max_total);
            }
            rest = &rest[used..];
        }
        let mut r = &bytes[..];
        while let Ok(Some(pkt)) = Packet::decode(&mut r, max_total) {
            if let Packet::Msg { payload, .. } = pkt {
                prop_assert!(payload.len() + 3 <= max_total);
            }
        }
    }
}
