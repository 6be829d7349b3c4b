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
///
/// A callback that blocks holds up its worker (and so every peer and channel routed to
/// it) and makes its peer's messages wait, which is back-pressure; one that never
/// returns also holds up [`Switch::stop`](super::Switch::stop). For a reactor that
/// hands everything to a channel, use [`ChannelReactor`](super::ChannelReactor).
///
/// # Example
///
/// An echo service: every message on channel `0x20` goes back to its sender, and a
/// peer that sends an empty message is disconnected.
///
/// ```
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use mconn::{ChannelDescriptor, ChannelId, Error, Peer, Reactor};
///
/// struct Echo;
///
/// impl Reactor for Echo {
///     fn channels(&self) -> Vec<ChannelDescriptor> {
///         // Priority 5; up to 64 messages queued for each peer.
///         vec![ChannelDescriptor::new(0x20, 5).send_queue_capacity(64)]
///     }
///     fn add_peer(&self, peer: &Arc<Peer>) {
///         log::info!("{} joined from {}", peer.id(), peer.remote_addr());
///     }
///     fn receive(&self, ch: ChannelId, peer: &Arc<Peer>, msg: Bytes) {
///         if msg.is_empty() {
///             peer.disconnect("sent an empty message");
///         } else if let Err(e) = peer.try_send(ch, msg) {
///             // Never blocks a worker; the message comes back in the error.
///             let why = e.to_string();
///             let msg = e.into_inner();
///             log::warn!("{}: echo of {} bytes dropped: {why}", peer.id(), msg.len());
///         }
///     }
///     fn remove_peer(&self, peer: &Arc<Peer>, reason: &Error) {
///         log::info!("{} left: {reason}", peer.id());
///     }
/// }
/// # let _ = Echo.channels();
/// ```
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
