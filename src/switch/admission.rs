//! Admission: from a connected socket to a running peer that every reactor knows.
//!
//! Address filter → handshake (within `handshake_timeout`; encrypted and authenticated
//! when `auth_enc` is on) → the NodeInfo key must be the authenticated key (and the one
//! the dialler expected) → self, compatibility and id checks → the MConnection starts →
//! the peer set takes it (within the limits; a second connection to a node already
//! connected is resolved by [`Rank`], the same way on both ends) → every reactor's
//! `add_peer` → only then are its messages delivered. Each refusal closes the socket, is
//! logged with its reason and is a distinct error.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use crossbeam_channel::select;
use log::{info, warn};

use super::counters::{direction, Count};
use super::dispatch::OnAdded;
use super::events::SwitchEvent;
use super::peer::{Peer, Rank};
use super::peer_life::AfterRemoval;
use super::peer_set::NotAdded;
use super::protocol::{HandshakeSetup, Handshaken, Protocol};
use super::state::SwitchState;
use crate::conn::MConnection;
use crate::error::{ChannelId, Error, RejectReason};
use crate::latch::Latch;
use crate::node_id::ExpectedId;
use crate::peer_id::PeerId;
use crate::{threads, time};

/// Holds a new peer's messages until its `add_peer` calls are done.
struct Gate {
    peer: OnceLock<Arc<Peer>>,
    open: Latch,
}

impl Gate {
    fn new() -> Self {
        Gate {
            peer: OnceLock::new(),
            open: Latch::new(),
        }
    }

    /// Lets messages through to `peer` (or, with `None`, drops them from now on).
    fn open(&self, peer: Option<Arc<Peer>>) {
        if let Some(p) = peer {
            let _ = self.peer.set(p);
        }
        self.open.open();
    }

    /// The peer to deliver to, waiting until admission decides.
    fn wait(&self) -> Option<&Arc<Peer>> {
        if let Some(p) = self.peer.get() {
            return Some(p);
        }
        self.open.wait();
        self.peer.get()
    }
}

/// Opens the gate (for nobody) if admission ends without deciding, by an early return
/// or a panic, so the connection's recv thread never waits at it for ever.
struct GateGuard(Arc<Gate>);

impl Drop for GateGuard {
    fn drop(&mut self) {
        self.0.open(None);
    }
}

/// Where the connection's `on_error` finds its peer; an error before the peer exists is
/// kept for admission to act on.
#[derive(Default)]
struct Slot {
    state: parking_lot::Mutex<(Option<Arc<Peer>>, Option<Error>)>,
}

impl SwitchState {
    /// Admits a connected socket as a peer. See the module docs for the steps. `learned`
    /// gets the peer's id as soon as the handshake tells it.
    pub(super) fn admit(
        self: &Arc<Self>,
        stream: TcpStream,
        outbound: bool,
        persistent: bool,
        expected: Option<ExpectedId>,
        learned: &mut Option<PeerId>,
    ) -> Result<Arc<Peer>, Error> {
        let remote = stream.peer_addr()?;
        let dir = if outbound { "outbound" } else { "inbound" };
        let mut result = self.admit_inner(stream, outbound, persistent, expected, learned);
        if result.is_err() && self.is_stopped() {
            // Whatever failed (a socket shut down, a wait given up), the cause was this.
            result = Err(Error::Stopped);
        }
        match &result {
            Ok(peer) => info!("added {dir} peer {peer} ({})", peer.node_info().moniker),
            Err(e) if e.is_protocol_violation() => warn!("{dir} {remote} misbehaved: {e}"),
            Err(e) => info!("{dir} {remote} refused: {e}"),
        }
        // Our own dials report their failures where they return (`dial.rs`).
        if let (Err(e), false) = (&result, outbound) {
            if !matches!(e, Error::Stopped) {
                self.inbound_refused(remote, e.clone());
            }
        }
        result
    }

    /// An inbound connection did not become a peer: counted (if refused) and reported,
    /// the one place for both, so the metric and the event cannot drift apart.
    pub(super) fn inbound_refused(&self, addr: SocketAddr, reason: Error) {
        if matches!(reason, Error::Rejected(_)) {
            self.counters()
                .add_error(Count::Refused, "inbound", &reason);
        }
        self.events()
            .emit(SwitchEvent::InboundRefused { addr, reason });
    }

    fn admit_inner(
        self: &Arc<Self>,
        stream: TcpStream,
        outbound: bool,
        persistent: bool,
        expected: Option<ExpectedId>,
        learned: &mut Option<PeerId>,
    ) -> Result<Arc<Peer>, Error> {
        let running = self.ensure_started()?;
        if self.is_closing() {
            return Err(Error::Stopped);
        }
        let remote = stream.peer_addr()?;
        self.filters()
            .check_addr(remote, self.config().filter_timeout, self.stop_signal())?;

        // Handshake, registered so that stop (or a flood of newer inbound handshakes) can
        // end it.
        let reg = self.register_handshake(&stream, outbound)?;
        let deadline = time::after(self.config().handshake_timeout);
        let ours = self.node_info();
        let setup = HandshakeSetup {
            ours: &ours,
            key: self.key(),
            deadline,
            outbound,
            encrypt: self.config().auth_enc,
            write_timeout: self.config().mconn.send_timeout,
        };
        let dir = direction(outbound);
        self.counters().add(Count::Handshake, dir);
        let Handshaken {
            mut theirs,
            transport,
            authenticated,
            rank_key,
            ..
        } = run_handshake(&self.config().protocol, stream, &setup).map_err(|e| {
            let e = if reg.was_evicted() {
                Error::Rejected(RejectReason::TooManyHandshakes)
            } else {
                e
            };
            if !self.is_stopped() {
                self.counters().add_error(Count::HandshakeFailed, dir, &e);
            }
            e
        })?;
        drop(reg);
        theirs.remote_addr = remote.to_string();
        if setup.encrypt && authenticated.is_none() {
            // auth_enc promises an authenticated peer: a family that proved no key must
            // not be trusted with the id its NodeInfo claims.
            return Err(Error::Rejected(RejectReason::KeyMismatch(format!(
                "auth_enc is on but the {} handshake authenticated no key",
                self.config().protocol.name()
            ))));
        }

        // Checks that need no peer yet.
        let their_id = theirs.id();
        *learned = Some(their_id);
        if let Some(key) = authenticated {
            if key != theirs.pub_key {
                return Err(Error::Rejected(RejectReason::KeyMismatch(format!(
                    "NodeInfo claims {their_id} but the connection authenticated {}",
                    PeerId(key)
                ))));
            }
        }
        if let Some(want) = expected {
            if !want.matches(&their_id) {
                return Err(Error::Rejected(RejectReason::KeyMismatch(format!(
                    "dialled {want} but reached {their_id}"
                ))));
            }
        }
        let our_id = self.id();
        if their_id == our_id {
            return Err(Error::Rejected(RejectReason::SelfConnection));
        }
        self.config()
            .protocol
            .handshake()
            .compatible(&ours, &theirs)
            .map_err(|why| Error::Rejected(RejectReason::Incompatible(why)))?;
        self.filters()
            .check_id(their_id, self.config().filter_timeout, self.stop_signal())?;
        let rank = Rank {
            dialled_by_higher_id: if outbound {
                our_id > their_id
            } else {
                their_id > our_id
            },
            key: rank_key,
        };
        if let Some(existing) = self.peers().get(&their_id) {
            if rank >= existing.rank && existing.is_running() {
                return Err(Error::Rejected(RejectReason::Duplicate));
            }
        }

        // The connection: messages wait at the gate until add_peer is done.
        let gate = Arc::new(Gate::new());
        let _guard = GateGuard(gate.clone());
        let slot = Arc::new(Slot::default());
        let conn = {
            let (gate, slot) = (gate.clone(), slot.clone());
            let running = running.clone();
            let types = self.message_types().cloned();
            MConnection::with_transport(
                transport,
                running.reactors.channels.clone(),
                self.config()
                    .mconn
                    .clone()
                    .codec(self.config().protocol.codec().clone()),
                move |ch: ChannelId, msg: Bytes| {
                    if let Some(peer) = gate.wait() {
                        // Only an admitted peer's (a refused one's are dropped at the gate).
                        if let Some(types) = &types {
                            types.received(ch, &msg);
                        }
                        running.dispatch.send_msg(peer, ch, msg);
                    }
                },
                move |err: Error| {
                    let mut s = slot.state.lock();
                    match &s.0 {
                        Some(peer) => peer.queue_removal(err),
                        None => s.1 = Some(err),
                    }
                },
            )
        }?;
        let peer = Arc::new(Peer::new(
            theirs,
            outbound,
            persistent,
            remote,
            (conn, self.config().protocol.codec().name()),
            rank,
            running.peer_budget,
            self.lifecycle_sender(),
            self.stop_signal().clone(),
            self.message_types().cloned(),
        ));
        let added = match self.peers().try_add(
            peer.clone(),
            self.config().max_inbound_peers,
            self.config().max_outbound_peers,
        ) {
            Ok(added) => added,
            Err(why) => {
                // Never in the set: nobody asked to remove it.
                gate.open(None);
                peer.conn.stop();
                peer.life.finish_admission();
                return Err(match why {
                    NotAdded::Closed => Error::Stopped,
                    NotAdded::Refused(why) => Error::Rejected(why),
                });
            }
        };
        {
            let mut s = slot.state.lock();
            s.0 = Some(peer.clone());
            if let Some(err) = s.1.take() {
                peer.queue_removal(err);
            }
        }

        // add_peer on a worker; then the gate opens and admission is over (and a
        // removal that waited for that goes on).
        let then = {
            let (gate, peer) = (gate.clone(), peer.clone());
            OnAdded::new(move |added| {
                gate.open(added.then(|| peer.clone()));
                if peer.life.finish_admission() {
                    peer.queue_resume();
                }
            })
        };
        if let Some(old) = added.replaced {
            // A second connection to the same node won over `old`.
            info!("{peer} replaces {old}: both connect the same nodes");
            old.queue_removal(Error::Rejected(RejectReason::Duplicate));
        }
        // Every earlier connection to this node (one just replaced, or one whose removal
        // is still running) is gone before this one's add_peer: every reactor sees the
        // node leave before it comes back. (Only earlier ones: waiting for a later one,
        // which may wait for this one, could wait for ever.)
        let earlier = self.peers().departing_before(&their_id, added.stamp);
        let dispatch = {
            let (running, peer) = (running.clone(), peer.clone());
            move || running.dispatch.add_peer(&peer, then)
        };
        after_all_removed(earlier, Box::new(dispatch));
        // Wait for the add_peer calls, unless this is a callback thread: they may need
        // this very worker (or one waiting for us), so they follow after it returns.
        if !threads::on_callback_thread() {
            select! {
                recv(peer.life.admitted()) -> _ => {}
                recv(self.stop_signal()) -> _ => {}
            }
            if !peer.life.was_added() && !self.is_stopped() {
                // Replaced meanwhile by a better-ranked connection, or gone.
                let replaced = self
                    .peers()
                    .get(&peer.id())
                    .is_some_and(|p| !Arc::ptr_eq(&p, &peer));
                return Err(if replaced {
                    Error::Rejected(RejectReason::Duplicate)
                } else {
                    Error::PeerClosed
                });
            }
        }
        if self.is_stopped() {
            return Err(Error::Stopped);
        }
        Ok(peer)
    }
}

/// Runs `f` once every peer in `peers` is fully removed (now, if they are).
fn after_all_removed(mut peers: Vec<Arc<Peer>>, f: AfterRemoval) {
    match peers.pop() {
        None => f(),
        Some(p) => p
            .life
            .when_removed(Box::new(move || after_all_removed(peers, f))),
    }
}

/// Runs a protocol family's handshake (user code, for a family other than v0.12) so that
/// it cannot break the switch's promises: every socket read and write starts bounded by
/// the deadline (a family that sets its own timeouts must keep to it, as v0.12's does),
/// and a panic is an error, not an unwinding `dial`.
fn run_handshake(
    protocol: &Protocol,
    stream: TcpStream,
    setup: &HandshakeSetup<'_>,
) -> Result<Handshaken, Error> {
    let left = setup
        .deadline
        .saturating_duration_since(std::time::Instant::now());
    if left.is_zero() {
        return Err(Error::HandshakeTimeout);
    }
    stream.set_read_timeout(Some(left))?;
    stream.set_write_timeout(Some(left))?;
    let result = threads::catch(|| protocol.handshake().run(stream, setup)).unwrap_or_else(|p| {
        Err(Error::Panicked(format!(
            "the {} handshake panicked: {p}",
            protocol.name()
        )))
    });
    match result {
        // A socket timeout past the deadline is the deadline.
        Err(Error::Io(e))
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
                && std::time::Instant::now() >= setup.deadline =>
        {
            Err(Error::HandshakeTimeout)
        }
        other => other,
    }
}
