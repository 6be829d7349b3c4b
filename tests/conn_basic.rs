//! MConnection over loopback: exact bytes, round trips, errors, try_send, flush_stop and
//! stop from inside callbacks (the behaviour of Go's connection_test.go).

mod support;

use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mconn::{
    ChannelDescriptor, Error, MConnConfig, MConnection, SendError, TrySendError, WeakMConnection,
};
use support::vectors::{load, Vector};
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn send_writes_the_exact_vector_bytes() {
    let _w = watchdog("send_writes_the_exact_vector_bytes", LIMIT);
    let (ours, mut peer) = tcp_pair();
    let c = start(ours, vector_channels(), MConnConfig::default());
    let mut n = 0;
    for v in load() {
        let Vector::Send {
            channel,
            message,
            wire,
        } = v
        else {
            continue;
        };
        c.conn.send(channel, message.clone()).expect("send");
        let mut got = vec![0u8; wire.len()];
        peer.read_exact(&mut got).expect("read what was sent");
        assert_eq!(got, wire, "message of {} bytes", message.len());
        n += 1;
    }
    assert_eq!(n, 11);
    // Same through the queue (try_send never writes directly).
    for v in load() {
        let Vector::Send {
            channel,
            message,
            wire,
        } = v
        else {
            continue;
        };
        c.conn.try_send(channel, message).expect("try_send");
        let mut got = vec![0u8; wire.len()];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(got, wire);
    }
    c.conn.stop();
}

#[test]
fn unknown_channel_hands_the_message_back_and_status_starts_empty() {
    let _w = watchdog("unknown_channel", LIMIT);
    let (a, _b) = conn_pair(vector_channels(), MConnConfig::default());
    let st = a.conn.status();
    assert!(st.running);
    assert_eq!(st.channels.len(), 2);
    for ch in &st.channels {
        assert_eq!(ch.send_queue_size, 0);
        assert_eq!(ch.send_queue_capacity, 1);
        assert_eq!(
            (ch.messages_sent, ch.messages_received, ch.recently_sent),
            (0, 0, 0)
        );
    }
    assert_eq!((st.channels[0].id, st.channels[0].priority), (1, 1));
    assert_eq!((st.channels[1].id, st.channels[1].priority), (2, 5));
    match a.conn.send(0x07, "hi") {
        Err(SendError::UnknownChannel(0x07, m)) => assert_eq!(m, "hi"),
        other => panic!("{other:?}"),
    }
    match a.conn.try_send(0x07, "hi") {
        Err(e @ TrySendError::UnknownChannel(..)) => assert_eq!(e.into_inner(), "hi"),
        other => panic!("{other:?}"),
    }
    assert!(!a.conn.can_send(0x07));
    assert!(a.conn.can_send(0x01));
}

#[test]
fn round_trips_of_every_size() {
    let _w = watchdog("round_trips_of_every_size", Duration::from_secs(120));
    let chans = vec![ChannelDescriptor::new(0x01, 1).send_queue_capacity(4)];
    let (a, b) = conn_pair(chans, MConnConfig::default());
    let sizes = [0usize, 1, 1023, 1024, 1025, 3000, 1 << 20, 22_020_096];
    for (i, &len) in sizes.iter().enumerate() {
        let msg = Bytes::from(pattern(i as u64, len));
        a.conn.send(0x01, msg.clone()).expect("send");
        let (ch, got) = b
            .received
            .recv_timeout(Duration::from_secs(30))
            .expect("delivered");
        assert_eq!(ch, 0x01);
        assert_eq!(got.len(), len);
        assert!(got == msg, "content of the {len}-byte message");
        // And back the other way, through the queue.
        b.conn
            .try_send(0x01, msg.clone())
            .or_else(|e| b.conn.send(0x01, e.into_inner()))
            .unwrap();
        let (_, back) = a
            .received
            .recv_timeout(Duration::from_secs(30))
            .expect("echoed");
        assert!(back == msg);
    }
    let st = b.conn.status();
    assert_eq!(st.channels[0].messages_received, sizes.len() as u64);
    assert_eq!(
        st.channels[0].bytes_received,
        sizes.iter().sum::<usize>() as u64
    );
    assert!(a.errors.try_recv().is_err() && b.errors.try_recv().is_err());
}

#[test]
fn peer_closing_its_socket_is_an_error_within_500ms() {
    let _w = watchdog("peer_closing", LIMIT);
    let (ours, peer) = tcp_pair();
    let c = start(ours, vector_channels(), MConnConfig::default());
    let t = Instant::now();
    drop(peer);
    let err = c
        .errors
        .recv_timeout(Duration::from_millis(500))
        .expect("on_error within 500 ms");
    assert!(matches!(err, Error::PeerClosed), "{err}");
    assert!(t.elapsed() < Duration::from_millis(500));
    assert!(!c.conn.is_running());
    assert!(c.received.try_recv().is_err(), "no on_receive");
    assert!(
        c.errors.recv_timeout(Duration::from_millis(100)).is_err(),
        "on_error once"
    );
    // Afterwards sends hand the message back.
    assert!(matches!(c.conn.send(0x01, "x"), Err(SendError::Closed(m)) if m == "x"));
    assert!(matches!(c.conn.try_send(0x01, "y"), Err(TrySendError::Closed(m)) if m == "y"));
}

#[test]
fn try_send_succeeds_exactly_as_often_as_queue_and_in_flight_allow() {
    let _w = watchdog("try_send_capacity", LIMIT);
    // The peer reads nothing. Messages larger than every socket buffer make "in flight"
    // exact: the first one is being written and cannot finish.
    let (ours, _peer) = tcp_pair();
    let chans = vec![ChannelDescriptor::new(0x01, 1)];
    let c = start(ours, chans, MConnConfig::default());
    let big = Bytes::from(vec![0xAB; 22_020_096]);
    assert!(c.conn.can_send(0x01));
    c.conn
        .try_send(0x01, big.clone())
        .expect("first: taken by the send thread");
    assert!(
        wait_until(Duration::from_secs(10), || c.conn.status().channels[0]
            .send_queue_size
            == 0),
        "the send thread takes the first message"
    );
    assert!(c.conn.can_send(0x01));
    c.conn
        .try_send(0x01, big.clone())
        .expect("second: waits in the queue");
    assert!(!c.conn.can_send(0x01));
    match c.conn.try_send(0x01, big.clone()) {
        Err(TrySendError::Full(m)) => assert_eq!(m.len(), big.len()),
        other => panic!("third must be Full, got {other:?}"),
    }
    // send waits send_timeout and hands the message back too.
    let c2 = {
        let (ours, _peer2) = tcp_pair();
        let cfg = MConnConfig::default().send_timeout(Duration::from_millis(100));
        let c2 = start(ours, vec![ChannelDescriptor::new(0x01, 1)], cfg);
        c2.conn.try_send(0x01, big.clone()).unwrap();
        assert!(wait_until(Duration::from_secs(10), || c2
            .conn
            .status()
            .channels[0]
            .send_queue_size
            == 0));
        c2.conn.try_send(0x01, big.clone()).unwrap();
        let t = Instant::now();
        match c2.conn.send(0x01, "late") {
            Err(SendError::Timeout(m)) => assert_eq!(m, "late"),
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed() >= Duration::from_millis(100));
        c2
    };
    c2.conn.stop();
    c.conn.stop();
}

#[test]
fn flush_stop_delivers_everything_queued() {
    let _w = watchdog("flush_stop", LIMIT);
    let chans = vec![ChannelDescriptor::new(0x01, 1).send_queue_capacity(1000)];
    let (a, b) = conn_pair(chans, MConnConfig::default());
    for i in 0..1000u64 {
        a.conn
            .try_send(0x01, pattern(i, 3000))
            .expect("queue has room");
    }
    a.conn.flush_stop();
    assert!(!a.conn.is_running());
    assert!(matches!(
        a.conn.send(0x01, "after"),
        Err(SendError::Closed(_))
    ));
    for i in 0..1000u64 {
        let (_, m) = b
            .received
            .recv_timeout(Duration::from_secs(10))
            .expect("every queued message");
        assert_eq!(&m[..], &pattern(i, 3000)[..], "message {i}");
    }
    // Then b sees the close.
    let e = b
        .errors
        .recv_timeout(Duration::from_secs(5))
        .expect("b notices the close");
    assert!(matches!(e, Error::PeerClosed | Error::Io(_)), "{e}");
    assert!(a.errors.try_recv().is_err(), "a local stop is not an error");
}

#[test]
fn stop_from_inside_on_receive_returns() {
    let _w = watchdog("stop_inside_on_receive", LIMIT);
    let (ours, mut peer) = tcp_pair();
    let me: Arc<OnceLock<WeakMConnection>> = Arc::new(OnceLock::new());
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let m = me.clone();
    let conn = MConnection::new(
        ours,
        vector_channels(),
        MConnConfig::default(),
        move |_, _| {
            if let Some(c) = m.get().and_then(|w| w.upgrade()) {
                c.stop();
                let _ = done_tx.send(c.is_running());
            }
        },
        |_| {},
    )
    .unwrap();
    me.set(conn.downgrade()).unwrap();
    peer.write_all(&[0x03, 0x01, 0x01, 0x01, 0x01, b'x'])
        .unwrap();
    assert_eq!(
        done_rx.recv_timeout(Duration::from_secs(5)),
        Ok(false),
        "stop returned inside on_receive"
    );
    conn.stop();
}

#[test]
fn stop_from_inside_on_error_returns() {
    let _w = watchdog("stop_inside_on_error", LIMIT);
    let (ours, peer) = tcp_pair();
    let me: Arc<OnceLock<MConnection>> = Arc::new(OnceLock::new());
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let m = me.clone();
    let conn = MConnection::new(
        ours,
        vector_channels(),
        MConnConfig::default(),
        |_, _| {},
        move |e| {
            if let Some(c) = m.get() {
                c.stop();
                c.stop();
                let _ = done_tx.send(e.to_string());
            }
        },
    )
    .unwrap();
    let _ = me.set(conn.clone());
    drop(peer);
    let why = done_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("stop returned inside on_error");
    assert!(why.contains("closed"), "{why}");
    conn.stop();
}

#[test]
fn dropping_the_last_handle_stops_the_connection() {
    let _w = watchdog("drop_stops", LIMIT);
    let (ours, mut peer) = tcp_pair();
    let c = start(ours, vector_channels(), MConnConfig::default());
    drop(c.conn);
    let mut buf = [0u8; 1];
    // Our side shut down: the peer reads end of stream.
    assert_eq!(peer.read(&mut buf).unwrap(), 0);
}
