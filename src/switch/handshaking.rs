//! The handshakes in progress, and their budget: inbound connects can evict only
//! inbound handshakes, never our own dials (issue 11, item 3).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Shutdown, TcpStream};

use log::debug;
use parking_lot::Mutex;

use crate::error::Error;

/// Connections in the middle of a handshake. Inbound ones are bounded: when full, the
/// oldest inbound one is shut down to make room, so silent connections cannot lock good
/// peers out. Outbound ones (our own dials, each on its caller's thread) are never
/// evicted, so a connect flood cannot cut our dials or persistent-peer redials.
pub(super) struct Handshaking {
    cap_inbound: usize,
    next: u64,
    inbound: BTreeMap<u64, TcpStream>,
    outbound: BTreeMap<u64, TcpStream>,
    /// Handshakes shut down to make room, until they unregister: their failure is ours,
    /// not the peer's.
    evicted: BTreeSet<u64>,
    closed: bool,
}

impl Handshaking {
    /// Room for `cap_inbound` inbound handshakes.
    pub(super) fn new(cap_inbound: usize) -> Self {
        Handshaking {
            cap_inbound,
            next: 0,
            inbound: BTreeMap::new(),
            outbound: BTreeMap::new(),
            evicted: BTreeSet::new(),
            closed: false,
        }
    }

    /// Tracks `s` (a clone of it) until unregistered.
    fn register(&mut self, s: &TcpStream, outbound: bool) -> Result<u64, Error> {
        if self.closed {
            return Err(Error::Stopped);
        }
        if !outbound && self.inbound.len() >= self.cap_inbound {
            if let Some((id, oldest)) = self.inbound.pop_first() {
                debug!("too many inbound handshakes; dropping the oldest");
                let _ = oldest.shutdown(Shutdown::Both);
                self.evicted.insert(id);
            }
        }
        let id = self.next;
        self.next += 1;
        let map = if outbound {
            &mut self.outbound
        } else {
            &mut self.inbound
        };
        map.insert(id, s.try_clone()?);
        Ok(id)
    }

    /// Stops tracking handshake `id`.
    fn unregister(&mut self, id: u64) {
        self.inbound.remove(&id);
        self.outbound.remove(&id);
        self.evicted.remove(&id);
    }

    /// Shuts every tracked handshake down and refuses new ones (the switch stops).
    pub(super) fn shutdown_all(&mut self) {
        self.closed = true;
        let all = std::mem::take(&mut self.inbound)
            .into_values()
            .chain(std::mem::take(&mut self.outbound).into_values());
        for s in all {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// A handshake in progress, tracked in a [`Handshaking`] until dropped.
pub(super) struct Registered<'a> {
    reg: &'a Mutex<Handshaking>,
    id: u64,
}

impl<'a> Registered<'a> {
    /// Tracks `s` in `reg` (see [`Handshaking::register`]) until the result is dropped.
    pub(super) fn new(
        reg: &'a Mutex<Handshaking>,
        s: &TcpStream,
        outbound: bool,
    ) -> Result<Self, Error> {
        let id = reg.lock().register(s, outbound)?;
        Ok(Registered { reg, id })
    }
}

impl Registered<'_> {
    /// Whether this handshake was shut down to make room for newer ones: a failure it
    /// then has is [`RejectReason::TooManyHandshakes`](crate::error::RejectReason), not
    /// the peer's doing.
    pub(super) fn was_evicted(&self) -> bool {
        self.reg.lock().evicted.contains(&self.id)
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.reg.lock().unregister(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Duration;

    fn pair(l: &TcpListener) -> (TcpStream, TcpStream) {
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        (a, b)
    }

    fn is_shut(s: &TcpStream) -> bool {
        let mut buf = [0u8; 1];
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        matches!(std::io::Read::read(&mut &*s, &mut buf), Ok(0))
    }

    /// Issue 11, item 3: inbound registrations evict only inbound ones.
    #[test]
    fn inbound_handshakes_never_evict_outbound_ones() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut h = Handshaking::new(2);
        let (dial, _dial_far) = pair(&l);
        h.register(&dial, true).unwrap();
        let inbound: Vec<_> = (0..5).map(|_| pair(&l)).collect();
        for (s, _) in &inbound {
            h.register(s, false).unwrap();
        }
        assert!(!is_shut(&dial), "the outbound handshake survives");
        let shut = inbound.iter().filter(|(s, _)| is_shut(s)).count();
        assert_eq!(shut, 3, "the three oldest inbound ones were evicted");
        assert_eq!(h.inbound.len(), 2);
        assert_eq!(h.outbound.len(), 1);
        h.shutdown_all();
        assert!(is_shut(&dial));
        assert!(h.register(&dial, true).is_err(), "closed");
    }
}
