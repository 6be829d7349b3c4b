//! Our CometBFT switch against an independent implementation of the other end: the
//! `tendermint-p2p` crate's SecretConnection (checked against CometBFT's own Go code)
//! and `tendermint-proto`'s generated messages (CometBFT's .proto files), played by hand
//! as a Go node plays them: the handshake, the NodeInfo exchange, then a packet stream
//! batched across frames (as Go's 64 KiB buffered writer sends it), with a ping.
//! Both directions: the hand-played node dials us, and we dial it by its node id.
#![cfg(feature = "cometbft")]

mod support;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mconn::protocol::Protocol;
use mconn::{NodeId, NodeInfo, Peer, Switch, SwitchConfig};
use prost014::Message;
use support::cometbft::*;
use support::switch::*;
use support::*;
use tendermint_proto::v0_38::p2p::{packet, DefaultNodeInfo, Packet, PacketPing};

const LIMIT: Duration = Duration::from_secs(60);
const CHANNEL: u8 = 0x20;

/// Plays a CometBFT node on `tcp`: handshake, NodeInfo both ways; returns its stream and
/// the NodeInfo it read from us.
fn play_node(tcp: TcpStream, key: &ed25519_consensus::SigningKey) -> (Theirs, DefaultNodeInfo) {
    let mut theirs = secret(tcp, key, 20);
    let info =
        comet_node_info(key, "gopher", &[0x40, CHANNEL, 0x00]).encode_length_delimited_to_vec();
    theirs.get_mut().write_all(&info).expect("write NodeInfo");
    let ours: DefaultNodeInfo = read_delimited(&mut theirs);
    (theirs, ours)
}

/// Reads packets until a whole message arrives; counts the pongs seen on the way.
fn read_message(theirs: &mut Theirs, pongs: &mut usize) -> (u8, Vec<u8>) {
    let mut msg = Vec::new();
    loop {
        let p: Packet = read_delimited(theirs);
        match p.sum.expect("a packet type") {
            packet::Sum::PacketPong(_) => *pongs += 1,
            packet::Sum::PacketPing(_) => {}
            packet::Sum::PacketMsg(m) => {
                msg.extend_from_slice(&m.data);
                if m.eof {
                    return (m.channel_id as u8, msg);
                }
            }
        }
    }
}

fn our_switch() -> (Switch, std::net::SocketAddr, Arc<Recorder>) {
    let cfg = SwitchConfig::default()
        .protocol(Protocol::cometbft())
        .handshake_timeout(Duration::from_secs(10));
    let info = NodeInfo {
        version: "0.38.25".into(),
        ..NodeInfo::new("rusty", "test-chain")
    };
    let r = Recorder::new(&[CHANNEL]);
    let sw = Switch::new(cfg, info).expect("switch");
    sw.add_reactor("r", r.clone()).expect("reactor");
    let addr = sw.listen("127.0.0.1:0").expect("listen");
    (sw, addr, r)
}

/// The session after the handshake, the same whichever side dialled.
fn converse(sw: &Switch, r: &Recorder, peer: &Arc<Peer>, theirs: &mut Theirs, seed: u64) {
    // Their NodeInfo as they sent it.
    let seen = peer.node_info();
    assert_eq!(seen.moniker, "gopher");
    assert_eq!(seen.channels, [0x40, CHANNEL, 0x00]);
    assert_eq!(seen.tx_index, "on");

    // A ping and three messages (the first of four packets) in one write, so packets
    // cross frame boundaries and frames hold several packets.
    let big = pattern(seed, 3000);
    let mut batch = delimited(packet::Sum::PacketPing(PacketPing {}));
    batch.extend(chunks(CHANNEL, &big));
    batch.extend(chunks(CHANNEL, b"small"));
    batch.extend(chunks(CHANNEL, b""));
    theirs.get_mut().write_all(&batch).expect("their batch");
    let their_id = peer.id();
    assert_eq!(r.next_msg(20), (their_id, CHANNEL, Bytes::from(big)));
    assert_eq!(
        r.next_msg(20),
        (their_id, CHANNEL, Bytes::from_static(b"small"))
    );
    assert_eq!(r.next_msg(20), (their_id, CHANNEL, Bytes::new()));

    // Our messages, read back with their decoder, and our pong for their ping.
    let ours = pattern(seed + 1, 2500);
    peer.send(CHANNEL, Bytes::from(ours.clone())).expect("send");
    let mut pongs = 0;
    assert_eq!(read_message(theirs, &mut pongs), (CHANNEL, ours));
    peer.send(CHANNEL, Bytes::from_static(b"bye"))
        .expect("send");
    assert_eq!(read_message(theirs, &mut pongs), (CHANNEL, b"bye".to_vec()));
    // The pong answers on the send thread, so it may come after our messages.
    while pongs == 0 {
        let p: Packet = read_delimited(theirs);
        match p.sum.expect("a packet type") {
            packet::Sum::PacketPong(_) => pongs += 1,
            other => panic!("expected the pong, got {other:?}"),
        }
    }
    assert_eq!(pongs, 1, "one pong for their one ping");
    sw.stop();
}

#[test]
fn a_cometbft_node_dials_us_and_we_talk() {
    let _w = watchdog("cometbft_interop_inbound", LIMIT);
    let (sw, addr, r) = our_switch();
    let key = ed25519_consensus::SigningKey::from([5u8; 32]);
    let (mut theirs, ours) = play_node(TcpStream::connect(addr).unwrap(), &key);
    // Our NodeInfo as a Go node reads it.
    assert_eq!(ours.default_node_id, NodeId::of(&sw.id()).to_string());
    assert_eq!(ours.network, "test-chain");
    assert_eq!(ours.moniker, "rusty");
    assert_eq!(ours.channels, [CHANNEL]);
    assert_eq!(ours.listen_addr, addr.to_string());
    assert_eq!(
        ours.protocol_version.map(|v| (v.p2p, v.block)),
        Some((8, 11))
    );
    assert!(ours.other.is_some());
    let Event::Added(id) = r.next(20) else {
        panic!("no add_peer")
    };
    assert_eq!(id.0, key.verification_key().to_bytes());
    let peer = sw.peer(&id).expect("the peer");
    converse(&sw, &r, &peer, &mut theirs, 1);
}

#[test]
fn we_dial_a_cometbft_node_by_its_node_id_and_talk() {
    let _w = watchdog("cometbft_interop_outbound", LIMIT);
    let (sw, _, r) = our_switch();
    let key = ed25519_consensus::SigningKey::from([6u8; 32]);
    let their_id = NodeId::of(&mconn::PeerId(key.verification_key().to_bytes()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let node = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        play_node(tcp, &key)
    });
    let peer = sw.dial_expecting(addr, their_id).expect("dial by node id");
    let (mut theirs, ours) = node.join().unwrap();
    assert_eq!(ours.moniker, "rusty");
    converse(&sw, &r, &peer, &mut theirs, 2);
}
