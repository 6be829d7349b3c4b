//! The [`Switch`]'s methods that open connections: listening, dialling once, pinned to
//! an id, persistently (and stopping that), and seeds.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use super::{Peer, Switch};
use crate::error::Error;
use crate::node_id::ExpectedId;

impl Switch {
    /// Listens on `addr` (port 0 picks one) on an accept thread of its own; several
    /// listeners are allowed. Returns the bound address. Starts the switch if needed.
    pub fn listen(&self, addr: impl ToSocketAddrs) -> Result<SocketAddr, Error> {
        self.state().listen(resolve(addr)?)
    }

    /// Connects to `addr` (within `dial_timeout`), handshakes (within
    /// `handshake_timeout`) and returns the running peer once every reactor's `add_peer`
    /// returned. Errors say why: [`Error::Io`] (unreachable),
    /// [`Error::HandshakeTimeout`], or [`Error::Rejected`] with the reason
    /// ([`Duplicate`](crate::error::RejectReason::Duplicate) if a connection to that node
    /// already stands and ranks better; see the README's Guarantees).
    ///
    /// If the new connection replaces a worse-ranked one to the same node, its
    /// `add_peer` calls wait for the old one's `remove_peer` to return. From inside a
    /// callback, `dial` returns as soon as the peer is running and in the peer set; its
    /// `add_peer` calls follow on a worker after the callback returns (they could need
    /// the very thread that is waiting).
    pub fn dial(&self, addr: impl ToSocketAddrs) -> Result<Arc<Peer>, Error> {
        self.state().dial(resolve(addr)?, false, None)
    }

    /// Like [`dial`](Self::dial), but the peer must be `id` (its public key, a
    /// [`PeerId`](crate::PeerId), or its CometBFT [`NodeId`](crate::NodeId); both parse
    /// from text as [`ExpectedId`]): with encryption on, the key it proves must be `id`,
    /// or it is refused with
    /// [`RejectReason::KeyMismatch`](crate::error::RejectReason::KeyMismatch). (Without
    /// encryption the id is only what the peer claims.)
    pub fn dial_expecting(
        &self,
        addr: impl ToSocketAddrs,
        id: impl Into<ExpectedId>,
    ) -> Result<Arc<Peer>, Error> {
        self.state().dial(resolve(addr)?, false, Some(id.into()))
    }

    /// Keeps a connection to `addr`: dials it now and again whenever it drops, on the
    /// [`ReconnectSchedule`](super::ReconnectSchedule), until the switch stops, [`stop_redialling`] is called, or
    /// the schedule is used up ([`SwitchEvent::PersistentGivenUp`](super::SwitchEvent::PersistentGivenUp); each failed attempt
    /// is a [`SwitchEvent::DialFailed`](super::SwitchEvent::DialFailed)). Returns at once. Starts the switch if needed.
    ///
    /// Errors: [`Error::InvalidConfig`] if `addr` is being redialled already.
    ///
    /// [`stop_redialling`]: Self::stop_redialling
    pub fn dial_persistent(&self, addr: impl ToSocketAddrs) -> Result<(), Error> {
        self.state().dial_persistent(resolve(addr)?, None)
    }

    /// Stops redialling `addr` (as [`dial_persistent`](Self::dial_persistent) resolved
    /// it): a pause or wait ends now, a dial in progress finishes, and a peer connected
    /// through it stays connected but is not redialled when it drops. True if `addr`
    /// was being redialled.
    pub fn stop_redialling(&self, addr: impl ToSocketAddrs) -> Result<bool, Error> {
        Ok(self.state().persistent().cancel(resolve(addr)?))
    }

    /// Dials every seed at once, in random order, each on a short-lived thread of its
    /// own (Go's `DialSeeds`), and returns: a seed that answers becomes a peer like any
    /// dialled one (reactors see `add_peer`; a discovery reactor then asks it for
    /// addresses), one that does not is a [`SwitchEvent::DialFailed`](crate::SwitchEvent).
    /// Starts the switch if needed.
    ///
    /// Errors: a seed that does not resolve (nothing is dialled then), or
    /// [`Error::Stopped`].
    pub fn dial_seeds<A: ToSocketAddrs>(
        &self,
        seeds: impl IntoIterator<Item = A>,
    ) -> Result<(), Error> {
        let addrs = seeds
            .into_iter()
            .map(resolve)
            .collect::<Result<Vec<_>, _>>()?;
        self.state().dial_seeds(addrs)
    }

    /// Like [`dial_persistent`](Self::dial_persistent), but the node at `addr` must be
    /// `id` (as in [`dial_expecting`](Self::dial_expecting)): another node answering
    /// there is refused and redialled on the schedule, never added.
    pub fn dial_persistent_expecting(
        &self,
        addr: impl ToSocketAddrs,
        id: impl Into<ExpectedId>,
    ) -> Result<(), Error> {
        let id = id.into();
        if id.matches(&self.id()) {
            return Err(Error::InvalidConfig(
                "dial_persistent_expecting: the id is this switch's own".into(),
            ));
        }
        self.state().dial_persistent(resolve(addr)?, Some(id))
    }
}

fn resolve(addr: impl ToSocketAddrs) -> Result<SocketAddr, Error> {
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "address resolved to nothing",
        ))
    })
}
