//! A peer that does its side of the handshake by hand, so a hostile test controls every
//! byte it sends, and a victim (our SecretConnection) to run against it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;

use super::support::tcp_pair;
use crate::node_key::NodeKey;
use crate::secret::auth::{AuthSigMessage, AUTH_SIG_MSG_SIZE};
use crate::secret::derive::{derive_keys, ephemeral_public};
use crate::secret::frame::FrameCipher;
use crate::secret::frame::SEALED_FRAME_SIZE;
use crate::secret::nonce::Nonce;
use crate::secret::SecretConnection;
use crate::{Error, SecretError};

/// The peer side of a handshake done by hand, so the test controls every byte.
pub(super) struct Manual {
    pub(super) sock: TcpStream,
    shared: [u8; 32],
    send: Nonce,
    recv: Nonce,
    challenge: [u8; 32],
}

/// How the hand-made peer misbehaves in its handshake.
#[derive(Clone, Copy, Default)]
pub(super) struct Script {
    /// Send these 32 bytes as our ephemeral key (and skip the rest of the handshake).
    pub(super) eph_override: Option<[u8; 32]>,
    /// Sign this instead of the challenge.
    pub(super) sign_instead: Option<[u8; 32]>,
    /// Replace the public key's type byte.
    pub(super) key_type: Option<u8>,
    /// Send the auth message in frames of this many bytes (Go sends one frame).
    pub(super) auth_chunk: Option<usize>,
    /// Send this auth message instead of a real one.
    pub(super) forged_auth: Option<AuthSigMessage>,
}

impl Manual {
    fn handshake(mut sock: TcpStream, key: &NodeKey, eph: [u8; 32], script: Script) -> Self {
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let eph_pub = ephemeral_public(&eph);
        sock.write_all(&script.eph_override.unwrap_or(eph_pub))
            .unwrap();
        let mut rem = [0u8; 32];
        sock.read_exact(&mut rem).unwrap();
        let d = derive_keys(&eph, &eph_pub, &rem).expect("derive");
        let mut m = Manual {
            sock,
            shared: *d.shared,
            send: d.send_nonce,
            recv: d.recv_nonce,
            challenge: d.challenge,
        };
        if script.eph_override.is_some() {
            return m;
        }
        let msg = AuthSigMessage {
            public_key: key.public_key(),
            signature: key.sign(&script.sign_instead.unwrap_or(d.challenge)),
        };
        let mut enc = script.forged_auth.unwrap_or(msg).encode();
        if let Some(t) = script.key_type {
            enc[0] = t;
        }
        for chunk in enc.chunks(script.auth_chunk.unwrap_or(AUTH_SIG_MSG_SIZE)) {
            let frame = m.seal(chunk);
            m.sock.write_all(&frame).unwrap();
        }
        m
    }

    /// Reads and checks the victim's auth frame.
    fn read_auth(&mut self) -> AuthSigMessage {
        let mut f = [0u8; SEALED_FRAME_SIZE];
        self.sock.read_exact(&mut f).unwrap();
        let cipher = FrameCipher::new(&self.shared);
        let chunk = cipher
            .open(&self.recv, &mut f)
            .expect("victim's auth frame");
        self.recv.advance().unwrap();
        let msg: [u8; AUTH_SIG_MSG_SIZE] = chunk.try_into().expect("98 bytes");
        let msg = AuthSigMessage::decode(&msg).expect("decode");
        msg.verify(&self.challenge).expect("victim's signature");
        msg
    }

    pub(super) fn seal(&mut self, chunk: &[u8]) -> [u8; SEALED_FRAME_SIZE] {
        let mut f = [0u8; SEALED_FRAME_SIZE];
        FrameCipher::new(&self.shared)
            .seal(&self.send, chunk, &mut f)
            .expect("seal");
        self.send.advance().unwrap();
        f
    }

    /// Seals any 1026-byte plaintext, even one with a bad length field.
    pub(super) fn seal_raw(&mut self, padded: &[u8; 1026]) -> [u8; SEALED_FRAME_SIZE] {
        let aead = XSalsa20Poly1305::new((&self.shared).into());
        let mut f = [0u8; SEALED_FRAME_SIZE];
        f[16..].copy_from_slice(padded);
        let tag = aead
            .encrypt_in_place_detached(self.send.as_bytes().into(), b"", &mut f[16..])
            .expect("seal");
        f[..16].copy_from_slice(&tag);
        self.send.advance().unwrap();
        f
    }
}

/// A victim (our SecretConnection) and a hand-made peer over loopback.
pub(super) fn victim_and_peer(
    script: Script,
) -> (
    thread::JoinHandle<Result<SecretConnection<TcpStream>, Error>>,
    Manual,
) {
    let (sv, sp) = tcp_pair();
    sv.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let victim = thread::spawn(move || {
        let key = NodeKey::from_secret(b"victim");
        SecretConnection::handshake(sv, &key)
    });
    let peer = Manual::handshake(sp, &NodeKey::from_secret(b"peer"), [42u8; 32], script);
    (victim, peer)
}

/// A victim whose handshake with the hand-made peer succeeded.
pub(super) fn connected() -> (SecretConnection<TcpStream>, Manual) {
    connected_with(Script::default())
}

pub(super) fn connected_with(script: Script) -> (SecretConnection<TcpStream>, Manual) {
    let (v, mut p) = victim_and_peer(script);
    let msg = p.read_auth();
    assert_eq!(msg.public_key, NodeKey::from_secret(b"victim").public_key());
    let conn = v.join().expect("victim thread").expect("handshake");
    assert_eq!(
        conn.remote_pubkey(),
        NodeKey::from_secret(b"peer").public_key()
    );
    (conn, p)
}

pub(super) fn secret_err(e: std::io::Error) -> SecretError {
    match Error::from(e) {
        Error::Secret(s) => s,
        other => panic!("expected a secret connection error, got {other:?}"),
    }
}

pub(super) fn read_err(conn: &mut SecretConnection<TcpStream>) -> SecretError {
    let mut buf = [0u8; 64];
    match conn.read(&mut buf) {
        Ok(n) => panic!("read {n} bytes from a hostile stream"),
        Err(e) => secret_err(e),
    }
}
