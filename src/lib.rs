//! mconn: Tendermint's peer-to-peer multiplex connection for synchronous Rust programs.
//!
//! mconn speaks the go-wire-era Tendermint p2p protocol (v0.12) byte for byte: many
//! prioritised channels over one TCP connection ([`MConnection`]), the encrypted,
//! authenticated transport Go nodes of that era use (`SecretConnection`, feature
//! `secret-connection`, on by default), and the [`Switch`] that accepts and dials peers and
//! hands their messages to [`Reactor`]s. No async runtime: every connection owns two OS
//! threads and every call blocks in a documented, bounded way.
//!
//! # Quick start
//!
//! Two nodes on loopback; one sends, the other's reactor receives.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use bytes::Bytes;
//! use crossbeam_channel::{unbounded, Sender};
//! use mconn::{ChannelDescriptor, ChannelId, NodeInfo, Peer, Reactor, Switch, SwitchConfig};
//!
//! struct Echo(Sender<Bytes>);
//!
//! impl Reactor for Echo {
//!     fn channels(&self) -> Vec<ChannelDescriptor> {
//!         vec![ChannelDescriptor::new(0x01, 1)]
//!     }
//!     fn receive(&self, _ch: ChannelId, _peer: &Arc<Peer>, msg: Bytes) {
//!         self.0.send(msg).unwrap();
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (tx, rx) = unbounded();
//! let alice = Switch::new(SwitchConfig::default(), NodeInfo::new("alice", "demo"))?;
//! alice.add_reactor("echo", Arc::new(Echo(tx)))?;
//! let addr = alice.listen("127.0.0.1:0")?;
//!
//! let bob = Switch::new(SwitchConfig::default(), NodeInfo::new("bob", "demo"))?;
//! bob.add_reactor("echo", Arc::new(Echo(unbounded().0)))?;
//! let peer = bob.dial(addr)?; // handshake done, peer running
//! peer.send(0x01, "hello")?;
//! assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "hello");
//! bob.stop();
//! alice.stop();
//! # Ok(()) }
//! ```
//!
//! # Layers
//!
//! See ARCHITECTURE.md in the repository for the map of every file.
//!
//! * [`MConnection`] over any [`Transport`], usable on its own; [`wire`] holds the
//!   go-wire primitives and packets, [`protocol`] the seam where a protocol family's packet
//!   format plugs in.
//! * [`SecretConnection`] (feature `secret-connection`): the encrypted, authenticated
//!   transport of Tendermint v0.12.
//! * [`Switch`], [`Peer`], [`Reactor`], [`NodeInfo`]: peers found, handshaken and
//!   dispatched to the reactors that own their channels. [`ChannelReactor`] hands them
//!   to a channel instead (for `select!` loops), and [`Switch::events`] reports what
//!   the switch did on its own ([`SwitchEvent`]).
//! * [`NodeKey`]: a node's identity, kept in a `node_key.json` file.
//!
//! # Threads and blocking
//!
//! A connection owns `mconn-send` and `mconn-recv`; a switch owns accept, handshake,
//! worker, lifecycle and redial threads (see [`Switch`]). `send` blocks up to
//! `send_timeout`; `try_send` never blocks; `stop` joins the threads it owns and is safe
//! from inside callbacks. Handles are `Send + Sync` and cheap to clone; dropping the last
//! one stops what it owns.
//!
//! # Logging
//!
//! Through the `log` facade; the crate never installs a logger. WARN: a peer misbehaved
//! (protocol violation, failed authentication), a reactor panicked, accept failed, a
//! persistent peer was given up. INFO: peers added, refused and removed; listening;
//! stopping. DEBUG: other state changes. TRACE: every packet.

// No unsafe code, with one exception that `forbid` would not let through:
// `cipher::backend` calls the AVX2 and AVX-512 Salsa20 cores (`#[target_feature]`
// functions) after run-time CPU detection, one `unsafe` block per call, each argued in a
// `// SAFETY:` comment. tests/layout.rs keeps every other file free of `unsafe`.
#![deny(unsafe_code)]
// docs.rs (nightly) shows which items need a feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod atomic_file;
// The fast secretbox that seals Tendermint v0.12's SecretConnection frames.
#[cfg(feature = "secret-connection")]
mod cipher;
// The node key file's encodings (the only reader of them so far).
mod base64;
#[cfg(feature = "cometbft")]
#[cfg_attr(docsrs, doc(cfg(feature = "cometbft")))]
pub mod cometbft;
mod conn;
mod error;
mod gowire;
mod json;
mod latch;
mod node_id;
mod node_key;
mod peer_id;
pub mod pex;
mod rng;
// The sealed-frame engine both SecretConnections share.
#[cfg(any(feature = "secret-connection", feature = "cometbft"))]
mod sealed_stream;
#[cfg(feature = "secret-connection")]
mod secret;
mod send_error;
mod switch;
#[cfg(all(test, any(feature = "secret-connection", feature = "cometbft")))]
mod test_support;
mod threads;
mod time;
mod transport;

pub use bytes;
pub use conn::wire;
pub use conn::{
    ChannelDescriptor, ChannelStatus, ConnectionStatus, MConnConfig, MConnection, Transport,
    WeakMConnection,
};
pub use crossbeam_channel::Receiver;
pub use error::{ChannelId, Error, RejectReason, SecretError};
pub use node_id::{ExpectedId, NodeId};
pub use node_key::NodeKey;
pub use peer_id::PeerId;
/// The Prometheus client crate [`Switch::register_metrics`] registers in (feature
/// `metrics`), re-exported so its version always matches.
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use prometheus_client;
#[cfg(feature = "secret-connection")]
#[cfg_attr(docsrs, doc(cfg(feature = "secret-connection")))]
pub use secret::{SecretConnection, SecretReader, SecretWriter};
pub use send_error::{SendError, TrySendError};
pub use switch::{
    BroadcastResult, ChannelReactor, Event, NodeInfo, Peer, ProtocolVersion, Reactor,
    ReconnectSchedule, Switch, SwitchConfig, SwitchEvent, WeakSwitch,
};

pub mod protocol {
    //! The seam where a protocol family plugs in. A family is a [`Protocol`]: a
    //! [`PacketCodec`] (how pings, pongs and message chunks look on the wire) and a
    //! [`Handshake`] (how a connected socket becomes an authenticated connection with the
    //! peer's [`NodeInfo`](crate::NodeInfo)). Everything else (threads, scheduler,
    //! reassembly, limits, dispatch, lifecycle) is shared. Tendermint v0.12
    //! ([`Protocol::tendermint_v012`], with [`GoWire`] packets) is the default; choose
    //! another with [`SwitchConfig::protocol`](crate::SwitchConfig::protocol) (a switch's
    //! connections use its protocol's codec), or, for a standalone connection, a codec
    //! with [`MConnConfig::codec`](crate::MConnConfig::codec).
    pub use crate::conn::codec::{Codec, Decoded, GoWire, PacketCodec};
    pub use crate::switch::{Handshake, HandshakeSetup, Handshaken, Protocol};
}

/// The pure receive step, reachable only from the fuzz targets (cargo-fuzz builds with
/// `--cfg fuzzing`); not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    #[cfg(feature = "cometbft")]
    pub use crate::cometbft::delimited::read_delimited;
    #[cfg(feature = "cometbft")]
    pub use crate::cometbft::node_info::{decode as decode_node_info, MAX_NODE_INFO_SIZE};
    pub use crate::conn::inbox::{Event, Inbox, Step};
    #[cfg(feature = "cometbft")]
    pub use crate::pex::proto::{decode as decode_cometbft_pex, encode as encode_cometbft_pex};
}

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

/// The README's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
