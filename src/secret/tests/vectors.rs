//! The SecretConnection's steps against the bytes recorded from Go v0.12.1: every fact
//! of tests/vectors/secret-connection-v0.12.1.txt is recomputed from the recorded keys.
//! Whole sessions are replayed in `replay.rs`.

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

use super::vector_file::{f, load, node_key, other, pattern, SIDES};
use crate::node_key::NodeKey;
use crate::secret::auth::AuthSigMessage;
use crate::secret::derive::{
    base_nonce, challenge, derive_keys, ephemeral_public, shared_secret, sort_keys,
};
use crate::secret::frame::SEALED_FRAME_SIZE;
use crate::secret::frame::{padded_frame, FrameCipher};
use crate::secret::nonce::Nonce;

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Opens a sealed frame with the RustCrypto secretbox directly and returns the whole
/// padded plaintext (a check independent of `FrameCipher`).
fn raw_open(shared: &[u8; 32], nonce: &[u8], sealed: &[u8]) -> Vec<u8> {
    assert_eq!(sealed.len(), SEALED_FRAME_SIZE);
    let aead = XSalsa20Poly1305::new(shared.into());
    let mut body = sealed[16..].to_vec();
    let tag = crypto_secretbox::Tag::clone_from_slice(&sealed[..16]);
    aead.decrypt_in_place_detached(nonce.into(), b"", &mut body, &tag)
        .expect("recorded frame opens");
    body
}

#[test]
fn node_keys_are_gos() {
    let v = load();
    for side in SIDES {
        let k = node_key(&v, side);
        let seed = k.seed();
        let public = k.public_key();
        assert_eq!(seed, v.arr32(&f(side, "ed25519_seed")), "{side} seed");
        assert_eq!(public, v.arr32(&f(side, "ed25519_pub")), "{side} pub");
        let priv64 = [&seed[..], &public[..]].concat();
        assert_eq!(priv64, v.bytes(&f(side, "ed25519_priv64")));
        assert_eq!(k.id().to_string(), v.get(&f(side, "key")), "{side} id");
        assert_eq!(
            v.get(&f(side, "key")).parse::<crate::PeerId>().ok(),
            Some(k.id())
        );
        assert_eq!(
            [&[1u8][..], &public[..]].concat(),
            v.bytes(&f(side, "pubkey_wire"))
        );
        assert_eq!(
            [&[1u8][..], &priv64[..]].concat(),
            v.bytes(&f(side, "privkey_wire"))
        );
        let address = Ripemd160::new()
            .chain_update([0x01, 0x01, 0x20])
            .chain_update(public)
            .finalize();
        assert_eq!(address.to_vec(), v.bytes(&f(side, "address")));
        assert_eq!(NodeKey::from_seed(seed).public_key(), public);
    }
}

#[test]
fn ephemeral_keys_are_gos() {
    let v = load();
    for side in SIDES {
        let s = v.get(&f(side, "eph_seed_string"));
        let eph: [u8; 32] = Sha256::new()
            .chain_update(s.as_bytes())
            .chain_update(0u64.to_be_bytes())
            .finalize()
            .into();
        assert_eq!(eph, v.arr32(&f(side, "eph_priv")), "{side} eph_priv");
        assert_eq!(
            ephemeral_public(&eph),
            v.arr32(&f(side, "eph_pub")),
            "{side} eph_pub"
        );
    }
}

#[test]
fn handshake_values_are_gos() {
    let v = load();
    let (a_priv, b_priv) = (v.arr32("alice.eph_priv"), v.arr32("bob.eph_priv"));
    let (a_pub, b_pub) = (v.arr32("alice.eph_pub"), v.arr32("bob.eph_pub"));
    let shared = v.arr32("shared");
    assert_eq!(shared_secret(&a_priv, &b_pub), Ok(shared));
    assert_eq!(shared_secret(&b_priv, &a_pub), Ok(shared));

    let (lo, hi) = sort_keys(&a_pub, &b_pub);
    assert_eq!(sort_keys(&b_pub, &a_pub), (lo, hi));
    assert_eq!(*lo, v.arr32("lo"));
    assert_eq!(*hi, v.arr32("hi"));
    let lo_side = if *lo == a_pub { "alice" } else { "bob" };
    assert_eq!(lo_side, v.get("lo_is"));

    let nonce1 = base_nonce(lo, hi);
    assert_eq!(*nonce1.as_bytes(), v.arr24("nonce1"));
    let mut n2 = *nonce1.as_bytes();
    n2[23] ^= 1;
    assert_eq!(n2, v.arr24("nonce2"));
    let mut plus1 = v.arr24("nonce1");
    plus1[23] += 1;
    assert_eq!(n2, plus1, "nonce2 = nonce1 + 1");

    let ch = challenge(lo, hi);
    assert_eq!(ch, v.arr32("challenge"));

    for side in SIDES {
        let (mine, theirs) = (
            v.arr32(&f(side, "eph_pub")),
            v.arr32(&f(other(side), "eph_pub")),
        );
        let d = derive_keys(&v.arr32(&f(side, "eph_priv")), &mine, &theirs).expect("derive");
        assert_eq!(*d.shared, shared);
        assert_eq!(d.challenge, ch);
        assert_eq!(d.loc_is_lo, side == lo_side);
        assert_eq!(*d.recv_nonce.as_bytes(), v.arr24(&f(side, "recv_nonce")));
        assert_eq!(*d.send_nonce.as_bytes(), v.arr24(&f(side, "send_nonce")));
        // The side that is lo sends with nonce2 and receives with nonce1.
        let (recv, send) = if side == lo_side {
            (v.arr24("nonce1"), v.arr24("nonce2"))
        } else {
            (v.arr24("nonce2"), v.arr24("nonce1"))
        };
        assert_eq!(
            (*d.recv_nonce.as_bytes(), *d.send_nonce.as_bytes()),
            (recv, send)
        );

        let k = node_key(&v, side);
        let sig = k.sign(&ch);
        assert_eq!(sig.to_vec(), v.bytes(&f(side, "sig")), "{side} signature");
        let msg = AuthSigMessage {
            public_key: k.public_key(),
            signature: sig,
        };
        let plain = msg.encode();
        assert_eq!(plain.to_vec(), v.bytes(&f(side, "auth_sig_plain")));
        assert_eq!(AuthSigMessage::decode(&plain), Ok(msg));
        assert_eq!(msg.verify(&ch), Ok(()));
    }
}

#[test]
fn auth_frames_are_gos() {
    let v = load();
    let shared = v.arr32("shared");
    let cipher = FrameCipher::new(&shared);
    for side in SIDES {
        let plain = v.bytes(&f(side, "auth_sig_plain"));
        let padded = padded_frame(&plain).expect("98 bytes fit a frame");
        assert_eq!(padded.to_vec(), v.bytes(&f(side, "auth_frame_padded")));
        let nonce = v.arr24(&f(side, "auth_frame_nonce"));
        assert_eq!(nonce, v.arr24(&f(side, "send_nonce")));
        let mut sealed = [0u8; SEALED_FRAME_SIZE];
        cipher
            .seal(&Nonce::new(nonce), &plain, &mut sealed)
            .expect("seal");
        assert_eq!(sealed.to_vec(), v.bytes(&f(side, "auth_frame_sealed")));
        assert_eq!(raw_open(&shared, &nonce, &sealed), padded.to_vec());
        let recv_nonce = Nonce::new(v.arr24(&f(other(side), "recv_nonce")));
        assert_eq!(cipher.open(&recv_nonce, &mut sealed), Ok(&plain[..]));
    }
}

#[test]
fn every_recorded_frame_seals_and_opens_identically() {
    let v = load();
    let shared = v.arr32("shared");
    let cipher = FrameCipher::new(&shared);
    let mut checked = 0;
    for session in ["raw", "switch"] {
        for side in SIDES {
            let mut nonce = Nonce::new(v.arr24(&f(side, "send_nonce")));
            assert_eq!(nonce, Nonce::new(v.arr24(&f(other(side), "recv_nonce"))));
            for fr in v.frames(session, side) {
                let at = format!("{session}.{side}.frame {} ({})", fr.index, fr.what);
                assert_eq!(fr.nonce, nonce.as_bytes().to_vec(), "{at}: nonce");
                assert_eq!(fr.len, fr.plain.len(), "{at}: len");
                let mut sealed = [0u8; SEALED_FRAME_SIZE];
                cipher.seal(&nonce, &fr.plain, &mut sealed).expect("seal");
                assert_eq!(sealed.to_vec(), fr.sealed, "{at}: sealed bytes");
                let padded = padded_frame(&fr.plain).expect("pad");
                assert_eq!(raw_open(&shared, &fr.nonce, &fr.sealed), padded.to_vec());
                assert_eq!(cipher.open(&nonce, &mut sealed), Ok(&fr.plain[..]), "{at}");
                nonce.advance().expect("advance");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 76);
}

#[test]
fn frame_contents_follow_the_session_scripts() {
    let v = load();
    let hi = v.bytes("mconn.msgPacket.hi");
    assert_eq!(
        padded_frame(&hi).expect("pad").to_vec(),
        v.bytes("mconn.msgPacket.hi_padded_frame")
    );
    for session in ["raw", "switch"] {
        for side in SIDES {
            let frames = v.frames(session, side);
            assert_eq!(frames[0].what, "authsig");
            assert_eq!(frames[0].plain, v.bytes(&f(side, "auth_sig_plain")));
            assert_eq!(frames[0].sealed, v.bytes(&f(side, "auth_frame_sealed")));
            let last = frames[frames.len() - 1];
            assert_eq!(last.what, "mconn.msgPacket.hi");
            assert_eq!(last.plain, hi);
            let ni: Vec<u8> = frames
                .iter()
                .filter(|fr| fr.what.starts_with("ni."))
                .flat_map(|fr| fr.plain.clone())
                .collect();
            assert_eq!(
                ni,
                v.bytes(&f(side, "nodeinfo")),
                "{session}.{side} nodeinfo"
            );
        }
    }
    for side in SIDES {
        let frames = v.frames("raw", side);
        let whats: Vec<&str> = frames[1..5].iter().map(|fr| fr.what.as_str()).collect();
        assert_eq!(
            whats,
            [
                "hello",
                "data1024",
                "data1500[0:1024]",
                "data1500[1024:1500]"
            ]
        );
        assert_eq!(frames[1].plain, b"hello");
        assert_eq!(frames[2].plain, pattern(1024));
        assert_eq!(
            [&frames[3].plain[..], &frames[4].plain[..]].concat(),
            pattern(1500)
        );
    }
}

#[test]
fn wires_are_the_ephemeral_key_then_the_frames() {
    let v = load();
    for session in ["raw", "switch"] {
        for side in SIDES {
            let name = |n: &str| format!("{session}.{side}.{n}");
            let frames = v.frames(session, side);
            let mut expect = v.bytes(&f(side, "eph_pub"));
            for fr in &frames {
                expect.extend_from_slice(&fr.sealed);
            }
            let wire = v.bytes(&name("wire"));
            assert_eq!(wire, expect, "{session}.{side}.wire");
            assert_eq!(wire.len(), v.usize(&name("wire_len")));
            assert_eq!(wire.len(), 32 + SEALED_FRAME_SIZE * frames.len());
            assert_eq!(sha256_hex(&wire), v.get(&name("wire_sha256")));
            let sizes: Vec<usize> = v
                .get(&name("write_sizes"))
                .split(',')
                .map(|s| s.parse().expect("size"))
                .collect();
            let mut want = vec![32];
            want.extend(std::iter::repeat(SEALED_FRAME_SIZE).take(frames.len()));
            assert_eq!(sizes, want, "{session}.{side}.write_sizes");
            assert_eq!(v.usize(&name("write_count")), frames.len() + 1);
        }
    }
}

#[test]
fn tcp_session_is_the_switch_session() {
    let v = load();
    for side in SIDES {
        assert!(!v.has(&format!("tcp.{side}.wire")));
        assert_eq!(
            v.usize(&format!("tcp.{side}.wire_len")),
            v.usize(&format!("switch.{side}.wire_len"))
        );
        assert_eq!(
            v.get(&format!("tcp.{side}.wire_sha256")),
            v.get(&format!("switch.{side}.wire_sha256"))
        );
    }
}
