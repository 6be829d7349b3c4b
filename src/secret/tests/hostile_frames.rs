//! Hostile peers after the handshake: altered, replayed, reordered, over-long and empty
//! frames, and streams cut inside a frame. Each must end in a specific, clean error (or
//! be read correctly), never a panic or a hang.

use std::io::{Read, Write};
use std::time::Duration;

use super::hostile_peer::{connected, read_err, secret_err};
use super::support::{watchdog, Rng, Scripted};
use super::vector_file::load;
use crate::node_key::NodeKey;
use crate::secret::frame::SEALED_FRAME_SIZE;
use crate::secret::SecretConnection;
use crate::SecretError;

const LIMIT: Duration = Duration::from_secs(60);

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

/// Everything read until the connection fails, and the error.
fn read_until_error(conn: &mut SecretConnection<std::net::TcpStream>) -> (Vec<u8>, SecretError) {
    let mut got = Vec::new();
    let mut buf = [0u8; 700];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => panic!("clean end, after {} bytes", got.len()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, secret_err(e)),
        }
    }
}

/// Frames arriving together are opened together (several at a time): one that fails,
/// anywhere among them, still ends the stream exactly after the frames before it.
#[test]
fn a_bad_frame_among_many_ends_the_stream_exactly_after_those_before_it() {
    let _w = watchdog("a_bad_frame_among_many", LIMIT);
    for bad in [0, 1, 7, 8, 9, 15, 16, 19] {
        for kind in ["altered", "too long"] {
            let (mut conn, mut p) = connected();
            let mut wire = Vec::new();
            let mut want = Vec::new();
            for k in 0..20u8 {
                let chunk: Vec<u8> = (0..1000).map(|i| (i as u8) ^ k).collect();
                let mut f = if k != bad || kind == "altered" {
                    p.seal(&chunk)
                } else {
                    let mut padded = [0u8; 1026];
                    padded[..2].copy_from_slice(&1025u16.to_be_bytes());
                    p.seal_raw(&padded)
                };
                if k == bad && kind == "altered" {
                    f[600] ^= 0x04;
                }
                if k < bad {
                    want.extend_from_slice(&chunk);
                }
                wire.extend_from_slice(&f);
            }
            p.sock.write_all(&wire).unwrap();
            let (got, err) = read_until_error(&mut conn);
            assert!(got == want, "frame {bad} {kind}: read {} bytes", got.len());
            let expected = match kind {
                "altered" => SecretError::FrameAuthFailed,
                _ => SecretError::FrameLength(1025),
            };
            assert_eq!(err, expected, "frame {bad} {kind}");
            // The failure sticks.
            assert_eq!(read_err(&mut conn), expected, "frame {bad} {kind}");
        }
    }
}
