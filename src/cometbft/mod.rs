//! Today's CometBFT p2p protocol (v0.34, v0.37, v0.38 and v1.0), the second protocol
//! family (feature `cometbft`). The same MConnection ideas as Tendermint v0.12 (channels,
//! priorities, 1024-byte packets, ping/pong) with other bytes: protobuf packets, a
//! SecretConnection built on X25519, a Merlin transcript, HKDF-SHA256 and
//! ChaCha20-Poly1305, and a protobuf NodeInfo. The threads, scheduler, dispatch pool,
//! lifecycle and limits are the shared ones; this module holds only what differs.
//!
//! `tests/vectors/cometbft-v0.38/PROTOCOL.md` describes the protocol byte by byte.

pub(crate) mod delimited;
mod handshake;
mod message_type;
pub(crate) mod node_info;
mod packet;
pub(crate) mod pb;
mod secret;

pub use self::packet::{max_packet_size, Packets};
pub use self::secret::SecretConnection;
