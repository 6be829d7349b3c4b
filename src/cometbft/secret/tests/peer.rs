//! A hand-made CometBFT peer for the hostile tests. The victim runs the real handshake
//! with a fixed ephemeral key, so the peer knows the keys and the challenge before the
//! victim starts and writes everything it has to say up front: no second thread, and
//! what the victim does with each byte is deterministic.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use chacha20poly1305::aead::AeadInPlace;

use super::support::tcp_pair;
use crate::cometbft::secret::auth::AuthSigMessage;
use crate::cometbft::secret::derive::derive_keys;
use crate::cometbft::secret::ephemeral;
use crate::cometbft::secret::frame::{ChaChaCipher, SEALED_FRAME_SIZE};
use crate::cometbft::secret::nonce::Nonce;
use crate::cometbft::SecretConnection;
use crate::error::Error;
use crate::node_key::NodeKey;
use crate::sealed_stream::dh::ephemeral_public;
use crate::sealed_stream::frame::seal;
use crate::sealed_stream::{FrameFormat, FrameNonce};

/// The victim's ephemeral secret.
const VICTIM_EPH: [u8; 32] = [0x42; 32];
/// The peer's ephemeral secret.
const PEER_EPH: [u8; 32] = [0x24; 32];

/// The peer's end of a loopback connection to a victim that has not started yet.
pub(super) struct Peer {
    /// The peer's socket.
    pub sock: TcpStream,
    victim: Option<TcpStream>,
    /// The peer's identity key.
    pub node: NodeKey,
    /// The challenge both sides sign.
    pub challenge: [u8; 32],
    cipher: ChaChaCipher,
    nonce: Nonce,
}

impl Peer {
    pub(super) fn new() -> Self {
        let (sock, victim) = tcp_pair();
        let pub_key = ephemeral_public(&PEER_EPH);
        let d = derive_keys(&PEER_EPH, &pub_key, &ephemeral_public(&VICTIM_EPH))
            .expect("fixed keys are not low-order");
        Peer {
            sock,
            victim: Some(victim),
            node: NodeKey::from_secret(b"hostile peer"),
            challenge: d.challenge,
            cipher: ChaChaCipher::new(&d.keys.send),
            nonce: Nonce::default(),
        }
    }

    /// The peer's ephemeral-key message.
    pub(super) fn eph_msg(&self) -> [u8; 35] {
        ephemeral::encode(&ephemeral_public(&PEER_EPH))
    }

    /// An honest auth message: the peer's key and its signature of the challenge.
    pub(super) fn auth(&self) -> AuthSigMessage {
        AuthSigMessage::signed(&self.node, &self.challenge)
    }

    /// The next frame, sealed from a whole 1028-byte plaintext (length, data and
    /// padding exactly as given).
    pub(super) fn seal_plain(&mut self, plain: &[u8; 1028]) -> Vec<u8> {
        let mut frame = plain.to_vec();
        let tag = self
            .cipher
            .aead()
            .encrypt_in_place_detached(&ChaChaCipher::aead_nonce(&self.nonce), b"", &mut frame)
            .unwrap();
        frame.extend_from_slice(&tag);
        self.nonce.advance().unwrap();
        frame
    }

    /// The next frame, carrying `chunk` (at most 1024 bytes) with zero padding.
    pub(super) fn seal(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut frame = vec![0u8; SEALED_FRAME_SIZE];
        seal(&self.cipher, &self.nonce, chunk, &mut frame).unwrap();
        self.nonce.advance().unwrap();
        frame
    }

    /// Writes `bytes` to the victim.
    pub(super) fn send(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).unwrap();
    }

    /// Writes the peer's ephemeral-key message and an honest auth message.
    pub(super) fn send_honest_handshake(&mut self) {
        let (eph, auth) = (self.eph_msg(), self.auth().encode());
        self.send(&eph);
        let frame = self.seal(&auth);
        self.send(&frame);
    }

    /// Runs the victim's handshake on this thread, under a read timeout of `timeout`.
    pub(super) fn victim_handshake(
        &mut self,
        timeout: Duration,
    ) -> Result<SecretConnection<TcpStream>, Error> {
        let victim = self.victim.take().expect("one victim per peer");
        victim.set_read_timeout(Some(timeout)).unwrap();
        let key = NodeKey::from_secret(b"victim");
        SecretConnection::handshake_with_ephemeral(victim, &key, VICTIM_EPH)
    }

    /// The victim's handshake after an honest one from the peer; it must succeed.
    pub(super) fn connected(&mut self) -> SecretConnection<TcpStream> {
        self.send_honest_handshake();
        let sc = self.victim_handshake(Duration::from_secs(10)).unwrap();
        assert_eq!(sc.remote_pubkey(), self.node.public_key());
        sc
    }
}
