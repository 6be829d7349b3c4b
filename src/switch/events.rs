//! The switch's event stream: what happened that no call returned to the application
//! (an inbound connection refused, a persistent peer's dial failing or given up), for a
//! `select!` loop. Delivered on bounded channels the switch never waits on: when a
//! subscriber's channel is full the event is counted, not queued, and the count arrives
//! as [`SwitchEvent::Lost`] just before the next event that finds room for both.

use std::net::SocketAddr;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use crate::conn::MAX_QUEUE_CAPACITY;
use crate::error::Error;

/// Something the switch did on its own threads that the application may want to act on.
/// Subscribe with [`Switch::events`](crate::Switch::events).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use mconn::{ChannelDescriptor, ChannelReactor, NodeInfo, Switch, SwitchConfig, SwitchEvent};
///
/// # fn main() -> Result<(), mconn::Error> {
/// let switch = Switch::new(SwitchConfig::default(), NodeInfo::new("watcher", "demo-net"))?;
/// let (reactor, _messages) = ChannelReactor::new(vec![ChannelDescriptor::new(0x40, 1)], 16);
/// switch.add_reactor("app", reactor)?;
/// let events = switch.events(64);
/// # let nobody = std::net::TcpListener::bind("127.0.0.1:0").map_err(mconn::Error::Io)?;
/// # let addr = nobody.local_addr().map_err(mconn::Error::Io)?;
/// # drop(nobody);
/// assert!(switch.dial(addr).is_err()); // nothing listens there
/// match events.recv_timeout(Duration::from_secs(10)) {
///     Ok(SwitchEvent::DialFailed { addr: a, reason, .. }) => {
///         assert_eq!(a, addr);
///         println!("{reason}"); // "i/o error: connecting to 127.0.0.1:…: Connection refused"
///     }
///     Ok(SwitchEvent::PersistentGivenUp { addr, .. }) => println!("gave up on {addr}"),
///     Ok(SwitchEvent::InboundRefused { addr, reason }) => println!("refused {addr}: {reason}"),
///     other => println!("{other:?}"),
/// }
/// switch.stop();
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SwitchEvent {
    /// An inbound connection did not become a peer: a filter, a limit, a duplicate, a
    /// failed or timed-out handshake. (Refusals of our own dials are
    /// [`DialFailed`](Self::DialFailed).)
    InboundRefused {
        /// The address it came from.
        addr: SocketAddr,
        /// Why (often [`Error::Rejected`] with the reason).
        reason: Error,
    },
    /// One of our dials did not produce a peer: unreachable, refused (then `reason` is
    /// [`Error::Rejected`]), a failed handshake. Reported for every dial, persistent
    /// redials included; `dial` also returns it.
    DialFailed {
        /// The address dialled.
        addr: SocketAddr,
        /// Whether it was a persistent peer's dial (the switch will try again on the
        /// reconnect schedule unless this was the last attempt).
        persistent: bool,
        /// Why.
        reason: Error,
    },
    /// A persistent peer's reconnect schedule is used up: the switch no longer dials
    /// `addr`. Call [`Switch::dial_persistent`](crate::Switch::dial_persistent) again to
    /// start over.
    PersistentGivenUp {
        /// The address.
        addr: SocketAddr,
        /// Dials attempted since the last time it was connected.
        attempts: u32,
    },
    /// The subscriber's channel was full: this many events were dropped. Delivered just
    /// before the next event that finds room for both (so a count is reported only once
    /// another event comes).
    Lost {
        /// How many.
        count: u64,
    },
}

/// One subscriber: its channel and the events it missed since its last delivery.
struct Subscriber {
    tx: Sender<SwitchEvent>,
    lost: u64,
}

/// The switch's subscribers; none once the switch stopped.
#[derive(Default)]
pub(super) struct Events {
    subscribers: Mutex<Subscribers>,
}

#[derive(Default)]
struct Subscribers {
    list: Vec<Subscriber>,
    closed: bool,
}

impl Events {
    /// A new subscriber's receiver, holding `capacity` events clamped to
    /// 2..=[`MAX_QUEUE_CAPACITY`] (room for a [`SwitchEvent::Lost`] and the event after
    /// it; slots are allocated up front). Once the switch stopped, the receiver is
    /// disconnected at once.
    pub(super) fn subscribe(&self, capacity: usize) -> Receiver<SwitchEvent> {
        let (tx, rx) = bounded(capacity.clamp(2, MAX_QUEUE_CAPACITY));
        let mut subs = self.subscribers.lock();
        if !subs.closed {
            subs.list.push(Subscriber { tx, lost: 0 });
        }
        rx
    }

    /// Offers `event` to every subscriber without waiting; a subscriber that dropped its
    /// receiver is forgotten.
    pub(super) fn emit(&self, event: SwitchEvent) {
        let mut subs = self.subscribers.lock();
        subs.list.retain_mut(|s| offer(s, &event));
    }

    /// The switch stopped: every receiver disconnects once it has read what it holds
    /// (so a `for event in receiver` loop ends), and new ones are born disconnected.
    pub(super) fn close(&self) {
        let mut subs = self.subscribers.lock();
        subs.closed = true;
        subs.list.clear();
    }
}

/// Delivers to one subscriber (first what it lost, if anything); false once it is gone.
/// A count of lost events goes out only together with the event that follows it, so a
/// reader that keeps up from now on sees real events again, not only counts.
fn offer(s: &mut Subscriber, event: &SwitchEvent) -> bool {
    // The switch is the only sender (under the subscribers' lock): the room seen here
    // can only grow before the sends below.
    let room =
        s.tx.capacity()
            .unwrap_or(usize::MAX)
            .saturating_sub(s.tx.len());
    let needed = if s.lost > 0 { 2 } else { 1 };
    if room < needed {
        s.lost = s.lost.saturating_add(1);
        return true;
    }
    if s.lost > 0 {
        if let Err(TrySendError::Disconnected(_)) =
            s.tx.try_send(SwitchEvent::Lost { count: s.lost })
        {
            return false;
        }
        s.lost = 0;
    }
    !matches!(
        s.tx.try_send(event.clone()),
        Err(TrySendError::Disconnected(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RejectReason;

    fn refused(port: u16) -> SwitchEvent {
        SwitchEvent::InboundRefused {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            reason: Error::Rejected(RejectReason::Duplicate),
        }
    }

    fn port(e: &SwitchEvent) -> u16 {
        match e {
            SwitchEvent::InboundRefused { addr, .. } => addr.port(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_full_subscriber_loses_events_counted_never_blocks_the_switch() {
        let events = Events::default();
        let rx = events.subscribe(2);
        for p in 1..=5 {
            events.emit(refused(p));
        }
        assert_eq!(port(&rx.try_recv().unwrap()), 1);
        assert_eq!(port(&rx.try_recv().unwrap()), 2);
        assert!(rx.try_recv().is_err());
        events.emit(refused(6));
        assert!(matches!(
            rx.try_recv().unwrap(),
            SwitchEvent::Lost { count: 3 }
        ));
        assert_eq!(port(&rx.try_recv().unwrap()), 6);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_lost_count_goes_out_only_with_the_event_after_it() {
        let events = Events::default();
        let rx = events.subscribe(1); // raised to 2
        events.emit(refused(1));
        events.emit(refused(2));
        events.emit(refused(3)); // lost: 1
        assert_eq!(port(&rx.try_recv().unwrap()), 1);
        events.emit(refused(4)); // room for one only: lost 2
        assert_eq!(port(&rx.try_recv().unwrap()), 2);
        events.emit(refused(5)); // room for both now
        assert!(matches!(
            rx.try_recv().unwrap(),
            SwitchEvent::Lost { count: 2 }
        ));
        assert_eq!(port(&rx.try_recv().unwrap()), 5);
        events.emit(refused(6));
        assert_eq!(port(&rx.try_recv().unwrap()), 6);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn dropped_receivers_are_forgotten_and_others_still_served() {
        let events = Events::default();
        let gone = events.subscribe(4);
        let kept = events.subscribe(4);
        drop(gone);
        events.emit(refused(1));
        assert_eq!(events.subscribers.lock().list.len(), 1);
        assert_eq!(port(&kept.try_recv().unwrap()), 1);
        // Zero capacity is raised, never a rendezvous channel that drops everything;
        // a huge one is clamped, never allocated.
        let tiny = events.subscribe(0);
        let huge = events.subscribe(usize::MAX);
        assert_eq!(huge.capacity(), Some(MAX_QUEUE_CAPACITY));
        events.emit(refused(2));
        assert_eq!(port(&tiny.try_recv().unwrap()), 2);
    }

    #[test]
    fn closing_disconnects_every_receiver_after_what_it_holds() {
        let events = Events::default();
        let rx = events.subscribe(4);
        events.emit(refused(1));
        events.close();
        events.emit(refused(2));
        assert_eq!(rx.iter().map(|e| port(&e)).collect::<Vec<_>>(), vec![1]);
        let late = events.subscribe(4);
        assert!(late.recv().is_err(), "born disconnected");
    }
}
