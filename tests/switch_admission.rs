//! Admission: every rejection leaves no peer on either side and is a distinct error for
//! dial; limits hold; a silent connection holds nobody up.

mod support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use mconn::{Error, RejectReason, Switch, SwitchConfig};
use support::switch::*;
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

fn pair(cfg_a: SwitchConfig, cfg_b: SwitchConfig) -> (Switch, Switch, std::net::SocketAddr) {
    let (a, _) = listening("a", &[("r", Recorder::new(&[0x01]))], cfg_a);
    let (b, b_addr) = listening("b", &[("r", Recorder::new(&[0x01]))], cfg_b);
    (a, b, b_addr)
}

fn no_peers(a: &Switch, b: &Switch) {
    assert!(wait_peers(a, 0, 5), "a still has {:?}", a.num_peers());
    assert!(wait_peers(b, 0, 5), "b still has {:?}", b.num_peers());
}

fn rejected(r: Result<std::sync::Arc<mconn::Peer>, Error>) -> RejectReason {
    match r {
        Err(Error::Rejected(why)) => why,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn address_filter() {
    let _w = watchdog("address_filter", LIMIT);
    let (a, b, b_addr) = pair(config(), config());
    a.set_addr_filter(move |addr| {
        if *addr == b_addr {
            Err("not this one".into())
        } else {
            Ok(())
        }
    });
    assert_eq!(
        rejected(a.dial(b_addr)),
        RejectReason::Filtered("not this one".into())
    );
    no_peers(&a, &b);
    // On the listening side too.
    let (c, d, d_addr) = pair(config(), config());
    d.set_addr_filter(|_| Err("nobody".into()));
    assert!(c.dial(d_addr).is_err());
    no_peers(&c, &d);
}

#[test]
fn id_filter() {
    let _w = watchdog("id_filter", LIMIT);
    let (a, b, b_addr) = pair(config(), config());
    let bad = b.id();
    a.set_id_filter(move |id| {
        if *id == bad {
            Err("banned".into())
        } else {
            Ok(())
        }
    });
    assert_eq!(
        rejected(a.dial(b_addr)),
        RejectReason::Filtered("banned".into())
    );
    no_peers(&a, &b);
}

#[test]
fn filter_timeout() {
    let _w = watchdog("filter_timeout", LIMIT);
    let (a, b, b_addr) = pair(
        config().filter_timeout(Duration::from_millis(200)),
        config(),
    );
    a.set_id_filter(|_| {
        std::thread::sleep(Duration::from_secs(2));
        Ok(())
    });
    let t = Instant::now();
    assert_eq!(rejected(a.dial(b_addr)), RejectReason::FilterTimeout);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "did not wait for the slow filter"
    );
    no_peers(&a, &b);
}

#[test]
fn self_connection() {
    let _w = watchdog("self_connection", LIMIT);
    let (a, a_addr) = listening("a", &[("r", Recorder::new(&[0x01]))], config());
    assert_eq!(rejected(a.dial(a_addr)), RejectReason::SelfConnection);
    assert!(wait_peers(&a, 0, 5));
}

#[test]
fn duplicate() {
    let _w = watchdog("duplicate", LIMIT);
    let (a, b, b_addr) = pair(config(), config());
    a.dial(b_addr).unwrap();
    assert_eq!(rejected(a.dial(b_addr)), RejectReason::Duplicate);
    assert_eq!(a.num_peers(), (1, 0));
    assert!(wait_peers(&b, 1, 5));
}

#[test]
fn wrong_network_and_wrong_minor_version() {
    let _w = watchdog("incompatible", LIMIT);
    for (network, version, what) in [
        ("othernet", "0.12.1", "network"),
        ("testnet", "0.13.0", "minor"),
    ] {
        let (a, _) = listening("a", &[("r", Recorder::new(&[0x01]))], config());
        let b = Switch::new(
            config(),
            mconn::NodeInfo {
                network: network.into(),
                version: version.into(),
                ..node_info("b")
            },
        )
        .unwrap();
        b.add_reactor("r", Recorder::new(&[0x01])).unwrap();
        let b_addr = b.listen("127.0.0.1:0").unwrap();
        match rejected(a.dial(b_addr)) {
            RejectReason::Incompatible(why) => assert!(why.contains(what), "{why}"),
            other => panic!("{other:?}"),
        }
        no_peers(&a, &b);
    }
}

#[test]
fn inbound_limit_closes_the_extra_connection() {
    let _w = watchdog("inbound_limit", LIMIT);
    let (hub, hub_addr) = listening(
        "hub",
        &[("r", Recorder::new(&[0x01]))],
        config().max_inbound_peers(5),
    );
    let mut spokes = Vec::new();
    for i in 0..5 {
        let (s, _) = listening(&format!("s{i}"), &[("r", Recorder::new(&[0x01]))], config());
        s.dial(hub_addr).expect("within the limit");
        spokes.push(s);
    }
    assert!(wait_peers(&hub, 5, 5));
    let (sixth, _) = listening("s6", &[("r", Recorder::new(&[0x01]))], config());
    assert!(sixth.dial(hub_addr).is_err(), "the sixth is refused");
    assert!(wait_peers(&sixth, 0, 5));
    assert_eq!(hub.num_peers(), (0, 5));
}

#[test]
fn outbound_limit() {
    let _w = watchdog("outbound_limit", LIMIT);
    let (a, _) = listening(
        "a",
        &[("r", Recorder::new(&[0x01]))],
        config().max_outbound_peers(1),
    );
    let (b, b_addr) = listening("b", &[("r", Recorder::new(&[0x01]))], config());
    let (_c, c_addr) = listening("c", &[("r", Recorder::new(&[0x01]))], config());
    a.dial(b_addr).unwrap();
    assert_eq!(rejected(a.dial(c_addr)), RejectReason::TooManyOutbound);
    assert!(wait_peers(&b, 1, 5));
}

#[test]
fn a_silent_connection_does_not_hold_up_another_handshake() {
    let _w = watchdog("silent_connection", LIMIT);
    let (a, b, b_addr) = pair(
        config(),
        config().handshake_timeout(Duration::from_secs(30)),
    );
    let _silent: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(b_addr).unwrap())
        .collect();
    let t = Instant::now();
    a.dial(b_addr).expect("handshake completes");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert!(wait_peers(&b, 1, 5));
}

#[test]
fn a_silent_connection_is_dropped_at_the_handshake_timeout() {
    let _w = watchdog("silent_dropped", LIMIT);
    let (_a, _b, b_addr) = pair(
        config(),
        config().handshake_timeout(Duration::from_millis(300)),
    );
    let mut silent = TcpStream::connect(b_addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    // b writes its NodeInfo, then closes when the timeout passes.
    use std::io::Read;
    let _ = silent.read_to_end(&mut buf);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "closed after {took:?}"
    );
}
