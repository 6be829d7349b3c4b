//! A hostile review of sealing and opening frames several at a time (`FrameCipher`'s
//! `seal_frames`/`open_frames`) as the sealing engine drives them: `SendState` and
//! `RecvState` against frames sealed one at a time by RustCrypto's `crypto_secretbox`
//! (an oracle that shares no code with ours), for any chunking of writes and reads,
//! sockets that stall, nonces that carry into their first 16 bytes mid-group or run out
//! mid-write, bad frames anywhere among many, streams cut inside a frame, empty frames,
//! and 64 KiB stacks in the build the tests run in.

use std::io::{self, Read, Write};

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use proptest::prelude::*;

use super::hostile_peer::secret_err;
use crate::sealed_stream::{RecvState, SendState};
use crate::secret::frame::{FrameCipher, SEALED_FRAME_SIZE};
use crate::secret::nonce::Nonce;
use crate::SecretError;

const KEY: [u8; 32] = [0x5a; 32];

/// A nonce with its last 8 bytes set to `tail`, the rest 0xff: from 2^192 - 1 - 2k
/// exactly k frames can be sealed; a tail near 2^64 carries into byte 15.
fn nonce_with_tail(head: u8, tail: u64) -> Nonce {
    let mut b = [head; 24];
    b[16..].copy_from_slice(&tail.to_be_bytes());
    Nonce::new(b)
}

/// Exactly `left` frames can go under this nonce before it runs out.
fn nonce_with(left: u64) -> Nonce {
    nonce_with_tail(0xff, u64::MAX - 2 * left)
}

/// One frame sealed by RustCrypto alone: `tag || secretbox(BE16(len) || chunk || 0s)`.
fn oracle_frame(nonce: &Nonce, chunk: &[u8], len: u16) -> Vec<u8> {
    let mut f = vec![0u8; SEALED_FRAME_SIZE];
    f[16..18].copy_from_slice(&len.to_be_bytes());
    f[18..18 + chunk.len()].copy_from_slice(chunk);
    let tag = XSalsa20Poly1305::new(&KEY.into())
        .encrypt_in_place_detached(nonce.as_bytes().into(), b"", &mut f[16..])
        .expect("seal");
    f[..16].copy_from_slice(&tag);
    f
}

/// The frames of `chunks`, one at a time, from `start` on.
fn oracle_from(start: Nonce, chunks: &[&[u8]]) -> Vec<u8> {
    let mut nonce = start;
    oracle(&mut nonce, chunks)
}

/// The frames of `chunks`, one at a time, from `nonce` on.
fn oracle(nonce: &mut Nonce, chunks: &[&[u8]]) -> Vec<u8> {
    let mut wire = Vec::new();
    for chunk in chunks {
        wire.extend(oracle_frame(nonce, chunk, chunk.len() as u16));
        nonce.advance().expect("oracle nonce");
    }
    wire
}

/// A socket that takes at most `take[i]` bytes on its i-th write (0: a stall).
struct Choppy {
    wire: Vec<u8>,
    take: Vec<usize>,
    at: usize,
}

impl Write for Choppy {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let t = self.take[self.at % self.take.len()];
        self.at += 1;
        if t == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = t.min(buf.len());
        self.wire.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A stream that hands out at most `give[i]` bytes on its i-th read.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    give: Vec<usize>,
    reads: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let g = self.give[self.reads % self.give.len()].max(1);
        self.reads += 1;
        let n = g.min(buf.len()).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Everything `recv` reads from `wire` (`give` bytes per socket read, `out` per call)
/// until the end or an error.
fn read_all(
    recv: &mut RecvState<FrameCipher>,
    wire: Vec<u8>,
    give: Vec<usize>,
    out: usize,
) -> (Vec<u8>, Option<io::Error>) {
    let mut r = Trickle {
        data: wire,
        at: 0,
        give,
        reads: 0,
    };
    let mut got = Vec::new();
    let mut buf = vec![0u8; out];
    loop {
        match recv.read(&mut r, &mut buf) {
            Ok(0) => return (got, None),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Some(e)),
        }
    }
}

/// Writes each of `writes` through a `SendState` to a choppy socket; returns the wire
/// and the chunks each write's frames carry.
fn send_all(start: Nonce, data: &[u8], writes: &[usize], take: Vec<usize>) -> Vec<u8> {
    let mut send = SendState::new(FrameCipher::new(&KEY), start);
    let mut sock = Choppy {
        wire: Vec::new(),
        take,
        at: 0,
    };
    let mut want = Vec::new();
    let mut oracle_nonce = start;
    let mut rest = data;
    let mut w = writes.iter().cycle();
    while !rest.is_empty() {
        let len = (*w.next().expect("cycle")).clamp(1, rest.len());
        let took = loop {
            match send.write(&mut sock, &rest[..len]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("write: {e}"),
            }
        };
        assert!(
            took > 0 && took <= len.min(64 * 1024),
            "took {took} of {len}"
        );
        let chunks: Vec<&[u8]> = rest[..took].chunks(1024).collect();
        want.extend(oracle(&mut oracle_nonce, &chunks));
        rest = &rest[took..];
    }
    while let Err(e) = send.flush(&mut sock) {
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
    }
    assert!(
        sock.wire == want,
        "the wire differs from one frame at a time"
    );
    sock.wire
}

fn start_nonce() -> impl Strategy<Value = Nonce> {
    prop_oneof![
        any::<[u8; 24]>().prop_map(Nonce::new),
        // The carry into byte 15 lands somewhere in the first groups.
        (0u64..40).prop_map(|k| nonce_with_tail(0x11, u64::MAX - 2 * k)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any chunking of writes, a socket that stalls and takes any amount, nonces
    /// carrying into their first 16 bytes mid-group: the bytes of one frame at a time;
    /// and read back in any chunking, the data.
    #[test]
    fn writes_and_reads_of_any_size_are_one_frame_at_a_time(
        start in start_nonce(),
        len in prop_oneof![0usize..3000, 60_000usize..140_000],
        writes in prop::collection::vec(
            prop_oneof![1usize..2100, Just(1024), Just(8 * 1024), Just(65 * 1024)], 1..6),
        take in prop::collection::vec(prop_oneof![0usize..3, 1usize..70_000], 1..5),
        give in prop::collection::vec(prop_oneof![1usize..3, 1usize..70_000], 1..5),
        out in prop_oneof![1usize..4, 1usize..70_000],
    ) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        let take = if take.iter().all(|&t| t == 0) { vec![1] } else { take };
        let wire = send_all(start, &data, &writes, take);
        let mut recv = RecvState::new(FrameCipher::new(&KEY), start);
        let (got, err) = read_all(&mut recv, wire, give, out);
        prop_assert!(err.is_none(), "{:?}", err);
        prop_assert!(got == data);
    }

    /// Frames of any lengths (empty ones too) with one bad (altered, or declaring 1025
    /// bytes) anywhere among up to 80, or the stream cut anywhere, read in any chunking:
    /// exactly the data before it, then the error, again on every later read.
    #[test]
    fn a_bad_frame_or_a_cut_anywhere_ends_the_stream_exactly_there(
        start in start_nonce(),
        lens in prop::collection::vec(prop_oneof![Just(1024usize), Just(0), 0usize..1025], 1..80),
        bad in any::<prop::sample::Index>(),
        kind in 0u8..4,
        at in any::<prop::sample::Index>(),
        give in prop::collection::vec(prop_oneof![1usize..3, 1usize..70_000], 1..5),
        out in prop_oneof![1usize..4, 1usize..70_000],
    ) {
        let bad = bad.index(lens.len());
        let mut nonce = start;
        let (mut wire, mut want) = (Vec::new(), Vec::new());
        for (k, &len) in lens.iter().enumerate() {
            let chunk: Vec<u8> = (0..len).map(|i| (i ^ k) as u8).collect();
            let mut f = if k == bad && kind == 1 {
                oracle_frame(&nonce, &[], 1025)
            } else {
                oracle_frame(&nonce, &chunk, len as u16)
            };
            if k == bad && kind == 0 {
                let i = at.index(f.len());
                f[i] ^= 0x80;
            }
            nonce.advance().expect("nonce");
            if k < bad || kind >= 2 {
                want.extend_from_slice(&chunk);
            }
            wire.extend(f);
        }
        let expected = match kind {
            0 => Some(SecretError::FrameAuthFailed),
            1 => Some(SecretError::FrameLength(1025)),
            _ => None,
        };
        // kind 2 and 3: no bad frame, the stream is cut inside frame `bad` instead
        // (kind 3: after its tag, so the frames before it were all opened together).
        let cut = match kind {
            2 => Some(bad * SEALED_FRAME_SIZE + 1 + at.index(SEALED_FRAME_SIZE - 1)),
            3 => Some(bad * SEALED_FRAME_SIZE + 17),
            _ => None,
        };
        if let Some(cut) = cut {
            wire.truncate(cut);
            want.clear();
            for (k, &len) in lens[..bad].iter().enumerate() {
                want.extend((0..len).map(|i| (i ^ k) as u8));
            }
        }
        let mut recv = RecvState::new(FrameCipher::new(&KEY), start);
        let (got, err) = read_all(&mut recv, wire, give, out);
        prop_assert!(got == want, "read {} bytes of {}", got.len(), want.len());
        let err = err.expect("an error");
        match expected {
            Some(expected) => {
                prop_assert_eq!(secret_err(err), expected.clone());
                let mut r = io::empty();
                let again = recv.read(&mut r, &mut [0u8; 10]).expect_err("sticks");
                prop_assert_eq!(secret_err(again), expected);
            }
            None => prop_assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof),
        }
    }
}

/// The nonce runs out after `left` frames, at every place in a group: the frames sealed
/// before it are sent (and are exactly one frame at a time), the write reports only
/// their bytes taken, the next write fails with `NonceExhausted` and sends nothing.
#[test]
fn the_nonce_running_out_mid_write_sends_the_frames_before_it() {
    let data: Vec<u8> = (0..66 * 1024).map(|i| (i % 253) as u8).collect();
    for left in [0u64, 1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65] {
        let start = nonce_with(left);
        let mut send = SendState::new(FrameCipher::new(&KEY), start);
        let mut sock = Vec::new();
        let sealed = left.min(64) as usize;
        if left == 0 {
            let e = send.write(&mut sock, &data).expect_err("no nonce left");
            assert_eq!(secret_err(e), SecretError::NonceExhausted);
            assert!(sock.is_empty());
            continue;
        }
        let took = send.write(&mut sock, &data).expect("frames before the end");
        assert_eq!(took, sealed * 1024, "{left} left");
        let chunks: Vec<&[u8]> = data.chunks(1024).take(sealed).collect();
        assert!(sock == oracle_from(start, &chunks), "{left} left");
        let before = sock.len();
        let next = send.write(&mut sock, &data[took..]);
        if left <= 64 {
            assert_eq!(
                secret_err(next.expect_err("ran out")),
                SecretError::NonceExhausted
            );
            assert_eq!(sock.len(), before, "nothing more is sent");
            let again = send.write(&mut sock, b"x").expect_err("still out");
            assert_eq!(secret_err(again), SecretError::NonceExhausted);
        } else {
            assert_eq!(next.expect("a frame left"), 1024);
        }
    }
}

/// The peer's nonce runs out after `left` frames, at every place in a group of frames
/// opened together: the data of those frames, then `NonceExhausted`, for good.
#[test]
fn the_peer_nonce_running_out_mid_batch_ends_the_stream_after_those_frames() {
    for left in [0u64, 1, 7, 8, 9, 16, 17, 40] {
        let start = nonce_with(left);
        let chunk = [0x3cu8; 1024];
        let mut wire = oracle_from(start, &vec![&chunk[..]; left as usize]);
        // Frames past the end (the peer would have to reuse a nonce): any bytes.
        wire.extend(vec![0x77u8; 5 * SEALED_FRAME_SIZE]);
        for out in [1, 1000, 100_000] {
            let mut recv = RecvState::new(FrameCipher::new(&KEY), start);
            let (got, err) = read_all(&mut recv, wire.clone(), vec![100_000], out);
            assert_eq!(
                got.len(),
                left as usize * 1024,
                "{left} left, reads of {out}"
            );
            assert!(got.iter().all(|&b| b == 0x3c));
            assert_eq!(
                secret_err(err.expect("ran out")),
                SecretError::NonceExhausted
            );
        }
    }
}

/// The io threads and the handshake's writer may have 64 KiB stacks, in this (debug)
/// build too: a whole 64-frame write and read of them fit.
#[test]
fn sealing_and_opening_64_frames_fit_a_64_kib_stack() {
    let run = || {
        let data = vec![0xa5u8; 64 * 1024];
        let start = Nonce::new([9u8; 24]);
        let mut send = SendState::new(FrameCipher::new(&KEY), start);
        let mut wire = Vec::new();
        assert_eq!(send.write(&mut wire, &data).expect("write"), data.len());
        let mut recv = RecvState::new(FrameCipher::new(&KEY), start);
        let (got, err) = read_all(&mut recv, wire, vec![1 << 20], 1 << 17);
        assert!(err.is_none() && got == data);
    };
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(run)
        .expect("spawn")
        .join()
        .expect("64 KiB are enough");
}
