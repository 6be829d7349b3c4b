//! Hostile peers in the handshake: split auth messages, bad signatures, keys of another
//! type or of small order, low-order ephemeral keys, reflection, a man in the middle,
//! and truncated or garbage streams. Each must end in a specific, clean error, never a
//! panic or a hang.

use std::io::{Read, Write};
use std::thread;
use std::time::Duration;

use super::hostile_peer::{connected_with, victim_and_peer, Script};
use super::support::{hex, tcp_pair, watchdog, Rng, Scripted};
use super::vector_file::load;
use crate::node_key::NodeKey;
use crate::secret::auth::AuthSigMessage;
use crate::secret::derive::{derive_keys, ephemeral_public, shared_secret};
use crate::secret::frame::FrameCipher;
use crate::secret::frame::SEALED_FRAME_SIZE;
use crate::secret::SecretConnection;
use crate::{Error, SecretError};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn an_auth_message_split_over_several_frames_is_read_as_a_stream() {
    let _w = watchdog("an_auth_message_split_over_several_frames", LIMIT);
    for chunk in [1, 50, 97] {
        let (mut conn, mut p) = connected_with(Script {
            auth_chunk: Some(chunk),
            ..Script::default()
        });
        let f = p.seal(b"after");
        p.sock.write_all(&f).unwrap();
        let mut buf = [0u8; 5];
        conn.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"after");
    }
}

#[test]
fn a_signature_of_the_wrong_challenge_is_bad_signature() {
    let _w = watchdog("a_signature_of_the_wrong_challenge", LIMIT);
    let (v, _p) = victim_and_peer(Script {
        sign_instead: Some([0u8; 32]),
        ..Script::default()
    });
    match v.join().expect("victim thread") {
        Err(Error::Secret(SecretError::BadSignature)) => {}
        other => panic!("expected BadSignature, got {other:?}"),
    }
}

#[test]
fn a_key_of_another_type_is_a_bad_auth_message() {
    let _w = watchdog("a_key_of_another_type", LIMIT);
    let (v, _p) = victim_and_peer(Script {
        key_type: Some(0x02),
        ..Script::default()
    });
    match v.join().expect("victim thread") {
        Err(Error::Secret(SecretError::BadAuthMessage(why))) => {
            assert!(why.contains("0x02"), "{why}")
        }
        other => panic!("expected BadAuthMessage, got {other:?}"),
    }
}

/// Issue 11, item 15: the identity point as a public key, with the signature
/// (R = identity, s = 0), verified for any challenge (`[0]B = R + [k]A` holds for every
/// k). Strict verification refuses small-order keys; a deliberate difference from Go v0.12.
#[test]
fn a_small_order_identity_key_does_not_authenticate() {
    let _w = watchdog("small_order_identity_key", LIMIT);
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut signature = [0u8; 64];
    signature[0] = 1; // R = identity, s = 0
    let (v, _p) = victim_and_peer(Script {
        forged_auth: Some(AuthSigMessage {
            public_key: identity,
            signature,
        }),
        ..Script::default()
    });
    match v.join().expect("victim thread") {
        Err(Error::Secret(SecretError::WeakKey)) => {}
        other => panic!("expected WeakKey, got {other:?}"),
    }
}

/// X25519 points whose product with any (clamped) scalar is zero: the identity and
/// the points of order 2, 4 and 8, in canonical and non-canonical encodings.
fn low_order_points() -> Vec<[u8; 32]> {
    let hexes = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
    ];
    hexes
        .iter()
        .map(|h| hex(h).try_into().expect("32-byte point"))
        .collect()
}

#[test]
fn low_order_ephemeral_keys_are_refused() {
    let _w = watchdog("low_order_ephemeral_keys_are_refused", LIMIT);
    for (i, point) in low_order_points().into_iter().enumerate() {
        assert_eq!(
            shared_secret(&[i as u8 + 1; 32], &point),
            Err(SecretError::LowOrderKey),
            "point {i}"
        );
        let (v, _p) = victim_and_peer(Script {
            eph_override: Some(point),
            ..Script::default()
        });
        match v.join().expect("victim thread") {
            Err(Error::Secret(SecretError::LowOrderKey)) => {}
            other => panic!("point {i}: expected LowOrderKey, got {other:?}"),
        }
    }
}

#[test]
fn a_reflected_handshake_fails() {
    let _w = watchdog("a_reflected_handshake_fails", LIMIT);
    // The "peer" echoes every byte back: our own ephemeral key, then our own auth frame.
    let (sv, mut sp) = tcp_pair();
    let echo = thread::spawn(move || {
        let mut buf = [0u8; 32 + SEALED_FRAME_SIZE];
        if sp.read_exact(&mut buf[..32]).is_ok() {
            let _ = sp.write_all(&buf[..32]);
        }
        if sp.read_exact(&mut buf[32..]).is_ok() {
            let _ = sp.write_all(&buf[32..]);
        }
    });
    sv.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let res = SecretConnection::handshake(sv, &NodeKey::from_secret(b"victim"));
    match res {
        Err(Error::Secret(SecretError::FrameAuthFailed)) => {}
        other => panic!("expected FrameAuthFailed, got {other:?}"),
    }
    echo.join().unwrap();
}

#[test]
fn a_man_in_the_middle_cannot_pass_as_the_expected_peer() {
    let _w = watchdog("a_man_in_the_middle", LIMIT);
    let alice_key = NodeKey::from_secret(b"alice");
    let bob_key = NodeKey::from_secret(b"bob");
    let mallory_key = NodeKey::from_secret(b"mallory");

    // 1. Mallory answers with its own ephemeral key and its own node key: the handshake
    //    completes, but the authenticated key is Mallory's, not Bob's.
    let (sa, sm) = tcp_pair();
    let mk = mallory_key.clone();
    let m = thread::spawn(move || SecretConnection::handshake(sm, &mk));
    let alice = SecretConnection::handshake(sa, &alice_key).expect("handshake");
    let _mallory = m.join().unwrap().expect("mallory's handshake");
    assert_eq!(alice.remote_pubkey(), mallory_key.public_key());
    assert_ne!(alice.remote_pubkey(), bob_key.public_key());

    // 2. Mallory substitutes its own ephemeral keys on both legs and relays Bob's auth
    //    message to Alice: Bob signed a different challenge, so Alice refuses.
    let (sa, sm1) = tcp_pair();
    let (sm2, sb) = tcp_pair();
    let bk = bob_key.clone();
    let bob = thread::spawn(move || {
        sb.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        SecretConnection::handshake(sb, &bk)
    });
    let mallory = thread::spawn(move || {
        let (mut to_alice, mut to_bob) = (sm1, sm2);
        let (e1, e2) = ([7u8; 32], [8u8; 32]);
        let (p1, p2) = (ephemeral_public(&e1), ephemeral_public(&e2));
        to_alice.write_all(&p1).unwrap();
        to_bob.write_all(&p2).unwrap();
        let (mut alice_eph, mut bob_eph) = ([0u8; 32], [0u8; 32]);
        to_alice.read_exact(&mut alice_eph).unwrap();
        to_bob.read_exact(&mut bob_eph).unwrap();
        let da = derive_keys(&e1, &p1, &alice_eph).unwrap();
        let db = derive_keys(&e2, &p2, &bob_eph).unwrap();
        // Bob's auth message, decrypted on Bob's leg ...
        let mut f = [0u8; SEALED_FRAME_SIZE];
        to_bob.read_exact(&mut f).unwrap();
        let bob_msg = FrameCipher::new(&db.shared)
            .open(&db.recv_nonce, &mut f)
            .expect("bob's frame")
            .to_vec();
        // ... re-sealed for Alice's leg.
        let mut g = [0u8; SEALED_FRAME_SIZE];
        FrameCipher::new(&da.shared)
            .seal(&da.send_nonce, &bob_msg, &mut g)
            .unwrap();
        to_alice.write_all(&g).unwrap();
        // Keep the sockets open until Alice has decided.
        let mut sink = [0u8; SEALED_FRAME_SIZE];
        let _ = to_alice.read_exact(&mut sink);
        (to_alice, to_bob)
    });
    sa.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    match SecretConnection::handshake(sa, &alice_key) {
        Err(Error::Secret(SecretError::BadSignature)) => {}
        other => panic!("expected BadSignature, got {other:?}"),
    }
    let (a, b) = mallory.join().unwrap();
    drop((a, b));
    // Bob never receives a valid auth frame from Mallory either.
    assert!(bob.join().unwrap().is_err());
}

#[test]
fn a_truncated_handshake_is_a_clean_error() {
    let _w = watchdog("a_truncated_handshake", LIMIT);
    let v = load();
    let bob_wire = v.bytes("raw.bob.wire");
    let key = NodeKey::from_secret(b"alice");
    let eph = v.arr32("alice.eph_priv");
    let full = 32 + SEALED_FRAME_SIZE;
    for k in 0..full {
        let io = Scripted::new(bob_wire[..k].to_vec());
        match SecretConnection::handshake_with_ephemeral(io, &key, eph) {
            Err(Error::Io(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
                // Said as what happened, not as a frame-level detail.
                let before = if k < 32 { "ephemeral key" } else { "signature" };
                let text = e.to_string();
                assert!(text.contains("closed the connection during the secret handshake"));
                assert!(text.contains(before), "{k} bytes: {text}");
            }
            other => panic!("{k} bytes: expected UnexpectedEof, got {other:?}"),
        }
    }
    let io = Scripted::new(bob_wire[..full].to_vec());
    let mut c = SecretConnection::handshake_with_ephemeral(io, &key, eph).expect("full");
    let mut buf = [0u8; 16];
    assert_eq!(c.read(&mut buf).unwrap(), 0, "clean end between frames");
}

#[test]
fn garbage_streams_are_clean_errors() {
    let _w = watchdog("garbage_streams_are_clean_errors", LIMIT);
    let key = NodeKey::from_secret(b"victim");
    let mut rng = Rng(99);
    for round in 0..200 {
        let len = rng.below(3 * SEALED_FRAME_SIZE as u64) as usize;
        let input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let res = SecretConnection::handshake(Scripted::new(input), &key);
        match res {
            Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof),
            Err(Error::Secret(SecretError::FrameAuthFailed)) => {
                assert!(len >= 32 + SEALED_FRAME_SIZE, "round {round}")
            }
            Err(Error::Secret(SecretError::LowOrderKey)) => {}
            other => panic!("round {round}: {len} garbage bytes gave {other:?}"),
        }
    }
}
