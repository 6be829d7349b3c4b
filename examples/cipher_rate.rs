//! Times sealing and opening one SecretConnection frame (1026 plaintext bytes) with the
//! `crypto_secretbox` crate (today's frame path) and with `src/cipher` (4 and 8 lanes,
//! one-pass and two-pass), all in one run so they see the same machine load. Each
//! repetition runs every candidate in turn for `--secs` seconds; the report gives the
//! median MiB/s of plaintext per candidate and its ratio to `crypto_secretbox`.
//!
//! ```text
//! cargo run --release --example cipher_rate -- [--reps 7] [--secs 0.5]
//! ```
//!
//! `src/cipher` is a private module, so it is compiled into this example from its
//! source (the same files, not a copy).

use std::hint::black_box;
use std::time::{Duration, Instant};

use crypto_secretbox::aead::AeadInPlace;
use crypto_secretbox::XSalsa20Poly1305;
use poly1305::universal_hash::KeyInit;
use poly1305::{Key, Poly1305};
use salsa20::cipher::{KeyIvInit, StreamCipher};

#[allow(dead_code)]
#[path = "../src/cipher/mod.rs"]
mod cipher;

use cipher::poly1305_donna;
use cipher::secretbox::{open_in_place, seal_in_place, start, Tag};
use cipher::xsalsa20::XSalsa20;

/// Plaintext bytes of one frame.
const FRAME: usize = 1026;
const KEY: [u8; 32] = [0x5a; 32];

/// Two-pass seal with `src/cipher`'s Poly1305: the whole keystream, then the MAC.
fn seal_two_pass_donna<const N: usize>(nonce: &[u8; 24], buf: &mut [u8]) -> Tag {
    let (mut stream, mac) = start::<N>(&KEY, nonce);
    stream.apply_keystream(buf);
    mac.finish(buf)
}

/// Two-pass seal with the `poly1305` crate (AVX2 when the CPU has it).
fn seal_two_pass<const N: usize>(nonce: &[u8; 24], buf: &mut [u8]) -> Tag {
    let mut stream = XSalsa20::<N>::new(&KEY, nonce);
    let mut mac_key = [0u8; 32];
    stream.apply_keystream(&mut mac_key);
    stream.apply_keystream(buf);
    Poly1305::new(Key::from_slice(&mac_key))
        .compute_unpadded(buf)
        .into()
}

/// Two-pass open with the `poly1305` crate.
fn open_crate_poly<const N: usize>(nonce: &[u8; 24], buf: &mut [u8], tag: &Tag) -> bool {
    let mut stream = XSalsa20::<N>::new(&KEY, nonce);
    stream.fill_batch();
    let mut mac_key = [0u8; 32];
    stream.apply_keystream(&mut mac_key);
    let expected: Tag = Poly1305::new(Key::from_slice(&mac_key))
        .compute_unpadded(buf)
        .into();
    let ok = expected == *tag; // benchmark only: not constant time
    if ok {
        stream.apply_keystream(buf);
    }
    ok
}

/// One-pass open: authenticate and decrypt batch by batch (re-encrypting on failure, so
/// the buffer is left as it was).
fn open_one_pass<const N: usize>(nonce: &[u8; 24], buf: &mut [u8], tag: &Tag) -> bool {
    let (mut stream, mut mac) = start::<N>(&KEY, nonce);
    let whole = buf.len() - buf.len() % 16;
    let (mut done, mut step) = (0, XSalsa20::<N>::BATCH - 32);
    while done < whole {
        let end = whole.min(done + step);
        let upto = if end == whole { whole } else { end - end % 64 };
        let upto = upto.max(done);
        mac.update_blocks(&buf[done..upto]);
        stream.apply_keystream(&mut buf[done..upto]);
        done = upto;
        step = XSalsa20::<N>::BATCH;
    }
    let mut tail = [0u8; 16];
    let tail = &mut tail[..buf.len() - whole];
    tail.copy_from_slice(&buf[whole..]);
    stream.apply_keystream(&mut buf[whole..]);
    let expected = mac.finish(tail);
    let ok = expected == *tag; // benchmark only: not constant time
    if !ok {
        let mut again = XSalsa20::<N>::new(&KEY, nonce);
        again.apply_keystream(&mut [0u8; 32]);
        again.apply_keystream(buf);
    }
    ok
}

/// A new nonce per call, as the SecretConnection does (so HSalsa20 runs every time).
fn fresh_nonces() -> impl FnMut() -> [u8; 24] {
    let mut n = 0u64;
    move || {
        n += 1;
        let mut b = [0u8; 24];
        b[16..].copy_from_slice(&n.to_be_bytes());
        b
    }
}

/// A candidate: its name and one operation on a frame buffer (returns a checksum byte).
type Op = Box<dyn FnMut(&mut [u8; FRAME]) -> u8>;

fn candidates(sealed: [u8; FRAME], tag: Tag, nonce: [u8; 24]) -> Vec<(&'static str, Op)> {
    let rc = XSalsa20Poly1305::new(&KEY.into());
    let rc2 = rc.clone();
    let mut next = fresh_nonces();
    let mut n2 = fresh_nonces();
    let mut n3 = fresh_nonces();
    let mut n4 = fresh_nonces();
    let mut n5 = fresh_nonces();
    let opened = move |buf: &mut [u8; FRAME]| {
        buf.copy_from_slice(&sealed);
    };
    vec![
        (
            "seal crypto_secretbox",
            Box::new(move |b: &mut [u8; FRAME]| {
                let t = rc
                    .encrypt_in_place_detached(&next().into(), b"", b)
                    .expect("seal");
                t[0]
            }) as Op,
        ),
        (
            "seal cipher 4 lanes 1-pass",
            Box::new(move |b: &mut [u8; FRAME]| seal_in_place::<4>(&KEY, &n2(), b)[0]),
        ),
        (
            "seal cipher 8 lanes 1-pass",
            Box::new(move |b: &mut [u8; FRAME]| seal_in_place::<8>(&KEY, &n3(), b)[0]),
        ),
        (
            "seal cipher 4 lanes 2-pass",
            Box::new(move |b: &mut [u8; FRAME]| seal_two_pass_donna::<4>(&n4(), b)[0]),
        ),
        (
            "seal 4 lanes + poly1305 crate",
            Box::new(move |b: &mut [u8; FRAME]| seal_two_pass::<4>(&n5(), b)[0]),
        ),
        (
            "open crypto_secretbox",
            Box::new(move |b: &mut [u8; FRAME]| {
                opened(b);
                rc2.decrypt_in_place_detached(&nonce.into(), b"", b, &tag.into())
                    .expect("open");
                b[0]
            }),
        ),
        (
            "open cipher 4 lanes 2-pass",
            Box::new(move |b: &mut [u8; FRAME]| {
                opened(b);
                open_in_place::<4>(&KEY, &nonce, b, &tag).expect("open");
                b[0]
            }),
        ),
        (
            "open cipher 8 lanes 2-pass",
            Box::new(move |b: &mut [u8; FRAME]| {
                opened(b);
                open_in_place::<8>(&KEY, &nonce, b, &tag).expect("open");
                b[0]
            }),
        ),
        (
            "open cipher 4 lanes 1-pass",
            Box::new(move |b: &mut [u8; FRAME]| {
                opened(b);
                assert!(open_one_pass::<4>(&nonce, b, &tag));
                b[0]
            }),
        ),
        (
            "open 4 lanes + poly1305 crate",
            Box::new(move |b: &mut [u8; FRAME]| {
                opened(b);
                assert!(open_crate_poly::<4>(&nonce, b, &tag));
                b[0]
            }),
        ),
        (
            "part: salsa20 crate keystream",
            Box::new(move |b: &mut [u8; FRAME]| {
                salsa20::XSalsa20::new(&KEY.into(), &nonce.into()).apply_keystream(b);
                b[0]
            }),
        ),
        (
            "part: cipher 4 lanes keystream",
            Box::new(move |b: &mut [u8; FRAME]| {
                XSalsa20::<4>::new(&KEY, &nonce).apply_keystream(b);
                b[0]
            }),
        ),
        (
            "part: cipher 8 lanes keystream",
            Box::new(move |b: &mut [u8; FRAME]| {
                XSalsa20::<8>::new(&KEY, &nonce).apply_keystream(b);
                b[0]
            }),
        ),
        (
            "part: poly1305 crate",
            Box::new(move |b: &mut [u8; FRAME]| {
                Poly1305::new(Key::from_slice(&KEY)).compute_unpadded(b)[0]
            }),
        ),
        (
            "part: cipher poly1305_donna",
            Box::new(move |b: &mut [u8; FRAME]| poly1305_donna::Poly1305::new(&KEY).finish(b)[0]),
        ),
    ]
}

/// Nanoseconds this thread has run on a CPU (Linux's schedstat), if the kernel says.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split(' ')
        .next()?
        .parse()
        .ok()
        .filter(|&ns| ns > 0)
}

/// Frames per second of `op` over about `secs` seconds of wall time, and per second of
/// this thread's CPU time (less sensitive to the other loads on a shared machine).
fn rate(op: &mut Op, buf: &mut [u8; FRAME], secs: f64) -> (f64, f64) {
    let budget = Duration::from_secs_f64(secs);
    let c0 = cpu_ns();
    let t0 = Instant::now();
    let mut frames = 0u64;
    let mut sink = 0u8;
    loop {
        for _ in 0..64 {
            sink ^= op(black_box(&mut *buf));
        }
        frames += 64;
        let el = t0.elapsed();
        if el >= budget {
            black_box(sink);
            let wall = el.as_secs_f64();
            let cpu = match (c0, cpu_ns()) {
                (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
                _ => wall,
            };
            return (frames as f64 / wall, frames as f64 / cpu);
        }
    }
}

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn main() {
    let reps = arg("--reps", 7.0) as usize;
    let secs = arg("--secs", 0.5);
    let nonce = [7u8; 24];
    let plain: [u8; FRAME] = std::array::from_fn(|i| (i % 251) as u8);
    let mut sealed = plain;
    let tag = seal_in_place::<4>(&KEY, &nonce, &mut sealed);

    // Every candidate must produce the same bytes before it is timed.
    let mut check = plain;
    let want = XSalsa20Poly1305::new(&KEY.into())
        .encrypt_in_place_detached(&nonce.into(), b"", &mut check)
        .expect("seal");
    assert_eq!((check, <[u8; 16]>::from(want)), (sealed, tag));
    for seal in [
        seal_in_place::<8>,
        seal_two_pass_4,
        seal_two_pass_8,
        seal_donna_8,
    ] {
        let mut b = plain;
        assert_eq!(seal(&KEY, &nonce, &mut b), tag);
        assert_eq!(b, sealed);
    }
    for open in [open_one_pass::<4>, open_one_pass::<8>, open_crate_poly::<4>] {
        let mut b = sealed;
        assert!(open(&nonce, &mut b, &tag));
        assert_eq!(b, plain);
        b[500] ^= 1;
        assert!(!open(&nonce, &mut b, &tag));
    }

    let mut ops = candidates(sealed, tag, nonce);
    let mib = FRAME as f64 / (1024.0 * 1024.0);
    let mut wall: Vec<Vec<f64>> = vec![Vec::new(); ops.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); ops.len()];
    let mut buf = plain;
    for _ in 0..reps {
        for ((w, c), (_, op)) in wall.iter_mut().zip(&mut cpu).zip(ops.iter_mut()) {
            buf.copy_from_slice(&plain);
            let (fw, fc) = rate(op, &mut buf, secs);
            w.push(fw * mib);
            c.push(fc * mib);
        }
    }
    println!("{reps} repetitions x {secs} s per candidate, interleaved; MiB/s of the {FRAME}-byte plaintext");
    println!("wall: per second of elapsed time; cpu: per second this thread ran (schedstat)");
    println!(
        "{:<34} {:>8} {:>8} {:>8} {:>6} | {:>8} {:>6}",
        "candidate", "wall med", "min", "max", "ratio", "cpu med", "ratio"
    );
    let (mut base_w, mut base_c) = (0.0, 0.0);
    for (((name, _), w), c) in ops.iter().zip(&mut wall).zip(&mut cpu) {
        w.sort_by(|a, b| a.total_cmp(b));
        c.sort_by(|a, b| a.total_cmp(b));
        let (mw, mc) = (w[w.len() / 2], c[c.len() / 2]);
        // Ratios are to the first candidate of each group (seal, open, keystream, MAC).
        if name.ends_with("crypto_secretbox")
            || name.starts_with("part: salsa20")
            || *name == "part: poly1305 crate"
        {
            (base_w, base_c) = (mw, mc);
        }
        println!(
            "{name:<34} {mw:>8.1} {:>8.1} {:>8.1} {:>6.2} | {mc:>8.1} {:>6.2}",
            w[0],
            w[w.len() - 1],
            mw / base_w,
            mc / base_c
        );
    }
}
fn seal_two_pass_4(_: &[u8; 32], nonce: &[u8; 24], buf: &mut [u8]) -> Tag {
    seal_two_pass::<4>(nonce, buf)
}

fn seal_two_pass_8(_: &[u8; 32], nonce: &[u8; 24], buf: &mut [u8]) -> Tag {
    seal_two_pass::<8>(nonce, buf)
}

fn seal_donna_8(_: &[u8; 32], nonce: &[u8; 24], buf: &mut [u8]) -> Tag {
    seal_two_pass_donna::<8>(nonce, buf)
}
