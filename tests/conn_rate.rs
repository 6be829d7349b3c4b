//! Send and receive rate limits: a limited direction takes at least as long as the limit
//! allows, and only the limited thread waits.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use mconn::{ChannelDescriptor, MConnConfig};
use support::*;

const RATE: u64 = 200_000; // bytes per second

fn chans() -> Vec<ChannelDescriptor> {
    vec![ChannelDescriptor::new(0x01, 1).send_queue_capacity(8)]
}

#[test]
fn send_rate_limits_only_the_send_thread() {
    let _w = watchdog("send_rate", Duration::from_secs(60));
    let (a_sock, b_sock) = tcp_pair();
    let a = start(
        a_sock,
        chans(),
        MConnConfig::default().send_rate(Some(RATE)),
    );
    let b = start(b_sock, chans(), MConnConfig::default());
    let msg = Bytes::from(vec![5u8; 600_000]);
    let t = Instant::now();
    a.conn
        .try_send(0x01, msg.clone())
        .expect("queued without waiting");
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "try_send did not wait for the limit"
    );
    // Meanwhile the limited side still receives at full speed.
    b.conn.send(0x01, vec![1u8; 1_000_000]).unwrap();
    let (_, m) = a
        .received
        .recv_timeout(Duration::from_secs(2))
        .expect("receiving is not limited");
    assert_eq!(m.len(), 1_000_000);
    let (_, got) = b
        .received
        .recv_timeout(Duration::from_secs(20))
        .expect("limited message arrives");
    assert!(got == msg);
    let took = t.elapsed();
    // 600 kB at 200 kB/s, less the initial burst of a tenth of a second: at least 2.5 s.
    assert!(took >= Duration::from_millis(2500), "took {took:?}");
    let rate = a.conn.status().send_rate;
    assert!(
        rate > 0.0 && rate < 2.0 * RATE as f64,
        "measured send rate {rate}"
    );
}

#[test]
fn recv_rate_limits_reading() {
    let _w = watchdog("recv_rate", Duration::from_secs(60));
    let (a_sock, b_sock) = tcp_pair();
    let a = start(a_sock, chans(), MConnConfig::default());
    let b = start(
        b_sock,
        chans(),
        MConnConfig::default().recv_rate(Some(RATE)),
    );
    let t = Instant::now();
    a.conn.send(0x01, vec![9u8; 600_000]).unwrap();
    let (_, got) = b
        .received
        .recv_timeout(Duration::from_secs(20))
        .expect("arrives");
    assert_eq!(got.len(), 600_000);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(2500), "took {took:?}");
    // The limited side's sending is not limited.
    let t = Instant::now();
    b.conn.send(0x01, vec![3u8; 1_000_000]).unwrap();
    a.received
        .recv_timeout(Duration::from_secs(2))
        .expect("sending is not limited");
    assert!(t.elapsed() < Duration::from_secs(2));
}
