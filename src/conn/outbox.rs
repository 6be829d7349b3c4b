//! The [`Outbox`]: what a connection has to send and the writer it goes to. Pure state
//! (the only I/O is the writer it is given, a `Vec<u8>` in the tests).
//!
//! It holds the channels' send side, the batch of encoded packets being written, and the
//! writer, behind one lock in the connection. [`fill`](Outbox::fill) gathers packets from
//! the channels in scheduler order into the batch, up to `send_buffer_size` bytes;
//! [`write_some`](Outbox::write_some) hands the batch to the writer. Both the send thread
//! and a caller writing directly (see `send.rs`) drive it.

use std::io::{self, Write};
use std::time::Instant;

use bytes::Bytes;

use super::channel::SendChannel;
use super::codec::Codec;
use super::schedule::{self, Decay, Schedulable};
use crate::transport::is_stall;

/// The most batch buffer an idle connection keeps.
const IDLE_BUFFER: usize = 16 * 1024;

/// How a write round ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// Everything in the batch is written.
    All,
    /// `limit` bytes were written, or `until` came, and more are left.
    Partial,
    /// The writer timed out with bytes left; they stay in the batch.
    Stalled,
}

/// The send state: channels, the batch being written, and the writer.
pub(crate) struct Outbox {
    channels: Vec<SendChannel>,
    buf: Vec<u8>,
    written: usize,
    writer: Box<dyn Write + Send>,
    codec: Codec,
    decay: Decay,
    max_payload: usize,
    batch: usize,
    /// The writer accepted everything but its `flush` stalled: it still holds bytes.
    flush_pending: bool,
    /// The writer was released (the send thread exited); nothing may be written.
    closed: bool,
    /// When the last direct write ended (the direct path's rule, in `send.rs`).
    pub last_direct: Option<Instant>,
}

/// What an [`Outbox`] is built from.
pub(crate) struct OutboxParts {
    pub channels: Vec<SendChannel>,
    pub writer: Box<dyn Write + Send>,
    pub codec: Codec,
    pub max_payload: usize,
    pub batch: usize,
}

impl Outbox {
    pub fn new(p: OutboxParts, now: Instant) -> Self {
        Outbox {
            channels: p.channels,
            buf: Vec::new(),
            written: 0,
            writer: p.writer,
            codec: p.codec,
            decay: Decay::new(now),
            max_payload: p.max_payload,
            batch: p.batch,
            // The transport may hold bytes from before (an encrypted handshake's stalled
            // write): the first round flushes them.
            flush_pending: true,
            closed: false,
            last_direct: None,
        }
    }

    /// Whether any channel has something to send.
    pub fn has_pending(&self) -> bool {
        self.channels.iter().any(|c| c.pending())
    }

    /// Nothing queued, nothing being chunked, nothing unwritten: a direct send cannot
    /// overtake anything.
    pub fn is_idle(&self) -> bool {
        !self.closed && !self.has_output() && !self.has_pending()
    }

    /// Starts `msg` on the idle channel `idx` (direct path).
    pub fn start(&mut self, idx: usize, msg: Bytes) {
        self.channels[idx].start(msg);
    }

    /// Appends a ping to the batch.
    pub fn push_ping(&mut self) {
        self.codec.encode_ping(&mut self.buf);
    }

    /// Appends a pong to the batch.
    pub fn push_pong(&mut self) {
        self.codec.encode_pong(&mut self.buf);
    }

    /// Batch bytes not yet handed to the writer.
    pub fn unwritten(&self) -> usize {
        self.buf.len() - self.written
    }

    /// Whether anything is left to write or to flush.
    pub fn has_output(&self) -> bool {
        self.written < self.buf.len() || self.flush_pending
    }

    /// Fills the batch with packets in scheduler order until it holds `send_buffer_size`
    /// bytes or no channel has more. Returns whether data is still pending.
    pub fn fill(&mut self, now: Instant) -> bool {
        let steps = self.decay.due(now);
        if steps > 0 {
            self.channels.iter_mut().for_each(|c| c.decay(steps));
        }
        while self.buf.len() < self.batch {
            let Some(i) = schedule::pick(&self.channels) else {
                return false;
            };
            self.channels[i].write_packet(&mut self.buf, &*self.codec, self.max_payload);
        }
        self.has_pending()
    }

    /// Writes at most `limit` bytes of the batch, and, with `until`, stops writing at that
    /// instant (checked after each partial write). A stall (write timeout) ends the round
    /// with bytes left; any other error is fatal. `on_written` is told each write.
    pub fn write_some(
        &mut self,
        limit: usize,
        until: Option<Instant>,
        mut on_written: impl FnMut(usize),
    ) -> io::Result<Written> {
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "connection closed",
            ));
        }
        let stop_at = self.buf.len().min(self.written.saturating_add(limit));
        while self.written < stop_at {
            match self.writer.write(&self.buf[self.written..stop_at]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n;
                    on_written(n);
                    if self.written < stop_at && until.is_some_and(|t| Instant::now() >= t) {
                        return Ok(Written::Partial);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_stall(&e) => return Ok(Written::Stalled),
                Err(e) => return Err(e),
            }
        }
        if self.written < self.buf.len() {
            return Ok(Written::Partial);
        }
        self.buf.clear();
        self.written = 0;
        // A transport that buffers (an encrypting one, say) may stall in flush too.
        match self.writer.flush() {
            Ok(()) => {
                self.flush_pending = false;
                Ok(Written::All)
            }
            Err(e) if is_stall(&e) => {
                self.flush_pending = true;
                Ok(Written::Stalled)
            }
            Err(e) => Err(e),
        }
    }

    /// Gives back a large batch buffer once everything is written (an idle connection
    /// should not hold a busy one's buffer).
    pub fn trim(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > IDLE_BUFFER {
            self.buf = Vec::new();
        }
    }

    /// Whether the batch buffer is larger than an idle connection should keep.
    pub fn oversized(&self) -> bool {
        self.buf.capacity() > IDLE_BUFFER
    }

    /// Releases the writer and the queues (the send thread is exiting): senders blocked
    /// on a full queue fail at once with `Closed`.
    pub fn close(&mut self) {
        self.closed = true;
        self.channels = Vec::new();
        self.writer = Box::new(io::sink());
        self.buf = Vec::new();
        self.written = 0;
        self.flush_pending = false;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use crossbeam_channel::{bounded, Sender};

    use super::*;
    use crate::conn::wire::{decode_packet, PacketRef};

    /// A writer into a shared `Vec<u8>` that takes at most `chunk` bytes per write and,
    /// while `stall` is set, times out instead.
    #[derive(Clone, Default)]
    struct Sink {
        out: Arc<Mutex<Vec<u8>>>,
        chunk: Option<usize>,
        stall: Arc<Mutex<bool>>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if *self.stall.lock().unwrap() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let n = self.chunk.map_or(buf.len(), |c| c.min(buf.len()));
            self.out.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn outbox(prios: &[u32], sink: &Sink, batch: usize) -> (Outbox, Vec<Sender<Bytes>>) {
        let mut txs = Vec::new();
        let mut chans = Vec::new();
        for (i, &p) in prios.iter().enumerate() {
            let (tx, rx) = bounded(100);
            txs.push(tx);
            chans.push(SendChannel::new(i as u8, p, rx, Arc::default()));
        }
        let parts = OutboxParts {
            channels: chans,
            writer: Box::new(sink.clone()),
            codec: Codec::default(),
            max_payload: 4,
            batch,
        };
        (Outbox::new(parts, Instant::now()), txs)
    }

    /// The (channel, eof, payload) of every packet in `wire`.
    fn packets(wire: &[u8]) -> Vec<(u8, bool, Vec<u8>)> {
        let mut rest = wire;
        let mut v = Vec::new();
        while let Some((p, used)) = decode_packet(rest, 1034).unwrap() {
            if let PacketRef::Msg {
                channel,
                eof,
                payload,
            } = p
            {
                v.push((channel, eof, payload.to_vec()));
            }
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
        v
    }

    #[test]
    fn a_fresh_outbox_flushes_once_then_is_idle() {
        let sink = Sink::default();
        let (mut ob, _tx) = outbox(&[1], &sink, 1024);
        assert!(!ob.is_idle(), "the transport may hold a handshake's bytes");
        assert_eq!(
            ob.write_some(usize::MAX, None, |_| {}).unwrap(),
            Written::All
        );
        assert!(ob.is_idle());
    }

    #[test]
    fn fill_chunks_messages_in_scheduler_order_and_writes_them_whole() {
        let sink = Sink::default();
        let (mut ob, tx) = outbox(&[1, 3], &sink, 1 << 20);
        tx[0].send(Bytes::from_static(b"aaaaaaaa")).unwrap();
        tx[1].send(Bytes::from_static(b"bbbbbbbb")).unwrap();
        assert!(!ob.fill(Instant::now()), "everything fits in one batch");
        let mut counted = 0;
        assert_eq!(
            ob.write_some(usize::MAX, None, |n| counted += n).unwrap(),
            Written::All
        );
        let out = sink.out.lock().unwrap().clone();
        assert_eq!(counted, out.len());
        let got = packets(&out);
        // Priority 3 gets three times the bytes: channel 1 finishes first although
        // channel 0 won the first pick (a tie at zero goes to the first channel).
        let last = |ch: u8| got.iter().rposition(|p| p.0 == ch).unwrap();
        assert!(last(1) < last(0), "{got:?}");
        let a: Vec<u8> = got
            .iter()
            .filter(|p| p.0 == 0)
            .flat_map(|p| p.2.clone())
            .collect();
        let b: Vec<u8> = got
            .iter()
            .filter(|p| p.0 == 1)
            .flat_map(|p| p.2.clone())
            .collect();
        assert_eq!(
            (a.as_slice(), b.as_slice()),
            (&b"aaaaaaaa"[..], &b"bbbbbbbb"[..])
        );
        assert_eq!(got.iter().filter(|p| p.1).count(), 2, "one eof per message");
        assert!(ob.is_idle());
    }

    #[test]
    fn fill_stops_at_the_batch_size_and_reports_more() {
        let sink = Sink::default();
        let (mut ob, tx) = outbox(&[1], &sink, 10);
        tx[0].send(Bytes::from(vec![7u8; 100])).unwrap();
        assert!(ob.fill(Instant::now()), "more is pending");
        // Packets of 9 bytes (3 + a 2-byte varint + 4): the batch passes 10 by less than one.
        assert_eq!(ob.unwritten(), 18);
    }

    #[test]
    fn write_some_honours_the_limit_and_a_stall_keeps_the_bytes() {
        let sink = Sink {
            chunk: Some(3),
            ..Sink::default()
        };
        let (mut ob, tx) = outbox(&[1], &sink, 1024);
        tx[0].send(Bytes::from_static(b"0123456789")).unwrap();
        ob.fill(Instant::now());
        let total = ob.unwritten();
        assert_eq!(ob.write_some(5, None, |_| {}).unwrap(), Written::Partial);
        assert_eq!(ob.unwritten(), total - 5);
        *sink.stall.lock().unwrap() = true;
        assert_eq!(
            ob.write_some(usize::MAX, None, |_| {}).unwrap(),
            Written::Stalled
        );
        assert_eq!(ob.unwritten(), total - 5, "a stall loses nothing");
        *sink.stall.lock().unwrap() = false;
        assert_eq!(
            ob.write_some(usize::MAX, None, |_| {}).unwrap(),
            Written::All
        );
        let out = sink.out.lock().unwrap().clone();
        let data: Vec<u8> = packets(&out).into_iter().flat_map(|p| p.2).collect();
        assert_eq!(data, b"0123456789");
    }

    #[test]
    fn control_packets_go_out_with_the_batch() {
        let sink = Sink::default();
        let (mut ob, _tx) = outbox(&[1], &sink, 1024);
        ob.push_ping();
        ob.push_pong();
        ob.write_some(usize::MAX, None, |_| {}).unwrap();
        assert_eq!(*sink.out.lock().unwrap(), [0x01, 0x02]);
    }

    #[test]
    fn trim_gives_back_a_large_buffer_only_when_empty() {
        let sink = Sink::default();
        let (mut ob, tx) = outbox(&[1], &sink, 1 << 20);
        tx[0].send(Bytes::from(vec![1u8; 64 * 1024])).unwrap();
        ob.fill(Instant::now());
        assert!(ob.oversized());
        ob.trim();
        assert!(ob.oversized(), "unwritten bytes are kept");
        ob.write_some(usize::MAX, None, |_| {}).unwrap();
        ob.trim();
        assert!(!ob.oversized());
    }

    #[test]
    fn a_closed_outbox_refuses_to_write_and_drops_its_queues() {
        let sink = Sink::default();
        let (mut ob, tx) = outbox(&[1], &sink, 1024);
        ob.close();
        assert!(!ob.is_idle());
        assert!(ob.write_some(usize::MAX, None, |_| {}).is_err());
        assert!(
            tx[0].send(Bytes::new()).is_err(),
            "blocked senders fail at once"
        );
    }
}
