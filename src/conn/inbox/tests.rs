//! The inbox's tests: reassembly, limits, and codecs that break their contract.
use super::*;
use crate::conn::codec::PacketCodec;
use crate::conn::wire::Packet;

fn inbox(caps: &[(u8, usize)]) -> Inbox {
    let chans: Vec<_> = caps
        .iter()
        .map(|&(id, cap)| ChannelDescriptor::new(id, 1).recv_message_capacity(cap))
        .collect();
    Inbox::new(&chans, &MConnConfig::default())
}

fn msg(channel: u8, eof: bool, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    Packet::Msg {
        channel,
        eof,
        payload: Bytes::copy_from_slice(payload),
    }
    .encode(&mut v);
    v
}

#[test]
fn reassembles_chunks_per_channel_and_reports_pings() {
    let mut ib = inbox(&[(1, 100), (2, 100)]);
    let mut wire = msg(1, false, b"he");
    wire.extend(msg(2, true, b"x"));
    wire.push(0x01); // ping
    wire.extend(msg(1, true, b"llo"));
    wire.push(0x02); // pong
    let step = ib.step(&wire);
    assert!(step.error.is_none());
    assert!(step.pong_wanted);
    assert_eq!(
        step.messages,
        vec![
            (2, Bytes::from_static(b"x")),
            (1, Bytes::from_static(b"hello"))
        ]
    );
}

#[test]
fn any_split_of_the_bytes_gives_the_same_messages() {
    let mut wire = msg(1, false, b"ab");
    wire.extend(msg(1, true, b"cd"));
    for cut in 0..=wire.len() {
        let mut ib = inbox(&[(1, 100)]);
        let mut got = ib.step(&wire[..cut]).messages;
        got.extend(ib.step(&wire[cut..]).messages);
        assert_eq!(got, vec![(1, Bytes::from_static(b"abcd"))], "cut at {cut}");
    }
}

#[test]
fn an_unknown_channel_or_an_oversized_message_is_an_error_before_it_is_held() {
    let mut ib = inbox(&[(1, 3)]);
    let step = ib.step(&msg(9, true, b"a"));
    assert!(matches!(
        step.error,
        Some(Error::UnknownChannel { channel: 9 })
    ));

    let mut ib = inbox(&[(1, 3)]);
    let mut wire = msg(1, false, b"ab");
    wire.extend(msg(1, true, b"cd"));
    let step = ib.step(&wire);
    assert!(step.messages.is_empty());
    assert!(matches!(
        step.error,
        Some(Error::MessageTooLarge {
            channel: 1,
            size: 4,
            limit: 3
        })
    ));
    assert!(ib.held() < 64 * 1024);
}

#[test]
fn a_header_claiming_a_huge_packet_is_refused_without_waiting_for_it() {
    let mut ib = inbox(&[(1, 1 << 20)]);
    // Msg on channel 1, eof, varint length 2^31.
    let step = ib.step(&[0x03, 0x01, 0x01, 0x04, 0x80, 0x00, 0x00, 0x00]);
    assert!(matches!(step.error, Some(Error::PacketTooLarge { .. })));
}

#[test]
fn the_end_of_the_stream_is_clean_only_between_packets() {
    let mut ib = inbox(&[(1, 100)]);
    assert!(matches!(ib.closed_error(), Error::PeerClosed));
    let wire = msg(1, true, b"abc");
    ib.step(&wire[..wire.len() - 1]);
    assert!(matches!(ib.closed_error(), Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof));
}

/// What a [`Broken`] codec answers for a buffer.
type Answer = fn(&[u8]) -> Option<(Decoded, usize)>;

/// A codec that breaks its contract in a chosen way.
struct Broken(Answer);

impl PacketCodec for Broken {
    fn name(&self) -> &'static str {
        "broken"
    }
    fn encode_ping(&self, _: &mut Vec<u8>) {}
    fn encode_pong(&self, _: &mut Vec<u8>) {}
    fn encode_msg(&self, _: &mut Vec<u8>, _: ChannelId, _: bool, _: &[u8]) {}
    fn decode(&self, buf: &[u8], _: usize) -> Result<Option<(Decoded, usize)>, Error> {
        Ok((self.0)(buf))
    }
}

fn broken(f: Answer) -> Inbox {
    let chans = [ChannelDescriptor::new(1, 1).recv_message_capacity(1 << 20)];
    Inbox::new(&chans, &MConnConfig::default().codec(Codec::new(Broken(f))))
}

#[test]
fn a_codec_that_uses_no_bytes_or_more_than_it_has_is_an_error_not_a_hang() {
    let cases: [Answer; 4] = [
        |_| Some((Decoded::Ping, 0)),
        |b| Some((Decoded::Pong, b.len() + 1)),
        |_| {
            Some((
                Decoded::Msg {
                    channel: 1,
                    eof: false,
                    payload: 0..0,
                },
                0,
            ))
        },
        |_| {
            Some((
                Decoded::Msg {
                    channel: 1,
                    eof: true,
                    payload: 0..0,
                },
                0,
            ))
        },
    ];
    for (i, f) in cases.into_iter().enumerate() {
        let step = broken(f).step(&[0xAA]);
        assert!(step.messages.is_empty(), "case {i}");
        assert!(
            matches!(step.error, Some(Error::Malformed(_))),
            "case {i}: {step:?}"
        );
    }
}

#[test]
fn a_codec_that_never_completes_a_packet_cannot_grow_the_buffer() {
    let mut ib = broken(|_| None);
    let step = ib.step(&vec![0u8; 64 * 1024]);
    assert!(
        matches!(step.error, Some(Error::PacketTooLarge { .. })),
        "{step:?}"
    );
    assert!(ib.held() < 64 * 1024);
}

#[test]
fn a_codec_that_ignores_the_payload_limit_is_stopped_by_the_inbox() {
    // One 3000-byte chunk, when the 1024-byte default allows at most 1034 + 64.
    let mut ib = broken(|b| {
        let msg = Decoded::Msg {
            channel: 1,
            eof: true,
            payload: 0..3000,
        };
        (b.len() >= 3000).then_some((msg, 3000))
    });
    let step = ib.step(&vec![7u8; 3000]);
    assert!(
        matches!(step.error, Some(Error::PacketTooLarge { .. })),
        "{step:?}"
    );
    assert!(step.messages.is_empty());
}

#[test]
fn go_wire_packets_up_to_gos_limit_still_pass() {
    // Go accepts 2 + varint + len <= 1034: a 1029-byte payload with the default 1024.
    let mut ib = inbox(&[(1, 1 << 20)]);
    let step = ib.step(&msg(1, true, &[5u8; 1029]));
    assert!(step.error.is_none(), "{step:?}");
    assert_eq!(step.messages[0].1.len(), 1029);
}
