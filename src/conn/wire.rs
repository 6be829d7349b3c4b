//! go-wire primitives and the MConnection packet codec. Pure: no threads, no sockets.
//!
//! # go-wire
//!
//! A go-wire varint is one size byte `n` (0..=8, or `0xF0 | n` for a negative number)
//! followed by the magnitude in `n` big-endian bytes: 0 is `00`, 7 is `01 07`, 256 is
//! `02 01 00`, -1 is `F1 01`. Byte slices and strings are a varint length then the bytes.
//! These are public so an application can build messages a Go reactor understands.
//!
//! # Packets
//!
//! ```text
//! Ping  01
//! Pong  02
//! Msg   03 | channel (1) | eof (1) | varint(len) | payload (len bytes)
//! ```
//!
//! A msg packet is accepted iff `2 + varint bytes + len <= max_total` where `max_total` is
//! `max_packet_msg_payload_size + 10` (Go's `maxMsgPacketTotalSize`, 1034 by default).
//! Every limit is checked before any payload byte is allocated. Only `eof == 0x01` ends a
//! message; any other value means more packets follow.

use std::io::{self, Read};

use bytes::Bytes;

use crate::error::{ChannelId, Error};
use crate::gowire::parse_size_byte;
pub use crate::gowire::{
    decode_varint, put_bytes, put_str, put_uvarint, put_varint, read_bytes, read_string,
    read_uvarint, read_varint, varint_len,
};

/// Packet type byte of a Ping.
pub(crate) const PACKET_TYPE_PING: u8 = 0x01;
/// Packet type byte of a Pong.
pub(crate) const PACKET_TYPE_PONG: u8 = 0x02;
/// Packet type byte of a Msg.
pub(crate) const PACKET_TYPE_MSG: u8 = 0x03;
/// Go's `maxMsgPacketOverheadSize`: what a msg packet may add to its payload.
pub(crate) const MAX_PACKET_OVERHEAD: usize = 10;

/// The size limit Go checks for a msg packet (`maxMsgPacketTotalSize`) for a given
/// `max_packet_msg_payload_size`: 1034 for the default 1024.
#[inline]
pub fn max_packet_total_size(max_payload: usize) -> usize {
    max_payload.saturating_add(MAX_PACKET_OVERHEAD)
}

// ---------------------------------------------------------------- packets

/// One MConnection packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// Keepalive request; answered with a Pong.
    Ping,
    /// Keepalive answer.
    Pong,
    /// A piece of a message on a channel.
    Msg {
        /// The channel the message belongs to.
        channel: ChannelId,
        /// Whether this packet ends the message (eof byte `0x01`).
        eof: bool,
        /// This packet's part of the message.
        payload: Bytes,
    },
}

/// A decoded packet that borrows its payload from the input buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketRef<'a> {
    /// Keepalive request.
    Ping,
    /// Keepalive answer.
    Pong,
    /// A piece of a message on a channel.
    Msg {
        /// The channel the message belongs to.
        channel: ChannelId,
        /// Whether this packet ends the message.
        eof: bool,
        /// This packet's part of the message.
        payload: &'a [u8],
    },
}

/// A checked msg packet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MsgHeader {
    channel: ChannelId,
    eof: bool,
    /// Bytes of header after the type byte: channel, eof, varint.
    len_after_type: usize,
    payload_len: usize,
}

/// Parses and checks a msg header from the bytes after the type byte. `Ok(None)` means
/// more bytes are needed; an error is returned as soon as the bytes seen prove one.
#[inline]
fn parse_msg_header(buf: &[u8], max_total: usize) -> Result<Option<MsgHeader>, Error> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let Some((length, vlen)) = decode_varint(&buf[2..])? else {
        return Ok(None);
    };
    if length < 0 {
        return Err(Error::InvalidLength { length });
    }
    // go-wire: ReadByteSlice fails if lmt < n + length, n = the 2 + vlen bytes read so far.
    let size = (2 + vlen) as u64 + length as u64;
    if size > max_total as u64 {
        return Err(Error::PacketTooLarge {
            size,
            limit: max_total,
        });
    }
    Ok(Some(MsgHeader {
        channel: buf[0],
        eof: buf[1] == 0x01,
        len_after_type: 2 + vlen,
        payload_len: length as usize,
    }))
}

/// Decodes one packet from the front of `buf` without copying: `Ok(Some((packet, bytes
/// used)))`, or `Ok(None)` if `buf` holds only part of a packet. Errors are returned as
/// soon as the header proves one, before the payload has arrived.
#[inline]
pub fn decode_packet(
    buf: &[u8],
    max_total: usize,
) -> Result<Option<(PacketRef<'_>, usize)>, Error> {
    let Some(&ty) = buf.first() else {
        return Ok(None);
    };
    match ty {
        PACKET_TYPE_PING => Ok(Some((PacketRef::Ping, 1))),
        PACKET_TYPE_PONG => Ok(Some((PacketRef::Pong, 1))),
        PACKET_TYPE_MSG => {
            let Some(h) = parse_msg_header(&buf[1..], max_total)? else {
                return Ok(None);
            };
            let start = 1 + h.len_after_type;
            let end = start + h.payload_len;
            if buf.len() < end {
                return Ok(None);
            }
            let p = PacketRef::Msg {
                channel: h.channel,
                eof: h.eof,
                payload: &buf[start..end],
            };
            Ok(Some((p, end)))
        }
        byte => Err(Error::UnknownPacketType { byte }),
    }
}

/// Appends a msg packet header (type, channel, eof, varint length) for a payload of
/// `payload_len` bytes; the caller appends the payload.
#[inline]
pub fn encode_msg_header(out: &mut Vec<u8>, channel: ChannelId, eof: bool, payload_len: usize) {
    out.extend_from_slice(&[PACKET_TYPE_MSG, channel, eof as u8]);
    put_varint(out, payload_len as i64);
}

/// The wire size of a msg packet with a payload of `payload_len` bytes.
pub fn msg_packet_len(payload_len: usize) -> usize {
    3 + varint_len(payload_len) + payload_len
}

impl Packet {
    /// Appends the packet's wire bytes to `out`. Allocates nothing unless `out` grows.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Packet::Ping => out.push(PACKET_TYPE_PING),
            Packet::Pong => out.push(PACKET_TYPE_PONG),
            Packet::Msg {
                channel,
                eof,
                payload,
            } => {
                encode_msg_header(out, *channel, *eof, payload.len());
                out.extend_from_slice(payload);
            }
        }
    }

    /// Reads one packet from `r`. `Ok(None)` means the stream ended cleanly before the
    /// first byte of a packet; an end inside a packet is an `Io(UnexpectedEof)` error.
    /// Every limit is checked before the payload is allocated: the allocation is at most
    /// `max_total` bytes.
    pub fn decode<R: Read + ?Sized>(r: &mut R, max_total: usize) -> Result<Option<Packet>, Error> {
        let mut ty = [0u8; 1];
        loop {
            match r.read(&mut ty) {
                Ok(0) => return Ok(None),
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
        match ty[0] {
            PACKET_TYPE_PING => Ok(Some(Packet::Ping)),
            PACKET_TYPE_PONG => Ok(Some(Packet::Pong)),
            PACKET_TYPE_MSG => {
                // channel, eof, varint size byte; then the varint's magnitude bytes.
                let mut hdr = [0u8; 11];
                r.read_exact(&mut hdr[..3])?;
                let (_, n) = parse_size_byte(hdr[2])?;
                r.read_exact(&mut hdr[3..3 + n])?;
                let h = parse_msg_header(&hdr[..3 + n], max_total)?
                    .ok_or_else(|| Error::Malformed("incomplete msg header".into()))?;
                let mut payload = vec![0u8; h.payload_len];
                r.read_exact(&mut payload)?;
                Ok(Some(Packet::Msg {
                    channel: h.channel,
                    eof: h.eof,
                    payload: payload.into(),
                }))
            }
            byte => Err(Error::UnknownPacketType { byte }),
        }
    }
}

impl PacketRef<'_> {
    /// An owned copy of this packet.
    pub fn to_packet(&self) -> Packet {
        match *self {
            PacketRef::Ping => Packet::Ping,
            PacketRef::Pong => Packet::Pong,
            PacketRef::Msg {
                channel,
                eof,
                payload,
            } => Packet::Msg {
                channel,
                eof,
                payload: Bytes::copy_from_slice(payload),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_size_limit_is_gos() {
        let max = max_packet_total_size(1024);
        assert_eq!(max, 1034);
        // 2 + 3 + 1029 = 1034: accepted, header-wise.
        let ok = [0x01, 0x01, 0x02, 0x04, 0x05];
        assert_eq!(
            parse_msg_header(&ok, max).unwrap().unwrap().payload_len,
            1029
        );
        let too_big = [0x01, 0x01, 0x02, 0x04, 0x06];
        assert!(matches!(
            parse_msg_header(&too_big, max),
            Err(Error::PacketTooLarge {
                size: 1035,
                limit: 1034
            })
        ));
    }

    #[test]
    fn slice_and_read_decoders_agree() {
        let mut wire = Vec::new();
        let pkts = [
            Packet::Ping,
            Packet::Msg {
                channel: 7,
                eof: false,
                payload: Bytes::from_static(b"ab"),
            },
            Packet::Pong,
            Packet::Msg {
                channel: 7,
                eof: true,
                payload: Bytes::new(),
            },
        ];
        for p in &pkts {
            p.encode(&mut wire);
        }
        let mut rest = &wire[..];
        let mut reader = &wire[..];
        for p in &pkts {
            let (got, used) = decode_packet(rest, 1034).unwrap().unwrap();
            assert_eq!(&got.to_packet(), p);
            rest = &rest[used..];
            assert_eq!(Packet::decode(&mut reader, 1034).unwrap().as_ref(), Some(p));
        }
        assert_eq!(decode_packet(rest, 1034).unwrap(), None);
        assert_eq!(Packet::decode(&mut reader, 1034).unwrap(), None);
        // A prefix of a packet is "need more", never an error.
        for cut in 1..wire.len() {
            let _ = decode_packet(&wire[..cut], 1034).unwrap();
        }
    }

    #[test]
    fn eof_is_only_0x01() {
        for (byte, eof) in [(0u8, false), (1, true), (2, false), (0xFF, false)] {
            let wire = [0x03, 0x01, byte, 0x00];
            match decode_packet(&wire, 1034).unwrap().unwrap().0 {
                PacketRef::Msg { eof: got, .. } => assert_eq!(got, eof, "eof byte {byte}"),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}
