//! [`ChannelReactor`]: a ready-made reactor that turns its channels' messages and its
//! peers' arrivals and departures into [`Event`]s on one bounded crossbeam channel, for
//! programs built around a `select!` loop instead of callbacks.

use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::{bounded, select, Receiver, Sender, TrySendError};

use super::peer::Peer;
use super::reactor::Reactor;
use crate::conn::{ChannelDescriptor, MAX_QUEUE_CAPACITY};
use crate::error::{ChannelId, Error};

/// What a [`ChannelReactor`] delivers. For one peer, `PeerAdded` comes first, its
/// messages on one channel in order, and `PeerRemoved` last (the order of the
/// [`Reactor`] callbacks).
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A peer joined (its `add_peer`).
    PeerAdded(Arc<Peer>),
    /// A complete message from `peer` on `channel`.
    Message {
        /// Who sent it.
        peer: Arc<Peer>,
        /// The channel it came on.
        channel: ChannelId,
        /// The message.
        msg: Bytes,
    },
    /// A peer left, for `reason` (its `remove_peer`).
    PeerRemoved {
        /// The peer.
        peer: Arc<Peer>,
        /// Why it left.
        reason: Error,
    },
}

/// A [`Reactor`] that owns some channels and hands everything that happens on them to a
/// bounded [`Receiver<Event>`](crate::Receiver), to read from any thread (a `select!`
/// loop, say).
///
/// Back-pressure is a hand-written reactor's: while the receiver is full, the dispatch
/// worker waits to deliver, the peer's dispatch budget fills, and that peer's connection
/// stops reading, so a peer that sends faster than the application reads is slowed
/// down, never buffered without bound. Nothing is dropped while the switch runs; once
/// it stops (and only then), an event that does not fit is dropped, so
/// [`Switch::stop`](crate::Switch::stop) never waits for a reader that is gone. A
/// receiver that is dropped makes every later event a no-op. The receiver disconnects
/// when the switch is dropped (its last handle), not at `stop`.
///
/// **Do not [`dial`](crate::Switch::dial) from the thread that reads the receiver while
/// it may be full.** `dial` returns once every reactor's `add_peer` has run, and this
/// reactor's `add_peer` waits for room in the receiver, which only that thread makes:
/// the two wait for each other until the switch stops. Dial from another thread, or use
/// [`dial_persistent`](crate::Switch::dial_persistent), which returns at once (the peer
/// then arrives as [`Event::PeerAdded`]).
///
/// ```
/// use mconn::{ChannelDescriptor, ChannelReactor, Event, NodeInfo, Switch, SwitchConfig};
///
/// # fn main() -> Result<(), mconn::Error> {
/// let (reactor, events) = ChannelReactor::new(vec![ChannelDescriptor::new(0x40, 1)], 64);
/// let switch = Switch::new(SwitchConfig::default(), NodeInfo::new("example", "my-net"))?;
/// switch.add_reactor("app", reactor)?;
/// # let _ = switch.listen("127.0.0.1:0")?;
/// // In the application's loop (usually in a `select!` with its other channels):
/// while let Ok(event) = events.try_recv() {
///     match event {
///         Event::PeerAdded(peer) => println!("{} joined", peer.id()),
///         Event::Message { peer, channel, msg } => {
///             // Answer on the same channel.
///             let _ = peer.try_send(channel, msg);
///         }
///         Event::PeerRemoved { peer, reason } => println!("{} left: {reason}", peer.id()),
///         _ => {}
///     }
/// }
/// switch.stop();
/// # Ok(())
/// # }
/// ```
pub struct ChannelReactor {
    channels: Vec<ChannelDescriptor>,
    tx: Sender<Event>,
}

impl ChannelReactor {
    /// A reactor for `channels` whose events wait in a channel of `capacity` (clamped to
    /// 1..=65 536: the slots are allocated up front), and the receiver to read them
    /// from. Add it with [`Switch::add_reactor`](crate::Switch::add_reactor).
    pub fn new(channels: Vec<ChannelDescriptor>, capacity: usize) -> (Arc<Self>, Receiver<Event>) {
        let (tx, rx) = bounded(capacity.clamp(1, MAX_QUEUE_CAPACITY));
        (Arc::new(ChannelReactor { channels, tx }), rx)
    }

    /// Hands `event` over, waiting while the receiver is full, until the switch stops.
    fn deliver(&self, peer: &Peer, event: Event) {
        match self.tx.try_send(event) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(event)) => {
                select! {
                    send(self.tx, event) -> _ => {}
                    recv(peer.switch_stopping) -> _ => {}
                }
            }
        }
    }
}

impl Reactor for ChannelReactor {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        self.channels.clone()
    }

    fn add_peer(&self, peer: &Arc<Peer>) {
        self.deliver(peer, Event::PeerAdded(peer.clone()));
    }

    fn remove_peer(&self, peer: &Arc<Peer>, reason: &Error) {
        self.deliver(
            peer,
            Event::PeerRemoved {
                peer: peer.clone(),
                reason: reason.clone(),
            },
        );
    }

    fn receive(&self, channel: ChannelId, peer: &Arc<Peer>, msg: Bytes) {
        self.deliver(
            peer,
            Event::Message {
                peer: peer.clone(),
                channel,
                msg,
            },
        );
    }
}
