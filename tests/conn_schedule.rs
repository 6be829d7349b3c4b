//! Scheduling over loopback: priorities share the bandwidth, and many messages on several
//! channels arrive exactly once, in order per channel.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mconn::{ChannelDescriptor, MConnConfig};
use support::*;

#[test]
fn saturated_channels_share_bytes_by_priority() {
    let _w = watchdog("priority_ratio", Duration::from_secs(120));
    let chans = vec![
        ChannelDescriptor::new(0x01, 1).send_queue_capacity(1024),
        ChannelDescriptor::new(0x02, 4).send_queue_capacity(1024),
    ];
    let (a, b) = conn_pair(chans, MConnConfig::default());
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let senders: Vec<_> = [0x01u8, 0x02]
        .into_iter()
        .map(|ch| {
            let conn = a.conn.clone();
            let stop = stop.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                // Large messages (one send() per 64 packets) and deep queues (64 MiB of
                // clones of one buffer), so a producer descheduled for a while on a busy
                // two-core machine does not let its queue run dry: both stay saturated.
                let msg = Bytes::from(vec![ch; 64 * 1024]);
                while !stop.load(Ordering::Relaxed) {
                    if conn.send(ch, msg.clone()).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    // The scheduler balances cumulative bytes, so if one producer got going first, the
    // other is repaid with a burst of its own before the channels interleave. Steady state
    // begins at the second switch between channels; count 32 MiB from there.
    let counted = bytes_by_channel(&b.received, 32 << 20, |_, switches| switches > 2);
    stop.store(true, Ordering::Relaxed);
    a.conn.stop();
    for s in senders {
        s.join().unwrap();
    }
    let ratio = counted[2] as f64 / counted[1] as f64;
    eprintln!(
        "priority 4 : priority 1 = {ratio:.3} over {} bytes",
        counted[1] + counted[2]
    );
    assert!(
        (3.6..=4.4).contains(&ratio),
        "ratio {ratio:.3}, want 4 within 10%"
    );
}

/// Size of message `seq` on channel `ch`: deterministic, 0 to 2500 bytes.
fn size_of(ch: u8, seq: u64) -> usize {
    let mut r = Rng(seq.wrapping_mul(31).wrapping_add(ch as u64) | 1);
    r.next();
    r.below(2501) as usize
}

fn message(ch: u8, seq: u64) -> Vec<u8> {
    let len = size_of(ch, seq);
    let mut m = vec![(seq % 251) as u8; len];
    if len >= 8 {
        m[..8].copy_from_slice(&seq.to_be_bytes());
    }
    m
}

#[test]
fn many_random_messages_arrive_once_in_order_per_channel() {
    let _w = watchdog("many_random_messages", Duration::from_secs(300));
    const PER_CHANNEL: u64 = 33_334; // three channels: 100 002 messages
    let chans = vec![
        ChannelDescriptor::new(0x01, 1).send_queue_capacity(16),
        ChannelDescriptor::new(0x02, 3).send_queue_capacity(1),
        ChannelDescriptor::new(0x03, 7).send_queue_capacity(100),
    ];
    let (a, b) = conn_pair(chans, MConnConfig::default());
    let senders: Vec<_> = [0x01u8, 0x02, 0x03]
        .into_iter()
        .map(|ch| {
            let conn = a.conn.clone();
            std::thread::spawn(move || {
                for seq in 0..PER_CHANNEL {
                    // Mix the blocking and the non-blocking call.
                    let msg = message(ch, seq);
                    if seq % 2 == 0 {
                        conn.send(ch, msg).expect("send");
                    } else if let Err(e) = conn.try_send(ch, msg) {
                        conn.send(ch, e.into_inner()).expect("send after Full");
                    }
                }
            })
        })
        .collect();
    let mut next = [0u64; 4];
    for _ in 0..3 * PER_CHANNEL {
        let (ch, m) = b
            .received
            .recv_timeout(Duration::from_secs(30))
            .expect("delivered");
        let seq = next[ch as usize];
        assert_eq!(&m[..], &message(ch, seq)[..], "channel {ch} message {seq}");
        next[ch as usize] += 1;
    }
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!(&next[1..], &[PER_CHANNEL; 3]);
    assert!(
        b.received.recv_timeout(Duration::from_millis(200)).is_err(),
        "nothing extra"
    );
    let st = a.conn.status();
    for ch in &st.channels {
        assert_eq!(ch.messages_sent, PER_CHANNEL);
        assert_eq!(ch.send_queue_size, 0);
    }
}
