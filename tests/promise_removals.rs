//! Review 2, B1: a connection that replaced another and died during its own admission
//! stalled every later peer removal of the switch until `stop()`. Its removal request
//! reached the lifecycle thread first and waited there for its admission; the admission
//! waited for the replaced connection's removal, queued behind on the same thread.
//!
//! The window is between the new connection entering the peer set and the replaced
//! one's removal being requested; a logger that is slow on the "replaces" line (as one
//! writing to a slow pipe or disk is) holds it open, so the test is deterministic. Its
//! own binary: the logger is global.

mod support;

use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use mconn::{Error, PeerId};
use support::switch::*;
use support::*;

struct SlowOnReplaces;

impl log::Log for SlowOnReplaces {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        if r.args().to_string().contains("replaces") {
            thread::sleep(Duration::from_millis(100));
        }
    }
    fn flush(&self) {}
}

static LOGGER: SlowOnReplaces = SlowOnReplaces;

#[test]
fn a_replacing_connection_that_dies_at_once_does_not_stall_later_removals() {
    let _w = watchdog("stalled_removals", Duration::from_secs(120));
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let rec = Recorder::new(&[1]);
    let (s, s_addr) = listening("s", &[("r", rec.clone())], config());
    let fake_id = PeerId([0; 32]);
    // P0: s dials node 00…00 (dialled by the higher id: ranks worse).
    let (d0, c0) = dial_fake(&s, [0; 32]);
    d0.join().unwrap().expect("P0");
    assert_eq!(rec.next(30), Event::Added(fake_id));
    // P1: node 00…00 dials s (ranks better) and hangs up right after the handshake.
    let mut c1 = TcpStream::connect(s_addr).unwrap();
    fake_handshake(&mut c1, [0; 32]);
    drop(c1);
    // P0 is removed (then P1 may come and go).
    match rec.next(30) {
        Event::Removed(id, _) => assert_eq!(id, fake_id),
        other => panic!("P0 was not removed: {other:?}"),
    }
    // An unrelated peer that leaves is removed too.
    let (z, _) = listening("z", &[("r", Recorder::new(&[1]))], config());
    let zp = z.dial(s_addr).unwrap();
    z.stop_peer_for_error(&zp, Error::Stopped);
    let z_removed = wait_until(Duration::from_secs(30), || {
        rec.events
            .try_iter()
            .any(|e| matches!(e, Event::Removed(id, _) if id == z.id()))
    });
    assert!(z_removed, "an unrelated peer's removal never ran");
    s.stop();
    z.stop();
    drop(c0);
}
