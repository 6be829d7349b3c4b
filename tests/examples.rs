//! The standalone-connection examples, run as programs: each exits 0 and prints every
//! message on the other end, in order per channel; the encrypted one also shows each end
//! the other's id, and that id is the other's key.

mod support;

use std::process::Command;
use std::time::Duration;

use support::watchdog;

/// Runs the example to its end; asserts it exits 0 with nothing on stderr and returns
/// its stdout lines.
fn run(name: &str) -> Vec<String> {
    let out = Command::new(support::example_bin(name))
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} exited with {}:\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stderr.is_empty(), "{name} wrote to stderr:\n{stderr}");
    stdout.lines().map(str::to_string).collect()
}

/// Asserts `lines` holds each of `expected` as a whole line, in the given order (other
/// lines may come between).
fn assert_in_order(lines: &[String], expected: &[&str]) {
    let mut at = 0;
    for want in expected {
        match lines[at..].iter().position(|l| l == want) {
            Some(i) => at += i + 1,
            None => panic!(
                "missing {want:?} (after line {at}) in:\n{}",
                lines.join("\n")
            ),
        }
    }
}

#[test]
fn mconn_over_tcp_delivers_both_ways_and_stops_cleanly() {
    let _w = watchdog("mconn_tcp", Duration::from_secs(60));
    let lines = run("mconn_tcp");
    // In the order sent within a channel (the two channels may interleave).
    assert_in_order(
        &lines,
        &[
            "bob received on 0x01: hello bob",
            "bob received on 0x01: 100000 bytes",
        ],
    );
    for line in [
        "bob received on 0x02: alice: ready",
        "alice received on 0x01: hello alice",
        "alice received on 0x02: bob: ready",
    ] {
        assert_in_order(&lines, &[line]);
    }
    // Alice's flush_stop closes the link: bob's on_error says the peer closed, then done.
    assert_in_order(
        &lines,
        &["bob's connection ended: peer closed the connection", "done"],
    );
    assert_eq!(lines.last().map(String::as_str), Some("done"));
    let received = lines.iter().filter(|l| l.contains(" received on ")).count();
    assert_eq!(received, 5, "each message once:\n{}", lines.join("\n"));
}

#[test]
#[cfg(feature = "secret-connection")]
fn secret_connection_shows_each_end_the_others_key_and_delivers() {
    let _w = watchdog("secret_tcp", Duration::from_secs(60));
    let lines = run("secret_tcp");
    let all = lines.join("\n");
    // "alice is ID", "bob   is ID", "alice sees the other end as ID", ...
    let value = |prefix: &str| -> String {
        let line = lines
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{all}"));
        let id = line[prefix.len()..].to_string();
        assert!(
            id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "not an id: {line}"
        );
        id
    };
    let (alice, bob) = (value("alice is "), value("bob   is "));
    assert_ne!(alice, bob);
    assert_eq!(value("alice sees the other end as "), bob);
    assert_eq!(value("bob sees the other end as "), alice);
    for line in [
        "bob received on 0x01: hello bob, secretly",
        "bob received on 0x02: alice: ready",
        "alice received on 0x01: hello alice, secretly",
        "alice received on 0x02: bob: ready",
    ] {
        assert_in_order(&lines, &[line]);
    }
    assert_in_order(
        &lines,
        &["bob's connection ended: peer closed the connection", "done"],
    );
}

#[test]
#[cfg(feature = "secret-connection")]
fn the_select_loop_serves_every_request_and_refuses_the_stranger() {
    let _w = watchdog("select_loop", Duration::from_secs(120));
    let lines = run("select_loop");
    let all = lines.join("\n");
    assert!(
        lines[0].starts_with("server: listening on 127.0.0.1:"),
        "{all}"
    );
    for (name, question, reply) in [
        ("ann", "sum 1 2 3", "6"),
        ("bo", "sum 40 2", "42"),
        (
            "cy",
            "what is the time?",
            "error: unknown request \"what is the time?\"",
        ),
    ] {
        // The server saw the peer, answered, and the client got that answer.
        assert_in_order(
            &lines,
            &[
                &format!("server: {name} joined"),
                &format!("server: {name} asked {question:?}, answering {reply:?}"),
            ],
        );
        assert_in_order(&lines, &[&format!("{name}: {question:?} -> {reply}")]);
        assert_in_order(
            &lines,
            &[&format!("server: {name} left (peer closed the connection)")],
        );
    }
    // The refusal reached the loop as a switch event, and the stranger's dial failed.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("server: refused a connection: ") && l.contains("other-net")),
        "{all}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("stranger: refused: ")),
        "{all}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("server: served 3 requests; done"),
        "{all}"
    );
}

/// The CometBFT example, run twice on loopback: the second joins the first with the
/// `--peer id@addr` line the first prints, and each names the other by its node id.
#[cfg(feature = "cometbft")]
#[test]
fn two_cometbft_examples_join_each_other_by_node_id() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let _w = watchdog("cometbft_node", Duration::from_secs(90));
    let bin = support::example_bin("cometbft_node");
    let mut first = Command::new(&bin)
        .args(["--chain-id", "test-chain", "--seconds", "20"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the first node");
    let mut lines = BufReader::new(first.stdout.take().expect("stdout")).lines();
    let listening = lines.next().expect("a line").expect("utf-8");
    let peer = listening
        .strip_prefix("listening: --peer ")
        .unwrap_or_else(|| panic!("unexpected first line {listening:?}"))
        .to_string();
    let first_id = peer.split('@').next().expect("an id").to_string();
    let second = Command::new(&bin)
        .args([
            "--chain-id",
            "test-chain",
            "--seconds",
            "5",
            "--peer",
            &peer,
        ])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the second node");
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "second node: {out}");
    let second_id = out
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("listening: --peer "))
        .and_then(|p| p.split('@').next())
        .expect("the second node's id")
        .to_string();
    assert!(
        out.lines().any(|l| l
            == format!(
                "connected to {first_id} (mconn-example, CometBFT 0.38.17, block protocol 11)"
            )),
        "the second node did not name the first:\n{out}"
    );
    // The first saw the second arrive, and both end cleanly.
    let rest: Vec<String> = lines.map(|l| l.expect("utf-8")).collect();
    assert!(first.wait().expect("first node").success());
    assert!(
        rest.iter()
            .any(|l| l.starts_with(&format!("connected to {second_id} "))),
        "the first node did not name the second:\n{}",
        rest.join("\n")
    );
    assert_eq!(rest.last().map(String::as_str), Some("stopped"));
    assert!(out.trim_end().ends_with("stopped"), "{out}");
}

/// The profiling driver gets every message through and reports the rate.
#[test]
fn cpu_per_message_counts_every_message() {
    let _w = watchdog("cpu_per_message", Duration::from_secs(120));
    let out = Command::new(support::example_bin("cpu_per_message"))
        .args(["20000", "100"])
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // Printed only once the receiver counted the 20 000th message.
    assert!(
        stdout.starts_with("20000 messages of 100 B in ") && stdout.contains("M msg/s"),
        "{stdout}"
    );
}
