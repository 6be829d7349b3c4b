//! The protocol seam at the switch: a whole protocol family (the test codec and a
//! handshake of its own) plugs into a Switch through `SwitchConfig::protocol`, and
//! admission, dispatch, duplicates and removal work unchanged over it.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mconn::protocol::{Codec, Handshake, HandshakeSetup, Handshaken, Protocol};
use mconn::{Error, NodeInfo, PeerId, RejectReason, Switch, SwitchConfig};
use support::codec::{Framed, LengthPrefixed};
use support::switch::{config, node_info, Event, Recorder};
use support::watchdog;

const LIMIT: Duration = Duration::from_secs(60);

fn test_family() -> Protocol {
    Protocol::new("test-family", Codec::new(Framed), LengthPrefixed)
}

fn switch(moniker: &str, cfg: SwitchConfig) -> (Switch, std::sync::Arc<Recorder>) {
    let sw = Switch::new(cfg, node_info(moniker)).expect("switch");
    let r = Recorder::new(&[0x40, 0x41]);
    sw.add_reactor("rec", r.clone()).expect("reactor");
    (sw, r)
}

#[test]
fn two_switches_speak_a_test_family_end_to_end() {
    let _w = watchdog("two_switches_speak_a_test_family_end_to_end", LIMIT);
    let cfg = config().protocol(test_family());
    assert_eq!(cfg.protocol.name(), "test-family");
    let (a, ra) = switch("a", cfg.clone());
    let (b, rb) = switch("b", cfg);
    let addr = a.listen("127.0.0.1:0").expect("listen");
    let peer = b.dial(addr).expect("dial over the test family's handshake");
    assert_eq!(peer.node_info().moniker, "a");
    assert_eq!(rb.next(30), Event::Added(a.id()));
    assert_eq!(ra.next(30), Event::Added(b.id()));

    // Messages larger than a packet, on both channels, both ways.
    let big = support::pattern(7, 5000);
    peer.send(0x40, big.clone()).expect("send");
    let (from, ch, msg) = ra.next_msg(30);
    assert_eq!((from, ch, &msg[..]), (b.id(), 0x40, &big[..]));
    let back = a.peers().into_iter().next().expect("a's peer");
    back.send(0x41, &b"pong"[..]).expect("send back");
    let (from, ch, msg) = rb.next_msg(30);
    assert_eq!((from, ch, &msg[..]), (a.id(), 0x41, &b"pong"[..]));

    // The bytes really are the test family's: a Tendermint v0.12 switch cannot join.
    let (v012, _r) = switch("v012", config());
    let e = v012
        .dial(addr)
        .expect_err("a v0.12 handshake against the test family");
    assert!(
        !matches!(e, Error::Rejected(RejectReason::Duplicate)),
        "{e:?}"
    );

    // Removal runs as usual.
    b.stop();
    match ra.next(30) {
        Event::Removed(id, _) => assert_eq!(id, b.id()),
        other => panic!("expected a removal, got {other:?}"),
    }
    a.stop();
    v012.stop();
}

#[test]
fn the_default_family_is_tendermint_v012() {
    let cfg = SwitchConfig::default();
    assert_eq!(cfg.protocol.name(), "tendermint-v0.12");
    assert_eq!(cfg.protocol.codec(), &Codec::default());
}

/// Plays the test family's handshake by hand as a node claiming `key`.
fn claim(addr: std::net::SocketAddr, key: [u8; 32]) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    let ours = NodeInfo {
        pub_key: key,
        ..node_info("mallory")
    }
    .encode();
    s.write_all(&(ours.len() as u32).to_be_bytes()).unwrap();
    s.write_all(&ours).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut theirs = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut theirs).unwrap();
    s
}

#[test]
fn with_auth_enc_on_a_family_that_authenticates_nothing_is_refused() {
    let _w = watchdog("a_family_that_authenticates_nothing_is_refused", LIMIT);
    // auth_enc is on by default; the test family cannot authenticate.
    let cfg = SwitchConfig::default()
        .protocol(test_family())
        .handshake_timeout(Duration::from_secs(10));
    assert!(cfg.auth_enc);
    let (a, ra) = switch("a", cfg);
    let addr = a.listen("127.0.0.1:0").expect("listen");
    let forged = PeerId([0x42; 32]);
    let mut s = claim(addr, forged.0);
    // Refused: the switch closes the connection and no reactor hears of the peer.
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(a.peer(&forged).is_none());
    assert!(ra.events.try_recv().is_err());
    a.stop();
}

struct Panics;

impl Handshake for Panics {
    fn run(&self, _: TcpStream, _: &HandshakeSetup<'_>) -> Result<Handshaken, Error> {
        panic!("a bug in the family's handshake");
    }
}

#[test]
fn a_panicking_handshake_is_an_error_from_dial() {
    let _w = watchdog("a_panicking_handshake_is_an_error_from_dial", LIMIT);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = config().protocol(Protocol::new("panics", Codec::new(Framed), Panics));
    let (b, _r) = switch("b", cfg);
    let e = b
        .dial(l.local_addr().unwrap())
        .expect_err("a panicking handshake");
    assert!(
        matches!(&e, Error::Panicked(m) if m.contains("panics")),
        "{e:?}"
    );
    b.stop();
}

struct IgnoresDeadline;

impl Handshake for IgnoresDeadline {
    fn run(&self, mut s: TcpStream, _: &HandshakeSetup<'_>) -> Result<Handshaken, Error> {
        let mut b = [0u8; 1];
        s.read_exact(&mut b)?;
        Err(Error::Malformed("the peer sent a byte".into()))
    }
}

#[test]
fn a_family_that_ignores_the_deadline_is_still_bounded_by_handshake_timeout() {
    let _w = watchdog("a_family_that_ignores_the_deadline", LIMIT);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = config()
        .handshake_timeout(Duration::from_millis(300))
        .protocol(Protocol::new("slow", Codec::new(Framed), IgnoresDeadline));
    let (b, _r) = switch("b", cfg);
    let t = Instant::now();
    let addr = l.local_addr().unwrap();
    let dial = std::thread::spawn(move || b.dial(addr).map(|p| p.id()));
    let (_silent, _) = l.accept().unwrap();
    let e = dial.join().unwrap().expect_err("a silent peer");
    assert!(matches!(&e, Error::HandshakeTimeout), "{e:?}");
    // Generous: the bound is the 300 ms timeout, not the 60 s watchdog or a stop.
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
}
