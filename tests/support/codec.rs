//! A test protocol family, unlike Tendermint v0.12 in both halves: a packet codec with
//! its own framing, and a handshake that exchanges NodeInfos behind a 4-byte length.

use std::io::{Read, Write};
use std::net::TcpStream;

use mconn::protocol::{Decoded, Handshake, HandshakeSetup, Handshaken, PacketCodec};
use mconn::{ChannelId, Error, NodeInfo, Transport};

/// `len (u32 BE, of what follows) | kind | body`: kind `P` ping, `Q` pong, `M` a chunk
/// whose body is `payload | channel | eof`.
pub struct Framed;

impl PacketCodec for Framed {
    fn name(&self) -> &'static str {
        "test-framed"
    }
    fn encode_ping(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0, 0, 0, 1, b'P']);
    }
    fn encode_pong(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0, 0, 0, 1, b'Q']);
    }
    fn encode_msg(&self, out: &mut Vec<u8>, channel: ChannelId, eof: bool, payload: &[u8]) {
        let len = 1 + payload.len() + 2;
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.push(b'M');
        out.extend_from_slice(payload);
        out.extend_from_slice(&[channel, eof as u8]);
    }
    fn decode(&self, buf: &[u8], max_payload: usize) -> Result<Option<(Decoded, usize)>, Error> {
        let Some(head) = buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        // The claim is checked before the bytes arrive.
        if len == 0 || len > max_payload + 3 {
            return Err(Error::Malformed(format!("framed packet of {len} bytes")));
        }
        let Some(body) = buf.get(4..4 + len) else {
            return Ok(None);
        };
        let used = 4 + len;
        match (body[0], len) {
            (b'P', 1) => Ok(Some((Decoded::Ping, used))),
            (b'Q', 1) => Ok(Some((Decoded::Pong, used))),
            (b'M', 3..) => Ok(Some((
                Decoded::Msg {
                    channel: body[len - 2],
                    eof: body[len - 1] == 1,
                    payload: 5..used - 2,
                },
                used,
            ))),
            (kind, _) => Err(Error::Malformed(format!("framed packet kind {kind:#04x}"))),
        }
    }
}

/// The test family's handshake, over plain TCP: `len (u32 BE) | NodeInfo (go-wire)` both
/// ways, the write before the read (NodeInfos are small; the socket buffers hold them).
pub struct LengthPrefixed;

impl Handshake for LengthPrefixed {
    fn run(&self, mut stream: TcpStream, setup: &HandshakeSetup<'_>) -> Result<Handshaken, Error> {
        let left = setup
            .deadline
            .saturating_duration_since(std::time::Instant::now());
        let left = left.max(std::time::Duration::from_millis(1));
        stream.set_read_timeout(Some(left))?;
        stream.set_write_timeout(Some(left))?;
        let ours = setup.ours.encode();
        stream.write_all(&(ours.len() as u32).to_be_bytes())?;
        stream.write_all(&ours)?;
        let mut len = [0u8; 4];
        stream.read_exact(&mut len)?;
        let len = u32::from_be_bytes(len) as usize;
        if len > NodeInfo::MAX_SIZE {
            return Err(Error::Malformed(format!("a NodeInfo of {len} bytes")));
        }
        let mut theirs = vec![0u8; len];
        stream.read_exact(&mut theirs)?;
        let theirs = NodeInfo::decode(&mut &theirs[..])?;
        // Both ends order the two addresses alike: the dialler's first.
        let (local, remote) = (stream.local_addr()?, stream.peer_addr()?);
        let (dialler, listener) = if setup.outbound {
            (local, remote)
        } else {
            (remote, local)
        };
        let rank_key = format!("{dialler}>{listener}").into_bytes();
        stream.set_read_timeout(None)?;
        let transport = Transport::tcp(stream, setup.write_timeout)?;
        Ok(Handshaken::new(theirs, transport, None, rank_key))
    }
}
