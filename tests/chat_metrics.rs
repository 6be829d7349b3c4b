//! chat's `--metrics ADDR` under attack (from a hostile review): every session ends with
//! one `bye:` line and exits, whatever a scraper does; a bad ADDR is one clear error.
#![cfg(all(feature = "metrics", feature = "secret-connection"))]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::chat::{alice_with_metrics, assert_left, Node};
use support::watchdog;

/// alice with `--metrics`, and the HOST:PORT her metrics are served on.
fn node_with_metrics() -> (Node, String) {
    let (n, _, url) = alice_with_metrics();
    let hostport = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string();
    (n, hostport)
}

/// A scraper that connected (one request answered, then idle on a keep-alive
/// connection, and a second one that never sent a byte) does not hold up `/quit`
/// (passes; pins the promise).
#[test]
fn idle_scrapers_do_not_hold_up_quit() {
    let _w = watchdog("metrics_chat_idle_scraper", Duration::from_secs(120));
    let (mut alice, hostport) = node_with_metrics();
    let mut keepalive = TcpStream::connect(&hostport).unwrap();
    keepalive
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    keepalive
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut first = [0u8; 12];
    keepalive.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let _silent = TcpStream::connect(&hostport).unwrap();
    alice.type_line("/quit");
    assert_left(alice, "/quit");
}

/// A scraper that pipelines many requests and never reads the answers: once the socket
/// buffers are full the single answering thread ("chat-metrics") blocks in a write to
/// it (tiny_http sets no write timeout), and the session's exit joins that thread.
/// `/quit` must still end the session with its one `bye:` line.
#[test]
fn a_scraper_that_never_reads_does_not_wedge_quit() {
    let _w = watchdog("metrics_chat_stuck_scraper", Duration::from_secs(180));
    let (mut alice, hostport) = node_with_metrics();
    let mut greedy = TcpStream::connect(&hostport).unwrap();
    greedy
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // ~5 kB answered per 40-byte request: far more than the socket buffers hold.
    let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    let burst: Vec<u8> = request
        .iter()
        .copied()
        .cycle()
        .take(request.len() * 20_000)
        .collect();
    greedy.write_all(&burst).expect("the server reads requests");
    // Wait (at most 30 s) for the answering thread to block writing to us: then it can
    // no longer see the exit's unblock() call. (If it never blocks, /quit just works.)
    let pid = alice.child.id();
    let blocked = support::wait_until(Duration::from_secs(30), || answer_thread_in_write(pid));
    eprintln!("chat-metrics blocked in a socket write: {blocked}");
    alice.type_line("/quit");
    // The session must end (greedy is still connected and still not reading).
    let (code, lines) = alice.finish();
    let all = lines.join("\n");
    assert_eq!(code, 0, "{all}");
    let byes = lines.iter().filter(|l| l.starts_with("bye:")).count();
    assert_eq!(byes, 1, "{all}");
    drop(greedy);
}

/// Whether process `pid`'s "chat-metrics" thread sleeps in a socket write (Linux: the
/// kernel function it waits in, from /proc).
fn answer_thread_in_write(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(|t| t.ok()).any(|t| {
        let read = |f: &str| std::fs::read_to_string(t.path().join(f)).unwrap_or_default();
        let wchan = read("wchan");
        read("comm").trim() == "chat-metrics"
            && (wchan.contains("wait_woken") || wchan.contains("sk_stream_wait_memory"))
    })
}

/// A bad ADDR: one clear error, exit 1, one `bye:` line (passes; pins the promise).
#[test]
fn a_bad_metrics_addr_is_one_clear_error() {
    let _w = watchdog("metrics_chat_bad_addr", Duration::from_secs(120));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    for addr in ["not-an-address", "127.0.0.1:99999", taken_addr.as_str()] {
        let out = Command::new(support::example_bin("chat"))
            .args(["--name", "x", "--listen", "127.0.0.1:0", "--metrics", addr])
            .stdin(Stdio::null())
            .output()
            .expect("run chat");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{addr}: {stdout}\n{stderr}");
        let byes: Vec<_> = stdout
            .lines()
            .chain(stderr.lines())
            .filter(|l| l.starts_with("bye:"))
            .collect();
        assert_eq!(byes.len(), 1, "{addr}: {stdout}\n{stderr}");
        assert!(
            byes[0].starts_with(&format!("bye: cannot serve metrics on {addr}")),
            "{addr}: {}",
            byes[0]
        );
    }
    drop(taken);
}
