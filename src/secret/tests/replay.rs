//! Whole sessions recorded from Go v0.12.1 replayed with the recorded ephemeral keys:
//! over TCP between two of our connections, and read from Go's own bytes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::support::{tcp_pair, watchdog, Recorder, Scripted};
use super::vector_file::{f, load, node_key, other, pattern, SecretVectors, SIDES};
use crate::secret::frame::SEALED_FRAME_SIZE;
use crate::secret::SecretConnection;

const LIMIT: Duration = Duration::from_secs(60);

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
    let info = crate::NodeInfo::decode(&mut &v.bytes(&f(side, "nodeinfo"))[..]).expect("nodeinfo");
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
    assert_eq!(c.remote_id().to_string(), v.get(&f(peer, "key")));
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
