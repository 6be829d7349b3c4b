//! Times sealing and opening one SecretConnection frame (1026 plaintext bytes) with the
//! `crypto_secretbox` crate and with `src/cipher` in every build of its Salsa20 core
//! this CPU runs (portable 4 lanes, AVX2 8, AVX-512 16: `cipher::backend`), plus the
//! keystream and the MAC alone, all in one run so they see the same machine load. Each
//! repetition runs every candidate in turn for `--secs` seconds; the report gives the
//! median MiB/s of plaintext per candidate and its ratio to `crypto_secretbox`.
//!
//! ```text
//! cargo run --release --example cipher_rate -- [--reps 7] [--secs 0.5] [--only TEXT]
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

use cipher::backend::Backend;
use cipher::poly1305_donna;
use cipher::secretbox::{SecretBox, Tag};
use cipher::xsalsa20::XSalsa20;
use cipher::GROUP;

/// Plaintext bytes of one frame.
const FRAME: usize = 1026;
const KEY: [u8; 32] = [0x5a; 32];

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

/// A short name for a build of the Salsa20 core.
fn name(b: Backend) -> &'static str {
    match b.lanes() {
        16 => "avx512 16",
        8 => "avx2 8",
        _ => "portable 4",
    }
}

/// The keystream of one frame (plus the 32 Poly1305 key bytes) with `backend`.
fn keystream(backend: Backend, nonce: &[u8; 24], buf: &mut [u8; FRAME]) {
    fn go<const N: usize>(backend: Backend, nonce: &[u8; 24], buf: &mut [u8; FRAME]) {
        let mut s = XSalsa20::<N>::new(backend, &KEY, nonce);
        s.apply_keystream(&mut [0u8; 32]);
        s.apply_keystream(buf);
    }
    match backend.lanes() {
        16 => go::<16>(backend, nonce, buf),
        8 => go::<8>(backend, nonce, buf),
        _ => go::<4>(backend, nonce, buf),
    }
}

fn candidates(sealed: [u8; FRAME], tag: Tag, nonce: [u8; 24]) -> Vec<(String, Op)> {
    let rc = XSalsa20Poly1305::new(&KEY.into());
    let rc2 = rc.clone();
    let mut next = fresh_nonces();
    let opened = move |buf: &mut [u8; FRAME]| {
        buf.copy_from_slice(&sealed);
    };
    let mut ops: Vec<(String, Op)> = vec![(
        "seal crypto_secretbox".into(),
        Box::new(move |b: &mut [u8; FRAME]| {
            let t = rc
                .encrypt_in_place_detached(&next().into(), b"", b)
                .expect("seal");
            t[0]
        }),
    )];
    for backend in Backend::all() {
        let sb = SecretBox::with_backend(&KEY, backend);
        let mut next = fresh_nonces();
        ops.push((
            format!("seal cipher {}", name(backend)),
            Box::new(move |b: &mut [u8; FRAME]| sb.seal_in_place(&next(), b)[0]),
        ));
    }
    for backend in Backend::all() {
        let sb = SecretBox::with_backend(&KEY, backend);
        let mut next = fresh_nonces();
        let mut frames = vec![[0u8; FRAME]; GROUP];
        ops.push((
            format!("seal cipher {} x{GROUP}", name(backend)),
            Box::new(move |b: &mut [u8; FRAME]| {
                let nonces: [[u8; 24]; GROUP] = std::array::from_fn(|_| next());
                let mut tags = [[0u8; 16]; GROUP];
                let mut bufs: [&mut [u8]; GROUP] = Default::default();
                for (buf, frame) in bufs.iter_mut().zip(&mut frames) {
                    frame.copy_from_slice(b);
                    *buf = frame;
                }
                sb.seal_many(&nonces, &mut bufs, &mut tags);
                tags[0][0]
            }),
        ));
    }
    ops.push((
        "open crypto_secretbox".into(),
        Box::new(move |b: &mut [u8; FRAME]| {
            opened(b);
            rc2.decrypt_in_place_detached(&nonce.into(), b"", b, &tag.into())
                .expect("open");
            b[0]
        }),
    ));
    for backend in Backend::all() {
        let sb = SecretBox::with_backend(&KEY, backend);
        ops.push((
            format!("open cipher {}", name(backend)),
            Box::new(move |b: &mut [u8; FRAME]| {
                opened(b);
                sb.open_in_place(&nonce, b, &tag).expect("open");
                b[0]
            }),
        ));
    }
    for backend in Backend::all() {
        let sb = SecretBox::with_backend(&KEY, backend);
        let mut frames = vec![[0u8; FRAME]; GROUP];
        let nonces = [nonce; GROUP];
        ops.push((
            format!("open cipher {} x{GROUP}", name(backend)),
            Box::new(move |b: &mut [u8; FRAME]| {
                let mut bufs: [&mut [u8]; GROUP] = Default::default();
                for (buf, frame) in bufs.iter_mut().zip(&mut frames) {
                    frame.copy_from_slice(&sealed);
                    *buf = frame;
                }
                sb.open_many(&nonces, &mut bufs, &[tag; GROUP])
                    .expect("open");
                b[0] ^ frames[0][0]
            }),
        ));
    }
    ops.push((
        "part: salsa20 crate keystream".into(),
        Box::new(move |b: &mut [u8; FRAME]| {
            salsa20::XSalsa20::new(&KEY.into(), &nonce.into()).apply_keystream(b);
            b[0]
        }),
    ));
    for backend in Backend::all() {
        ops.push((
            format!("part: keystream {}", name(backend)),
            Box::new(move |b: &mut [u8; FRAME]| {
                keystream(backend, &nonce, b);
                b[0]
            }),
        ));
    }
    ops.push((
        "part: poly1305 crate".into(),
        Box::new(move |b: &mut [u8; FRAME]| {
            Poly1305::new(Key::from_slice(&KEY)).compute_unpadded(b)[0]
        }),
    ));
    // Portable: poly1305-donna-64 alone; AVX2 and AVX-512 builds: four lanes over the
    // frame's whole 64-byte groups, donna for the rest.
    for backend in Backend::all() {
        ops.push((
            format!("part: cipher poly1305 {}", name(backend)),
            Box::new(move |b: &mut [u8; FRAME]| {
                poly1305_donna::Poly1305::with_backend(&KEY, backend).finish(b)[0]
            }),
        ));
    }
    ops
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
/// Also the rate of the fastest run of 16 frames: on a shared machine, the speed of the
/// code itself when nothing else got in its way.
fn rate(op: &mut Op, buf: &mut [u8; FRAME], secs: f64) -> (f64, f64, f64) {
    let budget = Duration::from_secs_f64(secs);
    let c0 = cpu_ns();
    let t0 = Instant::now();
    let mut frames = 0u64;
    let mut sink = 0u8;
    let mut fastest = Duration::MAX;
    loop {
        for _ in 0..4 {
            let t = Instant::now();
            for _ in 0..16 {
                sink ^= op(black_box(&mut *buf));
            }
            fastest = fastest.min(t.elapsed());
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
            let best = 16.0 / fastest.as_secs_f64();
            return (frames as f64 / wall, frames as f64 / cpu, best);
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
    let want = XSalsa20Poly1305::new(&KEY.into())
        .encrypt_in_place_detached(&nonce.into(), b"", &mut sealed)
        .expect("seal");
    let tag: Tag = want.into();

    // Every build must produce the same bytes before it is timed.
    for backend in Backend::all() {
        let sb = SecretBox::with_backend(&KEY, backend);
        let mut b = plain;
        assert_eq!(sb.seal_in_place(&nonce, &mut b), tag, "{}", name(backend));
        assert_eq!(b, sealed, "{}", name(backend));
        assert_eq!(sb.open_in_place(&nonce, &mut b, &tag), Ok(()));
        assert_eq!(b, plain);
        let mut k = plain;
        keystream(backend, &nonce, &mut k);
        let mut want = plain;
        let mut s = salsa20::XSalsa20::new(&KEY.into(), &nonce.into());
        s.apply_keystream(&mut [0u8; 32]);
        s.apply_keystream(&mut want);
        assert_eq!(k, want, "{} keystream", name(backend));
    }

    let mut ops = candidates(sealed, tag, nonce);
    // `--only TEXT`: just the candidates whose name contains it (for a profiler).
    let args: Vec<String> = std::env::args().collect();
    if let Some(only) = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
    {
        ops.retain(|(name, _)| name.contains(only.as_str()));
    }
    let mib = FRAME as f64 / (1024.0 * 1024.0);
    let mut wall: Vec<Vec<f64>> = vec![Vec::new(); ops.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); ops.len()];
    let mut best = vec![0f64; ops.len()];
    let mut buf = plain;
    for _ in 0..reps {
        let each = wall.iter_mut().zip(&mut cpu).zip(&mut best);
        for (((w, c), b), (name, op)) in each.zip(ops.iter_mut()) {
            buf.copy_from_slice(&plain);
            let (fw, fc, fb) = rate(op, &mut buf, secs);
            // A batched candidate handles GROUP frames per call.
            let per = if name.ends_with(&format!(" x{GROUP}")) {
                GROUP as f64
            } else {
                1.0
            };
            let (fw, fc, fb) = (fw * per, fc * per, fb * per);
            w.push(fw * mib);
            c.push(fc * mib);
            *b = b.max(fb * mib);
        }
    }
    println!("{reps} repetitions x {secs} s per candidate, interleaved; MiB/s of the {FRAME}-byte plaintext");
    println!("wall: per second of elapsed time; cpu: per second this thread ran (schedstat);");
    println!("best: the fastest 16 frames in a row of all repetitions (the least disturbed)");
    println!(
        "{:<34} {:>8} {:>8} {:>8} {:>6} | {:>8} {:>6} | {:>8} {:>6}",
        "candidate", "wall med", "min", "max", "ratio", "cpu med", "ratio", "best", "ratio"
    );
    let (mut base_w, mut base_c, mut base_b) = (0.0, 0.0, 0.0);
    for ((((name, _), w), c), b) in ops.iter().zip(&mut wall).zip(&mut cpu).zip(best) {
        w.sort_by(|a, b| a.total_cmp(b));
        c.sort_by(|a, b| a.total_cmp(b));
        let (mw, mc) = (w[w.len() / 2], c[c.len() / 2]);
        // Ratios are to the first candidate of each group (seal, open, keystream, MAC).
        if name.ends_with("crypto_secretbox")
            || name.starts_with("part: salsa20")
            || name == "part: poly1305 crate"
        {
            (base_w, base_c, base_b) = (mw, mc, b);
        }
        println!(
            "{name:<34} {mw:>8.1} {:>8.1} {:>8.1} {:>6.2} | {mc:>8.1} {:>6.2} | {b:>8.1} {:>6.2}",
            w[0],
            w[w.len() - 1],
            mw / base_w,
            mc / base_c,
            b / base_b
        );
    }
}
