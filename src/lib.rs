//! mconn: Tendermint's multiplex connection for synchronous Rust programs.
//!
//! This crate speaks the go-wire-era Tendermint p2p wire protocol byte for byte.
//! See the README for the status of each part.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod conn;
pub mod error;

pub use conn::wire;
pub use error::{ChannelId, Error, RejectReason, SendError, TrySendError};
