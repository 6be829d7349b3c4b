//! The [`Reactor`] trait: what handles the messages of a set of channels.

use std::sync::Arc;

use bytes::Bytes;

use super::peer::Peer;
use crate::conn::ChannelDescriptor;
use crate::error::{ChannelId, Error};

/// Handles the messages of the channels it declares. Every callback runs on a dispatch
/// worker (normal-size stack). For one peer, `add_peer` returns before the first
/// `receive`, `receive` calls on one channel come in order, and `remove_peer` comes
/// once, after every `receive` of that peer. A panicking callback is logged and stops
/// that peer; the switch goes on.
///
/// A reactor that needs the switch (to broadcast, or to stop peers) should keep a
/// [`WeakSwitch`](super::WeakSwitch) from [`Switch::downgrade`](super::Switch::downgrade),
/// so the switch and its reactors do not keep each other alive.
pub trait Reactor: Send + Sync + 'static {
    /// The channels this reactor owns. No two reactors may claim one id.
    fn channels(&self) -> Vec<ChannelDescriptor>;

    /// A peer joined; it is in the peer set and its connection was running when it was
    /// admitted (if the connection failed since, `remove_peer` follows).
    fn add_peer(&self, _peer: &Arc<Peer>) {}

    /// A peer left, for `reason`. Called exactly once per peer that was added.
    fn remove_peer(&self, _peer: &Arc<Peer>, _reason: &Error) {}

    /// A complete message from `peer` on channel `ch`.
    fn receive(&self, ch: ChannelId, peer: &Arc<Peer>, msg: Bytes);
}
