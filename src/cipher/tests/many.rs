//! Sealing and opening several messages at once (`SecretBox::seal_many`, `open_many`)
//! against `crypto_secretbox` one message at a time, in every build this CPU runs; and
//! the per-lane keystream core (`Backend::xor_lanes`) and the first batch split into key
//! and data (`Backend::key_and_xor`) against the one-block function.

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use proptest::prelude::*;

use crate::cipher::backend::Backend;
use crate::cipher::salsa20_core::{block, salsa20_input};
use crate::cipher::GROUP;
use crate::cipher::{AuthError, SecretBox, Tag};

/// Lengths around the batched path's edges (one batch less the 32 key bytes for 4, 8
/// and 16 blocks; the two-pass limit 4096), the SecretConnection's 1026, and any.
fn length() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => Just(1026usize),
        2 => prop::sample::select(vec![
            0, 1, 223, 224, 225, 479, 480, 481, 991, 992, 993, 1024, 4095, 4096, 4097,
        ]),
        1 => 0usize..5000,
    ]
}

/// The connection's next nonce: +2, big-endian.
fn advance(nonce: &mut [u8; 24]) {
    let mut carry = 2u16;
    for b in nonce.iter_mut().rev() {
        let sum = u16::from(*b) + carry;
        *b = sum as u8;
        carry = sum >> 8;
    }
}

/// Nonces for `count` messages: consecutive from `start` (a connection's), with the
/// last 8 bytes near a carry into the first 16 if `carry`, or all random if `random`.
fn nonces(start: [u8; 24], count: usize, carry: bool, random: &[[u8; 24]]) -> Vec<[u8; 24]> {
    if !random.is_empty() {
        return random.iter().copied().cycle().take(count).collect();
    }
    let mut n = start;
    if carry {
        n[16..].fill(0xff);
        n[23] = 0xf8;
    }
    (0..count)
        .map(|_| {
            let this = n;
            advance(&mut n);
            this
        })
        .collect()
}

/// Every box this CPU can run: the detected build, then each build in turn.
fn boxes(key: &[u8; 32]) -> Vec<SecretBox> {
    std::iter::once(SecretBox::new(key))
        .chain(
            Backend::all()
                .into_iter()
                .map(|b| SecretBox::with_backend(key, b)),
        )
        .collect()
}

/// Messages of the given lengths, their bytes from `seed`.
fn messages(lengths: &[usize], seed: u8) -> Vec<Vec<u8>> {
    let byte = |m: usize, i: usize| (i as u8).wrapping_mul(seed) ^ (m as u8);
    let each = lengths.iter().enumerate();
    each.map(|(m, &len)| (0..len).map(|i| byte(m, i)).collect())
        .collect()
}

fn lengths() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        2 => (0usize..3 * GROUP).prop_map(|n| vec![1026; n]),
        1 => prop::collection::vec(length(), 0..3 * GROUP),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn seal_many_is_seal_one_at_a_time(
        key in any::<[u8; 32]>(),
        start in any::<[u8; 24]>(),
        lengths in lengths(),
        carry in any::<bool>(),
        random in prop::collection::vec(any::<[u8; 24]>(), 0..3),
        seed in any::<u8>(),
    ) {
        let nonces = nonces(start, lengths.len(), carry, &random);
        let plain = messages(&lengths, seed);
        let reference = XSalsa20Poly1305::new(&key.into());
        let mut want = plain.clone();
        let want_tags: Vec<Tag> = nonces
            .iter()
            .zip(&mut want)
            .map(|(n, m)| {
                let tag = reference.encrypt_in_place_detached(n.into(), b"", m).expect("seal");
                tag.into()
            })
            .collect();
        for sb in boxes(&key) {
            let mut bufs = plain.clone();
            let mut tags = vec![[0u8; 16]; bufs.len()];
            let mut refs: Vec<&mut [u8]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
            sb.seal_many(&nonces, &mut refs, &mut tags);
            prop_assert_eq!(&bufs, &want, "{:?}", sb);
            prop_assert_eq!(&tags, &want_tags, "{:?}", sb);
            let mut refs: Vec<&mut [u8]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
            prop_assert_eq!(sb.open_many(&nonces, &mut refs, &tags), Ok(()), "{:?}", sb);
            prop_assert_eq!(&bufs, &plain, "{:?}", sb);
        }
    }

    /// A message that fails to authenticate stops the opening there: those before it
    /// are opened, it and those after are left as they were.
    #[test]
    fn open_many_stops_at_the_first_forgery(
        key in any::<[u8; 32]>(),
        start in any::<[u8; 24]>(),
        lengths in lengths().prop_filter("a message to forge", |l| !l.is_empty()),
        forged in any::<prop::sample::Index>(),
        tamper in 0u8..3,
        at in any::<prop::sample::Index>(),
        seed in any::<u8>(),
    ) {
        let nonces = nonces(start, lengths.len(), false, &[]);
        let plain = messages(&lengths, seed);
        let forged = forged.index(plain.len());
        for sb in boxes(&key) {
            let mut sealed = plain.clone();
            let mut tags = vec![[0u8; 16]; sealed.len()];
            let mut refs: Vec<&mut [u8]> = sealed.iter_mut().map(|b| b.as_mut_slice()).collect();
            sb.seal_many(&nonces, &mut refs, &mut tags);
            let mut other_nonces = nonces.clone();
            match tamper {
                // A flipped bit in the message (or in the tag of an empty one).
                0 if !sealed[forged].is_empty() => {
                    let len = sealed[forged].len();
                    sealed[forged][at.index(len)] ^= 0x20;
                }
                // Another message's nonce.
                1 => other_nonces[forged][23] ^= 1,
                _ => tags[forged][at.index(16)] ^= 1,
            }
            let given = sealed.clone();
            let mut refs: Vec<&mut [u8]> = sealed.iter_mut().map(|b| b.as_mut_slice()).collect();
            prop_assert_eq!(
                sb.open_many(&other_nonces, &mut refs, &tags),
                Err((forged, AuthError)),
                "{:?}",
                sb
            );
            prop_assert_eq!(&sealed[..forged], &plain[..forged], "{:?}", sb);
            prop_assert_eq!(&sealed[forged..], &given[forged..], "{:?}", sb);
        }
    }

    /// A batch's first 32 keystream bytes go to the key and the rest into the data, in
    /// every build at every width.
    #[test]
    fn key_and_xor_is_the_first_batch_split(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 8]>(),
        data in any::<[[u8; 32]; 32]>(),
    ) {
        let input = salsa20_input(&key, &nonce);
        let data = data.concat();
        for backend in Backend::all() {
            for lanes in [4usize, 8, 16] {
                let len = lanes * 64;
                let mut want = vec![0u8; 32];
                want.extend_from_slice(&data[..len - 32]);
                for (b, out) in want.chunks_exact_mut(64).enumerate() {
                    for (o, k) in out.iter_mut().zip(block(&input, b as u64)) {
                        *o ^= k;
                    }
                }
                let mut mac_key = [0u8; 32];
                let mut ours = data[..len - 32].to_vec();
                match lanes {
                    4 => backend.key_and_xor::<4>(&input, &mut mac_key, &mut ours),
                    8 => backend.key_and_xor::<8>(&input, &mut mac_key, &mut ours),
                    _ => backend.key_and_xor::<16>(&input, &mut mac_key, &mut ours),
                }
                prop_assert_eq!(&mac_key[..], &want[..32], "{:?}, {} lanes", backend, lanes);
                prop_assert_eq!(&ours[..], &want[32..], "{:?}, {} lanes", backend, lanes);
            }
        }
    }

    /// Each lane's block is the one-block function's block of its own nonce and counter.
    #[test]
    fn xor_lanes_is_one_block_per_lane(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 8]>(),
        lanes in any::<[[u32; 4]; 8]>(),
        data in any::<[[u8; 32]; 16]>(),
    ) {
        let input = salsa20_input(&key, &nonce);
        let data = data.concat();
        let mut want = data.clone();
        for (lane, out) in lanes.iter().zip(want.chunks_exact_mut(64)) {
            let mut lane_input = input;
            lane_input[6..10].copy_from_slice(lane);
            let counter = u64::from(lane[2]) | u64::from(lane[3]) << 32;
            for (o, k) in out.iter_mut().zip(block(&lane_input, counter)) {
                *o ^= k;
            }
        }
        for backend in Backend::all() {
            let mut eight = data.clone();
            backend.xor_lanes::<8>(&input, &lanes, &mut eight);
            prop_assert_eq!(&eight, &want, "{:?}, 8 lanes", backend);
            let mut four = data[..256].to_vec();
            let first: [[u32; 4]; 4] = lanes[..4].try_into().expect("4 lanes");
            backend.xor_lanes::<4>(&input, &first, &mut four);
            prop_assert_eq!(&four[..], &want[..256], "{:?}, 4 lanes", backend);
        }
    }
}
