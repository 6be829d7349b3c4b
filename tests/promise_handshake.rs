//! The handshake: a NodeInfo that cannot work is refused when the switch is made (issue
//! 11, item 7), and any valid NodeInfo up to the size limit completes, encrypted or not
//! (item 14).

mod support;

use std::time::Duration;

use mconn::{Error, NodeInfo, Switch};
use support::switch::*;
use support::*;

const LIMIT: Duration = Duration::from_secs(120);

fn invalid_config(r: Result<Switch, Error>) -> String {
    match r {
        Err(Error::InvalidConfig(why)) => why,
        Err(e) => panic!("expected InvalidConfig, got {e}"),
        Ok(_) => panic!("expected InvalidConfig, got a switch"),
    }
}

/// Item 7: `Switch::new` accepted `NodeInfo::default()`, then every connection failed
/// with `invalid version ""`.
#[test]
fn switch_new_refuses_a_node_info_that_no_peer_would_accept() {
    let why = invalid_config(Switch::new(config(), NodeInfo::default()));
    assert!(why.contains("version") || why.contains("network"), "{why}");
    let mut info = node_info("a");
    info.version = "0.12".into();
    assert!(invalid_config(Switch::new(config(), info)).contains("version"));
    let mut info = node_info("a");
    info.network = String::new();
    assert!(invalid_config(Switch::new(config(), info)).contains("network"));
    let mut info = node_info("a");
    info.other = vec!["x".repeat(1000); 11];
    assert!(invalid_config(Switch::new(config(), info)).contains("bytes"));
    Switch::new(config(), node_info("a")).expect("a good NodeInfo");
}

/// A NodeInfo of many one-character `other` entries, close to `MAX_NODE_INFO_SIZE` when
/// encoded (with room for the listen address the switch fills in).
fn big_info(name: &str, entries: usize) -> NodeInfo {
    let mut info = node_info(name);
    info.other = (0..entries).map(|i| (i % 10).to_string()).collect();
    info
}

fn exchange(enc: bool, entries: usize) {
    let cfg = config()
        .auth_enc(enc)
        .handshake_timeout(Duration::from_secs(60));
    let a = Switch::new(cfg.clone(), big_info("a", entries)).unwrap();
    a.add_reactor("r", Recorder::new(&[0x01])).unwrap();
    let a_addr = a.listen("127.0.0.1:0").unwrap();
    assert!(a.node_info().encode().len() <= mconn::NodeInfo::MAX_SIZE);
    let b = Switch::new(cfg, big_info("b", entries)).unwrap();
    b.add_reactor("r", Recorder::new(&[0x01])).unwrap();
    b.listen("127.0.0.1:0").unwrap();
    let peer = b
        .dial(a_addr)
        .unwrap_or_else(|e| panic!("{entries} entries, encrypted {enc}: {e}"));
    assert_eq!(peer.node_info().other.len(), entries);
    assert!(wait_peers(&a, 1, 30));
    assert_eq!(a.peers()[0].node_info().other.len(), entries);
    a.stop();
    b.stop();
}

/// Item 14: each side wrote its whole NodeInfo before reading the other's. Over the
/// SecretConnection every go-wire write is a frame of its own (1042 bytes), so 1500
/// short entries are 4.7 MB each way, more than the socket buffers hold: both sides
/// blocked in write until the handshake timed out.
#[cfg(feature = "secret-connection")]
#[test]
fn a_large_node_info_completes_the_encrypted_handshake() {
    let _w = watchdog("large_node_info_encrypted", LIMIT);
    exchange(true, 1500);
    // The largest that fits: 3 bytes per entry.
    exchange(true, 3300);
}

#[test]
fn a_node_info_at_the_size_limit_completes_the_plain_handshake() {
    let _w = watchdog("large_node_info_plain", LIMIT);
    exchange(false, 3300);
}
