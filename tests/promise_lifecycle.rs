//! The README's lifecycle order, however `stop()` is reached (issue 11, item 11); the
//! peer leaves the peer set before `remove_peer` (item 12); and concurrent or crossed
//! dials leave exactly one connection (item 13).

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use mconn::{
    ChannelDescriptor, ChannelId, Error, Peer, PeerId, Reactor, RejectReason, Switch, SwitchConfig,
    WeakSwitch,
};
use support::switch::*;
use support::*;

const LIMIT: Duration = Duration::from_secs(120);

/// When a [`Logged`] reactor stops the switch.
#[derive(Clone, Copy, PartialEq)]
enum StopIn {
    Nowhere,
    AddPeer,
    Receive,
}

/// Logs every callback (and when it returns) into a log shared by several reactors.
struct Logged {
    name: &'static str,
    ch: ChannelId,
    log: Arc<Mutex<Vec<String>>>,
    stop_in: StopIn,
    sw: OnceLock<WeakSwitch>,
}

impl Logged {
    fn push(&self, what: &str) {
        let thread = thread::current().name().unwrap_or("?").to_string();
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {what} @{thread}", self.name));
    }
    fn stop_switch(&self) {
        if let Some(sw) = self.sw.get().and_then(|w| w.upgrade()) {
            sw.stop();
        }
    }
}

impl Reactor for Logged {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(self.ch, 1)]
    }
    fn add_peer(&self, _: &Arc<Peer>) {
        self.push("add");
        if self.stop_in == StopIn::AddPeer {
            self.stop_switch();
        }
        self.push("add returned");
    }
    fn remove_peer(&self, _: &Arc<Peer>, _: &Error) {
        self.push("remove");
        self.push("remove returned");
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {
        self.push("receive");
        if self.stop_in == StopIn::Receive {
            self.stop_switch();
        }
        self.push("receive returned");
    }
}

/// A hub with reactors "a" (stopping the switch in `stop_in`) and "b", and a peer that
/// connects and sends one message on each channel. Returns the log once the hub stopped.
fn run_hub(stop_in: StopIn) -> Vec<String> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let reactor = |name, ch, stop_in| {
        Arc::new(Logged {
            name,
            ch,
            log: log.clone(),
            stop_in,
            sw: OnceLock::new(),
        })
    };
    let (ra, rb) = (reactor("a", 1, stop_in), reactor("b", 2, StopIn::Nowhere));
    let hub = Switch::new(config(), node_info("hub")).unwrap();
    hub.add_reactor("a", ra.clone()).unwrap();
    hub.add_reactor("b", rb.clone()).unwrap();
    ra.sw.set(hub.downgrade()).unwrap();
    let hub_addr = hub.listen("127.0.0.1:0").unwrap();
    let (c, _) = listening("c", &[("r", Recorder::new(&[1, 2]))], config());
    if let Ok(p) = c.dial(hub_addr) {
        let _ = p.send(1, "to a");
        let _ = p.send(2, "to b");
    }
    assert!(wait_until(Duration::from_secs(30), || !hub.is_running()));
    hub.stop(); // from the test thread: joins everything, so the log is complete
    c.stop();
    let log = log.lock().unwrap().clone();
    log
}

/// Each reactor sees either nothing of the peer, or `add` … `remove` with `remove` once and
/// last; and no callback runs nested inside another on the same thread.
fn assert_order(log: &[String]) {
    let parse = |l: &String| -> (String, String, String) {
        let (head, thread) = l.rsplit_once(" @").expect("thread");
        let (name, what) = head.split_once(' ').expect("reactor");
        (name.to_string(), what.to_string(), thread.to_string())
    };
    let entries: Vec<_> = log.iter().map(parse).collect();
    for name in ["a", "b"] {
        let mine: Vec<&str> = entries
            .iter()
            .filter(|e| e.0 == name)
            .map(|e| e.1.as_str())
            .collect();
        if mine.is_empty() {
            continue;
        }
        assert_eq!(mine.first(), Some(&"add"), "{name}: {log:?}");
        assert_eq!(
            &mine[mine.len() - 2..],
            ["remove", "remove returned"],
            "{name}: {log:?}"
        );
        assert_eq!(
            mine.iter().filter(|e| **e == "remove").count(),
            1,
            "{name}: {log:?}"
        );
    }
    // Per thread, every callback returns before the next one starts.
    let mut threads: Vec<&str> = entries.iter().map(|e| e.2.as_str()).collect();
    threads.sort();
    threads.dedup();
    for t in threads {
        let seq: Vec<_> = entries.iter().filter(|e| e.2 == t).collect();
        for pair in seq.chunks(2) {
            assert!(
                pair.len() == 2
                    && pair[0].0 == pair[1].0
                    && pair[1].1 == format!("{} returned", pair[0].1),
                "a callback ran inside another on {t}: {log:?}"
            );
        }
    }
}

/// Item 11: `stop()` inside `add_peer` ran every reactor's `remove_peer` nested inside
/// that `add_peer`, so reactor b got `remove_peer` before its `add_peer`.
#[test]
fn stop_inside_add_peer_keeps_every_reactors_order() {
    let _w = watchdog("stop_inside_add_peer", LIMIT);
    let log = run_hub(StopIn::AddPeer);
    assert!(log.iter().any(|l| l.starts_with("a add ")), "{log:?}");
    assert_order(&log);
}

/// Item 11: `stop()` inside `receive` ran `remove_peer` before that `receive` returned.
#[test]
fn stop_inside_receive_runs_remove_peer_after_receive_returns() {
    let _w = watchdog("stop_inside_receive_order", LIMIT);
    let log = run_hub(StopIn::Receive);
    assert!(log.iter().any(|l| l.starts_with("a receive ")), "{log:?}");
    assert_order(&log);
}

/// Redials the peer from `remove_peer` (once) and reports what it saw.
struct Redial {
    sw: OnceLock<WeakSwitch>,
    addr: OnceLock<SocketAddr>,
    once: AtomicBool,
    result: Sender<(bool, Result<PeerId, String>)>,
}

impl Reactor for Redial {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(0x01, 1)]
    }
    fn remove_peer(&self, peer: &Arc<Peer>, _: &Error) {
        if self.once.swap(true, Ordering::SeqCst) {
            return;
        }
        let Some(sw) = self.sw.get().and_then(|w| w.upgrade()) else {
            return;
        };
        let still_there = sw.peer(&peer.id()).is_some();
        let addr = *self.addr.get().unwrap();
        let redial = sw.dial(addr).map(|p| p.id()).map_err(|e| e.to_string());
        let _ = self.result.send((still_there, redial));
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {}
}

/// Item 12: the peer was still in the peer set while `remove_peer` ran, so a reactor
/// that redials from `remove_peer` was refused as a duplicate.
#[test]
fn a_peer_is_out_of_the_peer_set_when_remove_peer_runs() {
    let _w = watchdog("removed_before_remove_peer", LIMIT);
    let (result_tx, result) = bounded(1);
    let r = Arc::new(Redial {
        sw: OnceLock::new(),
        addr: OnceLock::new(),
        once: AtomicBool::new(false),
        result: result_tx,
    });
    let a = Switch::new(config(), node_info("a")).unwrap();
    a.add_reactor("redial", r.clone()).unwrap();
    r.sw.set(a.downgrade()).unwrap();
    let (b, b_addr) = listening("b", &[("r", Recorder::new(&[0x01]))], config());
    r.addr.set(b_addr).unwrap();
    a.dial(b_addr).unwrap();
    assert!(wait_peers(&b, 1, 10));
    let a_on_b = b.peer(&a.id()).unwrap();
    b.stop_peer_for_error(&a_on_b, Error::Stopped);
    let (still_there, redial) = result.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(
        !still_there,
        "the peer was still in the peer set in remove_peer"
    );
    assert_eq!(redial, Ok(b.id()), "redial from remove_peer");
    a.stop();
    b.stop();
}

/// Forwards every message with the id of the peer it came from.
struct Inbox(Sender<(PeerId, Bytes)>);

impl Reactor for Inbox {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(0x01, 1).send_queue_capacity(16)]
    }
    fn receive(&self, _: ChannelId, peer: &Arc<Peer>, msg: Bytes) {
        let _ = self.0.send((peer.id(), msg));
    }
}

fn inbox_switch(name: &str, cfg: SwitchConfig) -> (Switch, SocketAddr, Receiver<(PeerId, Bytes)>) {
    let (tx, rx) = unbounded();
    let sw = Switch::new(cfg, node_info(name)).unwrap();
    sw.add_reactor("inbox", Arc::new(Inbox(tx))).unwrap();
    let addr = sw.listen("127.0.0.1:0").unwrap();
    (sw, addr, rx)
}

/// Whether `from`'s only peer carries `token` to `to`.
fn carries(from: &Switch, to_inbox: &Receiver<(PeerId, Bytes)>, token: &str) -> bool {
    let peers = from.peers();
    if peers.len() != 1 || peers[0].send(0x01, token.to_string()).is_err() {
        return false;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while let Ok((id, m)) = to_inbox.recv_deadline(deadline) {
        if id == from.id() && m == token {
            return true;
        }
    }
    false
}

/// After the dials returned: exactly one connection stands, and it carries messages both
/// ways. (A replacement may still be settling, so this retries within a bound.)
fn exactly_one_connection(
    round: usize,
    a: &Switch,
    ra: &Receiver<(PeerId, Bytes)>,
    b: &Switch,
    rb: &Receiver<(PeerId, Bytes)>,
) {
    let mut n = 0;
    let ok = wait_until(Duration::from_secs(20), || {
        n += 1;
        a.peers().len() == 1
            && b.peers().len() == 1
            && carries(a, rb, &format!("a{round}.{n}"))
            && carries(b, ra, &format!("b{round}.{n}"))
    });
    assert!(
        ok,
        "round {round}: no working connection: a has {:?}, b has {:?}",
        a.num_peers(),
        b.num_peers()
    );
}

fn dial_result_ok(r: Result<Arc<Peer>, Error>) {
    match r {
        Ok(_) | Err(Error::Rejected(RejectReason::Duplicate)) => {}
        Err(e) => panic!("dial: {e}"),
    }
}

fn rounds(cfg: SwitchConfig, n: usize, crossed: bool) {
    for round in 0..n {
        let (a, a_addr, ra) = inbox_switch("a", cfg.clone());
        let (b, b_addr, rb) = inbox_switch("b", cfg.clone());
        let (a2, b2) = (a.clone(), b.clone());
        let second = thread::spawn(move || {
            if crossed {
                b2.dial(a_addr)
            } else {
                a2.dial(b_addr)
            }
        });
        dial_result_ok(a.dial(b_addr));
        dial_result_ok(second.join().expect("dial thread"));
        exactly_one_connection(round, &a, &ra, &b, &rb);
        a.stop();
        b.stop();
    }
}

/// Item 13: two dials of one peer at once lost the connection in 2–6 of 20 rounds (each
/// side kept a different one and closed the other).
#[test]
fn duplicate_dials_leave_exactly_one_connection() {
    let _w = watchdog("duplicate_dials", LIMIT);
    rounds(config(), 100, false);
}

/// Item 13: A and B dialling each other at once lost the connection in 1–3 of 20 rounds.
#[test]
fn crossed_dials_leave_exactly_one_connection() {
    let _w = watchdog("crossed_dials", LIMIT);
    rounds(config(), 100, true);
}

/// Item 13, encrypted: the same rule must hold over the SecretConnection.
#[cfg(feature = "secret-connection")]
#[test]
fn duplicate_and_crossed_encrypted_dials_leave_exactly_one_connection() {
    let _w = watchdog("encrypted_duplicate_dials", LIMIT);
    rounds(config().auth_enc(true), 20, false);
    rounds(config().auth_enc(true), 20, true);
}
