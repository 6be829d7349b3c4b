//! [`SecretConnection`]: the handshake (Go's `MakeSecretConnection`) and the encrypted
//! byte stream it yields.

use std::fmt;
use std::io::{self, Read, Write};

use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use super::auth::{AuthSigMessage, AUTH_SIG_MSG_SIZE};
use super::derive::{derive_keys, ephemeral_public};
use super::frame::FrameCipher;
use crate::error::Error;
use crate::node_key::NodeKey;
use crate::peer_id::PeerId;
use crate::sealed_stream::{RecvHalf, RecvState, SealedConnection, SendHalf, SendState};

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
        let mut eph = Zeroizing::new([0u8; 32]);
        OsRng.try_fill_bytes(&mut eph[..]).map_err(|e| {
            Error::Io(io::Error::new(
                io::ErrorKind::Other,
                format!("OS random number generator failed: {e}"),
            ))
        })?;
        Self::handshake_with_ephemeral(stream, key, *eph)
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
        let eph_secret = Zeroizing::new(eph_secret);
        let loc_eph_pub = ephemeral_public(&eph_secret);

        // Step 1. Both sides write first, then read: 32 bytes always fit in the socket
        // buffers, so this cannot deadlock.
        stream.write_all(&loc_eph_pub)?;
        stream.flush()?;
        let mut rem_eph_pub = [0u8; 32];
        stream
            .read_exact(&mut rem_eph_pub)
            .map_err(|e| closed_during("its ephemeral key", e))?;

        // Steps 2 to 5.
        let d = derive_keys(&eph_secret, &loc_eph_pub, &rem_eph_pub).map_err(Error::Secret)?;
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

impl<S> SecretConnection<S> {
    /// The peer's authenticated Ed25519 public key. It only proves that the peer holds
    /// this key: compare it with the key you expected.
    pub fn remote_pubkey(&self) -> [u8; 32] {
        self.inner.remote_pubkey()
    }

    /// The peer's id: its authenticated public key (printed as Go's `peer.Key()`, 64
    /// upper-case hex digits).
    pub fn remote_id(&self) -> PeerId {
        self.inner.remote_id()
    }

    /// The same connection over another stream type (for example, the `TcpStream` inside
    /// a wrapper that enforced a handshake deadline). `f` must return the same byte
    /// stream, or the encrypted stream is corrupted.
    pub fn map_stream<T>(self, f: impl FnOnce(S) -> T) -> SecretConnection<T> {
        SecretConnection {
            inner: self.inner.map_stream(f),
        }
    }

    /// The handshake's challenge: the same 32 bytes on both ends, different for every
    /// connection. The switch uses it to tell two connections between the same nodes
    /// apart the same way on both sides.
    pub(crate) fn challenge(&self) -> [u8; 32] {
        self.inner.challenge()
    }

    /// The connection as a reading half and a writing half over a shared `&S`, for one
    /// thread each (both need `&S` to read and write, as `&TcpStream` does), and the
    /// stream itself.
    pub(crate) fn halves(
        &mut self,
    ) -> (
        RecvHalf<'_, S, FrameCipher>,
        SendHalf<'_, S, FrameCipher>,
        &S,
    ) {
        self.inner.halves()
    }

    /// The underlying stream, for example to change its timeouts. Reading or writing it
    /// directly would corrupt the encrypted stream.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }
}

impl<S: Read> Read for SecretConnection<S> {
    /// Reads decrypted bytes. Blocks on the stream only when no decrypted byte is
    /// buffered. `Ok(0)` means the peer closed the stream between two frames.
    ///
    /// Errors: the stream's errors; `UnexpectedEof` if it ends inside a frame; an
    /// altered or misordered frame is [`Error::Secret`] (kind `InvalidData`, unwrap it
    /// with `Error::from`), and the connection is unusable after it.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<S: Write> Write for SecretConnection<S> {
    /// Seals up to 64 KiB of `buf` into frames of its own and writes them; returns the
    /// bytes taken. Blocks in the stream's `write`, and stops writing (the rest is kept
    /// for the next call) when the stream takes less than it is offered.
    ///
    /// Errors: the stream's errors. If bytes from an earlier call are still unwritten
    /// and the stream stalls (`WouldBlock`/`TimedOut`, or takes only part of them, which
    /// is reported as `WouldBlock`), that error is returned and nothing of `buf` is
    /// taken; call again.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    /// Writes every sealed byte, then flushes the stream. A stall error (including a
    /// stream that took only part of the bytes) means "call again".
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<S> fmt::Debug for SecretConnection<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

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
