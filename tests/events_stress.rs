//! The event APIs under load and races (probes from a review, kept as regression tests):
//! a flood of refusals counted exactly by a tiny subscriber, `dial_persistent` racing
//! `stop`, a full `ChannelReactor` receiver dropped while a worker waits on it, per-peer
//! order with many peers and a slow reader, `PeerRemoved` at stop, `stop_redialling`
//! during a dial that succeeds, and a capacity of zero.

mod support;
use support::switch::channel_app;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::Receiver;
use mconn::{Error, Event, Peer, ReconnectSchedule, SendError, SwitchEvent};
use parking_lot::Mutex;
use support::switch::{config, fake_handshake, listening, wait_peers, Recorder};
use support::{threads_named, wait_until, watchdog};

const LIMIT: Duration = Duration::from_secs(180);
const WAIT: Duration = Duration::from_secs(30);
const CH: u8 = 0x40;

/// Tests that count threads run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// 1000 inbound connections opened, then closed at once: a capacity-2 subscriber that
/// is not read while a large one is: the large one sees every refusal, and the small
/// one's events plus its `Lost` counts add up to the same number.
#[test]
fn a_flood_of_refusals_is_counted_exactly_by_a_tiny_subscriber() {
    let _w = watchdog("a_flood_of_refusals", LIMIT);
    let (sw, addr) = listening("flooded", &[("rec", Recorder::new(&[0x30]))], config());
    let small = sw.events(2);
    let big = sw.events(4096);
    const N: u64 = 1000;
    let conns: Vec<TcpStream> = (0..N)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    drop(conns);
    let count = |rx: &Receiver<SwitchEvent>, want: u64| {
        let mut n = 0u64;
        while n < want {
            match rx.recv_timeout(WAIT).expect("an event") {
                SwitchEvent::InboundRefused { .. } => n += 1,
                SwitchEvent::Lost { count } => n += count,
                other => panic!("unexpected {other:?}"),
            }
        }
        n
    };
    assert_eq!(count(&big, N), N, "the large subscriber lost nothing");
    let mut seen: u64 = small.try_iter().count() as u64;
    assert_eq!(seen, 2, "the small one kept the first two");
    drop(TcpStream::connect(addr).expect("one more"));
    assert_eq!(count(&big, 1), 1);
    seen += count(&small, N - 1);
    assert_eq!(seen, N + 1, "events + Lost counts = events emitted");
    assert!(small.try_recv().is_err() && big.try_recv().is_err());
    sw.stop();
}

fn dead_addrs(n: usize) -> Vec<SocketAddr> {
    let ls: Vec<_> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    ls.iter().map(|l| l.local_addr().expect("addr")).collect()
}

/// `dial_persistent` racing `stop`: every call is `Ok` or `Stopped` (never
/// `InvalidConfig`), no redial thread outlives the stop, no address stays registered.
#[test]
fn dial_persistent_racing_stop_leaves_nothing_behind() {
    let _w = watchdog("dial_persistent_racing_stop", LIMIT);
    let _g = SERIAL.lock();
    let mut slow = ReconnectSchedule::default();
    slow.interval = Duration::from_secs(3600);
    for round in 0..20 {
        let (sw, _) = listening(
            "racer",
            &[("rec", Recorder::new(&[0x30]))],
            config().reconnect(slow.clone()),
        );
        let addrs = dead_addrs(40);
        let (s2, a2) = (sw.clone(), addrs.clone());
        let dialler = std::thread::spawn(move || {
            a2.iter()
                .map(|a| s2.dial_persistent(*a))
                .collect::<Vec<_>>()
        });
        if round % 2 == 0 {
            std::thread::yield_now();
        }
        sw.stop();
        for r in dialler.join().expect("dialler") {
            assert!(matches!(r, Ok(()) | Err(Error::Stopped)), "{r:?}");
        }
        // (A joined thread may still be listed for a moment while the kernel reaps it.)
        assert!(
            wait_until(WAIT, || threads_named("mconn-persistent") == 0),
            "round {round}: a redial thread outlived the stop"
        );
        for a in &addrs {
            assert_eq!(sw.stop_redialling(*a).ok(), Some(false), "left registered");
            assert!(matches!(sw.dial_persistent(*a), Err(Error::Stopped)));
        }
    }
}

/// A worker blocked delivering to a full receiver wakes when the receiver is dropped;
/// the peer's messages flow again (its sends stop timing out).
#[test]
fn dropping_a_full_receiver_wakes_the_blocked_worker() {
    let _w = watchdog("dropping_a_full_receiver", LIMIT);
    let (server, addr, events) = channel_app("server", CH, 1, config().workers(2));
    let mut cfg = config();
    cfg.mconn = cfg.mconn.send_timeout(Duration::from_millis(200));
    let (client, _, _client_events) = channel_app("client", CH, 64, cfg);
    let peer = client.dial(addr).expect("dial");
    // Fill everything until a send times out: the worker is blocked in deliver.
    let mut i = 0u64;
    loop {
        match peer.send(CH, vec![0u8; 60_000]) {
            Ok(()) => i += 1,
            Err(SendError::Timeout(_)) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(i < 100_000, "no back-pressure");
    }
    drop(events);
    for k in 0..200 {
        let r = peer.send(CH, vec![1u8; 60_000]);
        let ok = r.is_ok()
            || (wait_until(Duration::from_secs(5), || peer.can_send(CH))
                && peer.send(CH, vec![1u8; 60_000]).is_ok());
        assert!(ok, "send {k} after the receiver was dropped");
    }
    client.stop();
    server.stop();
}

/// Many peers join, talk and leave at once while the application reads slowly from a
/// capacity-2 receiver: per peer, PeerAdded, then its messages in order, then PeerRemoved.
#[test]
fn per_peer_order_holds_with_many_peers_and_a_slow_reader() {
    let _w = watchdog("per_peer_order", LIMIT);
    let (server, addr, events) = channel_app("server", CH, 2, config().workers(3));
    const PEERS: usize = 8;
    const MSGS: u64 = 60;
    let clients: Vec<_> = (0..PEERS)
        .map(|i| {
            std::thread::spawn(move || {
                let (c, _, _e) = channel_app(&format!("c{i}"), CH, 64, config());
                let p = c.dial(addr).expect("dial");
                for m in 0..MSGS {
                    p.send(CH, m.to_be_bytes().to_vec()).expect("send");
                }
                c.flush_stop(Duration::from_secs(20));
            })
        })
        .collect();
    #[derive(Default)]
    struct Seen {
        added: bool,
        next: u64,
        removed: bool,
    }
    let mut seen: HashMap<usize, Seen> = HashMap::new();
    let key = |p: &Arc<Peer>| Arc::as_ptr(p) as usize;
    let mut removed = 0;
    while removed < PEERS {
        let e = events.recv_timeout(WAIT).expect("an event");
        std::thread::sleep(Duration::from_micros(300));
        match e {
            Event::PeerAdded(p) => {
                let s = seen.entry(key(&p)).or_default();
                assert!(!s.added && !s.removed);
                s.added = true;
            }
            Event::Message { peer, msg, .. } => {
                let s = seen
                    .get_mut(&key(&peer))
                    .expect("a message before PeerAdded");
                assert!(s.added && !s.removed);
                assert_eq!(msg, Bytes::from(s.next.to_be_bytes().to_vec()));
                s.next += 1;
            }
            Event::PeerRemoved { peer, .. } => {
                let s = seen
                    .get_mut(&key(&peer))
                    .expect("PeerRemoved before PeerAdded");
                assert!(s.added && !s.removed);
                assert_eq!(s.next, MSGS, "every message before PeerRemoved");
                s.removed = true;
                removed += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    for c in clients {
        c.join().expect("client");
    }
    server.stop();
}

/// At stop, with room in the receiver, every peer's PeerRemoved (reason `Stopped`) is
/// delivered.
#[test]
fn peer_removed_at_stop_is_delivered_when_there_is_room() {
    let _w = watchdog("peer_removed_at_stop", LIMIT);
    let (server, addr, events) = channel_app("server", CH, 64, config());
    let clients: Vec<_> = (0..5)
        .map(|i| {
            let (c, _, e) = channel_app(&format!("c{i}"), CH, 64, config());
            c.dial(addr).expect("dial");
            (c, e)
        })
        .collect();
    let mut added = 0;
    while added < 5 {
        if let Event::PeerAdded(_) = events.recv_timeout(WAIT).expect("event") {
            added += 1;
        }
    }
    server.stop();
    let removed: Vec<_> = events
        .try_iter()
        .filter_map(|e| match e {
            Event::PeerRemoved { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(removed.len(), 5, "{removed:?}");
    assert!(
        removed.iter().all(|r| matches!(r, Error::Stopped)),
        "{removed:?}"
    );
    for (c, _) in clients {
        c.stop();
    }
}

/// `stop_redialling` while the loop's dial is in its handshake, which then succeeds: the
/// peer is kept, the loop ends without dialling again.
#[test]
fn stop_redialling_during_a_dial_that_succeeds_keeps_the_peer_and_ends() {
    let _w = watchdog("stop_redialling_during_a_dial", LIMIT);
    let _g = SERIAL.lock();
    let (sw, _) = listening(
        "node",
        &[("rec", Recorder::new(&[0x30]))],
        config().reconnect(ReconnectSchedule::default().scaled(
            Duration::from_millis(10),
            Duration::from_millis(1),
            Duration::from_millis(10),
        )),
    );
    let fake = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = fake.local_addr().expect("addr");
    sw.dial_persistent(addr).expect("dial_persistent");
    let (mut s, _) = fake.accept().expect("connects");
    assert_eq!(sw.stop_redialling(addr).ok(), Some(true));
    fake_handshake(&mut s, [7u8; 32]);
    assert!(wait_peers(&sw, 1, 30), "the peer is kept");
    assert!(wait_until(WAIT, || threads_named("mconn-persistent") == 0));
    drop(s); // the peer drops; nobody redials it
    assert!(wait_peers(&sw, 0, 30));
    fake.set_nonblocking(true).expect("nonblocking");
    assert!(fake.accept().is_err(), "no redial");
    sw.stop();
}

/// Capacity 0 is raised to 1: events flow one at a time.
#[test]
fn a_channel_reactor_of_capacity_zero_delivers() {
    let _w = watchdog("a_channel_reactor_of_capacity_zero", LIMIT);
    let (server, addr, events) = channel_app("server", CH, 0, config());
    let (client, _, _e) = channel_app("client", CH, 4, config());
    let peer = client.dial(addr).expect("dial");
    for i in 0..50u8 {
        peer.send(CH, vec![i]).expect("send");
    }
    assert!(matches!(events.recv_timeout(WAIT), Ok(Event::PeerAdded(_))));
    for i in 0..50u8 {
        match events.recv_timeout(WAIT).expect("event") {
            Event::Message { msg, .. } => assert_eq!(&msg[..], &[i]),
            other => panic!("{other:?}"),
        }
    }
    client.stop();
    server.stop();
}
