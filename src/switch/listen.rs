//! Listening: an accept thread per listener hands each connection to its own handshake
//! thread, so a slow or silent connection never holds up the accept loop or other
//! handshakes. (The listeners' addresses, and how a stop wakes their accept threads, are
//! in `listeners.rs`.)

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use log::{debug, info, warn};

use super::listeners;
use super::state::SwitchState;
use crate::error::{io_at, Error, RejectReason};
use crate::threads;

impl SwitchState {
    /// Binds `addr` and starts its accept thread. Returns the bound address. Binds
    /// first: an address that cannot be bound does not start the switch.
    pub(super) fn listen(self: &Arc<Self>, addr: SocketAddr) -> Result<SocketAddr, Error> {
        if self.is_stopped() {
            return Err(Error::Stopped);
        }
        let listener =
            TcpListener::bind(addr).map_err(|e| io_at(format!("listening on {addr}"), e))?;
        self.ensure_started()?;
        let local = listener.local_addr()?;
        self.note_listen_addr(local);
        self.listeners().add(local);
        let state = self.clone();
        let h = threads::spawn("mconn-accept", None, move || state.accept_loop(listener))?;
        self.owned_threads().own(h);
        // A stop that raced with us may have missed this listener's wake-up call.
        if self.is_stopped() {
            listeners::wake(local);
            return Err(Error::Stopped);
        }
        info!("listening on {local}");
        Ok(local)
    }

    fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        loop {
            let accepted = listener.accept();
            if self.is_stopped() {
                return;
            }
            let (stream, remote) = match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: do not spin.
                    warn!("accept failed: {e}");
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            let (_, inbound) = self.peers().counts();
            if inbound >= self.config().max_inbound_peers {
                info!(
                    "inbound {remote} refused: {} inbound peers already",
                    inbound
                );
                self.inbound_refused(remote, Error::Rejected(RejectReason::TooManyInbound));
                continue;
            }
            let state = self.clone();
            let spawned = self.owned_threads().spawn_short_lived(
                "mconn-handshake",
                Some(self.config().mconn.io_thread_stack_size),
                move || {
                    let _ = state.admit(stream, false, false, None, &mut None);
                },
            );
            if let Err(e) = spawned {
                debug!("inbound {remote} dropped: {e}");
            }
        }
    }
}
