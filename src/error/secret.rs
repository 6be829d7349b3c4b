//! [`SecretError`]: why a SecretConnection (either family's) failed.

use std::fmt;

/// Why the secret connection (authenticated encryption) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretError {
    /// A sealed frame failed authentication: it was altered, replayed or reordered.
    FrameAuthFailed,
    /// A decrypted frame declares more than 1024 data bytes.
    FrameLength(u16),
    /// The peer's signature of the handshake challenge does not verify.
    BadSignature,
    /// The peer's auth-signature message is malformed; the text says how.
    BadAuthMessage(String),
    /// The peer's ephemeral key is a low-order point (the shared secret would be all zero).
    LowOrderKey,
    /// The peer's identity key is a point of small order, with which a forged signature
    /// verifies for any challenge (Go v0.12 accepts it; we do not).
    WeakKey,
    /// The nonce counter ran out (2^191 frames in v0.12; 2^64 - 1 in CometBFT, where Go
    /// panics instead).
    NonceExhausted,
    /// A decrypted frame of CometBFT's SecretConnection declares more than 1024 data
    /// bytes (its length is 32 bits wide; v0.12's is [`FrameLength`](Self::FrameLength)).
    FrameTooLong(u32),
    /// A handshake message's length prefix says more than that message may hold (the
    /// limit is Go's, 1 MiB, which an honest peer never nears).
    HandshakeMessageTooLarge {
        /// Which message ("ephemeral key", "auth signature").
        what: &'static str,
        /// The length the prefix claims.
        length: u64,
        /// The largest length accepted.
        limit: usize,
    },
    /// A handshake message's length prefix is not a valid uvarint (more than 10 bytes,
    /// or over 64 bits).
    BadLengthPrefix {
        /// Which message.
        what: &'static str,
    },
    /// The peer's ephemeral-key message is malformed (not a protobuf `BytesValue`, or
    /// its key is not 32 bytes); the text says how.
    BadEphemeralMessage(String),
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::FrameAuthFailed => f.write_str("frame failed authentication"),
            SecretError::FrameLength(n) => write!(f, "frame declares {n} data bytes, over 1024"),
            SecretError::BadSignature => f.write_str("challenge signature does not verify"),
            SecretError::BadAuthMessage(why) => write!(f, "malformed auth message: {why}"),
            SecretError::LowOrderKey => f.write_str("peer's ephemeral key is a low-order point"),
            SecretError::WeakKey => f.write_str("peer's identity key is a small-order point"),
            SecretError::NonceExhausted => f.write_str("nonce counter exhausted"),
            SecretError::FrameTooLong(n) => write!(f, "frame declares {n} data bytes, over 1024"),
            SecretError::HandshakeMessageTooLarge {
                what,
                length,
                limit,
            } => write!(
                f,
                "the peer's {what} message claims {length} bytes, over the limit of {limit}"
            ),
            SecretError::BadLengthPrefix { what } => {
                write!(f, "the peer's {what} message has a malformed length prefix")
            }
            SecretError::BadEphemeralMessage(why) => {
                write!(f, "malformed ephemeral key message: {why}")
            }
        }
    }
}

impl std::error::Error for SecretError {}
