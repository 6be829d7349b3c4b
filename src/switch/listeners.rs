//! [`Listeners`]: the addresses a switch listens on, and how a stop wakes their accept
//! threads. (Binding and the accept loops are in `listen.rs`.)

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use parking_lot::Mutex;

/// The addresses of a switch's listeners.
#[derive(Default)]
pub(super) struct Listeners {
    addrs: Mutex<Vec<SocketAddr>>,
}

impl Listeners {
    /// Notes a listener bound to `addr`, so a stop wakes its accept thread.
    pub(super) fn add(&self, addr: SocketAddr) {
        self.addrs.lock().push(addr);
    }

    /// Wakes every accept thread: each blocks in accept(), and a connection wakes it up
    /// (to find the switch stopped). Waits only for those connections.
    pub(super) fn wake_all(&self) {
        let addrs = self.addrs.lock().clone();
        for addr in addrs {
            wake(addr);
        }
    }
}

/// Wakes the accept thread of the listener bound to `addr` with a connection.
pub(super) fn wake(addr: SocketAddr) {
    let _ = TcpStream::connect_timeout(&wake_addr(addr), Duration::from_secs(1));
}

/// The address that reaches a listener bound to `addr` from this host.
fn wake_addr(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}
