//! Stopping a switch with 50 peers is quick and leaves no thread and no socket. One test
//! in its own binary, so the counts are exact.

mod support;

use std::time::{Duration, Instant};

use support::switch::*;
use support::*;

#[test]
fn stop_with_fifty_peers_is_quick_and_leaves_nothing() {
    let _w = watchdog("stop_fifty", Duration::from_secs(120));
    let threads0 = thread_count();
    let fds0 = fd_count();
    let hub_r = Recorder::new(&[0x01]);
    let (hub, hub_addr) = listening(
        "hub",
        &[("r", hub_r.clone())],
        config().max_inbound_peers(50),
    );
    let spokes: Vec<_> = (0..50)
        .map(|i| {
            let (s, _) = listening(
                &format!("s{i}"),
                &[("r", Recorder::new(&[0x01]))],
                config().workers(2),
            );
            s.dial(hub_addr).expect("dial hub");
            s
        })
        .collect();
    assert!(wait_peers(&hub, 50, 10));
    for s in &spokes {
        s.broadcast(1, "hi");
    }
    let mut got = 0;
    while got < 50 {
        if let Event::Msg(..) = hub_r.next(10) {
            got += 1;
        }
    }
    let t = Instant::now();
    hub.stop();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    // Every added peer got its remove_peer.
    let removed = std::iter::from_fn(|| hub_r.events.try_recv().ok())
        .filter(|e| matches!(e, Event::Removed(..)))
        .count();
    assert_eq!(removed, 50);
    assert_eq!(hub.peers().len(), 0);
    // The spokes notice, then stop too.
    for s in &spokes {
        assert!(wait_peers(s, 0, 10));
        s.stop();
    }
    drop(spokes);
    drop(hub);
    assert!(
        wait_until(Duration::from_secs(10), || threads_named("mconn-") == 0),
        "{} mconn threads left",
        threads_named("mconn-")
    );
    assert!(
        wait_until(Duration::from_secs(10), || thread_count() <= threads0),
        "threads {threads0} -> {}",
        thread_count()
    );
    assert!(
        wait_until(Duration::from_secs(10), || fd_count() <= fds0),
        "fds {fds0} -> {}",
        fd_count()
    );
}
