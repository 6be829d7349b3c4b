//! The promises of the README's "Metrics" section under attack (from a hostile review):
//! counters that match what happened, round trips a peer cannot fake, labels that stay
//! bounded, and scrapes that never wedge. Each test names the promise it attacks.
#![cfg(feature = "metrics")]

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use mconn::prometheus_client::{encoding::prometheus_text, registry::Registry};
use mconn::{
    ChannelDescriptor, ChannelId, Error, MConnConfig, Peer, Reactor, RejectReason, Switch,
    SwitchEvent,
};
use support::switch::*;
use support::*;

const LIMIT: Duration = Duration::from_secs(120);

/// One scrape: the text, and every sample keyed by its name and labels as printed.
/// Panics if a series appears twice (Prometheus refuses such a page).
fn scrape(registry: &Registry) -> (String, BTreeMap<String, f64>) {
    let mut text = String::new();
    prometheus_text::encode(&mut text, registry).expect("encode");
    let mut samples = BTreeMap::new();
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (key, value) = l.rsplit_once(' ').expect("name value");
        let old = samples.insert(key.to_string(), value.parse::<f64>().expect("a number"));
        assert!(old.is_none(), "series {key} twice in one scrape:\n{text}");
    }
    (text, samples)
}

fn registry_of(sw: &Switch) -> Registry {
    let mut registry = Registry::with_prefix("cometbft");
    sw.register_metrics(&mut registry);
    registry
}

fn key(i: u32) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..4].copy_from_slice(&i.to_be_bytes());
    k[31] = 1;
    k
}

/// A hand-played v0.12 peer connected to `addr` and admitted.
fn fake_peer(addr: std::net::SocketAddr, i: u32) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    fake_handshake(&mut s, key(i));
    s
}

// ---------------------------------------------------------------------------------------
// Promise 3: counters match events.
// ---------------------------------------------------------------------------------------

/// README: `peers_refused_total{direction,reason}` counts "peers refused (`duplicate`,
/// `too_many_inbound`, ...)". N inbound connections refused because max_inbound_peers is
/// reached must show as N.
#[test]
fn inbound_connections_refused_by_max_inbound_peers_are_counted() {
    if cometbft_family() {
        return; // hand-played v0.12 peers
    }
    let _w = watchdog("metrics_too_many_inbound", LIMIT);
    let cfg = config().max_inbound_peers(1);
    let rec = Recorder::new(&[0x40]);
    let (a, addr) = listening("a", &[("app", rec.clone())], cfg);
    let reg = registry_of(&a);
    let events = a.events(64);
    let _first = fake_peer(addr, 1);
    assert!(wait_peers(&a, 1, 30));

    const N: usize = 3;
    let _extra: Vec<TcpStream> = (0..N).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut refused = 0;
    while refused < N {
        if let SwitchEvent::InboundRefused {
            reason: Error::Rejected(RejectReason::TooManyInbound),
            ..
        } = events.recv_timeout(LIMIT).expect("an InboundRefused event")
        {
            refused += 1;
        }
    }
    // The switch said so N times; the metric must agree.
    let (text, samples) = scrape(&reg);
    let series =
        "cometbft_p2p_peers_refused_total{direction=\"inbound\",reason=\"too_many_inbound\"}";
    assert_eq!(
        samples.get(series).copied(),
        Some(N as f64),
        "{N} InboundRefused(TooManyInbound) events, but the metric says:\n{text}"
    );
    a.stop();
}

/// keepalive_timeouts_total counts a peer that never answers our ping (passes: pins the
/// promise, which no test checked end to end).
#[test]
fn a_silent_peer_is_one_keepalive_timeout() {
    if cometbft_family() {
        return;
    }
    let _w = watchdog("metrics_keepalive_timeout", LIMIT);
    let mut cfg = config();
    cfg.mconn = MConnConfig::default()
        .ping_interval(Duration::from_millis(100))
        .pong_timeout(Duration::from_millis(50));
    let rec = Recorder::new(&[0x40]);
    let (a, addr) = listening("a", &[("app", rec.clone())], cfg);
    let reg = registry_of(&a);
    let _silent = fake_peer(addr, 7); // never reads, never writes again
    assert!(wait_peers(&a, 1, 30));
    assert!(wait_peers(&a, 0, 60), "the silent peer is dropped");
    let (text, samples) = scrape(&reg);
    assert_eq!(
        samples["cometbft_p2p_keepalive_timeouts_total"], 1.0,
        "{text}"
    );
    assert_eq!(
        samples.get("cometbft_p2p_peers_removed_total{reason=\"pong_timeout\"}"),
        Some(&1.0),
        "{text}"
    );
    a.stop();
}

/// Per-channel byte counters match what flowed, each way, on two channels, with a
/// message larger than one packet and an empty one (passes; pins the promise).
#[test]
fn per_channel_bytes_match_what_flowed_each_way() {
    let _w = watchdog("metrics_per_channel_bytes", LIMIT);
    let (ra, rb) = (Recorder::new(&[0x40, 0x41]), Recorder::new(&[0x40, 0x41]));
    let (a, addr) = listening("a", &[("app", ra.clone())], config());
    let b = Switch::new(config(), node_info("b")).unwrap();
    b.add_reactor("app", rb.clone()).unwrap();
    let (reg_a, reg_b) = (registry_of(&a), registry_of(&b));
    let peer = b.dial(addr).unwrap();
    let sizes_40 = [0usize, 1, 5000, 70_000];
    let sizes_41 = [3usize, 1024];
    for n in sizes_40 {
        peer.send(0x40, vec![1u8; n]).unwrap();
    }
    for n in sizes_41 {
        peer.send(0x41, vec![2u8; n]).unwrap();
    }
    for _ in 0..sizes_40.len() + sizes_41.len() {
        ra.next_msg(30);
    }
    let a_peer = a.peers().pop().unwrap();
    let label = |p: &Peer| {
        if cometbft_family() {
            mconn::NodeId::of(&p.id()).to_string()
        } else {
            p.id().to_string()
        }
    };
    let (id_a, id_b) = (label(&peer), label(&a_peer));
    let (text_b, sb) = scrape(&reg_b);
    let (text_a, sa) = scrape(&reg_a);
    for (ch, total) in [
        ("0x40", sizes_40.iter().sum::<usize>()),
        ("0x41", sizes_41.iter().sum::<usize>()),
    ] {
        let sent =
            format!("cometbft_p2p_peer_send_bytes_total{{peer_id=\"{id_a}\",chID=\"{ch}\"}}");
        let recv =
            format!("cometbft_p2p_peer_receive_bytes_total{{peer_id=\"{id_b}\",chID=\"{ch}\"}}");
        assert_eq!(sb.get(&sent), Some(&(total as f64)), "{text_b}");
        assert_eq!(sa.get(&recv), Some(&(total as f64)), "{text_a}");
    }
    b.stop();
    a.stop();
}

/// Dials to a dead address are counted once each, with a closed-set reason (passes).
#[test]
fn failed_dials_are_counted_with_a_fixed_reason() {
    let _w = watchdog("metrics_dial_failures", LIMIT);
    let a = Switch::new(config(), node_info("a")).unwrap();
    a.add_reactor("app", Recorder::new(&[0x40])).unwrap();
    let reg = registry_of(&a);
    for _ in 0..4 {
        assert!(a.dial(dead_addr()).is_err());
    }
    let (text, s) = scrape(&reg);
    assert_eq!(s["cometbft_p2p_dials_total"], 4.0, "{text}");
    assert_eq!(
        s.get("cometbft_p2p_dial_failures_total{reason=\"connection_refused\"}"),
        Some(&4.0),
        "{text}"
    );
    assert!(
        !text.contains("127.0.0.1"),
        "no address in a label:\n{text}"
    );
    a.stop();
}

// ---------------------------------------------------------------------------------------
// Promise 3: reactor_pending_bytes returns to 0.
// ---------------------------------------------------------------------------------------

/// A reactor that signals each message and holds it until released (or panics on it).
struct Slow {
    arrived: Sender<()>,
    release: Receiver<()>,
    panic: bool,
}

impl Reactor for Slow {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(0x41, 1).send_queue_capacity(64)]
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {
        let _ = self.arrived.send(());
        let _ = self.release.recv_timeout(LIMIT);
        if self.panic {
            panic!("the reactor panics on purpose");
        }
    }
}

const PENDING: &str = "cometbft_p2p_reactor_pending_bytes{reactor=\"slow\"}";

/// A switch `a` with a Slow reactor, a peer `b` that sent it `n` messages of 700 bytes;
/// returns once the first is inside the reactor and all are in a's hands.
fn backlog(n: usize, panic: bool) -> (Switch, Switch, Registry, Sender<()>, Receiver<()>) {
    let (arrived_tx, arrived) = bounded(64);
    let (release_tx, release) = bounded(64);
    let slow = Arc::new(Slow {
        arrived: arrived_tx,
        release,
        panic,
    });
    let a = Switch::new(config(), node_info("a")).unwrap();
    a.add_reactor("slow", slow).unwrap();
    let addr = a.listen("127.0.0.1:0").unwrap();
    let reg = registry_of(&a);
    let b = Switch::new(config(), node_info("b")).unwrap();
    b.add_reactor("slow", Recorder::new(&[0x41])).unwrap();
    let peer = b.dial(addr).unwrap();
    for _ in 0..n {
        peer.send(0x41, vec![1u8; 700]).unwrap();
    }
    arrived.recv_timeout(LIMIT).unwrap();
    let want = (n * 700) as f64;
    assert!(
        wait_until(LIMIT, || scrape(&reg).1.get(PENDING) == Some(&want)),
        "backlog of {n}: {}",
        scrape(&reg).0
    );
    (a, b, reg, release_tx, arrived)
}

/// The backlog shows in bytes (one message inside the reactor, the rest queued for it:
/// one (peer, channel) goes to one worker, in order) and drains as they are handled.
#[test]
fn a_slow_reactors_backlog_shows_in_bytes_and_drains() {
    let _w = watchdog("metrics_backlog", LIMIT);
    let (a, b, reg, release, _arrived) = backlog(3, false);
    for _ in 0..3 {
        release.send(()).unwrap();
    }
    assert!(wait_until(LIMIT, || scrape(&reg).1.get(PENDING) == Some(&0.0)));
    b.stop();
    a.stop();
}

/// README: "bytes of received messages handed to workers for a reactor and not yet
/// handled". Once the switch has stopped, nothing is handed to a reactor any more: the
/// gauge must go back to 0 (or the family go away), not report the dropped backlog for
/// ever.
#[test]
fn reactor_pending_bytes_return_to_zero_after_the_switch_stops() {
    let _w = watchdog("metrics_pending_after_stop", LIMIT);
    let (a, b, reg, release, _arrived) = backlog(6, false);
    let events = a.events(8);
    // stop() waits for the callback in progress: release it from here, once the stop
    // has begun (a stopping switch closes its event streams).
    let stopper = {
        let a = a.clone();
        std::thread::spawn(move || a.stop())
    };
    loop {
        match events.recv_timeout(LIMIT) {
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("the stop did not begin: {e}"),
            Ok(_) => {}
        }
    }
    for _ in 0..6 {
        release.send(()).unwrap();
    }
    stopper.join().unwrap();
    b.stop();
    let drained = wait_until(Duration::from_secs(20), || {
        scrape(&reg).1.get(PENDING).copied().unwrap_or(0.0) == 0.0
    });
    assert!(
        drained,
        "the switch stopped, yet the reactor is still owed:\n{}",
        scrape(&reg).0
    );
}

/// The backlog of a peer removed mid-way drains to 0 (passes; pins the promise).
#[test]
fn reactor_pending_bytes_return_to_zero_after_the_peer_leaves_mid_backlog() {
    let _w = watchdog("metrics_pending_after_removal", LIMIT);
    let (a, b, reg, release, _arrived) = backlog(4, false);
    b.stop();
    for _ in 0..4 {
        release.send(()).unwrap();
    }
    assert!(
        wait_until(LIMIT, || scrape(&reg).1.get(PENDING) == Some(&0.0)),
        "{}",
        scrape(&reg).0
    );
    assert!(wait_peers(&a, 0, 60));
    a.stop();
}

/// A reactor that panics gives its message's bytes back, and the rest of the peer's
/// backlog drains (passes; pins the promise).
#[test]
fn reactor_pending_bytes_return_to_zero_after_a_reactor_panics() {
    let _w = watchdog("metrics_pending_after_panic", LIMIT);
    let (a, b, reg, release, _arrived) = backlog(3, true);
    for _ in 0..3 {
        release.send(()).unwrap();
    }
    assert!(
        wait_until(LIMIT, || scrape(&reg).1.get(PENDING) == Some(&0.0)),
        "{}",
        scrape(&reg).0
    );
    b.stop();
    a.stop();
}

// ---------------------------------------------------------------------------------------
// Promise 2: an honest round-trip time.
// ---------------------------------------------------------------------------------------

fn keepalive(interval_ms: u64, timeout_ms: u64) -> MConnConfig {
    MConnConfig::default()
        .ping_interval(Duration::from_millis(interval_ms))
        .pong_timeout(Duration::from_millis(timeout_ms))
}

/// A v0.12 message packet of one byte on channel 0x01.
const MSG_ON_01: [u8; 6] = [0x03, 0x01, 0x01, 0x01, 0x01, 0x07];

/// ping_stats.rs: "a peer cannot make up a round trip without being pinged". A peer
/// that never reads (so never sees a single ping of ours) but sprays pongs must not get
/// a round-trip time: it answered nothing.
#[test]
fn a_peer_that_never_reads_our_pings_gets_no_round_trip_by_spraying_pongs() {
    let _w = watchdog("metrics_pong_spray", LIMIT);
    let (ours, peer) = tcp_pair();
    let c = start(ours, vector_channels(), keepalive(100, 90));
    let stop = Arc::new(AtomicBool::new(false));
    let sprayer = {
        let (mut peer, stop) = (peer, stop.clone());
        std::thread::spawn(move || {
            // Never reads: our pings pile up unread in its socket buffer.
            while !stop.load(Ordering::Relaxed) {
                if peer.write_all(&[0x02]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    assert!(
        wait_until(LIMIT, || c.conn.status().pings_sent >= 3),
        "{:?}",
        c.conn.status()
    );
    let s = c.conn.status();
    stop.store(true, Ordering::Relaxed);
    sprayer.join().unwrap();
    assert_eq!(
        s.rtt, None,
        "the peer never read one of our {} pings, yet an rtt was measured from its \
         {} unsolicited pongs",
        s.pings_sent, s.pongs_received
    );
}

/// A peer that answers every ping D after reading it: no pong ever comes back sooner than
/// D after the ping it answers, so an honest rtt is at least D. The link is busy (the
/// peer sends a message every few ms), so pings go out every interval, and D is longer
/// than one interval.
#[test]
fn a_slow_peers_round_trip_is_not_understated_on_a_busy_link() {
    let _w = watchdog("metrics_slow_pong", LIMIT);
    let (ours, peer) = tcp_pair();
    let c = start(ours, vector_channels(), keepalive(100, 90));
    let delay = Duration::from_millis(350);
    let (pinged_tx, pinged) = unbounded::<Instant>();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let mut peer = peer.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            // We send nothing but pings (0x01), one byte each.
            while let Ok(n) = peer.read(&mut buf) {
                if n == 0 {
                    return;
                }
                for b in &buf[..n] {
                    assert_eq!(*b, 0x01, "only pings from our side");
                    let _ = pinged_tx.send(Instant::now());
                }
            }
        })
    };
    let writer = {
        let (mut peer, stop) = (peer, stop.clone());
        std::thread::spawn(move || {
            let mut due = std::collections::VecDeque::new();
            while !stop.load(Ordering::Relaxed) {
                while let Ok(t) = pinged.try_recv() {
                    due.push_back(t + delay);
                }
                let mut out = MSG_ON_01.to_vec(); // keeps the link busy
                while due.front().is_some_and(|t| *t <= Instant::now()) {
                    due.pop_front();
                    out.push(0x02);
                }
                if peer.write_all(&out).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = peer.shutdown(std::net::Shutdown::Both);
        })
    };
    assert!(
        wait_until(LIMIT, || c.conn.status().pongs_received >= 3),
        "{:?}",
        c.conn.status()
    );
    let s = c.conn.status();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let _ = reader.join();
    let rtt = s.rtt.expect("a round trip measured");
    assert!(
        rtt >= delay,
        "every pong left the peer {delay:?} after it read the ping, yet rtt = {rtt:?} \
         ({} pings, {} pongs)",
        s.pings_sent,
        s.pongs_received
    );
}

/// README: "We ping every ping_interval whether or not other traffic flows, so a busy
/// link is measured too." With a send_rate, a large queued message is written as one
/// long, rate-limited batch (up to send_buffer_size, 512 KiB); pings must still go out
/// every interval meanwhile. (A lower bound with 4x slack: one ping per 4 intervals of
/// the time the data took. The pong timeout is long enough for the rate limiter's
/// 100 ms bursts: the peer hears from us every 100 ms or so.)
#[test]
fn a_rate_limited_busy_link_still_pings_every_interval() {
    let _w = watchdog("metrics_rate_limited_pings", LIMIT);
    let interval = Duration::from_millis(300);
    let cfg = keepalive(300, 250).send_rate(Some(20_000));
    let (a, b) = conn_pair(vector_channels(), cfg);
    let start = Instant::now();
    a.conn.send(0x01, vec![9u8; 300_000]).unwrap();
    // At 20 kB/s, 100 kB take about 5 s (16 intervals).
    assert!(
        wait_until(LIMIT, || b.conn.status().bytes_received >= 100_000),
        "a: {:?}\nb: {:?}\nerrors: {:?} {:?}",
        a.conn.status(),
        b.conn.status(),
        a.errors.try_recv(),
        b.errors.try_recv()
    );
    let elapsed = start.elapsed();
    let s = a.conn.status();
    let want = (elapsed.as_millis() / (4 * interval.as_millis())) as u64;
    assert!(
        s.pings_sent >= want,
        "{} pings in {elapsed:?} of a busy, rate-limited link (ping_interval {interval:?}); \
         want at least {want}",
        s.pings_sent
    );
    assert!(a.conn.is_running() && b.conn.is_running());
}

/// Duration::MAX settings mean "never": no ping, no panic, no rtt series (passes).
#[test]
fn huge_keepalive_settings_mean_never_and_scrape_fine() {
    let _w = watchdog("metrics_huge_keepalive", LIMIT);
    let mut cfg = config();
    cfg.mconn = MConnConfig::default()
        .ping_interval(Duration::MAX)
        .pong_timeout(Duration::MAX - Duration::from_nanos(1));
    let ra = Recorder::new(&[0x40]);
    let (a, addr) = listening("a", &[("app", ra.clone())], cfg.clone());
    let b = Switch::new(cfg, node_info("b")).unwrap();
    b.add_reactor("app", Recorder::new(&[0x40])).unwrap();
    let reg = registry_of(&b);
    let peer = b.dial(addr).unwrap();
    for i in 0..20u8 {
        peer.send(0x40, vec![i; 100]).unwrap();
    }
    for _ in 0..20 {
        ra.next_msg(30);
    }
    let (text, _) = scrape(&reg);
    let s = peer.status();
    assert_eq!((s.pings_sent, s.rtt), (0, None), "{s:?}");
    assert!(!text.contains("peer_rtt_seconds{"), "{text}");
    assert!(peer.is_running());
    b.stop();
    a.stop();
}

// ---------------------------------------------------------------------------------------
// Promise 4: no deadlock, no wedge, no leak through the registry.
// ---------------------------------------------------------------------------------------

/// A reactor that scrapes the registry from inside each of its callbacks.
struct Scraper {
    registry: Arc<OnceLock<Registry>>,
    seen: Sender<(&'static str, String)>,
}

impl Scraper {
    fn scrape(&self, what: &'static str) {
        if let Some(reg) = self.registry.get() {
            let _ = self.seen.send((what, scrape(reg).0));
        }
    }
}

impl Reactor for Scraper {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(0x40, 1)]
    }
    fn add_peer(&self, _: &Arc<Peer>) {
        self.scrape("add_peer");
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {
        self.scrape("receive");
    }
    fn remove_peer(&self, _: &Arc<Peer>, _: &Error) {
        self.scrape("remove_peer");
    }
}

/// Scraping from inside add_peer, receive and remove_peer neither deadlocks nor panics
/// (passes; pins the promise).
#[test]
fn scraping_from_inside_reactor_callbacks_does_not_deadlock() {
    let _w = watchdog("metrics_scrape_in_callbacks", LIMIT);
    let registry = Arc::new(OnceLock::new());
    let (seen_tx, seen) = unbounded();
    let a = Switch::new(config(), node_info("a")).unwrap();
    a.add_reactor(
        "scraper",
        Arc::new(Scraper {
            registry: registry.clone(),
            seen: seen_tx,
        }),
    )
    .unwrap();
    registry.set(registry_of(&a)).unwrap();
    let addr = a.listen("127.0.0.1:0").unwrap();
    let b = Switch::new(config(), node_info("b")).unwrap();
    b.add_reactor("scraper", Recorder::new(&[0x40])).unwrap();
    let peer = b.dial(addr).unwrap();
    peer.send(0x40, vec![1u8; 10]).unwrap();
    let mut whats = Vec::new();
    for _ in 0..2 {
        let (what, text) = seen.recv_timeout(LIMIT).expect("a scrape from a callback");
        assert!(text.contains("cometbft_p2p_peers 1"), "{what}: {text}");
        whats.push(what);
    }
    assert_eq!(whats, ["add_peer", "receive"]);
    b.stop();
    let (what, _) = seen.recv_timeout(LIMIT).expect("a scrape from remove_peer");
    assert_eq!(what, "remove_peer");
    a.stop();
}

/// A reactor that says when the switch lets go of it.
struct DropFlag(Sender<()>);

impl Reactor for DropFlag {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(0x40, 1)]
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {}
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// README: "The registry holds the switch weakly (it neither keeps the switch running nor
/// fails once it is gone)." Three threads scrape in a tight loop while the last handle
/// is dropped: the switch is freed (its reactor dropped), and scrapes then report
/// nothing, without a panic (passes; pins the promise).
#[test]
fn a_registry_scraped_hard_while_the_switch_is_dropped_lets_it_go() {
    let _w = watchdog("metrics_registry_outlives", LIMIT);
    let (dropped_tx, dropped) = unbounded();
    let a = Switch::new(config(), node_info("a")).unwrap();
    a.add_reactor("flag", Arc::new(DropFlag(dropped_tx)))
        .unwrap();
    let addr = a.listen("127.0.0.1:0").unwrap();
    let registry = Arc::new(registry_of(&a));
    let b = Switch::new(config(), node_info("b")).unwrap();
    b.add_reactor("flag", Recorder::new(&[0x40])).unwrap();
    b.dial(addr).unwrap();
    assert!(wait_peers(&a, 1, 30));
    let stop = Arc::new(AtomicBool::new(false));
    let scrapes = Arc::new(AtomicUsize::new(0));
    let scrapers: Vec<_> = (0..3)
        .map(|_| {
            let (registry, stop, scrapes) = (registry.clone(), stop.clone(), scrapes.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    scrape(&registry);
                    scrapes.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    assert!(wait_until(LIMIT, || scrapes.load(Ordering::Relaxed) >= 30));
    drop(a);
    dropped
        .recv_timeout(LIMIT)
        .expect("the switch is freed while the registry is scraped");
    let after = scrapes.load(Ordering::Relaxed);
    assert!(wait_until(LIMIT, || scrapes.load(Ordering::Relaxed) >= after + 30));
    stop.store(true, Ordering::Relaxed);
    for s in scrapers {
        s.join().expect("a scraper panicked");
    }
    let (text, _) = scrape(&registry);
    assert!(!text.contains("cometbft_p2p_"), "{text}");
    b.stop();
}

/// Scrapes from several threads while peers come and go and then the switch stops:
/// every scrape is a valid page (no series twice, peers gauge within bounds), and the
/// registry size does not depend on how many distinct ids came by (passes).
#[test]
fn scraping_from_several_threads_during_churn_and_stop() {
    if cometbft_family() {
        return;
    }
    let _w = watchdog("metrics_scrape_churn", Duration::from_secs(300));
    let cfg = config().max_inbound_peers(4);
    let rec = Recorder::new(&[0x40]);
    let (a, addr) = listening("a", &[("app", rec.clone())], cfg);
    let registry = Arc::new(registry_of(&a));
    let stop = Arc::new(AtomicBool::new(false));
    let scrapers: Vec<_> = (0..3)
        .map(|_| {
            let (registry, stop) = (registry.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (text, s) = scrape(&registry);
                    let peers = s.get("cometbft_p2p_peers").copied().unwrap_or(0.0);
                    assert!(peers <= 4.0, "{text}");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut size_after_warmup = None;
    for round in 0..60u32 {
        let socks: Vec<TcpStream> = (0..3).map(|i| fake_peer(addr, round * 3 + i)).collect();
        assert!(wait_peers(&a, 3, 60), "round {round}");
        drop(socks);
        assert!(wait_peers(&a, 0, 60), "round {round}");
        if round == 10 {
            size_after_warmup = Some(scrape(&registry).0.len());
        }
    }
    let size = scrape(&registry).0.len();
    assert!(
        size.abs_diff(size_after_warmup.unwrap()) <= 16,
        "scrape grew with distinct ids: {size_after_warmup:?} -> {size}"
    );
    a.stop();
    std::thread::sleep(Duration::from_millis(50)); // a few scrapes of the stopped switch
    stop.store(true, Ordering::Relaxed);
    for s in scrapers {
        assert!(s.join().expect("a scraper panicked") > 0);
    }
}

/// Many refused and failed handshakes with peer-chosen junk do not add series (passes).
#[test]
fn failed_handshakes_with_junk_add_no_series() {
    let _w = watchdog("metrics_junk_handshakes", LIMIT);
    let cfg = config().handshake_timeout(Duration::from_secs(2));
    let (a, addr) = listening("a", &[("app", Recorder::new(&[0x40]))], cfg);
    let registry = registry_of(&a);
    let events = a.events(256);
    let junk = |i: u32| -> Vec<u8> {
        let mut v = format!("GET /{i}\" evil=\"x\n label{{}} ").into_bytes();
        v.extend(pattern(i as u64, 200 + i as usize));
        v
    };
    let mut sizes = Vec::new();
    for i in 0..40u32 {
        let mut s = TcpStream::connect(addr).unwrap();
        let _ = s.write_all(&junk(i));
        drop(s);
        match events.recv_timeout(LIMIT).expect("refused") {
            SwitchEvent::InboundRefused { .. } => {}
            other => panic!("{other:?}"),
        }
        if i % 10 == 9 {
            sizes.push(scrape(&registry).0.len());
        }
    }
    let (text, _) = scrape(&registry);
    assert!(!text.contains("evil") && !text.contains("GET"), "{text}");
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(max - min <= 16, "sizes {sizes:?}\n{text}");
    a.stop();
}
