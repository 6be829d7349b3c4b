//! The ensure-peers loop (Go's `ensurePeersRoutine`): every `ensure_period`, dial picks
//! from the book until `min_outbound` outbound peers stand, never an address already
//! connected or being dialled (by this loop, a seed or the application); ask a random peer for addresses while the book needs
//! more; forget bad addresses. Unlike Go v0.12.1 it compares addresses, not IPs (Go
//! skipped every address on a connected peer's IP, one per IP per round), and marks
//! each attempt and success in the book.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{select, Receiver};
use log::{debug, warn};

use super::address::NetAddress;
use super::book_file::write_file;
use super::reactor::{dialable, PexReactor};
use super::sample::Rng;
use super::wire;
use crate::error::{Error, RejectReason};
use crate::node_id::ExpectedId;
use crate::switch::{SwitchView, WeakSwitch};

impl PexReactor {
    pub(super) fn ensure_loop(self: &Arc<Self>, weak: &WeakSwitch, stopping: &Receiver<()>) {
        let period = self.config.ensure_period;
        let mut rng = Rng::from_clock(0);
        let mut wait = period.mul_f64(rng.unit());
        let mut saved = Instant::now();
        loop {
            select! {
                recv(stopping) -> _ => {
                    self.save_book();
                    return;
                }
                default(wait) => {}
            }
            wait = period;
            if saved.elapsed() >= self.config.save_period {
                self.save_book();
                saved = Instant::now();
            }
            let Some(switch) = weak.view().filter(SwitchView::is_running) else {
                // Stopping (or gone) without the signal seen yet: save all the same.
                self.save_book();
                return;
            };
            self.ensure_peers(&switch, weak, &mut rng);
        }
    }

    /// Saves the book to `book_file`, if set (a failure is logged: the book stays in
    /// memory and the next save tries again).
    fn save_book(&self) {
        if let Some(path) = &self.config.book_file {
            // Written outside the book's lock: receiving goes on meanwhile.
            let json = self.book.lock().to_json();
            if let Err(e) = write_file(path, &json) {
                warn!("pex: {e}");
            }
        }
    }

    /// One round; see the module docs.
    fn ensure_peers(self: &Arc<Self>, switch: &SwitchView, weak: &WeakSwitch, rng: &mut Rng) {
        // The book first, then the peers: `add_peer` files a new peer's address under
        // the book's lock after the switch lists the peer, so every address the book
        // learnt from a connection is seen here with its peer. (The other order let a
        // peer admitted between the two look unconnected, and we dialled it again: the
        // second connection replaced the first.)
        let mut book = self.book.lock();
        let peers = switch.peers();
        // What we dialled, and what an inbound peer says it listens on if that is on the
        // IP it came from: a claim about another host's address must not stop us from
        // dialling that host, and a true one must not make us dial the peer again (a
        // second connection to one node would replace the first).
        let connected: HashSet<NetAddress> = peers
            .iter()
            .filter_map(|p| {
                if p.is_outbound() {
                    Some(NetAddress::from(p.remote_addr()))
                } else {
                    dialable(p).filter(|a| a.ip() == NetAddress::from(p.remote_addr()).ip())
                }
            })
            .collect();
        let outbound = peers.iter().filter(|p| p.is_outbound()).count();
        if let Ok(ours) = switch
            .node_info()
            .listen_addr
            .parse::<std::net::SocketAddr>()
        {
            book.add_our_address(NetAddress::from(ours));
        }
        book.remove_bad();
        // Ours, and every dial the switch has in flight (a seed's, the application's):
        // dialling one of those again would replace the connection it makes.
        let dialling = self.dialling.lock().clone();
        let in_flight = switch.dialling();
        let pending = in_flight.len()
            + dialling
                .iter()
                .filter(|a| !in_flight.contains(&a.socket_addr()))
                .count();
        // Never more than the book holds: a huge min_outbound must not spin here.
        let need = self
            .config
            .min_outbound
            .saturating_sub(outbound + pending)
            .min(book.size());
        // Go's bias: more new addresses while we have few peers.
        let bias = (outbound.min(8) * 10 + 10) as u32;
        let mut picks = HashSet::new();
        for _ in 0..need.saturating_mul(3) {
            if picks.len() >= need {
                break;
            }
            let Some(a) = book.pick(bias) else {
                break;
            };
            if !connected.contains(&a)
                && !dialling.contains(&a)
                && !in_flight.contains(&a.socket_addr())
            {
                picks.insert(a);
            }
        }
        let ask = book.need_more();
        drop(book);
        for a in picks {
            self.dial(switch, weak, a);
        }
        if ask && !peers.is_empty() {
            let p = &peers[rng.below(peers.len() as u64) as usize];
            self.request(p);
        }
    }

    /// Dials `addr` on a thread the switch owns; a success is marked good in the book.
    fn dial(self: &Arc<Self>, switch: &SwitchView, weak: &WeakSwitch, addr: NetAddress) {
        self.dialling.lock().insert(addr);
        let me = self.clone();
        let weak = weak.clone();
        let spawned = switch.spawn("mconn-pex-dial", move |_| {
            // Dials without holding a handle: dropping the application's last one
            // stops the switch, and this dial with it.
            let dialled = match weak.view() {
                Some(v) => v.dial(addr.socket_addr(), addr.id().map(ExpectedId::Node)),
                None => Err(Error::Stopped),
            };
            let mut book = me.book.lock();
            match dialled {
                // The node proved its key: its id is known now.
                Ok(peer) => match wire::book_id(&peer) {
                    Some(id) => book.mark_good(&addr.with_id(id)),
                    None => book.mark_good(&addr),
                },
                // That node is connected already (it dialled us), or it is us: not a
                // failure of the address.
                Err(Error::Rejected(RejectReason::Duplicate)) => {}
                Err(Error::Rejected(RejectReason::SelfConnection)) => book.add_our_address(addr),
                Err(Error::Stopped) => {}
                // Another node answers there: the id was false (or stale).
                Err(e @ Error::Rejected(RejectReason::KeyMismatch(_))) => {
                    book.mark_attempt(&addr);
                    book.forget_id(&addr);
                    debug!("pex: dial {addr} reached another node: {e}");
                }
                Err(e) => {
                    book.mark_attempt(&addr);
                    debug!("pex: dial {addr} failed: {e}");
                }
            }
            drop(book);
            me.dialling.lock().remove(&addr);
        });
        if spawned.is_err() {
            self.dialling.lock().remove(&addr);
        }
    }
}
