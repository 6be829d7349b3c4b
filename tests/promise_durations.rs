//! Durations: a huge setting means "never", not a panic (issue 11, item 4), and a small
//! one is kept: `send` returns within its timeout even when it writes directly to a
//! slow transport (item 16).
//!
//! A panic hook counts panics on every thread of this binary; none may happen here.

mod support;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(feature = "secret-connection")]
use std::sync::Arc;
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

use mconn::{ChannelDescriptor, Error, MConnConfig, ReconnectSchedule, Transport};
use support::switch::*;
use support::*;

const LIMIT: Duration = Duration::from_secs(90);
const HUGE: Duration = Duration::MAX;

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts every panic in this process (and still prints it).
fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

fn chans() -> Vec<ChannelDescriptor> {
    vec![ChannelDescriptor::new(0x01, 1).send_queue_capacity(8)]
}

fn huge_mconn() -> MConnConfig {
    MConnConfig::default()
        .ping_interval(HUGE)
        .pong_timeout(HUGE - Duration::from_nanos(1))
        .send_timeout(HUGE)
}

#[test]
fn huge_connection_durations_mean_never_not_a_panic() {
    let _w = watchdog("huge_connection_durations", LIMIT);
    count_panics();
    let (a, b) = conn_pair(chans(), huge_mconn());
    // try_send goes through the send thread: it must be alive.
    a.conn.try_send(0x01, "queued").unwrap();
    assert_eq!(b.received.recv_timeout(LIMIT).unwrap().1, "queued");
    b.conn.send(0x01, "sent").unwrap();
    a.conn
        .send_timeout(0x01, "with a huge timeout", HUGE)
        .unwrap();
    assert_eq!(a.received.recv_timeout(LIMIT).unwrap().1, "sent");
    assert_eq!(
        b.received.recv_timeout(LIMIT).unwrap().1,
        "with a huge timeout"
    );
    assert!(a.conn.is_running() && b.conn.is_running());
    // The peer leaving is still reported.
    b.conn.stop();
    let e = a.errors.recv_timeout(LIMIT).expect("on_error");
    assert!(
        matches!(e, Error::PeerClosed | Error::Io(_)),
        "unexpected error {e:?}"
    );
    a.conn.stop();
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "something panicked");
}

#[test]
fn a_huge_flush_throttle_holds_messages_until_flush_stop_without_a_panic() {
    let _w = watchdog("huge_flush_throttle", LIMIT);
    count_panics();
    let cfg = MConnConfig::default().flush_throttle(HUGE);
    let (a, b) = conn_pair(chans(), cfg);
    a.conn.try_send(0x01, "held back").unwrap();
    a.conn.flush_stop();
    assert_eq!(b.received.recv_timeout(LIMIT).unwrap().1, "held back");
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "something panicked");
}

#[test]
fn huge_switch_durations_mean_never_not_a_panic() {
    let _w = watchdog("huge_switch_durations", LIMIT);
    count_panics();
    let cfg = config()
        .handshake_timeout(HUGE)
        .dial_timeout(HUGE)
        .filter_timeout(HUGE)
        .mconn(huge_mconn())
        .reconnect(ReconnectSchedule::default().scaled(HUGE, HUGE, HUGE));
    let (a, _) = listening("a", &[("r", Recorder::new(&[0x01]))], cfg.clone());
    a.set_addr_filter(|_| Ok(()));
    let rb = Recorder::new(&[0x01]);
    let (b, b_addr) = listening("b", &[("r", rb.clone())], cfg);
    let peer = a.dial(b_addr).expect("dial");
    assert_eq!(a.broadcast(0x01, "to all").sent, vec![b.id()]);
    peer.send(0x01, "to one").unwrap();
    assert_eq!(rb.next_msg(30).2, "to all");
    assert_eq!(rb.next_msg(30).2, "to one");

    // A persistent peer that refuses: the first attempt fails at once, the next one is a
    // "never" away.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = l.local_addr().unwrap();
    let closer = thread::spawn(move || {
        let (s, _) = l.accept().expect("the first attempt");
        let _ = s.shutdown(Shutdown::Both);
    });
    a.dial_persistent(refused).unwrap();
    closer.join().unwrap();
    // A panic would come right after that first failure; give it the chance.
    let panicked = wait_until(Duration::from_secs(2), || PANICS.load(Ordering::SeqCst) > 0);
    let t = Instant::now();
    a.stop();
    b.stop();
    assert!(!panicked, "something panicked");
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "stop took {:?}",
        t.elapsed()
    );
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "something panicked");
}

/// A transport whose writer takes at most 1 KiB per call and needs 5 ms for it.
fn slow_transport() -> (Transport, std::net::TcpStream) {
    let (ours, theirs) = tcp_pair();
    struct Slow(std::net::TcpStream);
    impl Write for Slow {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            thread::sleep(Duration::from_millis(5));
            let n = buf.len().min(1024);
            self.0.write(&buf[..n])
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    struct Reader(std::net::TcpStream);
    impl Read for Reader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.read(buf)
        }
    }
    let w = ours.try_clone().unwrap();
    let closer = ours.try_clone().unwrap();
    let t = Transport::new(Reader(ours), Slow(w), move || {
        let _ = closer.shutdown(Shutdown::Both);
    });
    (t, theirs)
}

/// Issue 11, item 16: a `send` that wrote directly on an idle connection wrote the whole
/// message itself, taking 1.3 s against a 100 ms timeout on a slow transport. The caller
/// now writes for at most its timeout and leaves the rest to the send thread.
#[test]
fn send_on_the_direct_path_returns_within_its_timeout() {
    let _w = watchdog("direct_send_timeout", LIMIT);
    count_panics();
    let cfg = MConnConfig::default().send_timeout(Duration::from_millis(100));
    let (t, theirs) = slow_transport();
    let a = start_on(t, chans(), cfg.clone());
    let b = start(theirs, chans(), MConnConfig::default());
    // Once a first message is through, the connection is idle: the next send writes
    // directly.
    a.conn.send(0x01, "warm").unwrap();
    assert_eq!(b.received.recv_timeout(LIMIT).unwrap().1, "warm");
    // 1 MiB at 1 KiB per 5 ms: over 5 s if the caller wrote it all.
    let msg = pattern(1, 1 << 20);
    let t0 = Instant::now();
    a.conn.send(0x01, msg.clone()).expect("accepted");
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "send took {took:?} with a 100 ms timeout"
    );
    // The send thread writes the rest.
    let (_, got) = b.received.recv_timeout(LIMIT).expect("the whole message");
    assert!(got == msg, "the message arrived intact");
    a.conn.stop();
    b.conn.stop();
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "something panicked");
}

/// Review B7: over the SecretConnection one `write` of the transport wrote up to 64
/// sealed frames, however slowly the socket took them, so a direct `send` took 1.99 s
/// against a 200 ms timeout on a slow link. A write now stops when the socket takes less
/// than it is offered.
#[cfg(feature = "secret-connection")]
#[test]
fn a_direct_send_over_the_secret_connection_returns_within_its_timeout() {
    use mconn::{NodeKey, SecretConnection};
    use std::net::TcpStream;
    let _w = watchdog("secret_direct_send_timeout", LIMIT);
    count_panics();
    /// Each write takes 30 ms and at most 1 KiB.
    struct SlowLink(TcpStream);
    impl Read for SlowLink {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.0.read(b)
        }
    }
    impl Write for SlowLink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            thread::sleep(Duration::from_millis(30));
            self.0.write(&b[..b.len().min(1024)])
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let (ours, theirs) = tcp_pair();
    let closer = ours.try_clone().unwrap();
    let far_key = NodeKey::generate().unwrap();
    let (got_tx, got) = crossbeam_channel::unbounded();
    let far = thread::spawn(move || {
        let mut b = SecretConnection::handshake(theirs, &far_key).expect("far handshake");
        let mut total = 0usize;
        let mut buf = [0u8; 64 * 1024];
        while let Ok(n) = b.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
            let _ = got_tx.send(total);
        }
    });
    let received_at_least = |n: usize| loop {
        match got.recv_timeout(Duration::from_secs(60)) {
            Ok(total) if total >= n => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    };
    let sc = SecretConnection::handshake(SlowLink(ours), &NodeKey::generate().unwrap()).unwrap();
    let t = write_only(sc, move || {
        let _ = closer.shutdown(Shutdown::Both);
    });
    let cfg = MConnConfig::default().send_timeout(Duration::from_millis(200));
    let a = start_on(t, chans(), cfg);
    // Once a first message is through, the connection is idle: the next send writes
    // directly.
    a.conn.send(0x01, "warm").unwrap();
    assert!(received_at_least(1), "the first message arrived");
    let t0 = Instant::now();
    a.conn.send(0x01, vec![7u8; 64 * 1024]).expect("accepted");
    let took = t0.elapsed();
    // 200 ms, plus one write of the transport (30 ms), plus slack for a busy machine.
    assert!(took < Duration::from_millis(1000), "send took {took:?}");
    // The send thread writes the rest (about 2 s at this link's pace).
    assert!(
        received_at_least(64 * 1024),
        "the send thread wrote the rest"
    );
    a.conn.stop();
    far.join().unwrap();
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "something panicked");
}

/// A transport that writes to `w` and whose reader reads nothing until the connection
/// is closed (then `on_close` runs too).
#[cfg(feature = "secret-connection")]
fn write_only<W: Write + Send + 'static>(
    w: W,
    on_close: impl Fn() + Send + Sync + 'static,
) -> Transport {
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    struct Idle(crossbeam_channel::Receiver<()>);
    impl Read for Idle {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            let _ = self.0.recv();
            Ok(0)
        }
    }
    let stop_tx = std::sync::Mutex::new(Some(stop_tx));
    Transport::new(Idle(stop_rx), w, move || {
        drop(stop_tx.lock().unwrap().take());
        on_close();
    })
}

/// A blocking socket whose buffer is full and drains at `rate` bytes per second, with a
/// 250 ms write timeout: a write that fits in 250 ms takes everything, a longer one
/// returns short at 250 ms. (Simulated: reads return nothing.)
#[cfg(feature = "secret-connection")]
struct TcpLike {
    rate: f64,
    writes: Arc<AtomicUsize>,
}

#[cfg(feature = "secret-connection")]
const SOCKET_TIMEOUT: Duration = Duration::from_millis(250);

#[cfg(feature = "secret-connection")]
impl Write for TcpLike {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        let need = Duration::from_secs_f64(b.len() as f64 / self.rate);
        let (took, n) = if need <= SOCKET_TIMEOUT {
            (need, b.len())
        } else {
            (
                SOCKET_TIMEOUT,
                (self.rate * SOCKET_TIMEOUT.as_secs_f64()) as usize,
            )
        };
        thread::sleep(took);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "secret-connection")]
impl Read for TcpLike {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Ok(0)
    }
}

/// A SecretConnection (handshaken over loopback) whose stream is then a [`TcpLike`], and
/// its count of socket writes.
#[cfg(feature = "secret-connection")]
fn secret_over_tcplike(rate: f64) -> (mconn::SecretConnection<TcpLike>, Arc<AtomicUsize>) {
    use mconn::{NodeKey, SecretConnection};
    let (a, b) = tcp_pair();
    let kb = NodeKey::generate().unwrap();
    let far = thread::spawn(move || SecretConnection::handshake(b, &kb).map(|_| ()));
    let sc = SecretConnection::handshake(a, &NodeKey::generate().unwrap()).unwrap();
    far.join().unwrap().unwrap();
    let writes = Arc::new(AtomicUsize::new(0));
    let w = writes.clone();
    (sc.map_stream(move |_| TcpLike { rate, writes: w }), writes)
}

/// Review 2, B4: one write first finished the earlier sealed bytes, then wrote its own:
/// two socket writes, each up to the socket's timeout (479 ms against 250). Each `write`
/// and `flush` now makes at most one socket write.
#[cfg(feature = "secret-connection")]
#[test]
fn one_secret_write_makes_at_most_one_socket_write() {
    let _w = watchdog("one_socket_write", LIMIT);
    count_panics();
    let (mut sc, writes) = secret_over_tcplike(150_000.0);
    let data = vec![1u8; 64 * 1024];
    let mut taken = 0;
    while taken < 4 * data.len() {
        let before = writes.load(Ordering::SeqCst);
        match sc.write(&data) {
            Ok(n) => taken += n,
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}"),
        }
        let made = writes.load(Ordering::SeqCst) - before;
        assert!(made <= 1, "one write made {made} socket writes");
    }
    loop {
        let before = writes.load(Ordering::SeqCst);
        let flushed = sc.flush();
        assert!(writes.load(Ordering::SeqCst) - before <= 1);
        match flushed {
            Ok(()) => break,
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}"),
        }
    }
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "something panicked");
}

/// Review 2, B4: a direct send of 127 KiB over that socket took 1.33 s against a
/// 500 ms send_timeout (two writes per call, then a flush that drained once more).
#[cfg(feature = "secret-connection")]
#[test]
fn a_direct_send_over_a_full_secret_socket_keeps_its_bound() {
    let _w = watchdog("full_secret_socket", LIMIT);
    count_panics();
    let (sc, _) = secret_over_tcplike(150_000.0);
    let t = write_only(sc, || {});
    let timeout = Duration::from_millis(500);
    let chans = vec![ChannelDescriptor::new(1, 1).recv_message_capacity(1 << 20)];
    let a = start_on(t, chans, MConnConfig::default().send_timeout(timeout));
    // A first message, written (the stream is write-only here), leaves it idle.
    a.conn.send(1, "warm").unwrap();
    assert!(wait_until(Duration::from_secs(30), || a
        .conn
        .status()
        .bytes_sent
        > 0));
    let t0 = Instant::now();
    a.conn.send(1, vec![7u8; 127 * 1024]).unwrap();
    let took = t0.elapsed();
    eprintln!("a direct send of 127 KiB over a full secret socket took {took:?}");
    a.conn.stop();
    // The timeout, one socket write, and slack for a debug build on a busy machine.
    assert!(
        took < timeout + SOCKET_TIMEOUT + Duration::from_millis(300),
        "send took {took:?}"
    );
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "something panicked");
}
