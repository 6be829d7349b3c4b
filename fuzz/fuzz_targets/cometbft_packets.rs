//! CometBFT's packet codec on an arbitrary byte stream: never a panic; every packet it
//! accepts is within Go's size limit, is what Go's reading (built from `prost`, an
//! independent protobuf implementation) makes of the same bytes, and re-encodes to a
//! packet that decodes to the same chunk.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mconn::cometbft::{max_packet_size, Packets};
use mconn::protocol::{Decoded, PacketCodec};
use prost::Message;

#[derive(Clone, PartialEq, prost::Message)]
struct Packet {
    #[prost(oneof = "Sum", tags = "1, 2, 3")]
    sum: Option<Sum>,
}
#[derive(Clone, PartialEq, prost::Oneof)]
enum Sum {
    #[prost(message, tag = "1")]
    Ping(Empty),
    #[prost(message, tag = "2")]
    Pong(Empty),
    #[prost(message, tag = "3")]
    Msg(Msg),
}
#[derive(Clone, PartialEq, prost::Message)]
struct Empty {}
#[derive(Clone, PartialEq, prost::Message)]
struct Msg {
    #[prost(int32, tag = "1")]
    channel_id: i32,
    #[prost(bool, tag = "2")]
    eof: bool,
    #[prost(bytes = "vec", tag = "3")]
    data: Vec<u8>,
}

/// How Go's gogoproto reads a `Packet` body, built from prost's pieces: the last oneof
/// member set wins whole (gogoproto replaces a oneof message where prost would merge two
/// of the same kind); `None` for bytes it refuses.
fn go_reading(body: &[u8]) -> Option<Option<Sum>> {
    use prost::encoding::{decode_key, decode_varint, skip_field, DecodeContext, WireType};
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

fuzz_target!(|data: &[u8]| {
    // The first byte picks the payload limit (0 = the default 1024).
    let (max_payload, mut rest) = match data.split_first() {
        Some((&b, rest)) => (if b == 0 { 1024 } else { b as usize * 8 }, rest),
        None => return,
    };
    loop {
        let (packet, used) = match Packets.decode(rest, max_payload) {
            Ok(Some(p)) => p,
            Ok(None) | Err(_) => return,
        };
        assert!(used >= 1 && used <= rest.len());
        let bytes = &rest[..used];
        let mut after_prefix = bytes;
        let len = prost::encoding::decode_varint(&mut after_prefix).expect("a length");
        assert_eq!(len as usize, after_prefix.len());
        assert!(len as usize <= max_packet_size(max_payload), "over the limit");
        let theirs = go_reading(after_prefix).expect("Go reads what we accept");
        match (packet, theirs) {
            (Decoded::Ping, Some(Sum::Ping(_))) | (Decoded::Pong, Some(Sum::Pong(_))) => {}
            (
                Decoded::Msg {
                    channel,
                    eof,
                    payload,
                },
                Some(Sum::Msg(m)),
            ) => {
                assert!(payload.start <= payload.end && payload.end <= used);
                assert_eq!((i32::from(channel), eof), (m.channel_id, m.eof));
                assert_eq!(&bytes[payload.clone()], &m.data[..]);
                let mut again = Vec::new();
                Packets.encode_msg(&mut again, channel, eof, &m.data);
                // The limit is sized for channel 1; a two-byte channel id needs one more.
                match Packets.decode(&again, m.data.len() + 1) {
                    Ok(Some((Decoded::Msg { channel: c, eof: e, payload: p }, n))) => {
                        assert_eq!((c, e, n), (channel, eof, again.len()));
                        assert_eq!(&again[p], &m.data[..]);
                    }
                    other => panic!("our own packet did not decode: {other:?}"),
                }
            }
            (ours, theirs) => panic!("we read {ours:?}, Go {theirs:?}"),
        }
        rest = &rest[used..];
    }
});
