//! Switch basics over loopback: handshakes, reactors and channels, broadcast, meshes
//! (the behaviour of Go's peer_test and switch_test).

mod support;

use std::time::Duration;

use mconn::{Error, NodeInfo, Switch};
use support::switch::*;
use support::vectors::{load, Vector};
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn nodeinfo_vectors_decode_and_reencode_byte_for_byte() {
    let mut n = 0;
    for v in load() {
        let Vector::NodeInfo { wire, fields } = v else {
            continue;
        };
        let info = NodeInfo::decode(&mut &wire[..]).expect("decodes");
        for (k, v) in &fields {
            let got = match k.as_str() {
                "pub_key" => info.pub_key.iter().map(|b| format!("{b:02x}")).collect(),
                "moniker" => info.moniker.clone(),
                "network" => info.network.clone(),
                "remote_addr" => info.remote_addr.clone(),
                "listen_addr" => info.listen_addr.clone(),
                "version" => info.version.clone(),
                "other" => info.other.join(","),
                other => panic!("unknown field {other}"),
            };
            assert_eq!(&got, v, "field {k}");
        }
        assert_eq!(info.encode(), wire, "re-encoding");
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn outbound_peer_handshakes() {
    let _w = watchdog("outbound_peer_handshakes", LIMIT);
    let ra = Recorder::new(&[0x01]);
    let rb = Recorder::new(&[0x01]);
    let (a, _) = listening("a", &[("r", ra.clone())], config());
    let (b, b_addr) = listening("b", &[("r", rb.clone())], config());
    let peer = a.dial(b_addr).expect("dial");
    assert!(peer.is_outbound());
    assert!(!peer.is_persistent());
    assert_eq!(peer.id(), b.id(), "id is the remote node's key");
    assert_eq!(peer.node_info().moniker, "b");
    assert_eq!(peer.remote_addr(), b_addr);
    assert_eq!(
        peer.node_info().remote_addr,
        b_addr.to_string(),
        "remote_addr comes from the socket"
    );
    assert_eq!(a.num_peers(), (1, 0));
    assert!(wait_peers(&b, 1, 5));
    let back = b.peer(&a.id()).expect("b knows a");
    assert!(!back.is_outbound());
    assert_eq!(b.num_peers(), (0, 1));
    assert_eq!(ra.next(5), Event::Added(b.id()));
    assert_eq!(rb.next(5), Event::Added(a.id()));
    assert_eq!(a.id().to_string(), a.id().to_string().to_uppercase());
    peer.send(0x01, "hello").unwrap();
    assert_eq!(rb.next_msg(5), (a.id(), 0x01, "hello".into()));
    a.stop();
    b.stop();
}

#[test]
fn broadcasts_reach_the_right_reactor_exactly_once() {
    let _w = watchdog("broadcasts", LIMIT);
    let (foo_a, bar_a) = (Recorder::new(&[0x00, 0x01]), Recorder::new(&[0x02, 0x03]));
    let (foo_b, bar_b) = (Recorder::new(&[0x00, 0x01]), Recorder::new(&[0x02, 0x03]));
    let (a, _) = listening("a", &[("foo", foo_a), ("bar", bar_a)], config());
    let (b, b_addr) = listening(
        "b",
        &[("foo", foo_b.clone()), ("bar", bar_b.clone())],
        config(),
    );
    a.dial(b_addr).unwrap();
    assert_eq!(foo_b.next(5), Event::Added(a.id()));
    assert_eq!(bar_b.next(5), Event::Added(a.id()));
    for ch in [0x00u8, 0x01, 0x02] {
        let r = a.broadcast(ch, vec![ch; 10]);
        assert_eq!(r.sent, vec![b.id()]);
        assert!(r.failed.is_empty());
    }
    // Different channels may be handled by different workers: no order between them.
    let mut foo = [foo_b.next_msg(5), foo_b.next_msg(5)];
    foo.sort_by_key(|m| m.1);
    assert_eq!(foo[0], (a.id(), 0x00, vec![0x00u8; 10].into()));
    assert_eq!(foo[1], (a.id(), 0x01, vec![0x01u8; 10].into()));
    assert_eq!(bar_b.next_msg(5), (a.id(), 0x02, vec![0x02u8; 10].into()));
    // Exactly once: nothing else arrives.
    assert!(foo_b
        .events
        .recv_timeout(Duration::from_millis(200))
        .is_err());
    assert!(bar_b
        .events
        .recv_timeout(Duration::from_millis(200))
        .is_err());
    // An unknown channel is reported, not sent.
    let r = a.broadcast(0x09, "x");
    assert!(r.sent.is_empty());
    assert_eq!(r.failed.len(), 1);
}

#[test]
fn three_switches_fully_connected_have_two_peers_each() {
    let _w = watchdog("three_switches", LIMIT);
    let rs: Vec<_> = (0..3).map(|_| Recorder::new(&[0x01])).collect();
    let nodes: Vec<(Switch, _)> = (0..3)
        .map(|i| listening(&format!("n{i}"), &[("r", rs[i].clone())], config()))
        .collect();
    nodes[0].0.dial(nodes[1].1).unwrap();
    nodes[0].0.dial(nodes[2].1).unwrap();
    nodes[1].0.dial(nodes[2].1).unwrap();
    for (sw, _) in &nodes {
        assert!(wait_peers(sw, 2, 5), "{:?}", sw.num_peers());
    }
    for (sw, _) in &nodes {
        sw.stop();
    }
}

#[test]
fn two_reactors_cannot_claim_one_channel() {
    let sw = Switch::new(config(), node_info("x")).unwrap();
    sw.add_reactor("a", Recorder::new(&[0x01, 0x02])).unwrap();
    match sw.add_reactor("b", Recorder::new(&[0x02])) {
        Err(Error::InvalidConfig(why)) => assert!(why.contains("0x02"), "{why}"),
        other => panic!("{other:?}"),
    }
    // The first reactor is still there and works; the rejected one is not.
    sw.listen("127.0.0.1:0").unwrap();
    assert!(matches!(
        sw.add_reactor("c", Recorder::new(&[0x05])),
        Err(Error::InvalidConfig(_))
    ));
    sw.stop();
}

#[test]
fn peers_carry_typed_data_for_reactors() {
    let _w = watchdog("peer_data", LIMIT);
    let (a, _) = listening("a", &[("r", Recorder::new(&[0x01]))], config());
    let (_b, b_addr) = listening("b", &[("r", Recorder::new(&[0x01]))], config());
    let p = a.dial(b_addr).unwrap();
    p.set("height", 42u64);
    p.set("name", String::from("bob"));
    assert_eq!(p.get::<u64>("height").as_deref(), Some(&42));
    assert_eq!(
        p.get::<String>("name").as_deref().map(String::as_str),
        Some("bob")
    );
    assert!(p.get::<u32>("height").is_none(), "wrong type");
    assert!(p.get::<u64>("missing").is_none());
    p.set("height", 43u64);
    assert_eq!(p.get::<u64>("height").as_deref(), Some(&43));
}

#[test]
fn graceful_stop_delivers_what_was_queued() {
    let _w = watchdog("graceful_stop", LIMIT);
    let rb = Recorder::new(&[0x01]);
    let (a, _) = listening("a", &[("r", Recorder::new(&[0x01]))], config());
    let (_b, b_addr) = listening("b", &[("r", rb.clone())], config());
    let p = a.dial(b_addr).unwrap();
    assert_eq!(rb.next(5), Event::Added(a.id()));
    for i in 0..64u8 {
        p.try_send(0x01, vec![i; 20_000]).expect("queue has room");
    }
    a.stop_peer_gracefully(&p);
    for i in 0..64u8 {
        let (_, _, m) = rb.next_msg(10);
        assert_eq!(&m[..], &vec![i; 20_000][..], "message {i}");
    }
    assert!(matches!(rb.next(10), Event::Removed(..)));
    assert!(wait_peers(&a, 0, 5));
}

#[test]
fn a_slow_peer_holds_a_broadcast_no_longer_than_send_timeout() {
    use std::io::Read;
    let _w = watchdog("slow_broadcast", Duration::from_secs(120));
    let send_timeout = Duration::from_millis(300);
    let cfg = config().mconn(mconn::MConnConfig::default().send_timeout(send_timeout));
    let (a, a_addr) = listening("a", &[("r", Recorder::new(&[0x01]))], cfg);
    let fast_r = Recorder::new(&[0x01]);
    let (fast, fast_addr) = listening("fast", &[("r", fast_r.clone())], config());
    a.dial(fast_addr).unwrap();
    // A raw peer that handshakes and then never reads.
    let mut slow = std::net::TcpStream::connect(a_addr).unwrap();
    let me = NodeInfo {
        pub_key: [9; 32],
        ..node_info("slow")
    };
    use std::io::Write;
    slow.write_all(&me.encode()).unwrap();
    NodeInfo::decode(&mut slow).unwrap();
    assert!(support::wait_until(Duration::from_secs(5), || a
        .peers()
        .len()
        == 2));
    let msg = bytes::Bytes::from(vec![1u8; 1 << 20]);
    let mut fast_got = 0;
    let mut slowest = Duration::ZERO;
    let mut refused_by_slow = false;
    for _ in 0..200 {
        let t = std::time::Instant::now();
        let r = a.broadcast(0x01, msg.clone());
        slowest = slowest.max(t.elapsed());
        assert!(
            r.sent.contains(&fast.id()),
            "the fast peer takes every broadcast"
        );
        if let Ok(Event::Msg(..)) = fast_r.events.recv_timeout(Duration::from_secs(10)) {
            fast_got += 1;
        }
        if let Some((id, e)) = r.failed.first() {
            assert_eq!(*id, mconn::PeerId([9; 32]));
            assert!(matches!(e, mconn::SendError::Timeout(_)), "{e}");
            refused_by_slow = true;
            break;
        }
    }
    assert!(refused_by_slow, "the slow peer's queue filled up");
    assert!(
        slowest < send_timeout + Duration::from_secs(2),
        "a broadcast took {slowest:?}"
    );
    assert!(fast_got > 0);
    let mut buf = [0u8; 1];
    let _ = slow.read(&mut buf);
}
