//! The reference model both receive targets compare against: what a straightforward
//! reading of the protocol delivers for a byte stream, and how the connection ends.

use std::io;

use mconn::wire::{self, PacketRef};
use mconn::{ChannelDescriptor, Error};

/// How the model expects the connection to end.
#[derive(Debug, PartialEq)]
pub enum End {
    /// The stream ended between two packets.
    PeerClosed,
    /// The stream ended inside a packet.
    Truncated,
    /// A protocol error (compared by variant).
    Protocol(std::mem::Discriminant<Error>, String),
}

pub fn end_of(e: &Error) -> End {
    match e {
        Error::PeerClosed => End::PeerClosed,
        Error::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => End::Truncated,
        other => End::Protocol(std::mem::discriminant(other), other.to_string()),
    }
}

/// What a correct receiver delivers for `stream`, and how it ends.
pub fn model(stream: &[u8], caps: &[(u8, usize)], max_total: usize) -> (Vec<(u8, Vec<u8>)>, End) {
    let mut out = Vec::new();
    let mut partial: Vec<Vec<u8>> = vec![Vec::new(); caps.len()];
    let mut rest = stream;
    loop {
        let (pkt, used) = match wire::decode_packet(rest, max_total) {
            Ok(Some(p)) => p,
            Ok(None) if rest.is_empty() => return (out, End::PeerClosed),
            Ok(None) => return (out, End::Truncated),
            Err(e) => return (out, end_of(&e)),
        };
        rest = &rest[used..];
        let PacketRef::Msg {
            channel,
            eof,
            payload,
        } = pkt
        else {
            continue;
        };
        let Some(i) = caps.iter().position(|c| c.0 == channel) else {
            return (out, end_of(&Error::UnknownChannel { channel }));
        };
        let size = partial[i].len() + payload.len();
        if size > caps[i].1 {
            let e = Error::MessageTooLarge {
                channel,
                size,
                limit: caps[i].1,
            };
            return (out, end_of(&e));
        }
        partial[i].extend_from_slice(payload);
        if eof {
            out.push((channel, std::mem::take(&mut partial[i])));
        }
    }
}


/// The two channels both targets use, from the input's capacity bytes: 0x01 accepts
/// messages of up to `(cap1 + 1) * 16` bytes, 0x02 up to `(cap2 + 1) * 16`.
pub fn channels(cap1: u8, cap2: u8) -> ([(u8, usize); 2], Vec<ChannelDescriptor>) {
    let caps = [
        (0x01u8, (cap1 as usize + 1) * 16),
        (0x02u8, (cap2 as usize + 1) * 16),
    ];
    let channels = caps
        .iter()
        .map(|&(id, cap)| {
            ChannelDescriptor::new(id, 1)
                .recv_buffer_capacity(64)
                .recv_message_capacity(cap)
        })
        .collect();
    (caps, channels)
}
