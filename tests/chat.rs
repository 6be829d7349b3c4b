//! The chat example, run as a program: the demo's output and exit code, two interactive
//! nodes talking through their stdin and stdout, and bad input.
#![cfg(feature = "secret-connection")]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError};
use support::watchdog;

/// How long any one expected line may take (a dial, a handshake, a flush on a loaded
/// machine); the tests' watchdogs bound the whole.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// The example binary. A filtered `cargo test --test chat` does not rebuild examples, so
/// one older than its source would test old code: refuse it, saying what to run.
fn chat_bin() -> PathBuf {
    let bin = support::example_bin("chat");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/chat.rs");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified());
    if let (Ok(b), Ok(s)) = (modified(&bin), modified(&src)) {
        assert!(
            b >= s,
            "{} is older than {}: run `cargo build --example chat` (with --release for a \
             release test run)",
            bin.display(),
            src.display()
        );
    }
    bin
}

/// A running chat node whose stdout lines arrive on a channel.
struct Node {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every line read so far, in order.
    seen: Vec<String>,
}

impl Node {
    fn spawn(args: &[&str]) -> Node {
        let mut child = Command::new(chat_bin())
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start chat");
        let stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = unbounded();
        std::thread::Builder::new()
            .name("chat-stdout".into())
            .spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            })
            .expect("spawn reader");
        Node {
            child,
            stdin: Some(stdin),
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `needle`; returns it.
    fn expect(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(LINE_TIMEOUT) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no line containing {needle:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Closes stdin: the end of input.
    fn close_input(&mut self) {
        self.stdin = None;
    }

    /// Reads stdout to its end (the process exited: nothing else holds it), then reaps
    /// the process. Returns the exit code and every line it printed.
    fn finish(mut self) -> (i32, Vec<String>) {
        loop {
            match self.lines.recv_timeout(LINE_TIMEOUT) {
                Ok(l) => self.seen.push(l),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("chat did not exit; saw:\n{}", self.seen.join("\n"))
                }
            }
        }
        let code = self
            .child
            .wait()
            .expect("wait for chat")
            .code()
            .unwrap_or(-1);
        (code, std::mem::take(&mut self.seen))
    }
}

impl Drop for Node {
    /// A failed test leaves no chat process behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs chat to its end with `args` and no input; returns its output.
fn run(args: &[&str]) -> Output {
    Command::new(chat_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run chat")
}

/// The address at the end of "NAME (ID) listening on ADDR".
fn listen_addr(node: &mut Node) -> String {
    let line = node.expect("listening on");
    line.rsplit(' ').next().unwrap().to_string()
}

#[test]
fn the_demo_shows_the_whole_stack_and_exits_zero() {
    let _w = watchdog("chat_demo", Duration::from_secs(120));
    let out = Command::new(chat_bin()).output().expect("run the demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "demo output:\n{text}");
    for needle in [
        "alice | * bob joined",
        "carol | * alice joined",
        "bob | [alice] hi everyone!",
        "carol | [alice] hi everyone!",
        "alice | [bob] hello alice, hello carol",
        "alice | * carol is now caroline",
        "alice | [caroline] I have to go, bye!",
        "channel 0x01 priority 1",
        "channel 0x02 priority 5",
        "alice | * caroline left",
        "bob | * caroline left",
        "alice has 1 peer(s), bob has 1 peer(s) after carol left",
        "demo finished",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn two_chat_processes_talk() {
    let _w = watchdog("two_chat_processes", Duration::from_secs(120));
    let mut alice = Node::spawn(&["--name", "alice", "--listen", "127.0.0.1:0"]);
    let addr = listen_addr(&mut alice);
    let mut bob = Node::spawn(&["--name", "bob", "--listen", "127.0.0.1:0", "--peer", &addr]);
    bob.expect("* alice joined");
    alice.expect("* bob joined");
    bob.type_line("hello from bob");
    alice.expect("[bob] hello from bob");
    alice.type_line("/nick");
    alice.expect("usage: /nick NAME");
    alice.type_line("/nick alicia");
    bob.expect("* alice is now alicia");
    alice.type_line("hi bob");
    bob.expect("[alicia] hi bob");
    bob.type_line("/peers");
    bob.expect("alicia");
    bob.type_line("/status");
    bob.expect("1 peer(s)");
    bob.type_line("/quit");
    alice.expect("* bob left");
    assert_eq!(bob.finish().0, 0);
    alice.close_input(); // end of input quits too
    assert_eq!(alice.finish().0, 0);
}

#[test]
fn an_unreachable_peer_is_reported_and_the_node_keeps_running() {
    let _w = watchdog("unreachable_peer", Duration::from_secs(60));
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("127.0.0.1:{port}");
    let mut n = Node::spawn(&["--name", "x", "--listen", "127.0.0.1:0", "--peer", &dead]);
    n.expect(&format!("could not connect to {dead}"));
    n.type_line("/status");
    n.expect("0 peer(s)");
    n.type_line("/quit");
    assert_eq!(n.finish().0, 0);
    let mut p = Node::spawn(&[
        "--name",
        "y",
        "--listen",
        "127.0.0.1:0",
        "--peer",
        &dead,
        "--persistent",
    ]);
    p.expect("will keep trying");
    p.type_line("/quit");
    assert_eq!(p.finish().0, 0);
}

#[test]
fn an_address_in_use_is_named() {
    let _w = watchdog("address_in_use", Duration::from_secs(60));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["--name", "x", "--listen", &addr]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}: address already in use")),
        "{stderr}"
    );
    drop(taken);
}

#[test]
fn help_prints_the_usage_on_stdout_and_exits_zero() {
    for flag in ["--help", "-h"] {
        let out = run(&["--name", "x", flag]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(
            stdout.starts_with("usage: chat") && stdout.contains("--listen ADDR"),
            "{stdout}"
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_bad_flag_prints_usage_and_exits_two() {
    let err = support::assert_usage_error(&chat_bin(), &["--frobnicate"]);
    assert!(
        err.contains("usage:") && err.contains("--frobnicate"),
        "{err}"
    );
    support::assert_usage_error(&chat_bin(), &["--name", "only"]);
}

#[test]
fn with_a_key_file_a_restarted_node_keeps_its_id_and_a_corrupt_one_stops_it() {
    let _w = watchdog("a_restarted_node_keeps_its_id", Duration::from_secs(120));
    let dir = std::env::temp_dir().join(format!("mconn-chat-key-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("node_key.json");
    let key = key.to_str().unwrap();
    let id = |n: &mut Node| {
        // "NAME (ID) listening on ADDR"
        let line = n.expect("listening on");
        line.split(['(', ')']).nth(1).unwrap().to_string()
    };
    let mut first = Node::spawn(&["--name", "k", "--listen", "127.0.0.1:0", "--key", key]);
    let first_id = id(&mut first);
    first.type_line("/quit");
    assert_eq!(first.finish().0, 0);
    let mut again = Node::spawn(&["--name", "k", "--listen", "127.0.0.1:0", "--key", key]);
    assert_eq!(
        id(&mut again),
        first_id,
        "the same identity after a restart"
    );
    again.type_line("/quit");
    assert_eq!(again.finish().0, 0);

    std::fs::write(key, "{\"priv_key\":").unwrap();
    let out = Command::new(chat_bin())
        .args(["--name", "k", "--listen", "127.0.0.1:0", "--key", key])
        .stdin(Stdio::null())
        .output()
        .expect("run chat");
    assert_ne!(out.status.code(), Some(0), "a corrupt key file is an error");
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("node_key.json"), "{text}");
    assert_eq!(std::fs::read_to_string(key).unwrap(), "{\"priv_key\":");
    let _ = std::fs::remove_dir_all(&dir);
}
