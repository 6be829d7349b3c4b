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
    pub fn next_event(&mut self) -> Result<Option<Event>, Error> {
        loop {
            let held = self.buf.data().len();
            let Some((packet, used)) = self.codec.decode(self.buf.data(), self.max_payload)? else {
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
            let idx = self.index[channel as usize].ok_or(Error::UnknownChannel { channel })?;
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
mod tests {
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
        assert!(
            matches!(ib.closed_error(), Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof)
        );
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
}
