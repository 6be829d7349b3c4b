//! `broadcast`: one 64 KiB message to 100 peers of a Switch, against a raw loop writing it
//! to 100 sockets.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mconn::{ChannelDescriptor, ChannelId, Peer, Reactor, Switch, SwitchConfig};
use stats_alloc::Region;

use crate::mc::CH;
use crate::peer::{self, PacketReader};
use crate::raw::{RawReader, RawWriter};
use crate::report::{ratios, Out, Row, Stats};
use crate::util::{wait_until, Checker, Pool, Res};
use crate::{Opts, GLOBAL};

const PEERS: usize = 100;
const SIZE: usize = 64 * 1024;

pub fn broadcast(o: &Opts, out: &Out) -> Res<()> {
    // This bench reads the allocation counts.
    let _counting = crate::Counting::start();
    let reps = 2 * o.reps();
    out.header(
        "broadcast",
        &[
            format!("one {} KiB message to {PEERS} peers; time from the call until the last peer has the whole message (checked), {reps} broadcasts after one unrecorded, median [min–max] in ms", SIZE / 1024),
            format!("mconn: Switch::broadcast on a Switch (auth_enc off) with {PEERS} inbound peers, channel send_queue_capacity=4, default MConnConfig (1024 B packets)"),
            "the peers are hand-written protocol readers (one thread each, reused buffers, no MConnection), so the process's allocations during a broadcast are the Switch's: the bench's counting global allocator (stats_alloc) measures every thread from the call until the last peer has the message".into(),
            format!("raw: one thread writes the length-prefixed message through each of {PEERS} 64 KiB BufWriters in turn (flushing each), {PEERS} reader threads; the same counting shows what the readers themselves allocate (nothing)"),
            "batch_copy = message bytes each connection's send thread copies into its send batch (status().bytes_sent per peer: payload plus packet headers); the raw writer passes the message to the socket from the caller's buffer".into(),
            "ratio = mconn / raw time per broadcast pair (lower is better here)".into(),
        ],
    );
    let pool = Pool::new(0, SIZE);
    let arrivals = Arc::new(Arrivals::new());
    let mut m = MconnSide::start(arrivals.clone(), &pool)?;
    let mut r = RawSide::start(arrivals.clone(), &pool)?;
    // Warm-up: first messages size the readers' buffers.
    measure(&arrivals, || r.send(&pool))?;
    measure(&arrivals, || m.send(&pool))?;
    let (mut rt, mut mt) = (Vec::new(), Vec::new());
    let (mut r_alloc, mut m_alloc, mut m_allocs, mut m_copy) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rep in 1..=reps {
        let raw = measure(&arrivals, || r.send(&pool))?;
        let sent_before = m.bytes_sent();
        let mc = measure(&arrivals, || m.send(&pool))?;
        let copied = (m.bytes_sent() - sent_before) as f64 / PEERS as f64;
        eprintln!(
            "  broadcast rep {rep}/{reps}: raw {:.2} ms, mconn {:.2} ms ({} B allocated in {} allocations)",
            raw.ms, mc.ms, mc.bytes, mc.allocs
        );
        rt.push(raw.ms);
        mt.push(mc.ms);
        r_alloc.push(raw.bytes as f64 / PEERS as f64);
        m_alloc.push(mc.bytes as f64 / PEERS as f64);
        m_allocs.push(mc.allocs as f64 / PEERS as f64);
        m_copy.push(copied);
    }
    m.stop();
    r.stop();
    out.rows(&[Row::new("broadcast")
        .int("size", SIZE as u64)
        .int("threads", 1)
        .int("peers", PEERS as u64)
        .stat("mconn_ms", Stats::of(&mt), 2)
        .stat("raw_ms", Stats::of(&rt), 2)
        .stat("ratio", Stats::of(&ratios(&mt, &rt)), 3)
        .stat("mconn_alloc_b_per_peer", Stats::of(&m_alloc), 1)
        .stat("mconn_allocs_per_peer", Stats::of(&m_allocs), 2)
        .stat("raw_alloc_b_per_peer", Stats::of(&r_alloc), 1)
        .stat("mconn_batch_copy_b_per_peer", Stats::of(&m_copy), 0)]);
    Ok(())
}

/// When the peers got the message: every reader records its arrival here.
struct Arrivals {
    epoch: Instant,
    count: AtomicUsize,
    last_ns: AtomicU64,
    bad: AtomicU64,
}

impl Arrivals {
    fn new() -> Self {
        Arrivals {
            epoch: Instant::now(),
            count: AtomicUsize::new(0),
            last_ns: AtomicU64::new(0),
            bad: AtomicU64::new(0),
        }
    }
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
    /// A reader got a message; `ok` is its check.
    fn record(&self, ok: bool) {
        self.last_ns.fetch_max(self.now_ns(), AcqRel);
        if !ok {
            self.bad.fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, AcqRel);
    }
}

/// One broadcast's figures.
struct Measured {
    ms: f64,
    bytes: u64,
    allocs: u64,
}

/// Runs `send` and waits until every peer has the message; counts what the whole
/// process allocated meanwhile.
fn measure(a: &Arrivals, send: impl FnOnce() -> Res<()>) -> Res<Measured> {
    a.count.store(0, Release);
    a.last_ns.store(0, Release);
    let region = Region::new(GLOBAL);
    let t0 = a.now_ns();
    send()?;
    let all = wait_until(Duration::from_secs(60), Duration::from_micros(20), || {
        a.count.load(Acquire) == PEERS
    });
    let change = region.change();
    if !all {
        return Err(format!(
            "only {} of {PEERS} peers got the message",
            a.count.load(Acquire)
        )
        .into());
    }
    if a.bad.load(Relaxed) > 0 {
        return Err("a peer got a message that failed the check".into());
    }
    Ok(Measured {
        ms: (a.last_ns.load(Acquire) - t0) as f64 / 1e6,
        bytes: change.bytes_allocated as u64 + change.bytes_reallocated.max(0) as u64,
        allocs: (change.allocations + change.reallocations) as u64,
    })
}

/// The reactor of the bench Switch: owns the channel, ignores what peers send.
struct Sink;

impl Reactor for Sink {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(CH, 1).send_queue_capacity(4)]
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {}
}

/// A Switch with `PEERS` hand-written protocol peers reading from it.
struct MconnSide {
    switch: Switch,
    readers: Vec<JoinHandle<()>>,
    next: u64,
    /// Built with the `metrics` feature, the switch's collector is registered, as a node
    /// that is scraped has it, so the bench measures that build as users run it.
    #[cfg(feature = "metrics")]
    registry: mconn::prometheus_client::registry::Registry,
}

impl MconnSide {
    fn start(arrivals: Arc<Arrivals>, pool: &Pool) -> Res<MconnSide> {
        let cfg = SwitchConfig::default()
            .auth_enc(false)
            .max_inbound_peers(PEERS + 8);
        let switch = Switch::new(cfg, peer::switch_info())?;
        switch.add_reactor("sink", Arc::new(Sink))?;
        #[cfg(feature = "metrics")]
        let mut registry = mconn::prometheus_client::registry::Registry::with_prefix("cometbft");
        #[cfg(feature = "metrics")]
        switch.register_metrics(&mut registry);
        let addr = switch.listen("127.0.0.1:0")?;
        let mut readers = Vec::new();
        for i in 0..PEERS {
            let mut s = TcpStream::connect(addr)?;
            peer::handshake(&mut s, i as u32)?;
            let mut reader = PacketReader::new(s, 1024);
            let mut check = Checker::new(1, pool);
            let a = arrivals.clone();
            readers.push(thread::spawn(move || {
                while let Ok(Some((_, msg))) = reader.next_msg() {
                    a.record(check.check(msg));
                }
            }));
        }
        if !wait_until(Duration::from_secs(30), Duration::from_millis(1), || {
            switch.num_peers().1 == PEERS
        }) {
            return Err(format!("only {:?} peers joined", switch.num_peers()).into());
        }
        Ok(MconnSide {
            switch,
            readers,
            next: 0,
            #[cfg(feature = "metrics")]
            registry,
        })
    }

    fn send(&mut self, pool: &Pool) -> Res<()> {
        let res = self.switch.broadcast(CH, pool.get(self.next).clone());
        self.next += 1;
        if res.sent.len() != PEERS {
            return Err(format!("broadcast reached {} of {PEERS} peers", res.sent.len()).into());
        }
        Ok(())
    }

    /// Wire bytes written to all peers so far.
    fn bytes_sent(&self) -> u64 {
        self.switch
            .peers()
            .iter()
            .map(|p| p.status().bytes_sent)
            .sum()
    }

    fn stop(self) {
        // A scrape, which must see the broadcasts' bytes (the collector is read here).
        #[cfg(feature = "metrics")]
        {
            let mut text = String::new();
            mconn::prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
                .map_err(|e| eprintln!("  broadcast: scrape failed: {e}"))
                .ok();
            let sent = text
                .lines()
                .filter(|l| l.starts_with("cometbft_p2p_peer_send_bytes_total"))
                .count();
            eprintln!(
                "  broadcast: metrics scrape of {} bytes, {sent} peer_send_bytes series",
                text.len()
            );
        }
        self.switch.stop();
        for r in self.readers {
            let _ = r.join();
        }
    }
}

/// `PEERS` raw connections, written by this thread, read by a thread each.
struct RawSide {
    writers: Vec<RawWriter>,
    readers: Vec<JoinHandle<()>>,
    next: u64,
}

impl RawSide {
    fn start(arrivals: Arc<Arrivals>, pool: &Pool) -> Res<RawSide> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let addr: SocketAddr = l.local_addr()?;
        let (mut writers, mut readers) = (Vec::new(), Vec::new());
        for _ in 0..PEERS {
            writers.push(RawWriter::new(TcpStream::connect(addr)?)?);
            let (s, _) = l.accept()?;
            let mut reader = RawReader::new(s);
            let mut check = Checker::new(1, pool);
            let a = arrivals.clone();
            readers.push(thread::spawn(move || {
                while let Ok(Some(msg)) = reader.next_msg() {
                    a.record(check.check(msg));
                }
            }));
        }
        Ok(RawSide {
            writers,
            readers,
            next: 0,
        })
    }

    fn send(&mut self, pool: &Pool) -> Res<()> {
        let msg = pool.get(self.next);
        self.next += 1;
        for w in &mut self.writers {
            w.send(msg)?;
            w.flush()?;
        }
        Ok(())
    }

    fn stop(self) {
        drop(self.writers); // each reader sees the end of its stream
        for r in self.readers {
            let _ = r.join();
        }
    }
}
