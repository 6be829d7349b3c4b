//! Listening: an accept thread per listener hands each connection to its own handshake
//! thread, so a slow or silent connection never holds up the accept loop or other
//! handshakes.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use log::{debug, info, warn};

use super::core::{wake_addr, SwitchCore};
use crate::error::{Error, RejectReason};
use crate::threads;

impl SwitchCore {
    /// Binds `addr` and starts its accept thread. Returns the bound address.
    pub(crate) fn listen(self: &Arc<Self>, addr: SocketAddr) -> Result<SocketAddr, Error> {
        self.ensure_started()?;
        if self.is_stopped() {
            return Err(Error::Rejected(RejectReason::SwitchStopped));
        }
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        {
            let mut info = self.info.lock();
            if info.listen_addr.is_empty() {
                info.listen_addr = local.to_string();
            }
        }
        self.listeners.lock().push(local);
        let core = self.clone();
        let h = threads::spawn("mconn-accept", None, move || core.accept_loop(listener))?;
        self.own_thread(h);
        // A stop that raced with us may have missed this listener's wake-up call.
        if self.is_stopped() {
            let _ = std::net::TcpStream::connect_timeout(&wake_addr(local), Duration::from_secs(1));
            return Err(Error::Rejected(RejectReason::SwitchStopped));
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
            let (_, inbound) = self.peers.counts();
            if inbound >= self.config.max_inbound_peers {
                info!(
                    "inbound {remote} refused: {} inbound peers already",
                    inbound
                );
                continue;
            }
            let core = self.clone();
            let spawned = self.spawn_owned(
                "mconn-handshake",
                Some(self.config.mconn.io_thread_stack_size),
                move || {
                    let _ = core.admit(stream, false, false, None, &mut None);
                },
            );
            if let Err(e) = spawned {
                debug!("inbound {remote} dropped: {e}");
            }
        }
    }
}
