//! The SecretConnection against the bytes recorded from Go v0.12.1: every fact of
//! tests/vectors/secret-connection-v0.12.1.txt is recomputed from the recorded keys, and
//! whole sessions are replayed with the recorded ephemeral keys.
#![cfg(feature = "secret-connection")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use mconn::secret::{
    base_nonce, challenge, derive_keys, ephemeral_public, padded_frame, shared_secret, sort_keys,
    AuthSigMessage, FrameCipher, Nonce, SecretConnection, SEALED_FRAME_SIZE,
};
use mconn::NodeKey;
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};
use support::secret::{Recorder, Scripted};
use support::secret_vectors::{load, SecretVectors};
use support::{tcp_pair, watchdog};

const LIMIT: Duration = Duration::from_secs(60);
const SIDES: [&str; 2] = ["alice", "bob"];

fn other(side: &str) -> &'static str {
    if side == "alice" {
        "bob"
    } else {
        "alice"
    }
}

fn f(side: &str, name: &str) -> String {
    format!("{side}.{name}")
}

fn node_key(v: &SecretVectors, side: &str) -> NodeKey {
    NodeKey::from_secret(v.get(&f(side, "node_secret")).as_bytes())
}

/// byte j = j % 251, the vectors' data pattern.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|j| (j % 251) as u8).collect()
}

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
        assert_eq!(k.id(), v.get(&f(side, "key")), "{side} id");
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

/// What `side` writes after the handshake in `session`, one entry per write call.
fn script(v: &SecretVectors, session: &str, side: &str) -> Vec<Vec<u8>> {
    let mut writes = Vec::new();
    if session == "raw" {
        writes.push(b"hello".to_vec());
        writes.push(pattern(1024));
        writes.push(pattern(1500));
    }
    // The NodeInfo goes out one write per go-wire primitive, as Go writes it: the
    // switch's own encoder must produce exactly the recorded frames.
    let ni: Vec<Vec<u8>> = v
        .frames(session, side)
        .into_iter()
        .filter(|fr| fr.what.starts_with("ni."))
        .map(|fr| fr.plain.clone())
        .collect();
    let info = mconn::NodeInfo::decode(&mut &v.bytes(&f(side, "nodeinfo"))[..]).expect("nodeinfo");
    let mut parts = Vec::new();
    info.write_parts(|p| -> Result<(), ()> {
        parts.push(p.to_vec());
        Ok(())
    })
    .unwrap();
    assert_eq!(parts, ni, "{side}: NodeInfo writes are Go's frames");
    writes.extend(parts);
    writes.push(v.bytes("mconn.msgPacket.hi"));
    writes
}

/// Runs `side` of `session` over `sock`: handshake with the recorded ephemeral key, the
/// scripted writes, then reads the peer's script. Returns every byte written.
fn run_side(v: &SecretVectors, session: &str, side: &str, sock: TcpStream) -> Vec<u8> {
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let key = node_key(v, side);
    let rec = Recorder::new(sock);
    let mut c =
        SecretConnection::handshake_with_ephemeral(rec, &key, v.arr32(&f(side, "eph_priv")))
            .expect("handshake");
    let peer = other(side);
    assert_eq!(c.remote_pubkey(), v.arr32(&f(peer, "ed25519_pub")));
    assert_eq!(c.remote_id(), v.get(&f(peer, "key")));
    let wire = v.bytes(&format!("{session}.{side}.wire"));
    assert_eq!(
        c.get_ref().log,
        wire[..32 + SEALED_FRAME_SIZE],
        "{side}: eph key and auth frame"
    );
    for w in script(v, session, side) {
        c.write_all(&w).expect("write");
    }
    c.flush().expect("flush");
    let want: Vec<u8> = script(v, session, peer).concat();
    let mut got = vec![0u8; want.len()];
    c.read_exact(&mut got).expect("read the peer's script");
    assert_eq!(got, want, "{side} received");
    c.get_ref().log.clone()
}

fn replay_over_tcp(session: &'static str) {
    let v = load();
    let (a, b) = tcp_pair();
    let bob = std::thread::spawn(move || {
        let v = load();
        run_side(&v, session, "bob", b)
    });
    let alice_wire = run_side(&v, session, "alice", a);
    let bob_wire = bob.join().expect("bob's thread");
    assert_eq!(alice_wire, v.bytes(&format!("{session}.alice.wire")));
    assert_eq!(bob_wire, v.bytes(&format!("{session}.bob.wire")));
}

#[test]
fn raw_session_is_reproduced_byte_for_byte() {
    let _w = watchdog("raw_session_is_reproduced", LIMIT);
    replay_over_tcp("raw");
}

#[test]
fn switch_session_is_reproduced_byte_for_byte() {
    let _w = watchdog("switch_session_is_reproduced", LIMIT);
    replay_over_tcp("switch");
}

#[test]
fn reads_the_stream_go_wrote_with_any_buffer_size() {
    let _w = watchdog("reads_the_stream_go_wrote", LIMIT);
    let v = load();
    for session in ["raw", "switch"] {
        for side in SIDES {
            let peer = other(side);
            let input = v.bytes(&format!("{session}.{peer}.wire"));
            let io = Scripted::new(input);
            let key = node_key(&v, side);
            let mut c =
                SecretConnection::handshake_with_ephemeral(io, &key, v.arr32(&f(side, "eph_priv")))
                    .expect("handshake with Go's recorded bytes");
            assert_eq!(c.remote_pubkey(), v.arr32(&f(peer, "ed25519_pub")));
            let wire = v.bytes(&format!("{session}.{side}.wire"));
            assert_eq!(c.get_ref().output, wire[..32 + SEALED_FRAME_SIZE]);
            // Small reads never lose the rest of a frame (no READ QUIRK).
            let want: Vec<u8> = v.frames(session, peer)[1..]
                .iter()
                .flat_map(|fr| fr.plain.clone())
                .collect();
            let mut got = Vec::new();
            let mut size = 1;
            loop {
                let mut buf = vec![0u8; size];
                let n = c.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                size = size % 13 + 1;
            }
            assert_eq!(got, want, "{session}: {side} reads {peer}'s data");
        }
    }
}
