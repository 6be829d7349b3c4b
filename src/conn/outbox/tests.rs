//! The outbox's tests: scheduling into the batch, partial writes and stalls, trimming.
use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, Sender};

use super::*;
use crate::conn::channel::BY_REF_MIN;
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
    /// As a socket's `writev`: up to `chunk` bytes, across the slices.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let all: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        self.write(&all)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn outbox(prios: &[u32], sink: &Sink, batch: usize) -> (Outbox, Vec<Sender<Bytes>>) {
    outbox_with(prios, sink, batch, 4)
}

fn outbox_with(
    prios: &[u32],
    sink: &Sink,
    batch: usize,
    max_payload: usize,
) -> (Outbox, Vec<Sender<Bytes>>) {
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
        max_payload,
        batch,
        vectored: true,
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

#[test]
fn a_finished_message_brings_the_next_in_hand_only_while_the_batch_has_room() {
    let sink = Sink::default();
    // Room for several 1-byte messages (6-byte packets): each one that ends takes the
    // next out of the queue, and all are written in one batch.
    let (mut ob, tx) = outbox(&[1], &sink, 1024);
    for m in [&b"a"[..], b"b", b"c"] {
        tx[0].send(Bytes::from_static(m)).unwrap();
    }
    assert!(!ob.fill(Instant::now()));
    assert!(tx[0].is_empty());
    // A batch that one packet fills: the queue keeps the rest, nothing is held back.
    let (mut ob, tx) = outbox(&[1], &sink, 6);
    for m in [&b"a"[..], b"b", b"c"] {
        tx[0].send(Bytes::from_static(m)).unwrap();
    }
    assert!(ob.fill(Instant::now()), "more is pending");
    assert_eq!(
        tx[0].len(),
        2,
        "a full batch takes nothing more from the queue"
    );
    ob.write_some(usize::MAX, None, |_| {}).unwrap();
    while ob.fill(Instant::now()) {
        ob.write_some(usize::MAX, None, |_| {}).unwrap();
    }
    ob.write_some(usize::MAX, None, |_| {}).unwrap();
    let out = sink.out.lock().unwrap().clone();
    let data: Vec<u8> = packets(&out).into_iter().flat_map(|p| p.2).collect();
    assert_eq!(data, b"abc", "in order, once each");
}

#[test]
fn a_large_message_by_reference_keeps_its_place_among_pings_and_staged_bytes() {
    // 40 KiB: its chunks are held by reference (the sink takes slices, go-wire codec).
    let big: Vec<u8> = (0..40 * 1024).map(|i| (i * 7) as u8).collect();
    let sink = Sink {
        chunk: Some(1000),
        ..Sink::default()
    };
    let (mut ob, tx) = outbox_with(&[1, 1], &sink, 1 << 20, 1024);
    tx[0].send(Bytes::from(big.clone())).unwrap();
    ob.fill(Instant::now());
    ob.push_ping();
    let mut stage = Stage::new(1 << 20);
    stage.push(1, 1, b"staged", &Codec::default());
    assert!(ob.absorb(&mut stage));
    // A partial round, a stall, then the rest.
    assert_eq!(ob.write_some(5000, None, |_| {}).unwrap(), Written::Partial);
    *sink.stall.lock().unwrap() = true;
    assert_eq!(
        ob.write_some(usize::MAX, None, |_| {}).unwrap(),
        Written::Stalled
    );
    *sink.stall.lock().unwrap() = false;
    assert_eq!(
        ob.write_some(usize::MAX, None, |_| {}).unwrap(),
        Written::All
    );
    let out = sink.out.lock().unwrap().clone();
    // The message's 40 packets, then the ping (0x01), then the staged packet.
    let staged_at = out.len() - (3 + 2 + 6);
    assert_eq!(out[staged_at - 1], 0x01, "the ping follows the message");
    let data: Vec<u8> = packets(&out[..staged_at - 1])
        .into_iter()
        .flat_map(|p| p.2)
        .collect();
    assert_eq!(data, big);
    assert_eq!(packets(&out[staged_at..]), [(1, true, b"staged".to_vec())]);
}

mod by_reference;
