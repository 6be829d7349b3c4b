//! [`SecretConnection`]: CometBFT's handshake (Go's `MakeSecretConnection`,
//! `p2p/conn/secret_connection.go`) and the encrypted byte stream it yields, which runs
//! on the shared sealing engine (`crate::sealed_stream`).

use std::io::{Read, Write};

use super::auth::AuthSigMessage;
use super::derive::derive_keys;
use super::ephemeral;
use super::frame::ChaChaCipher;
use super::nonce::Nonce;
use crate::cometbft::delimited::{read_delimited, HANDSHAKE_MSG_LIMIT};
use crate::error::Error;
use crate::node_key::NodeKey;
use crate::sealed_stream::dh::{random_ephemeral, Ephemeral};
use crate::sealed_stream::{sealed_connection_api, RecvState, SealedConnection, SendState};

/// An authenticated, encrypted stream over `S` (usually a `TcpStream`), byte-compatible
/// with CometBFT's `SecretConnection` (v0.34 to v1.0) and tendermint-rs's.
///
/// * [`Read`] yields the peer's data as a plain byte stream, whatever the frames: a
///   message may span frames or share one, and empty frames are skipped.
/// * [`Write`]: each non-empty `write` seals its bytes into frames of their own (1024
///   data bytes each, the last one shorter). A `write` that stalls on a socket write
///   timeout keeps the sealed bytes and reports them as written;
///   [`flush`](Write::flush) (or the next `write`) sends the rest. Call `flush` before
///   waiting for an answer.
///
/// For an MConnection, turn it into a [`Transport`](crate::Transport) with
/// [`into_transport_with_write_timeout`](SecretConnection::into_transport_with_write_timeout).
///
/// # Example
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
/// use std::time::Duration;
/// use mconn::cometbft::SecretConnection;
/// use mconn::NodeKey;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (alice, bob) = (NodeKey::generate()?, NodeKey::generate()?);
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let bob_key = bob.public_key();
/// let dialer = std::thread::spawn(move || -> Result<_, mconn::Error> {
///     let stream = TcpStream::connect(addr)?;
///     // The handshake has no timeout of its own: bound it with the socket's.
///     stream.set_read_timeout(Some(Duration::from_secs(10)))?;
///     let mut sc = SecretConnection::handshake(stream, &bob)?;
///     sc.write_all(b"hello")?;
///     sc.flush()?;
///     Ok(sc.remote_id())
/// });
/// let (stream, _) = listener.accept()?;
/// stream.set_read_timeout(Some(Duration::from_secs(10)))?;
/// let mut at_alice = SecretConnection::handshake(stream, &alice)?;
/// let mut buf = [0u8; 5];
/// at_alice.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"hello");
/// // Each end has proven its key: compare with the one you expected to reach.
/// assert_eq!(at_alice.remote_pubkey(), bob_key);
/// assert_eq!(dialer.join().expect("dialer thread")?, alice.id());
/// # Ok(())
/// # }
/// ```
pub struct SecretConnection<S> {
    inner: SealedConnection<S, ChaChaCipher>,
}

impl<S: Read + Write> SecretConnection<S> {
    /// Runs the handshake as either side (it is symmetric) with a fresh random ephemeral
    /// key: exchanges ephemeral X25519 keys, derives the keys and the challenge, then
    /// exchanges signatures of the challenge and checks the peer's.
    ///
    /// Blocks on `stream` until the peer has answered; there is no timeout of its own:
    /// set the socket's read and write timeouts to bound it (a timeout is then an
    /// [`Error::Io`] of kind `WouldBlock` or `TimedOut`). Each message read is bounded
    /// (1 MiB, Go's limit, checked before anything is allocated).
    ///
    /// Errors: [`Error::Io`] for I/O errors, a closed stream (`UnexpectedEof`) or a
    /// failing OS random number generator; [`Error::Secret`] with
    /// [`BadEphemeralMessage`](crate::SecretError::BadEphemeralMessage),
    /// [`BadLengthPrefix`](crate::SecretError::BadLengthPrefix) or
    /// [`HandshakeMessageTooLarge`](crate::SecretError::HandshakeMessageTooLarge) for a
    /// malformed message, [`LowOrderKey`](crate::SecretError::LowOrderKey) for a
    /// degenerate ephemeral key, [`BadAuthMessage`](crate::SecretError::BadAuthMessage),
    /// [`WeakKey`](crate::SecretError::WeakKey),
    /// [`BadSignature`](crate::SecretError::BadSignature), or a frame error.
    pub fn handshake(stream: S, key: &NodeKey) -> Result<Self, Error> {
        Self::handshake_with_ephemeral(stream, key, *random_ephemeral()?)
    }

    /// [`handshake`](Self::handshake) with a given ephemeral X25519 secret, for tests
    /// that reproduce recorded sessions (reusing or predicting it destroys secrecy).
    pub(crate) fn handshake_with_ephemeral(
        mut stream: S,
        key: &NodeKey,
        our_secret: [u8; 32],
    ) -> Result<Self, Error> {
        let ours = Ephemeral::new(our_secret);

        // Both sides write first, then read (Go does both at once): 35 bytes always fit
        // in the socket buffers, so this cannot deadlock.
        stream.write_all(&ephemeral::encode(&ours.public))?;
        stream.flush()?;
        let body = read_delimited(&mut stream, HANDSHAKE_MSG_LIMIT, "ephemeral key")?;
        let theirs = ephemeral::decode(&body)?;

        let d = derive_keys(&ours.secret, &ours.public, &theirs)?;
        let mut conn = SealedConnection::new(
            stream,
            SendState::new(ChaChaCipher::new(&d.keys.send), Nonce::default()),
            RecvState::new(ChaChaCipher::new(&d.keys.recv), Nonce::default()),
            d.challenge,
        );

        // One frame each way, through the encrypted stream.
        conn.write_all(&AuthSigMessage::signed(key, &d.challenge).encode())?;
        conn.flush()?;
        let body = read_delimited(&mut conn, HANDSHAKE_MSG_LIMIT, "auth signature")?;
        let proof = AuthSigMessage::decode(&body)?;
        proof.verify(&d.challenge)?;
        Ok(SecretConnection {
            inner: conn.authenticated(proof.pub_key),
        })
    }
}

sealed_connection_api!(SecretConnection, ChaChaCipher);
