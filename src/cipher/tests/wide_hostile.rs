//! A hostile review of the four-lane Poly1305 (`poly1305_wide`, reached through
//! `WidePoly`) and of sealing in two passes up to 4 KiB: tags fed in random chunkings
//! against the `poly1305` crate, every backend; the lanes' entry with the donna
//! accumulator at (and past) the largest limbs it can hold, against exact arithmetic
//! mod 2^130 - 5; and sealing on both sides of the two-pass threshold against
//! `crypto_secretbox`, at every keystream width.

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use proptest::prelude::*;

use crate::cipher::backend::Backend;
use crate::cipher::poly1305_donna::Poly1305;
use crate::cipher::poly1305_limbs::{M42, M44};
use crate::cipher::secretbox::{seal_in_place, SecretBox};
use crate::cipher::xsalsa20::subkey;

/// The key whose clamped `r` is the largest (`0x0ffffffc0ffffffc0ffffffc0fffffff`),
/// with `s` given.
fn max_r_key(s: [u8; 16]) -> [u8; 32] {
    let mut key = [0xffu8; 32];
    key[16..].copy_from_slice(&s);
    key
}

/// Keys that stress the limbs: any, the largest `r` with any `s`, all ones, all zeros.
fn key() -> impl Strategy<Value = [u8; 32]> {
    prop_oneof![
        any::<[u8; 32]>(),
        any::<[u8; 16]>().prop_map(max_r_key),
        Just([0xffu8; 32]),
        Just([0u8; 32]),
    ]
}

/// Whole-block chunk sizes around the four-lane thresholds (64-byte groups, 128 bytes
/// the least stretch the lanes take), and any multiple of 16 up to 1.5 KiB.
fn chunk() -> impl Strategy<Value = usize> {
    prop_oneof![
        prop::sample::select(vec![
            0usize, 16, 32, 48, 64, 80, 112, 128, 144, 176, 192, 208, 240, 256, 320, 1024, 1040,
        ]),
        (0usize..96).prop_map(|k| k * 16),
    ]
}

/// `len` bytes: random, long runs of 0xff (the largest message limbs), or mostly
/// 0x00/0xff.
fn bytes(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), len),
        Just(vec![0xffu8; len]),
        prop::collection::vec(
            prop_oneof![3 => Just(0xffu8), 1 => Just(0u8), 1 => any::<u8>()],
            len
        ),
    ]
}

/// Our tag with `chunks` (multiples of 16) fed one `update_blocks` each, then `rest` to
/// `finish`.
fn chunked_tag(key: &[u8; 32], backend: Backend, data: &[u8], chunks: &[usize]) -> [u8; 16] {
    let mut mac = Poly1305::with_backend(key, backend);
    let mut at = 0;
    for &c in chunks {
        mac.update_blocks(&data[at..at + c]);
        at += c;
    }
    mac.finish(&data[at..])
}

fn crate_tag(key: &[u8; 32], data: &[u8]) -> [u8; 16] {
    poly1305::Poly1305::new(&(*key).into())
        .compute_unpadded(data)
        .into()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random data in random whole-block chunks, then a tail of any length: the lanes
    /// take some chunks and not others, and the donna code carries the accumulator
    /// between them.
    #[test]
    fn chunked_updates_match_poly1305_crate(
        key in key(),
        (chunks, data) in (prop::collection::vec(chunk(), 0..10), 0usize..200)
            .prop_flat_map(|(chunks, tail)| {
                let total = chunks.iter().sum::<usize>() + tail;
                (Just(chunks), bytes(total))
            }),
    ) {
        let want = crate_tag(&key, &data);
        for backend in Backend::all() {
            prop_assert_eq!(chunked_tag(&key, backend, &data, &chunks), want, "{:?}", backend);
            prop_assert_eq!(chunked_tag(&key, backend, &data, &[]), want, "{:?}", backend);
        }
    }
}

/// Every chunk size from 16 to 320 bytes over every whole-block length to 1.2 KiB (and
/// a tail of 0 or 15 bytes), all 0xff under the largest `r`: every split of a stretch
/// into lanes and donna blocks, at the largest limbs.
#[test]
fn every_chunking_of_0xff_under_the_largest_r() {
    for s in [[0u8; 16], [0xff; 16]] {
        let key = max_r_key(s);
        for len in (0..=1216).step_by(16) {
            for tail in [0, 15] {
                let data = vec![0xffu8; len + tail];
                let want = crate_tag(&key, &data);
                for c in (16..=320).step_by(16) {
                    let chunks = vec![c; len / c];
                    for backend in Backend::all() {
                        let tag = chunked_tag(&key, backend, &data, &chunks);
                        assert_eq!(tag, want, "len {len}+{tail}, chunks of {c}, {backend:?}");
                    }
                }
            }
        }
    }
}

/// The test above and the differential tests reach the lanes only if some backend here
/// has them: with AVX2, one must (else "every backend" would not include the lanes).
#[test]
fn a_backend_takes_the_four_lane_path_where_the_cpu_has_avx2() {
    let r = [1, 0, 0];
    assert!(Backend::Portable.wide_poly1305(r, r).is_none());
    #[cfg(all(target_arch = "x86_64", mconn_simd))]
    if is_x86_feature_detected!("avx2") {
        assert!(Backend::all()
            .into_iter()
            .any(|b| b.wide_poly1305(r, r).is_some()));
        assert!(Backend::detect().wide_poly1305(r, r).is_some());
    }
}

/// Seals of lengths on both sides of the two-pass threshold (4096) and well past it
/// (the keystream-batch path, which the differential tests' lengths below 3000 no
/// longer reach), at every width with every backend.
#[test]
fn seal_on_both_sides_of_the_two_pass_threshold_matches_crypto_secretbox() {
    let key: [u8; 32] = std::array::from_fn(|i| (i * 7 + 3) as u8);
    let mut nonce: [u8; 24] = std::array::from_fn(|i| (i * 13 + 1) as u8);
    let mut lens: Vec<usize> = (4064..=4128).collect();
    lens.extend([4095 + 992, 5000, 8191, 8192, 8193, 9216 + 15, 65536 + 31]);
    for len in lens {
        nonce[23] = nonce[23].wrapping_add(1);
        let data: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
        let mut want = data.clone();
        let want_tag: [u8; 16] = XSalsa20Poly1305::new(&key.into())
            .encrypt_in_place_detached(&nonce.into(), b"", &mut want)
            .expect("no associated data")
            .into();
        let sub = subkey(&key, &nonce);
        for backend in Backend::all() {
            for lanes in [4, 8, 16] {
                let mut buf = data.clone();
                let tag = match lanes {
                    4 => seal_in_place::<4>(backend, &sub, &nonce, &mut buf),
                    8 => seal_in_place::<8>(backend, &sub, &nonce, &mut buf),
                    _ => seal_in_place::<16>(backend, &sub, &nonce, &mut buf),
                };
                assert_eq!(tag, want_tag, "{len} {backend:?} {lanes}");
                assert!(buf == want, "{len} {backend:?} {lanes}");
            }
            let sb = SecretBox::with_backend(&key, backend);
            let mut buf = data.clone();
            assert_eq!(sb.seal_in_place(&nonce, &mut buf), want_tag, "{len}");
            assert_eq!(sb.open_in_place(&nonce, &mut buf, &want_tag), Ok(()));
            assert!(buf == data, "{len} {backend:?}");
        }
    }
}

/// The clamped `r` of `key` in poly1305-donna-64 limbs, as `Poly1305::new` takes it.
fn r_limbs(key: &[u8; 32]) -> [u64; 3] {
    let le = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    let (t0, t1) = (le(&key[0..8]), le(&key[8..16]));
    [
        t0 & 0xffc_0fff_ffff,
        ((t0 >> 44) | (t1 << 20)) & 0xfff_ffc0_ffff,
        (t1 >> 24) & 0x00f_ffff_fc0f,
    ]
}

/// The lanes entered with the donna accumulator `h` at the largest limbs it can hold
/// (`carry`'s output: `h0 < 2^44`, `h1 < 2^44 + 20481`, `h2 < 2^42`; `from26`'s: `h2` up
/// to 2^42), at `p - 1` and `p`, and far past anything reachable, under the largest `r`
/// and others, over runs of 0xff (every message limb at its largest) and other data:
/// `h r^n + sum m_i r^(n-i)` against exact arithmetic, in the portable build of the
/// lanes (overflow-checked in debug; a product of an operand past 2^32 would be cut by
/// `m32` and show up as a wrong number) and in the AVX2 one.
#[cfg(all(target_arch = "x86_64", mconn_simd))]
#[test]
fn the_lanes_take_the_accumulator_at_its_largest_limbs() {
    use crate::cipher::poly1305_limbs::{carry as carry44, mul as mul44};
    use crate::cipher::poly1305_wide::{absorb_lanes, Powers};
    let hs = [
        [0, 0, 0],
        [M44, M44, M42],
        [M44, M44 + 20480, M42],
        [M44, M44 + (1 << 15), 1 << 42],
        [M44 - 5, M44, M42],
        [M44 - 4, M44, M42],
        [(1 << 45) - 1, (1 << 45) - 1, (1 << 43) - 1],
        [(1 << 62) - 1, (1 << 62) - 1, (1 << 62) - 1],
    ];
    let keys = [
        max_r_key([0; 16]),
        [0u8; 32],
        std::array::from_fn(|i| u8::from(i == 0)),
        std::array::from_fn(|i| (i as u8).wrapping_mul(0x9d) ^ 0x5a),
    ];
    for key in keys {
        let r = r_limbs(&key);
        let r2 = carry44(mul44(r, r));
        let powers = Powers::new(r, r2);
        let wide: Vec<_> = Backend::all()
            .into_iter()
            .filter_map(|b| b.wide_poly1305(r, r2))
            .collect();
        for groups in [1usize, 2, 3, 4, 17] {
            for fill in [Some(0xffu8), Some(0), None] {
                let data: Vec<u8> = (0..groups * 64)
                    .map(|i| fill.unwrap_or((i * 151 + 7) as u8))
                    .collect();
                for h in hs {
                    let mut want = exact::of44(h);
                    for b in data.chunks_exact(16) {
                        let (lo, hi) = b.split_at(8);
                        let le = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8"));
                        let m = [le(lo), le(hi), 1];
                        want = exact::mul(exact::add(want, m), exact::of44(r));
                    }
                    let mut got = h;
                    absorb_lanes(&mut got, &powers, &data);
                    let what = format!("h {h:x?}, key {key:x?}, {groups} groups, {fill:?}");
                    assert_eq!(exact::of44(got), want, "portable lanes: {what}");
                    assert!(
                        got[0] <= M44 && got[1] <= M44 && got[2] <= 1 << 42,
                        "{what}"
                    );
                    for w in &wide {
                        let mut got = h;
                        w.absorb(&mut got, &data);
                        assert_eq!(exact::of44(got), want, "AVX2 lanes: {what}");
                    }
                }
            }
        }
    }
}

/// Keys under which runs of 0xff drive a lane's limb 1 past 2^27 before a multiply
/// (0x8000004, 0x8000006 and 0x8000016 at the third, fourth and fifth group, found by a
/// search over a copy of the lanes' arithmetic): the module's "below 2^27" does not
/// hold, only below 2^28, which `m32`'s 32 bits still cover. A product that cut its
/// operands at 27 bits would fail here, and nowhere else in the tests.
#[test]
fn accumulator_limbs_past_2_to_the_27_still_match() {
    let hex = |s: &str| -> [u8; 32] {
        std::array::from_fn(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
    };
    for (key, groups) in [
        (
            "0f654bdb3c0ea093ccb7e023d136b079595f41473de9088a335147cb5834e003",
            4,
        ),
        (
            "93305ad07d03153b8da627999cb9b6bfbe2fd9d6f3622cece9920597029c3f8b",
            4,
        ),
        (
            "5f1d57eb8ccd10202ee021254fadc2f5c24de36aa62b63ef4254e4332bdf08e8",
            64,
        ),
    ] {
        let key = hex(key);
        let data = vec![0xffu8; groups * 64];
        let want = crate_tag(&key, &data);
        for backend in Backend::all() {
            let tag = Poly1305::with_backend(&key, backend).finish(&data);
            assert_eq!(tag, want, "{key:02x?} {backend:?}");
        }
    }
}

/// The reference itself: `p` is 0, 2^130 is 5, and Poly1305 computed with it (then
/// `+ s mod 2^128`) is the `poly1305` crate's tag.
#[test]
fn the_exact_reference_is_poly1305() {
    assert_eq!(exact::of44([M44 - 4, M44, M42]), [0; 3]);
    assert_eq!(exact::of44([0, 0, 1 << 42]), [5, 0, 0]);
    assert_eq!(
        exact::of44([M44 - 5, M44, M42]),
        [u64::MAX - 5, u64::MAX, 3]
    );
    let key = max_r_key([0xff; 16]);
    let data = vec![0xffu8; 1024];
    let r = exact::of44(r_limbs(&key));
    let mut h = [0u64; 3];
    for b in data.chunks_exact(16) {
        let le = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8"));
        h = exact::mul(exact::add(h, [le(&b[..8]), le(&b[8..]), 1]), r);
    }
    let s = u128::from_le_bytes(key[16..].try_into().expect("16"));
    let tag = (u128::from(h[0]) | (u128::from(h[1]) << 64)).wrapping_add(s);
    assert_eq!(tag.to_le_bytes(), crate_tag(&key, &data));
}

/// Exact arithmetic mod p = 2^130 - 5 for the lanes' reference: numbers as little-endian
/// 64-bit words.
mod exact {
    /// Adds `v << shift` to `x`.
    fn add_shifted(x: &mut [u64; 6], v: u128, shift: u32) {
        let (w, s) = ((shift / 64) as usize, shift % 64);
        let (lo, hi) = (v as u64, (v >> 64) as u64);
        let parts = if s == 0 {
            [lo, hi, 0]
        } else {
            [lo << s, (hi << s) | (lo >> (64 - s)), hi >> (64 - s)]
        };
        let mut carry = 0u128;
        for (i, word) in x.iter_mut().enumerate().skip(w) {
            let part = parts.get(i - w).copied().unwrap_or(0);
            let t = u128::from(*word) + u128::from(part) + carry;
            *word = t as u64;
            carry = t >> 64;
        }
        assert_eq!(carry, 0, "the reference overflowed");
    }

    /// `x mod p`, fully reduced, as three words.
    fn reduce(mut x: [u64; 6]) -> [u64; 3] {
        loop {
            // hi = x >> 130; x = its low 130 bits + 5 hi (2^130 = 5 mod p).
            let hi: [u64; 4] =
                std::array::from_fn(|i| (x[i + 2] >> 2) | x.get(i + 3).map_or(0, |w| w << 62));
            if hi == [0; 4] {
                break;
            }
            let mut y = [x[0], x[1], x[2] & 3, 0, 0, 0];
            for (i, &w) in hi.iter().enumerate() {
                add_shifted(&mut y, u128::from(w) * 5, 64 * i as u32);
            }
            x = y;
        }
        // x < 2^130: subtract p once if x >= p.
        let p = [u64::MAX - 4, u64::MAX, 3];
        let mut r = [x[0], x[1], x[2]];
        if (r[2], r[1], r[0]) >= (p[2], p[1], p[0]) {
            let mut borrow = 0i128;
            for (w, &q) in r.iter_mut().zip(&p) {
                let t = i128::from(*w) - i128::from(q) - borrow;
                *w = t as u64;
                borrow = i128::from(t < 0);
            }
        }
        r
    }

    /// The number with poly1305-donna-64 limbs `d` (44/44/42 bits, any size).
    pub(super) fn of44(d: [u64; 3]) -> [u64; 3] {
        let mut x = [0u64; 6];
        for (k, &l) in d.iter().enumerate() {
            add_shifted(&mut x, u128::from(l), 44 * k as u32);
        }
        reduce(x)
    }

    pub(super) fn add(a: [u64; 3], b: [u64; 3]) -> [u64; 3] {
        let mut x = [0u64; 6];
        for (k, (&a, &b)) in a.iter().zip(&b).enumerate() {
            add_shifted(&mut x, u128::from(a), 64 * k as u32);
            add_shifted(&mut x, u128::from(b), 64 * k as u32);
        }
        reduce(x)
    }

    pub(super) fn mul(a: [u64; 3], b: [u64; 3]) -> [u64; 3] {
        let mut x = [0u64; 6];
        for (i, &a) in a.iter().enumerate() {
            for (j, &b) in b.iter().enumerate() {
                add_shifted(&mut x, u128::from(a) * u128::from(b), 64 * (i + j) as u32);
            }
        }
        reduce(x)
    }
}
