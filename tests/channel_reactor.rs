//! The channel-based reactor keeps a hand-written reactor's promises: a peer's events in
//! order (added, its messages, removed), back-pressure on a peer that sends faster than
//! the application reads (nothing dropped, nothing buffered without bound), and a stop
//! that never waits for a reader who is not reading.

mod support;
use support::switch::channel_app;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::Receiver;
use mconn::{ChannelDescriptor, ChannelReactor, Error, Event, Peer, SendError};
use support::switch::config;
use support::{pattern, watchdog};

const LIMIT: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(30);
const CH: u8 = 0x40;

fn next(events: &Receiver<Event>) -> Event {
    events.recv_timeout(WAIT).expect("an event")
}

fn added(events: &Receiver<Event>) -> Arc<Peer> {
    match next(events) {
        Event::PeerAdded(p) => p,
        other => panic!("expected PeerAdded, got {other:?}"),
    }
}

#[test]
fn a_peers_events_come_in_order_added_messages_removed() {
    let _w = watchdog("a_peers_events_come_in_order", LIMIT);
    let (server, addr, server_events) = channel_app("server", CH, 16, config());
    let (client, _, client_events) = channel_app("client", CH, 16, config());
    let to_server = client.dial(addr).expect("dial");
    let from_client = added(&server_events);
    assert_eq!(from_client.id(), client.id());
    assert_eq!(added(&client_events).id(), server.id());
    const N: u64 = 500;
    let sender = std::thread::spawn(move || {
        for i in 0..N {
            to_server
                .send(CH, pattern(i, 1 + (i as usize % 300)))
                .expect("send");
        }
        to_server
    });
    for i in 0..N {
        match next(&server_events) {
            Event::Message { peer, channel, msg } => {
                assert_eq!((peer.id(), channel), (client.id(), CH));
                assert_eq!(
                    msg,
                    Bytes::from(pattern(i, 1 + (i as usize % 300))),
                    "message {i}"
                );
                // Answer the last one from the loop, as an application would.
                if i == N - 1 {
                    peer.send(CH, &b"done"[..]).expect("reply");
                }
            }
            other => panic!("expected message {i}, got {other:?}"),
        }
    }
    let to_server = sender.join().expect("sender");
    match next(&client_events) {
        Event::Message { msg, .. } => assert_eq!(&msg[..], b"done"),
        other => panic!("expected the reply, got {other:?}"),
    }
    to_server.disconnect("finished");
    match next(&client_events) {
        Event::PeerRemoved { peer, reason } => {
            assert_eq!(peer.id(), server.id());
            assert!(
                matches!(reason, Error::Disconnected(ref why) if why == "finished"),
                "{reason}"
            );
        }
        other => panic!("expected PeerRemoved, got {other:?}"),
    }
    match next(&server_events) {
        Event::PeerRemoved { peer, .. } => assert_eq!(peer.id(), client.id()),
        other => panic!("expected PeerRemoved, got {other:?}"),
    }
    client.stop();
    server.stop();
}

/// A reader that does not read slows the sender down until `send` times out, handing
/// the message back; once it reads, every message `send` accepted arrives, in order.
#[test]
fn an_application_that_does_not_read_slows_the_peer_down_and_loses_nothing() {
    let _w = watchdog("an_application_that_does_not_read", LIMIT);
    let (server, addr, server_events) = channel_app("server", CH, 2, config());
    let mut cfg = config();
    cfg.mconn = cfg.mconn.send_timeout(Duration::from_millis(300));
    let (client, _, client_events) = channel_app("client", CH, 16, cfg);
    let peer = client.dial(addr).expect("dial");
    added(&server_events);
    added(&client_events);
    let msg_len = 64 * 1024;
    let mut accepted = 0u64;
    let refused = loop {
        match peer.send(CH, pattern(accepted, msg_len)) {
            Ok(()) => accepted += 1,
            Err(SendError::Timeout(m)) => break m,
            Err(e) => panic!("send failed otherwise: {e}"),
        }
        // Over a GiB would mean nothing pushes back.
        assert!(
            accepted < 16 * 1024,
            "no back-pressure after {accepted} messages"
        );
    };
    assert_eq!(
        refused.len(),
        msg_len,
        "the refused message is handed back whole"
    );
    for i in 0..accepted {
        match next(&server_events) {
            Event::Message { msg, .. } => {
                assert_eq!(msg, Bytes::from(pattern(i, msg_len)), "message {i}")
            }
            other => panic!("expected message {i}, got {other:?}"),
        }
    }
    // The refused one was not sent: nothing more arrives before a new message does.
    peer.send(CH, &b"after"[..]).expect("sends again");
    match next(&server_events) {
        Event::Message { msg, .. } => assert_eq!(&msg[..], b"after"),
        other => panic!("expected the last message, got {other:?}"),
    }
    client.stop();
    server.stop();
}

/// `stop` while the receiver is full and nobody reads it: the worker waiting to deliver
/// gives up at the stop, so the stop returns.
#[test]
fn stop_returns_while_the_receiver_is_full_and_unread() {
    let _w = watchdog("stop_returns_while_the_receiver_is_full", LIMIT);
    let (server, addr, server_events) = channel_app("server", CH, 1, config());
    let (client, _, _client_events) = channel_app("client", CH, 16, config());
    let peer = client.dial(addr).expect("dial");
    // PeerAdded fills the receiver; the messages wait behind it.
    for i in 0..20 {
        let _ = peer.try_send(CH, pattern(i, 1000));
    }
    assert!(
        support::wait_until(WAIT, || server_events.is_full()),
        "the receiver filled"
    );
    server.stop();
    assert!(!server.is_running());
    // Whatever was delivered is intact; the rest was dropped with the stop.
    while let Ok(e) = server_events.try_recv() {
        if let Event::Message { msg, .. } = e {
            assert_eq!(msg.len(), 1000);
        }
    }
    client.stop();
}

#[test]
fn a_huge_capacity_is_clamped_never_allocated() {
    let (_, rx) = ChannelReactor::new(vec![ChannelDescriptor::new(CH, 1)], usize::MAX);
    assert_eq!(rx.capacity(), Some(65_536));
    let (_, rx) = ChannelReactor::new(vec![ChannelDescriptor::new(CH, 1)], 0);
    assert_eq!(rx.capacity(), Some(1));
}

/// A dropped receiver makes events no-ops: the switch goes on, and stops.
#[test]
fn a_dropped_receiver_never_blocks_the_switch() {
    let _w = watchdog("a_dropped_receiver_never_blocks", LIMIT);
    let (server, addr, server_events) = channel_app("server", CH, 1, config());
    drop(server_events);
    let (client, _, client_events) = channel_app("client", CH, 16, config());
    let peer = client.dial(addr).expect("dial");
    added(&client_events);
    for i in 0..200 {
        peer.send(CH, pattern(i, 4000))
            .expect("the server keeps reading");
    }
    peer.send(CH, &b"last"[..]).expect("send");
    client.stop();
    server.stop();
}
