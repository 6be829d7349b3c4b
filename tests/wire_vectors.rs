//! Every `varint`, `send` and `recv` line of the Go vectors, checked at the codec level.

mod support;

use bytes::Bytes;
use mconn::wire::{self, Packet, PacketRef};
use mconn::Error;
use support::vectors::{load, RecvOutcome, Vector};

const MAX_TOTAL: usize = 1034; // max_packet_total_size(1024)

#[test]
fn varint_lines() {
    let mut n = 0;
    for v in load() {
        if let Vector::Varint { value, wire } = v {
            let mut out = Vec::new();
            wire::put_varint(&mut out, value);
            assert_eq!(out, wire, "encode {value}");
            assert_eq!(
                wire::decode_varint(&wire).unwrap(),
                Some((value, wire.len())),
                "decode {value}"
            );
            assert_eq!(wire::read_varint(&mut &wire[..]).unwrap(), value);
            n += 1;
        }
    }
    assert_eq!(n, 14, "every varint line checked");
}

/// Chunks a message the way the sender does: 1024-byte packets, eof on the last one,
/// one empty packet for an empty message.
fn encode_message(channel: u8, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunks: Vec<&[u8]> = message.chunks(1024).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    let last = chunks.len() - 1;
    for (i, c) in chunks.into_iter().enumerate() {
        Packet::Msg {
            channel,
            eof: i == last,
            payload: Bytes::copy_from_slice(c),
        }
        .encode(&mut out);
    }
    out
}

#[test]
fn send_lines() {
    let mut n = 0;
    for v in load() {
        if let Vector::Send {
            channel,
            message,
            wire,
        } = v
        {
            assert_eq!(
                encode_message(channel, &message),
                wire,
                "message of {} bytes",
                message.len()
            );
            n += 1;
        }
    }
    assert_eq!(n, 11, "every send line checked");
}

/// What a receiver with channels 01 and 02 sees at the packet level.
struct Decoded {
    messages: Vec<(u8, Vec<u8>)>,
    pongs_owed: usize,
    channels_seen: Vec<u8>,
}

fn decode_stream(mut wire: &[u8]) -> Result<Decoded, Error> {
    let mut partial: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut out = Decoded {
        messages: Vec::new(),
        pongs_owed: 0,
        channels_seen: Vec::new(),
    };
    while !wire.is_empty() {
        let (pkt, used) =
            wire::decode_packet(wire, MAX_TOTAL)?.expect("vector ends inside a packet");
        match pkt {
            PacketRef::Ping => out.pongs_owed += 1,
            PacketRef::Pong => {}
            PacketRef::Msg {
                channel,
                eof,
                payload,
            } => {
                out.channels_seen.push(channel);
                let idx = match partial.iter().position(|(c, _)| *c == channel) {
                    Some(i) => i,
                    None => {
                        partial.push((channel, Vec::new()));
                        partial.len() - 1
                    }
                };
                partial[idx].1.extend_from_slice(payload);
                if eof {
                    let msg = std::mem::take(&mut partial[idx].1);
                    out.messages.push((channel, msg));
                }
            }
        }
        wire = &wire[used..];
    }
    Ok(out)
}

/// The same stream through the `Read`-based decoder must give the same packets.
fn decode_with_reader(wire: &[u8]) -> Result<Vec<Packet>, Error> {
    let mut r = wire;
    let mut pkts = Vec::new();
    while let Some(p) = Packet::decode(&mut r, MAX_TOTAL)? {
        pkts.push(p);
    }
    Ok(pkts)
}

fn error_label(e: &Error) -> &'static str {
    match e {
        Error::UnknownPacketType { .. } => "unknown-packet-type",
        Error::InvalidLength { .. } => "invalid-length",
        Error::VarintOverflow { .. } => "varint-overflow",
        Error::PacketTooLarge { .. } => "packet-too-large",
        _ => "other",
    }
}

#[test]
fn recv_lines() {
    let mut n = 0;
    for v in load() {
        let Vector::Recv { wire, outcome } = v else {
            continue;
        };
        n += 1;
        let via_slice = decode_stream(&wire);
        let via_reader = decode_with_reader(&wire);
        match outcome {
            RecvOutcome::Deliver { messages, reply } => {
                let got = via_slice.unwrap_or_else(|e| panic!("{wire:02x?}: unexpected {e}"));
                assert_eq!(got.messages, messages, "delivered messages");
                let expected_reply = {
                    let mut r = Vec::new();
                    for _ in 0..got.pongs_owed {
                        Packet::Pong.encode(&mut r);
                    }
                    r
                };
                assert_eq!(expected_reply, reply, "reply");
                assert!(via_reader.is_ok());
            }
            RecvOutcome::Error(what) if what == "unknown-channel" => {
                // Needs the channel table: the codec decodes it, and names a channel
                // the receiver (01, 02) does not have. The MConnection test stops on it.
                let got = via_slice.expect("codec-level decode succeeds");
                assert!(got.channels_seen.iter().any(|c| *c != 1 && *c != 2));
            }
            RecvOutcome::Error(what) => {
                let e = via_slice
                    .err()
                    .unwrap_or_else(|| panic!("{what}: decoded without error"));
                assert_eq!(error_label(&e), what, "slice decoder: {e}");
                let e = via_reader
                    .err()
                    .unwrap_or_else(|| panic!("{what}: reader decoded without error"));
                assert_eq!(error_label(&e), what, "read decoder: {e}");
            }
        }
    }
    assert_eq!(n, 16, "every recv line checked");
}
