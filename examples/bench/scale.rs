//! `scale`: N peers on one Switch, each sending a small message every second.
//!
//! Each measurement runs in two fresh child processes of this binary: a *server*
//! (`--scale-server KIND N ROUNDS`: the Switch, or the raw baseline's thread-per-connection
//! server) and, started by it, a *driver* (`--scale-driver KIND ADDR N ROUNDS`: N
//! hand-written peers on a few threads). So the server's RSS, threads and file
//! descriptors are its own: no peer side, and no heap left over from earlier benches.
//! The server reports on stdout in `scale-result KEY VALUE` lines.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{unbounded, Receiver};
use mconn::{ChannelDescriptor, ChannelId, MConnConfig, Peer, Reactor, Switch, SwitchConfig};
use stats_alloc::Region;

use crate::mc::CH;
use crate::peer;
use crate::raw::RawReader;
use crate::report::{ratios, Out, Row, Stats};
use crate::util::{rss_kib, thread_count, wait_until, Res};
use crate::{Opts, GLOBAL};

/// Bytes of each peer's message: its index, the round, padding.
const MSG: usize = 32;
/// Threads the driver connects its peers from.
const DRIVER_THREADS: usize = 4;
/// The raw server's one-byte greeting.
const RAW_HELLO: u8 = 0x21;
/// Stack of the raw server's reader threads: the same as mconn's I/O threads.
/// The raw baseline's reader threads get the stack mconn's I/O threads get by default.
fn raw_stack() -> usize {
    MConnConfig::default().io_thread_stack_size
}

pub fn scale(o: &Opts, out: &Out) -> Res<()> {
    let mut sizes = if o.quick { vec![100] } else { vec![100, 1000] };
    if o.big {
        sizes.push(10_000);
        // If 10 000 does not fit the file descriptor limit, also the most that does.
        if let Some(fit) = largest_fit(10_000) {
            sizes.push(fit);
        }
    }
    let rounds: u32 = if o.quick { 2 } else { 3 };
    let reps = if o.quick { 1 } else { 3 };
    out.header(
        "scale",
        &[
            format!("N peers connect to one server, then each sends a {MSG} B message every second, {rounds} times; {reps} repetitions per N, each in fresh processes, median [min–max]"),
            format!("mconn: a Switch (auth_enc off, max_inbound_peers N, default MConnConfig: io_thread_stack_size {} KiB; {} dispatch workers with {} KiB stacks) and a reactor that checks and counts every message", MConnConfig::default().io_thread_stack_size / 1024, SwitchConfig::default().workers, SwitchConfig::default().worker_stack_size / 1024),
            format!("raw: an accept thread and one reader thread per connection ({} KiB stacks, 64 KiB BufReader, reused message buffer) that greets its peer with one byte: a minimal handshake", raw_stack() / 1024),
            format!("the peers run in a separate driver process ({DRIVER_THREADS} threads connect them; mconn peers do the NodeInfo handshake by hand and write msg packets, no MConnection; each driver thread waits for the server's handshake or greeting before its next connect, so no connect waits on a full accept backlog), so the server process holds only the server"),
            "connect_ms: from the driver's first connect until the server counts N peers (Switch::num_peers: handshaken, added to reactors; raw: reader thread running)".into(),
            "rss_kib_per_peer: (VmRSS after the last round - VmRSS of the started, listening server with no peers) / N; threads and fds per peer the same way from /proc/self; heap_kib_per_peer: heap bytes live (allocated - freed, counting allocator) over the same span / N: requested, not necessarily resident".into(),
            "all_delivered: every peer's every message arrived, in order, at the reactor (raw: the reader). ratio = mconn / raw RSS per peer, ratio_connect = mconn / raw connect time (lower is better for both)".into(),
        ],
    );
    let mut rows = Vec::new();
    for n in sizes {
        let mut runs: HashMap<&str, Vec<HashMap<String, String>>> = HashMap::new();
        let mut skipped = None;
        for rep in 1..=reps {
            for kind in ["raw", "mconn"] {
                if let Err(why) = preflight(n) {
                    skipped = Some(format!("mconn: {why}"));
                    break;
                }
                let r = run_server(kind, n, rounds)?;
                if let Some(why) = r.get("skip") {
                    skipped = Some(format!("{kind}: {why}"));
                    break;
                }
                eprintln!(
                    "  scale {n} peers rep {rep}/{reps} {kind}: connect {} ms, {} KiB/peer, {} threads/peer, delivered {}/{}",
                    r["connect_ms"], r["rss_kib_per_peer"], r["threads_per_peer"], r["delivered"], r["expected"]
                );
                runs.entry(kind).or_default().push(r);
            }
            if skipped.is_some() {
                break;
            }
        }
        let row = Row::new("scale")
            .int("size", MSG as u64)
            .int("threads", 1)
            .int("peers", n as u64);
        if let Some(why) = skipped {
            out.info("scale skipped", &format!("{n} peers: {why}"));
            if out.json {
                // A program sees the size it asked for; a person has the line above.
                rows.push(row.text("skipped", &why));
            }
            continue;
        }
        let col = |kind: &str, key: &str| -> Vec<f64> {
            runs[kind]
                .iter()
                .map(|r| r[key].parse::<f64>().unwrap_or(f64::NAN))
                .collect()
        };
        let delivered = runs
            .values()
            .flatten()
            .all(|r| r["delivered"] == r["expected"] && r["bad"] == "0");
        let (mc, rc) = (col("mconn", "connect_ms"), col("raw", "connect_ms"));
        let (mr, rr) = (
            col("mconn", "rss_kib_per_peer"),
            col("raw", "rss_kib_per_peer"),
        );
        rows.push(
            row.int("rounds", rounds as u64)
                .stat("mconn_connect_ms", Stats::of(&mc), 1)
                .stat("raw_connect_ms", Stats::of(&rc), 1)
                .stat("ratio_connect", Stats::of(&ratios(&mc, &rc)), 2)
                .stat("mconn_rss_kib_per_peer", Stats::of(&mr), 1)
                .stat("raw_rss_kib_per_peer", Stats::of(&rr), 1)
                .stat("ratio", Stats::of(&ratios(&mr, &rr)), 2)
                .num(
                    "mconn_heap_kib_per_peer",
                    Stats::of(&col("mconn", "heap_kib_per_peer")).median,
                    1,
                )
                .num(
                    "raw_heap_kib_per_peer",
                    Stats::of(&col("raw", "heap_kib_per_peer")).median,
                    1,
                )
                .num(
                    "mconn_threads_per_peer",
                    Stats::of(&col("mconn", "threads_per_peer")).median,
                    2,
                )
                .num(
                    "raw_threads_per_peer",
                    Stats::of(&col("raw", "threads_per_peer")).median,
                    2,
                )
                .num(
                    "mconn_fds_per_peer",
                    Stats::of(&col("mconn", "fds_per_peer")).median,
                    2,
                )
                .bool("all_delivered", delivered),
        );
    }
    out.rows(&rows);
    Ok(())
}

/// File descriptors the mconn server needs per peer: one socket, shared by the
/// connection's reader, writer and closer. The raw server needs one too.
const MCONN_FDS_PER_PEER: u64 = 1;

/// If `n` mconn peers need more file descriptors than the hard limit allows, the most
/// (in thousands) that fit.
fn largest_fit(n: u64) -> Option<usize> {
    let (_, hard) = nofile()?;
    let fit = hard.saturating_sub(256) / MCONN_FDS_PER_PEER / 1000 * 1000;
    (fit < n && fit > 0).then_some(fit as usize)
}

/// Whether an mconn server with `n` peers fits this machine's limits (the server checks
/// again, and raises its soft file limit if it may).
fn preflight(n: usize) -> Result<(), String> {
    let (_, hard) = nofile().ok_or("cannot read /proc/self/limits")?;
    let need = MCONN_FDS_PER_PEER * n as u64 + 256;
    if need > hard {
        return Err(format!(
            "needs {need} file descriptors ({MCONN_FDS_PER_PEER} per peer) but the hard limit is {hard}: run with `ulimit -n {need}`"
        ));
    }
    check_threads(2 * n)
}

/// Runs one server process and returns what it reported.
fn run_server(kind: &str, n: usize, rounds: u32) -> Res<HashMap<String, String>> {
    let out = Command::new(std::env::current_exe()?)
        .args(["--scale-server", kind, &n.to_string(), &rounds.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let map: HashMap<String, String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("scale-result "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(e) = map.get("error") {
        return Err(format!("scale server ({kind}, {n} peers): {e}").into());
    }
    if !out.status.success() || !(map.contains_key("skip") || map.contains_key("connect_ms")) {
        return Err(format!("scale server ({kind}, {n} peers) failed: {}", out.status).into());
    }
    Ok(map)
}

// ------------------------------------------------------------------------ the server

/// `--scale-server KIND N ROUNDS`.
pub fn server_main(args: &[String]) -> ExitCode {
    // This bench reads the allocation counts.
    let _counting = crate::Counting::start();
    let result = parse_args(args, 3).and_then(|a| serve(&a[0], a[1].parse()?, a[2].parse()?));
    let report = |k: &str, v: &str| println!("scale-result {k} {v}");
    match result {
        Ok(pairs) => {
            for (k, v) in pairs {
                report(&k, &v);
            }
            // Exit without tearing down thousands of connections: not what is measured.
            let _ = std::io::stdout().flush();
            std::process::exit(0);
        }
        Err(e) => {
            report("error", &e.to_string());
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: &[String], n: usize) -> Res<Vec<String>> {
    if args.len() != n {
        return Err(format!("expected {n} arguments, got {args:?}").into());
    }
    Ok(args.to_vec())
}

/// What every server counts: peers connected, and each peer's messages in order.
struct Counts {
    connected: AtomicUsize,
    per_peer: Vec<AtomicU32>,
    total: AtomicU64,
    bad: AtomicU64,
}

impl Counts {
    fn new(n: usize) -> Counts {
        Counts {
            connected: AtomicUsize::new(0),
            per_peer: (0..n).map(|_| AtomicU32::new(0)).collect(),
            total: AtomicU64::new(0),
            bad: AtomicU64::new(0),
        }
    }

    /// Checks a message from peer `from`: it must name that peer and the next round.
    fn record(&self, from: u32, msg: &[u8]) {
        let ok = msg.len() == MSG
            && u32::from_le_bytes(msg[..4].try_into().unwrap()) == from
            && self.per_peer.get(from as usize).is_some_and(|c| {
                let want = c.fetch_add(1, Relaxed);
                u32::from_le_bytes(msg[4..8].try_into().unwrap()) == want
            });
        if !ok {
            self.bad.fetch_add(1, Relaxed);
        }
        self.total.fetch_add(1, Relaxed);
    }
}

fn message(index: u32, round: u32) -> [u8; MSG] {
    let mut m = [0u8; MSG];
    m[..4].copy_from_slice(&index.to_le_bytes());
    m[4..8].copy_from_slice(&round.to_le_bytes());
    m
}

/// The Switch's reactor: checks and counts every message.
struct Counter(Arc<Counts>);

impl Reactor for Counter {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(CH, 1)]
    }
    fn receive(&self, _: ChannelId, peer: &Arc<Peer>, msg: Bytes) {
        match peer::index_of(peer.node_info()) {
            Some(i) => self.0.record(i, &msg),
            None => {
                self.0.bad.fetch_add(1, Relaxed);
            }
        }
    }
}

/// A running server: where it listens; `_keep` holds it alive.
struct Server {
    addr: SocketAddr,
    counts: Arc<Counts>,
    connected: Box<dyn Fn() -> usize>,
    _keep: Box<dyn std::any::Any>,
}

fn mconn_server(n: usize) -> Res<Server> {
    let counts = Arc::new(Counts::new(n));
    let cfg = SwitchConfig::default()
        .auth_enc(false)
        .max_inbound_peers(n + 16);
    let sw = Switch::new(cfg, peer::switch_info())?;
    sw.add_reactor("counter", Arc::new(Counter(counts.clone())))?;
    let addr = sw.listen("127.0.0.1:0")?;
    let sw2 = sw.clone();
    Ok(Server {
        addr,
        counts,
        connected: Box::new(move || sw2.num_peers().1),
        _keep: Box::new(sw),
    })
}

fn raw_server(n: usize) -> Res<Server> {
    let counts = Arc::new(Counts::new(n));
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let c = counts.clone();
    thread::Builder::new()
        .name("raw-accept".into())
        .spawn(move || {
            for s in l.incoming().map_while(Result::ok) {
                let c2 = c.clone();
                let spawned = thread::Builder::new()
                    .name("raw-reader".into())
                    .stack_size(raw_stack())
                    .spawn(move || raw_reader(s, &c2));
                if spawned.is_err() {
                    c.bad.fetch_add(1, Relaxed);
                }
            }
        })?;
    let c = counts.clone();
    Ok(Server {
        addr,
        counts,
        connected: Box::new(move || c.connected.load(Acquire)),
        _keep: Box::new(()),
    })
}

/// One raw connection: greets the peer with one byte (so the driver, like mconn's, waits
/// for the server before its next connect), then reads. The first message names the
/// peer; all must follow in order.
fn raw_reader(mut s: TcpStream, c: &Counts) {
    c.connected.fetch_add(1, AcqRel);
    if s.write_all(&[RAW_HELLO]).is_err() {
        c.bad.fetch_add(1, Relaxed);
        return;
    }
    let mut r = RawReader::new(s);
    let mut from = None;
    while let Ok(Some(m)) = r.next_msg() {
        let idx = *from.get_or_insert_with(|| {
            m.get(..4)
                .map_or(u32::MAX, |b| u32::from_le_bytes(b.try_into().unwrap()))
        });
        c.record(idx, m);
    }
}

/// Runs the server, its driver and the measurement; returns the report's pairs.
fn serve(kind: &str, n: usize, rounds: u32) -> Res<Vec<(String, String)>> {
    let (fds_per_peer, threads_per_peer) = match kind {
        "mconn" => (MCONN_FDS_PER_PEER, 2),
        "raw" => (1, 1),
        _ => return Err(format!("unknown kind {kind:?}").into()),
    };
    let skip = |why: String| Ok(vec![("skip".to_string(), why)]);
    if let Err(why) = ensure_nofile(fds_per_peer * n as u64 + 256) {
        return skip(why);
    }
    if let Err(why) = check_threads(threads_per_peer * n) {
        return skip(why);
    }
    let server = if kind == "mconn" {
        mconn_server(n)?
    } else {
        raw_server(n)?
    };
    thread::sleep(Duration::from_millis(100)); // let the server's threads settle
    let (rss0, threads0, fds0) = (rss_kib(), thread_count(), fd_count());
    let heap = Region::new(GLOBAL);

    let mut driver = Command::new(std::env::current_exe()?)
        .args([
            "--scale-driver",
            kind,
            &server.addr.to_string(),
            &n.to_string(),
            &rounds.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let lines = line_channel(driver.stdout.take().unwrap());
    let expect = |what: &str, limit: Duration| -> Res<()> {
        match lines.recv_timeout(limit) {
            Ok(l) if l == what => Ok(()),
            Ok(l) => Err(format!("driver said {l:?}, expected {what:?}").into()),
            Err(_) => Err(format!("driver did not say {what:?} within {limit:?}").into()),
        }
    };
    expect("go", Duration::from_secs(30))?;
    let t0 = Instant::now();
    let limit = Duration::from_secs(60 + n as u64 / 50);
    if !wait_until(limit, Duration::from_millis(1), || {
        (server.connected)() >= n
    }) {
        return Err(format!("only {} of {n} peers connected", (server.connected)()).into());
    }
    let connect = t0.elapsed();
    expect("connected", Duration::from_secs(60))?;
    expect("sent", Duration::from_secs(rounds as u64 + 60))?;
    let want = n as u64 * rounds as u64;
    let c = &server.counts;
    wait_until(Duration::from_secs(10), Duration::from_millis(5), || {
        c.total.load(Relaxed) >= want
    });
    let (rss1, threads1, fds1) = (rss_kib(), thread_count(), fd_count());
    let h = heap.change();
    let live = h.bytes_allocated as i64 - h.bytes_deallocated as i64 + h.bytes_reallocated as i64;
    drop(driver.stdin.take()); // the driver exits at the end of its input
    let _ = driver.wait();

    let per = |a: u64, b: u64| format!("{:.3}", (a as f64 - b as f64) / n as f64);
    Ok(vec![
        (
            "connect_ms".into(),
            format!("{:.1}", connect.as_secs_f64() * 1e3),
        ),
        ("rss0_kib".into(), rss0.to_string()),
        ("rss1_kib".into(), rss1.to_string()),
        ("rss_kib_per_peer".into(), per(rss1, rss0)),
        (
            "heap_kib_per_peer".into(),
            format!("{:.3}", live as f64 / 1024.0 / n as f64),
        ),
        (
            "threads_per_peer".into(),
            per(threads1 as u64, threads0 as u64),
        ),
        ("fds_per_peer".into(), per(fds1 as u64, fds0 as u64)),
        ("delivered".into(), c.total.load(Relaxed).to_string()),
        ("expected".into(), want.to_string()),
        ("bad".into(), c.bad.load(Relaxed).to_string()),
    ])
}

/// The lines a child prints, on a channel.
fn line_channel(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = unbounded();
    thread::spawn(move || {
        for l in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// (soft, hard) RLIMIT_NOFILE of this process, from /proc/self/limits.
fn nofile() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/self/limits").ok()?;
    let l = s.lines().find(|l| l.starts_with("Max open files"))?;
    let mut v = l["Max open files".len()..].split_whitespace();
    let soft = v.next()?.parse().ok()?;
    let hard = v.next()?.parse().unwrap_or(u64::MAX);
    Some((soft, hard))
}

/// Makes sure this process may open `need` files, raising RLIMIT_NOFILE with `prlimit`
/// on our own pid if needed (no unsafe code). `Err` says what to do instead.
fn ensure_nofile(need: u64) -> Result<(), String> {
    let (soft, hard) = nofile().ok_or("cannot read /proc/self/limits")?;
    if soft >= need {
        return Ok(());
    }
    let _ = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={need}:{}", hard.max(need)))
        .stderr(Stdio::null())
        .status();
    match nofile() {
        Some((soft, _)) if soft >= need => {
            eprintln!("  (raised RLIMIT_NOFILE to {need} with prlimit)");
            Ok(())
        }
        _ => Err(format!(
            "needs {need} file descriptors but the limit is {soft} and prlimit could not raise it: run with `ulimit -n {need}`"
        )),
    }
}

/// Whether the system has room for `need` more threads (pid_max and threads-max are
/// system-wide; the tasks already running count against them).
fn check_threads(need: usize) -> Result<(), String> {
    let read = |p: &str| -> usize {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(usize::MAX)
    };
    let pid_max = read("/proc/sys/kernel/pid_max");
    let threads_max = read("/proc/sys/kernel/threads-max");
    let running: usize = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().nth(3)?.split_once('/')?.1.parse().ok())
        .unwrap_or(0);
    let room = pid_max.min(threads_max).saturating_sub(running);
    if need + 1000 > room {
        return Err(format!(
            "needs about {need} threads; the system has room for {room} (pid_max {pid_max}, threads-max {threads_max}, {running} tasks running)"
        ));
    }
    // Each thread maps its stack, a guard page and a signal stack: a few mappings each.
    let maps = read("/proc/sys/vm/max_map_count");
    if need.saturating_mul(4) + 10_000 > maps {
        return Err(format!(
            "needs about {need} threads, i.e. {} memory mappings; vm.max_map_count is {maps} (raise it: sysctl -w vm.max_map_count=262144)",
            need * 4 + 10_000
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------------ the driver

/// `--scale-driver KIND ADDR N ROUNDS`: connects N peers, says "go" before the first
/// connect and "connected" after the last, sends ROUNDS rounds one second apart, says
/// "sent", and keeps the connections until its input ends.
pub fn driver_main(args: &[String]) -> ExitCode {
    match drive(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("error {e}");
            ExitCode::FAILURE
        }
    }
}

fn say(what: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{what}");
    let _ = out.flush();
}

fn drive(args: &[String]) -> Res<()> {
    let a = parse_args(args, 4)?;
    let (kind, addr): (&str, SocketAddr) = (&a[0], a[1].parse()?);
    let (n, rounds): (usize, u32) = (a[2].parse()?, a[3].parse()?);
    ensure_nofile(n as u64 + 256)?;
    let mconn = kind == "mconn";
    say("go");
    let mut socks: Vec<(u32, TcpStream)> = thread::scope(|s| -> Res<Vec<(u32, TcpStream)>> {
        let hs: Vec<_> = (0..DRIVER_THREADS)
            .map(|k| {
                s.spawn(move || -> Res<Vec<(u32, TcpStream)>> {
                    let mut mine = Vec::new();
                    for i in (k..n).step_by(DRIVER_THREADS) {
                        let mut st = TcpStream::connect(addr)?;
                        st.set_nodelay(true)?;
                        if mconn {
                            peer::handshake(&mut st, i as u32)?;
                        } else {
                            let mut hello = [0u8];
                            st.read_exact(&mut hello)?;
                            if hello[0] != RAW_HELLO {
                                return Err("bad greeting from the raw server".into());
                            }
                        }
                        mine.push((i as u32, st));
                    }
                    Ok(mine)
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in hs {
            all.extend(h.join().expect("driver thread panicked")?);
        }
        Ok(all)
    })?;
    say("connected");
    let start = Instant::now();
    let mut buf = Vec::new();
    for round in 0..rounds {
        let due = start + Duration::from_secs(round as u64);
        thread::sleep(due.saturating_duration_since(Instant::now()));
        for (i, s) in &mut socks {
            let m = message(*i, round);
            buf.clear();
            if mconn {
                peer::encode_msg(&mut buf, CH, &m, 1024);
            } else {
                // As RawWriter frames it: a 4-byte length, then the bytes.
                buf.extend_from_slice(&(MSG as u32).to_le_bytes());
                buf.extend_from_slice(&m);
            }
            s.write_all(&buf)?;
        }
    }
    say("sent");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}
