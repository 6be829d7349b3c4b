//! Switches speaking CometBFT's protocol: messages both ways over its SecretConnection,
//! the peer's protobuf NodeInfo as sent, dialling by node id, and Go's refusals (block
//! version, network, no common channel, a v0.12 node, auth_enc off, a bad NodeInfo).
#![cfg(feature = "cometbft")]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mconn::protocol::Protocol;
use mconn::{
    ChannelId, Error, NodeId, NodeInfo, NodeKey, ProtocolVersion, RejectReason, Switch,
    SwitchConfig,
};
use support::switch::*;
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

fn comet() -> SwitchConfig {
    SwitchConfig::default()
        .protocol(Protocol::cometbft())
        .handshake_timeout(Duration::from_secs(5))
        .dial_timeout(Duration::from_secs(3))
}

fn info(moniker: &str) -> NodeInfo {
    NodeInfo {
        version: "0.38.17".into(),
        tx_index: "off".into(),
        rpc_address: "tcp://127.0.0.1:26657".into(),
        ..NodeInfo::new(moniker, "test-chain")
    }
}

fn node(
    info: NodeInfo,
    channels: &[ChannelId],
    cfg: SwitchConfig,
) -> (Switch, SocketAddr, Arc<Recorder>) {
    let r = Recorder::new(channels);
    let sw = Switch::new(cfg, info).expect("switch");
    sw.add_reactor("r", r.clone()).expect("reactor");
    let addr = sw.listen("127.0.0.1:0").expect("listen");
    (sw, addr, r)
}

fn rejection(e: Error) -> RejectReason {
    match e {
        Error::Rejected(why) => why,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn two_cometbft_switches_exchange_messages_both_ways_and_see_each_others_node_info() {
    let _w = watchdog("cometbft_both_ways", LIMIT);
    let (a, a_addr, ra) = node(info("alice"), &[0x20, 0x30], comet());
    let key = NodeKey::from_secret(b"bob");
    let (b, _, rb) = node(info("bob"), &[0x30, 0x20], comet().node_key(Some(key)));
    // Dialled by its CometBFT id, as `id@host:port` names it.
    let peer = b
        .dial_expecting(a_addr, NodeId::of(&a.id()))
        .expect("dial by node id");
    assert_eq!(peer.id(), a.id());
    assert_eq!(rb.next(10), Event::Added(a.id()));
    assert_eq!(ra.next(10), Event::Added(b.id()));

    // What each saw of the other is what the other sent, channels filled in by its switch.
    let seen = peer.node_info();
    assert_eq!(seen.pub_key, a.id().0);
    assert_eq!(seen.moniker, "alice");
    assert_eq!(seen.network, "test-chain");
    assert_eq!(seen.version, "0.38.17");
    assert_eq!(seen.channels, [0x20, 0x30]);
    assert_eq!(seen.protocol_version, ProtocolVersion::default());
    assert_eq!(seen.listen_addr, a_addr.to_string());
    assert_eq!(
        (seen.tx_index.as_str(), seen.rpc_address.as_str()),
        ("off", "tcp://127.0.0.1:26657")
    );
    let back = a.peer(&b.id()).expect("a has b");
    assert_eq!(back.node_info().channels, [0x30, 0x20]);

    // A small message one way, a multi-packet one the other way, and an empty one.
    let big: Vec<u8> = pattern(7, 5000);
    peer.send(0x20, Bytes::from_static(b"hi alice"))
        .expect("send");
    back.send(0x30, Bytes::from(big.clone())).expect("send");
    back.send(0x20, Bytes::new()).expect("send");
    assert_eq!(
        ra.next_msg(10),
        (b.id(), 0x20, Bytes::from_static(b"hi alice"))
    );
    // Two channels: either may arrive first.
    let mut got = [rb.next_msg(10), rb.next_msg(10)];
    got.sort_by_key(|m| m.1);
    assert_eq!(
        got,
        [
            (a.id(), 0x20, Bytes::new()),
            (a.id(), 0x30, Bytes::from(big))
        ]
    );
    a.stop();
    b.stop();
}

#[test]
fn dialling_the_wrong_node_id_is_a_key_mismatch() {
    let _w = watchdog("cometbft_wrong_id", LIMIT);
    let (a, a_addr, _ra) = node(info("alice"), &[0x20], comet());
    let (b, _, _rb) = node(info("bob"), &[0x20], comet());
    let wrong = NodeId::of(&mconn::PeerId([9; 32]));
    let why = rejection(b.dial_expecting(a_addr, wrong).unwrap_err());
    assert!(matches!(why, RejectReason::KeyMismatch(_)), "{why:?}");
    a.stop();
    b.stop();
}

#[test]
fn go_compatibility_rules_refuse_peers_with_the_reason() {
    let _w = watchdog("cometbft_incompatible", LIMIT);
    let (a, a_addr, _ra) = node(info("alice"), &[0x20, 0x30], comet());
    let old_blocks = NodeInfo {
        protocol_version: ProtocolVersion {
            block: 10,
            ..ProtocolVersion::default()
        },
        ..info("old")
    };
    let elsewhere = NodeInfo {
        network: "other-chain".into(),
        ..info("elsewhere")
    };
    for (why, their_info, channels) in [
        ("block version", old_blocks, &[0x20][..]),
        ("network", elsewhere, &[0x20][..]),
        ("no channel in common", info("lonely"), &[0x99][..]),
    ] {
        let (b, _, _rb) = node(their_info, channels, comet());
        match rejection(b.dial(a_addr).unwrap_err()) {
            RejectReason::Incompatible(text) => assert!(text.contains(why), "{why}: {text}"),
            other => panic!("{why}: {other:?}"),
        }
        b.stop();
    }
    // Versions other than the block version do not matter.
    let newer = NodeInfo {
        version: "1.0.1".into(),
        protocol_version: ProtocolVersion {
            p2p: 9,
            app: 3,
            ..ProtocolVersion::default()
        },
        ..info("newer")
    };
    let (b, _, _rb) = node(newer, &[0x30], comet());
    b.dial(a_addr).expect("only the block version is compared");
    a.stop();
    b.stop();
}

#[test]
fn a_tendermint_v012_node_and_a_cometbft_node_part_with_an_error_not_a_hang() {
    let _w = watchdog("cometbft_vs_v012", LIMIT);
    let (a, a_addr, _ra) = node(info("alice"), &[0x20], comet());
    let old_cfg = SwitchConfig::default().handshake_timeout(Duration::from_secs(5));
    let old = NodeInfo::new("old", "test-chain");
    let (b, b_addr, _rb) = node(old, &[0x20], old_cfg);
    let t = std::time::Instant::now();
    assert!(b.dial(a_addr).is_err());
    assert!(a.dial(b_addr).is_err());
    assert!(t.elapsed() < Duration::from_secs(30));
    assert!(a.peers().is_empty() && b.peers().is_empty());
    a.stop();
    b.stop();
}

#[test]
fn settings_cometbft_peers_would_refuse_are_refused_at_new() {
    let off = comet().auth_enc(false);
    let e = Switch::new(off, info("a")).unwrap_err();
    assert!(
        matches!(e, Error::InvalidConfig(ref s) if s.contains("auth_enc")),
        "{e}"
    );
    for (why, bad) in [
        ("empty moniker", NodeInfo::new("", "test-chain")),
        ("no network", NodeInfo::new("a", "")),
        (
            "tx_index",
            NodeInfo {
                tx_index: "maybe".into(),
                ..info("a")
            },
        ),
        (
            "listen address",
            NodeInfo {
                listen_addr: "nowhere".into(),
                ..info("a")
            },
        ),
    ] {
        let e = Switch::new(comet(), bad).unwrap_err();
        assert!(matches!(e, Error::InvalidConfig(_)), "{why}: {e}");
    }
    // CometBFT does not parse the version text, unlike Tendermint v0.12.
    let free = NodeInfo {
        version: "v1.0.0-rc1+abc".into(),
        ..info("a")
    };
    Switch::new(comet(), free).expect("any printable version");
}

#[test]
fn a_standalone_mconnection_speaks_cometbft_packets() {
    let _w = watchdog("cometbft_standalone", LIMIT);
    let config =
        mconn::MConnConfig::default().codec(mconn::protocol::Codec::new(mconn::cometbft::Packets));
    let channels = vec![
        mconn::ChannelDescriptor::new(0x00, 1),
        mconn::ChannelDescriptor::new(0x21, 10).recv_message_capacity(1 << 20),
    ];
    let (a, b) = conn_pair(channels, config);
    let big = pattern(3, 300_000);
    a.conn.send(0x21, Bytes::from(big.clone())).expect("send");
    a.conn.send(0x00, Bytes::from_static(b"pex")).expect("send");
    let mut got = [
        b.received
            .recv_timeout(Duration::from_secs(20))
            .expect("a message"),
        b.received
            .recv_timeout(Duration::from_secs(20))
            .expect("a message"),
    ];
    got.sort_by_key(|m| m.0);
    assert_eq!(
        got,
        [(0x00, Bytes::from_static(b"pex")), (0x21, Bytes::from(big))]
    );
    a.conn.stop();
    b.conn.stop();
}
