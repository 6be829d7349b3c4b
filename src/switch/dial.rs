//! Dialling, and the redial loop of persistent peers (Go's schedule, see
//! [`ReconnectSchedule`](super::ReconnectSchedule)).

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crossbeam_channel::select;
use log::{info, warn};

use super::core::SwitchCore;
use super::node_info::PeerId;
use super::peer::Peer;
use crate::error::{Error, RejectReason};

impl SwitchCore {
    /// Connects to `addr` within `dial_timeout` and admits it as an outbound peer.
    pub(crate) fn dial(
        self: &Arc<Self>,
        addr: SocketAddr,
        persistent: bool,
        expected: Option<PeerId>,
    ) -> Result<Arc<Peer>, Error> {
        self.ensure_started()?;
        if self.is_stopped() {
            return Err(Error::Rejected(RejectReason::SwitchStopped));
        }
        let (outbound, _) = self.peers.counts();
        if outbound >= self.config.max_outbound_peers {
            return Err(Error::Rejected(RejectReason::TooManyOutbound));
        }
        let stream = TcpStream::connect_timeout(&addr, self.config.dial_timeout)?;
        self.admit(stream, true, persistent, expected)
    }

    /// Starts the thread that keeps a persistent peer connected.
    pub(crate) fn dial_persistent(self: &Arc<Self>, addr: SocketAddr) -> Result<(), Error> {
        self.ensure_started()?;
        let core = self.clone();
        self.spawn_owned("mconn-persistent", None, move || core.persistent_loop(addr))
    }

    /// Dials `addr` on the schedule until it connects, waits until that peer is removed,
    /// and starts over; ends when the switch stops or the schedule is used up.
    fn persistent_loop(self: Arc<Self>, addr: SocketAddr) {
        let mut rng = Jitter::new(addr);
        loop {
            let mut attempt = 0u32;
            let peer = loop {
                let Some(pause) = self.config.reconnect.pause_before(attempt) else {
                    warn!("persistent peer {addr}: giving up after {attempt} attempts");
                    return;
                };
                let pause = if attempt == 0 {
                    pause
                } else {
                    pause + rng.below(self.config.reconnect.jitter)
                };
                if !pause.is_zero() {
                    select! {
                        recv(self.stop_rx) -> _ => return,
                        default(pause) => {}
                    }
                }
                if self.is_stopped() {
                    return;
                }
                match self.dial(addr, true, None) {
                    Ok(p) => break p,
                    Err(Error::Rejected(RejectReason::SwitchStopped)) => return,
                    Err(e) => {
                        info!(
                            "persistent peer {addr}: attempt {} failed: {e}",
                            attempt + 1
                        );
                        attempt += 1;
                    }
                }
            };
            select! {
                recv(peer.life.removed) -> _ => {}
                recv(self.stop_rx) -> _ => return,
            }
            info!("persistent peer {addr} dropped; redialling");
        }
    }
}

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
        let nanos = max.as_nanos() as u64;
        if nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.0 % nanos)
        }
    }
}
