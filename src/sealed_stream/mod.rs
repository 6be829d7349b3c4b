//! The sealed byte stream both SecretConnections run on once their handshake is done:
//! data cut into frames of at most 1024 bytes, each padded to a fixed size and sealed
//! with an AEAD under a per-direction nonce counter. Tendermint v0.12
//! (`crate::secret`, XSalsa20-Poly1305, big-endian 16-bit length, tag first) and
//! CometBFT (`crate::cometbft`, ChaCha20-Poly1305, little-endian 32-bit length, tag
//! last) differ only in what [`FrameFormat`] says; everything else is here, once:
//!
//! * `frame.rs`: padding a chunk into a frame, sealing and opening it in place, the
//!   declared length checked (pure).
//! * `send.rs`, `recv.rs`: each direction's cipher, nonce and buffer; writes resumable
//!   after a stall, reads served as a plain byte stream.
//! * `connection.rs`: a handshaken connection (stream, both directions, the peer's key
//!   and the challenge), its `Read`/`Write`, and its borrowed halves for the NodeInfo
//!   exchange.
//! * `transport.rs`: a TCP-backed connection split into a reader and a writer half, and
//!   into a [`Transport`](crate::Transport).

mod connection;
pub(crate) mod frame;
mod recv;
mod send;
mod transport;

pub(crate) use self::connection::{RecvHalf, SealedConnection, SendHalf};
pub(crate) use self::recv::RecvState;
pub(crate) use self::send::SendState;
pub(crate) use self::transport::{SealedReader, SealedWriter};

use crate::error::SecretError;

/// Most data bytes in one frame, in both families.
pub(crate) const DATA_MAX_SIZE: usize = 1024;

/// Bytes of the Poly1305 tag of a sealed frame, in both families.
pub(crate) const TAG_SIZE: usize = 16;

/// What one family's frames look like: the length header, where the tag goes, the
/// AEAD and the nonce. A value of it is one direction's keyed cipher; the key is wiped
/// when it is dropped.
///
/// A plaintext frame is `length header || data (<= 1024) || padding`
/// ([`PLAIN_FRAME_SIZE`](Self::PLAIN_FRAME_SIZE) bytes), sealed into
/// [`SEALED_FRAME_SIZE`](Self::SEALED_FRAME_SIZE) bytes: the encrypted frame and its
/// 16-byte tag, in the order [`TAG_FIRST`](Self::TAG_FIRST) says.
pub(crate) trait FrameFormat: Send + 'static {
    /// One direction's nonce: the frame counter.
    type Nonce: Copy + Send + 'static;

    /// Bytes of the data length at the head of each plaintext frame.
    const LEN_SIZE: usize;
    /// Whether the tag comes before the encrypted frame (NaCl's secretbox) or after it
    /// (the IETF AEAD construction).
    const TAG_FIRST: bool;
    /// Bytes of a plaintext frame: the length, the data and the padding.
    const PLAIN_FRAME_SIZE: usize = Self::LEN_SIZE + DATA_MAX_SIZE;
    /// Bytes of a sealed frame on the wire.
    const SEALED_FRAME_SIZE: usize = Self::PLAIN_FRAME_SIZE + TAG_SIZE;

    /// Writes `len` (at most 1024) into the [`LEN_SIZE`](Self::LEN_SIZE) bytes `head`.
    fn write_len(len: usize, head: &mut [u8]);

    /// Reads the length that `head` ([`LEN_SIZE`](Self::LEN_SIZE) bytes) declares.
    fn read_len(head: &[u8]) -> u64;

    /// The error for a declared (or offered) data length over 1024.
    fn length_error(len: u64) -> SecretError;

    /// Moves `nonce` to the next frame's.
    ///
    /// Errors: [`SecretError::NonceExhausted`] if the counter would wrap; the nonce is
    /// then unchanged.
    fn advance(nonce: &mut Self::Nonce) -> Result<(), SecretError>;

    /// Encrypts the plaintext frame `body` in place under `nonce` and returns its tag.
    ///
    /// Errors: [`SecretError::FrameAuthFailed`] if the AEAD refuses (it does not, for a
    /// frame of this size and no associated data).
    fn seal_in_place(
        &self,
        nonce: &Self::Nonce,
        body: &mut [u8],
    ) -> Result<[u8; TAG_SIZE], SecretError>;

    /// Decrypts `body` in place under `nonce` if `tag` authenticates it.
    ///
    /// Errors: [`SecretError::FrameAuthFailed`] if it does not (`body` is then left as
    /// it was).
    fn open_in_place(
        &self,
        nonce: &Self::Nonce,
        body: &mut [u8],
        tag: &[u8; TAG_SIZE],
    ) -> Result<(), SecretError>;
}
