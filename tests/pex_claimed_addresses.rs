//! An inbound peer's *claimed* listen address must not stop the ensure loop from
//! dialling the node really at that address (found by review: a few inbound connections
//! claiming the addresses of good peers in our book would suppress our dials to them).
//! A claim counts as "connected" only when it is on the IP the peer connected from; the
//! honest node here listens on 127.0.0.2 and the attacker connects from 127.0.0.1.

mod support;

use std::time::Duration;

use mconn::pex::{AddrBook, NetAddress, PexConfig, PexReactor, PEX_CHANNEL};
use mconn::{NodeInfo, Switch};
use support::switch::{config, node_info, Event, Recorder};
use support::{wait_until, watchdog};

#[test]
fn a_claimed_listen_address_does_not_stop_us_dialling_the_real_node() {
    let _w = watchdog("claimed_listen_address", Duration::from_secs(120));
    // The honest node we know of.
    let honest = Switch::new(config(), node_info("honest")).expect("switch");
    honest
        .add_reactor("r", Recorder::new(&[0x30]))
        .expect("reactor");
    // Another loopback IP than the attacker's (Linux routes all of 127/8 to lo).
    let honest_addr = honest.listen("127.0.0.2:0").expect("listen");

    let me = Switch::new(config(), node_info("me")).expect("switch");
    let mut book = AddrBook::new(false);
    let h = NetAddress::from(honest_addr);
    assert!(book.add(h, h));
    let pex = PexReactor::new(
        book,
        PexConfig::default()
            .ensure_period(Duration::from_millis(10))
            .min_outbound(1),
    );
    me.add_reactor("pex", pex.clone()).expect("pex");
    let watch = Recorder::new(&[0x30]);
    me.add_reactor("watch", watch.clone()).expect("watch");
    let my_addr = me.listen("127.0.0.1:0").expect("listen");

    // The attacker, another node entirely, connects claiming the honest node's address.
    let attacker = Switch::new(
        config(),
        NodeInfo {
            listen_addr: honest_addr.to_string(),
            ..node_info("attacker")
        },
    )
    .expect("switch");
    // It owns the PEX channel too (and ignores it), so our requests do not cost it
    // the connection.
    attacker
        .add_reactor("raw", Recorder::new(&[PEX_CHANNEL, 0x30]))
        .expect("reactor");
    attacker.dial(my_addr).expect("dial");
    assert!(matches!(watch.next(30), Event::Added(_)));

    pex.start(&me).expect("start");
    // Hundreds of rounds, each wanting one outbound peer, with one address in the book
    // whose node nobody is connected to.
    let dialled = wait_until(Duration::from_secs(5), || honest.peers().len() == 1);
    assert!(
        dialled,
        "the honest node was never dialled: {} outbound peers, book {:?}",
        me.num_peers().0,
        pex.with_book(|b| b.selection())
    );
    attacker.stop();
    me.stop();
    honest.stop();
}
