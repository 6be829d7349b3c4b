//! [`PexReactor`]: peer exchange on channel `0x00`, as Go v0.12.1's `PEXReactor` speaks
//! it, with an [`AddrBook`] and a loop that keeps enough outbound peers (`ensure.rs`).
//!
//! * A peer we dialled: its address is good (the old table); if the book needs more, we
//!   ask it for addresses. A peer that dialled us: the address it says it listens on
//!   goes in the book (not trusted blindly: an IP and port only, never a host name to
//!   look up; an unspecified IP is replaced by the one it connected from).
//! * A request is answered with a selection of the book, with `try_send`: a worker never
//!   waits on a peer that does not read, and a request that finds the channel's 10
//!   queued messages still unsent goes unanswered. Addresses are added with the sender
//!   as their source.
//! * A malformed message (see `message.rs`, `proto.rs`), or more than
//!   `max_msgs_per_hour` messages from one peer in an hour (Go: 1000), disconnects the
//!   peer; so do addresses a CometBFT peer sends unasked (as CometBFT does; Go v0.12
//!   took them).
//! * Each peer is spoken to in its family's wire (`wire.rs`); a CometBFT peer's
//!   addresses carry node ids, which the loop dials expecting (`ensure.rs`).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use log::{debug, info};
use parking_lot::Mutex;

use super::address::NetAddress;
use super::book::AddrBook;
use super::message::{PexMessage, MAX_MESSAGE_SIZE};
use super::wire;
use crate::conn::ChannelDescriptor;
use crate::error::{ChannelId, Error};
use crate::peer_id::PeerId;
use crate::switch::{Peer, Reactor, Switch};

/// The PEX channel (Go: `PexChannel`).
pub const PEX_CHANNEL: ChannelId = 0x00;

/// Settings of a [`PexReactor`]; `Default` is Go's, setters chain.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PexConfig {
    /// How often the ensure-peers loop runs (Go: 30 s); the first run comes after a
    /// random part of it.
    pub ensure_period: Duration,
    /// Outbound peers the loop keeps (Go: 10, its `MaxNumOutboundPeers`).
    pub min_outbound: usize,
    /// PEX messages one peer may send in an hour before it is disconnected (Go: 1000).
    pub max_msgs_per_hour: u32,
    /// Where the loop saves the address book: every `save_period` and when the switch
    /// stops. `None` (default): the book lives in memory only.
    pub book_file: Option<PathBuf>,
    /// How often the book is saved (Go: 2 minutes).
    pub save_period: Duration,
}

impl Default for PexConfig {
    fn default() -> Self {
        PexConfig {
            ensure_period: Duration::from_secs(30),
            min_outbound: 10,
            max_msgs_per_hour: 1000,
            book_file: None,
            save_period: Duration::from_secs(120),
        }
    }
}

impl PexConfig {
    /// Sets `ensure_period` (at least 1 ms).
    pub fn ensure_period(mut self, d: Duration) -> Self {
        self.ensure_period = d.max(Duration::from_millis(1));
        self
    }

    /// Sets `min_outbound`.
    pub fn min_outbound(mut self, n: usize) -> Self {
        self.min_outbound = n;
        self
    }

    /// Sets `book_file` (load the book from it with
    /// [`AddrBook::load`](super::AddrBook::load)).
    pub fn book_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.book_file = Some(path.into());
        self
    }

    /// Sets `save_period` (at least 1 ms).
    pub fn save_period(mut self, d: Duration) -> Self {
        self.save_period = d.max(Duration::from_millis(1));
        self
    }

    /// Sets `max_msgs_per_hour`.
    pub fn max_msgs_per_hour(mut self, n: u32) -> Self {
        self.max_msgs_per_hour = n;
        self
    }
}

/// Peer exchange and discovery: a [`Reactor`] for channel `0x00` with an address book.
/// Add it to a switch, then [`start`](Self::start) its ensure-peers loop. See the
/// module docs.
pub struct PexReactor {
    pub(super) book: Mutex<AddrBook>,
    pub(super) config: PexConfig,
    /// Messages per peer in the current hour.
    rates: Mutex<HashMap<PeerId, (Instant, u32)>>,
    /// Addresses the loop is dialling now.
    pub(super) dialling: Mutex<HashSet<NetAddress>>,
    /// Peers we asked for addresses and that have not answered: their answer does not
    /// count against their hourly limit, and they are not asked again meanwhile.
    asked: Mutex<HashSet<PeerId>>,
}

impl PexReactor {
    /// A reactor that keeps `book` and follows `config`.
    pub fn new(book: AddrBook, config: PexConfig) -> Arc<Self> {
        Arc::new(PexReactor {
            book: Mutex::new(book),
            config,
            rates: Mutex::new(HashMap::new()),
            dialling: Mutex::new(HashSet::new()),
            asked: Mutex::new(HashSet::new()),
        })
    }

    /// Starts the ensure-peers loop on a thread `switch` owns (`mconn-pex`), which ends
    /// when the switch stops (saving the book to `book_file` first, if set). Call it
    /// once, after `add_reactor`.
    pub fn start(self: &Arc<Self>, switch: &Switch) -> Result<(), Error> {
        let me = self.clone();
        let weak = switch.downgrade();
        switch.spawn("mconn-pex", move |stopping| me.ensure_loop(&weak, stopping))
    }

    /// Joins a network through `seeds` (Go's `DialSeeds` with a book): each goes in the
    /// address book and is dialled at once ([`Switch::dial_seeds`]); the seeds that
    /// answer are asked for addresses, and the ensure-peers loop dials those.
    ///
    /// Errors: a seed that does not resolve (nothing is dialled then), or
    /// [`Error::Stopped`].
    pub fn dial_seeds<A: std::net::ToSocketAddrs>(
        &self,
        switch: &Switch,
        seeds: impl IntoIterator<Item = A>,
    ) -> Result<(), Error> {
        let mut addrs = Vec::new();
        for s in seeds {
            let a = s.to_socket_addrs()?.next().ok_or_else(|| {
                Error::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "a seed address resolved to nothing",
                ))
            })?;
            addrs.push(a);
        }
        {
            let mut book = self.book.lock();
            for a in &addrs {
                book.add(NetAddress::from(*a), NetAddress::from(*a));
            }
        }
        switch.dial_seeds(addrs)
    }

    /// Runs `f` on the address book (under its lock: keep it short).
    pub fn with_book<R>(&self, f: impl FnOnce(&mut AddrBook) -> R) -> R {
        f(&mut self.book.lock())
    }

    /// Asks `peer` for addresses, unless it has not answered the last request yet.
    pub(super) fn request(&self, peer: &Peer) {
        if self.asked.lock().insert(peer.id())
            && peer
                .try_send(PEX_CHANNEL, wire::encode(peer, &PexMessage::Request))
                .is_err()
        {
            self.asked.lock().remove(&peer.id());
        }
    }

    /// Counts a message from `peer`; false once it is over the hourly limit.
    fn within_rate(&self, peer: &PeerId) -> bool {
        let mut rates = self.rates.lock();
        let now = Instant::now();
        let (start, n) = rates.entry(*peer).or_insert((now, 0));
        if now.saturating_duration_since(*start) >= Duration::from_secs(3600) {
            *start = now;
            *n = 0;
        }
        *n = n.saturating_add(1);
        *n <= self.config.max_msgs_per_hour
    }
}

/// Where `peer` can be dialled, with its node id if the book keeps one
/// ([`wire::book_id`]): the address it says it listens on (an
/// IP and port, after any `tcp://`; an unspecified IP means the one it connected from),
/// or, for a peer we dialled, the address we dialled.
pub(super) fn dialable(peer: &Peer) -> Option<NetAddress> {
    let with_id = |a: NetAddress| match wire::book_id(peer) {
        Some(id) => a.with_id(id),
        None => a,
    };
    if peer.is_outbound() {
        return Some(with_id(NetAddress::from(peer.remote_addr())));
    }
    let info = peer.node_info();
    let text = info.listen_addr.as_str();
    let text = text.split_once("://").map_or(text, |(_, rest)| rest);
    let listen: SocketAddr = text.parse().ok()?;
    let ip = if listen.ip().is_unspecified() {
        peer.remote_addr().ip()
    } else {
        listen.ip()
    };
    Some(with_id(NetAddress::new(ip, listen.port()))).filter(NetAddress::is_valid)
}

impl Reactor for PexReactor {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(PEX_CHANNEL, 1)
            .send_queue_capacity(10)
            .recv_message_capacity(MAX_MESSAGE_SIZE)]
    }

    fn add_peer(&self, peer: &Arc<Peer>) {
        let Some(addr) = dialable(peer) else {
            debug!("{peer}: no dialable address");
            return;
        };
        let mut book = self.book.lock();
        book.add(addr, addr);
        if peer.is_outbound() {
            book.mark_good(&addr);
            if book.need_more() {
                drop(book);
                self.request(peer);
            }
        }
    }

    fn remove_peer(&self, peer: &Arc<Peer>, _reason: &Error) {
        self.rates.lock().remove(&peer.id());
        self.asked.lock().remove(&peer.id());
    }

    fn receive(&self, _ch: ChannelId, peer: &Arc<Peer>, msg: Bytes) {
        let msg = wire::decode(peer, &msg);
        // An answer to our own request is free; anything else counts.
        let answer =
            matches!(msg, Ok(PexMessage::Addrs(_))) && self.asked.lock().remove(&peer.id());
        if !answer && !self.within_rate(&peer.id()) {
            info!(
                "{peer}: over {} PEX messages in an hour",
                self.config.max_msgs_per_hour
            );
            peer.disconnect(format!(
                "more than {} PEX messages in an hour",
                self.config.max_msgs_per_hour
            ));
            return;
        }
        match msg {
            Err(e) => {
                info!("{peer}: {e}");
                peer.disconnect(e.to_string());
            }
            Ok(PexMessage::Request) => {
                let selection = self.book.lock().selection();
                let answer = wire::encode(peer, &PexMessage::Addrs(selection));
                let _ = peer.try_send(PEX_CHANNEL, answer);
            }
            Ok(PexMessage::Addrs(_)) if !answer && wire::answers_only(peer) => {
                info!("{peer}: unsolicited PEX addresses");
                peer.disconnect("unsolicited PEX addresses".to_string());
            }
            Ok(PexMessage::Addrs(addrs)) => {
                // The source is where the bytes came from (as in Go), never what the
                // peer claims: one host must not pose as many source groups.
                let src = NetAddress::from(peer.remote_addr());
                let mut book = self.book.lock();
                for a in addrs {
                    book.add(a, src);
                }
            }
        }
    }
}
