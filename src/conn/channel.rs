//! One channel's state: chunking messages into packets on the send side, reassembling
//! them on the receive side, and the counters `status()` reports. Pure: no threads, no
//! sockets (the send queue is only ever polled with `try_recv`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use crossbeam_channel::Receiver;

use super::batch::Batch;
use super::codec::Codec;
use super::schedule::Schedulable;
use super::wire::encode_msg_header;
use crate::error::{ChannelId, Error};

/// The smallest message whose chunks go into a batch by reference, when they may (see
/// `batch.rs`): below it, copying a chunk costs less than the reference count and the
/// extra slice.
pub(crate) const BY_REF_MIN: usize = 16 * 1024;

/// Counters of one channel, shared between the I/O threads and `status()`.
#[derive(Debug, Default)]
pub(crate) struct ChannelCounters {
    pub send: SendCounters,
    pub recv: RecvCounters,
}

/// What the send side counts. Written under the outbox lock only (by the send thread or
/// a direct send), read by `status()`. (Not padded to a cache line apart from the recv
/// half: that cost 88 bytes a channel, and only a channel busy both ways shares a line.)
#[derive(Debug, Default)]
pub(crate) struct SendCounters {
    pub recently_sent: AtomicU64,
    pub msgs_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
}

/// What the receive side counts. Written by the recv thread only, read by `status()`.
#[derive(Debug, Default)]
pub(crate) struct RecvCounters {
    pub msgs_recv: AtomicU64,
    pub bytes_recv: AtomicU64,
}

/// Adds `n` to a counter that one thread at a time writes (others only read it): a load
/// and a store, where `fetch_add` would be a locked read-modify-write on every message.
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// The send side of a channel: its queue, the message being chunked, and its share of
/// the scheduler.
pub(crate) struct SendChannel {
    pub id: ChannelId,
    priority: u32,
    queue: Receiver<Bytes>,
    current: Option<Bytes>,
    offset: usize,
    recently_sent: u64,
    counters: Arc<ChannelCounters>,
}

impl Schedulable for SendChannel {
    #[inline]
    fn pending(&self) -> bool {
        self.current.is_some() || !self.queue.is_empty()
    }
    fn recently_sent(&self) -> u64 {
        self.recently_sent
    }
    fn priority(&self) -> u32 {
        self.priority
    }
}

impl SendChannel {
    pub fn new(
        id: ChannelId,
        priority: u32,
        queue: Receiver<Bytes>,
        counters: Arc<ChannelCounters>,
    ) -> Self {
        SendChannel {
            id,
            priority,
            queue,
            current: None,
            offset: 0,
            recently_sent: 0,
            counters,
        }
    }

    /// Whether nothing is queued or being sent.
    #[cfg(test)]
    pub fn is_idle(&self) -> bool {
        !self.pending()
    }

    /// Makes `msg` the message being sent. The caller saw the channel idle under the send
    /// lock, so nothing is being chunked; another thread may have queued a message since
    /// (its `send` is concurrent with this one, so either order is right), and it follows
    /// this one.
    pub fn start(&mut self, msg: Bytes) {
        debug_assert!(self.current.is_none());
        self.current = Some(msg);
        self.offset = 0;
    }

    /// Takes the next queued message in hand if none is (the outbox calls it on a channel
    /// that just finished a message while the batch has room, so that the scheduler's
    /// next look finds it in hand instead of reading the queue's tail, the cache line the
    /// senders write). Returns whether a message is in hand.
    #[inline]
    pub fn refill(&mut self) -> bool {
        if self.current.is_none() {
            self.current = self.queue.try_recv().ok();
            self.offset = 0;
        }
        self.current.is_some()
    }

    /// Appends this channel's next packet to `out`: the next chunk of the current message,
    /// or the first chunk of the next queued one. With `by_ref` (a go-wire codec and a
    /// writer that takes several slices at once), a chunk of a message of at least
    /// [`BY_REF_MIN`] bytes is held by reference rather than copied. Returns the
    /// packet's wire size, or `None` if the channel has nothing to send.
    #[inline]
    pub fn write_packet(
        &mut self,
        out: &mut Batch,
        codec: &Codec,
        max_payload: usize,
        by_ref: bool,
    ) -> Option<usize> {
        if self.current.is_none() {
            self.current = Some(self.queue.try_recv().ok()?);
            self.offset = 0;
        }
        let msg = self.current.as_ref()?;
        let end = msg.len().min(self.offset + max_payload);
        let eof = end == msg.len();
        let before = out.len();
        if by_ref && msg.len() >= BY_REF_MIN {
            // The go-wire packet is its header, then the payload.
            encode_msg_header(out.buf(), self.id, eof, end - self.offset);
            out.push_ref(msg, self.offset..end);
        } else {
            codec.encode_msg_fast(out.buf(), self.id, eof, &msg[self.offset..end]);
        }
        let n = out.len() - before;
        self.offset = end;
        self.recently_sent = self.recently_sent.saturating_add(n as u64);
        let counters = &self.counters.send;
        counters.recently_sent.store(self.recently_sent, Relaxed);
        if eof {
            bump(&counters.msgs_sent, 1);
            bump(&counters.bytes_sent, msg.len() as u64);
            self.current = None;
            self.offset = 0;
        }
        Some(n)
    }

    /// Whether a message is in hand (being chunked, or taken from the queue).
    #[inline]
    pub fn in_hand(&self) -> bool {
        self.current.is_some()
    }

    /// Counts `msgs` messages of `payload` bytes that callers staged, `wire` bytes on the
    /// wire, as if this channel had sent them.
    pub fn count_staged(&mut self, msgs: u64, payload: u64, wire: usize) {
        self.recently_sent = self.recently_sent.saturating_add(wire as u64);
        let counters = &self.counters.send;
        counters.recently_sent.store(self.recently_sent, Relaxed);
        bump(&counters.msgs_sent, msgs);
        bump(&counters.bytes_sent, payload);
    }

    /// Applies `steps` decays of ×0.8 to `recently_sent`.
    pub fn decay(&mut self, steps: u32) {
        self.recently_sent = super::schedule::decayed(self.recently_sent, steps);
        self.counters
            .send
            .recently_sent
            .store(self.recently_sent, Relaxed);
    }
}

/// The receive side of a channel: reassembles packets into messages, never holding more
/// than `recv_message_capacity` bytes, and shrinking back after a large message.
pub(crate) struct Reassembly {
    pub id: ChannelId,
    max_message: usize,
    buffer_capacity: usize,
    buf: BytesMut,
    pub counters: Arc<ChannelCounters>,
}

impl Reassembly {
    pub fn new(
        id: ChannelId,
        buffer_capacity: usize,
        max_message: usize,
        counters: Arc<ChannelCounters>,
    ) -> Self {
        Reassembly {
            id,
            max_message,
            buffer_capacity,
            buf: BytesMut::new(),
            counters,
        }
    }

    /// Whether no message is partly received.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Checks, before anything is appended, that `n` more bytes fit in the message.
    #[inline]
    pub fn check(&self, n: usize) -> Result<(), Error> {
        let size = self.buf.len().saturating_add(n);
        if size > self.max_message {
            return Err(Error::MessageTooLarge {
                channel: self.id,
                size,
                limit: self.max_message,
            });
        }
        Ok(())
    }

    /// Appends a packet's payload (already checked with [`check`](Self::check)).
    pub fn push(&mut self, payload: &[u8]) {
        if self.buf.capacity() - self.buf.len() < payload.len() {
            let want = (self.buf.len() + payload.len()).max(self.buffer_capacity);
            self.buf.reserve(want - self.buf.len());
        }
        self.buf.extend_from_slice(payload);
    }

    /// Takes the completed message; the buffer shrinks back to `recv_buffer_capacity`.
    pub fn take(&mut self) -> Bytes {
        let msg = self.buf.split().freeze();
        if self.buf.capacity() > self.buffer_capacity {
            self.buf = BytesMut::new();
        }
        msg
    }

    /// Counts a delivered message.
    #[inline]
    pub fn count(&self, len: usize) {
        bump(&self.counters.recv.msgs_recv, 1);
        bump(&self.counters.recv.bytes_recv, len as u64);
    }

    /// Bytes held for the message in progress (for tests of the memory bound).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::codec::Codec;
    use crossbeam_channel::bounded;

    fn chan(cap: usize) -> (crossbeam_channel::Sender<Bytes>, SendChannel) {
        let (tx, rx) = bounded(cap);
        (tx, SendChannel::new(1, 1, rx, Arc::default()))
    }

    /// The stream `b` holds.
    fn stream(b: &mut Batch) -> Vec<u8> {
        let mut v = Vec::new();
        while b.unwritten() > 0 {
            b.write_once(&mut v, usize::MAX).unwrap();
        }
        v
    }

    fn drain_as(ch: &mut SendChannel, by_ref: bool) -> Vec<u8> {
        let mut out = Batch::default();
        while ch
            .write_packet(&mut out, &Codec::default(), 1024, by_ref)
            .is_some()
        {}
        stream(&mut out)
    }

    fn drain(ch: &mut SendChannel) -> Vec<u8> {
        drain_as(ch, false)
    }

    #[test]
    fn payloads_by_reference_make_the_same_stream() {
        let big: Vec<u8> = (0..BY_REF_MIN * 3 + 5).map(|i| i as u8).collect();
        let mut streams = Vec::new();
        for by_ref in [false, true] {
            let (tx, mut ch) = chan(4);
            for m in [&big[..], b"small", &big[..BY_REF_MIN]] {
                tx.send(Bytes::copy_from_slice(m)).unwrap();
            }
            streams.push(drain_as(&mut ch, by_ref));
        }
        assert_eq!(streams[0], streams[1]);
    }

    #[test]
    fn chunks_like_go() {
        let (tx, mut ch) = chan(4);
        tx.send(Bytes::from(vec![7u8; 2049])).unwrap();
        let out = drain(&mut ch);
        // 1024 + 1024 + 1 bytes: three packets, eof only on the last.
        assert_eq!(out.len(), 2 * (3 + 3 + 1024) + (3 + 2 + 1));
        assert_eq!(&out[..6], &[0x03, 0x01, 0x00, 0x02, 0x04, 0x00]);
        assert_eq!(&out[out.len() - 6..], &[0x03, 0x01, 0x01, 0x01, 0x01, 0x07]);
        assert!(ch.is_idle());
        assert_eq!(ch.recently_sent, out.len() as u64);
        assert_eq!(ch.counters.send.msgs_sent.load(Relaxed), 1);
        assert_eq!(ch.counters.send.bytes_sent.load(Relaxed), 2049);
    }

    #[test]
    fn empty_message_is_one_eof_packet_and_nothing_drifts() {
        let (tx, mut ch) = chan(4);
        tx.send(Bytes::new()).unwrap();
        tx.send(Bytes::from_static(b"x")).unwrap();
        assert!(ch.pending());
        let mut out = Batch::default();
        let codec = Codec::default();
        assert_eq!(ch.write_packet(&mut out, &codec, 1024, true), Some(4));
        assert_eq!(stream(&mut out), [0x03, 0x01, 0x01, 0x00]);
        assert!(ch.pending(), "the next message is still there");
        assert_eq!(ch.write_packet(&mut out, &codec, 1024, true), Some(6));
        assert!(ch.is_idle());
        assert_eq!(ch.counters.send.msgs_sent.load(Relaxed), 2);
        assert_eq!(ch.write_packet(&mut out, &codec, 1024, true), None);
    }

    #[test]
    fn refill_takes_the_next_message_in_hand_once() {
        let (tx, mut ch) = chan(4);
        assert!(!ch.refill(), "nothing queued");
        tx.send(Bytes::from_static(b"a")).unwrap();
        tx.send(Bytes::from_static(b"b")).unwrap();
        assert!(ch.refill());
        assert_eq!(tx.len(), 1);
        assert!(ch.refill(), "a message in hand stays");
        assert_eq!(tx.len(), 1, "and the queue keeps the next");
        assert_eq!(drain(&mut ch), [3, 1, 1, 1, 1, b'a', 3, 1, 1, 1, 1, b'b']);
    }

    #[test]
    fn start_sends_directly() {
        let (_tx, mut ch) = chan(1);
        ch.start(Bytes::from_static(b"hello"));
        assert_eq!(
            drain(&mut ch),
            [0x03, 0x01, 0x01, 0x01, 0x05, b'h', b'e', b'l', b'l', b'o']
        );
    }

    #[test]
    fn reassembly_limit_is_exact_and_buffer_shrinks() {
        let mut r = Reassembly::new(2, 16, 2048, Arc::default());
        r.check(1024).unwrap();
        r.push(&[1u8; 1024]);
        r.check(1024).unwrap();
        r.push(&[2u8; 1024]);
        match r.check(1) {
            Err(Error::MessageTooLarge {
                channel: 2,
                size: 2049,
                limit: 2048,
            }) => {}
            other => panic!("{other:?}"),
        }
        let msg = r.take();
        assert_eq!(msg.len(), 2048);
        assert!(r.is_empty());
        assert!(r.held() <= 16, "buffer shrank back, holds {}", r.held());
        r.push(b"ab");
        assert_eq!(&r.take()[..], b"ab");
    }
}
