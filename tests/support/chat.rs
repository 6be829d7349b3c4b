//! A chat example process driven through its stdin and stdout, for tests/chat.rs and
//! tests/chat_metrics.rs.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError};

/// How long any one expected line may take (a dial, a handshake, a flush on a loaded
/// machine); the tests' watchdogs bound the whole.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(30);

pub fn chat_bin() -> PathBuf {
    super::example_bin("chat")
}

/// A running chat node whose stdout lines arrive on a channel.
pub struct Node {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub lines: Receiver<String>,
    /// Every line read so far, in order.
    pub seen: Vec<String>,
}

impl Node {
    pub fn spawn(args: &[&str]) -> Node {
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
    pub fn expect(&mut self, needle: &str) -> String {
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

    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Closes stdin: the end of input.
    pub fn close_input(&mut self) {
        self.stdin = None;
    }

    /// Sends `signal` (`INT`, as Ctrl-C in a terminal does, or `TERM`, as `kill` does).
    pub fn signal(&self, signal: &str) {
        let st = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{signal} failed");
    }

    /// Reads stdout to its end (the process exited: nothing else holds it), then reaps
    /// the process. Returns the exit code and every line it printed.
    pub fn finish(mut self) -> (i32, Vec<String>) {
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

/// Asserts a session ended with exit code 0, printed `bye: reason` as its last line and
/// no other `bye:` line, and drew no prompt and no terminal codes into the pipe.
pub fn assert_left(node: Node, reason: &str) -> Vec<String> {
    let (code, lines) = node.finish();
    let all = lines.join("\n");
    assert_eq!(code, 0, "exit code; output:\n{all}");
    let byes: Vec<_> = lines.iter().filter(|l| l.starts_with("bye:")).collect();
    assert_eq!(
        byes,
        [&format!("bye: {reason}")],
        "one exit line in:\n{all}"
    );
    assert_eq!(
        lines.last(),
        byes.last().copied(),
        "the exit line is last:\n{all}"
    );
    assert!(
        !all.contains("> ") && !all.contains('\x1b'),
        "no prompt or escape codes in a pipe:\n{all}"
    );
    lines
}

/// A node named alice listening on a loopback port with `--metrics 127.0.0.1:0`; returns
/// it, its listen address and its metrics URL (`http://HOST:PORT/metrics`).
pub fn alice_with_metrics() -> (Node, String, String) {
    let mut n = Node::spawn(&[
        "--name",
        "alice",
        "--listen",
        "127.0.0.1:0",
        "--metrics",
        "127.0.0.1:0",
    ]);
    let last_word = |line: String| line.rsplit(' ').next().unwrap_or_default().to_string();
    let addr = last_word(n.expect("listening on"));
    let url = last_word(n.expect("metrics on http://"));
    (n, addr, url)
}
