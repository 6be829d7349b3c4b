//! Two real ends over loopback: the handshake on two threads, both learning each
//! other's key and the same challenge; `halves` carrying data both ways at once (what a
//! NodeInfo exchange needs); and the `Transport` a connection becomes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use super::support::{tcp_pair, watchdog, Rng};
use crate::cometbft::SecretConnection;
use crate::node_key::NodeKey;

const LIMIT: Duration = Duration::from_secs(60);

/// Both ends of a handshaken loopback connection: (dialer's, listener's).
fn connected_pair() -> (SecretConnection<TcpStream>, SecretConnection<TcpStream>) {
    let (a, b) = tcp_pair();
    let (ka, kb) = (NodeKey::from_secret(b"a"), NodeKey::from_secret(b"b"));
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let pka = ka.public_key();
    let at_b = thread::spawn(move || SecretConnection::handshake(b, &kb).unwrap());
    let at_a = SecretConnection::handshake(a, &ka).unwrap();
    let at_b = at_b.join().unwrap();
    assert_eq!(
        at_a.remote_pubkey(),
        NodeKey::from_secret(b"b").public_key()
    );
    assert_eq!(at_b.remote_pubkey(), pka);
    assert_eq!(at_a.remote_id(), NodeKey::from_secret(b"b").id());
    assert_eq!(at_a.challenge(), at_b.challenge());
    (at_a, at_b)
}

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    (0..len).map(|_| rng.next() as u8).collect()
}

/// Each end writes 300 KB through its sending half while reading the other's through
/// its receiving half: one thread each could deadlock once the socket buffers fill.
#[test]
fn halves_carry_both_directions_at_once() {
    let _w = watchdog("cometbft_halves", LIMIT);
    let (mut a, mut b) = connected_pair();
    let (to_b, to_a) = (data(300_000, 1), data(300_000, 2));
    let exchange = |sc: &mut SecretConnection<TcpStream>, out: &[u8], len: usize| {
        let (mut r, mut w, _) = sc.halves();
        thread::scope(|s| {
            s.spawn(move || {
                for chunk in out.chunks(7_000) {
                    w.write_all(chunk).unwrap();
                }
                w.flush().unwrap();
            });
            let mut got = vec![0u8; len];
            r.read_exact(&mut got).unwrap();
            got
        })
    };
    thread::scope(|s| {
        let at_b = s.spawn(|| exchange(&mut b, &to_a, to_b.len()));
        assert_eq!(exchange(&mut a, &to_b, to_a.len()), to_a);
        assert_eq!(at_b.join().unwrap(), to_b);
    });
}

/// The connection as a `Transport`: data both ways through its halves, and its closer
/// ends the peer's reads.
#[test]
fn into_transport_carries_data_and_closes() {
    let _w = watchdog("cometbft_transport", LIMIT);
    let (a, mut b) = connected_pair();
    let mut t = a
        .into_transport_with_write_timeout(Duration::from_millis(100))
        .unwrap();
    assert!(t.peer_addr().is_some());
    let msg = data(5_000, 3);
    t.writer.write_all(&msg).unwrap();
    t.writer.flush().unwrap();
    let mut got = vec![0u8; msg.len()];
    b.read_exact(&mut got).unwrap();
    assert_eq!(got, msg);
    b.write_all(b"back").unwrap();
    b.flush().unwrap();
    let mut back = [0u8; 4];
    t.reader.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"back");
    (t.closer)();
    let mut buf = [0u8; 1];
    assert_eq!(b.read(&mut buf).unwrap(), 0, "a clean end between frames");
}
