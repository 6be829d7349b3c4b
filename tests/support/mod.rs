//! Helpers shared by the integration tests.
#![allow(dead_code)]

#[cfg(feature = "secret-connection")]
pub mod chat;
pub mod codec;
#[cfg(feature = "cometbft")]
pub mod cometbft;
pub mod common;
pub mod proxy;
#[cfg(feature = "secret-connection")]
pub mod secret;
pub mod switch;
pub mod vectors;

// Each test binary uses a different subset.
#[allow(unused_imports)]
pub use common::{tcp_pair, watchdog, Rng, Watchdog};

use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{unbounded, Receiver};
use mconn::{ChannelDescriptor, ChannelId, Error, MConnConfig, MConnection, Transport};

/// An MConnection whose callbacks feed channels the test can wait on.
pub struct TestConn {
    pub conn: MConnection,
    pub received: Receiver<(ChannelId, Bytes)>,
    pub errors: Receiver<Error>,
}

pub fn start(stream: TcpStream, channels: Vec<ChannelDescriptor>, config: MConnConfig) -> TestConn {
    let transport = Transport::tcp(stream, config.send_timeout).expect("tcp transport");
    start_on(transport, channels, config)
}

/// An MConnection over any transport, with callbacks feeding channels.
pub fn start_on(
    transport: Transport,
    channels: Vec<ChannelDescriptor>,
    config: MConnConfig,
) -> TestConn {
    let (rtx, received) = unbounded();
    let (etx, errors) = unbounded();
    let conn = MConnection::with_transport(
        transport,
        channels,
        config,
        move |ch, msg| {
            let _ = rtx.send((ch, msg));
        },
        move |e| {
            let _ = etx.send(e);
        },
    )
    .expect("start MConnection");
    TestConn {
        conn,
        received,
        errors,
    }
}

/// Two MConnections over one loopback connection, same channels and config.
pub fn conn_pair(channels: Vec<ChannelDescriptor>, config: MConnConfig) -> (TestConn, TestConn) {
    let (a, b) = tcp_pair();
    (
        start(a, channels.clone(), config.clone()),
        start(b, channels, config),
    )
}

/// The two channels of the vectors' receiver: 01 (priority 1) and 02 (priority 5).
pub fn vector_channels() -> Vec<ChannelDescriptor> {
    vec![
        ChannelDescriptor::new(0x01, 1),
        ChannelDescriptor::new(0x02, 5),
    ]
}

/// Threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Threads of this process whose name starts with `prefix`. Linux keeps only the first
/// 15 bytes of a thread's name (`mconn-persistent` shows as `mconn-persisten`), so only
/// that much of `prefix` is compared.
pub fn threads_named(prefix: &str) -> usize {
    let prefix = &prefix[..prefix.len().min(15)];
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .map(|n| n.trim_end().starts_with(prefix))
                .unwrap_or(false)
        })
        .count()
}

/// Open file descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A field of /proc/self/status, in bytes (VmRSS: resident now; VmHWM: peak resident).
pub fn status_bytes(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = s
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a number of kB");
    kb * 1024
}

/// Polls `cond` every millisecond until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// A deterministic pseudo-random byte pattern: message `seq` of length `len`.
pub fn pattern(seq: u64, len: usize) -> Vec<u8> {
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An example binary `cargo test` built next to this test's own binary. A filtered
/// `cargo test --test X` does not rebuild examples, so one older than its source would
/// test old code: it is refused, saying what to run.
pub fn example_bin(name: &str) -> std::path::PathBuf {
    use std::path::Path;
    let mut p = std::env::current_exe().expect("test binary path");
    p.pop();
    if p.ends_with("deps") {
        p.pop();
    }
    let bin = p.join("examples").join(name);
    assert!(
        bin.exists(),
        "{} is missing: cargo test builds examples first",
        bin.display()
    );
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.rs"));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified());
    if let (Ok(b), Ok(s)) = (modified(&bin), modified(&src)) {
        assert!(
            b >= s,
            "{} is older than {}: run `cargo build --example {name}` (with --release for a \
             release test run)",
            bin.display(),
            src.display()
        );
    }
    bin
}

/// Runs `bin` with `args` and asserts it exits 2; returns its stderr.
pub fn assert_usage_error(bin: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(bin)
        .args(args)
        .output()
        .expect("run example");
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh, empty directory for `name` under the system's temporary directory, distinct
/// per test process (an old one of the same name is removed first).
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mconn-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Bytes received on channels 0x01 and 0x02 (as `[_, ch1, ch2]`) from `received`, counted
/// once `steady(bytes_seen, switches)` says steady state has begun (`switches`: changes
/// of channel between consecutive messages so far), until `total` bytes are counted.
/// The scheduler balances cumulative bytes, so the start of a contest between channels
/// is a transient that a share measurement must skip.
pub fn bytes_by_channel(
    received: &Receiver<(ChannelId, Bytes)>,
    total: u64,
    mut steady: impl FnMut(u64, u32) -> bool,
) -> [u64; 3] {
    let mut counted = [0u64; 3];
    let (mut last, mut switches, mut seen) = (0u8, 0u32, 0u64);
    while counted[1] + counted[2] < total {
        let (ch, m) = received
            .recv_timeout(Duration::from_secs(10))
            .expect("traffic");
        if ch != last {
            switches += 1;
            last = ch;
        }
        seen += m.len() as u64;
        if steady(seen, switches) {
            counted[usize::from(ch).min(2)] += m.len() as u64;
        }
    }
    counted
}
