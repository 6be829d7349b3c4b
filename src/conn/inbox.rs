//! The [`Inbox`]: the receive side as a pure step, bytes in → events out. It owns the
//! read buffer and each channel's reassembly; it decodes packets with the connection's
//! codec, checks every limit before anything is held, and yields pings, pongs and
//! complete messages in order. No threads and no shared state: the recv thread
//! (`recv.rs`) reads into it and acts on its events; tests and the fuzzer feed it bytes.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::Bytes;

use super::channel::{ChannelCounters, Reassembly};
use super::codec::{Codec, Decoded};
use super::config::{ChannelDescriptor, MConnConfig};
use super::readbuf::{ReadBuf, MAX_READ_BLOCK, MIN_READ_BLOCK};
use crate::error::{ChannelId, Error};

/// The most bytes any codec's packet may take for a payload limit: go-wire's own limit
/// (`max_payload + 10`, Go's `maxMsgPacketTotalSize`) plus room for another family's
/// framing. The inbox enforces it whatever the codec says.
#[inline]
pub(crate) fn max_packet_size(max_payload: usize) -> usize {
    super::wire::max_packet_total_size(max_payload).saturating_add(64)
}

/// What the bytes received so far amount to, one at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer pinged: a pong is owed.
    Ping,
    /// The peer answered our ping.
    Pong,
    /// A complete message on a channel.
    Message(ChannelId, Bytes),
}

/// Everything one [`Inbox::step`] produced.
#[cfg(any(test, fuzzing))]
#[derive(Debug, Default)]
pub struct Step {
    /// Complete messages, in order.
    pub messages: Vec<(ChannelId, Bytes)>,
    /// Whether the peer pinged (pings are coalesced into one pong).
    pub pong_wanted: bool,
    /// The protocol error that ends the connection, if the bytes prove one.
    pub error: Option<Error>,
}

/// The receive state of one connection. See the [module docs](self).
pub struct Inbox {
    buf: ReadBuf,
    channels: Vec<Reassembly>,
    index: [Option<u8>; 256],
    codec: Codec,
    max_payload: usize,
}

impl Inbox {
    /// An inbox for a validated channel table and config (counters of its own).
    #[cfg(any(test, fuzzing))]
    pub fn new(channels: &[ChannelDescriptor], config: &MConnConfig) -> Self {
        let counters = channels.iter().map(|_| Arc::default()).collect();
        Self::with_counters(channels, config, counters)
    }

    /// An inbox that counts into `counters` (one per channel, shared with `status()`).
    pub(crate) fn with_counters(
        channels: &[ChannelDescriptor],
        config: &MConnConfig,
        counters: Vec<Arc<ChannelCounters>>,
    ) -> Self {
        let mut index = [None; 256];
        let mut chans = Vec::with_capacity(channels.len());
        for (i, (d, c)) in channels.iter().zip(counters).enumerate() {
            index[d.id as usize] = Some(i as u8);
            chans.push(Reassembly::new(
                d.id,
                d.recv_buffer_capacity,
                d.recv_message_capacity,
                c,
            ));
        }
        Inbox {
            buf: ReadBuf::new(MIN_READ_BLOCK, MAX_READ_BLOCK),
            channels: chans,
            index,
            codec: config.codec.clone(),
            max_payload: config.max_packet_msg_payload_size,
        }
    }

    /// Reads once from `r` into the buffer, at most `max` bytes (at least one). `Ok(0)`
    /// is the end of the stream: see [`closed_error`](Self::closed_error).
    pub fn read_from<R: Read + ?Sized>(&mut self, r: &mut R, max: usize) -> io::Result<usize> {
        self.buf.read_from(r, max)
    }

    /// The next event from the bytes read so far; `Ok(None)` when more bytes are needed.
    /// An error is final: the bytes prove the peer broke the protocol.
    #[inline]
    pub fn next_event(&mut self) -> Result<Option<Event>, Error> {
        loop {
            let held = self.buf.data().len();
            let Some((packet, used)) = self.codec.decode_fast(self.buf.data(), self.max_payload)?
            else {
                // A codec must bound a packet before its bytes arrive; one that keeps
                // asking for more must not grow the buffer for ever.
                let limit = max_packet_size(self.max_payload);
                if held > limit {
                    return Err(Error::PacketTooLarge {
                        size: held as u64,
                        limit,
                    });
                }
                return Ok(None);
            };
            // A codec that breaks its contract must not hang (0 bytes used) or panic.
            if used == 0 || used > held {
                return Err(Error::Malformed(format!(
                    "codec {} reported a {used}-byte packet in {held} bytes",
                    self.codec.name()
                )));
            }
            let (channel, eof, payload) = match packet {
                Decoded::Ping => {
                    self.buf.consume(used);
                    return Ok(Some(Event::Ping));
                }
                Decoded::Pong => {
                    self.buf.consume(used);
                    return Ok(Some(Event::Pong));
                }
                Decoded::Msg {
                    channel,
                    eof,
                    payload,
                } => (channel, eof, payload),
            };
            if payload.start > payload.end || payload.end > used {
                return Err(Error::Malformed(format!(
                    "codec {} reported payload {payload:?} in a {used}-byte packet",
                    self.codec.name()
                )));
            }
            if used > max_packet_size(self.max_payload) {
                return Err(Error::PacketTooLarge {
                    size: used as u64,
                    limit: max_packet_size(self.max_payload),
                });
            }
            // Not `ok_or(Error::..)`: that built (and dropped) the error for every packet.
            let Some(idx) = self.index[channel as usize] else {
                return Err(Error::UnknownChannel { channel });
            };
            let ch = &mut self.channels[idx as usize];
            ch.check(payload.len())?;
            if eof && ch.is_empty() {
                // The whole message is this packet: hand out the bytes as read.
                self.buf.consume(payload.start);
                let msg = self.buf.take(payload.len());
                self.buf.consume(used - payload.end);
                ch.count(msg.len());
                return Ok(Some(Event::Message(channel, msg)));
            }
            ch.push(&self.buf.data()[payload.clone()]);
            self.buf.consume(used);
            if eof {
                let msg = ch.take();
                ch.count(msg.len());
                return Ok(Some(Event::Message(channel, msg)));
            }
        }
    }

    /// The error for a stream that ended now: [`Error::PeerClosed`] between packets, an
    /// unexpected end of file inside one.
    pub fn closed_error(&self) -> Error {
        if self.buf.data().is_empty() {
            Error::PeerClosed
        } else {
            io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed inside a packet").into()
        }
    }

    /// Feeds `bytes` in and collects every event they complete, up to the first error.
    /// The pure form of the recv thread's work, for tests and fuzzing.
    #[cfg(any(test, fuzzing))]
    pub fn step(&mut self, mut bytes: &[u8]) -> Step {
        let mut step = Step::default();
        loop {
            loop {
                match self.next_event() {
                    Ok(Some(Event::Message(ch, m))) => step.messages.push((ch, m)),
                    Ok(Some(Event::Ping)) => step.pong_wanted = true,
                    Ok(Some(Event::Pong)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        step.error = Some(e);
                        return step;
                    }
                }
            }
            if bytes.is_empty() {
                return step;
            }
            // Reading from a slice cannot fail.
            let _ = self.read_from(&mut bytes, usize::MAX);
        }
    }

    /// Bytes held by the read buffer and the reassemblies (for memory tests).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.buf.capacity() + self.channels.iter().map(|c| c.held()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests;
