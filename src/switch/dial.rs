//! Dialling: a TCP connect the switch's stop can abandon, then admission. Every failed
//! dial is also a [`SwitchEvent::DialFailed`]. (Persistent peers' redials are in
//! `persistent.rs`.)

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use crossbeam_channel::{bounded, select};

use super::counters::Count;
use super::events::SwitchEvent;
use super::peer::Peer;
use super::state::SwitchState;
use crate::error::{io_at, Error, RejectReason};
use crate::node_id::ExpectedId;
use crate::peer_id::PeerId;
use crate::rng::Rng;
use crate::threads;

impl SwitchState {
    /// Connects to `addr` within `dial_timeout` and admits it as an outbound peer.
    pub(super) fn dial(
        self: &Arc<Self>,
        addr: SocketAddr,
        persistent: bool,
        expected: Option<ExpectedId>,
    ) -> Result<Arc<Peer>, Error> {
        self.dial_learning(addr, persistent, expected, &mut None)
    }

    /// [`dial`](Self::dial), setting `learned` to the peer's id as soon as the handshake
    /// tells it (even if the peer is then refused, say as a duplicate). A failure is
    /// also an event, unless the switch is stopping.
    pub(super) fn dial_learning(
        self: &Arc<Self>,
        addr: SocketAddr,
        persistent: bool,
        expected: Option<ExpectedId>,
        learned: &mut Option<PeerId>,
    ) -> Result<Arc<Peer>, Error> {
        self.counters().add(Count::Dial, "");
        let result = self.try_dial(addr, persistent, expected, learned);
        if let Err(e) = &result {
            if !matches!(e, Error::Stopped) {
                self.counters().add_error(Count::DialFailed, "", e);
                if matches!(e, Error::Rejected(_)) {
                    self.counters().add_error(Count::Refused, "outbound", e);
                }
                self.events().emit(SwitchEvent::DialFailed {
                    addr,
                    persistent,
                    reason: e.clone(),
                });
            }
        }
        result
    }

    fn try_dial(
        self: &Arc<Self>,
        addr: SocketAddr,
        persistent: bool,
        expected: Option<ExpectedId>,
        learned: &mut Option<PeerId>,
    ) -> Result<Arc<Peer>, Error> {
        self.ensure_started()?;
        if self.is_closing() {
            return Err(Error::Stopped);
        }
        let (outbound, _) = self.peers().counts();
        if outbound >= self.config().max_outbound_peers {
            return Err(Error::Rejected(RejectReason::TooManyOutbound));
        }
        // Until admitted (in the peer set) or failed.
        let _in_flight = self.dials_in_flight().enter(addr);
        let stream = self.connect(addr)?;
        self.admit(stream, true, persistent, expected, learned)
    }

    /// Dials each of `seeds` on a short-lived thread of its own, in random order.
    pub(super) fn dial_seeds(self: &Arc<Self>, mut seeds: Vec<SocketAddr>) -> Result<(), Error> {
        self.ensure_started()?;
        if self.is_closing() {
            return Err(Error::Stopped);
        }
        // The order matters only so that every node does not try the same seed first.
        Rng::from_clock(seeds.len() as u64).shuffle(&mut seeds);
        for addr in seeds {
            let state = self.clone();
            self.owned_threads()
                .spawn_short_lived("mconn-seed", None, move || {
                    let _ = state.dial(addr, false, None);
                })?;
        }
        Ok(())
    }

    /// A TCP connect within `dial_timeout`, on a short-lived thread of its own so that
    /// `stop` never waits for it: a stopping switch abandons the connect (the thread
    /// ends when the connect does, within `dial_timeout` or the system's own limit, and
    /// closes what it got).
    fn connect(&self, addr: SocketAddr) -> Result<TcpStream, Error> {
        let (tx, rx) = bounded(1);
        let timeout = self.config().dial_timeout;
        threads::spawn("mconn-connect", Some(CONNECT_STACK), move || {
            let _ = tx.send(TcpStream::connect_timeout(&addr, timeout));
        })?;
        select! {
            recv(rx) -> r => match r {
                Ok(r) => r.map_err(|e| io_at(format!("connecting to {addr}"), e)),
                Err(_) => Err(Error::Malformed("the connect thread ended without a result".into())),
            },
            recv(self.stop_signal()) -> _ => Err(Error::Stopped),
        }
    }
}

/// Stack of the short-lived connect threads.
const CONNECT_STACK: usize = 64 * 1024;
