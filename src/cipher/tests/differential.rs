//! Byte-for-byte comparisons with `salsa20::XSalsa20` (keystream, HSalsa20, the 64-bit
//! block counter), the `poly1305` crate (tags) and `crypto_secretbox::XSalsa20Poly1305`
//! (sealed bytes and tags), over random keys, nonces and lengths; and open's refusals.
//! Every build of the Salsa20 core this CPU runs is checked (`Backend::all`: the
//! portable one always, AVX2 and AVX-512 where the CPU has them), and so is the one
//! `SecretBox::new` picks.

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use proptest::prelude::*;
use salsa20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};

use crate::cipher::backend::Backend;
use crate::cipher::poly1305_donna::Poly1305;
use crate::cipher::salsa20_core::{hsalsa20, salsa20_input, xor_blocks};
use crate::cipher::xsalsa20::XSalsa20;
use crate::cipher::{AuthError, SecretBox};

/// Lengths 0..3000, with the SecretConnection's 1026, the batch edges (4, 8 and 16
/// blocks, less the 32 bytes of the Poly1305 key) and the two-pass seal's 4096 edge often.
fn length() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..3000,
        1 => Just(1026usize),
        1 => prop::sample::select(vec![
            1, 31, 32, 33, 63, 64, 65, 223, 224, 225, 256, 479, 480, 481, 512, 991, 992, 993,
            1024, 1025, 2016, 2048, 4095, 4096, 4097, 8192,
        ]),
    ]
}

/// Bytes that are mostly 0x00 or 0xff, to drive Poly1305's carries to their limits.
fn extreme_bytes(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![Just(0u8), Just(0xffu8), any::<u8>()], len)
}

/// `len` bytes of the reference XSalsa20 keystream, XORed into `data`.
fn reference_keystream(key: &[u8; 32], nonce: &[u8; 24], data: &mut [u8]) {
    salsa20::XSalsa20::new(key.into(), nonce.into()).apply_keystream(data);
}

/// Our keystream over `data` computed by `backend` `N` blocks at a time, applied in the
/// pieces that `cuts` marks.
fn our_keystream<const N: usize>(
    backend: Backend,
    key: &[u8; 32],
    nonce: &[u8; 24],
    data: &mut [u8],
    cuts: &[usize],
) {
    let mut s = XSalsa20::<N>::new(backend, key, nonce);
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut at = 0;
    for c in cuts {
        s.apply_keystream(&mut data[at..c]);
        at = c;
    }
    s.apply_keystream(&mut data[at..]);
}

/// The reference's sealed bytes and tag.
fn reference_seal(key: &[u8; 32], nonce: &[u8; 24], data: &[u8]) -> (Vec<u8>, [u8; 16]) {
    let mut buf = data.to_vec();
    let tag = XSalsa20Poly1305::new(key.into())
        .encrypt_in_place_detached(nonce.into(), b"", &mut buf)
        .expect("no associated data");
    (buf, tag.into())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn keystream_matches_salsa20_crate(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
        len in length(),
        cuts in prop::collection::vec(any::<usize>(), 0..4),
        seed in any::<u8>(),
    ) {
        let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed)).collect();
        let mut want = data.clone();
        reference_keystream(&key, &nonce, &mut want);
        for backend in Backend::all() {
            // Each build at its own width, and at the other widths (the portable core).
            for lanes in [4, 8, 16] {
                let mut ours = data.clone();
                match lanes {
                    4 => our_keystream::<4>(backend, &key, &nonce, &mut ours, &cuts),
                    8 => our_keystream::<8>(backend, &key, &nonce, &mut ours, &cuts),
                    _ => our_keystream::<16>(backend, &key, &nonce, &mut ours, &cuts),
                }
                prop_assert_eq!(&ours, &want, "{:?}, {} lanes", backend, lanes);
            }
        }
    }

    #[test]
    fn hsalsa20_matches_salsa20_crate(key in any::<[u8; 32]>(), input in any::<[u8; 16]>()) {
        let want = salsa20::hsalsa::<salsa20::cipher::consts::U10>(&key.into(), &input.into());
        prop_assert_eq!(&hsalsa20(&key, &input)[..], &want[..]);
    }

    #[test]
    fn poly1305_matches_poly1305_crate(
        key in extreme_bytes(32),
        data in length().prop_flat_map(extreme_bytes),
        cut in any::<prop::sample::Index>(),
    ) {
        let key: [u8; 32] = key.try_into().expect("32 bytes");
        let want = poly1305::Poly1305::new(&key.into()).compute_unpadded(&data);
        prop_assert_eq!(&Poly1305::new(&key).finish(&data)[..], &want[..]);
        for backend in Backend::all() {
            prop_assert_eq!(
                &Poly1305::with_backend(&key, backend).finish(&data)[..],
                &want[..],
                "{:?}",
                backend
            );
            // Whole blocks first, then the rest, as seal feeds them.
            let at = cut.index(data.len() + 1) / 16 * 16;
            let mut mac = Poly1305::with_backend(&key, backend);
            mac.update_blocks(&data[..at]);
            prop_assert_eq!(&mac.finish(&data[at..])[..], &want[..], "{:?}", backend);
        }
    }

    #[test]
    fn seal_matches_crypto_secretbox(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
        data in length().prop_flat_map(|n| prop::collection::vec(any::<u8>(), n)),
    ) {
        let (want, want_tag) = reference_seal(&key, &nonce, &data);
        let detected = SecretBox::new(&key);
        let boxes = Backend::all().into_iter().map(|b| SecretBox::with_backend(&key, b));
        for sb in std::iter::once(detected).chain(boxes) {
            let mut buf = data.clone();
            let tag = sb.seal_in_place(&nonce, &mut buf);
            prop_assert_eq!(&buf, &want, "{:?}", sb);
            prop_assert_eq!(tag, want_tag, "{:?}", sb);
            // open(seal(x)) == x
            prop_assert_eq!(sb.open_in_place(&nonce, &mut buf, &tag), Ok(()));
            prop_assert_eq!(&buf, &data, "{:?}", sb);
        }
    }

    /// One box over a run of nonces, as a connection uses it: consecutive nonces that
    /// share their first 16 bytes (the kept subkey), and ones that change them (a carry
    /// into byte 15, or another nonce altogether), in any order.
    #[test]
    fn one_box_over_many_nonces_matches_crypto_secretbox(
        key in any::<[u8; 32]>(),
        start in any::<[u8; 24]>(),
        steps in prop::collection::vec((0u8..4, any::<[u8; 24]>()), 1..12),
        len in length(),
    ) {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let boxes: Vec<SecretBox> = std::iter::once(SecretBox::new(&key))
            .chain(Backend::all().into_iter().map(|b| SecretBox::with_backend(&key, b)))
            .collect();
        let mut nonce = start;
        for (kind, other) in steps {
            match kind {
                // The next nonce of the connection's counter: +2, big-endian, carrying
                // into the first 16 bytes when the last 8 are all ones (kind 1).
                0 | 1 => {
                    if kind == 1 {
                        nonce[16..].fill(0xff);
                    }
                    let mut carry = 2u16;
                    for b in nonce.iter_mut().rev() {
                        let sum = u16::from(*b) + carry;
                        *b = sum as u8;
                        carry = sum >> 8;
                    }
                }
                // Only the first 16 bytes change.
                2 => nonce[..16].copy_from_slice(&other[..16]),
                _ => nonce = other,
            }
            let (want, want_tag) = reference_seal(&key, &nonce, &data);
            for sb in &boxes {
                let mut buf = data.clone();
                prop_assert_eq!(sb.seal_in_place(&nonce, &mut buf), want_tag, "{:?}", sb);
                prop_assert_eq!(&buf, &want, "{:?}", sb);
                prop_assert_eq!(sb.open_in_place(&nonce, &mut buf, &want_tag), Ok(()));
                prop_assert_eq!(&buf, &data, "{:?}", sb);
            }
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_fails_open(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
        len in length(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        for backend in Backend::all() {
            let sb = SecretBox::with_backend(&key, backend);
            let mut buf: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut tag = sb.seal_in_place(&nonce, &mut buf);
            // Bit positions: the tag's 128, then the ciphertext's.
            let i = at.index(16 + len);
            if i < 16 {
                tag[i] ^= 1 << bit;
            } else {
                buf[i - 16] ^= 1 << bit;
            }
            let before = buf.clone();
            prop_assert_eq!(sb.open_in_place(&nonce, &mut buf, &tag), Err(AuthError));
            prop_assert_eq!(buf, before, "a failed open leaves the buffer alone");
        }
    }

    #[test]
    fn another_nonce_or_key_fails_open(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
        len in length(),
        at in 0usize..56,
    ) {
        let mut buf = vec![7u8; len];
        let tag = SecretBox::new(&key).seal_in_place(&nonce, &mut buf);
        let (mut key2, mut nonce2) = (key, nonce);
        if at < 32 { key2[at] ^= 0x80 } else { nonce2[at - 32] ^= 1 }
        for backend in Backend::all() {
            let sb = SecretBox::with_backend(&key2, backend);
            prop_assert_eq!(sb.open_in_place(&nonce2, &mut buf, &tag), Err(AuthError));
        }
    }
}

/// Blocks across the 2^32 boundary of the block counter (word 9 must carry, in some
/// lanes of a batch and not others), in every build and width.
#[test]
fn block_counter_carries_into_the_high_word() {
    let key = [0x42u8; 32];
    let nonce8 = [9u8; 8];
    let input = salsa20_input(&key, &nonce8);
    let max = u64::from(u32::MAX);
    for start in [
        max - 15,
        max - 7,
        max - 5,
        max - 1,
        max,
        1 << 40,
        (1 << 33) - 9,
    ] {
        let mut want = vec![0u8; 16 * 64];
        let mut s = salsa20::Salsa20::new(&key.into(), &nonce8.into());
        s.seek(start * 64);
        s.apply_keystream(&mut want);
        for backend in Backend::all() {
            let mut ours = vec![0u8; 16 * 64];
            for (i, batch) in ours.chunks_exact_mut(256).enumerate() {
                backend.xor_blocks::<4>(&input, start + 4 * i as u64, batch);
            }
            assert_eq!(ours, want, "{backend:?}, 4 lanes from block {start}");
            let mut ours = vec![0u8; 16 * 64];
            for (i, batch) in ours.chunks_exact_mut(512).enumerate() {
                backend.xor_blocks::<8>(&input, start + 8 * i as u64, batch);
            }
            assert_eq!(ours, want, "{backend:?}, 8 lanes from block {start}");
            let mut ours = vec![0u8; 16 * 64];
            backend.xor_blocks::<16>(&input, start, &mut ours);
            assert_eq!(ours, want, "{backend:?}, 16 lanes from block {start}");
        }
        let mut portable = vec![0u8; 16 * 64];
        xor_blocks::<16>(&input, start, &mut portable);
        assert_eq!(
            portable, want,
            "the portable core, 16 lanes from block {start}"
        );
    }
}

/// RFC 8439 section 2.5.2's Poly1305 example.
#[test]
fn poly1305_rfc8439_vector() {
    let key: [u8; 32] = [
        0x85, 0xd6, 0xbe, 0x78, 0x57, 0x55, 0x6d, 0x33, 0x7f, 0x44, 0x52, 0xfe, 0x42, 0xd5, 0x06,
        0xa8, 0x01, 0x03, 0x80, 0x8a, 0xfb, 0x0d, 0xb2, 0xfd, 0x4a, 0xbf, 0xf6, 0xaf, 0x41, 0x49,
        0xf5, 0x1b,
    ];
    let tag = Poly1305::new(&key).finish(b"Cryptographic Forum Research Group");
    assert_eq!(
        tag,
        [
            0xa8, 0x06, 0x1d, 0xc1, 0x30, 0x51, 0x36, 0xc6, 0xc2, 0x2b, 0x8b, 0xaf, 0x0c, 0x01,
            0x27, 0xa9
        ]
    );
}

/// Poly1305 where `h` ends at or just above `p = 2^130 - 5` before the final reduction
/// (all-0xff blocks under an all-0xff `r`), compared with the crate.
#[test]
fn poly1305_full_reduction_edges() {
    for fill in [0x00u8, 0x01, 0xfe, 0xff] {
        for len in [
            0usize, 1, 15, 16, 17, 32, 64, 127, 128, 129, 192, 1026, 4096,
        ] {
            let key = [fill; 32];
            let data = vec![0xffu8; len];
            let want = poly1305::Poly1305::new(&key.into()).compute_unpadded(&data);
            for backend in Backend::all() {
                let tag = Poly1305::with_backend(&key, backend).finish(&data);
                assert_eq!(&tag[..], &want[..], "{fill} {len} {backend:?}");
            }
        }
    }
}

/// The first NaCl secretbox vector (the "firstkey" example of NaCl's tests and
/// libsodium's `secretbox.c`): the tag (which covers the
/// whole ciphertext) and the first ciphertext bytes.
#[test]
fn nacl_secretbox_vector() {
    let key: [u8; 32] = [
        0x1b, 0x27, 0x55, 0x64, 0x73, 0xe9, 0x85, 0xd4, 0x62, 0xcd, 0x51, 0x19, 0x7a, 0x9a, 0x46,
        0xc7, 0x60, 0x09, 0x54, 0x9e, 0xac, 0x64, 0x74, 0xf2, 0x06, 0xc4, 0xee, 0x08, 0x44, 0xf6,
        0x83, 0x89,
    ];
    let nonce: [u8; 24] = [
        0x69, 0x69, 0x6e, 0xe9, 0x55, 0xb6, 0x2b, 0x73, 0xcd, 0x62, 0xbd, 0xa8, 0x75, 0xfc, 0x73,
        0xd6, 0x82, 0x19, 0xe0, 0x03, 0x6b, 0x7a, 0x0b, 0x37,
    ];
    let m: Vec<u8> = vec![
        0xbe, 0x07, 0x5f, 0xc5, 0x3c, 0x81, 0xf2, 0xd5, 0xcf, 0x14, 0x13, 0x16, 0xeb, 0xeb, 0x0c,
        0x7b, 0x52, 0x28, 0xc5, 0x2a, 0x4c, 0x62, 0xcb, 0xd4, 0x4b, 0x66, 0x84, 0x9b, 0x64, 0x24,
        0x4f, 0xfc, 0xe5, 0xec, 0xba, 0xaf, 0x33, 0xbd, 0x75, 0x1a, 0x1a, 0xc7, 0x28, 0xd4, 0x5e,
        0x6c, 0x61, 0x29, 0x6c, 0xdc, 0x3c, 0x01, 0x23, 0x35, 0x61, 0xf4, 0x1d, 0xb6, 0x6c, 0xce,
        0x31, 0x4a, 0xdb, 0x31, 0x0e, 0x3b, 0xe8, 0x25, 0x0c, 0x46, 0xf0, 0x6d, 0xce, 0xea, 0x3a,
        0x7f, 0xa1, 0x34, 0x80, 0x57, 0xe2, 0xf6, 0x55, 0x6a, 0xd6, 0xb1, 0x31, 0x8a, 0x02, 0x4a,
        0x83, 0x8f, 0x21, 0xaf, 0x1f, 0xde, 0x04, 0x89, 0x77, 0xeb, 0x48, 0xf5, 0x9f, 0xfd, 0x49,
        0x24, 0xca, 0x1c, 0x60, 0x90, 0x2e, 0x52, 0xf0, 0xa0, 0x89, 0xbc, 0x76, 0x89, 0x70, 0x40,
        0xe0, 0x82, 0xf9, 0x37, 0x76, 0x38, 0x48, 0x64, 0x5e, 0x07, 0x05,
    ];
    for backend in Backend::all() {
        let mut m = m.clone();
        let tag = SecretBox::with_backend(&key, backend).seal_in_place(&nonce, &mut m);
        assert_eq!(
            tag,
            [
                0xf3, 0xff, 0xc7, 0x70, 0x3f, 0x94, 0x00, 0xe5, 0x2a, 0x7d, 0xfb, 0x4b, 0x3d, 0x33,
                0x05, 0xd9
            ],
            "{backend:?}"
        );
        assert_eq!(m[..8], [0x8e, 0x99, 0x3b, 0x9f, 0x48, 0x68, 0x12, 0x73]);
    }
}
