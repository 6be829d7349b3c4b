//! The protocol seam at the switch: a whole protocol family (the test codec and a
//! handshake of its own) plugs into a Switch through `SwitchConfig::protocol`, and
//! admission, dispatch, duplicates and removal work unchanged over it.

mod support;

use std::time::Duration;

use mconn::protocol::{Codec, Protocol};
use mconn::{Error, RejectReason, Switch, SwitchConfig};
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
