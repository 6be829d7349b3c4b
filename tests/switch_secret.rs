//! Switches over the SecretConnection: encrypted chat traffic, identities that are the
//! proven keys, tampering detected, and a man in the middle refused.
#![cfg(feature = "secret-connection")]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mconn::{Error, NodeKey, RejectReason, SecretConnection, Switch};
use support::switch::*;
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

fn encrypted(moniker: &str, key: Option<NodeKey>) -> (Switch, SocketAddr, Arc<Recorder>) {
    let r = Recorder::new(&[0x01]);
    let (sw, addr) = listening(
        moniker,
        &[("r", r.clone())],
        config().auth_enc(true).node_key(key),
    );
    (sw, addr, r)
}

#[test]
fn encrypted_switches_chat_and_ids_are_the_proven_keys() {
    let _w = watchdog("encrypted_chat", LIMIT);
    let ka = NodeKey::from_secret(b"alice");
    let (a, _, ra) = encrypted("alice", Some(ka.clone()));
    let (b, b_addr, rb) = encrypted("bob", None);
    assert_eq!(a.id(), ka.id(), "the switch's id is its Ed25519 public key");
    assert_eq!(a.id().0, ka.public_key());
    let p = a.dial_expecting(b_addr, b.id()).expect("encrypted dial");
    assert_eq!(p.id(), b.id());
    assert_eq!(ra.next(5), Event::Added(b.id()));
    assert_eq!(rb.next(5), Event::Added(a.id()));
    for i in 0..50u32 {
        let msg = support::pattern(i as u64, (i as usize) * 997);
        p.send(0x01, msg.clone()).unwrap();
        let (from, ch, got) = rb.next_msg(10);
        assert_eq!((from, ch), (a.id(), 0x01));
        assert_eq!(&got[..], &msg[..]);
    }
    b.broadcast(0x01, "and back");
    assert_eq!(ra.next_msg(5).2, "and back");
}

#[test]
fn a_plain_peer_cannot_talk_to_an_encrypted_one() {
    let _w = watchdog("plain_vs_encrypted", LIMIT);
    let (_b, b_addr, _) = encrypted("bob", None);
    let (a, _) = listening(
        "a",
        &[("r", Recorder::new(&[0x01]))],
        config().handshake_timeout(Duration::from_secs(2)),
    );
    assert!(a.dial(b_addr).is_err());
    assert!(wait_peers(&a, 0, 5));
}

/// Forwards between a client and `target`; from byte `flip_at` of the client-to-target
/// direction (counted after the switch is armed) it flips one bit.
fn flipping_proxy(target: SocketAddr, armed: Arc<AtomicBool>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (client, _) = l.accept().unwrap();
        let server = TcpStream::connect(target).unwrap();
        let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut s2, &mut c2);
            let _ = c2.shutdown(std::net::Shutdown::Both);
            let _ = s2.shutdown(std::net::Shutdown::Both);
        });
        let (mut c, mut s) = (client, server);
        let mut buf = [0u8; 4096];
        let mut flipped = false;
        while let Ok(n) = c.read(&mut buf) {
            if n == 0 {
                break;
            }
            if !flipped && armed.load(Ordering::Acquire) {
                buf[n / 2] ^= 0x01;
                flipped = true;
            }
            if s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = c.shutdown(std::net::Shutdown::Both);
        let _ = s.shutdown(std::net::Shutdown::Both);
    });
    addr
}

#[test]
fn a_flipped_byte_is_detected_and_the_connection_dropped() {
    let _w = watchdog("flipped_byte", LIMIT);
    let (a, _, _) = encrypted("alice", None);
    let (b, b_addr, rb) = encrypted("bob", None);
    let armed = Arc::new(AtomicBool::new(false));
    let proxy = flipping_proxy(b_addr, armed.clone());
    let p = a.dial(proxy).expect("dial through the proxy");
    assert_eq!(rb.next(5), Event::Added(a.id()));
    armed.store(true, Ordering::Release);
    p.send(0x01, vec![7u8; 3000]).unwrap();
    match rb.next(10) {
        Event::Removed(id, why) => {
            assert_eq!(id, a.id());
            assert!(why.contains("frame failed authentication"), "{why}");
        }
        Event::Msg(..) => panic!("a tampered message was delivered"),
        other => panic!("{other:?}"),
    }
    assert!(wait_peers(&b, 0, 5));
    assert!(wait_peers(&a, 0, 5), "alice sees the connection dropped");
}

/// A man in the middle: runs its own secret handshakes (its own keys) with both sides
/// and relays the decrypted bytes, the NodeInfo included.
fn mitm(target: SocketAddr) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let key = NodeKey::generate().unwrap();
        let Ok((client, _)) = l.accept() else { return };
        let Ok(server) = TcpStream::connect(target) else {
            return;
        };
        let k2 = key.clone();
        let up = std::thread::spawn(move || SecretConnection::handshake(server, &k2));
        let Ok(down) = SecretConnection::handshake(client, &key) else {
            return;
        };
        let Ok(Ok(up)) = up.join() else { return };
        let (mut dr, mut dw) = down.split().unwrap();
        let (mut ur, mut uw) = up.split().unwrap();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut ur, &mut dw);
        });
        let _ = std::io::copy(&mut dr, &mut uw);
    });
    addr
}

#[test]
fn a_man_in_the_middle_cannot_pass_as_the_expected_peer() {
    let _w = watchdog("mitm", LIMIT);
    let (a, _, _) = encrypted("alice", None);
    let (b, b_addr, _) = encrypted("bob", None);
    // Expecting bob: the key proven is the attacker's.
    match a.dial_expecting(mitm(b_addr), b.id()) {
        Err(Error::Rejected(RejectReason::KeyMismatch(why))) => {
            assert!(why.contains(&b.id().to_string()), "{why}")
        }
        other => panic!("expected a key mismatch, got {other:?}"),
    }
    // Not expecting anyone: bob's relayed NodeInfo does not match the proven key.
    match a.dial(mitm(b_addr)) {
        Err(Error::Rejected(RejectReason::KeyMismatch(why))) => {
            assert!(why.contains("authenticated"), "{why}")
        }
        other => panic!("expected a key mismatch, got {other:?}"),
    }
    assert!(wait_peers(&a, 0, 5));
    assert!(wait_peers(&b, 0, 5));
}
