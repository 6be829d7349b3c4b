//! The sealed byte stream both SecretConnections run on once their handshake is done:
//! data cut into frames of at most 1024 bytes, each padded to a fixed size and sealed
//! with an AEAD under a per-direction nonce counter. Tendermint v0.12
//! (`crate::secret`, XSalsa20-Poly1305, big-endian 16-bit length, tag first) and
//! CometBFT (`crate::cometbft`, ChaCha20-Poly1305, little-endian 32-bit length, tag
//! last) differ only in what [`FrameFormat`] says; everything else is here, once:
//!
//! * `format.rs`: the [`FrameFormat`] trait, the seam between the engine and a family.
//! * `frame.rs`: padding a chunk into a frame, sealing and opening it in place, the
//!   declared length checked (pure).
//! * `send.rs`, `recv.rs`: each direction's cipher, nonce and buffer; writes resumable
//!   after a stall, reads served as a plain byte stream.
//! * `connection.rs`: a handshaken connection (stream, both directions, the peer's key
//!   and the challenge), its `Read`/`Write`, and its borrowed halves for the NodeInfo
//!   exchange; `api.rs`: the public API each family's `SecretConnection` newtype gets
//!   from it.
//! * `transport.rs`: a TCP-backed connection split into a reader and a writer half, and
//!   into a [`Transport`](crate::Transport).
//!
//! And one step of both handshakes, `dh.rs`: the X25519 ephemeral key and secret.

mod api;
pub(crate) mod connection;
pub(crate) mod dh;
mod format;
pub(crate) mod frame;
mod recv;
mod send;
mod transport;

pub(crate) use self::api::sealed_connection_api;
pub(crate) use self::connection::SealedConnection;
pub(crate) use self::format::{FrameFormat, FrameNonce, Sealed};
pub(crate) use self::recv::RecvState;
pub(crate) use self::send::SendState;
// Named outside only by v0.12's public halves (`SecretReader`, `SecretWriter`).
#[cfg(feature = "secret-connection")]
pub(crate) use self::transport::{SealedReader, SealedWriter};
