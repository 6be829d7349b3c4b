//! The packet codec seam: a second protocol family plugs in by implementing `PacketCodec`
//! alone. A test codec with a framing nothing like go-wire's (a 4-byte length first,
//! payload before the flags, so the payload is not the packet's tail) runs the whole
//! connection: chunking, priorities, reassembly, keepalive, limits and errors, with no
//! change to the threads, the scheduler or reassembly.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use mconn::protocol::Codec;
use mconn::{ChannelDescriptor, Error, MConnConfig};
use support::codec::Framed;
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

fn channels() -> Vec<ChannelDescriptor> {
    vec![
        ChannelDescriptor::new(0x01, 1).send_queue_capacity(64),
        ChannelDescriptor::new(0x02, 5).send_queue_capacity(64),
    ]
}

fn framed() -> MConnConfig {
    MConnConfig::default()
        .codec(Codec::new(Framed))
        .max_packet_msg_payload_size(100)
}

#[test]
fn a_test_codec_carries_chunked_messages_on_every_channel_in_order() {
    let _w = watchdog("a_test_codec_carries_chunked_messages", LIMIT);
    let (a, b) = conn_pair(channels(), framed());
    let mut sent = Vec::new();
    for i in 0..40u64 {
        let ch = 1 + (i % 2) as u8;
        // 0 to ~1000 bytes: empty, one packet, many packets.
        let msg = Bytes::from(pattern(i, (i as usize * 97) % 1000));
        a.conn.send(ch, msg.clone()).expect("send");
        sent.push((ch, msg));
    }
    let mut got = Vec::new();
    while got.len() < sent.len() {
        got.push(b.received.recv_timeout(LIMIT).expect("message"));
    }
    for ch in [1, 2] {
        let want: Vec<_> = sent.iter().filter(|m| m.0 == ch).collect();
        let have: Vec<_> = got.iter().filter(|m| m.0 == ch).collect();
        assert_eq!(
            want, have,
            "channel {ch}: every message, whole and in order"
        );
    }
    a.conn.stop();
    b.conn.stop();
}

#[test]
fn the_bytes_on_the_wire_are_the_codecs() {
    let _w = watchdog("the_bytes_on_the_wire_are_the_codecs", LIMIT);
    let (ours, mut peer) = tcp_pair();
    let c = start(ours, channels(), framed());
    c.conn.send(0x02, &b"hi"[..]).expect("send");
    let mut got = [0u8; 9];
    peer.read_exact(&mut got).expect("read");
    assert_eq!(got, [0, 0, 0, 5, b'M', b'h', b'i', 0x02, 1]);
    // And what the peer writes in the codec's framing arrives as a message.
    peer.write_all(&[0, 0, 0, 4, b'M', b'x', 0x01, 1]).unwrap();
    let (ch, msg) = c.received.recv_timeout(LIMIT).expect("message");
    assert_eq!((ch, &msg[..]), (0x01, &b"x"[..]));
    c.conn.stop();
}

#[test]
fn keepalive_pings_and_pongs_in_the_codecs_framing() {
    let _w = watchdog("keepalive_pings_and_pongs_in_the_codecs_framing", LIMIT);
    let (ours, mut peer) = tcp_pair();
    let cfg = framed()
        .ping_interval(Duration::from_millis(200))
        .pong_timeout(Duration::from_millis(100));
    let c = start(ours, channels(), cfg);
    // The peer's ping is answered with the codec's pong.
    peer.write_all(&[0, 0, 0, 1, b'P']).unwrap();
    let mut got = [0u8; 5];
    peer.read_exact(&mut got).expect("pong");
    assert_eq!(got, [0, 0, 0, 1, b'Q']);
    // Our ping, in the codec's bytes, after ping_interval of silence.
    peer.read_exact(&mut got).expect("ping");
    assert_eq!(got, [0, 0, 0, 1, b'P']);
    // The peer stays silent: the connection gives up on it with PongTimeout.
    let e = c.errors.recv_timeout(LIMIT).expect("an error");
    assert!(matches!(e, Error::PongTimeout), "{e:?}");
}

#[test]
fn the_codecs_limit_and_errors_stop_the_connection() {
    let _w = watchdog("the_codecs_limit_and_errors_stop_the_connection", LIMIT);
    // A claim over the limit is refused before its bytes arrive.
    let (ours, mut peer) = tcp_pair();
    let c = start(ours, channels(), framed());
    peer.write_all(&[0, 0, 0x10, 0]).unwrap();
    let e = c.errors.recv_timeout(LIMIT).expect("an error");
    assert!(
        matches!(&e, Error::Malformed(m) if m.contains("4096")),
        "{e:?}"
    );
    assert!(!c.conn.is_running());

    // The connection's own limits apply to the codec's chunks: an unknown channel.
    let (ours, mut peer) = tcp_pair();
    let c = start(ours, channels(), framed());
    peer.write_all(&[0, 0, 0, 4, b'M', b'x', 0x09, 1]).unwrap();
    let e = c.errors.recv_timeout(LIMIT).expect("an error");
    assert!(matches!(e, Error::UnknownChannel { channel: 9 }), "{e:?}");
}

#[test]
fn two_codecs_do_not_understand_each_other_and_say_so() {
    let _w = watchdog("two_codecs_do_not_understand_each_other", LIMIT);
    let (a, b) = tcp_pair();
    let framed_end = start(a, channels(), framed());
    let gowire_end = start(b, channels(), MConnConfig::default());
    framed_end.conn.send(0x01, &b"hello"[..]).expect("send");
    // go-wire reads 00 as an unknown packet type: an error, not a hang or a message.
    let e = gowire_end.errors.recv_timeout(LIMIT).expect("an error");
    assert!(e.is_protocol_violation(), "{e:?}");
    assert!(gowire_end.received.try_recv().is_err());
}
