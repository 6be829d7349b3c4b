//! [`SecretConnection`]: the handshake (Go's `MakeSecretConnection`) and the encrypted
//! byte stream it yields.

use std::io::{self, Read, Write};

use super::auth::{AuthSigMessage, AUTH_SIG_MSG_SIZE};
use super::derive::derive_keys;
use super::frame::FrameCipher;
use crate::error::Error;
use crate::node_key::NodeKey;
use crate::sealed_stream::dh::{random_ephemeral, Ephemeral};
use crate::sealed_stream::{sealed_connection_api, RecvState, SealedConnection, SendState};

/// An authenticated, encrypted stream over `S` (usually a `TcpStream`), byte-compatible
/// with Tendermint v0.12's `SecretConnection`.
///
/// * [`Read`] yields the peer's data as a plain byte stream.
/// * [`Write`]: each non-empty `write` call seals its bytes into frames of their own
///   (1024 data bytes each, the last one shorter), never merged with another call's
///   bytes; `write(&[])` sends nothing. Go's NodeInfo reader depends on this: send each
///   go-wire primitive with its own `write`. A `write` that stalls on a socket write
///   timeout keeps the sealed bytes and reports them as written; [`flush`](Write::flush)
///   (or the next `write`) sends the rest. Call `flush` before waiting for an answer.
///
/// For an MConnection, turn it into a [`Transport`](crate::Transport) with
/// [`into_transport`](SecretConnection::into_transport).
///
/// # Example
///
/// Both ends handshake at once (here on two threads), learn each other's id, and run an
/// MConnection over the encrypted stream (`examples/secret_tcp.rs` as a program).
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use std::time::Duration;
/// use mconn::{ChannelDescriptor, MConnConfig, MConnection, NodeKey, SecretConnection};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (alice, bob) = (NodeKey::generate()?, NodeKey::generate()?);
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let bob_id = bob.id();
/// let dialer = std::thread::spawn(move || -> Result<_, mconn::Error> {
///     let stream = TcpStream::connect(addr)?;
///     // The handshake has no timeout of its own: bound it with the socket's.
///     stream.set_read_timeout(Some(Duration::from_secs(10)))?;
///     SecretConnection::handshake(stream, &bob)
/// });
/// let (stream, _) = listener.accept()?;
/// stream.set_read_timeout(Some(Duration::from_secs(10)))?;
/// let at_alice = SecretConnection::handshake(stream, &alice)?;
/// let at_bob = dialer.join().expect("dialer thread")?;
/// // Each end has proven its key: compare with the id you expected to reach.
/// assert_eq!(at_alice.remote_id(), bob_id);
/// assert_eq!(at_bob.remote_id(), alice.id());
///
/// let (tx, rx) = crossbeam_channel::unbounded();
/// let channels = vec![ChannelDescriptor::new(0x01, 1)];
/// let conn = MConnection::with_transport(
///     at_alice.into_transport()?,
///     channels.clone(),
///     MConnConfig::default(),
///     move |_, msg| { let _ = tx.send(msg); },
///     |_| {},
/// )?;
/// let peer = MConnection::with_transport(
///     at_bob.into_transport()?, channels, MConnConfig::default(), |_, _| {}, |_| {},
/// )?;
/// peer.send(0x01, "sealed")?;
/// assert_eq!(rx.recv_timeout(Duration::from_secs(10))?, "sealed");
/// peer.stop();
/// conn.stop();
/// # Ok(())
/// # }
/// ```
pub struct SecretConnection<S> {
    pub(crate) inner: SealedConnection<S, FrameCipher>,
}

impl<S: Read + Write> SecretConnection<S> {
    /// Runs the handshake as either side (it is symmetric) with a fresh random ephemeral
    /// key: exchanges ephemeral X25519 keys, derives the shared secret and nonces, then
    /// exchanges signatures of the challenge and checks the peer's.
    ///
    /// Blocks on `stream` until the peer has answered; there is no timeout of its own:
    /// set the socket's read and write timeouts to bound it (a timeout is then an
    /// [`Error::Io`] of kind `WouldBlock` or `TimedOut`).
    ///
    /// Errors: [`Error::Io`] for I/O errors, a closed stream (`UnexpectedEof`) or a
    /// failing OS random number generator; [`Error::Secret`] with
    /// [`LowOrderKey`](crate::SecretError::LowOrderKey) for a degenerate ephemeral key,
    /// [`BadAuthMessage`](crate::SecretError::BadAuthMessage),
    /// [`BadSignature`](crate::SecretError::BadSignature), or a frame error.
    pub fn handshake(stream: S, key: &NodeKey) -> Result<Self, Error> {
        Self::handshake_with_ephemeral(stream, key, *random_ephemeral()?)
    }

    /// [`handshake`](Self::handshake) with a given ephemeral X25519 secret instead of a
    /// random one. Only for tests that reproduce recorded sessions: reusing an ephemeral
    /// secret, or choosing it predictably, destroys the connection's secrecy.
    ///
    /// Blocks and fails as [`handshake`](Self::handshake).
    pub fn handshake_with_ephemeral(
        mut stream: S,
        key: &NodeKey,
        eph_secret: [u8; 32],
    ) -> Result<Self, Error> {
        let eph = Ephemeral::new(eph_secret);

        // Step 1. Both sides write first, then read: 32 bytes always fit in the socket
        // buffers, so this cannot deadlock.
        stream.write_all(&eph.public)?;
        stream.flush()?;
        let mut rem_eph_pub = [0u8; 32];
        stream
            .read_exact(&mut rem_eph_pub)
            .map_err(|e| closed_during("its ephemeral key", e))?;

        // Steps 2 to 5.
        let d = derive_keys(&eph.secret, &eph.public, &rem_eph_pub).map_err(Error::Secret)?;
        let mut conn = SealedConnection::new(
            stream,
            SendState::new(FrameCipher::new(&d.shared), d.send_nonce),
            RecvState::new(FrameCipher::new(&d.shared), d.recv_nonce),
            d.challenge,
        );

        // Steps 6 and 7: one frame each way.
        let ours = AuthSigMessage {
            public_key: key.public_key(),
            signature: key.sign(&d.challenge),
        };
        conn.write_all(&ours.encode())?;
        conn.flush()?;
        let mut theirs = [0u8; AUTH_SIG_MSG_SIZE];
        conn.read_exact(&mut theirs)
            .map_err(|e| closed_during("its signature", e))?;
        let theirs = AuthSigMessage::decode(&theirs).map_err(Error::Secret)?;
        theirs.verify(&d.challenge).map_err(Error::Secret)?;
        Ok(SecretConnection {
            inner: conn.authenticated(theirs.public_key),
        })
    }
}

sealed_connection_api!(SecretConnection, FrameCipher);

/// An end of the stream in the middle of the handshake, said as what it is: the peer
/// (often not an mconn node at all) closed the connection before it sent `what`.
fn closed_during(what: &str, e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the peer closed the connection during the secret handshake, before {what}"),
        )
    } else {
        e
    }
}
