//! mconn: Tendermint's multiplex connection for synchronous Rust programs.
//!
//! This crate speaks the go-wire-era Tendermint p2p wire protocol byte for byte.
//! See the README for the status of each part.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod conn;
pub mod error;
#[cfg(feature = "secret-connection")]
pub mod secret;
pub mod switch;

pub use conn::wire;
pub use conn::{
    ChannelDescriptor, ChannelStatus, ConnectionStatus, MConnConfig, MConnection, Transport,
    WeakMConnection,
};
pub use error::{ChannelId, Error, RejectReason, SecretError, SendError, TrySendError};
#[cfg(feature = "secret-connection")]
pub use secret::SecretConnection;
pub use switch::{
    BroadcastResult, NodeInfo, NodeKey, Peer, PeerId, Reactor, ReconnectSchedule, Switch,
    SwitchConfig, WeakSwitch,
};

/// Compile-time checks that handles can be shared between threads.
#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<MConnection>();
    is::<Switch>();
    is::<WeakSwitch>();
    is::<Peer>();
    is::<WeakMConnection>();
    is::<Error>();
    is::<SendError>();
    is::<TrySendError>();
}
