//! Peer lifecycle through the switch: removal once, redial of persistent peers only,
//! ordering under load, slow and panicking reactors, stop from inside a callback, and no
//! reference cycles.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mconn::{
    ChannelDescriptor, ChannelId, Error, Peer, PeerId, Reactor, ReconnectSchedule, Switch,
    WeakSwitch,
};
use support::switch::*;
use support::*;

const LIMIT: Duration = Duration::from_secs(90);

fn fast_reconnect() -> ReconnectSchedule {
    ReconnectSchedule::default().scaled(
        Duration::from_millis(100),
        Duration::from_millis(50),
        Duration::from_millis(50),
    )
}

#[test]
fn a_dropped_peer_is_removed_once_and_not_redialled() {
    let _w = watchdog("dropped_peer", LIMIT);
    let ra = Recorder::new(&[0x01]);
    let (a, _) = listening("a", &[("r", ra.clone())], config());
    let (b, b_addr) = listening("b", &[("r", Recorder::new(&[0x01]))], config());
    a.dial(b_addr).unwrap();
    assert_eq!(ra.next(5), Event::Added(b.id()));
    assert!(wait_peers(&b, 1, 5));
    // b drops a: a sees its socket close.
    let a_on_b = b.peer(&a.id()).unwrap();
    b.stop_peer_for_error(&a_on_b, Error::Stopped);
    match ra.next(5) {
        Event::Removed(id, why) => {
            assert_eq!(id, b.id());
            assert!(why.contains("closed") || why.contains("i/o"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert!(wait_peers(&a, 0, 5));
    // Not redialled, and removed only once.
    assert!(ra.events.recv_timeout(Duration::from_millis(700)).is_err());
    assert_eq!(a.num_peers(), (0, 0));
    assert_eq!(b.num_peers(), (0, 0));
}

/// Records add/remove with timestamps, and is slow to remove.
struct SlowRemove {
    log: Mutex<Vec<(&'static str, PeerId, Instant)>>,
}

impl Reactor for SlowRemove {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(0x01, 1)]
    }
    fn add_peer(&self, peer: &Arc<Peer>) {
        self.log
            .lock()
            .unwrap()
            .push(("add", peer.id(), Instant::now()));
    }
    fn remove_peer(&self, peer: &Arc<Peer>, _reason: &Error) {
        std::thread::sleep(Duration::from_millis(300));
        self.log
            .lock()
            .unwrap()
            .push(("removed", peer.id(), Instant::now()));
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {}
}

#[test]
fn a_persistent_peer_comes_back_after_its_removal_finished() {
    let _w = watchdog("persistent_peer", LIMIT);
    let slow = Arc::new(SlowRemove {
        log: Mutex::new(Vec::new()),
    });
    let a = Switch::new(config().reconnect(fast_reconnect()), node_info("a")).unwrap();
    a.add_reactor("slow", slow.clone()).unwrap();
    let (b, b_addr) = listening("b", &[("r", Recorder::new(&[0x01]))], config());
    a.dial_persistent(b_addr).unwrap();
    assert!(wait_peers(&a, 1, 10));
    assert!(a.peers()[0].is_persistent());
    assert!(wait_peers(&b, 1, 5));
    let a_on_b = b.peer(&a.id()).unwrap();
    b.stop_peer_for_error(&a_on_b, Error::Stopped);
    // Back within the shortened schedule.
    assert!(
        wait_until(Duration::from_secs(10), || slow
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.0 == "add")
            .count()
            == 2),
        "reconnected: {:?}",
        slow.log.lock().unwrap()
    );
    let log = slow.log.lock().unwrap().clone();
    let kinds: Vec<_> = log.iter().map(|e| e.0).collect();
    assert_eq!(
        kinds,
        ["add", "removed", "add"],
        "re-added only after remove_peer returned"
    );
    assert!(log[2].2 >= log[1].2);
    assert!(log.iter().all(|e| e.1 == b.id()));
    a.stop();
    b.stop();
}

/// Checks per-peer order on channel 1 and counts everything.
struct OrderCheck {
    next: Mutex<std::collections::HashMap<(PeerId, ChannelId), u64>>,
    total: AtomicUsize,
    errors: Mutex<Vec<String>>,
}

impl Reactor for OrderCheck {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        (1..=4)
            .map(|c| ChannelDescriptor::new(c, 1).send_queue_capacity(100))
            .collect()
    }
    fn receive(&self, ch: ChannelId, peer: &Arc<Peer>, msg: Bytes) {
        let seq = u64::from_be_bytes(msg[..8].try_into().unwrap());
        let mut next = self.next.lock().unwrap();
        let want = next.entry((peer.id(), ch)).or_insert(0);
        if seq != *want {
            self.errors
                .lock()
                .unwrap()
                .push(format!("{ch}: got {seq}, want {want}"));
        }
        *want = seq + 1;
        self.total.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn messages_of_one_peer_and_channel_arrive_in_order_under_load() {
    let _w = watchdog("order_under_load", LIMIT);
    let check = Arc::new(OrderCheck {
        next: Mutex::default(),
        total: AtomicUsize::new(0),
        errors: Mutex::default(),
    });
    let hub = Switch::new(config().workers(4), node_info("hub")).unwrap();
    hub.add_reactor("order", check.clone()).unwrap();
    let hub_addr = hub.listen("127.0.0.1:0").unwrap();
    let mut switches = Vec::new();
    let mut senders = Vec::new();
    for (i, (ch, n)) in [(1u8, 10_000u64), (2, 3000), (3, 3000), (4, 3000)]
        .into_iter()
        .enumerate()
    {
        let sw = Switch::new(config(), node_info(&format!("s{i}"))).unwrap();
        sw.add_reactor(
            "order",
            Arc::new(OrderCheck {
                next: Mutex::default(),
                total: AtomicUsize::new(0),
                errors: Mutex::default(),
            }),
        )
        .unwrap();
        let peer = sw.dial(hub_addr).unwrap();
        switches.push(sw);
        senders.push(std::thread::spawn(move || {
            for seq in 0..n {
                let mut m = seq.to_be_bytes().to_vec();
                m.resize(8 + (seq % 300) as usize, 0xEE);
                peer.send(ch, m).expect("send");
            }
        }));
    }
    for t in senders {
        t.join().unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(30), || check
            .total
            .load(Ordering::Relaxed)
            == 19_000),
        "{}",
        check.total.load(Ordering::Relaxed)
    );
    let errors = check.errors.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "{} out of order, first: {:?}",
        errors.len(),
        errors.first()
    );
    hub.stop();
}

/// Channel 1 is slow (sleeps in receive); channel 2 is fast. Records the worker of each.
struct SlowAndFast {
    slow_done: Mutex<Vec<(String, Instant)>>,
    fast_done: Mutex<Vec<(PeerId, String, Instant)>>,
}

impl Reactor for SlowAndFast {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![
            ChannelDescriptor::new(1, 1).send_queue_capacity(20),
            ChannelDescriptor::new(2, 1).send_queue_capacity(100),
        ]
    }
    fn receive(&self, ch: ChannelId, peer: &Arc<Peer>, _msg: Bytes) {
        let worker = std::thread::current().name().unwrap_or("?").to_string();
        if ch == 1 {
            std::thread::sleep(Duration::from_millis(100));
            self.slow_done
                .lock()
                .unwrap()
                .push((worker, Instant::now()));
        } else {
            self.fast_done
                .lock()
                .unwrap()
                .push((peer.id(), worker, Instant::now()));
        }
    }
}

#[test]
fn a_slow_reactor_slows_only_its_own_worker_and_loses_nothing() {
    let _w = watchdog("slow_reactor", LIMIT);
    let r = Arc::new(SlowAndFast {
        slow_done: Mutex::default(),
        fast_done: Mutex::default(),
    });
    let hub = Switch::new(config().workers(8), node_info("hub")).unwrap();
    hub.add_reactor("r", r.clone()).unwrap();
    let hub_addr = hub.listen("127.0.0.1:0").unwrap();
    let spoke = |name: &str| {
        let sw = Switch::new(config(), node_info(name)).unwrap();
        sw.add_reactor(
            "r",
            Arc::new(SlowAndFast {
                slow_done: Mutex::default(),
                fast_done: Mutex::default(),
            }),
        )
        .unwrap();
        let p = sw.dial(hub_addr).unwrap();
        (sw, p)
    };
    let (_slow_sw, slow_peer) = spoke("slow");
    let fast: Vec<_> = (0..6).map(|i| spoke(&format!("fast{i}"))).collect();
    let t0 = Instant::now();
    for i in 0..10u8 {
        slow_peer.send(1, vec![i]).unwrap();
    }
    for (_, p) in &fast {
        for i in 0..50u8 {
            p.send(2, vec![i]).unwrap();
        }
    }
    // Nothing is lost: 10 slow (about a second of sleeping) and 300 fast messages.
    assert!(wait_until(Duration::from_secs(30), || r
        .slow_done
        .lock()
        .unwrap()
        .len()
        == 10
        && r.fast_done.lock().unwrap().len() == 300));
    let slow = r.slow_done.lock().unwrap().clone();
    let slow_worker = &slow[0].0;
    assert!(
        slow.iter().all(|s| &s.0 == slow_worker),
        "one (peer, channel) stays on one worker"
    );
    let slow_end = slow.last().unwrap().1;
    assert!(slow_end - t0 >= Duration::from_millis(1000));
    // Fast messages on other workers finished long before the slow reactor did.
    let fast = r.fast_done.lock().unwrap().clone();
    let elsewhere: Vec<_> = fast.iter().filter(|f| &f.1 != slow_worker).collect();
    assert!(!elsewhere.is_empty(), "some fast peers use other workers");
    for f in &elsewhere {
        assert!(
            f.2 + Duration::from_millis(500) < slow_end,
            "fast message on {} waited for the slow reactor",
            f.1
        );
    }
    hub.stop();
}

/// Stops the switch from inside `receive`.
struct StopInside {
    sw: OnceLock<WeakSwitch>,
    done: crossbeam_channel::Sender<bool>,
}

impl Reactor for StopInside {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(1, 1)]
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {
        if let Some(sw) = self.sw.get().and_then(|w| w.upgrade()) {
            sw.stop();
            let _ = self.done.send(sw.is_running());
        }
    }
}

#[test]
fn stop_from_inside_receive_returns() {
    let _w = watchdog("stop_inside_receive", LIMIT);
    let (done, done_rx) = crossbeam_channel::bounded(1);
    let r = Arc::new(StopInside {
        sw: OnceLock::new(),
        done,
    });
    let (hub, hub_addr) = {
        let sw = Switch::new(config(), node_info("hub")).unwrap();
        sw.add_reactor("stop", r.clone()).unwrap();
        let addr = sw.listen("127.0.0.1:0").unwrap();
        (sw, addr)
    };
    r.sw.set(hub.downgrade()).unwrap();
    let (b, _) = listening("b", &[("r", Recorder::new(&[0x01]))], config());
    b.dial(hub_addr).unwrap().send(1, "stop please").unwrap();
    assert_eq!(
        done_rx.recv_timeout(Duration::from_secs(10)),
        Ok(false),
        "stop returned inside receive"
    );
    assert!(wait_peers(&b, 0, 5), "b sees the hub go");
    drop(hub);
}

/// Panics on every message.
struct Panicky;

impl Reactor for Panicky {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(1, 1)]
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {
        panic!("reactor bug");
    }
}

#[test]
fn a_panicking_reactor_stops_that_peer_and_the_switch_survives() {
    let _w = watchdog("panicking_reactor", LIMIT);
    let hub = Switch::new(config(), node_info("hub")).unwrap();
    hub.add_reactor("panicky", Arc::new(Panicky)).unwrap();
    let watcher = Recorder::new(&[0x02]);
    hub.add_reactor("watch", watcher.clone()).unwrap();
    let hub_addr = hub.listen("127.0.0.1:0").unwrap();
    let (b, _) = listening("b", &[("r", Recorder::new(&[0x01, 0x02]))], config());
    b.dial(hub_addr).unwrap().send(1, "boom").unwrap();
    assert_eq!(watcher.next(5), Event::Added(b.id()));
    match watcher.next(5) {
        Event::Removed(id, why) => {
            assert_eq!(id, b.id());
            assert!(why.contains("reactor bug"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    // The switch still works.
    let (c, _) = listening("c", &[("r", Recorder::new(&[0x01, 0x02]))], config());
    c.dial(hub_addr).expect("the hub still accepts peers");
    assert_eq!(watcher.next(5), Event::Added(c.id()));
    hub.stop();
}

#[test]
fn no_reference_cycles_after_stop_and_drop() {
    let _w = watchdog("no_cycles", LIMIT);
    let r = Recorder::new(&[0x01]);
    let weak: Weak<Recorder> = Arc::downgrade(&r);
    let (a, _) = listening("a", &[("r", r)], config());
    let (b, b_addr) = listening("b", &[("r", Recorder::new(&[0x01]))], config());
    let peer = a.dial(b_addr).unwrap();
    peer.send(1, "x").unwrap();
    drop(peer);
    a.stop();
    drop(a);
    assert!(weak.upgrade().is_none(), "the reactor is freed");
    b.stop();
}

/// Checks, inside add_peer, that the peer is already running and in the peer set.
struct CheckOrder {
    sw: OnceLock<WeakSwitch>,
    seen: crossbeam_channel::Sender<(bool, bool)>,
}

impl Reactor for CheckOrder {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(1, 1)]
    }
    fn add_peer(&self, peer: &Arc<Peer>) {
        let in_set = self
            .sw
            .get()
            .and_then(|w| w.upgrade())
            .is_some_and(|sw| sw.peer(&peer.id()).is_some());
        let _ = self.seen.send((peer.is_running(), in_set));
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {}
}

#[test]
fn a_peer_is_running_and_in_the_set_before_add_peer() {
    let _w = watchdog("add_peer_order", LIMIT);
    let (seen, seen_rx) = crossbeam_channel::unbounded();
    let r = Arc::new(CheckOrder {
        sw: OnceLock::new(),
        seen,
    });
    let a = Switch::new(config(), node_info("a")).unwrap();
    a.add_reactor("order", r.clone()).unwrap();
    r.sw.set(a.downgrade()).unwrap();
    a.listen("127.0.0.1:0").unwrap();
    let (_b, b_addr) = listening("b", &[("r", Recorder::new(&[0x01]))], config());
    a.dial(b_addr).unwrap();
    let (running, in_set) = seen_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        running && in_set,
        "running {running}, in the peer set {in_set}"
    );
}
