//! The switch's event stream and the application's hold on persistent peers: inbound
//! refusals and failed dials are events naming the address, a persistent peer that is
//! given up says so and can be dialled again, and `stop_redialling` ends the redialling
//! while the peer it found stays connected.

mod support;
use support::switch::{dead_addr, quick_schedule};

use std::time::Duration;

use mconn::{Error, RejectReason, Switch, SwitchEvent};
use parking_lot::Mutex;
use support::switch::{config, listening, wait_peers, Event, Recorder};
use support::{threads_named, wait_until, watchdog};

const LIMIT: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(30);

/// The tests that count `mconn-persistent` threads run one at a time.
static PERSISTENT: Mutex<()> = Mutex::new(());

fn next(events: &crossbeam_channel::Receiver<SwitchEvent>) -> SwitchEvent {
    events.recv_timeout(WAIT).expect("a switch event")
}

#[test]
fn refusals_and_failed_dials_are_events_that_name_the_address() {
    let _w = watchdog("refusals_and_failed_dials", LIMIT);
    let (picky, picky_addr) = listening("picky", &[("rec", Recorder::new(&[0x30]))], config());
    picky.set_addr_filter(|_| Err("no visitors today".into()));
    let picky_events = picky.events(16);
    let (guest, _) = listening("guest", &[("rec", Recorder::new(&[0x30]))], config());
    let guest_events = guest.events(16);

    // The dialler cannot know why the other side hung up; it says what it saw.
    let err = guest.dial(picky_addr).expect_err("the filter refuses");
    assert!(
        err.to_string()
            .contains("closed the connection during the handshake"),
        "{err}"
    );
    match next(&guest_events) {
        SwitchEvent::DialFailed {
            addr,
            persistent,
            reason,
        } => {
            assert_eq!(addr, picky_addr);
            assert!(!persistent);
            assert_eq!(reason.to_string(), err.to_string());
        }
        other => panic!("expected DialFailed, got {other:?}"),
    }
    match next(&picky_events) {
        SwitchEvent::InboundRefused { addr, reason } => {
            assert_eq!(addr.ip(), picky_addr.ip());
            assert!(
                matches!(&reason, Error::Rejected(RejectReason::Filtered(why)) if why == "no visitors today"),
                "{reason}"
            );
        }
        other => panic!("expected InboundRefused, got {other:?}"),
    }

    // Nothing listening: the error and the event name the address.
    let dead = dead_addr();
    let err = guest.dial(dead).expect_err("nothing listens there");
    assert!(matches!(&err, Error::Io(_)), "{err:?}");
    assert!(err.to_string().contains(&dead.to_string()), "{err}");
    match next(&guest_events) {
        SwitchEvent::DialFailed { addr, reason, .. } => {
            assert_eq!(addr, dead);
            assert!(reason.to_string().contains(&dead.to_string()), "{reason}");
        }
        other => panic!("expected DialFailed, got {other:?}"),
    }
    // A listen on a taken address names it too, and does not start a new switch: it
    // can still take reactors and listen elsewhere.
    let fresh = Switch::new(config(), support::switch::node_info("fresh")).expect("switch");
    fresh
        .add_reactor("a", Recorder::new(&[0x30]))
        .expect("reactor");
    let err = fresh.listen(picky_addr).expect_err("the address is in use");
    assert!(err.to_string().contains(&picky_addr.to_string()), "{err}");
    fresh
        .add_reactor("b", Recorder::new(&[0x31]))
        .expect("not started by the failed listen");
    fresh.listen("127.0.0.1:0").expect("listens elsewhere");
    fresh.stop();
    guest.stop();
    picky.stop();
}

#[test]
fn a_persistent_peer_given_up_is_an_event_and_may_be_dialled_again() {
    let _w = watchdog("a_persistent_peer_given_up", LIMIT);
    let _g = PERSISTENT.lock();
    let (sw, _) = listening(
        "hopeful",
        &[("rec", Recorder::new(&[0x30]))],
        config().reconnect(quick_schedule(3)),
    );
    let events = sw.events(64);
    let dead = dead_addr();
    sw.dial_persistent(dead).expect("redialling starts");
    assert!(
        matches!(sw.dial_persistent(dead), Err(Error::InvalidConfig(_))),
        "one redial loop per address"
    );
    let mut failed = 0;
    let attempts = loop {
        match next(&events) {
            SwitchEvent::DialFailed {
                addr, persistent, ..
            } => {
                assert_eq!(addr, dead);
                assert!(persistent);
                failed += 1;
            }
            SwitchEvent::PersistentGivenUp { addr, attempts } => {
                assert_eq!(addr, dead);
                break attempts;
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!((failed, attempts), (3, 3));
    assert!(
        wait_until(WAIT, || threads_named("mconn-persistent") == 0),
        "the redial thread ended"
    );
    // Given up means forgotten: the application may start over.
    sw.dial_persistent(dead).expect("dialled again");
    assert!(matches!(next(&events), SwitchEvent::DialFailed { .. }));
    assert_eq!(sw.stop_redialling(dead).ok(), Some(true));
    sw.stop();
}

#[test]
fn stop_redialling_ends_the_redialling_and_the_peer_stays() {
    let _w = watchdog("stop_redialling", LIMIT);
    let _g = PERSISTENT.lock();
    let hub_rec = Recorder::new(&[0x30]);
    let (hub, hub_addr) = listening("hub", &[("rec", hub_rec.clone())], config());
    let (node, _) = listening(
        "node",
        &[("rec", Recorder::new(&[0x30]))],
        config().reconnect(quick_schedule(1000)),
    );
    node.dial_persistent(hub_addr).expect("persistent dial");
    assert!(matches!(hub_rec.next(30), Event::Added(_)));
    assert!(wait_peers(&node, 1, 30));
    assert_eq!(node.stop_redialling(hub_addr).ok(), Some(true));
    assert_eq!(
        node.stop_redialling(hub_addr).ok(),
        Some(false),
        "once only"
    );
    assert!(
        wait_until(WAIT, || threads_named("mconn-persistent") == 0),
        "the redial thread ended while the peer is connected"
    );
    assert_eq!(node.peers().len(), 1, "the peer stays connected");
    assert_eq!(
        node.stop_redialling("127.0.0.1:1").ok(),
        Some(false),
        "never a persistent peer"
    );
    hub.stop();
    node.stop();
}

#[test]
fn a_stopped_switch_reports_no_events_for_its_own_stop() {
    let _w = watchdog("a_stopped_switch_reports_no_events", LIMIT);
    let sw = Switch::new(config(), support::switch::node_info("quiet")).expect("switch");
    let events = sw.events(4);
    sw.stop();
    assert!(matches!(sw.dial(dead_addr()), Err(Error::Stopped)));
    assert!(
        events.try_recv().is_err(),
        "a dial refused because we stopped is not a dial failure"
    );
}
