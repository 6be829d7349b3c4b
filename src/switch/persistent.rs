//! Persistent peers: the addresses the switch keeps dialled, each with a redial thread
//! on Go's schedule (see [`ReconnectSchedule`](super::config::ReconnectSchedule)), until
//! the switch stops, the application stops redialling it, or the schedule is used up
//! (then a [`SwitchEvent::PersistentGivenUp`]). Which addresses are being redialled is
//! `redials.rs`.

use std::net::SocketAddr;
use std::sync::Arc;

use crossbeam_channel::{select, Receiver};
use log::{debug, info, warn};

use super::events::SwitchEvent;
use super::peer::Peer;
use super::redials::cancelled;
use super::state::SwitchState;
use crate::error::Error;
use crate::node_id::ExpectedId;
use crate::rng::Rng;

impl SwitchState {
    /// Starts the thread that keeps a persistent peer connected.
    pub(super) fn dial_persistent(
        self: &Arc<Self>,
        addr: SocketAddr,
        expected: Option<ExpectedId>,
    ) -> Result<(), Error> {
        self.ensure_started()?;
        if self.is_closing() {
            return Err(Error::Stopped);
        }
        let Some((gen, cancel)) = self.persistent().register(addr) else {
            return Err(Error::InvalidConfig(format!(
                "{addr} is a persistent peer already (stop_redialling it first)"
            )));
        };
        let state = self.clone();
        let spawned = self
            .owned_threads()
            .spawn_short_lived("mconn-persistent", None, move || {
                let gave_up = state.persistent_loop(addr, expected, &cancel);
                // Forgotten before it is said: an application answering the event with
                // `dial_persistent(addr)` must find the address free.
                state.persistent().leave(addr, gen);
                if let Some(attempts) = gave_up {
                    state
                        .events()
                        .emit(SwitchEvent::PersistentGivenUp { addr, attempts });
                }
            });
        if spawned.is_err() {
            self.persistent().leave(addr, gen);
        }
        spawned
    }

    /// Dials `addr` on the schedule until it connects, waits until that peer is removed,
    /// and starts over; ends when the switch stops, `cancel` fires or the schedule is
    /// used up (then returns the attempts made, unless cancelled or stopping meanwhile).
    /// While the node behind `addr` is connected some other way (it dialled us, say), it
    /// waits for that connection to go instead of dialling.
    fn persistent_loop(
        self: &Arc<Self>,
        addr: SocketAddr,
        expected: Option<ExpectedId>,
        cancel: &Receiver<()>,
    ) -> Option<u32> {
        let mut rng = Rng::from_clock(addr.port() as u64);
        let mut known: Option<ExpectedId> = expected;
        loop {
            let mut attempt = 0u32;
            let peer = loop {
                if let Some(other) = known.and_then(|id| self.peer_matching(&id)) {
                    debug!("persistent peer {addr} is connected as {other}; waiting");
                    break other;
                }
                let Some(pause) = self.config().reconnect.pause_before(attempt) else {
                    // Cancelled during the last attempt: not given up, let go.
                    if self.is_closing() || cancelled(cancel) {
                        return None;
                    }
                    warn!("persistent peer {addr}: giving up after {attempt} attempts");
                    return Some(attempt);
                };
                let pause = if attempt == 0 {
                    pause
                } else {
                    pause.saturating_add(rng.duration_below(self.config().reconnect.jitter))
                };
                if !pause.is_zero() {
                    select! {
                        recv(self.stop_signal()) -> _ => return None,
                        recv(cancel) -> _ => return None,
                        default(pause) => {}
                    }
                }
                if self.is_closing() || cancelled(cancel) {
                    return None;
                }
                let mut learned = None;
                match self.dial_learning(addr, true, expected, &mut learned) {
                    Ok(p) => break p,
                    Err(Error::Stopped) if self.is_closing() => return None,
                    Err(e) => {
                        info!(
                            "persistent peer {addr}: attempt {} failed: {e}",
                            attempt + 1
                        );
                        // A node other than the one expected is not waited for.
                        known = expected.or(learned.map(ExpectedId::Key)).or(known);
                        attempt += 1;
                    }
                }
            };
            known = Some(ExpectedId::Key(peer.id()));
            select! {
                recv(peer.life.removed()) -> _ => {}
                recv(self.stop_signal()) -> _ => return None,
                recv(cancel) -> _ => {
                    info!("persistent peer {addr}: no longer redialled (it stays connected)");
                    return None;
                }
            }
            if cancelled(cancel) {
                return None;
            }
            info!("persistent peer {addr} dropped; redialling");
        }
    }

    /// The connected peer that is `id`.
    fn peer_matching(&self, id: &ExpectedId) -> Option<Arc<Peer>> {
        match id {
            ExpectedId::Key(key) => self.peers().get(key),
            ExpectedId::Node(_) => self
                .peers()
                .list()
                .into_iter()
                .find(|p| id.matches(&p.id())),
        }
    }
}
