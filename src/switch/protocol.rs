//! The protocol seam on the switch's side: how a connected socket becomes an
//! authenticated, handshaken connection, for one protocol family. A family is a
//! [`Protocol`]: its packet codec (the connection's side of the seam) and its
//! [`Handshake`] (the secure transport, if any, and the node-info exchange). Admission,
//! the threads, the scheduler, the dispatch pool and the lifecycle are the same for all.
//!
//! Tendermint v0.12 ([`Protocol::tendermint_v012`], the default) is the first family:
//! `tendermint_v012.rs` puts it together from `handshake.rs` (its node-info exchange) and
//! `crate::secret` (its SecretConnection).

use std::fmt;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::message_types::MessageTypes;
use super::node_info::NodeInfo;
use crate::conn::codec::Codec;
use crate::error::Error;
use crate::node_key::NodeKey;
use crate::transport::Transport;

/// What a handshake is given.
#[derive(Debug)]
#[non_exhaustive]
pub struct HandshakeSetup<'a> {
    /// Our NodeInfo, to send.
    pub ours: &'a NodeInfo,
    /// Our node key, to authenticate with.
    pub key: &'a NodeKey,
    /// When the whole handshake must be over (every read and write bounded by it).
    pub deadline: Instant,
    /// Whether we dialled.
    pub outbound: bool,
    /// Whether to encrypt and authenticate (`SwitchConfig::auth_enc`).
    pub encrypt: bool,
    /// The write timeout the connection's transport should have (the connection's
    /// `send_timeout`; a transport clamps it as [`Transport::tcp`] does).
    pub write_timeout: Duration,
}

/// What a handshake yields.
#[derive(Debug)]
#[non_exhaustive]
pub struct Handshaken {
    /// The NodeInfo the peer sent (checked by the switch afterwards: id, network,
    /// version, limits).
    pub theirs: NodeInfo,
    /// The stream the peer's connection runs over.
    pub transport: Transport,
    /// The public key the transport authenticated, if it authenticates: the switch
    /// refuses a peer whose NodeInfo claims another.
    pub authenticated: Option<[u8; 32]>,
    /// Bytes both ends compute alike for this connection (a shared secret's digest, or
    /// the dialler's and listener's addresses): when two connections between the same
    /// nodes meet, both ends keep the one with the lower key.
    pub rank_key: Vec<u8>,
}

impl Handshaken {
    /// A handshake's result (the fields are public to read; this builds one).
    pub fn new(
        theirs: NodeInfo,
        transport: Transport,
        authenticated: Option<[u8; 32]>,
        rank_key: Vec<u8>,
    ) -> Self {
        Handshaken {
            theirs,
            transport,
            authenticated,
            rank_key,
        }
    }
}

/// How one protocol family turns a connected socket into a handshaken connection.
///
/// Runs on the thread that admits the connection (a handshake thread for an inbound one,
/// the dialling thread for an outbound one). It gets the socket with read and write
/// timeouts already set to the time left before `setup.deadline`; a family that changes
/// them must still finish by the deadline. It must fail cleanly on anything the peer
/// sends; a panic becomes `Error::Panicked`. The switch shuts the socket down to end it
/// early (stop, or eviction by newer inbound handshakes). With `setup.encrypt` it must
/// authenticate the peer's key (`Handshaken::authenticated`): the switch refuses a peer
/// it did not.
pub trait Handshake: Send + Sync + 'static {
    /// Runs the handshake over `stream`.
    fn run(&self, stream: TcpStream, setup: &HandshakeSetup<'_>) -> Result<Handshaken, Error>;

    /// Whether a switch can send `ours` as its NodeInfo (checked by `Switch::new`, and
    /// again once the reactors' channels are filled in, at the first `listen` or dial);
    /// the error says why not. The default is Tendermint v0.12's rule: a `major.minor.patch` version, a
    /// network, and an encoding within [`NodeInfo::MAX_SIZE`].
    fn check_ours(&self, ours: &NodeInfo) -> Result<(), String> {
        ours.check_own()
    }

    /// Whether a peer that sent `theirs` can be ours (we sent `ours`); the error says
    /// why not. The default is Tendermint v0.12's rule ([`NodeInfo::compatible_with`]).
    fn compatible(&self, ours: &NodeInfo, theirs: &NodeInfo) -> Result<(), String> {
        ours.compatible_with(theirs)
    }
}

/// A protocol family: its packet codec and its handshake. Chosen by
/// [`SwitchConfig::protocol`](super::config::SwitchConfig::protocol).
#[derive(Clone)]
pub struct Protocol {
    name: &'static str,
    codec: Codec,
    handshake: Arc<dyn Handshake>,
    /// Whether its handshake can authenticate in this build (`auth_enc`).
    pub(super) authenticates: bool,
    /// Whether it has no plain mode (`auth_enc` must stay on).
    pub(super) encrypted_only: bool,
    /// Its messages' types, for the metrics, if its messages name them.
    message_types: Option<MessageTypes>,
}

impl Protocol {
    /// A family from its parts.
    pub fn new(name: &'static str, codec: Codec, handshake: impl Handshake) -> Self {
        Protocol {
            name,
            codec,
            handshake: Arc::new(handshake),
            authenticates: true,
            encrypted_only: false,
            message_types: None,
        }
    }

    /// This family with no plain mode: a switch refuses `auth_enc(false)` with it.
    #[cfg_attr(not(feature = "cometbft"), allow(dead_code))]
    pub(crate) fn encrypted_only(mut self) -> Self {
        self.encrypted_only = true;
        self
    }

    /// This family with a table of its messages' types (counted by the metrics).
    #[cfg_attr(not(feature = "cometbft"), allow(dead_code))]
    pub(crate) fn with_message_types(mut self, types: MessageTypes) -> Self {
        self.message_types = Some(types);
        self
    }

    /// Its messages' types, if it names them.
    pub(super) fn message_types(&self) -> Option<MessageTypes> {
        self.message_types
    }

    /// The family's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The packet codec its connections use.
    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    /// Whether the family can authenticate peers in this build (a family made with
    /// [`new`](Self::new) is trusted to; the switch still refuses a peer it did not).
    pub(super) fn authenticates(&self) -> bool {
        self.authenticates
    }

    pub(super) fn handshake(&self) -> &dyn Handshake {
        &*self.handshake
    }

    /// [`Handshake::check_ours`], as the error a switch returns.
    pub(super) fn check_ours(&self, ours: &NodeInfo) -> Result<(), Error> {
        self.handshake
            .check_ours(ours)
            .map_err(Error::InvalidConfig)
    }
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol::tendermint_v012()
    }
}

impl fmt::Debug for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Protocol({})", self.name)
    }
}
