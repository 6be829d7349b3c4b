//! CometBFT's packets (PROTOCOL.md §5): each one a uvarint-length-delimited
//! `tendermint.p2p.Packet`, a oneof of `PacketPing{}` (field 1), `PacketPong{}` (field 2)
//! and `PacketMsg{int32 channel_id = 1; bool eof = 2; bytes data = 3}` (field 3).
//!
//! Written as gogoproto writes them (zero values left out, so a message chunk on channel
//! 0 has no `channel_id`); read as gogoproto reads them (any order, the last value wins,
//! unknown fields skipped), with Go's limit: a packet body over the size of a full
//! chunk on channel 1 (1034 bytes for 1024-byte chunks) is refused before it is read.

use crate::conn::codec::{Decoded, PacketCodec};
use crate::error::{ChannelId, Error};

use super::pb::{self, Fields, Value};

/// Field numbers of `Packet`'s oneof and of `PacketMsg`.
const PACKET_PING: u64 = 1;
const PACKET_PONG: u64 = 2;
const PACKET_MSG: u64 = 3;
const MSG_CHANNEL: u64 = 1;
const MSG_EOF: u64 = 2;
const MSG_DATA: u64 = 3;

/// A length-delimited field's key: `field << 3 | 2`.
const fn bytes_key(field: u64) -> u8 {
    (field << 3 | 2) as u8
}

/// CometBFT's packet codec (v0.34 – v1.0 share it): the [`PacketCodec`] a CometBFT
/// connection uses. A switch picks it with its protocol; a standalone connection with
/// `MConnConfig::default().codec(Codec::new(Packets))`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Packets;

/// The largest packet body (without its length prefix) a reader with `max_payload`-byte
/// chunks accepts: Go's `maxPacketMsgSize`, the size of a full chunk on channel 1 (1034
/// for 1024).
pub fn max_packet_size(max_payload: usize) -> usize {
    let inner = 2 + 2 + 1 + pb::uvarint_len(max_payload as u64) + max_payload;
    1 + pb::uvarint_len(inner as u64) + inner
}

/// The size of a `PacketMsg` body.
fn msg_body_len(channel: ChannelId, eof: bool, payload: usize) -> usize {
    let ch = if channel == 0 {
        0
    } else {
        1 + pb::uvarint_len(u64::from(channel))
    };
    let data = if payload == 0 {
        0
    } else {
        1 + pb::uvarint_len(payload as u64) + payload
    };
    ch + if eof { 2 } else { 0 } + data
}

impl PacketCodec for Packets {
    fn name(&self) -> &'static str {
        "cometbft"
    }

    fn encode_ping(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[2, bytes_key(PACKET_PING), 0]);
    }

    fn encode_pong(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[2, bytes_key(PACKET_PONG), 0]);
    }

    fn encode_msg(&self, out: &mut Vec<u8>, channel: ChannelId, eof: bool, payload: &[u8]) {
        let body = msg_body_len(channel, eof, payload.len());
        let packet = 1 + pb::uvarint_len(body as u64) + body;
        out.reserve(pb::uvarint_len(packet as u64) + packet);
        pb::put_uvarint(out, packet as u64);
        out.push(bytes_key(PACKET_MSG));
        pb::put_uvarint(out, body as u64);
        if channel != 0 {
            out.push((MSG_CHANNEL << 3) as u8);
            pb::put_uvarint(out, u64::from(channel));
        }
        if eof {
            out.extend_from_slice(&[(MSG_EOF << 3) as u8, 1]);
        }
        if !payload.is_empty() {
            out.push(bytes_key(MSG_DATA));
            pb::put_uvarint(out, payload.len() as u64);
            out.extend_from_slice(payload);
        }
    }

    fn decode(&self, buf: &[u8], max_payload: usize) -> Result<Option<(Decoded, usize)>, Error> {
        let Some((len, prefix)) = pb::read_uvarint(buf)? else {
            return Ok(None);
        };
        let limit = max_packet_size(max_payload);
        if len > limit as u64 {
            return Err(Error::PacketTooLarge { size: len, limit });
        }
        let used = prefix + len as usize;
        if buf.len() < used {
            return Ok(None);
        }
        let packet = decode_packet(&buf[prefix..used])?;
        Ok(Some((shift(packet, prefix), used)))
    }
}

/// Moves a decoded packet's payload range by `by` bytes.
fn shift(packet: Decoded, by: usize) -> Decoded {
    match packet {
        Decoded::Msg {
            channel,
            eof,
            payload,
        } => Decoded::Msg {
            channel,
            eof,
            payload: payload.start + by..payload.end + by,
        },
        other => other,
    }
}

/// Decodes one `Packet` body; the payload range is within `body`.
fn decode_packet(body: &[u8]) -> Result<Decoded, Error> {
    let mut sum = None;
    for field in Fields::new(body) {
        let (number, value) = field?;
        if !(PACKET_PING..=PACKET_MSG).contains(&number) {
            continue;
        }
        let Value::Bytes(inner) = value else {
            return Err(pb::wrong_type("Packet", number));
        };
        // Each member must itself be well formed; the last one set wins.
        sum = Some(match number {
            PACKET_PING => empty_member(&body[inner], Decoded::Ping)?,
            PACKET_PONG => empty_member(&body[inner], Decoded::Pong)?,
            _ => shift(decode_msg(&body[inner.clone()])?, inner.start),
        });
    }
    sum.ok_or_else(|| Error::Malformed("packet of unknown type (no oneof member set)".into()))
}

/// `PacketPing{}` or `PacketPong{}`: no fields of their own, unknown ones skipped.
fn empty_member(member: &[u8], packet: Decoded) -> Result<Decoded, Error> {
    for field in Fields::new(member) {
        field?;
    }
    Ok(packet)
}

/// Decodes a `PacketMsg` body; the payload range is within `msg`.
fn decode_msg(msg: &[u8]) -> Result<Decoded, Error> {
    let (mut channel, mut eof, mut payload) = (0u64, false, 0..0);
    for field in Fields::new(msg) {
        match field? {
            (MSG_CHANNEL, Value::Varint(v)) => channel = v,
            (MSG_EOF, Value::Varint(v)) => eof = v != 0,
            (MSG_DATA, Value::Bytes(range)) => payload = range,
            (n @ MSG_CHANNEL..=MSG_DATA, _) => return Err(pb::wrong_type("PacketMsg", n)),
            _ => {}
        }
    }
    // An int32 is read from a varint truncated to 32 bits (gogoproto); Go refuses any
    // channel outside 0..=255 as unknown.
    let id = channel as u32 as i32;
    let channel = ChannelId::try_from(id)
        .map_err(|_| Error::Malformed(format!("channel id {id} is not a byte")))?;
    Ok(Decoded::Msg {
        channel,
        eof,
        payload,
    })
}

#[cfg(test)]
mod tests;
