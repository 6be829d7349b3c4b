//! Soak: 10 Switches in a full mesh (a third of the links persistent, and those run
//! through fault proxies), random message sizes on 3 channels, random peer kills, link
//! cuts and delays, persistent redials and plain re-dials.
//!
//! Every message carries (sender, connection incarnation, sequence number) for its
//! channel, numbered per (sender, receiver, channel, incarnation) and only when `send`
//! accepted it. On every connection, receivers must see 0, 1, 2, ... with no gap, no
//! repeat and exact content; on every connection that is still up at the end, everything
//! accepted must arrive. No reactor may panic, and RSS must not keep growing.
//!
//! Runs 20 s by default; `SOAK_SECS=600 cargo test --test soak -- --nocapture` for longer.
//! `SOAK_RSS_EVERY=10` also prints RSS, live heap bytes, threads and fds to stderr every 10 s
//! of the run.

// Index loops read best for a mesh of numbered nodes.
#![allow(clippy::needless_range_loop)]

mod support;

/// Counts live heap bytes, so the sampler can tell memory the program holds from memory
/// the allocator keeps (RSS).
#[global_allocator]
static GLOBAL: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mconn::{
    ChannelDescriptor, ChannelId, Error, MConnConfig, Peer, PeerId, Reactor, ReconnectSchedule,
    Switch,
};
use support::proxy::Proxy;
use support::switch::{config, node_info};
use support::*;

const NODES: usize = 10;
const CHANNELS: [ChannelId; 3] = [0x10, 0x11, 0x12];
const HEADER: usize = 1 + 8 + 8;

/// (sender, incarnation, channel) → messages `send` accepted.
type Accepted = HashMap<(usize, u64, ChannelId), u64>;
/// (sender, incarnation, channel) → messages received, and which receiver got them.
type Received = HashMap<(usize, u64, ChannelId), (usize, u64)>;

/// Shared by every node's reactor and the test.
struct World {
    ids: Mutex<Vec<PeerId>>,
    received: Mutex<Received>,
    violations: Mutex<Vec<String>>,
    incarnations: AtomicU64,
    removals: AtomicU64,
    panics: AtomicU64,
}

impl World {
    fn index(&self, id: &PeerId) -> Option<usize> {
        self.ids.lock().unwrap().iter().position(|x| x == id)
    }
    fn violation(&self, what: String) {
        eprintln!("VIOLATION: {what}");
        self.violations.lock().unwrap().push(what);
    }
}

struct Node {
    me: usize,
    world: Arc<World>,
}

fn body_seed(sender: usize, inc: u64, ch: ChannelId, seq: u64) -> u64 {
    (sender as u64) << 56 ^ inc << 32 ^ (ch as u64) << 24 ^ seq
}

fn message(sender: usize, inc: u64, ch: ChannelId, seq: u64, len: usize) -> Bytes {
    let mut m = Vec::with_capacity(HEADER + len);
    m.push(sender as u8);
    m.extend_from_slice(&inc.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend(pattern(body_seed(sender, inc, ch, seq), len));
    Bytes::from(m)
}

impl Reactor for Node {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        CHANNELS
            .iter()
            .map(|&c| ChannelDescriptor::new(c, 1 + c as u32 % 3).send_queue_capacity(8))
            .collect()
    }

    fn add_peer(&self, peer: &Arc<Peer>) {
        // Numbers this connection for our messages to the peer.
        let inc = self.world.incarnations.fetch_add(1, AcqRel);
        peer.set("inc", inc);
    }

    fn remove_peer(&self, _peer: &Arc<Peer>, reason: &Error) {
        self.world.removals.fetch_add(1, AcqRel);
        if matches!(reason, Error::ReactorPanic(_)) {
            self.world.panics.fetch_add(1, AcqRel);
        }
    }

    fn receive(&self, ch: ChannelId, peer: &Arc<Peer>, msg: Bytes) {
        let w = &self.world;
        if msg.len() < HEADER {
            return w.violation(format!("node {}: {}-byte message", self.me, msg.len()));
        }
        let sender = msg[0] as usize;
        let inc = u64::from_be_bytes(msg[1..9].try_into().unwrap());
        let seq = u64::from_be_bytes(msg[9..17].try_into().unwrap());
        if w.index(&peer.id()) != Some(sender) {
            return w.violation(format!(
                "node {}: message of {sender} from another peer",
                self.me
            ));
        }
        // One connection carries one incarnation of the sender's numbering.
        let first = peer.get::<u64>("their_inc");
        match first {
            None => peer.set("their_inc", inc),
            Some(f) if *f != inc => {
                return w.violation(format!(
                    "node {}: incarnation {inc} of {sender} on the connection of {f}",
                    self.me
                ))
            }
            Some(_) => {}
        }
        if msg[HEADER..] != pattern(body_seed(sender, inc, ch, seq), msg.len() - HEADER)[..] {
            return w.violation(format!(
                "node {}: corrupt {sender}/{inc}/{ch}/{seq}",
                self.me
            ));
        }
        let mut r = w.received.lock().unwrap();
        let e = r.entry((sender, inc, ch)).or_insert((self.me, 0));
        if e.0 != self.me {
            return w.violation(format!(
                "incarnation {inc} of {sender} received by {} and {}",
                e.0, self.me
            ));
        }
        if seq != e.1 {
            let want = e.1;
            drop(r);
            return w.violation(format!(
                "node {} from {sender} inc {inc} ch {ch:#x}: seq {seq}, expected {want}",
                self.me
            ));
        }
        e.1 += 1;
    }
}

/// VmRSS in bytes.
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn persistent(i: usize, j: usize) -> bool {
    (i + j) % 3 == 0
}

/// A random message length: mostly small, sometimes a few packets, rarely large.
fn random_len(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=69 => rng.below(1024) as usize,
        70..=94 => 1024 + rng.below(15 * 1024) as usize,
        _ => 16 * 1024 + rng.below(240 * 1024) as usize,
    }
}

/// Node `me` sends to random peers on random channels until `stop`; counts what `send`
/// accepted, per incarnation and channel.
fn sender(
    me: usize,
    sw: Switch,
    stop: Arc<AtomicBool>,
    accepted: Arc<Mutex<Accepted>>,
    bytes: Arc<AtomicU64>,
) {
    let mut rng = Rng(0x50A4 + me as u64 * 7919);
    while !stop.load(Acquire) {
        let peers = sw.peers();
        if peers.is_empty() {
            thread::sleep(Duration::from_millis(5));
            continue;
        }
        let mut sent_any = false;
        for _ in 0..peers.len() {
            let p = &peers[rng.below(peers.len() as u64) as usize];
            let Some(inc) = p.get::<u64>("inc") else {
                continue;
            };
            let ch = CHANNELS[rng.below(3) as usize];
            let key = (me, *inc, ch);
            let seq = accepted.lock().unwrap().get(&key).copied().unwrap_or(0);
            let len = random_len(&mut rng);
            let msg = message(me, *inc, ch, seq, len);
            // Mostly try_send; sometimes a blocking send (bounded by send_timeout).
            let ok = if rng.below(10) == 0 {
                p.send(ch, msg).is_ok()
            } else {
                p.try_send(ch, msg).is_ok()
            };
            if ok {
                *accepted.lock().unwrap().entry(key).or_insert(0) += 1;
                bytes.fetch_add(len as u64, Relaxed);
                sent_any = true;
            }
        }
        if !sent_any {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Dials every missing non-persistent link (the lower index dials the higher).
fn redial_missing(switches: &[Switch], addrs: &[std::net::SocketAddr], ids: &[PeerId]) {
    for i in 0..NODES {
        for j in i + 1..NODES {
            if persistent(i, j) || switches[i].peer(&ids[j]).is_some() {
                continue;
            }
            let _ = switches[i].dial(addrs[j]);
        }
    }
}

fn full_mesh(switches: &[Switch]) -> bool {
    switches.iter().map(|s| s.peers()).all(|ps| {
        ps.len() == NODES - 1
            && ps
                .iter()
                .all(|p| p.is_running() && p.get::<u64>("inc").is_some())
    })
}

#[test]
fn soak_mesh_with_kills_and_reconnects() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let run = Duration::from_secs(secs);
    let rss_every: Option<u64> = std::env::var("SOAK_RSS_EVERY")
        .ok()
        .and_then(|v| v.parse().ok());
    let _w = watchdog("soak", run + Duration::from_secs(240));
    let world = Arc::new(World {
        ids: Mutex::new(Vec::new()),
        received: Mutex::new(HashMap::new()),
        violations: Mutex::new(Vec::new()),
        incarnations: AtomicU64::new(0),
        removals: AtomicU64::new(0),
        panics: AtomicU64::new(0),
    });
    let reconnect = ReconnectSchedule::default().scaled(
        Duration::from_millis(100),
        Duration::from_millis(100),
        Duration::from_millis(100),
    );
    let cfg = config()
        .workers(2)
        .reconnect(reconnect)
        .mconn(MConnConfig::default().send_timeout(Duration::from_millis(200)));
    let mut switches = Vec::new();
    let mut addrs = Vec::new();
    for i in 0..NODES {
        let sw = Switch::new(cfg.clone(), node_info(&format!("n{i}"))).unwrap();
        sw.add_reactor(
            "soak",
            Arc::new(Node {
                me: i,
                world: world.clone(),
            }),
        )
        .unwrap();
        addrs.push(sw.listen("127.0.0.1:0").unwrap());
        world.ids.lock().unwrap().push(sw.id());
        switches.push(sw);
    }
    let ids = world.ids.lock().unwrap().clone();
    let mut proxies = Vec::new();
    for i in 0..NODES {
        for j in i + 1..NODES {
            if persistent(i, j) {
                let proxy = Proxy::start(addrs[j]);
                switches[i].dial_persistent(proxy.addr()).unwrap();
                proxies.push(proxy);
            } else {
                switches[i].dial(addrs[j]).unwrap();
            }
        }
    }
    assert!(
        wait_until(Duration::from_secs(30), || full_mesh(&switches)),
        "the mesh never formed"
    );

    let stop_senders = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(Accepted::new()));
    let bytes = Arc::new(AtomicU64::new(0));
    let senders: Vec<_> = (0..NODES)
        .map(|i| {
            let (sw, stop, acc, b) = (
                switches[i].clone(),
                stop_senders.clone(),
                accepted.clone(),
                bytes.clone(),
            );
            thread::Builder::new()
                .name(format!("soak-send-{i}"))
                .spawn(move || sender(i, sw, stop, acc, b))
                .unwrap()
        })
        .collect();

    // Run: every 100..500 ms kill a random peer, or cut a proxied link, or change its
    // delay; re-dial missing plain links now and then.
    let start = Instant::now();
    let mut rng = Rng(0xC0FFEE);
    let (mut kills, mut cuts) = (0u64, 0u64);
    let mut rss_third = None;
    let mut next_sample = 0;
    while start.elapsed() < run {
        if let Some(every) = rss_every.filter(|_| start.elapsed().as_secs() >= next_sample) {
            eprintln!(
                "soak-rss t={next_sample}s rss={:.1}MiB heap={:.1}MiB threads={} fds={} keys={}",
                rss() as f64 / (1 << 20) as f64,
                {
                    let st = GLOBAL.stats();
                    st.bytes_allocated.saturating_sub(st.bytes_deallocated) as f64
                        / (1 << 20) as f64
                },
                thread_count(),
                fd_count(),
                world.received.lock().unwrap().len(),
            );
            next_sample += every.max(1);
        }
        thread::sleep(Duration::from_millis(100 + rng.below(400)));
        let proxy = &proxies[rng.below(proxies.len() as u64) as usize];
        match rng.below(10) {
            0..=5 => {
                let sw = &switches[rng.below(NODES as u64) as usize];
                let peers = sw.peers();
                if !peers.is_empty() {
                    let p = &peers[rng.below(peers.len() as u64) as usize];
                    sw.stop_peer_for_error(p, Error::Malformed("soak: killed".into()));
                    kills += 1;
                }
            }
            6..=8 => {
                proxy.cut_now();
                cuts += 1;
            }
            _ => proxy.set_delay(Duration::from_millis(rng.below(3))),
        }
        if rng.below(3) == 0 {
            redial_missing(&switches, &addrs, &ids);
        }
        if rss_third.is_none() && start.elapsed() >= run / 3 {
            rss_third = Some(rss());
        }
    }
    let rss_end = rss();

    // Settle: no more kills; the mesh comes back whole; then stop sending and drain.
    let healed = wait_until(Duration::from_secs(60), || {
        redial_missing(&switches, &addrs, &ids);
        full_mesh(&switches)
    });
    assert!(healed, "the mesh did not heal after the kills stopped");
    stop_senders.store(true, Release);
    for s in senders {
        s.join().expect("a sender panicked");
    }
    let accepted = accepted.lock().unwrap().clone();

    // Connections up at the end (both ends running, same incarnation): everything
    // accepted must arrive. A link that was about to drop when the heal check passed
    // (a cut whose close had not reached one end yet) is healed again first.
    let live_links = || -> Vec<(usize, u64, usize)> {
        (0..NODES)
            .flat_map(|i| {
                switches[i]
                    .peers()
                    .into_iter()
                    .filter(|p| p.is_running())
                    .filter_map(move |p| Some((i, *p.get::<u64>("inc")?, p.id())))
                    .collect::<Vec<_>>()
            })
            .filter_map(|(i, inc, id)| Some((i, inc, ids.iter().position(|x| *x == id)?)))
            .collect()
    };
    let mut live = live_links();
    let all_up = wait_until(Duration::from_secs(60), || {
        redial_missing(&switches, &addrs, &ids);
        live = live_links();
        live.len() == NODES * (NODES - 1)
    });
    assert!(
        all_up,
        "every link is up: {} of {}",
        live.len(),
        NODES * (NODES - 1)
    );
    let missing = || -> Vec<String> {
        let r = world.received.lock().unwrap();
        let mut out = Vec::new();
        for &(s, inc, to) in &live {
            for ch in CHANNELS {
                let sent = accepted.get(&(s, inc, ch)).copied().unwrap_or(0);
                let (who, got) = r.get(&(s, inc, ch)).copied().unwrap_or((to, 0));
                if who != to || got != sent {
                    out.push(format!(
                        "{s}->{to} inc {inc} ch {ch:#x}: accepted {sent}, received {got}"
                    ));
                }
            }
        }
        out
    };
    let drained = wait_until(Duration::from_secs(60), || missing().is_empty());
    assert!(drained, "undelivered on live connections: {:?}", missing());

    // Totals, and what the killed connections lost (accepted but never received).
    let received = world.received.lock().unwrap().clone();
    let total_accepted: u64 = accepted.values().sum();
    let total_received: u64 = received.values().map(|v| v.1).sum();
    let mut lost_on_killed = 0;
    for (k, &n) in &accepted {
        let got = received.get(k).map_or(0, |v| v.1);
        assert!(got <= n, "{k:?}: received {got} of {n} accepted");
        lost_on_killed += n - got;
    }
    let violations = world.violations.lock().unwrap().clone();
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let rss_third = rss_third.unwrap_or(rss_end);
    println!(
        "soak {secs} s: {total_accepted} messages ({:.1} MiB) accepted, {total_received} \
         received, {lost_on_killed} lost with killed connections; {kills} kills, {cuts} \
         cuts, {} connections, {} removals; RSS {:.1} MiB at 1/3, {:.1} MiB at the end",
        mib(bytes.load(Relaxed)),
        world.incarnations.load(Acquire),
        world.removals.load(Acquire),
        mib(rss_third),
        mib(rss_end),
    );
    assert!(
        violations.is_empty(),
        "{} violations: {violations:?}",
        violations.len()
    );
    assert_eq!(world.panics.load(Acquire), 0, "a reactor panicked");
    assert!(total_received > 0 && kills + cuts > 0);
    // RSS is stable: what is in flight is bounded by the queues; allow for allocator
    // noise and the odd 256 KiB message.
    assert!(
        rss_end <= rss_third + (rss_third / 2).max(64 << 20),
        "RSS grew from {:.1} MiB to {:.1} MiB",
        mib(rss_third),
        mib(rss_end)
    );
    for s in &switches {
        s.stop();
    }
}
