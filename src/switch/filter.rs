//! User filters (by address, by peer id): how they are typed, where a switch keeps them,
//! and how one runs without holding up a stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, select, Receiver};
use parking_lot::RwLock;

use crate::error::{Error, RejectReason};
use crate::peer_id::PeerId;
use crate::threads;

/// A user filter: `Err(reason)` refuses the peer.
pub type Filter<T> = Arc<dyn Fn(&T) -> Result<(), String> + Send + Sync>;
/// Decides whether to talk to a peer at this address.
pub type AddrFilter = Filter<SocketAddr>;
/// Decides whether to keep a peer with this id.
pub type IdFilter = Filter<PeerId>;

/// A switch's filters; either may be unset (everyone passes).
#[derive(Default)]
pub(super) struct Filters {
    addr: RwLock<Option<AddrFilter>>,
    id: RwLock<Option<IdFilter>>,
}

impl Filters {
    /// Sets (or replaces) the address filter; connections admitted from now on see it.
    pub(super) fn set_addr(&self, f: AddrFilter) {
        *self.addr.write() = Some(f);
    }

    /// Sets (or replaces) the id filter.
    pub(super) fn set_id(&self, f: IdFilter) {
        *self.id.write() = Some(f);
    }

    /// Runs the address filter, if any, on `remote` (see [`run_filter`]).
    pub(super) fn check_addr(
        &self,
        remote: SocketAddr,
        timeout: Duration,
        stop: &Receiver<()>,
    ) -> Result<(), Error> {
        // Cloned out, so the filter runs without the lock held.
        let filter = self.addr.read().clone();
        match filter {
            Some(f) => run_filter(f, remote, timeout, stop),
            None => Ok(()),
        }
    }

    /// Runs the id filter, if any, on `id` (see [`run_filter`]).
    pub(super) fn check_id(
        &self,
        id: PeerId,
        timeout: Duration,
        stop: &Receiver<()>,
    ) -> Result<(), Error> {
        let filter = self.id.read().clone();
        match filter {
            Some(f) => run_filter(f, id, timeout, stop),
            None => Ok(()),
        }
    }
}

/// Runs a user filter on its own thread, waiting at most `timeout` for its answer, and
/// not at all once `stop` fires: a switch that stops does not wait for a filter. (The
/// filter's thread then finishes on its own; it is the one thread `stop` cannot end,
/// because it runs user code, and it holds nothing of the switch.)
fn run_filter<T: Send + 'static>(
    f: Filter<T>,
    arg: T,
    timeout: Duration,
    stop: &Receiver<()>,
) -> Result<(), Error> {
    let (tx, rx) = bounded(1);
    threads::spawn("mconn-filter", None, move || {
        let _ = tx.send(f(&arg));
    })?;
    select! {
        recv(rx) -> answer => match answer {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(Error::Rejected(RejectReason::Filtered(why))),
            Err(_) => Err(Error::Rejected(RejectReason::Filtered(
                "the filter panicked".into(),
            ))),
        },
        recv(stop) -> _ => Err(Error::Stopped),
        default(timeout) => Err(Error::Rejected(RejectReason::FilterTimeout)),
    }
}
