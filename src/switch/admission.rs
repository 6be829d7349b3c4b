//! Admission: from a connected socket to a running peer that every reactor knows.
//!
//! Address filter → handshake (within `handshake_timeout`; encrypted and authenticated
//! when `auth_enc` is on) → the NodeInfo key must be the authenticated key (and the one
//! the dialler expected) → self, compatibility and id checks → the MConnection starts → the peer set takes it (no duplicate, within the
//! limits) → every reactor's `add_peer` → only then are its messages delivered. Each
//! refusal closes the socket, is logged with its reason and is a distinct error.

use std::net::TcpStream;
use std::sync::atomic::Ordering::*;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use crossbeam_channel::{bounded, Receiver, Sender};
use log::{info, warn};
use parking_lot::Mutex;

use super::core::{run_filter, Registered, SwitchCore};
use super::handshake::{self, Deadline};
use super::node_info::{NodeInfo, PeerId};
use super::peer::{Lifecycle, Peer};
use crate::conn::{MConnection, Transport};
use crate::error::{ChannelId, Error, RejectReason};

/// Holds a new peer's messages until its `add_peer` calls are done.
struct Gate {
    peer: OnceLock<Arc<Peer>>,
    open_tx: Mutex<Option<Sender<()>>>,
    open_rx: Receiver<()>,
}

impl Gate {
    fn new() -> Self {
        let (open_tx, open_rx) = bounded(0);
        Gate {
            peer: OnceLock::new(),
            open_tx: Mutex::new(Some(open_tx)),
            open_rx,
        }
    }

    /// Lets messages through to `peer` (or, with `None`, drops them from now on).
    fn open(&self, peer: Option<Arc<Peer>>) {
        if let Some(p) = peer {
            let _ = self.peer.set(p);
        }
        drop(self.open_tx.lock().take());
    }

    /// The peer to deliver to, waiting until admission decides.
    fn wait(&self) -> Option<&Arc<Peer>> {
        if let Some(p) = self.peer.get() {
            return Some(p);
        }
        let _ = self.open_rx.recv();
        self.peer.get()
    }
}

/// Where the connection's `on_error` finds its peer; an error before the peer exists is
/// kept for admission to act on.
#[derive(Default)]
struct Slot {
    state: Mutex<(Option<Arc<Peer>>, Option<Error>)>,
}

impl SwitchCore {
    /// Admits a connected socket as a peer. See the module docs for the steps.
    pub(crate) fn admit(
        self: &Arc<Self>,
        stream: TcpStream,
        outbound: bool,
        persistent: bool,
        expected: Option<PeerId>,
    ) -> Result<Arc<Peer>, Error> {
        let remote = stream.peer_addr()?;
        let dir = if outbound { "outbound" } else { "inbound" };
        let result = self.admit_inner(stream, outbound, persistent, expected);
        match &result {
            Ok(peer) => info!("added {dir} peer {peer} ({})", peer.node_info().moniker),
            Err(e) if e.is_protocol_violation() => warn!("{dir} {remote} misbehaved: {e}"),
            Err(e) => info!("{dir} {remote} refused: {e}"),
        }
        result
    }

    fn admit_inner(
        self: &Arc<Self>,
        stream: TcpStream,
        outbound: bool,
        persistent: bool,
        expected: Option<PeerId>,
    ) -> Result<Arc<Peer>, Error> {
        let running = self.ensure_started()?;
        let remote = stream.peer_addr()?;
        let filter = self.addr_filter.read().clone();
        if let Some(f) = filter {
            run_filter(f, remote, self.config.filter_timeout)?;
        }

        // Handshake, registered so that stop (or a flood of newer handshakes) can end it.
        let id = self.handshaking.lock().register(&stream)?;
        let reg = Registered {
            reg: &self.handshaking,
            id,
        };
        let deadline = Instant::now() + self.config.handshake_timeout;
        let ours = self.info.lock().clone();
        let (mut theirs, transport, authenticated) = self.handshake(stream, &ours, deadline)?;
        drop(reg);
        theirs.remote_addr = remote.to_string();

        // Checks that need no peer yet.
        let their_id = theirs.id();
        if let Some(key) = authenticated {
            if key != theirs.pub_key {
                return Err(Error::Rejected(RejectReason::KeyMismatch(format!(
                    "NodeInfo claims {their_id} but the connection authenticated {}",
                    PeerId(key)
                ))));
            }
        }
        if let Some(want) = expected {
            if want != their_id {
                return Err(Error::Rejected(RejectReason::KeyMismatch(format!(
                    "dialled {want} but reached {their_id}"
                ))));
            }
        }
        if their_id.0 == self.key.public_key() {
            return Err(Error::Rejected(RejectReason::SelfConnection));
        }
        ours.compatible_with(&theirs)
            .map_err(|why| Error::Rejected(RejectReason::Incompatible(why)))?;
        let filter = self.id_filter.read().clone();
        if let Some(f) = filter {
            run_filter(f, their_id, self.config.filter_timeout)?;
        }
        if self.peers.contains(&their_id) {
            return Err(Error::Rejected(RejectReason::Duplicate));
        }

        // The connection: messages wait at the gate until add_peer is done.
        let gate = Arc::new(Gate::new());
        let slot = Arc::new(Slot::default());
        let conn = {
            let (gate, slot) = (gate.clone(), slot.clone());
            let lifecycle = self.lifecycle_tx.clone();
            let running = running.clone();
            MConnection::with_transport(
                transport,
                running.reactors.channels.clone(),
                self.config.mconn.clone(),
                move |ch: ChannelId, msg: Bytes| {
                    if let Some(peer) = gate.wait() {
                        running.dispatch.send_msg(peer, ch, msg);
                    }
                },
                move |err: Error| {
                    let mut s = slot.state.lock();
                    match &s.0 {
                        Some(peer) => {
                            let _ = lifecycle.send(Lifecycle::Remove(peer.clone(), err));
                        }
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
            conn,
            self.lifecycle_tx.clone(),
        ));
        if let Err(why) = self.peers.try_add(
            peer.clone(),
            self.config.max_inbound_peers,
            self.config.max_outbound_peers,
        ) {
            gate.open(None);
            peer.conn.stop();
            peer.life.finish_admission();
            return Err(Error::Rejected(why));
        }
        {
            let mut s = slot.state.lock();
            s.0 = Some(peer.clone());
            if let Some(err) = s.1.take() {
                peer.request(Lifecycle::Remove(peer.clone(), err));
            }
        }
        let added = running
            .dispatch
            .add_peer(&*running.host, &peer, &self.stop_rx);
        if added && peer.life.added_to_reactors.load(Acquire) {
            gate.open(Some(peer.clone()));
        } else {
            gate.open(None);
        }
        peer.life.finish_admission();
        if self.is_stopped() {
            return Err(Error::Rejected(RejectReason::SwitchStopped));
        }
        Ok(peer)
    }

    /// Runs the handshake over `stream`: plain, or encrypted when `auth_enc` is on.
    /// Returns the peer's NodeInfo, the transport for its connection, and, when
    /// encrypted, the key the secret connection authenticated.
    fn handshake(
        &self,
        stream: TcpStream,
        ours: &NodeInfo,
        deadline: Instant,
    ) -> Result<(NodeInfo, Transport, Option<[u8; 32]>), Error> {
        let mut d = Deadline { stream, deadline };
        #[cfg(feature = "secret-connection")]
        if self.config.auth_enc {
            let mut sc = crate::secret::SecretConnection::handshake(d, &self.key)?;
            let theirs = handshake::exchange_framed(&mut sc, ours)?;
            let authenticated = sc.remote_pubkey();
            let sc = sc.map_stream(|d| d.stream);
            let transport = sc.into_transport_with_write_timeout(self.config.mconn.send_timeout)?;
            return Ok((theirs, transport, Some(authenticated)));
        }
        let theirs = handshake::exchange_plain(&mut d, ours)?;
        let stream = d.stream;
        stream.set_read_timeout(None)?;
        let transport = Transport::tcp(stream, self.config.mconn.send_timeout)?;
        Ok((theirs, transport, None))
    }
}
