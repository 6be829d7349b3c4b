//! Dialling, and the redial loop of persistent peers (Go's schedule, see
//! [`ReconnectSchedule`](super::config::ReconnectSchedule)).

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{bounded, select};
use log::{debug, info, warn};

use super::peer::Peer;
use super::state::SwitchState;
use crate::error::{Error, RejectReason};
use crate::peer_id::PeerId;
use crate::threads;

impl SwitchState {
    /// Connects to `addr` within `dial_timeout` and admits it as an outbound peer.
    pub(super) fn dial(
        self: &Arc<Self>,
        addr: SocketAddr,
        persistent: bool,
        expected: Option<PeerId>,
    ) -> Result<Arc<Peer>, Error> {
        self.dial_learning(addr, persistent, expected, &mut None)
    }

    /// [`dial`](Self::dial), setting `learned` to the peer's id as soon as the handshake
    /// tells it (even if the peer is then refused, say as a duplicate).
    fn dial_learning(
        self: &Arc<Self>,
        addr: SocketAddr,
        persistent: bool,
        expected: Option<PeerId>,
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
        let stream = self.connect(addr)?;
        self.admit(stream, true, persistent, expected, learned)
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
                Ok(r) => Ok(r?),
                Err(_) => Err(Error::Malformed("the connect thread ended without a result".into())),
            },
            recv(self.stop_signal()) -> _ => Err(Error::Stopped),
        }
    }

    /// Starts the thread that keeps a persistent peer connected.
    pub(super) fn dial_persistent(
        self: &Arc<Self>,
        addr: SocketAddr,
        expected: Option<PeerId>,
    ) -> Result<(), Error> {
        self.ensure_started()?;
        let state = self.clone();
        self.owned_threads()
            .spawn_short_lived("mconn-persistent", None, move || {
                state.persistent_loop(addr, expected)
            })
    }

    /// Dials `addr` on the schedule until it connects, waits until that peer is removed,
    /// and starts over; ends when the switch stops or the schedule is used up. While the
    /// node behind `addr` is connected some other way (it dialled us, say), it waits for
    /// that connection to go instead of dialling.
    fn persistent_loop(self: Arc<Self>, addr: SocketAddr, expected: Option<PeerId>) {
        let mut rng = Jitter::new(addr);
        let mut known: Option<PeerId> = expected;
        loop {
            let mut attempt = 0u32;
            let peer = loop {
                if let Some(other) = known.and_then(|id| self.peers().get(&id)) {
                    debug!("persistent peer {addr} is connected as {other}; waiting");
                    break other;
                }
                let Some(pause) = self.config().reconnect.pause_before(attempt) else {
                    warn!("persistent peer {addr}: giving up after {attempt} attempts");
                    return;
                };
                let pause = if attempt == 0 {
                    pause
                } else {
                    pause.saturating_add(rng.below(self.config().reconnect.jitter))
                };
                if !pause.is_zero() {
                    select! {
                        recv(self.stop_signal()) -> _ => return,
                        default(pause) => {}
                    }
                }
                if self.is_closing() {
                    return;
                }
                let mut learned = None;
                match self.dial_learning(addr, true, expected, &mut learned) {
                    Ok(p) => break p,
                    Err(Error::Stopped) if self.is_closing() => return,
                    Err(e) => {
                        info!(
                            "persistent peer {addr}: attempt {} failed: {e}",
                            attempt + 1
                        );
                        // A node other than the one expected is not waited for.
                        known = expected.or(learned).or(known);
                        attempt += 1;
                    }
                }
            };
            known = Some(peer.id());
            select! {
                recv(peer.life.removed()) -> _ => {}
                recv(self.stop_signal()) -> _ => return,
            }
            info!("persistent peer {addr} dropped; redialling");
        }
    }
}

/// Stack of the short-lived connect threads.
const CONNECT_STACK: usize = 64 * 1024;

/// A small xorshift generator for reconnect jitter (not for anything secret).
struct Jitter(u64);

impl Jitter {
    fn new(addr: SocketAddr) -> Self {
        let t = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        let a = addr.port() as u64 | ((addr.ip().to_string().len() as u64) << 16);
        Jitter((t ^ a.rotate_left(32)) | 1)
    }

    fn below(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let nanos = max.as_nanos().min(u64::MAX as u128) as u64;
        if nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.0 % nanos)
        }
    }
}
