//! Panics: a panic on a connection's thread (a user's `on_receive`, a transport, or our
//! own bug) stops the connection and is reported once (issue 11, item 5); concurrent
//! `send`s on one channel must not trip an assertion (item 6).
//!
//! The panics in this binary are deliberate.

mod support;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::unbounded;
use mconn::{
    ChannelDescriptor, Error, MConnConfig, MConnection, SendError, Transport, TrySendError,
};
use support::*;

const LIMIT: Duration = Duration::from_secs(90);

fn chans() -> Vec<ChannelDescriptor> {
    vec![ChannelDescriptor::new(0x01, 1).send_queue_capacity(8)]
}

/// Whether `e` says that something panicked, with `what` as the panic message.
fn panicked(e: &Error, what: &str) -> bool {
    let text = e.to_string();
    text.contains("panicked") && text.contains(what)
}

/// Issue 11, item 5: a panicking `on_receive` left a standalone connection "running",
/// sending, and silent until keepalive gave up 105 s later.
#[test]
fn a_panicking_on_receive_stops_the_connection_and_is_reported_once() {
    let _w = watchdog("panicking_on_receive", LIMIT);
    let (ours, theirs) = tcp_pair();
    let (etx, errors) = unbounded();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let a = MConnection::new(
        ours,
        chans(),
        MConnConfig::default(),
        |_, _| panic!("on_receive bug"),
        move |e| {
            c.fetch_add(1, Ordering::SeqCst);
            let _ = etx.send(e);
        },
    )
    .unwrap();
    let b = start(theirs, chans(), MConnConfig::default());
    b.conn.send(0x01, "boom").unwrap();
    let e = errors
        .recv_timeout(Duration::from_secs(30))
        .expect("on_error");
    assert!(panicked(&e, "on_receive bug"), "{e}");
    assert!(e.to_string().contains("on_receive"), "{e}");
    assert!(!a.is_running());
    assert!(matches!(
        a.try_send(0x01, "x"),
        Err(TrySendError::Closed(_))
    ));
    // The peer sees the connection go.
    b.errors
        .recv_timeout(Duration::from_secs(30))
        .expect("peer's on_error");
    a.stop();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A transport from a TCP socket whose reader or writer panics on first use.
fn panicking_transport(reader_panics: bool) -> (Transport, TcpStream) {
    let (ours, theirs) = tcp_pair();
    struct R(TcpStream, bool);
    impl Read for R {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.read(buf)?;
            if self.1 && n > 0 {
                panic!("reader bug");
            }
            Ok(n)
        }
    }
    struct W(TcpStream, bool);
    impl Write for W {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.1 {
                panic!("writer bug");
            }
            self.0.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let w = ours.try_clone().unwrap();
    let closer = ours.try_clone().unwrap();
    let t = Transport::new(R(ours, reader_panics), W(w, !reader_panics), move || {
        let _ = closer.shutdown(Shutdown::Both);
    });
    (t, theirs)
}

/// `t`'s `on_error` says that something panicked with `what`.
fn expect_panicked(t: &TestConn, what: &str) {
    let e = t
        .errors
        .recv_timeout(Duration::from_secs(30))
        .expect("on_error");
    assert!(panicked(&e, what), "{e}");
}

#[test]
fn a_panicking_writer_on_the_send_thread_stops_the_connection_and_is_reported() {
    let _w = watchdog("panicking_writer_thread", LIMIT);
    let (t, theirs) = panicking_transport(false);
    let a = start_on(t, chans(), MConnConfig::default());
    let b = start(theirs, chans(), MConnConfig::default());
    // try_send goes through the send thread.
    a.conn.try_send(0x01, "x").unwrap();
    expect_panicked(&a, "writer bug");
    assert!(!a.conn.is_running());
    b.errors
        .recv_timeout(Duration::from_secs(30))
        .expect("peer's on_error");
    a.conn.stop();
}

#[test]
fn a_panicking_writer_on_the_direct_path_does_not_panic_the_caller() {
    let _w = watchdog("panicking_writer_direct", LIMIT);
    let (t, _theirs) = panicking_transport(false);
    let a = start_on(t, chans(), MConnConfig::default());
    // A send on an idle connection (its send thread waiting) may write from this
    // thread. The send thread no longer wakes or yields the outbox per message while a
    // stream keeps it busy, so the sends are spaced: the pause is what makes the
    // connection idle, not a wait for an event. Whichever thread writes first hits the
    // panic; the caller must get the message back, never the panic.
    let mut outcome = Ok(());
    let start = std::time::Instant::now();
    while start.elapsed() < LIMIT {
        outcome = a.conn.send(0x01, "x");
        if outcome.is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        matches!(outcome, Err(SendError::Closed(ref m)) if m == "x"),
        "{outcome:?}"
    );
    expect_panicked(&a, "writer bug");
    a.conn.stop();
}

#[test]
fn a_panicking_reader_stops_the_connection_and_is_reported() {
    let _w = watchdog("panicking_reader", LIMIT);
    let (t, theirs) = panicking_transport(true);
    let a = start_on(t, chans(), MConnConfig::default());
    let b = start(theirs, chans(), MConnConfig::default());
    b.conn.send(0x01, "x").unwrap();
    expect_panicked(&a, "reader bug");
    b.errors
        .recv_timeout(Duration::from_secs(30))
        .expect("peer's on_error");
    a.conn.stop();
}

/// Issue 11, item 6: four threads sending on one channel hit `assertion failed:
/// self.is_idle()` in debug builds (another thread queued between the direct path's
/// idle check and its write). Each round, the four senders leave a barrier together and
/// send at once on an idle connection, where the direct path is taken. Every message must
/// arrive, each sender's in its order.
#[test]
fn concurrent_sends_on_one_channel_do_not_panic_and_keep_each_senders_order() {
    let _w = watchdog("concurrent_sends", LIMIT);
    const THREADS: u64 = 4;
    const ROUNDS: u64 = 5_000;
    let (a, b) = conn_pair(
        vec![ChannelDescriptor::new(0x01, 1)],
        MConnConfig::default(),
    );
    let start = Arc::new(std::sync::Barrier::new(THREADS as usize + 1));
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let (conn, start) = (a.conn.clone(), start.clone());
            thread::spawn(move || {
                for seq in 0..ROUNDS {
                    start.wait();
                    let mut m = t.to_be_bytes().to_vec();
                    m.extend_from_slice(&seq.to_be_bytes());
                    conn.send(0x01, m).expect("send");
                }
            })
        })
        .collect();
    let mut next = [0u64; THREADS as usize];
    for _ in 0..ROUNDS {
        start.wait();
        // The round's four messages arrive before the next round starts, so each round
        // begins on an idle connection.
        for _ in 0..THREADS {
            let (_, m) = b
                .received
                .recv_timeout(Duration::from_secs(30))
                .expect("message");
            let t = u64::from_be_bytes(m[..8].try_into().unwrap()) as usize;
            let seq = u64::from_be_bytes(m[8..16].try_into().unwrap());
            assert_eq!(seq, next[t], "sender {t} out of order");
            next[t] += 1;
        }
    }
    for s in senders {
        s.join().expect("a sender panicked");
    }
    assert!(a.errors.try_recv().is_err() && b.errors.try_recv().is_err());
}

/// Review B8: a transport whose closer panics made `stop()` panic, and left the
/// connection running with its send thread never woken.
#[test]
fn a_panicking_closer_does_not_escape_stop() {
    let _w = watchdog("panicking_closer", LIMIT);
    let (ours, theirs) = tcp_pair();
    let t = Transport::new(ours.try_clone().unwrap(), ours, || panic!("closer bug"));
    let a = start_on(t, chans(), MConnConfig::default());
    let c = a.conn.clone();
    let stopper = thread::spawn(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.stop())).is_ok()
    });
    // The closer could not close the socket: the reader ends when the peer closes.
    assert!(wait_until(Duration::from_secs(30), || !a.conn.is_running()));
    drop(theirs);
    assert!(stopper.join().unwrap(), "stop() panicked");
    assert!(matches!(
        a.conn.try_send(0x01, "x"),
        Err(TrySendError::Closed(_))
    ));
    a.conn.stop();
}
