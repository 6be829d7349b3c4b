//! Keepalive over loopback against a raw-socket peer (Go's ping/pong tests), with
//! ping_interval 90 ms and pong_timeout 45 ms where timing matters.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mconn::wire::{self, PacketRef};
use mconn::{Error, MConnConfig};
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

fn fast_keepalive() -> MConnConfig {
    MConnConfig::default()
        .ping_interval(Duration::from_millis(90))
        .pong_timeout(Duration::from_millis(45))
}

fn read_byte(s: &mut TcpStream) -> std::io::Result<u8> {
    let mut b = [0u8; 1];
    s.read_exact(&mut b)?;
    Ok(b[0])
}

#[test]
fn silent_peer_after_our_ping_is_a_pong_timeout() {
    let _w = watchdog("silent_peer", LIMIT);
    let (ours, mut peer) = tcp_pair();
    let t = Instant::now();
    let c = start(ours, vector_channels(), fast_keepalive());
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(read_byte(&mut peer).unwrap(), 0x01, "our ping");
    let pinged = t.elapsed();
    assert!(
        pinged >= Duration::from_millis(90),
        "ping only after ping_interval ({pinged:?})"
    );
    let e = c
        .errors
        .recv_timeout(Duration::from_secs(5))
        .expect("stops");
    assert!(matches!(e, Error::PongTimeout), "{e}");
    let total = t.elapsed();
    assert!(
        total >= Duration::from_millis(135),
        "not before ping_interval + pong_timeout: {total:?}"
    );
    assert!(!c.conn.is_running());
}

#[test]
fn unsolicited_pongs_are_harmless() {
    let _w = watchdog("unsolicited_pongs", LIMIT);
    let (ours, mut peer) = tcp_pair();
    let c = start(ours, vector_channels(), fast_keepalive());
    peer.write_all(&[0x02, 0x02, 0x02]).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Then behave: answer our pings for a few intervals.
    let t = Instant::now();
    let mut pings = 0;
    while t.elapsed() < Duration::from_millis(500) {
        assert_eq!(read_byte(&mut peer).unwrap(), 0x01);
        pings += 1;
        peer.write_all(&[0x02]).unwrap();
    }
    assert!(pings >= 3, "{pings} pings");
    assert!(c.conn.is_running());
    assert!(c.errors.try_recv().is_err());
}

#[test]
fn each_ping_gets_a_pong() {
    let _w = watchdog("each_ping_gets_a_pong", LIMIT);
    let (ours, mut peer) = tcp_pair();
    let c = start(ours, vector_channels(), MConnConfig::default());
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for i in 0..3 {
        peer.write_all(&[0x01]).unwrap();
        assert_eq!(read_byte(&mut peer).unwrap(), 0x02, "pong {i}");
    }
    // And no extra pong.
    peer.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut b = [0u8; 1];
    assert!(
        matches!(peer.read(&mut b), Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
    );
    assert!(c.conn.is_running());
}

#[test]
fn ping_pong_over_several_intervals_keeps_it_running() {
    let _w = watchdog("ping_pong_intervals", LIMIT);
    let (ours, mut peer) = tcp_pair();
    let c = start(ours, vector_channels(), fast_keepalive());
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for _ in 0..6 {
        assert_eq!(read_byte(&mut peer).unwrap(), 0x01, "our ping");
        std::thread::sleep(Duration::from_millis(10)); // a slow but timely peer
        peer.write_all(&[0x02]).unwrap();
    }
    assert!(c.conn.is_running());
    assert!(c.errors.try_recv().is_err());
}

#[test]
fn a_ping_flood_gets_few_pongs_and_messages_still_flow() {
    let _w = watchdog("ping_flood", LIMIT);
    let (ours, mut peer) = tcp_pair();
    let c = start(ours, vector_channels(), MConnConfig::default());
    let t = Instant::now();
    let mut flood = vec![0x01u8; 100_000];
    flood.extend_from_slice(&[0x03, 0x01, 0x01, 0x01, 0x05]);
    flood.extend_from_slice(b"after");
    let mut w = peer.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&flood));
    let (ch, m) = c
        .received
        .recv_timeout(Duration::from_secs(10))
        .expect("message after the flood");
    assert_eq!((ch, &m[..]), (0x01, &b"after"[..]));
    writer.join().unwrap().unwrap();
    c.conn.send(0x01, "through").unwrap();

    // Read what we wrote back: pongs, then our message; then wait for stragglers.
    peer.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = Vec::new();
    let mut pongs = 0usize;
    let mut got_msg = false;
    let mut chunk = [0u8; 4096];
    loop {
        match peer.read(&mut chunk) {
            Ok(0) => panic!("closed"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if got_msg {
                    break;
                }
                continue;
            }
            Err(e) => panic!("{e}"),
        }
        let mut rest = &buf[..];
        while let Some((p, used)) = wire::decode_packet(rest, 1034).unwrap() {
            match p {
                PacketRef::Pong => pongs += 1,
                PacketRef::Msg { payload, .. } => {
                    assert_eq!(payload, b"through");
                    got_msg = true;
                }
                PacketRef::Ping => panic!("no ping expected"),
            }
            rest = &rest[used..];
        }
        let used = buf.len() - rest.len();
        buf.drain(..used);
    }
    let secs = t.elapsed().as_secs_f64();
    // The documented bound: 5 back to back, then 10 per second.
    let bound = 5 + (secs * 10.0).ceil() as usize + 1;
    assert!(pongs >= 1, "pings are answered");
    assert!(
        pongs <= bound,
        "{pongs} pongs for 100000 pings in {secs:.2}s (bound {bound})"
    );
    assert!(c.conn.is_running());
    eprintln!("100000 pings -> {pongs} pongs in {secs:.2}s");
}

#[test]
fn the_round_trip_runs_from_our_ping_to_the_peers_pong() {
    let _w = watchdog("rtt_measured", LIMIT);
    let (ours, mut peer) = tcp_pair();
    let config = MConnConfig::default()
        .ping_interval(Duration::from_millis(300))
        .pong_timeout(Duration::from_millis(290));
    let c = start(ours, vector_channels(), config);
    assert_eq!(c.conn.status().rtt, None, "nothing measured before a ping");
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(read_byte(&mut peer).unwrap(), 0x01, "our ping");
    let held = Duration::from_millis(120);
    std::thread::sleep(held); // the peer is slow to answer: that is what is measured
    peer.write_all(&[0x02]).unwrap();
    assert!(
        wait_until(LIMIT, || c.conn.status().rtt.is_some()),
        "a round trip is measured"
    );
    let s = c.conn.status();
    let rtt = s.rtt.unwrap();
    assert!(
        rtt >= held && rtt < Duration::from_millis(290),
        "{rtt:?}: at least the peer's delay, less than the pong timeout"
    );
    assert!(s.pings_sent >= 1 && s.pongs_received == 1, "{s:?}");
    assert!(c.conn.is_running());
}

#[test]
fn pongs_nobody_asked_for_measure_no_round_trip() {
    let _w = watchdog("unasked_pongs_rtt", LIMIT);
    let (ours, mut peer) = tcp_pair();
    // The default 60 s interval: no ping of ours goes out during this test.
    let c = start(ours, vector_channels(), MConnConfig::default());
    peer.write_all(&[0x02, 0x02, 0x02]).unwrap();
    assert!(wait_until(LIMIT, || c.conn.status().pongs_received == 3));
    let s = c.conn.status();
    assert_eq!((s.pings_sent, s.rtt), (0, None), "{s:?}");
}

#[test]
fn a_busy_connection_still_pings_and_measures_its_round_trip() {
    let _w = watchdog("busy_rtt", LIMIT);
    let config = fast_keepalive();
    let (a, b) = conn_pair(vector_channels(), config);
    // Messages flow both ways without a pause, so neither side is ever silent for an
    // interval; pings must go out anyway.
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < Duration::from_millis(600) || a.conn.status().rtt.is_none() {
        assert!(
            start.elapsed() < LIMIT,
            "no round trip measured on a busy link"
        );
        a.conn.send(0x01, vec![7u8; 100]).unwrap();
        b.conn.send(0x02, vec![8u8; 100]).unwrap();
        sent += 1;
        while a.received.try_recv().is_ok() || b.received.try_recv().is_ok() {}
    }
    let (sa, sb) = (a.conn.status(), b.conn.status());
    assert!(
        sa.pings_sent >= 3,
        "{} pings in 600 ms of traffic",
        sa.pings_sent
    );
    assert!(sa.rtt.is_some() && sb.pings_received >= 1 && sb.pongs_sent >= 1);
    assert!(sent > 0 && a.conn.is_running() && b.conn.is_running());
}
