//! The switch's Prometheus metrics (feature `metrics`): CometBFT's names and labels
//! carry what flowed, mconn's count dials, handshakes, refusals, removals, pings and
//! reactor backlog, and a churning network does not grow the registry.
#![cfg(feature = "metrics")]

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use mconn::prometheus_client::{encoding::prometheus_text, registry::Registry};
use mconn::{MConnConfig, Peer, Switch, SwitchConfig};
use support::switch::*;
use support::*;

const LIMIT: Duration = Duration::from_secs(120);

/// One scrape: every sample, keyed by its name and labels as printed.
fn scrape(registry: &Registry) -> (String, BTreeMap<String, f64>) {
    let mut text = String::new();
    prometheus_text::encode(&mut text, registry).expect("encode");
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (key, value) = l.rsplit_once(' ').expect("name value");
            (key.to_string(), value.parse().expect("a number"))
        })
        .collect();
    (text, samples)
}

/// The sum of every sample whose name and labels start with `prefix`.
fn sum_of(samples: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

fn registry_of(sw: &Switch) -> Registry {
    let mut registry = Registry::with_prefix("cometbft");
    sw.register_metrics(&mut registry);
    registry
}

/// The `peer_id` label a peer gets: the id its family prints.
fn label_of(peer: &Peer) -> String {
    if cometbft_family() {
        mconn::NodeId::of(&peer.id()).to_string()
    } else {
        peer.id().to_string()
    }
}

#[test]
fn what_flows_shows_in_cometbfts_names_and_the_round_trip_in_mconns() {
    let _w = watchdog("metrics_flow", LIMIT);
    let mut cfg = config();
    cfg.mconn = MConnConfig::default()
        .ping_interval(Duration::from_millis(200))
        .pong_timeout(Duration::from_millis(150));
    let (ra, rb) = (Recorder::new(&[0x40]), Recorder::new(&[0x40]));
    let (a, addr) = listening("a", &[("app", ra.clone())], cfg.clone());
    let b = Switch::new(cfg, node_info("b")).unwrap();
    b.add_reactor("app", rb.clone()).unwrap();
    let (reg_a, reg_b) = (registry_of(&a), registry_of(&b));
    assert_eq!(scrape(&reg_a).1["cometbft_p2p_peers"], 0.0);

    let peer = b.dial(addr).unwrap();
    assert!(wait_peers(&a, 1, 30));
    for i in 0..10u8 {
        peer.send(0x40, vec![i; 1000]).unwrap();
    }
    for _ in 0..10 {
        ra.next_msg(30);
    }
    // Wait for a round trip on b's side (pings go out every 200 ms).
    assert!(wait_until(LIMIT, || peer.status().rtt.is_some()));

    let id_of_a = label_of(&peer);
    let sent = format!("cometbft_p2p_peer_send_bytes_total{{peer_id=\"{id_of_a}\",chID=\"0x40\"}}");
    let (text_b, b_samples) = scrape(&reg_b);
    assert_eq!(b_samples.get(&sent), Some(&10_000.0), "{text_b}");
    assert_eq!(b_samples["cometbft_p2p_peers"], 1.0);
    let rtt = format!("cometbft_p2p_peer_rtt_seconds{{peer_id=\"{id_of_a}\"}}");
    assert!(b_samples[&rtt] > 0.0 && b_samples[&rtt] < 0.15, "{text_b}");
    let pings = format!("cometbft_p2p_peer_pings_sent_total{{peer_id=\"{id_of_a}\"}}");
    assert!(b_samples[&pings] >= 1.0);
    assert_eq!(b_samples["cometbft_p2p_dials_total"], 1.0);
    assert_eq!(
        b_samples["cometbft_p2p_handshakes_total{direction=\"outbound\"}"],
        1.0
    );
    let pending = format!("cometbft_p2p_peer_pending_send_bytes{{peer_id=\"{id_of_a}\"}}");
    assert_eq!(b_samples[&pending], 0.0);

    let a_peer = a.peers().pop().unwrap();
    let id_of_b = label_of(&a_peer);
    let received =
        format!("cometbft_p2p_peer_receive_bytes_total{{peer_id=\"{id_of_b}\",chID=\"0x40\"}}");
    let (text_a, a_samples) = scrape(&reg_a);
    assert_eq!(a_samples.get(&received), Some(&10_000.0), "{text_a}");
    assert_eq!(
        a_samples["cometbft_p2p_handshakes_total{direction=\"inbound\"}"],
        1.0
    );
    // b's pings reach a and are answered.
    let answered = format!("cometbft_p2p_peer_pongs_sent_total{{peer_id=\"{id_of_b}\"}}");
    assert!(a_samples[&answered] >= 1.0, "{text_a}");
    assert_eq!(
        a_samples["cometbft_p2p_reactor_pending_bytes{reactor=\"app\"}"],
        0.0
    );

    // b leaves: a counts the removal, and the peer's series are gone.
    b.stop();
    assert!(wait_peers(&a, 0, 30));
    let (text_a, a_samples) = scrape(&reg_a);
    assert!(!text_a.contains(&id_of_b), "{text_a}");
    let removed = sum_of(&a_samples, "cometbft_p2p_peers_removed_total{");
    assert_eq!(removed, 1.0, "{text_a}");
    a.stop();
}

#[test]
fn a_thousand_peers_come_and_go_and_the_scrape_stays_the_same_size() {
    if cometbft_family() {
        return; // the peers are hand-played v0.12 nodes
    }
    let _w = watchdog("metrics_churn", Duration::from_secs(600));
    let cfg = SwitchConfig::default()
        .auth_enc(false)
        .max_inbound_peers(4)
        .handshake_timeout(Duration::from_secs(10));
    let rec = Recorder::new(&[0x40]);
    let (a, addr) = listening("a", &[("app", rec.clone())], cfg);
    let reg = registry_of(&a);
    let mut sizes = Vec::new();
    for i in 0..1000u32 {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(&i.to_be_bytes());
        key[31] = 1;
        let mut s = TcpStream::connect(addr).unwrap();
        fake_handshake(&mut s, key);
        // A message on the way, so the peer has per-channel series while it lives.
        s.write_all(&[0x03, 0x40, 0x01, 0x01, 0x01, 0x07]).unwrap();
        loop {
            match rec.next(60) {
                Event::Msg(..) => break,
                Event::Added(_) | Event::Removed(..) => {}
            }
        }
        if i % 100 == 0 {
            let (text, _) = scrape(&reg);
            assert!(text.contains(&mconn::PeerId(key).to_string()), "{text}");
        }
        drop(s);
        assert!(wait_peers(&a, 0, 60), "cycle {i}");
        if i % 100 == 99 {
            sizes.push(scrape(&reg).0.len());
        }
    }
    let (text, samples) = scrape(&reg);
    assert!(
        !text.contains("peer_id="),
        "no peer's series is left:\n{text}"
    );
    assert_eq!(
        samples["cometbft_p2p_handshakes_total{direction=\"inbound\"}"],
        1000.0
    );
    let removed = sum_of(&samples, "cometbft_p2p_peers_removed_total{");
    assert_eq!(removed, 1000.0, "{text}");
    // Only counter values change from one hundred cycles to the next: a few digits.
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(max - min <= 16, "scrape sizes {sizes:?}");
    a.stop();
}

/// CometBFT's per-message-type byte counters, from the family's own message types.
#[cfg(feature = "cometbft")]
#[test]
fn cometbft_messages_are_counted_by_type_each_way() {
    use prost014::Message;
    use tendermint_proto::v0_38::mempool;
    let _w = watchdog("metrics_message_types", LIMIT);
    let cfg = SwitchConfig::default()
        .protocol(mconn::protocol::Protocol::cometbft())
        .handshake_timeout(Duration::from_secs(10));
    let (ra, rb) = (Recorder::new(&[0x30]), Recorder::new(&[0x30]));
    let (a, addr) = listening("a", &[("mempool", ra.clone())], cfg.clone());
    let b = Switch::new(cfg, node_info("b")).unwrap();
    b.add_reactor("mempool", rb).unwrap();
    let (reg_a, reg_b) = (registry_of(&a), registry_of(&b));
    let peer = b.dial(addr).unwrap();
    let txs = mempool::Message {
        sum: Some(mempool::message::Sum::Txs(mempool::Txs {
            txs: vec![b"tx one".to_vec(), b"tx two".to_vec()],
        })),
    }
    .encode_to_vec();
    for _ in 0..3 {
        peer.send(0x30, txs.clone()).unwrap();
    }
    // Bytes of no known type travel as usual and are not counted by type.
    peer.send(0x30, vec![0xff, 0xff]).unwrap();
    for _ in 0..4 {
        ra.next_msg(30);
    }
    let want = 3.0 * txs.len() as f64;
    let (text_b, b_samples) = scrape(&reg_b);
    let sent = "cometbft_p2p_message_send_bytes_total{message_type=\"mempool_Txs\"}";
    assert_eq!(b_samples.get(sent), Some(&want), "{text_b}");
    let (text_a, a_samples) = scrape(&reg_a);
    let received = "cometbft_p2p_message_receive_bytes_total{message_type=\"mempool_Txs\"}";
    assert_eq!(a_samples.get(received), Some(&want), "{text_a}");
    assert_eq!(
        text_a.matches("message_type=").count(),
        2,
        "one type seen, in both families (sent: zero): {text_a}"
    );
    b.stop();
    a.stop();
}
