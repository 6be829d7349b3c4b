//! The ensure-peers loop (Go's `ensurePeersRoutine`): every `ensure_period`, dial picks
//! from the book until `min_outbound` outbound peers stand, never an address already
//! connected or being dialled; ask a random peer for addresses while the book needs
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
use super::message::PexMessage;
use super::reactor::{dialable, PexReactor, PEX_CHANNEL};
use super::sample::Rng;
use crate::switch::{Switch, WeakSwitch};

impl PexReactor {
    pub(super) fn ensure_loop(self: &Arc<Self>, weak: &WeakSwitch, stopping: &Receiver<()>) {
        let period = self.config.ensure_period;
        let mut rng = Rng::new(seed());
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
            let Some(switch) = weak.upgrade() else {
                return;
            };
            if !switch.is_running() {
                return;
            }
            self.ensure_peers(&switch, &mut rng);
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
    fn ensure_peers(self: &Arc<Self>, switch: &Switch, rng: &mut Rng) {
        let peers = switch.peers();
        let connected: HashSet<NetAddress> = peers.iter().filter_map(|p| dialable(p)).collect();
        let outbound = peers.iter().filter(|p| p.is_outbound()).count();
        let mut book = self.book.lock();
        if let Ok(ours) = switch
            .node_info()
            .listen_addr
            .parse::<std::net::SocketAddr>()
        {
            book.add_our_address(NetAddress::from(ours));
        }
        book.remove_bad();
        let dialling = self.dialling.lock().clone();
        let need = self
            .config
            .min_outbound
            .saturating_sub(outbound + dialling.len());
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
            if !connected.contains(&a) && !dialling.contains(&a) {
                picks.insert(a);
            }
        }
        for a in &picks {
            book.mark_attempt(a);
        }
        let ask = book.need_more();
        drop(book);
        for a in picks {
            self.dial(switch, a);
        }
        if ask && !peers.is_empty() {
            let p = &peers[rng.below(peers.len() as u64) as usize];
            let _ = p.try_send(PEX_CHANNEL, PexMessage::Request.encode());
        }
    }

    /// Dials `addr` on a thread the switch owns; a success is marked good in the book.
    fn dial(self: &Arc<Self>, switch: &Switch, addr: NetAddress) {
        self.dialling.lock().insert(addr);
        let me = self.clone();
        let weak = switch.downgrade();
        let spawned = switch.spawn("mconn-pex-dial", move |_| {
            let dialled = weak.upgrade().map(|sw| sw.dial(addr.socket_addr()));
            match dialled {
                Some(Ok(_)) => me.book.lock().mark_good(&addr),
                Some(Err(e)) => debug!("pex: dial {addr} failed: {e}"),
                None => {}
            }
            me.dialling.lock().remove(&addr);
        });
        if spawned.is_err() {
            self.dialling.lock().remove(&addr);
        }
    }
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7)
        ^ (std::process::id() as u64).rotate_left(40)
}
