//! [`SwitchView`]: what the switch's own threads (discovery's) use of it without a
//! handle, so that dropping the application's last handle still stops it; and the
//! spawning of the short-lived threads a switch owns.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::node_info::NodeInfo;
use super::peer::Peer;
use super::state::SwitchState;
use crate::error::Error;
use crate::node_id::ExpectedId;

/// What the switch's own threads use of it, without a handle (see [`WeakSwitch::view`]):
/// holding one does not keep the switch running.
pub(crate) struct SwitchView(pub(super) Arc<SwitchState>);

impl SwitchView {
    /// As [`Switch::peers`].
    pub(crate) fn peers(&self) -> Vec<Arc<Peer>> {
        self.0.peers().list()
    }

    /// As [`Switch::node_info`].
    pub(crate) fn node_info(&self) -> NodeInfo {
        self.0.node_info()
    }

    /// As [`Switch::is_running`].
    pub(crate) fn is_running(&self) -> bool {
        !self.0.is_stopped()
    }

    /// As [`Switch::spawn`].
    pub(crate) fn spawn(
        &self,
        name: &str,
        f: impl FnOnce(&Receiver<()>) + Send + 'static,
    ) -> Result<(), Error> {
        spawn_owned(&self.0, name, f)
    }

    /// The addresses with a dial in progress (any caller's: the application's, a
    /// seed's, discovery's), until the peer is admitted or the dial fails.
    pub(crate) fn dialling(&self) -> HashSet<SocketAddr> {
        self.0.dials_in_flight().addresses()
    }

    /// As [`Switch::dial`], or [`Switch::dial_expecting`] with an id.
    pub(crate) fn dial(
        &self,
        addr: SocketAddr,
        expected: Option<ExpectedId>,
    ) -> Result<Arc<Peer>, Error> {
        self.0.dial(addr, false, expected)
    }
}

/// [`Switch::spawn`] on the state.
pub(super) fn spawn_owned(
    state: &Arc<SwitchState>,
    name: &str,
    f: impl FnOnce(&Receiver<()>) + Send + 'static,
) -> Result<(), Error> {
    let stopping = state.stop_signal().clone();
    state
        .owned_threads()
        .spawn_short_lived(name, None, move || {
            crate::threads::mark_callback_thread();
            f(&stopping)
        })
}
