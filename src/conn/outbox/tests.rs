//! The outbox's tests: scheduling into the batch, partial writes and stalls, trimming.
use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, Sender};

use super::*;
use crate::conn::channel::BY_REF_MIN;
use crate::conn::wire::{decode_packet, PacketRef};
use proptest::prelude::*;

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

// ---------------------------------------------------------------------------------------
// Hostile review of the by-reference batch (cb03726): the stream a writer sees must be
// the same, byte for byte, whether large payloads are copied or held by reference,
// whatever mix of fills, pings, pongs, staged bytes, rate-limited rounds, stalls and
// trims comes in between, and whether the writer takes several slices per call (as
// `writev`) or only the first one (std's default `write_vectored`).

/// A writer whose calls take at most the next cap of a shared script (cycled), across
/// slices (`across`) or, as std's default `write_vectored`, the first non-empty slice
/// only; stalls while `stall` is set.
#[derive(Clone)]
struct Scripted {
    out: Arc<Mutex<Vec<u8>>>,
    caps: Arc<Vec<usize>>,
    call: Arc<Mutex<usize>>,
    stall: Arc<Mutex<bool>>,
    across: bool,
}

impl Scripted {
    fn new(caps: Vec<usize>, across: bool) -> Self {
        Scripted {
            out: Arc::default(),
            caps: Arc::new(caps),
            call: Arc::default(),
            stall: Arc::default(),
            across,
        }
    }
    fn cap(&self) -> usize {
        let mut c = self.call.lock().unwrap();
        let cap = self.caps[*c % self.caps.len()];
        *c += 1;
        cap
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if *self.stall.lock().unwrap() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.cap().min(buf.len());
        self.out.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        if !self.across {
            // std's default: the first non-empty slice, through `write`.
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
            return self.write(first);
        }
        if *self.stall.lock().unwrap() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let mut left = self.cap();
        let mut out = self.out.lock().unwrap();
        let mut n = 0;
        for b in bufs {
            let k = b.len().min(left);
            out.extend_from_slice(&b[..k]);
            left -= k;
            n += k;
            if left == 0 {
                break;
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum Op {
    Send { ch: usize, size: usize, kind: u8 },
    Fill,
    Ping,
    Pong,
    Stage { ch: usize, len: usize },
    Write { limit: usize, stall: bool },
    Trim,
}

const SIZES: &[usize] = &[
    0,
    1,
    1023,
    1024,
    1025,
    BY_REF_MIN - 1,
    BY_REF_MIN,
    BY_REF_MIN + 1,
    17 * 1024 - 1,
    17 * 1024,
    17 * 1024 + 1,
    3 * BY_REF_MIN + 5,
    64 * 1024 + 3,
    200_000,
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..SIZES.len(), 0..3u8)
            .prop_map(|(ch, i, kind)| Op::Send { ch, size: SIZES[i], kind }),
        3 => Just(Op::Fill),
        1 => Just(Op::Ping),
        1 => Just(Op::Pong),
        1 => (0..3usize, 0..50usize).prop_map(|(ch, len)| Op::Stage { ch, len }),
        4 => (prop_oneof![1..20usize, 20..5000usize, Just(usize::MAX)], any::<bool>())
            .prop_map(|(limit, stall)| Op::Write { limit, stall: stall && limit % 5 == 0 }),
        1 => Just(Op::Trim),
    ]
}

/// A static buffer to make `Bytes::from_static` messages from.
fn static_pool() -> &'static [u8] {
    static POOL: std::sync::OnceLock<&'static [u8]> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let v: Vec<u8> = (0..300_000u32).map(|i| (i * 31 + i / 251) as u8).collect();
        Box::leak(v.into_boxed_slice())
    })
}

/// Message `seq` of `size` bytes: from a Vec, a static, or a slice of a larger Bytes.
fn message(seq: u32, size: usize, kind: u8) -> Bytes {
    let fill = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|i| (i as u32).wrapping_mul(2654435761).wrapping_add(seq) as u8 ^ (i >> 8) as u8)
            .collect()
    };
    match kind {
        0 => Bytes::from(fill(size)),
        1 => {
            let off = seq as usize % 1000;
            Bytes::from_static(&static_pool()[off..off + size])
        }
        _ => {
            let parent = Bytes::from(fill(size + 777));
            parent.slice(333..333 + size)
        }
    }
}

/// Runs `ops` on an outbox (by reference or not) and returns what its writer got, the
/// bytes `on_written` reported, and each round's result.
fn run_ops(
    ops: &[Op],
    vectored: bool,
    writer: Scripted,
    max_payload: usize,
    limit: usize,
    now: Instant,
) -> (Vec<u8>, usize, Vec<String>, Vec<Vec<Bytes>>) {
    let mut txs = Vec::new();
    let mut chans = Vec::new();
    for (i, p) in [1u32, 3, 7].into_iter().enumerate() {
        let (tx, rx) = bounded(1000);
        txs.push(tx);
        chans.push(SendChannel::new(i as u8, p, rx, Arc::default()));
    }
    let mut ob = Outbox::new(
        OutboxParts {
            channels: chans,
            writer: Box::new(writer.clone()),
            codec: Codec::default(),
            max_payload,
            batch: limit,
            vectored,
        },
        now,
    );
    let mut stage = Stage::new(1 << 20);
    let mut staged_ch: Option<usize> = None;
    let mut sent: Vec<Vec<Bytes>> = vec![Vec::new(); 3];
    let mut staged: Vec<Vec<Bytes>> = vec![Vec::new(); 3];
    let mut kinds: Vec<Vec<u8>> = vec![Vec::new(); 3];
    let mut counted = 0usize;
    let mut results = Vec::new();
    let mut seq = 0u32;
    for op in ops {
        match *op {
            Op::Send { ch, size, kind } => {
                let m = message(seq, size, kind);
                seq += 1;
                sent[ch].push(m.clone());
                kinds[ch].push(kind);
                txs[ch].send(m).unwrap();
            }
            Op::Fill => {
                // Staged bytes go first, as in the send loop.
                if ob.absorb(&mut stage) {
                    staged_ch = None;
                }
                ob.fill(now);
            }
            Op::Ping => ob.push_ping(),
            Op::Pong => ob.push_pong(),
            Op::Stage { ch, len } => {
                if staged_ch.is_none_or(|c| c == ch) && sent[ch].is_empty() && len > 0 {
                    // Only on a channel with nothing queued, so its order is known.
                    // A staged message is one packet (`stage.rs` takes only such).
                    let m = message(seq, len.min(max_payload), 0);
                    seq += 1;
                    stage.push(ch, ch as u8, &m, &Codec::default());
                    staged_ch = Some(ch);
                    staged[ch].push(m);
                }
            }
            Op::Write { limit, stall } => {
                *writer.stall.lock().unwrap() = stall;
                let r = ob.write_some(limit, None, |n| counted += n);
                *writer.stall.lock().unwrap() = false;
                results.push(format!("{r:?}"));
            }
            Op::Trim => ob.trim(),
        }
    }
    // Drain everything.
    for _ in 0..100_000 {
        ob.absorb(&mut stage);
        ob.fill(now);
        ob.write_some(usize::MAX, None, |n| counted += n).unwrap();
        if ob.is_idle() && stage.is_empty() {
            break;
        }
    }
    assert!(ob.is_idle());
    ob.trim();
    // Everything is written: the outbox holds no reference to any message (`sent`
    // holds one of each; a static one is never unique, an empty one may be static).
    for (c, msgs) in sent.iter().enumerate() {
        for (i, m) in msgs.iter().enumerate() {
            if kinds[c][i] != 1 && !m.is_empty() {
                assert!(
                    m.is_unique(),
                    "channel {c}: message {i} ({} bytes, kind {}) still referenced after everything was written",
                    m.len(),
                    kinds[c][i]
                );
            }
        }
    }
    let out = writer.out.lock().unwrap().clone();
    // Staged messages came before any queued one on their channel.
    for (c, m) in sent.into_iter().enumerate() {
        staged[c].extend(m);
    }
    (out, counted, results, staged)
}

/// Every message of `sent` comes out of `wire`, in order per channel, byte-exact, once.
fn check_messages(wire: &[u8], sent: &[Vec<Bytes>], max_payload: usize) {
    let mut rest = wire;
    let mut got: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 3];
    let mut partial: Vec<Vec<u8>> = vec![Vec::new(); 3];
    while let Some((p, used)) = decode_packet(rest, max_payload + 10).unwrap() {
        if let PacketRef::Msg {
            channel,
            eof,
            payload,
        } = p
        {
            let c = channel as usize;
            assert!(payload.len() <= max_payload);
            partial[c].extend_from_slice(payload);
            if eof {
                got[c].push(std::mem::take(&mut partial[c]));
            }
        }
        rest = &rest[used..];
    }
    assert!(rest.is_empty(), "a torn packet at the end");
    for c in 0..3 {
        assert!(
            partial[c].is_empty(),
            "channel {c}: a message without its end"
        );
        let want: Vec<&[u8]> = sent[c].iter().map(|b| &b[..]).collect();
        let got: Vec<&[u8]> = got[c].iter().map(|b| &b[..]).collect();
        assert_eq!(got.len(), want.len(), "channel {c}: message count");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                g == w,
                "channel {c}: message {i} ({} bytes) differs ({} bytes came)",
                w.len(),
                g.len()
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn hostile_by_reference_and_copied_batches_write_the_same_stream(
        ops in prop::collection::vec(op(), 1..60),
        caps in prop::collection::vec(prop_oneof![1..8usize, 8..3000usize, 3000..100_000usize], 1..8),
        max_payload in prop_oneof![Just(13usize), Just(1000), Just(1024), Just(4096), Just(70_000)],
        limit in prop_oneof![Just(1usize), Just(100), Just(BY_REF_MIN), Just(1 << 20)],
        across in any::<bool>(),
    ) {
        let now = Instant::now();
        let (copied, n_copied, r_copied, sent) =
            run_ops(&ops, false, Scripted::new(caps.clone(), true), max_payload, limit, now);
        let (by_ref, n_by_ref, r_by_ref, _) =
            run_ops(&ops, true, Scripted::new(caps, across), max_payload, limit, now);
        prop_assert_eq!(n_copied, copied.len());
        prop_assert_eq!(n_by_ref, by_ref.len());
        prop_assert!(copied == by_ref, "the streams differ ({} vs {} bytes)", copied.len(), by_ref.len());
        if across {
            prop_assert_eq!(r_copied, r_by_ref);
        }
        check_messages(&by_ref, &sent, max_payload);
    }
}
