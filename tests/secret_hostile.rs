//! Hostile peers: altered, replayed, reordered and over-long frames, bad signatures,
//! low-order ephemeral keys, reflection, a man in the middle, and truncated or garbage
//! streams. Each must end in a specific, clean error, never a panic or a hang.
#![cfg(feature = "secret-connection")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use mconn::secret::{
    derive_keys, ephemeral_public, shared_secret, AuthSigMessage, FrameCipher, Nonce,
    AUTH_SIG_MSG_SIZE, SEALED_FRAME_SIZE,
};
use mconn::{Error, NodeKey, SecretConnection, SecretError};
use support::secret::Scripted;
use support::secret_vectors::load;
use support::{tcp_pair, watchdog, Rng};

const LIMIT: Duration = Duration::from_secs(60);

/// The peer side of a handshake done by hand, so the test controls every byte.
struct Manual {
    sock: TcpStream,
    shared: [u8; 32],
    send: Nonce,
    recv: Nonce,
    challenge: [u8; 32],
}

/// How the hand-made peer misbehaves in its handshake.
#[derive(Clone, Copy, Default)]
struct Script {
    /// Send these 32 bytes as our ephemeral key (and skip the rest of the handshake).
    eph_override: Option<[u8; 32]>,
    /// Sign this instead of the challenge.
    sign_instead: Option<[u8; 32]>,
    /// Replace the public key's type byte.
    key_type: Option<u8>,
    /// Send the auth message in frames of this many bytes (Go sends one frame).
    auth_chunk: Option<usize>,
    /// Send this auth message instead of a real one.
    forged_auth: Option<AuthSigMessage>,
}

impl Manual {
    fn handshake(mut sock: TcpStream, key: &NodeKey, eph: [u8; 32], script: Script) -> Self {
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let eph_pub = ephemeral_public(&eph);
        sock.write_all(&script.eph_override.unwrap_or(eph_pub))
            .unwrap();
        let mut rem = [0u8; 32];
        sock.read_exact(&mut rem).unwrap();
        let d = derive_keys(&eph, &eph_pub, &rem).expect("derive");
        let mut m = Manual {
            sock,
            shared: *d.shared,
            send: d.send_nonce,
            recv: d.recv_nonce,
            challenge: d.challenge,
        };
        if script.eph_override.is_some() {
            return m;
        }
        let msg = AuthSigMessage {
            public_key: key.public_key(),
            signature: key.sign(&script.sign_instead.unwrap_or(d.challenge)),
        };
        let mut enc = script.forged_auth.unwrap_or(msg).encode();
        if let Some(t) = script.key_type {
            enc[0] = t;
        }
        for chunk in enc.chunks(script.auth_chunk.unwrap_or(AUTH_SIG_MSG_SIZE)) {
            let frame = m.seal(chunk);
            m.sock.write_all(&frame).unwrap();
        }
        m
    }

    /// Reads and checks the victim's auth frame.
    fn read_auth(&mut self) -> AuthSigMessage {
        let mut f = [0u8; SEALED_FRAME_SIZE];
        self.sock.read_exact(&mut f).unwrap();
        let cipher = FrameCipher::new(&self.shared);
        let chunk = cipher
            .open(&self.recv, &mut f)
            .expect("victim's auth frame");
        self.recv.advance().unwrap();
        let msg: [u8; AUTH_SIG_MSG_SIZE] = chunk.try_into().expect("98 bytes");
        let msg = AuthSigMessage::decode(&msg).expect("decode");
        msg.verify(&self.challenge).expect("victim's signature");
        msg
    }

    fn seal(&mut self, chunk: &[u8]) -> [u8; SEALED_FRAME_SIZE] {
        let mut f = [0u8; SEALED_FRAME_SIZE];
        FrameCipher::new(&self.shared)
            .seal(&self.send, chunk, &mut f)
            .expect("seal");
        self.send.advance().unwrap();
        f
    }

    /// Seals any 1026-byte plaintext, even one with a bad length field.
    fn seal_raw(&mut self, padded: &[u8; 1026]) -> [u8; SEALED_FRAME_SIZE] {
        let aead = XSalsa20Poly1305::new((&self.shared).into());
        let mut f = [0u8; SEALED_FRAME_SIZE];
        f[16..].copy_from_slice(padded);
        let tag = aead
            .encrypt_in_place_detached(self.send.as_bytes().into(), b"", &mut f[16..])
            .expect("seal");
        f[..16].copy_from_slice(&tag);
        self.send.advance().unwrap();
        f
    }
}

/// A victim (our SecretConnection) and a hand-made peer over loopback.
fn victim_and_peer(
    script: Script,
) -> (
    thread::JoinHandle<Result<SecretConnection<TcpStream>, Error>>,
    Manual,
) {
    let (sv, sp) = tcp_pair();
    sv.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let victim = thread::spawn(move || {
        let key = NodeKey::from_secret(b"victim");
        SecretConnection::handshake(sv, &key)
    });
    let peer = Manual::handshake(sp, &NodeKey::from_secret(b"peer"), [42u8; 32], script);
    (victim, peer)
}

/// A victim whose handshake with the hand-made peer succeeded.
fn connected() -> (SecretConnection<TcpStream>, Manual) {
    connected_with(Script::default())
}

fn connected_with(script: Script) -> (SecretConnection<TcpStream>, Manual) {
    let (v, mut p) = victim_and_peer(script);
    let msg = p.read_auth();
    assert_eq!(msg.public_key, NodeKey::from_secret(b"victim").public_key());
    let conn = v.join().expect("victim thread").expect("handshake");
    assert_eq!(
        conn.remote_pubkey(),
        NodeKey::from_secret(b"peer").public_key()
    );
    (conn, p)
}

fn secret_err(e: std::io::Error) -> SecretError {
    match Error::from(e) {
        Error::Secret(s) => s,
        other => panic!("expected a secret connection error, got {other:?}"),
    }
}

fn read_err(conn: &mut SecretConnection<TcpStream>) -> SecretError {
    let mut buf = [0u8; 64];
    match conn.read(&mut buf) {
        Ok(n) => panic!("read {n} bytes from a hostile stream"),
        Err(e) => secret_err(e),
    }
}

#[test]
fn a_flipped_bit_anywhere_in_a_frame_fails_authentication() {
    let _w = watchdog("a_flipped_bit_fails_authentication", LIMIT);
    for pos in [0, 15, 16, 17, 18, 500, SEALED_FRAME_SIZE - 1] {
        let (mut conn, mut p) = connected();
        let mut f = p.seal(b"hello");
        f[pos] ^= 0x01;
        p.sock.write_all(&f).unwrap();
        assert_eq!(
            read_err(&mut conn),
            SecretError::FrameAuthFailed,
            "pos {pos}"
        );
        // The failure sticks: the stream is unusable from here on.
        let good = p.seal(b"later");
        p.sock.write_all(&good).unwrap();
        assert_eq!(read_err(&mut conn), SecretError::FrameAuthFailed);
    }
}

#[test]
fn replayed_and_reordered_frames_fail_authentication() {
    let _w = watchdog("replayed_and_reordered_frames", LIMIT);
    let (mut conn, mut p) = connected();
    let f = p.seal(b"once");
    p.sock.write_all(&f).unwrap();
    p.sock.write_all(&f).unwrap();
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"once");
    assert_eq!(read_err(&mut conn), SecretError::FrameAuthFailed);

    let (mut conn, mut p) = connected();
    let (f1, f2) = (p.seal(b"first"), p.seal(b"second"));
    p.sock.write_all(&f2).unwrap();
    p.sock.write_all(&f1).unwrap();
    assert_eq!(read_err(&mut conn), SecretError::FrameAuthFailed);
}

#[test]
fn declared_length_over_1024_is_frame_length() {
    let _w = watchdog("declared_length_over_1024", LIMIT);
    for len in [1025u16, 2048, u16::MAX] {
        let (mut conn, mut p) = connected();
        let mut padded = [0u8; 1026];
        padded[..2].copy_from_slice(&len.to_be_bytes());
        let f = p.seal_raw(&padded);
        p.sock.write_all(&f).unwrap();
        assert_eq!(read_err(&mut conn), SecretError::FrameLength(len));
    }
    // 1024 itself is fine, and so is garbage in the padding (Go does not check it).
    let (mut conn, mut p) = connected();
    let mut padded = [0xAAu8; 1026];
    padded[..2].copy_from_slice(&3u16.to_be_bytes());
    let f = p.seal_raw(&padded);
    p.sock.write_all(&f).unwrap();
    let mut buf = [0u8; 3];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(buf, [0xAA; 3]);
}

#[test]
fn an_empty_frame_is_skipped_not_taken_for_the_end() {
    let _w = watchdog("an_empty_frame_is_skipped", LIMIT);
    let (mut conn, mut p) = connected();
    let (f1, f2) = (p.seal(b""), p.seal(b"x"));
    p.sock.write_all(&f1).unwrap();
    p.sock.write_all(&f2).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(conn.read(&mut buf).unwrap(), 1);
    assert_eq!(buf[0], b'x');
}

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
        .map(|h| support::vectors::hex(h).try_into().expect("32-byte point"))
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
            Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof),
            other => panic!("{k} bytes: expected UnexpectedEof, got {other:?}"),
        }
    }
    let io = Scripted::new(bob_wire[..full].to_vec());
    let mut c = SecretConnection::handshake_with_ephemeral(io, &key, eph).expect("full");
    let mut buf = [0u8; 16];
    assert_eq!(c.read(&mut buf).unwrap(), 0, "clean end between frames");
}

#[test]
fn a_stream_cut_inside_a_frame_is_unexpected_eof() {
    let _w = watchdog("a_stream_cut_inside_a_frame", LIMIT);
    let v = load();
    let bob_wire = v.bytes("raw.bob.wire");
    let key = NodeKey::from_secret(b"alice");
    let eph = v.arr32("alice.eph_priv");
    let hs = 32 + SEALED_FRAME_SIZE;
    let frames = v.frames("raw", "bob");
    let mut rng = Rng(3);
    let mut cuts: Vec<usize> = (0..60)
        .map(|_| rng.below(3 * SEALED_FRAME_SIZE as u64) as usize)
        .collect();
    cuts.extend([
        0,
        1,
        SEALED_FRAME_SIZE - 1,
        SEALED_FRAME_SIZE,
        SEALED_FRAME_SIZE + 1,
    ]);
    for cut in cuts {
        let io = Scripted::new(bob_wire[..hs + cut].to_vec());
        let mut c = SecretConnection::handshake_with_ephemeral(io, &key, eph).expect("hs");
        let whole = cut / SEALED_FRAME_SIZE;
        let want: Vec<u8> = frames[1..=whole]
            .iter()
            .flat_map(|f| f.plain.clone())
            .collect();
        let mut got = Vec::new();
        let mut buf = [0u8; 100];
        let end = loop {
            match c.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break Err(e),
            }
        };
        assert_eq!(got, want, "cut {cut}");
        match end {
            Ok(()) => assert_eq!(cut % SEALED_FRAME_SIZE, 0, "cut {cut}: clean end"),
            Err(e) => {
                assert_ne!(cut % SEALED_FRAME_SIZE, 0, "cut {cut}");
                assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
            }
        }
    }
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
