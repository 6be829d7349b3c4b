//! A peer that speaks mconn's wire protocol by hand, with no MConnection and no threads
//! of its own: the plain-TCP NodeInfo handshake, msg packets out, and a packet reader that
//! reassembles messages into one reused buffer. The scale and broadcast benches use it
//! as the far side of a Switch, so that what they measure (threads, memory, allocations)
//! is the Switch's alone.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use mconn::wire::{self, PacketRef};
use mconn::{ChannelId, NodeInfo};

/// The network and version every bench node claims.
const NETWORK: &str = "mconn-bench";
const VERSION: &str = "0.12.1";

/// The NodeInfo of bench node `index`: its key carries the index, so a reactor can tell
/// which peer a message came from.
pub fn node_info(index: u32) -> NodeInfo {
    let mut pub_key = [0u8; 32];
    pub_key[0] = 0xbe;
    pub_key[1..5].copy_from_slice(&index.to_le_bytes());
    NodeInfo {
        pub_key,
        moniker: format!("peer-{index}"),
        network: NETWORK.into(),
        version: VERSION.into(),
        ..NodeInfo::default()
    }
}

/// The index `node_info` put in a key.
pub fn index_of(info: &NodeInfo) -> Option<u32> {
    (info.pub_key[0] == 0xbe).then(|| u32::from_le_bytes(info.pub_key[1..5].try_into().unwrap()))
}

/// The NodeInfo a bench Switch is created with.
pub fn switch_info() -> NodeInfo {
    NodeInfo {
        moniker: "bench-switch".into(),
        network: NETWORK.into(),
        version: VERSION.into(),
        ..NodeInfo::default()
    }
}

/// The plain-TCP handshake (`auth_enc` off): write our NodeInfo, read the switch's.
pub fn handshake(s: &mut TcpStream, index: u32) -> io::Result<NodeInfo> {
    s.write_all(&node_info(index).encode())?;
    NodeInfo::decode(s).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Appends `msg` as msg packets of at most `max_payload` bytes each, as mconn chunks it.
pub fn encode_msg(out: &mut Vec<u8>, ch: ChannelId, msg: &[u8], max_payload: usize) {
    let mut chunks = msg.chunks(max_payload).peekable();
    if chunks.peek().is_none() {
        wire::encode_msg_header(out, ch, true, 0);
    }
    while let Some(c) = chunks.next() {
        wire::encode_msg_header(out, ch, chunks.peek().is_none(), c.len());
        out.extend_from_slice(c);
    }
}

/// Reads packets and reassembles messages; answers pings. After the first messages it
/// allocates nothing: the read buffer is fixed and the message buffer is reused.
pub struct PacketReader {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    msg: Vec<u8>,
    max_total: usize,
}

impl PacketReader {
    pub fn new(stream: TcpStream, max_payload: usize) -> PacketReader {
        let max_total = wire::max_packet_total_size(max_payload);
        PacketReader {
            stream,
            buf: vec![0; (64 * 1024).max(2 * max_total)],
            start: 0,
            end: 0,
            msg: Vec::new(),
            max_total,
        }
    }

    /// The next complete message and its channel, or `None` at the end of the stream.
    pub fn next_msg(&mut self) -> io::Result<Option<(ChannelId, &[u8])>> {
        self.msg.clear();
        loop {
            let data = &self.buf[self.start..self.end];
            let decoded = wire::decode_packet(data, self.max_total)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            match decoded {
                Some((PacketRef::Ping, used)) => {
                    self.start += used;
                    // go-wire's pong packet is the one byte 0x02.
                    self.stream.write_all(&[0x02])?;
                }
                Some((PacketRef::Pong, used)) => self.start += used,
                Some((
                    PacketRef::Msg {
                        channel,
                        eof,
                        payload,
                    },
                    used,
                )) => {
                    self.msg.extend_from_slice(payload);
                    self.start += used;
                    if eof {
                        return Ok(Some((channel, &self.msg)));
                    }
                }
                None => {
                    // Need more bytes: move the partial packet to the front, then read.
                    self.buf.copy_within(self.start..self.end, 0);
                    self.end -= self.start;
                    self.start = 0;
                    let n = self.stream.read(&mut self.buf[self.end..])?;
                    if n == 0 {
                        return Ok(None);
                    }
                    self.end += n;
                }
            }
        }
    }
}
