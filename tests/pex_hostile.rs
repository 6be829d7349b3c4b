//! Hostile PEX input costs the sender its connection, never the node: an empty message
//! (Go v0.12.1 panics), an unknown type, a truncated or absurd count, more than 250
//! addresses, a bad IP length, over 1 MiB, or more than `max_msgs_per_hour` messages.
//! Well-formed addresses go into the book with the sender as source; a request is
//! answered with a selection Go would accept.

mod support;

use std::sync::Arc;
use std::time::Duration;

use mconn::pex::{AddrBook, NetAddress, PexConfig, PexMessage, PexReactor, PEX_CHANNEL};
use mconn::Switch;
use support::switch::{config, node_info, Event, Recorder};
use support::watchdog;

const LIMIT: Duration = Duration::from_secs(60);

/// A victim (PEX + a recorder on 0x30) and an attacker whose recorder owns channel 0x00
/// too, so it can send raw PEX bytes and see the answers.
fn pair(
    pex_config: PexConfig,
) -> (
    Switch,
    Arc<PexReactor>,
    Arc<Recorder>,
    Switch,
    Arc<Recorder>,
) {
    let victim = Switch::new(config(), node_info("victim")).expect("switch");
    let pex = PexReactor::new(AddrBook::new(false), pex_config);
    victim.add_reactor("pex", pex.clone()).expect("pex");
    let watch = Recorder::new(&[0x30]);
    victim.add_reactor("watch", watch.clone()).expect("watch");
    let addr = victim.listen("127.0.0.1:0").expect("listen");
    let attacker = Switch::new(config(), node_info("attacker")).expect("switch");
    let raw = Recorder::new(&[PEX_CHANNEL, 0x30]);
    attacker.add_reactor("raw", raw.clone()).expect("raw");
    attacker.listen("127.0.0.1:0").expect("listen");
    attacker.dial(addr).expect("dial");
    assert!(matches!(watch.next(30), Event::Added(_)));
    (victim, pex, watch, attacker, raw)
}

fn removed_reason(watch: &Recorder) -> String {
    loop {
        if let Event::Removed(_, why) = watch.next(30) {
            return why;
        }
    }
}

#[test]
fn malformed_pex_messages_disconnect_the_sender() {
    let _w = watchdog("malformed_pex_messages", LIMIT);
    let mut many = vec![0x02, 0x02, 0x00, 0xfb];
    many.extend(std::iter::repeat(0u8).take(251));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "type"),
        ("nil message", vec![0x00], "unknown PEX message type 0x00"),
        ("unknown type", vec![0x03], "unknown PEX message type 0x03"),
        (
            "truncated count",
            vec![0x02],
            "ends inside the address count",
        ),
        (
            "absurd count",
            vec![0x02, 0x04, 0x80, 0, 0, 0],
            "addresses claimed",
        ),
        ("negative count", vec![0x02, 0xf1, 0x01], "negative"),
        ("over 250", many, "addresses claimed"),
        (
            "7-byte IP",
            vec![0x02, 1, 1, 1, 1, 7, 1, 2, 3, 4, 5, 6, 7, 0x68, 0x20],
            "7 bytes",
        ),
    ];
    for (name, bytes, why) in cases {
        let (victim, _pex, watch, attacker, _raw) = pair(PexConfig::default());
        let peer = attacker.peers().pop().expect("connected");
        peer.send(PEX_CHANNEL, bytes).expect("send");
        let reason = removed_reason(&watch);
        assert!(reason.contains(why), "{name}: {reason}");
        assert!(victim.is_running(), "{name}: the node goes on");
        attacker.stop();
        victim.stop();
    }
}

#[test]
fn over_a_mebibyte_is_refused_by_the_connection() {
    let _w = watchdog("over_a_mebibyte", LIMIT);
    let (victim, _pex, watch, attacker, _raw) = pair(PexConfig::default());
    let peer = attacker.peers().pop().expect("connected");
    let mut big = vec![0x02, 0x01, 0x00];
    big.resize(1024 * 1024 + 1, 0);
    let _ = peer.send(PEX_CHANNEL, big);
    let reason = removed_reason(&watch);
    assert!(reason.contains("recv_message_capacity"), "{reason}");
    attacker.stop();
    victim.stop();
}

#[test]
fn a_flood_of_pex_messages_is_cut_off_at_the_hourly_limit() {
    let _w = watchdog("a_flood_of_pex_messages", LIMIT);
    let (victim, _pex, watch, attacker, raw) = pair(PexConfig::default().max_msgs_per_hour(5));
    let peer = attacker.peers().pop().expect("connected");
    for _ in 0..5 {
        peer.send(PEX_CHANNEL, PexMessage::Request.encode())
            .expect("send");
    }
    // Five requests are answered...
    for _ in 0..5 {
        let (_, ch, msg) = raw.next_msg(30);
        assert_eq!(ch, PEX_CHANNEL);
        assert!(matches!(PexMessage::decode(&msg), Ok(PexMessage::Addrs(_))));
    }
    // ...the sixth costs the connection.
    peer.send(PEX_CHANNEL, PexMessage::Request.encode())
        .expect("send");
    let reason = removed_reason(&watch);
    assert!(reason.contains("more than 5 PEX messages"), "{reason}");
    attacker.stop();
    victim.stop();
}

#[test]
fn addresses_go_into_the_book_and_requests_get_a_selection() {
    let _w = watchdog("addresses_go_into_the_book", LIMIT);
    let (victim, pex, _watch, attacker, raw) = pair(PexConfig::default());
    let peer = attacker.peers().pop().expect("connected");
    let addrs: Vec<NetAddress> = (1..=40u8)
        .map(|i| NetAddress::from(std::net::SocketAddr::from(([10, 0, 0, i], 26656))))
        .collect();
    peer.send(PEX_CHANNEL, PexMessage::Addrs(addrs.clone()).encode())
        .expect("send");
    peer.send(PEX_CHANNEL, PexMessage::Request.encode())
        .expect("send");
    let (_, _, answer) = raw.next_msg(30);
    let Ok(PexMessage::Addrs(got)) = PexMessage::decode(&answer) else {
        panic!("not an addrs message: {answer:?}");
    };
    // 41 known (the 40, and the attacker's own listen address): at least 32 shared.
    assert!(got.len() >= 32, "{}", got.len());
    assert!(pex.with_book(|b| addrs.iter().all(|a| b.contains(a))));
    attacker.stop();
    victim.stop();
}

/// Several peers exchanging addresses at once while the application reads the book and
/// the ensure loop runs: nobody is disconnected for valid traffic, requests are answered
/// (one at a time, as peers ask, asking again if an answer was dropped), and the book
/// stays within its bounds.
#[test]
fn concurrent_exchanges_and_book_use_stay_consistent() {
    let _w = watchdog("concurrent_exchanges", Duration::from_secs(120));
    let victim = Switch::new(config(), node_info("victim")).expect("switch");
    let pex = PexReactor::new(
        AddrBook::new(false),
        PexConfig::default().ensure_period(Duration::from_millis(20)),
    );
    victim.add_reactor("pex", pex.clone()).expect("pex");
    let watch = Recorder::new(&[0x30]);
    victim.add_reactor("watch", watch.clone()).expect("watch");
    let addr = victim.listen("127.0.0.1:0").expect("listen");
    pex.start(&victim).expect("start");
    let senders: Vec<_> = (0..4u8)
        .map(|s| {
            std::thread::spawn(move || {
                let attacker = Switch::new(config(), node_info(&format!("a{s}"))).expect("switch");
                let raw = Recorder::new(&[PEX_CHANNEL, 0x30]);
                attacker.add_reactor("raw", raw.clone()).expect("raw");
                attacker.listen("127.0.0.1:0").expect("listen");
                let peer = attacker.dial(addr).expect("dial");
                // A request at a time, as a peer does (answers go out with try_send:
                // a request that finds 10 answers still queued is not answered).
                for round in 0..50u8 {
                    let addrs: Vec<NetAddress> = (0..50u8)
                        .map(|i| {
                            NetAddress::from(std::net::SocketAddr::from((
                                [11 + s, round, i, 1],
                                26656,
                            )))
                        })
                        .collect();
                    // Valid traffic must never cost the connection: if a send finds it
                    // closed, say why it was removed.
                    let send = |msg: Vec<u8>| {
                        if let Err(e) = peer.send(PEX_CHANNEL, msg) {
                            let why = raw.events.try_iter().find_map(|e| match e {
                                Event::Removed(_, why) => Some(why),
                                _ => None,
                            });
                            panic!("attacker {s}, round {round}: {e:?}; removed: {why:?}");
                        }
                    };
                    send(PexMessage::Addrs(addrs).encode());
                    send(PexMessage::Request.encode());
                    // The answer (the victim may also ask us for addresses: skip those).
                    // Answers go out with try_send: on a loaded machine one may find the
                    // queue full and be dropped, and a peer then asks again, as we do.
                    let mut asked = 1;
                    loop {
                        match raw.events.recv_timeout(Duration::from_secs(5)) {
                            Ok(Event::Msg(_, _, msg))
                                if matches!(PexMessage::decode(&msg), Ok(PexMessage::Addrs(_))) =>
                            {
                                break
                            }
                            // Valid traffic must never cost the connection: say why.
                            Ok(Event::Removed(_, why)) => {
                                panic!("attacker {s} lost the victim in round {round}: {why}")
                            }
                            Ok(_) => {}
                            Err(_) => {
                                assert!(asked < 12, "no answer to {asked} requests");
                                send(PexMessage::Request.encode());
                                asked += 1;
                            }
                        }
                    }
                }
                (attacker, peer)
            })
        })
        .collect();
    // Meanwhile the application uses the book.
    let mut reads = 0;
    while senders.iter().any(|s| !s.is_finished()) {
        pex.with_book(|b| {
            let _ = b.pick(50);
            assert!(b.selection().len() <= 250);
        });
        reads += 1;
    }
    let kept: Vec<_> = senders
        .into_iter()
        .map(|s| s.join().expect("sender"))
        .collect();
    assert!(reads > 0);
    for (_, peer) in &kept {
        assert!(
            peer.is_running(),
            "valid traffic never costs the connection"
        );
    }
    let size = pex.with_book(|b| b.size());
    assert!((1000..=256 * 64 + 64 * 64).contains(&size), "{size}");
    for (attacker, _) in kept {
        attacker.stop();
    }
    victim.stop();
}
