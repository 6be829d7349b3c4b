//! The CometBFT family against a hostile node, played with the `tendermint-p2p` crate's
//! SecretConnection and `tendermint-proto`'s messages (as `tests/cometbft_interop.rs`
//! does), that completes a valid handshake and then sends what an honest node never
//! would. Each test names the promise it tries to break. (Written by a review; its
//! findings are fixed.)
#![cfg(feature = "cometbft")]

mod support;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{unbounded, Receiver, Sender};
use mconn::protocol::Protocol;
use mconn::{
    ChannelDescriptor, ChannelId, Error, NodeId, NodeInfo, Peer, PeerId, Reactor, Switch,
    SwitchConfig,
};
use prost014::Message;
use support::cometbft::*;
use support::*;
use tendermint_p2p::secret_connection::{SecretConnection, Version};
use tendermint_proto::v0_38::p2p::{packet, DefaultNodeInfo, PacketMsg, PacketPing};

const LIMIT: Duration = Duration::from_secs(90);
const CHANNEL: u8 = 0x20;
/// The reassembly limit of our test channel.
const CAPACITY: usize = 4096;

#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Added(PeerId),
    Removed(PeerId, String),
    Msg(PeerId, ChannelId, Bytes),
}

/// A reactor on [`CHANNEL`] with a small reassembly limit that records its callbacks.
struct Rec {
    tx: Sender<Ev>,
}

impl Reactor for Rec {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(CHANNEL, 1)
            .send_queue_capacity(64)
            .recv_message_capacity(CAPACITY)]
    }
    fn add_peer(&self, peer: &Arc<Peer>) {
        let _ = self.tx.send(Ev::Added(peer.id()));
    }
    fn remove_peer(&self, peer: &Arc<Peer>, reason: &Error) {
        let _ = self.tx.send(Ev::Removed(peer.id(), reason.to_string()));
    }
    fn receive(&self, ch: ChannelId, peer: &Arc<Peer>, msg: Bytes) {
        let _ = self.tx.send(Ev::Msg(peer.id(), ch, msg));
    }
}

fn our_switch() -> (Switch, SocketAddr, Receiver<Ev>) {
    let cfg = SwitchConfig::default()
        .protocol(Protocol::cometbft())
        .handshake_timeout(Duration::from_secs(3));
    let info = NodeInfo {
        version: "0.38.25".into(),
        ..NodeInfo::new("rusty", "test-chain")
    };
    let (tx, rx) = unbounded();
    let sw = Switch::new(cfg, info).expect("switch");
    sw.add_reactor("r", Arc::new(Rec { tx })).expect("reactor");
    let addr = sw.listen("127.0.0.1:0").expect("listen");
    (sw, addr, rx)
}

/// Runs their SecretConnection handshake on a fresh connection to `addr`.
fn dial(addr: SocketAddr, key: &ed25519_consensus::SigningKey) -> Theirs {
    secret(TcpStream::connect(addr).unwrap(), key, 20)
}

/// What the hostile node says of itself: valid, on our channel.
fn their_node_info(key: &ed25519_consensus::SigningKey) -> DefaultNodeInfo {
    comet_node_info(key, "mallory", &[CHANNEL, 0x00])
}

/// A hostile node that dials `addr`, shakes hands validly and has been added.
fn hostile(addr: SocketAddr, seed: u8, events: &Receiver<Ev>) -> Theirs {
    let k = key(seed);
    let mut theirs = dial(addr, &k);
    let info = their_node_info(&k).encode_length_delimited_to_vec();
    theirs.get_mut().write_all(&info).expect("write NodeInfo");
    match events.recv_timeout(Duration::from_secs(20)) {
        Ok(Ev::Added(id)) => assert_eq!(id, peer_id(&k)),
        other => panic!("expected add_peer, got {other:?}"),
    }
    theirs
}

fn msg(channel: i32, eof: bool, data: &[u8]) -> Vec<u8> {
    delimited(packet::Sum::PacketMsg(PacketMsg {
        channel_id: channel,
        eof,
        data: data.to_vec(),
    }))
}

/// Waits for the peer's `remove_peer`; panics on a message or on a reason that is a
/// panic. Returns the reason.
fn removed(events: &Receiver<Ev>, secs: u64) -> String {
    match events.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ev::Removed(_, why)) => {
            assert!(!why.to_lowercase().contains("panic"), "a panic: {why}");
            why
        }
        Ok(Ev::Msg(_, ch, m)) => panic!("delivered {} bytes on {ch:#x}", m.len()),
        Ok(other) => panic!("unexpected {other:?}"),
        Err(_) => panic!("the hostile peer was not disconnected within {secs} s"),
    }
}

/// Whether their end sees the connection closed (its read timeout is 20 s: a timeout
/// counts as still open).
fn closed(theirs: &mut Theirs, _secs: u64) -> bool {
    let mut b = [0u8; 4096];
    loop {
        match theirs.read(&mut b) {
            Ok(0) => return true,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
            Ok(_) => continue,
        }
    }
}

// ---------------------------------------------------------------------------------
// Packets after a valid handshake. Promise (README "Guarantees", "Security"): hostile
// input costs a clean error and a closed connection; never a panic, a hang, or memory
// beyond `recv_message_capacity`.
// ---------------------------------------------------------------------------------

/// the largest packet Go sends (a full chunk on channel 0x20, 1034 bytes) is
/// taken, the next length (1035) disconnects before anything is read.
#[test]
fn a_packet_one_byte_over_the_limit_disconnects() {
    let _w = watchdog("review_over_limit", LIMIT);
    let (sw, addr, events) = our_switch();
    let mut theirs = hostile(addr, 1, &events);
    let full = msg(i32::from(CHANNEL), true, &[7u8; 1024]);
    assert_eq!(full.len(), 2 + 1034, "a full chunk is a 1034-byte packet");
    theirs.get_mut().write_all(&full).unwrap();
    match events.recv_timeout(Duration::from_secs(10)) {
        Ok(Ev::Msg(_, CHANNEL, m)) => assert_eq!(m.len(), 1024),
        other => panic!("{other:?}"),
    }
    // 1035 = 8b 08, then a body that would be valid if it were read.
    let mut over = vec![0x8b, 0x08];
    over.extend(std::iter::repeat(0).take(1035));
    theirs.get_mut().write_all(&over).unwrap();
    let why = removed(&events, 10);
    assert!(
        why.contains("1035") || why.to_lowercase().contains("large"),
        "{why}"
    );
    assert!(closed(&mut theirs, 10));
    sw.stop();
}

/// each malformed stream disconnects the peer with an error, nothing delivered.
#[test]
fn malformed_packet_streams_disconnect() {
    let _w = watchdog("review_malformed", LIMIT);
    let (sw, addr, events) = our_switch();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("zero-length packet", vec![0x00]),
        // 10-byte uvarint: u64::MAX.
        (
            "enormous length",
            vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
        ("11-byte length", vec![0xff; 11]),
        ("channel the peer did not list", msg(0x41, true, b"x")),
        ("channel 0x00 (we do not serve it)", msg(0, true, b"x")),
        ("negative channel", msg(-1, true, b"x")),
        ("channel 256", msg(256, true, b"x")),
        ("channel 0x120", msg(0x120, true, b"x")),
        ("i32::MIN channel", msg(i32::MIN, true, b"x")),
    ];
    // PacketMsg whose data field claims more than the packet holds.
    cases.push(("data past the packet", vec![6, 0x1a, 4, 0x1a, 0x7f, 0, 0]));
    // A Packet with a wire-type-0 member where a message is expected.
    cases.push(("wrong wire type", vec![2, 0x18, 1]));
    // Unknown field only: no oneof set.
    cases.push(("no oneof", vec![2, 0x20, 1]));
    for (i, (what, bytes)) in cases.into_iter().enumerate() {
        let mut theirs = hostile(addr, 10 + i as u8, &events);
        theirs.get_mut().write_all(&bytes).unwrap();
        let why = removed(&events, 10);
        eprintln!("{what}: {why}");
        assert!(closed(&mut theirs, 10), "{what}: still open");
    }
    sw.stop();
}

/// a message that never ends (eof = false for ever) is cut at the channel's
/// `recv_message_capacity`, not buffered without bound.
#[test]
fn a_never_ending_message_is_cut_at_recv_message_capacity() {
    let _w = watchdog("review_never_ending", LIMIT);
    let (sw, addr, events) = our_switch();
    let mut theirs = hostile(addr, 40, &events);
    let chunk = msg(i32::from(CHANNEL), false, &[1u8; 1024]);
    let mut sent = 0usize;
    // Write until the write fails (we closed) or far past the capacity.
    while sent < 64 * CAPACITY {
        if theirs.get_mut().write_all(&chunk).is_err() {
            break;
        }
        sent += 1024;
        if let Ok(ev) = events.try_recv() {
            match ev {
                Ev::Removed(_, why) => {
                    assert!(!why.contains("anic"), "{why}");
                    assert!(sent <= 2 * CAPACITY + 8192, "cut only after {sent} bytes");
                    sw.stop();
                    return;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    let _ = removed(&events, 10);
    sw.stop();
}

/// the peer's NodeInfo and its first packets in the same sealed frame (one
/// write): nothing after the NodeInfo is lost when the handshake hands the stream over.
#[test]
fn packets_in_the_nodeinfo_frame_are_not_lost() {
    let _w = watchdog("review_same_frame", LIMIT);
    let (sw, addr, events) = our_switch();
    let k = key(41);
    let mut theirs = dial(addr, &k);
    let mut bytes = their_node_info(&k).encode_length_delimited_to_vec();
    bytes.extend(delimited(packet::Sum::PacketPing(PacketPing {})));
    bytes.extend(msg(i32::from(CHANNEL), true, b"first"));
    bytes.extend(msg(i32::from(CHANNEL), true, b"second"));
    assert!(bytes.len() < 1024, "one frame");
    theirs.get_mut().write_all(&bytes).unwrap();
    assert!(matches!(
        events.recv_timeout(Duration::from_secs(10)),
        Ok(Ev::Added(_))
    ));
    for want in [&b"first"[..], b"second"] {
        match events.recv_timeout(Duration::from_secs(10)) {
            Ok(Ev::Msg(_, CHANNEL, m)) => assert_eq!(&m[..], want),
            other => panic!("{other:?}"),
        }
    }
    drop(theirs);
    sw.stop();
}

// ---------------------------------------------------------------------------------
// The NodeInfo. Promise (README "CometBFT", PROTOCOL.md §4): Go's limits (10240 bytes,
// 16 channels, no duplicates), the id must be the one the connection proved.
// ---------------------------------------------------------------------------------

/// A NodeInfo of `their_node_info` padded (through `version`) to exactly `size` bytes.
fn info_of_size(k: &ed25519_consensus::SigningKey, size: usize) -> DefaultNodeInfo {
    let mut info = their_node_info(k);
    info.version = String::new();
    let base = info.encoded_len();
    // version = field 5: key (1) + len varint (2 for 128..16383) + text.
    let text = size - base - 3;
    info.version = "v".repeat(text);
    assert_eq!(info.encoded_len(), size);
    info
}

/// a NodeInfo body of exactly 10240 bytes is taken (Go's limit is inclusive),
/// 10241 is refused, and the hostile node is never added.
#[test]
fn nodeinfo_size_limit_is_go_s_inclusive_10240() {
    let _w = watchdog("review_nodeinfo_size", LIMIT);
    let (sw, addr, events) = our_switch();
    let k = key(50);
    let mut theirs = dial(addr, &k);
    theirs
        .get_mut()
        .write_all(&info_of_size(&k, 10240).encode_length_delimited_to_vec())
        .unwrap();
    assert!(matches!(
        events.recv_timeout(Duration::from_secs(10)),
        Ok(Ev::Added(_))
    ));
    drop(theirs);
    let _ = removed(&events, 10);

    let k = key(51);
    let mut theirs = dial(addr, &k);
    // Refused from its length prefix: the write may find the socket closed already.
    let _ = theirs
        .get_mut()
        .write_all(&info_of_size(&k, 10241).encode_length_delimited_to_vec());
    assert!(closed(&mut theirs, 10));
    assert!(events.recv_timeout(Duration::from_millis(500)).is_err());
    sw.stop();
}

/// NodeInfos Go's `Validate` or the id check refuse never reach a reactor.
#[test]
fn invalid_nodeinfos_are_refused() {
    let _w = watchdog("review_nodeinfo_invalid", LIMIT);
    let (sw, addr, events) = our_switch();
    type Edit = fn(&mut DefaultNodeInfo);
    let edits: Vec<(&str, Edit)> = vec![
        ("upper-case id", |i| {
            i.default_node_id = i.default_node_id.to_uppercase()
        }),
        ("another node's id", |i| {
            i.default_node_id = NodeId([0xab; 20]).to_string()
        }),
        ("empty id", |i| i.default_node_id.clear()),
        ("17 channels", |i| i.channels = (0..17).collect()),
        ("duplicate channel", |i| i.channels = vec![CHANNEL, CHANNEL]),
        ("empty moniker", |i| i.moniker.clear()),
        ("tab in moniker", |i| i.moniker = "a\tb".into()),
        ("listen addr without port", |i| {
            i.listen_addr = "1.2.3.4".into()
        }),
        ("port 65536", |i| i.listen_addr = "1.2.3.4:65536".into()),
        ("tx_index maybe", |i| {
            i.other.as_mut().unwrap().tx_index = "maybe".into()
        }),
        ("other network", |i| i.network = "other".into()),
        ("other block version", |i| {
            i.protocol_version.as_mut().unwrap().block = 10
        }),
        ("no channel in common", |i| i.channels = vec![0x21]),
    ];
    for (n, (what, edit)) in edits.into_iter().enumerate() {
        let k = key(60 + n as u8);
        let mut theirs = dial(addr, &k);
        let mut info = their_node_info(&k);
        edit(&mut info);
        theirs
            .get_mut()
            .write_all(&info.encode_length_delimited_to_vec())
            .unwrap();
        assert!(closed(&mut theirs, 10), "{what}: still open");
        if let Ok(ev) = events.recv_timeout(Duration::from_millis(200)) {
            panic!("{what}: {ev:?}");
        }
    }
    sw.stop();
}

/// a NodeInfo sent a byte per frame is read (frames are a byte stream).
#[test]
fn nodeinfo_in_one_byte_frames() {
    let _w = watchdog("review_nodeinfo_bytes", LIMIT);
    let (sw, addr, events) = our_switch();
    let k = key(80);
    let mut theirs = dial(addr, &k);
    for b in their_node_info(&k).encode_length_delimited_to_vec() {
        theirs.get_mut().write_all(&[b]).unwrap();
    }
    assert!(matches!(
        events.recv_timeout(Duration::from_secs(10)),
        Ok(Ev::Added(_))
    ));
    drop(theirs);
    sw.stop();
}

/// a peer that trickles its NodeInfo a byte per second (each read in time)
/// is still cut at `handshake_timeout` (3 s here): the deadline is for the whole
/// handshake, not per read.
#[test]
fn a_trickled_nodeinfo_is_cut_at_the_handshake_deadline() {
    let _w = watchdog("review_nodeinfo_trickle", LIMIT);
    let (sw, addr, events) = our_switch();
    let k = key(81);
    let t = Instant::now();
    let mut theirs = dial(addr, &k);
    let bytes = their_node_info(&k).encode_length_delimited_to_vec();
    let mut cut = false;
    for b in bytes {
        if theirs.get_mut().write_all(&[b]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
        if t.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    let _ = cut;
    assert!(closed(&mut theirs, 10));
    assert!(
        t.elapsed() < Duration::from_secs(12),
        "closed only after {:?}",
        t.elapsed()
    );
    assert!(events.try_recv().is_err(), "a trickling peer was added");
    sw.stop();
}

/// a peer that sends garbage (bytes that are not frames) after the auth message.
#[test]
fn garbage_after_the_auth_message() {
    let _w = watchdog("review_garbage_after_auth", LIMIT);
    let (sw, addr, events) = our_switch();
    let k = key(82);
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut raw = tcp.try_clone().unwrap();
    let sc = SecretConnection::new(tcp, k.clone(), Version::V0_34).expect("their handshake");
    let mut theirs = BufReader::with_capacity(4096, sc);
    // Straight onto the socket, below the SecretConnection: not a valid frame.
    raw.write_all(&[0x55; 1044]).unwrap();
    assert!(closed(&mut theirs, 10));
    assert!(events.try_recv().is_err());
    sw.stop();
}

// ---------------------------------------------------------------------------------
// Our own NodeInfo. Promise (README "CometBFT"): "`Switch::new` refuses a NodeInfo a
// CometBFT node would" — and the handshake comment says one that grew past Go's
// limits after `Switch::new` "fails here, clearly".
// ---------------------------------------------------------------------------------

struct Chan(u8);

impl Reactor for Chan {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(self.0, 1)]
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {}
}

/// Was a finding (fixed): reactors added after `Switch::new` fill the NodeInfo's channels
/// with 17 ids, a NodeInfo every CometBFT peer refuses. `listen` still succeeds, and
/// the node then refuses every connection it accepts (each handshake fails with
/// InvalidConfig, seen only as events): a node that can never have a peer, reported
/// nowhere the operator looks. The moment reactors are fixed (`ensure_started`, on the
/// first `listen` or `dial`) is where the same check `Switch::new` makes should run.
#[test]
fn seventeen_reactor_channels_fail_the_first_listen_not_every_handshake() {
    let _w = watchdog("review_own_17_channels", LIMIT);
    let cfg = SwitchConfig::default().protocol(Protocol::cometbft());
    let sw = Switch::new(cfg, NodeInfo::new("me", "test-chain")).expect("new");
    for c in 0..17u8 {
        sw.add_reactor(&format!("r{c}"), Arc::new(Chan(0x30 + c)))
            .expect("add_reactor");
    }
    let r = sw.listen("127.0.0.1:0");
    sw.stop();
    match r {
        Err(Error::InvalidConfig(_)) => {}
        other => panic!(
            "listen with a NodeInfo of 17 channels (every CometBFT peer refuses it) \
             returned {other:?}, not InvalidConfig"
        ),
    }
}

// ---------------------------------------------------------------------------------
// Dialling by node id. Promise: "a different node at the address must never be added".
// ---------------------------------------------------------------------------------

/// `dial_expecting` a node id reaches a hand-played node with another key: a
/// KeyMismatch, no add_peer, and the socket closed.
#[test]
fn dial_expecting_an_impostor_is_refused() {
    let _w = watchdog("review_dial_impostor", LIMIT);
    let (sw, _, events) = our_switch();
    let impostor = key(90);
    let wanted = NodeId::of(&peer_id(&key(91)));
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = l.local_addr().unwrap();
    let node = std::thread::spawn(move || {
        let (tcp, _) = l.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let sc = SecretConnection::new(tcp, impostor.clone(), Version::V0_34);
        let Ok(sc) = sc else { return true };
        let mut theirs = BufReader::with_capacity(4096, sc);
        // It sends a NodeInfo claiming the wanted id.
        let mut info = their_node_info(&impostor);
        info.default_node_id = wanted.to_string();
        let _ = theirs
            .get_mut()
            .write_all(&info.encode_length_delimited_to_vec());
        closed(&mut theirs, 10)
    });
    let r = sw.dial_expecting(at, wanted);
    assert!(r.is_err(), "an impostor was added: {:?}", r.map(|p| p.id()));
    assert!(node.join().unwrap(), "the impostor's socket stayed open");
    assert!(events.recv_timeout(Duration::from_millis(300)).is_err());
    sw.stop();
}
