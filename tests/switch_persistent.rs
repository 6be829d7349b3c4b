//! Persistent peers and their events under races (found by review): an application that
//! answers `PersistentGivenUp` with `dial_persistent(addr)` is never refused (the address
//! is forgotten before the event is sent), and a loop cancelled by `stop_redialling`
//! during its last attempt never reports `PersistentGivenUp` for an address redialled
//! since.

mod support;
use support::switch::{dead_addr, quick_schedule};

use std::net::TcpListener;
use std::time::Duration;

use mconn::{Error, Switch, SwitchEvent};
use parking_lot::Mutex;
use support::switch::{config, fake_handshake, listening, wait_peers, Recorder};
use support::{threads_named, wait_until, watchdog};

const LIMIT: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(30);

/// The tests count `mconn-persistent` threads: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Redial threads alive.
fn redial_threads() -> usize {
    threads_named("mconn-persistent")
}

fn switch(name: &str) -> Switch {
    listening(
        name,
        &[("rec", Recorder::new(&[0x30]))],
        config()
            .reconnect(quick_schedule(1))
            .handshake_timeout(Duration::from_secs(2)),
    )
    .0
}

/// `SwitchEvent::PersistentGivenUp` says "Call `Switch::dial_persistent` again to start
/// over". Doing so as soon as the event arrives must work. Other subscribers (here many
/// that never read, which is allowed: the switch never waits for them) only widen the
/// window between the event and the `leave` that forgets the address.
#[test]
fn dial_persistent_in_answer_to_given_up_is_accepted() {
    let _w = watchdog("dial_persistent_in_answer_to_given_up", LIMIT);
    let _g = SERIAL.lock();
    let sw = switch("hopeful");
    let events = sw.events(64);
    let _idle: Vec<_> = (0..100_000).map(|_| sw.events(2)).collect();
    let dead = dead_addr();
    sw.dial_persistent(dead).expect("first dial_persistent");
    for round in 0..10 {
        loop {
            match events.recv_timeout(WAIT).expect("an event") {
                SwitchEvent::PersistentGivenUp { addr, .. } => {
                    assert_eq!(addr, dead);
                    break;
                }
                SwitchEvent::DialFailed { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        // Given up, so forgotten: the application starts over.
        if let Err(e) = sw.dial_persistent(dead) {
            panic!("round {round}: dial_persistent right after PersistentGivenUp: {e}");
        }
    }
    assert!(wait_until(WAIT, || {
        let _ = sw.stop_redialling(dead);
        redial_threads() == 0
    }));
    sw.stop();
}

/// `stop_redialling(addr)` while the loop's last attempt is in progress, then a new
/// `dial_persistent(addr)` that connects. The old loop's attempt then fails: a
/// `DialFailed` for it is fine, but a `PersistentGivenUp { addr }` ("the switch no
/// longer dials addr") is false: `addr` is registered, redialled and connected.
#[test]
fn a_cancelled_loop_does_not_report_given_up_for_an_address_redialled_since() {
    let _w = watchdog("a_cancelled_loop_does_not_report_given_up", LIMIT);
    let _g = SERIAL.lock();
    let sw = switch("node");
    let events = sw.events(64);
    let fake = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = fake.local_addr().expect("addr");

    sw.dial_persistent(addr).expect("dial_persistent");
    let (_silent, _) = fake.accept().expect("the first loop connects"); // never answers
    assert_eq!(sw.stop_redialling(addr).ok(), Some(true));
    sw.dial_persistent(addr)
        .expect("forgotten by stop_redialling: dialled again");
    let (mut s2, _) = fake.accept().expect("the second loop connects");
    fake_handshake(&mut s2, [9u8; 32]);
    assert!(wait_peers(&sw, 1, 30), "the second loop's peer is added");

    // The first loop's handshake times out (2 s) and the loop ends.
    assert!(
        wait_until(WAIT, || redial_threads() == 1),
        "the cancelled loop ended"
    );
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(
        matches!(sw.dial_persistent(addr), Err(Error::InvalidConfig(_))),
        "addr is still being redialled by the second loop"
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, SwitchEvent::PersistentGivenUp { .. })),
        "a loop cancelled by stop_redialling reported PersistentGivenUp for {addr}, \
         which is registered and connected: {seen:?}"
    );
    drop(s2);
    let _ = sw.stop_redialling(addr);
    sw.stop();
}
