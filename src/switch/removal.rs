//! Removing peers: the lifecycle thread, which serves the peers'
//! [`Lifecycle`] requests one at a time, and the steps of a removal.
//!
//! A removal: the first request wins (its reason is what `remove_peer` sees) → once the
//! peer's admission is over, its connection stops → behind all its queued messages (a
//! fence through every worker) the last step runs once: out of the peer set,
//! `remove_peer`, the signal that the peer is gone. When the switch stops, the last
//! worker to leave runs that last step for every peer still owed it (see `stop.rs`).

use std::sync::Arc;

use crossbeam_channel::{select, Receiver};
use log::{debug, info, warn};

use super::counters::Count;
use super::dispatch::run_remove_peer;
use super::peer::{Lifecycle, Peer};
use super::state::{Running, SwitchState};
use crate::error::Error;
use crate::threads;

impl SwitchState {
    /// The lifecycle thread: removes peers one request at a time.
    pub(super) fn lifecycle_loop(self: Arc<Self>, requests: Receiver<Lifecycle>) {
        loop {
            let req = select! {
                recv(requests) -> req => match req {
                    Ok(req) => req,
                    Err(_) => return,
                },
                recv(self.stop_signal()) -> _ => return,
            };
            // A bug here must not end the thread that every later removal needs.
            if let Err(p) = threads::catch(|| self.handle(req)) {
                warn!("a peer removal panicked: {p}");
            }
        }
    }

    fn handle(&self, req: Lifecycle) {
        match req {
            Lifecycle::Remove(peer, reason) => self.remove(&peer, reason),
            Lifecycle::Graceful(peer) => {
                let p = peer.clone();
                let spawned =
                    self.owned_threads()
                        .spawn_short_lived("mconn-flush", None, move || {
                            p.conn.flush_stop();
                            p.queue_removal(Error::Stopped);
                        });
                if spawned.is_err() {
                    self.remove(&peer, Error::Stopped);
                }
            }
            Lifecycle::Resume(peer) => self.proceed(&peer),
        }
    }

    /// Stops `peer` and, behind all its queued messages, finishes its removal (once).
    /// If the peer is still being admitted, the rest waits for that (see
    /// [`PeerLife::removal_may_proceed`](super::peer_life::PeerLife::removal_may_proceed)):
    /// this thread never waits for an admission, which may wait for another removal.
    fn remove(&self, peer: &Arc<Peer>, reason: Error) {
        if peer.life.request_removal(reason) && peer.life.removal_may_proceed() {
            self.proceed(peer);
        }
    }

    /// The rest of a removal, once admission is over (so the connection's recv thread no
    /// longer waits at the admission gate, and `conn.stop()` cannot wait for ever).
    fn proceed(&self, peer: &Arc<Peer>) {
        peer.conn.stop();
        let Some(running) = self.running() else {
            return;
        };
        if !peer.life.was_added() {
            self.finish(running, peer);
        } else if !running.dispatch.fence(peer, self.stop_signal()) {
            debug!("switch stopping; {peer} is removed by stop");
        }
    }

    /// The last step of a removal, once per peer: out of the peer set (so a reactor may
    /// dial it again from `remove_peer`, as in Go; it stays departing meanwhile, so a new
    /// connection to that node is added only after this one is gone), `remove_peer`,
    /// then the signal that the peer is gone.
    pub(super) fn finish(&self, running: &Running, peer: &Arc<Peer>) {
        let Some(reason) = peer.life.claim_finish() else {
            return;
        };
        // A protocol violation was logged at WARN by the connection already.
        info!("removing peer {peer}: {reason}");
        self.counters().add_error(Count::Removed, "", &reason);
        self.peers().depart(peer);
        run_remove_peer(&running.reactors, peer, &reason);
        peer.life.mark_removed();
        self.peers().remove(peer);
        debug!("peer {peer} removed");
    }
}
