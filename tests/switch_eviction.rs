//! An inbound handshake evicted by `max_handshaking` (the switch shuts the oldest one down
//! itself) is reported as what it is, `RejectReason::TooManyHandshakes`, never as "the
//! peer closed the connection" (found by review): the peer is silent and still connected.

mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use mconn::{Error, SwitchEvent};
use support::switch::{config, listening, Recorder};
use support::watchdog;

const LIMIT: Duration = Duration::from_secs(60);

/// Connects and waits for the switch's first handshake bytes: the handshake is running
/// (and registered) once it writes.
fn silent_handshaker(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut b = [0u8; 1];
    assert_eq!(s.read(&mut b).expect("the switch speaks first"), 1);
    s
}

fn evicted_reason(auth_enc: bool) -> Error {
    let (sw, addr) = listening(
        "crowded",
        &[("rec", Recorder::new(&[0x30]))],
        config()
            .auth_enc(auth_enc)
            .max_handshaking(1)
            .handshake_timeout(Duration::from_secs(30)),
    );
    let events = sw.events(16);
    let first = silent_handshaker(addr);
    let first_addr = first.local_addr().unwrap();
    let _second = silent_handshaker(addr); // evicts the first
    let reason = match events.recv_timeout(Duration::from_secs(20)) {
        Ok(SwitchEvent::InboundRefused { addr, reason }) => {
            assert_eq!(addr, first_addr, "the oldest handshake was evicted");
            reason
        }
        other => panic!("expected InboundRefused, got {other:?}"),
    };
    sw.stop();
    drop(first);
    reason
}

fn assert_not_blamed_on_the_peer(reason: &Error) {
    let text = reason.to_string();
    assert!(
        !text.contains("peer closed the connection"),
        "the switch evicted a silent, still-connected handshake, but the reason blames \
         the peer: {text}"
    );
    assert!(
        matches!(
            reason,
            Error::Rejected(mconn::RejectReason::TooManyHandshakes)
        ),
        "{reason:?}"
    );
}

#[test]
fn an_evicted_plain_handshake_is_not_said_to_be_closed_by_the_peer() {
    let _w = watchdog("an_evicted_plain_handshake", LIMIT);
    assert_not_blamed_on_the_peer(&evicted_reason(false));
}

#[cfg(feature = "secret-connection")]
#[test]
fn an_evicted_secret_handshake_is_not_said_to_be_closed_by_the_peer() {
    let _w = watchdog("an_evicted_secret_handshake", LIMIT);
    assert_not_blamed_on_the_peer(&evicted_reason(true));
}
