//! A peer that streams a never-ending message (msg packets with eof=0 forever on one
//! channel): we hold at most `recv_message_capacity` for it plus fixed buffers, then stop
//! with `MessageTooLarge`, and the memory goes back when the connection is dropped.
//!
//! One test in its own binary, so other tests' allocations do not blur the RSS figures.

mod support;

use std::io::Write;
use std::thread;
use std::time::Duration;

use mconn::{ChannelDescriptor, Error, MConnConfig};
use support::*;

const MIB: u64 = 1024 * 1024;

#[test]
fn a_never_ending_message_is_bounded_by_recv_message_capacity() {
    let _w = watchdog("never_ending_message", Duration::from_secs(180));
    let cap = 64 * MIB as usize;
    let chans = vec![ChannelDescriptor::new(0x01, 1).recv_message_capacity(cap)];
    // Warm up: one connection's worth of threads, buffers and lazy statics.
    {
        let (ours, mut peer) = tcp_pair();
        let c = start(ours, chans.clone(), MConnConfig::default());
        peer.write_all(&[0x03, 0x01, 0x01, 0x01, 0x01, b'x'])
            .unwrap();
        c.received.recv_timeout(Duration::from_secs(10)).unwrap();
        c.conn.stop();
    }
    let rss0 = status_bytes("VmRSS:");
    let (ours, mut peer) = tcp_pair();
    let c = start(ours, chans, MConnConfig::default());

    // 63 full packets, eof = 0, written again and again until the receiver hangs up.
    let mut block = Vec::new();
    for i in 0..63u8 {
        block.extend_from_slice(&[0x03, 0x01, 0x00, 0x02, 0x04, 0x00]);
        block.extend(std::iter::repeat(i).take(1024));
    }
    let writer = thread::spawn(move || {
        let mut sent = 0u64;
        // Four times the capacity at most: the receiver must stop long before.
        while sent < 4 * cap as u64 {
            if peer.write_all(&block).is_err() {
                return sent;
            }
            sent += 63 * 1024;
        }
        sent
    });
    let err = c
        .errors
        .recv_timeout(Duration::from_secs(120))
        .expect("the connection stops");
    let peak = status_bytes("VmHWM:");
    let rss_at_error = status_bytes("VmRSS:");
    match err {
        Error::MessageTooLarge {
            channel: 0x01,
            size,
            limit,
        } => {
            assert_eq!(limit, cap);
            assert_eq!(size, cap + 1024, "stops at the first packet over the limit");
        }
        other => panic!("expected MessageTooLarge, got {other}"),
    }
    let sent = writer.join().expect("writer");
    assert!(sent < 4 * cap as u64, "the writer was never cut off");
    assert!(c.received.try_recv().is_err(), "nothing delivered");
    drop(c);
    let rss_after = status_bytes("VmRSS:");
    let mib = |b: u64| b as f64 / MIB as f64;
    println!(
        "RSS before {:.1} MiB, peak {:.1} MiB, at the error {:.1} MiB, after drop {:.1} MiB; \
         peer wrote {:.1} MiB",
        mib(rss0),
        mib(peak),
        mib(rss_at_error),
        mib(rss_after),
        mib(sent)
    );
    // The message buffer is the capacity; the rest (read blocks, socket buffers, the
    // test's own threads) is fixed. 32 MiB of slack for allocator and kernel noise.
    let limit = cap as u64 + 32 * MIB;
    assert!(
        peak.saturating_sub(rss0) <= limit,
        "peak RSS grew by {:.1} MiB, bound {:.1} MiB",
        mib(peak - rss0),
        mib(limit)
    );
    assert!(
        rss_after.saturating_sub(rss0) <= 16 * MIB,
        "{:.1} MiB still held after the connection was dropped",
        mib(rss_after.saturating_sub(rss0))
    );
}
