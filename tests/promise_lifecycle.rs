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

// ---------------------------------------------------------------- found by review

type Log = Arc<Mutex<Vec<String>>>;

fn ptr(p: &Arc<Peer>) -> usize {
    Arc::as_ptr(p) as usize
}

fn count(log: &Log, prefix: &str) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|e| e.starts_with(prefix))
        .count()
}

/// Logs `add <peer> in_set=<bool>`, `add_end <peer>`, `remove <peer>`; `add_peer` waits
/// for `add_gate` if one is given; `receive` of "block" waits for `release`.
struct Probe {
    log: Log,
    sw: OnceLock<WeakSwitch>,
    add_gate: Option<Receiver<()>>,
    release: Receiver<()>,
}

impl Reactor for Probe {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(1, 1)]
    }
    fn add_peer(&self, p: &Arc<Peer>) {
        let in_set = self
            .sw
            .get()
            .and_then(|w| w.upgrade())
            .and_then(|s| s.peer(&p.id()))
            .is_some_and(|q| Arc::ptr_eq(&q, p));
        let me = thread::current().id();
        self.log
            .lock()
            .unwrap()
            .push(format!("add {:x} in_set={in_set} {me:?}", ptr(p)));
        if let Some(g) = &self.add_gate {
            let _ = g.recv();
        }
        self.log
            .lock()
            .unwrap()
            .push(format!("add_end {:x}", ptr(p)));
    }
    fn remove_peer(&self, p: &Arc<Peer>, _: &Error) {
        self.log
            .lock()
            .unwrap()
            .push(format!("remove {:x}", ptr(p)));
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, m: Bytes) {
        if m == "block" {
            self.log.lock().unwrap().push("blocked".into());
            let _ = self.release.recv();
        }
    }
}

struct Probed {
    sw: Switch,
    addr: SocketAddr,
    log: Log,
    release: Sender<()>,
}

fn probe(cfg: SwitchConfig, add_gate: Option<Receiver<()>>) -> Probed {
    let (release, rx) = unbounded();
    let log: Log = Arc::default();
    let p = Arc::new(Probe {
        log: log.clone(),
        sw: OnceLock::new(),
        add_gate,
        release: rx,
    });
    let sw = Switch::new(cfg, node_info("probe")).unwrap();
    sw.add_reactor("probe", p.clone()).unwrap();
    p.sw.set(sw.downgrade()).unwrap();
    let addr = sw.listen("127.0.0.1:0").unwrap();
    Probed {
        sw,
        addr,
        log,
        release,
    }
}

fn plain(name: &str) -> (Switch, SocketAddr) {
    listening(name, &[("r", Recorder::new(&[1]))], config())
}

/// A probe switch with one worker (`hi`) and a plain one with a lower id (`lo`).
fn hi_and_lo() -> (Probed, Switch, SocketAddr) {
    loop {
        let hi = probe(config().workers(1), None);
        let (lo, lo_addr) = plain("lo");
        if lo.id() < hi.sw.id() {
            return (hi, lo, lo_addr);
        }
        hi.sw.stop();
        lo.stop();
    }
}

/// Blocks `p`'s (only) worker in a `receive` until `p.release` is sent to.
fn block_worker(p: &Probed) -> Switch {
    let (z, _) = plain("z");
    z.dial(p.addr).unwrap().send(1, "block").unwrap();
    assert!(wait_until(Duration::from_secs(30), || count(
        &p.log, "blocked"
    ) == 1));
    z
}

/// Once `sw` is stopping, sends to `release` (so a stop blocked on a callback can go on).
fn release_when_stopping(sw: &Switch, release: Sender<()>) -> thread::JoinHandle<()> {
    let sw = sw.clone();
    thread::spawn(move || {
        assert!(wait_until(Duration::from_secs(30), || !sw.is_running()));
        let _ = release.send(());
    })
}

/// Dials `target` on switch `via` from inside `add_peer`, recording the thread.
struct DialFromAddPeer {
    via: Switch,
    target: SocketAddr,
    thread: Mutex<Option<thread::ThreadId>>,
}

impl Reactor for DialFromAddPeer {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(1, 1)]
    }
    fn add_peer(&self, _: &Arc<Peer>) {
        *self.thread.lock().unwrap() = Some(thread::current().id());
        let _ = self.via.dial(self.target);
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {}
}

/// Review B1: a reactor of switch A dialled through switch B; B's `add_peer` ran inline
/// on A's worker, so B's `stop()` did not wait for it and B's `remove_peer` came first.
#[test]
fn another_switchs_add_peer_runs_on_its_own_worker_and_its_stop_waits_for_it() {
    let _w = watchdog("add_peer_on_foreign_worker", LIMIT);
    let (c, c_addr) = plain("c");
    let (gate_tx, gate) = unbounded();
    let b = probe(config(), Some(gate));
    let dialler = Arc::new(DialFromAddPeer {
        via: b.sw.clone(),
        target: c_addr,
        thread: Mutex::new(None),
    });
    let a = Switch::new(config(), node_info("a")).unwrap();
    a.add_reactor("d", dialler.clone()).unwrap();
    let a_addr = a.listen("127.0.0.1:0").unwrap();
    let (h, _) = plain("h");
    h.dial(a_addr).unwrap();
    // B's add_peer (for C) has started and waits at its gate.
    assert!(wait_until(Duration::from_secs(30), || count(
        &b.log, "add "
    ) == 1));
    let releaser = release_when_stopping(&b.sw, gate_tx);
    b.sw.stop();
    b.log.lock().unwrap().push("stop returned".into());
    releaser.join().unwrap();
    let log = b.log.lock().unwrap().clone();
    let kinds: Vec<&str> = log.iter().map(|e| e.split(' ').next().unwrap()).collect();
    assert_eq!(kinds, ["add", "add_end", "remove", "stop"], "{log:?}");
    let a_worker = format!("{:?}", dialler.thread.lock().unwrap().unwrap());
    assert!(
        !log[0].ends_with(&a_worker),
        "B's add_peer ran on A's worker: {log:?}"
    );
    for s in [h, a, c] {
        s.stop();
    }
}

/// Dials a second node from inside `add_peer` of an inbound peer; records the nesting.
struct NestCheck {
    sw: OnceLock<WeakSwitch>,
    target: SocketAddr,
    log: Log,
}

impl Reactor for NestCheck {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(1, 1)]
    }
    fn add_peer(&self, p: &Arc<Peer>) {
        // Nesting is per thread: the dialled peer's add_peer may well run at the same
        // time on another worker, which is not nesting.
        thread_local!(static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) });
        let depth = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        self.log.lock().unwrap().push(format!("add depth={depth}"));
        if !p.is_outbound() {
            if let Some(sw) = self.sw.get().and_then(|w| w.upgrade()) {
                let _ = sw.dial(self.target);
            }
        }
        DEPTH.with(|d| d.set(d.get() - 1));
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {}
}

/// Review B2: `dial()` from inside `add_peer` ran the new peer's `add_peer` nested inside.
#[test]
fn dial_from_add_peer_does_not_nest_add_peer() {
    let _w = watchdog("nested_add_peer", LIMIT);
    let (c, c_addr) = plain("c");
    let log: Log = Arc::default();
    let r = Arc::new(NestCheck {
        sw: OnceLock::new(),
        target: c_addr,
        log: log.clone(),
    });
    let x = Switch::new(config(), node_info("x")).unwrap();
    x.add_reactor("nest", r.clone()).unwrap();
    r.sw.set(x.downgrade()).unwrap();
    let x_addr = x.listen("127.0.0.1:0").unwrap();
    let (h, _) = plain("h");
    h.dial(x_addr).unwrap();
    assert!(wait_until(Duration::from_secs(30), || count(&log, "add ") == 2));
    let log = log.lock().unwrap().clone();
    assert_eq!(log, ["add depth=1", "add depth=1"]);
    for s in [h, x, c] {
        s.stop();
    }
}

/// Review B3: a connection replaced by a better-ranked one while its `add_peer` waited
/// still got `add_peer`, out of the peer set and with its socket closed.
#[test]
fn a_connection_replaced_before_its_add_peer_never_gets_it() {
    let _w = watchdog("replaced_before_add_peer", LIMIT);
    let (hi, lo, lo_addr) = hi_and_lo();
    let z = block_worker(&hi);
    // C1: hi dials lo (ranked worse: dialled by the higher id); its add_peer waits.
    let hi_sw = hi.sw.clone();
    let c1 = thread::spawn(move || hi_sw.dial(lo_addr));
    assert!(wait_until(Duration::from_secs(30), || hi
        .sw
        .peer(&lo.id())
        .is_some()));
    // C2: lo dials hi, ranked better: it replaces C1.
    lo.dial(hi.addr).unwrap();
    assert!(wait_until(Duration::from_secs(30), || hi
        .sw
        .peer(&lo.id())
        .is_some_and(|p| !p.is_outbound())));
    hi.release.send(()).unwrap();
    let c1 = c1.join().unwrap();
    assert!(
        matches!(c1, Err(Error::Rejected(RejectReason::Duplicate))),
        "the replaced dial says so: {c1:?}"
    );
    // C2 is added (after C1 is gone), and C1 never was.
    assert!(wait_until(Duration::from_secs(30), || count(
        &hi.log, "add_end"
    ) == 2));
    let log = hi.log.lock().unwrap().clone();
    let c2 = ptr(&hi.sw.peer(&lo.id()).unwrap());
    let adds: Vec<&String> = log.iter().filter(|e| e.starts_with("add ")).collect();
    assert!(adds.iter().all(|e| e.contains("in_set=true")), "{log:?}");
    assert!(adds[1].starts_with(&format!("add {c2:x}")), "{log:?}");
    for s in [z, lo, hi.sw] {
        s.stop();
    }
}

/// Review B4: a replaced, added connection whose removal had not finished when the
/// switch stopped never got `remove_peer`.
#[test]
fn a_replaced_connection_gets_remove_peer_even_when_stop_comes_first() {
    let _w = watchdog("replaced_then_stop", LIMIT);
    let (hi, lo, lo_addr) = hi_and_lo();
    let c1 = ptr(&hi.sw.dial(lo_addr).unwrap());
    let z = block_worker(&hi);
    lo.dial(hi.addr).unwrap(); // replaces C1; C1's removal waits for the blocked worker
    assert!(wait_until(Duration::from_secs(30), || hi
        .sw
        .peer(&lo.id())
        .is_some_and(|p| !p.is_outbound())));
    let releaser = release_when_stopping(&hi.sw, hi.release.clone());
    hi.sw.stop();
    releaser.join().unwrap();
    let log = hi.log.lock().unwrap().clone();
    assert_eq!(count(&hi.log, &format!("add {c1:x}")), 1, "{log:?}");
    assert_eq!(count(&hi.log, &format!("remove {c1:x}")), 1, "{log:?}");
    for s in [z, lo] {
        s.stop();
    }
}

/// Review B5: after `stop()`, a connection replaced while it was being admitted kept
/// running (its two threads and its socket).
#[test]
fn stop_closes_a_connection_replaced_while_it_was_admitted() {
    let _w = watchdog("replaced_while_admitting", LIMIT);
    use std::io::Read;
    let hi = probe(config().workers(1), None);
    let z = block_worker(&hi);
    let (d1, mut c1) = dial_fake(&hi.sw, [0; 32]); // id 00…00: lower than any other
    let fake_id = PeerId([0; 32]);
    assert!(wait_until(Duration::from_secs(30), || hi
        .sw
        .peer(&fake_id)
        .is_some()));
    let mut c2 = std::net::TcpStream::connect(hi.addr).unwrap();
    fake_handshake(&mut c2, [0; 32]); // dialled by the lower id: replaces C1
    assert!(wait_until(Duration::from_secs(30), || hi
        .sw
        .peer(&fake_id)
        .is_some_and(|p| !p.is_outbound())));
    let releaser = release_when_stopping(&hi.sw, hi.release.clone());
    hi.sw.stop();
    releaser.join().unwrap();
    let _ = d1.join();
    // C1's socket was closed by the stop.
    c1.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match c1.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) => {
                break !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    };
    assert!(closed, "the replaced connection is still open after stop");
    z.stop();
}

/// Review B6: when a connection replaced another to the same node, the new one's
/// `add_peer` came before the old one's `remove_peer`, so a reactor keeping peers by id
/// thought a connected node had gone.
#[test]
fn a_replacement_is_added_only_after_the_replaced_connection_is_removed() {
    let _w = watchdog("replacement_order", LIMIT);
    for _ in 0..5 {
        let (hi, lo, lo_addr) = hi_and_lo();
        hi.sw.dial_persistent(lo_addr).unwrap();
        assert!(wait_until(Duration::from_secs(30), || count(
            &hi.log, "add_end"
        ) == 1));
        lo.dial(hi.addr).unwrap(); // ranked better: replaces the persistent connection
        assert!(wait_until(Duration::from_secs(30), || count(
            &hi.log, "add_end"
        ) == 2));
        let log = hi.log.lock().unwrap().clone();
        let kinds: Vec<&str> = log.iter().map(|e| e.split(' ').next().unwrap()).collect();
        assert_eq!(
            kinds,
            ["add", "add_end", "remove", "add", "add_end"],
            "{log:?}"
        );
        lo.stop();
        hi.sw.stop();
    }
}

/// A peer that handshakes, sends one message and hangs up at once (as a seed node does
/// after answering) is still added, heard, and removed, in that order: a connection that
/// fails before `add_peer` runs is not skipped.
#[test]
fn a_peer_that_speaks_and_hangs_up_at_once_is_added_heard_and_removed() {
    use std::io::Write;
    let _w = watchdog("goodbye_message", LIMIT);
    let r = Recorder::new(&[0x01]);
    let (hub, addr) = listening("hub", &[("r", r.clone())], config());
    for round in 0..20u8 {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut key = [0xB0; 32];
        key[0] = round;
        fake_handshake(&mut s, key);
        s.write_all(&[0x03, 0x01, 0x01, 0x01, 0x03, b'b', b'y', b'e'])
            .unwrap();
        drop(s);
        let id = PeerId(key);
        assert_eq!(r.next(30), Event::Added(id));
        assert_eq!(r.next(30), Event::Msg(id, 0x01, Bytes::from_static(b"bye")));
        assert!(matches!(r.next(30), Event::Removed(p, _) if p == id));
    }
    hub.stop();
}

/// Keeps peers by id, as Go's reactors do; `remove_peer` takes 300 ms. Logs callbacks.
struct ById {
    ids: Mutex<std::collections::HashSet<PeerId>>,
    log: Log,
}

impl Reactor for ById {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(1, 1)]
    }
    fn add_peer(&self, p: &Arc<Peer>) {
        self.log.lock().unwrap().push(format!("add {:x}", ptr(p)));
        self.ids.lock().unwrap().insert(p.id());
    }
    fn remove_peer(&self, p: &Arc<Peer>, _: &Error) {
        self.log
            .lock()
            .unwrap()
            .push(format!("remove {:x}", ptr(p)));
        thread::sleep(Duration::from_millis(300));
        self.ids.lock().unwrap().remove(&p.id());
        self.log
            .lock()
            .unwrap()
            .push(format!("remove_end {:x}", ptr(p)));
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {}
}

/// Review 2, B2: a node that reconnected while its old connection's `remove_peer` was
/// still running was added at once, on another worker, so a reactor keeping peers by id
/// removed the node after adding it again. The new connection now waits for every
/// earlier one to be gone.
#[test]
fn a_quick_reconnect_is_added_after_the_old_remove_peer_returned() {
    let _w = watchdog("quick_reconnect", LIMIT);
    for _ in 0..3 {
        let r = Arc::new(ById {
            ids: Mutex::default(),
            log: Log::default(),
        });
        let s = Switch::new(config().workers(4), node_info("s")).unwrap();
        s.add_reactor("byid", r.clone()).unwrap();
        let s_addr = s.listen("127.0.0.1:0").unwrap();
        let (n, _) = plain("n");
        let old = n.dial(s_addr).unwrap();
        assert!(wait_until(Duration::from_secs(30), || count(
            &r.log, "add "
        ) == 1));
        n.stop_peer_for_error(&old, Error::Stopped);
        // While s's remove_peer for the old connection runs, n comes back.
        assert!(wait_until(Duration::from_secs(30), || count(
            &r.log, "remove "
        ) == 1));
        n.dial(s_addr).expect("the reconnect");
        assert!(wait_until(Duration::from_secs(30), || count(
            &r.log, "add "
        ) == 2));
        let log = r.log.lock().unwrap().clone();
        let kinds: Vec<&str> = log.iter().map(|e| e.split(' ').next().unwrap()).collect();
        assert_eq!(kinds, ["add", "remove", "remove_end", "add"], "{log:?}");
        assert!(r.ids.lock().unwrap().contains(&n.id()), "the node is known");
        n.stop();
        s.stop();
    }
}

/// A connection that already failed (its removal waiting for a busy worker) does not
/// make the node's next connection a refused duplicate: any new connection replaces a
/// failed one, whatever their ranks.
#[test]
fn a_failed_connection_still_in_the_set_does_not_refuse_a_reconnect() {
    let _w = watchdog("failed_then_reconnect", LIMIT);
    for round in 0..6 {
        let hub = probe(config().workers(1), None);
        let (n, _) = plain("n");
        let old = n.dial(hub.addr).unwrap();
        assert!(wait_until(Duration::from_secs(30), || count(
            &hub.log, "add_end"
        ) == 1));
        let z = block_worker(&hub);
        n.stop_peer_for_error(&old, Error::Stopped);
        // On the hub the old connection has failed; its removal waits for the worker.
        assert!(wait_until(Duration::from_secs(30), || hub
            .sw
            .peer(&n.id())
            .is_some_and(|p| !p.is_running())));
        let again = n.dial(hub.addr);
        assert!(again.is_ok(), "round {round}: the reconnect: {again:?}");
        hub.release.send(()).unwrap();
        assert!(wait_until(Duration::from_secs(30), || count(
            &hub.log, "add_end"
        ) == 3));
        for s in [z, n, hub.sw] {
            s.stop();
        }
    }
}

/// Review 2, B3: a dial whose connection hung up while its `add_peer` waited for the
/// replaced connection's removal reported `Duplicate`, though nothing stood.
#[test]
fn a_dial_whose_connection_dies_while_waiting_is_not_called_a_duplicate() {
    use std::io::Read;
    let _w = watchdog("dead_while_waiting", LIMIT);
    let hub = probe(config().workers(1), None);
    let top = PeerId([0xFF; 32]);
    // P0: inbound from node ff…ff, dialled by the higher id: ranks worse.
    let mut c0 = std::net::TcpStream::connect(hub.addr).unwrap();
    fake_handshake(&mut c0, [0xFF; 32]);
    assert!(wait_until(Duration::from_secs(30), || count(
        &hub.log, "add_end"
    ) == 1));
    let z = block_worker(&hub);
    // P1: the hub dials ff…ff (dialled by the lower id: wins); its add_peer waits for
    // P0's removal, which waits for the blocked worker.
    let (dial, c1) = dial_fake(&hub.sw, [0xFF; 32]);
    assert!(wait_until(Duration::from_secs(30), || hub
        .sw
        .peer(&top)
        .is_some_and(|p| p.is_outbound())));
    drop(c1); // P1 hangs up
    assert!(wait_until(Duration::from_secs(30), || hub
        .sw
        .peer(&top)
        .is_some_and(|p| !p.is_running())));
    hub.release.send(()).unwrap();
    let r = dial.join().unwrap();
    assert!(
        !matches!(r, Err(Error::Rejected(RejectReason::Duplicate))),
        "{r:?}"
    );
    let mut buf = [0u8; 1];
    c0.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    assert!(matches!(c0.read(&mut buf), Ok(0) | Err(_)), "P0 was closed");
    for s in [z, hub.sw] {
        s.stop();
    }
}
