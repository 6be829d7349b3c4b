//! A hostile review of the by-reference send batch (`src/conn/batch.rs`, commit cb03726):
//! on a plain TCP transport with go-wire, the chunks of messages of 16 KiB or more go to
//! the socket by reference through `writev`. These tests try to break what that may
//! touch: exactly once, in order, byte-exact for sizes around the threshold on several
//! channels and threads (`send`, `try_send`, small and huge `send_buffer_size`,
//! `send_rate`, `flush_throttle`); the caller's `Bytes` neither corrupted nor kept once
//! written or stopped; keepalive under a large stream; `stop`/`flush_stop`/stop from
//! `on_receive` with a large batch half written to a peer that does not read; custom
//! transports (never handed several slices) and the SecretConnection; and the wire bytes,
//! which must be the same as the copying path's.

mod support;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::unbounded;
use mconn::wire::encode_msg_header;
use mconn::{
    ChannelDescriptor, ChannelId, MConnConfig, MConnection, SendError, Transport, TrySendError,
};
use support::*;

const LIMIT: Duration = Duration::from_secs(240);

/// The threshold of `src/conn/channel.rs` (not public), restated.
const BY_REF_MIN: usize = 16 * 1024;

/// Sizes around the threshold and the packet size, and large ones.
const SIZES: &[usize] = &[
    0,
    1,
    1023,
    1024,
    1025,
    BY_REF_MIN - 1,
    BY_REF_MIN,
    BY_REF_MIN + 1,
    15 * 1024 + 1,
    17 * 1024 - 1,
    17 * 1024,
    17 * 1024 + 1,
    32 * 1024 - 1,
    32 * 1024 + 1,
    100_000,
    (1 << 20) + 7,
    6,
    BY_REF_MIN,
];

/// A stamped message: thread, channel, per-(thread, channel) seq, then a pattern.
/// `len` of 0 is an empty message; 1..6 carry a truncated stamp (checked by pattern).
fn stamped(thread: u8, ch: u8, seq: u32, len: usize, kind: usize) -> Bytes {
    let mut m = pattern(
        u64::from(seq) << 16 | u64::from(ch) << 8 | u64::from(thread),
        len,
    );
    let stamp = [
        thread,
        ch,
        (seq >> 24) as u8,
        (seq >> 16) as u8,
        (seq >> 8) as u8,
        seq as u8,
    ];
    let k = len.min(6);
    m[..k].copy_from_slice(&stamp[..k]);
    match kind % 3 {
        0 => Bytes::from(m),
        // A slice of a larger buffer.
        1 => {
            let mut big = vec![0xEE; 100];
            big.extend_from_slice(&m);
            big.extend_from_slice(&[0xDD; 100]);
            Bytes::from(big).slice(100..100 + len)
        }
        // A 'static one (leaked: a test process).
        _ => Bytes::from_static(Box::leak(m.into_boxed_slice())),
    }
}

/// Checks per (thread, channel): messages in order, intact, none twice, none lost.
#[derive(Default)]
struct Checker {
    next: HashMap<(u8, u8), u32>,
    total: u64,
}

impl Checker {
    /// `expect(thread, ch, seq)` gives the length message `seq` of that stream has.
    fn check(&mut self, ch: ChannelId, m: &Bytes, len_of: &dyn Fn(u8, u8, u32) -> usize) {
        self.total += 1;
        // Short messages cannot carry the whole stamp: they are identified by order.
        let (t, c, seq) = if m.len() >= 6 {
            (m[0], m[1], u32::from_be_bytes([m[2], m[3], m[4], m[5]]))
        } else {
            // Find the (thread, channel) stream whose next message has this length and
            // whose stamp prefix matches.
            let cand: Vec<(u8, u8, u32)> = self
                .next
                .iter()
                .filter(|((_, c), _)| *c == ch)
                .map(|(&(t, c), &s)| (t, c, s))
                .filter(|&(t, c, s)| len_of(t, c, s) == m.len())
                .filter(|&(t, c, s)| *m == stamped(t, c, s, m.len(), 0))
                .collect();
            assert!(
                !cand.is_empty(),
                "a {}-byte message on channel {ch} that no stream expects next",
                m.len()
            );
            cand[0]
        };
        assert_eq!(c, ch, "thread {t}'s message for channel {c} came on {ch}");
        let next = self.next.entry((t, c)).or_default();
        assert_eq!(
            seq, *next,
            "thread {t} channel {c}: message {seq} out of order"
        );
        assert_eq!(
            m.len(),
            len_of(t, c, seq),
            "thread {t} channel {c}: message {seq} has the wrong length"
        );
        assert!(
            *m == stamped(t, c, seq, m.len(), 0),
            "thread {t} channel {c}: message {seq} ({} bytes) corrupted",
            m.len()
        );
        *next += 1;
    }
}

fn channels(ids: &[(u8, u32)]) -> Vec<ChannelDescriptor> {
    ids.iter()
        .map(|&(id, p)| {
            ChannelDescriptor::new(id, p)
                .send_queue_capacity(4)
                .recv_message_capacity(2 << 20)
        })
        .collect()
}

/// Threads × channels streams of stamped messages of every size in [`SIZES`] (rotated
/// per stream), sent with `send` (even threads) or `try_send` retried (odd threads),
/// each checked on the far side.
fn stream_everything(name: &'static str, cfg: MConnConfig, threads: u8, rounds: usize) {
    let _w = watchdog(name, LIMIT);
    let ids = [(0x01u8, 1u32), (0x02, 5), (0x03, 2)];
    // Every received message goes in the channel; pre-seed the checker's streams.
    let (a, b) = conn_pair(channels(&ids), cfg);
    // Only thread 0 sends empty messages (they carry no stamp: on each channel only
    // one stream may send them); a 1-byte message carries its thread.
    let len_of = move |t: u8, c: u8, seq: u32| -> usize {
        let i = (seq as usize + t as usize * 7 + c as usize * 3) % SIZES.len();
        if SIZES[i] == 0 && t != 0 {
            6
        } else {
            SIZES[i]
        }
    };
    let per_stream = rounds * SIZES.len();
    let TestConn {
        conn: a,
        errors: a_errors,
        ..
    } = a;
    let mut senders = Vec::new();
    for t in 0..threads {
        let a = a.clone();
        senders.push(thread::spawn(move || {
            for seq in 0..per_stream as u32 {
                for &(c, _) in &ids {
                    let m = stamped(t, c, seq, len_of(t, c, seq), seq as usize + t as usize);
                    if t % 2 == 0 {
                        a.send(c, m).expect("send");
                    } else {
                        let mut m = m;
                        loop {
                            match a.try_send(c, m) {
                                Ok(()) => break,
                                Err(TrySendError::Full(back)) => {
                                    m = back;
                                    thread::yield_now();
                                }
                                Err(e) => panic!("try_send: {e:?}"),
                            }
                        }
                    }
                }
            }
        }));
    }
    let mut checker = Checker::default();
    for t in 0..threads {
        for &(c, _) in &ids {
            checker.next.insert((t, c), 0);
        }
    }
    let total = threads as u64 * ids.len() as u64 * per_stream as u64;
    while checker.total < total {
        let (ch, m) = b
            .received
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "{name}: {} of {total} messages came, then nothing",
                    checker.total
                )
            });
        checker.check(ch, &m, &len_of);
    }
    for s in senders {
        s.join().expect("sender");
    }
    for (&(t, c), &n) in &checker.next {
        assert_eq!(n as usize, per_stream, "thread {t} channel {c}");
    }
    assert!(
        b.received.try_recv().is_err(),
        "a message came more than once"
    );
    assert!(a_errors.try_recv().is_err(), "{name}: A reported an error");
    assert!(b.errors.try_recv().is_err(), "{name}: B reported an error");
    a.stop();
    b.conn.stop();
}

#[test]
fn every_size_around_the_threshold_arrives_once_in_order_default_config() {
    stream_everything(
        "every_size_around_the_threshold_arrives_once_in_order_default_config",
        MConnConfig::default(),
        4,
        2,
    );
}

#[test]
fn every_size_around_the_threshold_arrives_once_in_order_tiny_batch() {
    // A one-byte send buffer: one packet per batch.
    stream_everything(
        "every_size_around_the_threshold_arrives_once_in_order_tiny_batch",
        MConnConfig::default().send_buffer_size(1),
        3,
        1,
    );
}

#[test]
fn every_size_around_the_threshold_arrives_once_in_order_huge_batch_big_packets() {
    // 16 MiB batches (thousands of slices pending) and 64 KiB packets (3-byte varints).
    stream_everything(
        "every_size_around_the_threshold_arrives_once_in_order_huge_batch_big_packets",
        MConnConfig::default()
            .send_buffer_size(16 << 20)
            .max_packet_msg_payload_size(64 * 1024),
        3,
        1,
    );
}

#[test]
fn every_size_around_the_threshold_arrives_once_in_order_odd_packets() {
    // Packets of 1 byte + a prime: every chunk boundary falls somewhere odd, many
    // slices per batch (more than 1024 pending in a 512 KiB batch).
    stream_everything(
        "every_size_around_the_threshold_arrives_once_in_order_odd_packets",
        MConnConfig::default().max_packet_msg_payload_size(257),
        2,
        1,
    );
}

#[test]
fn every_size_around_the_threshold_arrives_once_in_order_rate_and_throttle() {
    // Rate-limited bursts (stop_at inside the batch) and a flush throttle.
    stream_everything(
        "every_size_around_the_threshold_arrives_once_in_order_rate_and_throttle",
        MConnConfig::default()
            .send_rate(Some(40 << 20))
            .flush_throttle(Duration::from_millis(3))
            .send_buffer_size(100_000),
        2,
        1,
    );
}

// ---------------------------------------------------------------------------------------
// The caller's Bytes: not kept once written, released on stop.

/// Waits until `m` has no other holder (the connection let go of it).
fn wait_unique(m: &Bytes, what: &str) {
    assert!(
        wait_until(Duration::from_secs(60), || m.is_unique()),
        "{what}: the connection still holds the message"
    );
}

#[test]
fn a_written_message_is_released_vec_slice_and_reused_buffer() {
    let _w = watchdog(
        "a_written_message_is_released_vec_slice_and_reused_buffer",
        LIMIT,
    );
    let (a, b) = conn_pair(channels(&[(0x01, 1)]), MConnConfig::default());
    for (i, &len) in [BY_REF_MIN, BY_REF_MIN + 1, 2 << 20, 100_000]
        .iter()
        .enumerate()
    {
        let want = pattern(i as u64, len);
        // From a Vec (promotable).
        let m = Bytes::from(want.clone());
        a.conn.send(0x01, m.clone()).expect("send");
        let (_, got) = b
            .received
            .recv_timeout(Duration::from_secs(60))
            .expect("vec message");
        assert!(got == want, "vec message {i} ({len} bytes) differs");
        wait_unique(&m, "vec");
        // Unique again: the caller may take its buffer back and reuse it; the next
        // message, from the reused buffer, must not see the old bytes nor they the new.
        let mut reused = m.try_into_mut().expect("unique once written");
        reused.iter_mut().for_each(|x| *x = !*x);
        let flipped = reused.freeze();
        a.conn.send(0x01, flipped.clone()).expect("send");
        let (_, got) = b
            .received
            .recv_timeout(Duration::from_secs(60))
            .expect("reused message");
        assert!(got == flipped, "reused message {i} ({len} bytes) differs");
        wait_unique(&flipped, "reused");
        // A slice of a larger buffer: the parent is released too.
        let mut parent = vec![0u8; len + 4096];
        parent[1000..1000 + len].copy_from_slice(&want);
        let parent = Bytes::from(parent);
        a.conn
            .send(0x01, parent.slice(1000..1000 + len))
            .expect("send");
        let (_, got) = b
            .received
            .recv_timeout(Duration::from_secs(60))
            .expect("slice message");
        assert!(got == want, "slice message {i} ({len} bytes) differs");
        wait_unique(&parent, "slice's parent");
    }
    a.conn.stop();
    b.conn.stop();
}

// ---------------------------------------------------------------------------------------
// A peer that stops reading: stop, flush_stop, stop from on_receive.

/// An MConnection on a plain TCP transport (by reference) whose peer is a raw socket
/// the test holds and does not read. The on_receive stops the connection when told to.
struct Stalled {
    conn: MConnection,
    peer: TcpStream,
    stop_on_receive: Arc<AtomicUsize>,
    received: crossbeam_channel::Receiver<(ChannelId, Bytes)>,
}

fn stalled(cfg: MConnConfig) -> Stalled {
    let (s, peer) = tcp_pair();
    let transport = Transport::tcp(s, cfg.send_timeout).expect("tcp");
    let stop_on_receive = Arc::new(AtomicUsize::new(0));
    let (rtx, received) = unbounded();
    let weak: Arc<Mutex<Option<mconn::WeakMConnection>>> = Arc::default();
    let (w2, s2) = (weak.clone(), stop_on_receive.clone());
    let conn = MConnection::with_transport(
        transport,
        vec![ChannelDescriptor::new(0x01, 1).send_queue_capacity(2)],
        cfg,
        move |ch, m| {
            if s2.load(Ordering::SeqCst) == 1 {
                if let Some(c) = w2.lock().unwrap().as_ref().and_then(|w| w.upgrade()) {
                    c.stop();
                    s2.store(2, Ordering::SeqCst);
                }
            }
            let _ = rtx.send((ch, m));
        },
        |_| {},
    )
    .expect("start");
    *weak.lock().unwrap() = Some(conn.downgrade());
    Stalled {
        conn,
        peer,
        stop_on_receive,
        received,
    }
}

/// The messages handed to `send`, shared with the test.
type Handed = Arc<Mutex<Vec<Bytes>>>;

/// Sends 1 MiB messages from a thread until one blocks (the queue is full behind a
/// batch the peer does not read); returns the thread (whose result is the blocked
/// send's) and the messages handed over, for checking they are released.
fn fill_until_blocked(conn: &MConnection) -> (thread::JoinHandle<Result<(), SendError>>, Handed) {
    let handed: Handed = Arc::default();
    let blocked = Arc::new(AtomicU64::new(0));
    let (c, h, bl) = (conn.clone(), handed.clone(), blocked.clone());
    let t = thread::spawn(move || {
        for i in 0..1000u64 {
            let m = Bytes::from(pattern(i, (1 << 20) + 1));
            h.lock().unwrap().push(m.clone());
            bl.store(i + 1, Ordering::SeqCst);
            c.send(0x01, m)?;
        }
        panic!("1000 MiB went to a peer that does not read");
    });
    // The sender is blocked once the queue is full and it has not come back.
    assert!(
        wait_until(Duration::from_secs(120), || {
            !conn.can_send(0x01) && {
                let n = blocked.load(Ordering::SeqCst);
                thread::sleep(Duration::from_millis(50));
                n > 0 && blocked.load(Ordering::SeqCst) == n && !conn.can_send(0x01)
            }
        }),
        "the sender never blocked"
    );
    (t, handed)
}

/// After `stop()` (threads joined), only messages still in the channel's queue (the
/// last `queued` handed over, before the blocked one) may be held: the queue lives with
/// the handle (so on the parent commit too); nothing the send thread took (the batch's
/// references, the message in hand) may be. Then, once the last handle is dropped,
/// nothing at all.
fn no_holder_left(handed: &Mutex<Vec<Bytes>>, conn: MConnection, queued: usize, what: &str) {
    let handed = handed.lock().unwrap();
    // The last one handed was the blocked send's: it came back.
    let n = handed.len();
    for (i, m) in handed.iter().enumerate() {
        let may_be_queued = i + 1 + queued >= n;
        assert!(
            may_be_queued || m.is_unique(),
            "{what}: message {i} of {n} (taken by the send thread) still held after stop()"
        );
    }
    drop(conn);
    for (i, m) in handed.iter().enumerate() {
        assert!(
            m.is_unique(),
            "{what}: message {i} of {n} still held after the last handle was dropped"
        );
    }
}

fn send_timeout_cfg(send_timeout: Duration) -> MConnConfig {
    MConnConfig::default().send_timeout(send_timeout)
}

#[test]
fn stop_with_a_large_batch_half_written_returns_closed_and_releases_everything() {
    let _w = watchdog(
        "stop_with_a_large_batch_half_written_returns_closed_and_releases_everything",
        LIMIT,
    );
    let s = stalled(send_timeout_cfg(Duration::from_secs(100)));
    let (t, handed) = fill_until_blocked(&s.conn);
    let sent_before = s.conn.status().bytes_sent;
    assert!(sent_before > 0, "something was written");
    s.conn.stop();
    assert!(!s.conn.is_running());
    match t.join().expect("sender thread") {
        Err(SendError::Closed(m)) => assert_eq!(m.len(), (1 << 20) + 1),
        other => panic!("the blocked send returned {other:?}"),
    }
    no_holder_left(&handed, s.conn, 2, "stop");
    drop(s.peer);
}

#[test]
fn flush_stop_with_a_large_batch_half_written_gives_up_after_send_timeout() {
    let _w = watchdog(
        "flush_stop_with_a_large_batch_half_written_gives_up_after_send_timeout",
        LIMIT,
    );
    let s = stalled(send_timeout_cfg(Duration::from_secs(3)));
    // The blocked send itself times out after 3 s: keep a thread blocked anyway by
    // sending until then, and flush_stop while the batch is stalled.
    let (t, handed) = fill_until_blocked(&s.conn);
    s.conn.flush_stop();
    assert!(!s.conn.is_running());
    match t.join().expect("sender thread") {
        Err(SendError::Closed(m)) | Err(SendError::Timeout(m)) => {
            assert_eq!(m.len(), (1 << 20) + 1)
        }
        other => panic!("the blocked send returned {other:?}"),
    }
    no_holder_left(&handed, s.conn, 2, "flush_stop");
    drop(s.peer);
}

#[test]
fn stop_from_on_receive_with_a_large_batch_half_written() {
    let _w = watchdog(
        "stop_from_on_receive_with_a_large_batch_half_written",
        LIMIT,
    );
    let mut s = stalled(send_timeout_cfg(Duration::from_secs(100)));
    let (t, handed) = fill_until_blocked(&s.conn);
    // The raw peer sends one message; its on_receive stops the connection.
    s.stop_on_receive.store(1, Ordering::SeqCst);
    let mut packet = Vec::new();
    encode_msg_header(&mut packet, 0x01, true, 2);
    packet.extend_from_slice(b"hi");
    s.peer.write_all(&packet).expect("raw write");
    let (_, m) = s
        .received
        .recv_timeout(Duration::from_secs(60))
        .expect("on_receive ran");
    assert_eq!(&m[..], b"hi");
    assert_eq!(s.stop_on_receive.load(Ordering::SeqCst), 2);
    // The stop began inside the callback: the blocked send gives its message back.
    match t.join().expect("sender thread") {
        Err(SendError::Closed(m)) => assert_eq!(m.len(), (1 << 20) + 1),
        other => panic!("the blocked send returned {other:?}"),
    }
    // A stop from outside joins the threads; then nothing is held.
    s.conn.stop();
    no_holder_left(&handed, s.conn, 2, "stop from on_receive");
}

#[test]
fn a_peer_that_stops_reading_mid_message_bounds_sends() {
    let _w = watchdog("a_peer_that_stops_reading_mid_message_bounds_sends", LIMIT);
    let s = stalled(send_timeout_cfg(Duration::from_millis(500)));
    // The peer reads 100 KiB + 3 bytes (inside the first message's packets), then stops.
    let mut peer = s.peer.try_clone().unwrap();
    let reader = thread::spawn(move || {
        let mut buf = vec![0u8; 100 * 1024 + 3];
        peer.read_exact(&mut buf).map(|_| buf)
    });
    let big = Bytes::from(pattern(9, 4 << 20));
    let mut timeouts = 0;
    let mut held = Vec::new();
    for _ in 0..40 {
        match s.conn.send(0x01, big.clone()) {
            Ok(()) => {}
            Err(SendError::Timeout(m)) => {
                timeouts += 1;
                held.push(m);
                if timeouts == 3 {
                    break;
                }
            }
            Err(e) => panic!("send: {e:?}"),
        }
    }
    assert_eq!(timeouts, 3, "sends to a peer that does not read time out");
    let head = reader.join().unwrap().expect("the first bytes came");
    // The first bytes are the first message's first packet: 03 01 00 varint(1024)...
    let mut want = Vec::new();
    encode_msg_header(&mut want, 0x01, false, 1024);
    want.extend_from_slice(&big[..1024]);
    assert_eq!(&head[..want.len()], &want[..], "the first packet differs");
    // Once stopped and dropped, nothing of the message is held.
    drop(held);
    s.conn.stop();
    drop(s.conn);
    assert!(
        big.is_unique(),
        "the message is still held after stop and drop"
    );
}

// ---------------------------------------------------------------------------------------
// Keepalive under a large stream.

#[test]
fn pings_and_pongs_flow_under_a_large_by_reference_stream() {
    let _w = watchdog(
        "pings_and_pongs_flow_under_a_large_by_reference_stream",
        LIMIT,
    );
    let cfg = MConnConfig::default()
        .ping_interval(Duration::from_millis(1000))
        .pong_timeout(Duration::from_millis(800))
        .send_buffer_size(4 << 20);
    let (a, b) = conn_pair(channels(&[(0x01, 1)]), cfg);
    let a_conn = a.conn.clone();
    let stop = Arc::new(AtomicU64::new(0));
    let st = stop.clone();
    let sender = thread::spawn(move || {
        let m = Bytes::from(pattern(1, 1 << 20));
        let mut n = 0u64;
        while st.load(Ordering::SeqCst) == 0 {
            a_conn.send(0x01, m.clone()).expect("send");
            n += 1;
        }
        n
    });
    let drain = {
        let rx = b.received.clone();
        thread::spawn(move || {
            let mut n = 0u64;
            while let Ok((_, m)) = rx.recv_timeout(Duration::from_secs(5)) {
                assert_eq!(m.len(), 1 << 20);
                n += 1;
            }
            n
        })
    };
    // A hears nothing from B but pongs: it pings every interval, B answers.
    let ok = wait_until(Duration::from_secs(120), || {
        a.conn.status().pongs_received >= 3
    });
    stop.store(1, Ordering::SeqCst);
    let sent = sender.join().expect("sender");
    let st = a.conn.status();
    assert!(
        ok,
        "A's pings got {} pongs back while streaming ({} sent)",
        st.pongs_received, st.pings_sent
    );
    assert!(st.pings_sent >= 3);
    assert!(b.conn.status().pongs_sent >= 3);
    assert!(a.errors.try_recv().is_err(), "A stopped with an error");
    assert!(b.errors.try_recv().is_err(), "B stopped with an error");
    a.conn.flush_stop();
    let got = drain.join().expect("drain");
    assert_eq!(got, sent, "every streamed message came");
    b.conn.stop();
}

// ---------------------------------------------------------------------------------------
// Custom transports: never handed several slices; the SecretConnection.

/// A writer that implements only `write`, taking at most `cap` bytes per call, over a
/// socket; `write_vectored` counts calls (it must never be called with by-reference
/// slices: the flag is false for `Transport::new`).
struct OnlyWrite {
    inner: TcpStream,
    cap: usize,
    vectored_calls: Arc<AtomicUsize>,
}

impl Write for OnlyWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.cap);
        self.inner.write(&buf[..n])
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.vectored_calls.fetch_add(1, Ordering::SeqCst);
        // std's default: the first non-empty slice.
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
        self.write(first)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn only_write_transport(s: TcpStream, cap: usize, calls: Arc<AtomicUsize>) -> Transport {
    s.set_nodelay(true).unwrap();
    s.set_write_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let reader = s.try_clone().unwrap();
    let closer = s.try_clone().unwrap();
    Transport::new(
        reader,
        OnlyWrite {
            inner: s,
            cap,
            vectored_calls: calls,
        },
        move || {
            let _ = closer.shutdown(Shutdown::Both);
        },
    )
}

#[test]
fn a_custom_write_only_transport_is_never_given_slices_and_carries_every_size() {
    let _w = watchdog(
        "a_custom_write_only_transport_is_never_given_slices_and_carries_every_size",
        LIMIT,
    );
    for cap in [7usize, 1500, usize::MAX] {
        let (sa, sb) = tcp_pair();
        let calls = Arc::new(AtomicUsize::new(0));
        let cfg = MConnConfig::default();
        let chans = channels(&[(0x01, 1), (0x02, 3)]);
        let a = start_on(
            only_write_transport(sa, cap, calls.clone()),
            chans.clone(),
            cfg.clone(),
        );
        let b = start(sb, chans, cfg);
        let mut want: HashMap<u8, Vec<Bytes>> = HashMap::new();
        for (i, &len) in SIZES.iter().enumerate() {
            for ch in [0x01u8, 0x02] {
                let m = stamped(ch, ch, i as u32, len, i);
                want.entry(ch).or_default().push(m.clone());
                a.conn.send(ch, m).expect("send");
                // And back the other way over Transport::tcp (by reference).
                let m = stamped(ch + 10, ch, i as u32, len, i + 1);
                b.conn.send(ch, m).expect("send back");
            }
        }
        let mut next: HashMap<u8, usize> = HashMap::new();
        for _ in 0..2 * SIZES.len() {
            let (ch, m) = b
                .received
                .recv_timeout(Duration::from_secs(60))
                .expect("a message");
            let i = next.entry(ch).or_default();
            assert!(
                m == want[&ch][*i],
                "cap {cap}: channel {ch} message {i} ({} bytes) differs",
                want[&ch][*i].len()
            );
            *i += 1;
        }
        let mut back: HashMap<u8, u32> = HashMap::new();
        for _ in 0..2 * SIZES.len() {
            let (ch, m) = a
                .received
                .recv_timeout(Duration::from_secs(60))
                .expect("a message back");
            let i = back.entry(ch).or_default();
            let w = stamped(ch + 10, ch, *i, SIZES[*i as usize], 0);
            assert!(m == w, "cap {cap}: back channel {ch} message {i} differs");
            *i += 1;
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "cap {cap}: a custom transport's writer was called with write_vectored"
        );
        a.conn.stop();
        b.conn.stop();
    }
}

#[cfg(feature = "secret-connection")]
#[test]
fn the_secret_connection_carries_every_size_around_the_threshold() {
    let _w = watchdog(
        "the_secret_connection_carries_every_size_around_the_threshold",
        LIMIT,
    );
    let (sa, sb, _, _) = support::secret::secret_pair();
    let chans = channels(&[(0x01, 1), (0x02, 3)]);
    let cfg = MConnConfig::default();
    let a = start_on(
        sa.into_transport().expect("transport"),
        chans.clone(),
        cfg.clone(),
    );
    let b = start_on(sb.into_transport().expect("transport"), chans, cfg);
    let a_conn = a.conn.clone();
    let sender = thread::spawn(move || {
        for round in 0..2u32 {
            for (i, &len) in SIZES.iter().enumerate() {
                for ch in [0x01u8, 0x02] {
                    let seq = round * SIZES.len() as u32 + i as u32;
                    a_conn.send(ch, stamped(0, ch, seq, len, i)).expect("send");
                }
            }
        }
    });
    let mut next: HashMap<u8, u32> = HashMap::new();
    for _ in 0..2 * 2 * SIZES.len() {
        let (ch, m) = b
            .received
            .recv_timeout(Duration::from_secs(60))
            .expect("a message");
        let seq = next.entry(ch).or_default();
        let len = SIZES[*seq as usize % SIZES.len()];
        assert!(
            m == stamped(0, ch, *seq, len, 0),
            "channel {ch} message {seq} ({len} bytes) differs"
        );
        *seq += 1;
    }
    sender.join().expect("sender");
    a.conn.stop();
    b.conn.stop();
}

// ---------------------------------------------------------------------------------------
// The wire bytes: the same whether the chunks are copied or held by reference.

/// What the raw peer reads from a connection over `transport` that sends `msgs` on
/// channel 0x01 one after the other, then flush-stops. No pings: a long interval.
fn raw_wire(
    make: impl FnOnce(TcpStream) -> Transport,
    msgs: &[Bytes],
    max_payload: usize,
) -> Vec<u8> {
    let (s, mut peer) = tcp_pair();
    let reader = thread::spawn(move || {
        let mut all = Vec::new();
        peer.read_to_end(&mut all).map(|_| all)
    });
    let cfg = MConnConfig::default()
        .ping_interval(Duration::from_secs(3600))
        .pong_timeout(Duration::from_secs(1800))
        .max_packet_msg_payload_size(max_payload);
    let c = start_on(make(s), channels(&[(0x01, 1)]), cfg);
    for m in msgs {
        c.conn.send(0x01, m.clone()).expect("send");
    }
    c.conn.flush_stop();
    reader.join().unwrap().expect("read to the end")
}

/// The go-wire packets of `msgs` on channel 0x01, chunked by `max_payload`.
fn expected_wire(msgs: &[Bytes], max_payload: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        let mut off = 0;
        loop {
            let end = m.len().min(off + max_payload);
            encode_msg_header(&mut out, 0x01, end == m.len(), end - off);
            out.extend_from_slice(&m[off..end]);
            off = end;
            if off == m.len() {
                break;
            }
        }
    }
    out
}

#[test]
fn the_wire_bytes_are_those_of_the_copying_path() {
    let _w = watchdog("the_wire_bytes_are_those_of_the_copying_path", LIMIT);
    let msgs: Vec<Bytes> = SIZES
        .iter()
        .chain(&[3 << 20, BY_REF_MIN * 2, 0, BY_REF_MIN - 1])
        .enumerate()
        .map(|(i, &len)| stamped(1, 1, i as u32, len, i))
        .collect();
    for max_payload in [1024usize, 1, 127, 128, 16 * 1024, 64 * 1024, 1 << 20] {
        // max_payload 1: only the smaller messages (a packet per byte).
        let msgs: Vec<Bytes> = if max_payload < 100 {
            msgs.iter().filter(|m| m.len() <= 20_000).cloned().collect()
        } else {
            msgs.clone()
        };
        let want = expected_wire(&msgs, max_payload);
        let by_ref = raw_wire(
            |s| Transport::tcp(s, Duration::from_secs(10)).unwrap(),
            &msgs,
            max_payload,
        );
        let copied = raw_wire(
            |s| only_write_transport(s, usize::MAX, Arc::default()),
            &msgs,
            max_payload,
        );
        assert_eq!(
            copied.len(),
            want.len(),
            "copied, max_payload {max_payload}"
        );
        assert!(
            copied == want,
            "copied, max_payload {max_payload}: bytes differ"
        );
        assert_eq!(
            by_ref.len(),
            want.len(),
            "by reference, max_payload {max_payload}"
        );
        if by_ref != want {
            let at = by_ref.iter().zip(&want).position(|(a, b)| a != b);
            panic!("by reference, max_payload {max_payload}: bytes differ first at {at:?}");
        }
    }
}
