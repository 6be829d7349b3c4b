//! Hostile peers, in the handshake and after it: each must end in a specific, clean
//! error (or be read correctly), never a panic or a hang.

use std::io::{self, Read};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use curve25519_dalek::edwards::EdwardsPoint;

use super::peer::Peer;
use super::support::watchdog;
use crate::cometbft::secret::auth::AuthSigMessage;
use crate::cometbft::SecretConnection;
use crate::node_key::NodeKey;
use crate::{Error, SecretError};

const LIMIT: Duration = Duration::from_secs(60);
const PATIENCE: Duration = Duration::from_secs(10);

/// The victim's handshake error, as a `SecretError`; panics on anything else.
fn handshake_err(p: &mut Peer) -> SecretError {
    match p.victim_handshake(PATIENCE) {
        Err(Error::Secret(e)) => e,
        other => panic!("expected a secret error, got {other:?}"),
    }
}

/// The error of the victim's next read, as a `SecretError`.
fn read_err<S: Read>(sc: &mut SecretConnection<S>) -> SecretError {
    let mut buf = [0u8; 64];
    match sc.read(&mut buf).map_err(Error::from) {
        Err(Error::Secret(e)) => e,
        other => panic!("expected a secret error, got {other:?}"),
    }
}

/// The victim's handshake error, as an I/O error kind.
fn handshake_io_kind(p: &mut Peer, timeout: Duration) -> io::ErrorKind {
    match p.victim_handshake(timeout) {
        Err(Error::Io(e)) => e.kind(),
        other => panic!("expected an i/o error, got {other:?}"),
    }
}

#[test]
fn a_truncated_ephemeral_message_is_a_clean_eof() {
    let _w = watchdog("cometbft_truncated_eph", LIMIT);
    for cut in [0, 1, 3, 20, 34] {
        let mut p = Peer::new();
        let msg = p.eph_msg();
        p.send(&msg[..cut]);
        p.sock.shutdown(Shutdown::Write).unwrap();
        assert_eq!(
            handshake_io_kind(&mut p, PATIENCE),
            io::ErrorKind::UnexpectedEof,
            "cut {cut}"
        );
    }
}

#[test]
fn an_oversized_ephemeral_message_is_refused_before_it_is_read() {
    let _w = watchdog("cometbft_oversized_eph", LIMIT);
    let mut p = Peer::new();
    // uvarint(2 MiB) and nothing more: refused without waiting for the body.
    p.send(&[0x80, 0x80, 0x80, 0x01]);
    assert_eq!(
        handshake_err(&mut p),
        SecretError::HandshakeMessageTooLarge {
            what: "ephemeral key",
            length: 2 << 20,
            limit: 1 << 20
        }
    );
    let mut p = Peer::new();
    p.send(&[0xff; 11]);
    assert_eq!(
        handshake_err(&mut p),
        SecretError::BadLengthPrefix {
            what: "ephemeral key"
        }
    );
}

#[test]
fn an_ephemeral_message_of_another_shape_is_refused() {
    let _w = watchdog("cometbft_bad_eph", LIMIT);
    let mut long = vec![0x23, 0x0a, 0x21];
    long.extend([9u8; 33]);
    let cases: [(&str, Vec<u8>); 4] = [
        ("33-byte key", long),
        ("varint instead of bytes", vec![0x02, 0x08, 0x01]),
        ("fixed32 instead of bytes", vec![0x05, 0x0d, 1, 2, 3, 4]),
        ("no key", vec![0x00]),
    ];
    for (what, msg) in cases {
        let mut p = Peer::new();
        p.send(&msg);
        assert!(
            matches!(handshake_err(&mut p), SecretError::BadEphemeralMessage(_)),
            "{what}"
        );
    }
}

/// Sends the ephemeral key and `auth` (through the encrypted stream), returns the
/// victim's handshake error.
fn with_auth(auth: &[u8]) -> SecretError {
    let mut p = Peer::new();
    let eph = p.eph_msg();
    p.send(&eph);
    let frame = p.seal(auth);
    p.send(&frame);
    handshake_err(&mut p)
}

#[test]
fn a_bad_or_misdirected_auth_signature_is_refused() {
    let _w = watchdog("cometbft_bad_auth", LIMIT);
    let p = Peer::new();
    let honest = p.auth();

    let mut flipped = honest;
    flipped.sig[10] ^= 1;
    assert_eq!(with_auth(&flipped.encode()), SecretError::BadSignature);

    // Signed by the peer, claiming another node's key.
    let other = NodeKey::from_secret(b"someone else");
    let claimed = AuthSigMessage {
        pub_key: other.public_key(),
        ..honest
    };
    assert_eq!(with_auth(&claimed.encode()), SecretError::BadSignature);

    // The peer's key, but a signature of another connection's challenge.
    let replayed = AuthSigMessage {
        sig: p.node.sign(&[0u8; 32]),
        ..honest
    };
    assert_eq!(with_auth(&replayed.encode()), SecretError::BadSignature);

    // The identity point with R = identity, S = 0: ZIP-215 accepts it for any
    // challenge; we refuse the key.
    let identity = EdwardsPoint::default().compress().to_bytes();
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&identity);
    let weak = AuthSigMessage {
        pub_key: identity,
        sig,
    };
    assert_eq!(with_auth(&weak.encode()), SecretError::WeakKey);
}

#[test]
fn a_malformed_or_oversized_auth_message_is_refused() {
    let _w = watchdog("cometbft_malformed_auth", LIMIT);
    let p = Peer::new();
    let mut secp = p.auth().encode().to_vec();
    // The key's oneof member 1 (ed25519) as member 2 (secp256k1).
    secp[3] = 0x12;
    assert!(matches!(with_auth(&secp), SecretError::BadAuthMessage(_)));
    assert!(matches!(
        with_auth(&[0x02, 0x12, 0x00]),
        SecretError::BadAuthMessage(_)
    ));
    assert_eq!(
        with_auth(&[0x81, 0x80, 0x40]),
        SecretError::HandshakeMessageTooLarge {
            what: "auth signature",
            length: (1 << 20) + 1,
            limit: 1 << 20
        }
    );
}

#[test]
fn an_auth_message_across_frames_padding_and_empty_frames_is_read() {
    let _w = watchdog("cometbft_auth_across_frames", LIMIT);
    let mut p = Peer::new();
    let auth = p.auth().encode();
    let eph = p.eph_msg();
    p.send(&eph);
    // 40 bytes with garbage padding, an empty frame, the rest with the first data.
    let mut plain = [0xEEu8; 1028];
    plain[..4].copy_from_slice(&40u32.to_le_bytes());
    plain[4..44].copy_from_slice(&auth[..40]);
    let f1 = p.seal_plain(&plain);
    let f2 = p.seal(b"");
    let f3 = p.seal(&[&auth[40..], b"hello"].concat());
    for f in [f1, f2, f3] {
        p.send(&f);
    }
    let mut sc = p.victim_handshake(PATIENCE).unwrap();
    assert_eq!(sc.remote_pubkey(), p.node.public_key());
    let mut buf = [0u8; 5];
    sc.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
}

#[test]
fn a_declared_length_over_1024_is_frame_too_long() {
    let _w = watchdog("cometbft_frame_too_long", LIMIT);
    for len in [1025u32, 1 << 16, 1 << 31, u32::MAX] {
        let mut p = Peer::new();
        let mut sc = p.connected();
        let mut plain = [0u8; 1028];
        plain[..4].copy_from_slice(&len.to_le_bytes());
        let f = p.seal_plain(&plain);
        p.send(&f);
        assert_eq!(read_err(&mut sc), SecretError::FrameTooLong(len));
        // The failure sticks.
        let f = p.seal(b"later");
        p.send(&f);
        assert_eq!(read_err(&mut sc), SecretError::FrameTooLong(len));
    }
}

#[test]
fn a_tampered_frame_fails_authentication() {
    let _w = watchdog("cometbft_tampered_frame", LIMIT);
    // Length, data, padding, the tag's first and last byte.
    for pos in [0, 4, 500, 1027, 1028, 1043] {
        let mut p = Peer::new();
        let mut sc = p.connected();
        let mut f = p.seal(b"hello");
        f[pos] ^= 0x80;
        p.send(&f);
        assert_eq!(read_err(&mut sc), SecretError::FrameAuthFailed, "pos {pos}");
    }
    // A frame replayed: its nonce is behind.
    let mut p = Peer::new();
    let mut sc = p.connected();
    let f = p.seal(b"once");
    p.send(&f);
    p.send(&f);
    let mut buf = [0u8; 4];
    sc.read_exact(&mut buf).unwrap();
    assert_eq!(read_err(&mut sc), SecretError::FrameAuthFailed);
}

#[test]
fn a_peer_that_stops_mid_handshake_times_out() {
    let _w = watchdog("cometbft_stalled_handshake", LIMIT);
    let timeout = Duration::from_millis(300);
    for stop_after in [
        "nothing",
        "half the ephemeral key",
        "the ephemeral key",
        "half the auth frame",
    ] {
        let mut p = Peer::new();
        let eph = p.eph_msg();
        let auth = p.auth().encode();
        let frame = p.seal(&auth);
        match stop_after {
            "nothing" => {}
            "half the ephemeral key" => p.send(&eph[..17]),
            "the ephemeral key" => p.send(&eph),
            _ => {
                p.send(&eph);
                p.send(&frame[..500]);
            }
        }
        let start = Instant::now();
        let kind = handshake_io_kind(&mut p, timeout);
        assert!(
            matches!(kind, io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut),
            "{stop_after}: {kind:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(5), "{stop_after}");
    }
}

#[test]
fn padding_empty_frames_and_split_messages_read_as_one_byte_stream() {
    let _w = watchdog("cometbft_byte_stream", LIMIT);
    let mut p = Peer::new();
    let mut sc = p.connected();
    let mut expected = Vec::new();
    let mut plain = [0x5Au8; 1028];
    plain[..4].copy_from_slice(&3u32.to_le_bytes());
    plain[4..7].copy_from_slice(b"abc");
    expected.extend_from_slice(b"abc");
    let mut frames = vec![p.seal_plain(&plain), p.seal(b""), p.seal(b"")];
    let full: Vec<u8> = (0..1024).map(|i| (i % 251) as u8).collect();
    frames.push(p.seal(&full));
    expected.extend_from_slice(&full);
    let mut zero_len_garbage = [0xA5u8; 1028];
    zero_len_garbage[..4].fill(0);
    frames.push(p.seal_plain(&zero_len_garbage));
    frames.push(p.seal(b"defg"));
    expected.extend_from_slice(b"defg");
    for f in &frames {
        p.send(f);
    }
    p.sock.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let n = sc.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, expected);
}

#[test]
fn a_stream_cut_inside_a_frame_is_unexpected_eof() {
    let _w = watchdog("cometbft_cut_frame", LIMIT);
    let mut p = Peer::new();
    let mut sc = p.connected();
    let f = p.seal(b"never whole");
    p.send(&f[..700]);
    p.sock.shutdown(Shutdown::Write).unwrap();
    let mut buf = [0u8; 16];
    let e = sc.read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
}
