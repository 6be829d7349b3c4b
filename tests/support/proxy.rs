//! A loopback TCP proxy that misbehaves on request, for failure tests.
//!
//! `Proxy::start(upstream)` listens on a loopback port; every connection to it is joined to
//! a new connection to `upstream` by two pump threads (one per direction). A [`Proxy`]
//! handle changes what the pumps do at any time, for every connection, live or future:
//!
//! * [`set_delay`](Proxy::set_delay): hold each chunk this long before forwarding it;
//! * [`set_rate`](Proxy::set_rate): forward at most N bytes per second per direction;
//! * [`cut_after`](Proxy::cut_after): once a connection has forwarded N bytes in one
//!   direction, forward exactly up to N and close both sides (once);
//! * [`cut_now`](Proxy::cut_now): close both sides of every connection now;
//! * [`set_silent`](Proxy::set_silent): stop forwarding in both directions but keep every
//!   socket open (the peers see a live, mute connection; TCP backpressure builds up);
//! * [`inject`](Proxy::inject): write these bytes into one direction's stream, between two
//!   forwarded chunks ([`inject_on_connect`](Proxy::inject_on_connect): first thing on
//!   every new connection);
//! * [`half_close`](Proxy::half_close): shut down the writing side of one direction (the
//!   receiver reads EOF) while the other direction keeps flowing.
//!
//! Dropping the handle closes everything and joins every thread it started.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A direction through the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// From the side that connected to the proxy to the upstream server.
    ToServer,
    /// From the upstream server back to the side that connected to the proxy.
    ToClient,
}

impl Dir {
    fn idx(self) -> usize {
        match self {
            Dir::ToServer => 0,
            Dir::ToClient => 1,
        }
    }
}

/// How often a pump looks at the controls while it has nothing to read.
const POLL: Duration = Duration::from_millis(5);

#[derive(Default)]
struct Settings {
    delay: Duration,
    rate: Option<u64>,
    silent: bool,
    cut_after: [Option<u64>; 2],
    on_connect: [Vec<u8>; 2],
    stopped: bool,
}

struct Conn {
    client: TcpStream,
    server: TcpStream,
    forwarded: [AtomicU64; 2],
    inject: Mutex<[Vec<u8>; 2]>,
    half_closed: [AtomicBool; 2],
    closed: AtomicBool,
}

impl Conn {
    /// (source, destination) of a direction.
    fn ends(&self, dir: Dir) -> (&TcpStream, &TcpStream) {
        match dir {
            Dir::ToServer => (&self.client, &self.server),
            Dir::ToClient => (&self.server, &self.client),
        }
    }

    fn close(&self) {
        self.closed.store(true, Release);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }
}

struct Ctl {
    settings: Mutex<Settings>,
    cv: Condvar,
    conns: Mutex<Vec<Arc<Conn>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    accepted: AtomicU64,
    cuts: AtomicU64,
    /// Bytes forwarded per direction by connections already forgotten.
    forwarded_before: [AtomicU64; 2],
}

/// The handle of a running proxy. See the module docs.
pub struct Proxy {
    addr: SocketAddr,
    ctl: Arc<Ctl>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy on a loopback port that forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let addr = listener.local_addr().expect("proxy addr");
        let ctl = Arc::new(Ctl {
            settings: Mutex::new(Settings::default()),
            cv: Condvar::new(),
            conns: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            accepted: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            forwarded_before: [AtomicU64::new(0), AtomicU64::new(0)],
        });
        let c = ctl.clone();
        let accept = thread::Builder::new()
            .name("proxy-accept".into())
            .spawn(move || accept_loop(c, listener, upstream))
            .expect("spawn proxy accept");
        Proxy {
            addr,
            ctl,
            accept: Some(accept),
        }
    }

    /// Where to connect to go through the proxy.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn with(&self, f: impl FnOnce(&mut Settings)) {
        f(&mut self.ctl.settings.lock().unwrap());
        self.ctl.cv.notify_all();
    }

    /// Holds every chunk `d` before forwarding it (zero: no delay).
    pub fn set_delay(&self, d: Duration) {
        self.with(|s| s.delay = d);
    }

    /// Forwards at most `rate` bytes per second in each direction (`None`: no limit).
    pub fn set_rate(&self, rate: Option<u64>) {
        self.with(|s| s.rate = rate);
    }

    /// Once a connection has forwarded `n` bytes in `dir` (counted from its start),
    /// forwards exactly up to `n` and closes both of its sides. Fires once.
    pub fn cut_after(&self, dir: Dir, n: u64) {
        self.with(|s| s.cut_after[dir.idx()] = Some(n));
    }

    /// Writes `bytes` into the `dir` stream of every new connection, before anything is
    /// forwarded (an empty slice turns it off).
    pub fn inject_on_connect(&self, dir: Dir, bytes: &[u8]) {
        self.with(|s| s.on_connect[dir.idx()] = bytes.to_vec());
    }

    /// Closes both sides of every live connection now.
    pub fn cut_now(&self) {
        for c in self.ctl.conns.lock().unwrap().iter() {
            c.close();
        }
        self.ctl.cuts.fetch_add(1, AcqRel);
        self.ctl.cv.notify_all();
    }

    /// Stops (true) or resumes (false) forwarding, keeping every socket open.
    pub fn set_silent(&self, silent: bool) {
        self.with(|s| s.silent = silent);
    }

    /// Writes `bytes` into the `dir` stream of every live connection, between two
    /// forwarded chunks (even while silent).
    pub fn inject(&self, dir: Dir, bytes: &[u8]) {
        for c in self.ctl.conns.lock().unwrap().iter() {
            c.inject.lock().unwrap()[dir.idx()].extend_from_slice(bytes);
        }
        self.ctl.cv.notify_all();
    }

    /// Shuts down the writing side of `dir` on every live connection: its receiver reads
    /// EOF; the other direction keeps flowing.
    pub fn half_close(&self, dir: Dir) {
        for c in self.ctl.conns.lock().unwrap().iter() {
            c.half_closed[dir.idx()].store(true, Release);
            let (_, dst) = c.ends(dir);
            let _ = dst.shutdown(Shutdown::Write);
        }
        self.ctl.cv.notify_all();
    }

    /// Bytes forwarded in `dir`, over every connection so far (injected bytes excluded).
    pub fn forwarded(&self, dir: Dir) -> u64 {
        let conns = self.ctl.conns.lock().unwrap();
        let live: u64 = conns
            .iter()
            .map(|c| c.forwarded[dir.idx()].load(Acquire))
            .sum();
        live + self.ctl.forwarded_before[dir.idx()].load(Acquire)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.ctl.accepted.load(Acquire)
    }

    /// Connections closed by `cut_after` or `cut_now` so far.
    pub fn cuts(&self) -> u64 {
        self.ctl.cuts.load(Acquire)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.with(|s| s.stopped = true);
        for c in self.ctl.conns.lock().unwrap().iter() {
            c.close();
        }
        // The accept thread blocks in accept(): a connection wakes it up.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for h in std::mem::take(&mut *self.ctl.threads.lock().unwrap()) {
            let _ = h.join();
        }
    }
}

fn accept_loop(ctl: Arc<Ctl>, listener: TcpListener, upstream: SocketAddr) {
    loop {
        let accepted = listener.accept();
        if ctl.settings.lock().unwrap().stopped {
            return;
        }
        let Ok((client, _)) = accepted else {
            thread::sleep(POLL);
            continue;
        };
        let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(3)) else {
            // Upstream is down: the client sees its connection close.
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        // Short read timeouts let a pump notice new controls while nothing arrives.
        let _ = client.set_read_timeout(Some(POLL));
        let _ = server.set_read_timeout(Some(POLL));
        let first = ctl.settings.lock().unwrap().on_connect.clone();
        let conn = Arc::new(Conn {
            client,
            server,
            forwarded: [AtomicU64::new(0), AtomicU64::new(0)],
            inject: Mutex::new(first),
            half_closed: [AtomicBool::new(false), AtomicBool::new(false)],
            closed: AtomicBool::new(false),
        });
        {
            let mut conns = ctl.conns.lock().unwrap();
            // Forget connections whose pumps have both ended (only this list holds them):
            // dropping them closes their sockets, so a long run does not run out of
            // file descriptors. Their byte counts live on in `forwarded_before`.
            conns.retain(|c| {
                if Arc::strong_count(c) > 1 {
                    return true;
                }
                for (total, n) in ctl.forwarded_before.iter().zip(&c.forwarded) {
                    total.fetch_add(n.load(Acquire), AcqRel);
                }
                false
            });
            conns.push(conn.clone());
        }
        ctl.accepted.fetch_add(1, AcqRel);
        let mut threads = ctl.threads.lock().unwrap();
        // Forget the threads of connections that are over.
        threads.retain(|h| !h.is_finished());
        for dir in [Dir::ToServer, Dir::ToClient] {
            let (c, conn) = (ctl.clone(), conn.clone());
            threads.push(
                thread::Builder::new()
                    .name("proxy-pump".into())
                    .spawn(move || pump(&c, &conn, dir))
                    .expect("spawn proxy pump"),
            );
        }
    }
}

/// Paces a direction at `rate` bytes per second from the moment the rate was set.
struct Pacer {
    rate: Option<u64>,
    since: Instant,
    bytes: u64,
}

impl Pacer {
    fn wait(&mut self, rate: Option<u64>, n: usize) {
        if rate != self.rate {
            *self = Pacer {
                rate,
                since: Instant::now(),
                bytes: 0,
            };
        }
        let Some(r) = rate else { return };
        self.bytes += n as u64;
        let due = self.since + Duration::from_secs_f64(self.bytes as f64 / r.max(1) as f64);
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
    }
}

fn pump(ctl: &Ctl, conn: &Conn, dir: Dir) {
    let i = dir.idx();
    let (mut src, dst) = conn.ends(dir);
    let mut buf = vec![0u8; 16 * 1024];
    let mut pacer = Pacer {
        rate: None,
        since: Instant::now(),
        bytes: 0,
    };
    let done = || {
        conn.closed.load(Acquire)
            || conn.half_closed[i].load(Acquire)
            || ctl.settings.lock().unwrap().stopped
    };
    // Waits while the proxy is silent; false if the connection ended meanwhile.
    let wait_voice = || {
        let mut s = ctl.settings.lock().unwrap();
        while s.silent && !s.stopped {
            if conn.closed.load(Acquire) || conn.half_closed[i].load(Acquire) {
                return false;
            }
            let injected = std::mem::take(&mut conn.inject.lock().unwrap()[i]);
            if !injected.is_empty() {
                drop(s);
                if write_to(dst, &injected).is_err() {
                    return false;
                }
                s = ctl.settings.lock().unwrap();
                continue;
            }
            s = ctl.cv.wait_timeout(s, POLL).unwrap().0;
        }
        !s.stopped
    };
    loop {
        if done() {
            return;
        }
        let injected = std::mem::take(&mut conn.inject.lock().unwrap()[i]);
        if !injected.is_empty() && write_to(dst, &injected).is_err() {
            conn.close();
            return;
        }
        if !wait_voice() {
            return;
        }
        let (delay, rate) = {
            let s = ctl.settings.lock().unwrap();
            (s.delay, s.rate)
        };
        let max = match rate {
            // Small chunks keep the pace smooth.
            Some(r) => ((r / 50) as usize).clamp(1, buf.len()),
            None => buf.len(),
        };
        let n = match src.read(&mut buf[..max]) {
            Ok(0) => {
                // The source finished writing: pass the half-close on.
                let _ = dst.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                conn.close();
                return;
            }
        };
        // Went silent while we were reading: hold these bytes until it speaks again.
        if !wait_voice() || done() {
            return;
        }
        let mut n = n;
        let mut cut = false;
        {
            let mut s = ctl.settings.lock().unwrap();
            if let Some(limit) = s.cut_after[i] {
                let before = conn.forwarded[i].load(Acquire);
                if before + n as u64 >= limit {
                    n = limit.saturating_sub(before) as usize;
                    s.cut_after[i] = None;
                    cut = true;
                }
            }
        }
        if !delay.is_zero() {
            thread::sleep(delay);
        }
        pacer.wait(rate, n);
        if write_to(dst, &buf[..n]).is_err() {
            conn.close();
            return;
        }
        conn.forwarded[i].fetch_add(n as u64, AcqRel);
        if cut {
            ctl.cuts.fetch_add(1, AcqRel);
            conn.close();
            return;
        }
    }
}

fn write_to(mut s: &TcpStream, bytes: &[u8]) -> io::Result<()> {
    s.write_all(bytes)
}

/// Two MConnections joined through a new proxy: (the one that dialled the proxy, the one
/// the proxy dialled, the proxy).
pub fn proxied_pair(
    channels: Vec<mconn::ChannelDescriptor>,
    config: mconn::MConnConfig,
) -> (super::TestConn, super::TestConn, Proxy) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let proxy = Proxy::start(l.local_addr().expect("addr"));
    let client = TcpStream::connect(proxy.addr()).expect("connect to proxy");
    let (server, _) = l.accept().expect("accept from proxy");
    (
        super::start(client, channels.clone(), config.clone()),
        super::start(server, channels, config),
        proxy,
    )
}
