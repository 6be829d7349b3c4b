//! Two SecretConnections with random keys over loopback: data of every size both ways,
//! through the connection and through its split halves, with writes that stall on a
//! 1 ms socket write timeout or on a stream that refuses and cuts writes at random.
#![cfg(feature = "secret-connection")]

mod support;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mconn::{NodeKey, SecretConnection};
use mconn::{SecretReader, SecretWriter};
use support::secret::{is_stall, secret_pair, write_like_mconn, Recorder};
use support::{pattern, tcp_pair, watchdog, Rng};

const LIMIT: Duration = Duration::from_secs(120);

/// The protocol's sealed frame size on the wire: a 16-byte Poly1305 tag and the
/// encrypted 1026-byte padded plaintext (2-byte length + 1024 data bytes) = 1042. Not
/// public API, so restated here.
const SEALED_FRAME_SIZE: usize = 1042;

/// Messages of 0..=5000 bytes, then 1 MiB, each a distinct pattern.
fn messages() -> Vec<Vec<u8>> {
    let mut m: Vec<Vec<u8>> = (0..=5000).map(|n| pattern(n as u64, n)).collect();
    m.push(pattern(9999, 1 << 20));
    m
}

fn send_all<W: Write>(w: &mut W, msgs: &[Vec<u8>]) {
    for m in msgs {
        w.write_all(m).expect("write");
    }
    w.flush().expect("flush");
}

fn expect_all<R: Read>(r: &mut R, msgs: &[Vec<u8>]) {
    for m in msgs {
        let mut got = vec![0u8; m.len()];
        r.read_exact(&mut got).expect("read");
        assert!(got == *m, "message of {} bytes differs", m.len());
    }
}

#[test]
fn every_size_both_ways_through_the_connection() {
    let _w = watchdog("every_size_both_ways_through_the_connection", LIMIT);
    let (mut a, mut b, _, _) = secret_pair();
    let msgs = Arc::new(messages());
    let m2 = msgs.clone();
    // a -> b, then b -> a.
    let t = thread::spawn(move || {
        expect_all(&mut b, &m2);
        send_all(&mut b, &m2);
        b
    });
    send_all(&mut a, &msgs);
    expect_all(&mut a, &msgs);
    let _b = t.join().expect("peer thread");
}

#[test]
fn every_size_both_ways_at_once_through_split_halves() {
    let _w = watchdog("every_size_both_ways_at_once_through_split_halves", LIMIT);
    let (a, b, _, _) = secret_pair();
    let (mut ar, mut aw) = a.split().expect("split a");
    let (mut br, mut bw) = b.split().expect("split b");
    let msgs = Arc::new(messages());
    let ts: Vec<thread::JoinHandle<()>> = vec![
        {
            let m = msgs.clone();
            thread::spawn(move || send_all(&mut aw, &m))
        },
        {
            let m = msgs.clone();
            thread::spawn(move || send_all(&mut bw, &m))
        },
        {
            let m = msgs.clone();
            thread::spawn(move || expect_all(&mut ar, &m))
        },
        {
            let m = msgs.clone();
            thread::spawn(move || expect_all(&mut br, &m))
        },
    ];
    for t in ts {
        t.join().expect("worker thread");
    }
}

#[test]
fn each_write_is_its_own_frames_and_an_empty_write_sends_nothing() {
    let _w = watchdog("each_write_is_its_own_frames", LIMIT);
    let (sa, sb) = tcp_pair();
    let kb = NodeKey::generate().expect("key");
    let t = thread::spawn(move || {
        let mut b = SecretConnection::handshake(sb, &kb).expect("handshake");
        let mut got = vec![0u8; 3 + 1025 + 65536 + 1];
        b.read_exact(&mut got).expect("read");
        got
    });
    let ka = NodeKey::generate().expect("key");
    let mut a = SecretConnection::handshake(Recorder::new(sa), &ka).expect("handshake");
    let base = a.get_ref().log.len();
    assert_eq!(base, 32 + SEALED_FRAME_SIZE);
    assert_eq!(a.write(&[]).expect("empty write"), 0);
    a.flush().expect("flush");
    assert_eq!(a.get_ref().log.len(), base, "an empty write sends nothing");
    let frames = |a: &SecretConnection<Recorder<TcpStream>>| {
        let n = a.get_ref().log.len() - base;
        assert_eq!(n % SEALED_FRAME_SIZE, 0);
        n / SEALED_FRAME_SIZE
    };
    for byte in [1u8, 2, 3] {
        assert_eq!(a.write(&[byte]).expect("write"), 1);
    }
    assert_eq!(frames(&a), 3, "three 1-byte writes are three frames");
    assert_eq!(a.write(&[7u8; 1025]).expect("write"), 1025);
    assert_eq!(frames(&a), 5, "1025 bytes are two frames");
    // One call seals at most 64 KiB, in one write to the socket.
    let writes_before = a.get_ref().sizes.len();
    let big = vec![9u8; 65537];
    assert_eq!(a.write(&big).expect("write"), 65536);
    assert_eq!(frames(&a), 5 + 64);
    assert_eq!(a.get_ref().sizes[writes_before..], [64 * SEALED_FRAME_SIZE]);
    assert_eq!(a.write(&big[65536..]).expect("write"), 1);
    a.flush().expect("flush");
    let got = t.join().expect("peer");
    let mut want = vec![1u8, 2, 3];
    want.extend_from_slice(&[7u8; 1025]);
    want.extend_from_slice(&big);
    assert_eq!(got, want);
}

/// Counts the writer's stalls, so the reader can wait for them.
#[derive(Default)]
struct Progress {
    stalls: AtomicUsize,
    done: AtomicBool,
}

impl Progress {
    /// Waits (at most 20 s) until the writer has stalled more than `seen` times or has
    /// finished.
    fn wait_for_stall(&self, seen: usize) -> usize {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            let now = self.stalls.load(Ordering::Acquire);
            if now > seen || self.done.load(Ordering::Acquire) {
                return now;
            }
            thread::sleep(Duration::from_millis(2));
        }
        self.stalls.load(Ordering::Acquire)
    }
}

/// Reads `total` bytes, stopping until the writer's socket is full (its 1 ms write
/// timeout fired) at the start and after every 3 MiB.
fn slow_reader(mut r: SecretReader, total: usize, progress: &Progress) -> Vec<u8> {
    let mut got = Vec::with_capacity(total);
    let mut buf = vec![0u8; 7000];
    let mut seen = 0;
    let mut next_pause = 0;
    while got.len() < total {
        if got.len() >= next_pause {
            seen = progress.wait_for_stall(seen);
            next_pause += 3 << 20;
        }
        let n = r.read(&mut buf).expect("read");
        assert!(n > 0, "stream ended after {} of {total} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// Writes `data` in random slices the way the MConnection's send thread does, with a
/// 1 ms socket write timeout, counting stalls in `progress`.
fn stalling_writer(mut w: SecretWriter, data: &[u8], seed: u64, progress: &Progress) {
    w.get_ref()
        .set_write_timeout(Some(Duration::from_millis(1)))
        .expect("set write timeout");
    let mut rng = Rng(seed);
    let mut at = 0;
    let mut end = 0;
    loop {
        if at == end {
            if end == data.len() {
                break;
            }
            end = (at + 1 + rng.below(150_000) as usize).min(data.len());
        }
        match w.write(&data[at..end]) {
            Ok(0) => panic!("write returned 0"),
            Ok(n) => at += n,
            Err(e) if is_stall(&e) => {
                progress.stalls.fetch_add(1, Ordering::AcqRel);
            }
            Err(e) => panic!("write failed: {e}"),
        }
    }
    loop {
        match w.flush() {
            Ok(()) => break,
            Err(e) if is_stall(&e) => {
                progress.stalls.fetch_add(1, Ordering::AcqRel);
            }
            Err(e) => panic!("flush failed: {e}"),
        }
    }
    progress.done.store(true, Ordering::Release);
}

#[test]
fn split_writer_resumes_after_write_timeouts_without_losing_a_byte() {
    let _w = watchdog("split_writer_resumes_after_write_timeouts", LIMIT);
    let (a, b, _, _) = secret_pair();
    let (ar, aw) = a.split().expect("split a");
    let (br, bw) = b.split().expect("split b");
    let total = 12 << 20;
    let da = Arc::new(pattern(1, total));
    let db = Arc::new(pattern(2, total));
    let (pa, pb) = (Arc::new(Progress::default()), Arc::new(Progress::default()));
    let wa = {
        let (d, p) = (da.clone(), pa.clone());
        thread::spawn(move || stalling_writer(aw, &d, 11, &p))
    };
    let wb = {
        let (d, p) = (db.clone(), pb.clone());
        thread::spawn(move || stalling_writer(bw, &d, 12, &p))
    };
    let rb = {
        let p = pa.clone();
        thread::spawn(move || slow_reader(br, total, &p))
    };
    let ra = {
        let p = pb.clone();
        thread::spawn(move || slow_reader(ar, total, &p))
    };
    let got_b = rb.join().expect("b reader");
    let got_a = ra.join().expect("a reader");
    wa.join().expect("a writer");
    wb.join().expect("b writer");
    assert!(got_b == *da, "a -> b data differs");
    assert!(got_a == *db, "b -> a data differs");
    let stalls = (
        pa.stalls.load(Ordering::Acquire),
        pb.stalls.load(Ordering::Acquire),
    );
    eprintln!("write stalls seen: {stalls:?}");
    assert!(
        stalls.0 > 1 && stalls.1 > 1,
        "the write timeout did not fire: the test proved nothing"
    );
}

/// A stream whose writes, once `on` is set, fail with `WouldBlock` or `TimedOut`
/// (writing nothing) or take only part of the buffer, at random.
struct Flaky {
    inner: TcpStream,
    on: Arc<AtomicBool>,
    rng: Rng,
    stalls: usize,
}

impl Read for Flaky {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.on.load(Ordering::Relaxed) || buf.is_empty() {
            return self.inner.write(buf);
        }
        match self.rng.below(4) {
            0 => {
                self.stalls += 1;
                Err(io::ErrorKind::WouldBlock.into())
            }
            1 => {
                self.stalls += 1;
                Err(io::ErrorKind::TimedOut.into())
            }
            2 => {
                let n = 1 + self.rng.below(buf.len() as u64) as usize;
                self.inner.write(&buf[..n])
            }
            _ => self.inner.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.on.load(Ordering::Relaxed) && self.rng.below(3) == 0 {
            self.stalls += 1;
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.inner.flush()
    }
}

#[test]
fn stalls_and_partial_writes_never_lose_or_repeat_a_byte() {
    let _w = watchdog("stalls_and_partial_writes", LIMIT);
    let (sa, sb) = tcp_pair();
    let on = Arc::new(AtomicBool::new(false));
    let flaky = Flaky {
        inner: sa,
        on: on.clone(),
        rng: Rng(0x5eed),
        stalls: 0,
    };
    let msgs = Arc::new(messages());
    let m2 = msgs.clone();
    let t = thread::spawn(move || {
        let kb = NodeKey::generate().expect("key");
        let mut b = SecretConnection::handshake(sb, &kb).expect("handshake");
        expect_all(&mut b, &m2);
        let mut rest = [0u8; 1];
        assert_eq!(
            b.read(&mut rest).expect("clean close"),
            0,
            "no byte repeated"
        );
    });
    let ka = NodeKey::generate().expect("key");
    let mut a = SecretConnection::handshake(flaky, &ka).expect("handshake");
    on.store(true, Ordering::Relaxed);
    let mut rng = Rng(77);
    for m in msgs.iter() {
        // Sometimes flush between messages, sometimes not.
        write_like_mconn(&mut a, m).expect("write");
        if rng.below(2) == 0 {
            let _ = a.flush();
        }
    }
    support::secret::flush_like_mconn(&mut a).expect("flush");
    assert!(a.get_ref().stalls > 1000, "stalls: {}", a.get_ref().stalls);
    a.get_ref()
        .inner
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    t.join().expect("peer");
}
