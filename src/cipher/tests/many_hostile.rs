//! A hostile review of `SecretBox::seal_many`/`open_many`: the counts around a group
//! (0, 1, 7, 8, 9, 64, 65 messages) with the nonces' carry into their first 16 bytes at
//! every place in a group, in every build this CPU runs, against `crypto_secretbox` one
//! message at a time; and forgeries among messages that do not all take the batched path
//! (a carry, other subkeys, lengths off it), which `many`'s forgery test does not reach.

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use proptest::prelude::*;

use crate::cipher::backend::Backend;
use crate::cipher::{AuthError, SecretBox, Tag};

/// Consecutive connection nonces (+2, big-endian) from one whose last 8 bytes are
/// `2^64 - 2 * before` (so the `before + 1`-th carries into byte 15) and whose first 16
/// are `head`.
fn carrying(head: u8, before: usize, count: usize) -> Vec<[u8; 24]> {
    let mut n = [head; 24];
    n[16..].copy_from_slice(&0u64.wrapping_sub(2 * before as u64).to_be_bytes());
    (0..count)
        .map(|_| {
            let this = n;
            let mut carry = 2u16;
            for b in n.iter_mut().rev() {
                let sum = u16::from(*b) + carry;
                *b = sum as u8;
                carry = sum >> 8;
            }
            this
        })
        .collect()
}

fn boxes(key: &[u8; 32]) -> Vec<SecretBox> {
    let each = Backend::all().into_iter();
    std::iter::once(SecretBox::new(key))
        .chain(each.map(|b| SecretBox::with_backend(key, b)))
        .collect()
}

fn refs(bufs: &mut [Vec<u8>]) -> Vec<&mut [u8]> {
    bufs.iter_mut().map(|b| b.as_mut_slice()).collect()
}

/// The reference: each message sealed alone by RustCrypto.
fn reference(key: &[u8; 32], nonces: &[[u8; 24]], plain: &[Vec<u8>]) -> (Vec<Vec<u8>>, Vec<Tag>) {
    let aead = XSalsa20Poly1305::new(key.into());
    let mut sealed = plain.to_vec();
    let tags = nonces.iter().zip(&mut sealed);
    let tags = tags.map(|(n, m)| {
        aead.encrypt_in_place_detached(n.into(), b"", m)
            .expect("seal")
            .into()
    });
    let tags = tags.collect();
    (sealed, tags)
}

fn message(m: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + m * 7) as u8).collect()
}

/// Every count around a group, the carry at every place in the first two groups (and
/// none): the bytes and tags of one message at a time, opened back, and a forgery at
/// every place stops the opening exactly there.
#[test]
fn counts_around_a_group_with_the_carry_anywhere() {
    let key = [0x42u8; 32];
    for count in [0, 1, 7, 8, 9, 16, 17, 64, 65] {
        for before in [0, 1, 3, 7, 8, 9, 15, 1000] {
            let nonces = carrying(0xab, before, count);
            let plain: Vec<Vec<u8>> = (0..count).map(|m| message(m, 1026)).collect();
            let (want, want_tags) = reference(&key, &nonces, &plain);
            for sb in boxes(&key) {
                let what = format!("{count} messages, carry after {before}, {sb:?}");
                let mut bufs = plain.clone();
                let mut tags = vec![[0u8; 16]; count];
                sb.seal_many(&nonces, &mut refs(&mut bufs), &mut tags);
                assert!(bufs == want && tags == want_tags, "{what}");
                let mut opened = bufs.clone();
                assert_eq!(sb.open_many(&nonces, &mut refs(&mut opened), &tags), Ok(()));
                assert!(opened == plain, "{what}: opened");
                // Forgeries near the carry and the group edges.
                let places = [0, 1, 7, 8, 9, before, before + 1, count.saturating_sub(1)];
                for forged in places.into_iter().filter(|&f| f < count) {
                    let mut given = bufs.clone();
                    given[forged][1025] ^= 1; // in its last keystream block
                    let mut opened = given.clone();
                    let result = sb.open_many(&nonces, &mut refs(&mut opened), &tags);
                    assert_eq!(result, Err((forged, AuthError)), "{what}: forged {forged}");
                    assert!(
                        opened[..forged] == plain[..forged],
                        "{what}: before {forged}"
                    );
                    assert!(opened[forged..] == given[forged..], "{what}: from {forged}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Groups that mix the batched path with one at a time (a carry, other subkeys,
    /// lengths off it): a forgery anywhere still stops the opening exactly there.
    #[test]
    fn a_forgery_among_groups_off_the_batched_path_stops_there(
        key in any::<[u8; 32]>(),
        lens in prop::collection::vec(
            prop_oneof![4 => Just(1026usize), 1 => 0usize..1100, 1 => 4090usize..4200], 1..30),
        before in 0usize..12,
        other in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        forged in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
    ) {
        let mut nonces = carrying(0x5c, before, lens.len());
        for (i, b) in other {
            // Another subkey for one message.
            nonces[i.index(lens.len())][3] ^= b | 1;
        }
        let plain: Vec<Vec<u8>> = lens.iter().enumerate().map(|(m, &l)| message(m, l)).collect();
        let (sealed, mut tags) = reference(&key, &nonces, &plain);
        let forged = forged.index(lens.len());
        let mut given = sealed.clone();
        if given[forged].is_empty() {
            tags[forged][at.index(16)] ^= 4;
        } else {
            let i = at.index(given[forged].len());
            given[forged][i] ^= 4;
        }
        for sb in boxes(&key) {
            let mut opened = given.clone();
            let result = sb.open_many(&nonces, &mut refs(&mut opened), &tags);
            prop_assert_eq!(result, Err((forged, AuthError)), "{:?}", sb);
            prop_assert!(opened[..forged] == plain[..forged], "{:?}", sb);
            prop_assert!(opened[forged..] == given[forged..], "{:?}", sb);
            let mut resealed = plain.clone();
            let mut got = vec![[0u8; 16]; plain.len()];
            sb.seal_many(&nonces, &mut refs(&mut resealed), &mut got);
            prop_assert!(resealed == sealed, "{:?}", sb);
        }
    }
}
