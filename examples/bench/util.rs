//! Helpers shared by the benches: loopback sockets, stamped messages and the check every
//! receiver (mconn or raw) runs on them, and what /proc says about this process.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A connected pair of loopback sockets.
pub fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let a = TcpStream::connect(l.local_addr()?)?;
    let (b, _) = l.accept()?;
    Ok((a, b))
}

/// The smallest message the stamp fits in: 8 bytes of stamp in front, 8 of check behind.
pub const MIN_MSG: usize = 16;

/// Pre-stamped messages, each in its own allocation. Taking message `i` is a
/// reference-count increment (`Bytes::clone`), so neither mconn nor raw pays for building
/// messages: the benches measure the transport. (One shared buffer would put every
/// message's reference count on one cache line, bouncing between the sending thread and
/// mconn's send thread, which drops them.)
pub struct Pool {
    msgs: Vec<Bytes>,
}

/// Messages in a pool: up to 16 MiB of them, at least 4, at most 4096.
fn pool_len(size: usize) -> usize {
    ((16 << 20) / size).clamp(4, 4096)
}

impl Pool {
    /// Messages of `size` bytes for sender number `sender`.
    pub fn new(sender: u16, size: usize) -> Pool {
        assert!(size >= MIN_MSG, "messages of at least {MIN_MSG} bytes");
        let msgs = (0..pool_len(size))
            .map(|i| {
                let mut m = vec![i as u8 ^ 0x5a; size];
                let st = stamp(sender, i as u64);
                m[..8].copy_from_slice(&st.to_le_bytes());
                m[size - 8..].copy_from_slice(&trailer(st, size).to_le_bytes());
                let b = Bytes::from(m);
                // The first clone makes the buffer shared (an allocation): do it now.
                drop(b.clone());
                b
            })
            .collect();
        Pool { msgs }
    }

    /// Message number `i` of the stream (the pool is reused cyclically).
    pub fn get(&self, i: u64) -> &Bytes {
        &self.msgs[(i % self.msgs.len() as u64) as usize]
    }

    pub fn len(&self) -> usize {
        self.msgs.len()
    }
}

const SEQ_MASK: u64 = (1 << 48) - 1;

fn stamp(sender: u16, idx: u64) -> u64 {
    ((sender as u64) << 48) | (idx & SEQ_MASK)
}

/// The last 8 bytes of a message: a mix of its stamp and length (splitmix64's finaliser).
fn trailer(stamp: u64, len: usize) -> u64 {
    let mut z = stamp ^ (len as u64).rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The receiver's check, the same for mconn and raw: each message's stamp names its
/// sender and its place in that sender's stream (modulo the pool), and its last 8 bytes
/// must match. Order per sender is checked; the body is not read (a cheap check).
pub struct Checker {
    next: Vec<u64>,
    pool_len: u64,
    pub msgs: u64,
    pub bytes: u64,
    pub bad: u64,
}

impl Checker {
    pub fn new(senders: usize, pool: &Pool) -> Checker {
        Checker {
            next: vec![0; senders],
            pool_len: pool.len() as u64,
            msgs: 0,
            bytes: 0,
            bad: 0,
        }
    }

    /// Checks one message; returns whether it was the expected one.
    pub fn check(&mut self, msg: &[u8]) -> bool {
        self.msgs += 1;
        self.bytes += msg.len() as u64;
        let ok = msg.len() >= MIN_MSG && {
            let st = u64::from_le_bytes(msg[..8].try_into().unwrap());
            let tail = u64::from_le_bytes(msg[msg.len() - 8..].try_into().unwrap());
            let sender = (st >> 48) as usize;
            match self.next.get_mut(sender) {
                Some(next) => {
                    let want = *next % self.pool_len;
                    *next += 1;
                    st & SEQ_MASK == want && tail == trailer(st, msg.len())
                }
                None => false,
            }
        };
        if !ok {
            self.bad += 1;
        }
        ok
    }
}

/// This process's resident set size in KiB (VmRSS).
pub fn rss_kib() -> u64 {
    status_field("VmRSS:").unwrap_or(0)
}

fn status_field(name: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Polls `cond` every `every` until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, every: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// The machine, for the top of the report.
pub fn machine() -> Vec<(&'static str, String)> {
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "?".into());
    let kernel = std::process::Command::new("uname")
        .arg("-r")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "?".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let profile = if cfg!(debug_assertions) {
        "debug (figures are not representative: use --release)"
    } else {
        "release"
    };
    vec![
        ("nproc", nproc),
        ("kernel", kernel),
        ("cpu", cpu),
        ("loadavg", load),
        ("build", profile.to_string()),
    ]
}

/// Runs `reps` interleaved repetitions of a baseline and a measurement (baseline first in
/// each pair, so both see the same background load) and returns each side's figures.
pub fn paired(
    what: &str,
    reps: usize,
    mut base: impl FnMut() -> Res<f64>,
    mut measured: impl FnMut() -> Res<f64>,
) -> Res<(Vec<f64>, Vec<f64>)> {
    let (mut bs, mut ms) = (Vec::new(), Vec::new());
    for rep in 1..=reps {
        let b = base()?;
        let m = measured()?;
        eprintln!("  {what} rep {rep}/{reps}: baseline {b:.2}, measured {m:.2}");
        bs.push(b);
        ms.push(m);
    }
    Ok((bs, ms))
}
