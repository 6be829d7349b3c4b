//! Every `recv` line of the Go vectors, fed through a raw socket into a running
//! MConnection with the vectors' channel table (01 priority 1, 02 priority 5).

mod support;

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use mconn::{Error, MConnConfig};
use support::vectors::{load, RecvOutcome, Vector};
use support::*;

fn label(e: &Error) -> String {
    match e {
        Error::UnknownPacketType { .. } => "unknown-packet-type".into(),
        Error::InvalidLength { .. } => "invalid-length".into(),
        Error::VarintOverflow { .. } => "varint-overflow".into(),
        Error::PacketTooLarge { .. } => "packet-too-large".into(),
        Error::UnknownChannel { .. } => "unknown-channel".into(),
        other => format!("other: {other}"),
    }
}

#[test]
fn every_recv_line_through_a_running_connection() {
    let _w = watchdog("every_recv_line", Duration::from_secs(120));
    let mut n = 0;
    for v in load() {
        let Vector::Recv { wire, outcome } = v else {
            continue;
        };
        n += 1;
        let (ours, mut peer) = tcp_pair();
        let c = start(ours, vector_channels(), MConnConfig::default());
        peer.write_all(&wire).unwrap();
        peer.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        match outcome {
            RecvOutcome::Deliver { messages, reply } => {
                for (ch, msg) in &messages {
                    let (got_ch, got) = c
                        .received
                        .recv_timeout(Duration::from_secs(5))
                        .expect("delivered");
                    assert_eq!((got_ch, &got[..]), (*ch, &msg[..]));
                }
                let mut got = vec![0u8; reply.len()];
                peer.read_exact(&mut got).expect("reply written");
                assert_eq!(got, reply);
                // Nothing more is written, nothing more delivered, and it stays up.
                let mut extra = [0u8; 16];
                match peer.read(&mut extra) {
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    other => panic!("{wire:02x?}: unexpected extra bytes or close: {other:?}"),
                }
                assert!(c.received.try_recv().is_err());
                assert!(c.conn.is_running(), "stays up");
                assert!(c.errors.try_recv().is_err());
            }
            RecvOutcome::Error(what) => {
                let e = c
                    .errors
                    .recv_timeout(Duration::from_secs(5))
                    .expect("on_error");
                assert_eq!(label(&e), what, "{wire:02x?}");
                assert!(!c.conn.is_running());
                assert!(c.received.try_recv().is_err(), "nothing delivered");
                // The connection is closed: the peer reads end of stream.
                let mut buf = [0u8; 16];
                peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                match peer.read(&mut buf) {
                    Ok(0) => {}
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
                    other => panic!("{wire:02x?}: expected a closed socket, got {other:?}"),
                }
            }
        }
        c.conn.stop();
    }
    assert_eq!(n, 16, "every recv line checked");
}
