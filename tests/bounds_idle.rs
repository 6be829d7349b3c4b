//! Issue 11, item 2: an idle connection's memory must not scale with
//! `max_packet_msg_payload_size`. The read buffer used to start at twice the largest
//! packet, so four idle endpoints with 16 MiB packets held 133 MiB. It now starts small
//! and grows only as a large packet's bytes actually arrive.
//!
//! One test in its own binary, so other tests' allocations do not blur the RSS figures.

mod support;

use std::time::Duration;

use mconn::{ChannelDescriptor, MConnConfig};
use support::*;

const MIB: u64 = 1024 * 1024;

#[test]
fn idle_connections_do_not_hold_a_max_size_packet_buffer() {
    let _w = watchdog("idle_big_packets", Duration::from_secs(120));
    let max_packet = 16 * MIB as usize;
    let cfg = MConnConfig::default().max_packet_msg_payload_size(max_packet);
    let chans = vec![ChannelDescriptor::new(0x01, 1).recv_message_capacity(2 * max_packet)];
    // Warm up: one pair's worth of threads and lazy statics.
    {
        let (a, b) = conn_pair(chans.clone(), MConnConfig::default());
        a.conn.send(0x01, "warm").unwrap();
        b.received.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    let rss0 = status_bytes("VmRSS:");
    let pairs: Vec<_> = (0..4)
        .map(|_| conn_pair(chans.clone(), cfg.clone()))
        .collect();
    for (a, b) in &pairs {
        a.conn.send(0x01, "ping").unwrap();
        b.conn.send(0x01, "pong").unwrap();
        assert_eq!(
            b.received.recv_timeout(Duration::from_secs(10)).unwrap().1,
            "ping"
        );
        assert_eq!(
            a.received.recv_timeout(Duration::from_secs(10)).unwrap().1,
            "pong"
        );
    }
    let idle = status_bytes("VmRSS:").saturating_sub(rss0);
    eprintln!(
        "8 idle endpoints with {} MiB packets: RSS grew by {:.2} MiB",
        max_packet as u64 / MIB,
        idle as f64 / MIB as f64
    );
    assert!(
        idle < 16 * MIB,
        "8 idle endpoints hold {:.1} MiB",
        idle as f64 / MIB as f64
    );

    // The large packets still work: one 16 MiB message is one packet, and arrives whole.
    let big: Vec<u8> = pattern(7, max_packet);
    let (a, b) = &pairs[0];
    a.conn.send(0x01, big.clone()).unwrap();
    let (_, got) = b.received.recv_timeout(Duration::from_secs(60)).unwrap();
    assert!(got == big, "the 16 MiB message arrived intact");
    let st = b.conn.status();
    assert_eq!(st.channels[0].messages_received, 2);
}
