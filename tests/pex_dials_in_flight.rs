//! Discovery never dials an address a dial is already in flight to (found by the chat
//! demo's CI run): a node told one seed used to dial it a second time from its ensure
//! loop while the seed's handshake was still running, and the second connection
//! replaced the first, so the seed seemed to leave and come back.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::bounded;
use mconn::pex::{AddrBook, PexConfig, PexReactor};
use mconn::Switch;
use support::switch::{config, node_info};
use support::{wait_until, watchdog};

#[test]
fn a_seed_being_dialled_is_not_dialled_again_by_the_ensure_loop() {
    let _w = watchdog("seed_not_dialled_twice", Duration::from_secs(120));
    // The seed holds the first connection in its address filter (so dave's dial stays
    // in flight) until a second connection arrives or the hold ends: some fifty ensure
    // periods, each of which would pick the book's only address before the fix.
    const PERIOD: Duration = Duration::from_millis(20);
    const HOLD: Duration = Duration::from_secs(1);
    let seed_config = config().filter_timeout(HOLD * 10);
    let seed = Switch::new(seed_config, node_info("seed")).expect("switch");
    let connections = Arc::new(AtomicUsize::new(0));
    let (second_tx, second_rx) = bounded::<()>(1);
    {
        let connections = connections.clone();
        seed.set_addr_filter(move |_| {
            if connections.fetch_add(1, Ordering::SeqCst) == 0 {
                let _ = second_rx.recv_timeout(HOLD);
            } else {
                let _ = second_tx.try_send(());
            }
            Ok(())
        });
    }
    let seed_pex = PexReactor::new(AddrBook::new(false), PexConfig::default());
    seed.add_reactor("pex", seed_pex).expect("reactor");
    let seed_addr = seed.listen("127.0.0.1:0").expect("listen");

    let dave = Switch::new(config(), node_info("dave")).expect("switch");
    let pex = PexReactor::new(
        AddrBook::new(false),
        PexConfig::default().ensure_period(PERIOD).min_outbound(10),
    );
    dave.add_reactor("pex", pex.clone()).expect("reactor");
    dave.listen("127.0.0.1:0").expect("listen");
    pex.start(&dave).expect("start pex");
    pex.dial_seeds(&dave, [seed_addr]).expect("dial the seed");

    assert!(
        wait_until(Duration::from_secs(60), || dave.peers().len() == 1),
        "dave never connected to the seed"
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "the seed was dialled again while its first dial was in flight"
    );
    dave.stop();
    seed.stop();
}
