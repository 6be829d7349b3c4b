//! MConnections over SecretConnection transports (`into_transport`) on both ends:
//! messages of every size both ways, a slow receiver behind a 1 ms write timeout, a
//! forged frame reported as the specific error, and (ignored, run by hand in release)
//! a throughput comparison with plain TCP.
#![cfg(feature = "secret-connection")]

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::unbounded;
use mconn::{ChannelDescriptor, ChannelId, Error, MConnConfig, MConnection, SecretError};
use support::secret::secret_pair;
use support::{conn_pair, pattern, start_on, watchdog, TestConn};

const LIMIT: Duration = Duration::from_secs(120);

/// The protocol's sealed frame size on the wire: a 16-byte Poly1305 tag and the
/// encrypted 1026-byte padded plaintext (2-byte length + 1024 data bytes) = 1042. Not
/// public API, so restated here.
const SEALED_FRAME_SIZE: usize = 1042;

fn secret_conn_pair(chans: Vec<ChannelDescriptor>, cfg: MConnConfig) -> (TestConn, TestConn) {
    let (a, b, _, _) = secret_pair();
    (
        start_on(
            a.into_transport().expect("transport"),
            chans.clone(),
            cfg.clone(),
        ),
        start_on(b.into_transport().expect("transport"), chans, cfg),
    )
}

fn expect_messages(c: &TestConn, msgs: &[Bytes], who: &str) {
    for (i, m) in msgs.iter().enumerate() {
        let (ch, got) = c
            .received
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{who}: message {i} ({} bytes) not delivered", m.len()));
        assert_eq!(ch, 0x01);
        assert!(got == *m, "{who}: message {i} ({} bytes) differs", m.len());
    }
}

#[test]
fn every_size_both_ways_over_secret_transports() {
    let _w = watchdog("every_size_both_ways_over_secret_transports", LIMIT);
    let chans = vec![ChannelDescriptor::new(0x01, 1).send_queue_capacity(8)];
    let (a, b) = secret_conn_pair(chans, MConnConfig::default());
    assert!(a.conn.peer_addr().is_some());
    let sizes = [0usize, 1, 1024, 3000, 1 << 20];
    let msgs: Vec<Bytes> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| Bytes::from(pattern(i as u64, n)))
        .collect();
    // Both directions at once, twice.
    for _ in 0..2 {
        let (ca, cb) = (a.conn.clone(), b.conn.clone());
        let (ma, mb) = (msgs.clone(), msgs.clone());
        let ta = thread::spawn(move || ma.into_iter().for_each(|m| ca.send(0x01, m).unwrap()));
        let tb = thread::spawn(move || mb.into_iter().for_each(|m| cb.send(0x01, m).unwrap()));
        expect_messages(&b, &msgs, "b");
        expect_messages(&a, &msgs, "a");
        ta.join().unwrap();
        tb.join().unwrap();
    }
    let total: usize = sizes.iter().sum::<usize>() * 2;
    let st = b.conn.status();
    assert_eq!(st.channels[0].bytes_received, total as u64);
    assert!(a.errors.try_recv().is_err() && b.errors.try_recv().is_err());
    a.conn.stop();
    b.conn.stop();
}

#[test]
fn a_slow_receiver_behind_a_1ms_write_timeout_loses_nothing() {
    let _w = watchdog("a_slow_receiver_behind_a_1ms_write_timeout", LIMIT);
    let chans = vec![ChannelDescriptor::new(0x01, 1).send_queue_capacity(4)];
    let (a, b, _, _) = secret_pair();
    let ta = a
        .into_transport_with_write_timeout(Duration::from_millis(1))
        .expect("transport");
    let a = start_on(ta, chans.clone(), MConnConfig::default());
    // b's callback stalls now and then, so a's socket fills up and its writes time out.
    let (rtx, received) = unbounded::<(ChannelId, Bytes)>();
    let count = Arc::new(AtomicU64::new(0));
    let c2 = count.clone();
    let b_conn = MConnection::with_transport(
        b.into_transport().expect("transport"),
        chans,
        MConnConfig::default(),
        move |ch, msg| {
            if c2.fetch_add(1, Ordering::Relaxed) % 64 == 0 {
                thread::sleep(Duration::from_millis(100));
            }
            let _ = rtx.send((ch, msg));
        },
        |_| {},
    )
    .expect("start b");
    let msgs: Vec<Bytes> = (0..256u64)
        .map(|i| Bytes::from(pattern(i, 64 * 1024 + i as usize)))
        .collect();
    let ca = a.conn.clone();
    let m2 = msgs.clone();
    let sender = thread::spawn(move || m2.into_iter().for_each(|m| ca.send(0x01, m).unwrap()));
    for (i, m) in msgs.iter().enumerate() {
        let (_, got) = received
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("message {i} not delivered"));
        assert!(got == *m, "message {i} differs");
    }
    sender.join().unwrap();
    assert!(a.errors.try_recv().is_err());
    a.conn.stop();
    b_conn.stop();
}

#[test]
fn a_forged_frame_stops_the_connection_with_frame_auth_failed() {
    let _w = watchdog("a_forged_frame_stops_the_connection", LIMIT);
    let (a, b, _, _) = secret_pair();
    let chans = vec![ChannelDescriptor::new(0x01, 1)];
    let a = start_on(
        a.into_transport().expect("transport"),
        chans,
        MConnConfig::default(),
    );
    // b writes 1042 bytes of garbage straight onto the socket.
    let raw: &TcpStream = b.get_ref();
    let mut raw = raw;
    raw.write_all(&[0x5a; SEALED_FRAME_SIZE]).unwrap();
    match a.errors.recv_timeout(Duration::from_secs(10)) {
        Ok(Error::Secret(SecretError::FrameAuthFailed)) => {}
        other => panic!("expected FrameAuthFailed, got {other:?}"),
    }
    assert!(!a.conn.is_running());
    drop(b);
}

#[test]
fn stopping_one_end_closes_the_other() {
    let _w = watchdog("stopping_one_end_closes_the_other", LIMIT);
    let chans = vec![ChannelDescriptor::new(0x01, 1)];
    let (a, b) = secret_conn_pair(chans, MConnConfig::default());
    a.conn.send(0x01, Bytes::from_static(b"bye")).unwrap();
    let (_, got) = b.received.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(got, "bye");
    a.conn.stop();
    assert!(
        b.errors.recv_timeout(Duration::from_secs(10)).is_ok(),
        "b noticed the close"
    );
    assert!(!b.conn.is_running());
}

/// Sends `total` bytes in 64 KiB messages from `a` to `b` and returns the seconds taken
/// until the last byte was delivered.
fn pump(a: &MConnection, received: &crossbeam_channel::Receiver<(ChannelId, Bytes)>) -> f64 {
    const TOTAL: usize = 256 << 20;
    const MSG: usize = 64 << 10;
    let msg = Bytes::from(pattern(5, MSG));
    let start = Instant::now();
    let a = a.clone();
    let m = msg.clone();
    let sender = thread::spawn(move || {
        for _ in 0..TOTAL / MSG {
            a.send(0x01, m.clone()).unwrap();
        }
    });
    let mut got = 0;
    while got < TOTAL {
        let (_, b) = received
            .recv_timeout(Duration::from_secs(60))
            .expect("delivered");
        got += b.len();
    }
    let secs = start.elapsed().as_secs_f64();
    sender.join().unwrap();
    secs
}

/// `cargo test --release --test secret_mconn -- --ignored --nocapture`
#[test]
#[ignore = "throughput measurement; run by hand in release"]
fn throughput_secret_vs_plain_tcp() {
    let _w = watchdog("throughput_secret_vs_plain_tcp", Duration::from_secs(600));
    let chans = vec![ChannelDescriptor::new(0x01, 1).send_queue_capacity(16)];
    let (a, b) = conn_pair(chans.clone(), MConnConfig::default());
    let plain = pump(&a.conn, &b.received);
    a.conn.stop();
    b.conn.stop();
    let (a, b) = secret_conn_pair(chans, MConnConfig::default());
    let secret = pump(&a.conn, &b.received);
    a.conn.stop();
    b.conn.stop();
    let mib = 256.0;
    eprintln!(
        "256 MiB in 64 KiB messages: plain TCP {plain:.2} s ({:.0} MiB/s), \
         secret {secret:.2} s ({:.0} MiB/s)",
        mib / plain,
        mib / secret
    );
}

/// A go-wire msgPacket carrying a whole message on channel 0x01 (payload <= 1024).
fn msg_packet(payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x03, 0x01, 0x01];
    let len = payload.len();
    if len < 256 {
        p.extend_from_slice(&[0x01, len as u8]);
    } else {
        p.extend_from_slice(&[0x02, (len >> 8) as u8, len as u8]);
    }
    p.extend_from_slice(payload);
    p
}

#[test]
fn bytes_left_by_a_stalled_write_reach_the_peer_through_the_transport() {
    let _w = watchdog("bytes_left_by_a_stalled_write", LIMIT);
    let (mut a, b, _, _) = secret_pair();
    a.get_ref()
        .set_write_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    // Nobody reads b yet: write packets until the socket is full and a write stalls.
    let mut sent = Vec::new();
    let stalled = loop {
        let payload = pattern(sent.len() as u64, 1000);
        match a.write(&msg_packet(&payload)) {
            Ok(n) => {
                assert_eq!(n, 1006, "a packet fits one write");
                sent.push(Bytes::from(payload));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break true,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break true,
            Err(e) => panic!("write: {e}"),
        }
        if sent.len() > 200_000 {
            break false;
        }
    };
    assert!(stalled, "the socket never filled up");
    assert!(format!("{a:?}").contains("unwritten: true"));
    let chans = vec![ChannelDescriptor::new(0x01, 1)];
    let a = start_on(
        a.into_transport().expect("transport"),
        chans.clone(),
        MConnConfig::default(),
    );
    let b = start_on(
        b.into_transport().expect("transport"),
        chans,
        MConnConfig::default(),
    );
    // a's first write pushes out whatever was still buffered, then its own message.
    a.conn.send(0x01, Bytes::from_static(b"last")).unwrap();
    sent.push(Bytes::from_static(b"last"));
    expect_messages(&b, &sent, "b");
    assert!(a.errors.try_recv().is_err() && b.errors.try_recv().is_err());
}
