//! The upstream vectors (CometBFT's HKDF golden file and tendermint-rs's copy, the
//! Merlin transcripts, tendermint-rs's nonces, the X25519 low-order points) and the
//! third-party fixed-key handshake (iqlusion's cometbft-p2p 0.3.0), reproduced from the
//! files themselves.

use std::io::Write;
use std::time::Duration;

use merlin::Transcript;

use super::support::{hex, tcp_pair, tsv_rows, watchdog, KeyValues, THIRD_PARTY};
use crate::cometbft::secret::auth::AuthSigMessage;
use crate::cometbft::secret::derive::{derive_keys, derive_secrets, hkdf96};
use crate::cometbft::secret::ephemeral;
use crate::cometbft::secret::frame::{ChaChaCipher, SEALED_FRAME_SIZE};
use crate::cometbft::secret::nonce::Nonce;
use crate::cometbft::SecretConnection;
use crate::node_key::NodeKey;
use crate::sealed_stream::dh::{dh_secret, ephemeral_public};
use crate::sealed_stream::frame::{open, seal};
use crate::sealed_stream::FrameNonce;
use crate::{Error, SecretError};

/// Every line and column of one HKDF golden file: `dh, loc_is_least, recv, send,
/// okm[64..96]`.
fn check_hkdf_golden(name: &str, text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 32, "{name}: lines");
    for (i, line) in lines.iter().enumerate() {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols.len(), 5, "{name} line {}", i + 1);
        let dh: [u8; 32] = hex(cols[0]).try_into().expect("32-byte dh");
        let loc_is_least = match cols[1] {
            "true" => true,
            "false" => false,
            other => panic!("{name} line {}: {other:?}", i + 1),
        };
        let keys = derive_secrets(&dh, loc_is_least);
        assert_eq!(
            keys.recv.to_vec(),
            hex(cols[2]),
            "{name} line {} recv",
            i + 1
        );
        assert_eq!(
            keys.send.to_vec(),
            hex(cols[3]),
            "{name} line {} send",
            i + 1
        );
        assert_eq!(
            hkdf96(&dh)[64..].to_vec(),
            hex(cols[4]),
            "{name} line {} okm",
            i + 1
        );
    }
}

#[test]
fn hkdf_golden_files_all_lines_all_columns() {
    check_hkdf_golden(
        "cometbft",
        include_str!(
            "../../../../tests/vectors/cometbft-v0.38/cometbft-v0.38.25_TestDeriveSecretsAndChallengeGolden.golden"
        ),
    );
    check_hkdf_golden(
        "tendermint-rs",
        include_str!(
            "../../../../tests/vectors/cometbft-v0.38/tendermint-rs_TestDeriveSecretsAndChallenge.golden"
        ),
    );
}

#[test]
fn merlin_transcripts_match_the_vectors() {
    let rows = tsv_rows(include_str!(
        "../../../../tests/vectors/cometbft-v0.38/merlin_vectors.tsv"
    ));
    let mut seen = Vec::new();
    for row in rows {
        let (name, expected) = (row[0], hex(row[2]));
        let mut t = Transcript::new(b"test protocol");
        let mut c = [0u8; 32];
        match name {
            "simple" => {
                t.append_message(b"some label", b"some data");
                t.challenge_bytes(b"challenge", &mut c);
            }
            "complex" => {
                t.append_message(b"step1", b"some data");
                let data = [0x63u8; 1024];
                for _ in 0..32 {
                    t.challenge_bytes(b"challenge", &mut c);
                    t.append_message(b"bigdata", &data);
                    t.append_message(b"challengedata", &c);
                }
            }
            other => panic!("unknown Merlin vector {other:?}"),
        }
        assert_eq!(c.to_vec(), expected, "{name}");
        seen.push(name);
    }
    assert_eq!(seen, ["simple", "complex"]);
}

#[test]
fn nonces_match_tendermint_rs_and_overflow_is_an_error() {
    let rows = tsv_rows(include_str!(
        "../../../../tests/vectors/cometbft-v0.38/tendermint-rs_nonce_vectors.tsv"
    ));
    let mut checkpoints = 0;
    let mut overflow = 0;
    let mut n = Nonce::default();
    let mut done = 0u64;
    for row in rows {
        let expected = hex(row[1]);
        if row[0] == "overflow" {
            let bytes: [u8; 12] = expected.try_into().expect("12-byte nonce");
            assert_eq!(bytes[..4], [0; 4]);
            let mut top = Nonce::new(u64::from_le_bytes(bytes[4..].try_into().unwrap()));
            assert_eq!(top.to_bytes(), bytes);
            assert_eq!(top.advance(), Err(SecretError::NonceExhausted));
            assert_eq!(top.to_bytes(), bytes, "unchanged after the refusal");
            overflow += 1;
            continue;
        }
        let i: u64 = row[0].parse().expect("index");
        while done < i + 1 {
            n.advance().unwrap();
            done += 1;
        }
        assert_eq!(
            n.to_bytes().to_vec(),
            expected,
            "after {} increments",
            i + 1
        );
        checkpoints += 1;
    }
    assert_eq!((checkpoints, overflow), (6, 1));
}

#[test]
fn low_order_points_are_refused_by_the_handshake() {
    let _w = watchdog("low_order_points", Duration::from_secs(60));
    let rows = tsv_rows(include_str!(
        "../../../../tests/vectors/cometbft-v0.38/x25519_low_order_points.tsv"
    ));
    assert_eq!(rows.len(), 7);
    let key = NodeKey::from_secret(b"victim");
    for row in rows {
        let point: [u8; 32] = hex(row[1]).try_into().expect("32-byte point");
        for secret in [[1u8; 32], [0x5a; 32], [0xff; 32]] {
            assert_eq!(
                dh_secret(&secret, &point).map(|_| ()),
                Err(SecretError::LowOrderKey)
            );
        }
        let (mut peer, victim) = tcp_pair();
        peer.write_all(&ephemeral::encode(&point)).unwrap();
        victim
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        match SecretConnection::handshake(victim, &key) {
            Err(Error::Secret(SecretError::LowOrderKey)) => {}
            other => panic!("{}: {other:?}", row[0]),
        }
    }
}

#[test]
fn third_party_fixed_key_handshake_is_byte_exact() {
    let v = KeyValues::parse(THIRD_PARTY);
    for side in ["ALICE", "BOB"] {
        let node = NodeKey::from_seed(v.b32(&format!("{side}_ED25519_SK")));
        assert_eq!(
            node.public_key(),
            v.b32(&format!("{side}_ED25519_PK")),
            "{side}"
        );
        let eph = v.b32(&format!("{side}_X25519_SK"));
        assert_eq!(
            ephemeral_public(&eph),
            v.b32(&format!("{side}_X25519_PK")),
            "{side}"
        );
    }
    let (a_eph, b_eph) = (v.b32("ALICE_X25519_SK"), v.b32("BOB_X25519_SK"));
    let (a_pub, b_pub) = (ephemeral_public(&a_eph), ephemeral_public(&b_eph));
    assert_eq!(
        ephemeral::encode(&a_pub).to_vec(),
        v.bytes("ALICE_HANDSHAKE_INITIAL_MSG")
    );
    let da = derive_keys(&a_eph, &a_pub, &b_pub).unwrap();
    let db = derive_keys(&b_eph, &b_pub, &a_pub).unwrap();
    assert_eq!(da.challenge, db.challenge);
    for (side, d) in [("ALICE", &da), ("BOB", &db)] {
        let node = NodeKey::from_seed(v.b32(&format!("{side}_ED25519_SK")));
        let msg = AuthSigMessage::signed(&node, &d.challenge);
        let expected = v.bytes(&format!("{side}_HANDSHAKE_SIG_MSG"));
        assert_eq!(msg.encode().to_vec(), expected, "{side} auth message");
        let decoded = AuthSigMessage::decode(&expected[1..]).unwrap();
        assert_eq!(decoded.verify(&da.challenge), Ok(()), "{side}");
    }

    // The KDF and frame vectors use a stand-alone shared secret, as the not-lowest side.
    let keys = derive_secrets(&v.b32("HANDSHAKE_SHARED_SECRET"), false);
    assert_eq!(*keys.recv, v.b32("ENCRYPTION_KEY1"));
    assert_eq!(*keys.send, v.b32("ENCRYPTION_KEY2"));
    let cipher = ChaChaCipher::new(&keys.send);
    for (counter, pt, ct) in [
        (0, "MSG1_PT_ASCII", "MSG1_CT"),
        (1, "MSG2_PT_ASCII", "MSG2_CT"),
    ] {
        let nonce = Nonce::new(counter);
        let mut frame = [0u8; SEALED_FRAME_SIZE];
        seal(&cipher, &nonce, v.text(pt).as_bytes(), &mut frame).unwrap();
        assert_eq!(frame.to_vec(), v.bytes(ct), "{ct}");
        let range = open(&cipher, &nonce, &mut frame).unwrap();
        assert_eq!(&frame[range], v.text(pt).as_bytes());
    }
}
