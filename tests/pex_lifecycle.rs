//! Discovery and the switch's life (found by review): dropping the last handle stops the
//! switch even while PEX dials run (its threads never hold a handle); answers to our own
//! requests do not cost a peer its connection; a huge `min_outbound` cannot hang a round.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use mconn::pex::{AddrBook, NetAddress, PexConfig, PexReactor};
use mconn::Switch;
use support::switch::{config, node_info, Event, Recorder};
use support::{wait_until, watchdog};

#[test]
fn dropping_the_last_handle_stops_the_switch_even_while_pex_dials() {
    let _w = watchdog("drop_while_pex_dials", Duration::from_secs(120));
    let d = support::temp_dir("drop");
    let path = d.join("addrbook.json");
    // Accepts (the kernel does), never answers the handshake: a dial to it lasts
    // `handshake_timeout`.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_addr = NetAddress::from(silent.local_addr().unwrap());
    let mut book = AddrBook::new(false);
    assert!(book.add(silent_addr, silent_addr));
    let switch = Switch::new(
        config().handshake_timeout(Duration::from_secs(30)),
        node_info("dropper"),
    )
    .expect("switch");
    let pex = PexReactor::new(
        book,
        PexConfig::default()
            .ensure_period(Duration::from_millis(10))
            .min_outbound(1)
            .book_file(&path),
    );
    switch.add_reactor("pex", pex.clone()).expect("pex");
    switch.listen("127.0.0.1:0").expect("listen");
    pex.start(&switch).expect("start");
    // The PEX loop is dialling the silent address (connected, handshaking).
    let (_held, _) = silent.accept().expect("the PEX loop dials");
    let weak = switch.downgrade();
    drop(switch); // the user's last handle
    let running = weak.upgrade().is_some_and(|s| s.is_running());
    let saved = path.exists();
    assert!(
        !running && saved,
        "after the last handle was dropped: still running {running}, book saved {saved}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn answers_to_our_own_requests_do_not_cost_the_peer_its_connection() {
    let _w = watchdog("answers_to_our_requests", Duration::from_secs(120));
    // An honest PEX node with something to share.
    let honest = Switch::new(config(), node_info("honest")).expect("switch");
    let mut honest_book = AddrBook::new(false);
    for i in 1..=40u8 {
        let a = NetAddress::from(std::net::SocketAddr::from(([10, 1, i, 1], 26656)));
        honest_book.add(a, a);
    }
    honest
        .add_reactor("pex", PexReactor::new(honest_book, PexConfig::default()))
        .expect("pex");
    let honest_addr = honest.listen("127.0.0.1:0").expect("listen");

    // We ask a peer for addresses every round while our book holds under 1000. Our
    // limit is low and our period short, to make an hour's worth quick: the same
    // happens with Go's 1000 messages an hour and any period under 3.6 s.
    let me = Switch::new(config(), node_info("me")).expect("switch");
    let pex = PexReactor::new(
        AddrBook::new(false),
        PexConfig::default()
            .ensure_period(Duration::from_millis(10))
            .max_msgs_per_hour(20),
    );
    me.add_reactor("pex", pex.clone()).expect("pex");
    let watch = Recorder::new(&[0x30]);
    me.add_reactor("watch", watch.clone()).expect("watch");
    me.listen("127.0.0.1:0").expect("listen");
    pex.start(&me).expect("start");
    me.dial(honest_addr).expect("dial");
    assert!(matches!(watch.next(30), Event::Added(_)));
    // 100 rounds or so: each asks the honest peer, which answers each time.
    let mut reason = None;
    wait_until(Duration::from_secs(2), || {
        if let Ok(Event::Removed(_, why)) = watch.events.try_recv() {
            reason = Some(why);
        }
        reason.is_some()
    });
    assert!(
        reason.is_none(),
        "the honest peer was disconnected for answering our own requests: {reason:?}"
    );
    me.stop();
    honest.stop();
}

/// `ensure_peers` tries `3 × need` picks, stopping early only when it has `need` of
/// them or the book is empty, all under the book's lock. `need` comes from
/// `min_outbound` unbounded: with a large one ("as many as you can") and a small book,
/// a round never ends, so nothing can use the book (every PEX message blocks a worker)
/// and `stop` waits for the loop forever.
#[test]
fn a_large_min_outbound_does_not_hang_the_node() {
    let _w = watchdog("large_min_outbound", Duration::from_secs(120));
    let mut book = AddrBook::new(false);
    let a = NetAddress::from(support::switch::dead_addr());
    assert!(book.add(a, a));
    let switch = Switch::new(config(), node_info("greedy")).expect("switch");
    let pex = PexReactor::new(
        book,
        PexConfig::default()
            .ensure_period(Duration::from_millis(10))
            .min_outbound(usize::MAX),
    );
    switch.add_reactor("pex", pex.clone()).expect("pex");
    switch.listen("127.0.0.1:0").expect("listen");
    pex.start(&switch).expect("start");
    std::thread::sleep(Duration::from_millis(200)); // a round has begun
    let (tx, rx) = crossbeam_channel::bounded(1);
    let p = pex.clone();
    std::thread::spawn(move || {
        let _ = tx.send(p.with_book(|b| b.size()));
    });
    let book_usable = rx.recv_timeout(Duration::from_secs(20)).is_ok();
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        switch.stop();
        let _ = tx.send(());
    });
    let stopped = rx.recv_timeout(Duration::from_secs(20)).is_ok();
    assert!(
        book_usable && stopped,
        "book usable: {book_usable}, stop returned: {stopped}"
    );
}
