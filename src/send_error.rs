//! The errors that hand a message back: [`SendError`] from `send` and [`TrySendError`]
//! from `try_send`, each holding the message that was not queued.

use std::fmt;

use bytes::Bytes;

use crate::error::ChannelId;

/// Why [`send`](crate::MConnection::send) did not queue a message. The message is handed
/// back: `into_inner`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The channel's queue stayed full for `send_timeout`.
    Timeout(Bytes),
    /// The connection is stopped, stopping or flushing.
    Closed(Bytes),
    /// The connection has no channel with this id.
    UnknownChannel(ChannelId, Bytes),
}

/// Why [`try_send`](crate::MConnection::try_send) did not queue a message. The message is
/// handed back: `into_inner`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrySendError {
    /// The channel's queue is full right now.
    Full(Bytes),
    /// The connection is stopped, stopping or flushing.
    Closed(Bytes),
    /// The connection has no channel with this id.
    UnknownChannel(ChannelId, Bytes),
}

impl SendError {
    /// The message that was not sent.
    pub fn into_inner(self) -> Bytes {
        match self {
            SendError::Timeout(m) | SendError::Closed(m) | SendError::UnknownChannel(_, m) => m,
        }
    }
}

impl TrySendError {
    /// The message that was not sent.
    pub fn into_inner(self) -> Bytes {
        match self {
            TrySendError::Full(m)
            | TrySendError::Closed(m)
            | TrySendError::UnknownChannel(_, m) => m,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Timeout(m) => write!(f, "send timed out ({} byte message)", m.len()),
            SendError::Closed(m) => write!(f, "connection closed ({} byte message)", m.len()),
            SendError::UnknownChannel(ch, m) => {
                write!(f, "unknown channel {ch:#04x} ({} byte message)", m.len())
            }
        }
    }
}

impl fmt::Display for TrySendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(m) => write!(f, "send queue full ({} byte message)", m.len()),
            TrySendError::Closed(m) => write!(f, "connection closed ({} byte message)", m.len()),
            TrySendError::UnknownChannel(ch, m) => {
                write!(f, "unknown channel {ch:#04x} ({} byte message)", m.len())
            }
        }
    }
}

impl std::error::Error for SendError {}
impl std::error::Error for TrySendError {}
