//! The chat example, run as a program: the demo's output and exit code, two interactive
//! nodes talking through their stdin and stdout, every way out of a session (each ends
//! with exactly one `bye:` line), the prompt (only on a terminal), and bad input.
#![cfg(feature = "secret-connection")]

mod support;

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crossbeam_channel::unbounded;
use support::chat::{assert_left, chat_bin, Node, LINE_TIMEOUT};
use support::watchdog;

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
        // Dave knew only alice: peer exchange found him bob and carol (he dials them,
        // or they, having learnt his address too, dial him first).
        "dave | * bob joined",
        "dave | * carol joined",
        "dave found 3 peer(s) from one seed",
        "bob | * dave left",
        "alice | * caroline left",
        "bob | * caroline left",
        "alice has 1 peer(s), bob has 1 peer(s) after carol left",
        "demo finished",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

/// A node given only a seed finds the rest of the room through peer exchange.
#[test]
fn a_node_with_only_a_seed_finds_the_room() {
    let _w = watchdog("a_node_with_only_a_seed", Duration::from_secs(120));
    let mut alice = Node::spawn(&["--name", "alice", "--listen", "127.0.0.1:0"]);
    let addr = listen_addr(&mut alice);
    let mut bob = Node::spawn(&["--name", "bob", "--listen", "127.0.0.1:0", "--peer", &addr]);
    bob.expect("* alice joined");
    let mut carol = Node::spawn(&[
        "--name",
        "carol",
        "--listen",
        "127.0.0.1:0",
        "--seed",
        &addr,
    ]);
    carol.expect(&format!("* asking seed {addr} for the room ..."));
    carol.expect("* alice joined");
    carol.expect("* bob joined"); // never told bob's address: alice's book did
    bob.expect("* carol joined");
    carol.type_line("found you");
    bob.expect("[carol] found you");
    for (n, why) in [(carol, "/quit"), (bob, "/quit"), (alice, "/quit")] {
        let mut n = n;
        n.type_line("/quit");
        assert_left(n, why);
    }
}

#[test]
fn two_chat_processes_talk() {
    let _w = watchdog("two_chat_processes", Duration::from_secs(120));
    let mut alice = Node::spawn(&["--name", "alice", "--listen", "127.0.0.1:0"]);
    let addr = listen_addr(&mut alice);
    let mut bob = Node::spawn(&["--name", "bob", "--listen", "127.0.0.1:0", "--peer", &addr]);
    // Said before the dial, which may take seconds; its outcome follows.
    bob.expect(&format!("* connecting to {addr} ..."));
    bob.expect("* alice joined");
    alice.expect("* bob joined");
    bob.type_line("hello from bob");
    bob.expect("[bob] hello from bob"); // your own line, as your peers see it
    alice.expect("[bob] hello from bob");
    alice.type_line("/nick");
    alice.expect("usage: /nick NAME");
    alice.type_line("/nick alicia");
    alice.expect("* you are now alicia");
    bob.expect("* alice is now alicia");
    alice.type_line("hi bob");
    alice.expect("[alicia] hi bob");
    bob.expect("[alicia] hi bob");
    bob.type_line("/peers");
    bob.expect("alicia");
    bob.type_line("/status");
    bob.expect("1 peer(s)");
    bob.type_line("/quit");
    alice.expect("* bob left");
    assert_left(bob, "/quit");
    alice.close_input();
    assert_left(alice, "end of input");
}

#[test]
fn ctrl_c_leaves_once_and_peers_see_it() {
    let _w = watchdog("ctrl_c", Duration::from_secs(120));
    let mut alice = Node::spawn(&["--name", "alice", "--listen", "127.0.0.1:0"]);
    let addr = listen_addr(&mut alice);
    let mut bob = Node::spawn(&["--name", "bob", "--listen", "127.0.0.1:0", "--peer", &addr]);
    bob.expect("* alice joined");
    alice.expect("* bob joined");
    // The handler is installed before "listening on" is printed, so this is handled.
    bob.signal("INT");
    alice.expect("* bob left");
    assert_left(bob, "interrupted");
    // `kill` (SIGTERM) is a way out too: one exit line, and the peers are told.
    let mut carol = Node::spawn(&[
        "--name",
        "carol",
        "--listen",
        "127.0.0.1:0",
        "--peer",
        &addr,
    ]);
    carol.expect("* alice joined");
    alice.expect("* carol joined");
    carol.signal("TERM");
    alice.expect("* carol left");
    assert_left(carol, "interrupted");
    alice.type_line("/quit");
    assert_left(alice, "/quit");
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
    n.expect(&format!("* connecting to {dead} ..."));
    n.expect(&format!("could not connect to {dead}"));
    n.type_line("/status");
    n.expect("0 peer(s)");
    n.type_line("anyone there?");
    n.expect("[x] anyone there?");
    n.expect("nobody is connected");
    n.type_line("/quit");
    assert_left(n, "/quit");
    let mut p = Node::spawn(&[
        "--name",
        "y",
        "--listen",
        "127.0.0.1:0",
        "--peer",
        &dead,
        "--persistent",
    ]);
    p.expect(&format!("* connecting to {dead} ..."));
    p.expect("will keep trying");
    p.type_line("/quit");
    assert_left(p, "/quit");
}

#[test]
fn an_address_in_use_is_named_and_ends_the_session_with_one_line() {
    let _w = watchdog("address_in_use", Duration::from_secs(60));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["--name", "x", "--listen", &addr]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!("bye: cannot listen on {addr}: address already in use"),
        "the exit line on stderr, once"
    );
    assert!(!stdout.contains("bye:"), "{stdout}");
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

/// On a terminal the chat draws a `> ` prompt. `script` (util-linux) gives it one; the
/// test skips, saying why, where `script` is missing.
#[test]
#[cfg(target_os = "linux")]
fn on_a_terminal_a_prompt_is_drawn() {
    let _w = watchdog("prompt", Duration::from_secs(60));
    let bin = chat_bin();
    let cmd = format!("'{}' --name tty --listen 127.0.0.1:0", bin.display());
    let child = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    };
    let mut stdin = child.stdin.take().unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, chunks) = unbounded();
    std::thread::Builder::new()
        .name("script-stdout".into())
        .spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match out.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
                    }
                }
            }
        })
        .unwrap();
    let mut text = String::new();
    let mut wait_for = |needle: &str| {
        while !text.contains(needle) {
            match chunks.recv_timeout(LINE_TIMEOUT) {
                Ok(c) => text.push_str(&c),
                Err(_) => panic!("no {needle:?} in:\n{text:?}"),
            }
        }
        text.clone()
    };
    wait_for("listening on");
    wait_for("> ");
    writeln!(stdin, "hello tty").unwrap();
    stdin.flush().unwrap();
    wait_for("[tty] hello tty");
    writeln!(stdin, "/quit").unwrap();
    stdin.flush().unwrap();
    let text = wait_for("bye: /quit");
    drop(stdin); // only now: an older `script` ends its child at the end of its input
    let st = child.wait().expect("wait for script");
    assert!(st.success(), "{st}: {text:?}");
    // The prompt is drawn after the greeting and again after our line...
    let after_line = &text[text.find("[tty] hello tty").unwrap()..];
    assert!(after_line.contains("> "), "{text:?}");
    // ...and erased before the exit line, which is printed once.
    assert_eq!(text.matches("bye:").count(), 1, "{text:?}");
    assert!(text.contains("\r\x1b[2Kbye: /quit\r\n"), "{text:?}");
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
    assert_left(first, "/quit");
    let mut again = Node::spawn(&["--name", "k", "--listen", "127.0.0.1:0", "--key", key]);
    assert_eq!(
        id(&mut again),
        first_id,
        "the same identity after a restart"
    );
    again.type_line("/quit");
    assert_left(again, "/quit");

    std::fs::write(key, "{\"priv_key\":").unwrap();
    let out = run(&["--name", "k", "--listen", "127.0.0.1:0", "--key", key]);
    assert_eq!(out.status.code(), Some(1), "a corrupt key file is an error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("bye: ") && stderr.contains("node_key.json"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("bye:").count(), 1, "{stderr}");
    assert_eq!(std::fs::read_to_string(key).unwrap(), "{\"priv_key\":");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The sum of every sample of `name` whose labels contain `label` in a scrape.
#[cfg(feature = "metrics")]
fn metric(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[cfg(feature = "metrics")]
fn scrape(url: &str) -> String {
    let mut response = ureq::get(url).call().expect("scrape");
    let kind = response.headers().get("content-type").cloned();
    assert_eq!(
        kind.as_ref().and_then(|k| k.to_str().ok()),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    response.body_mut().read_to_string().expect("body")
}

#[cfg(feature = "metrics")]
#[test]
fn metrics_are_served_over_http_and_move_as_messages_flow() {
    let _w = watchdog("chat_metrics", Duration::from_secs(120));
    let (mut alice, addr, url) = support::chat::alice_with_metrics();
    let before = scrape(&url);
    assert!(before.contains("cometbft_p2p_peers 0"), "{before}");

    let mut bob = Node::spawn(&["--name", "bob", "--listen", "127.0.0.1:0", "--peer", &addr]);
    alice.expect("* bob joined");
    let chat_bytes = |text: &str| {
        metric(
            text,
            "cometbft_p2p_peer_receive_bytes_total",
            "chID=\"0x1\"",
        )
    };
    let joined = scrape(&url);
    assert!(joined.contains("cometbft_p2p_peers 1"), "{joined}");
    assert_eq!(
        metric(&joined, "cometbft_p2p_handshakes_total", "inbound"),
        1.0
    );
    let line = "a line long enough to count, from bob";
    bob.type_line(line);
    alice.expect(line);
    let after = scrape(&url);
    assert!(
        chat_bytes(&after) >= chat_bytes(&joined) + line.len() as f64,
        "before:\n{joined}\nafter:\n{after}"
    );
    // Anything but /metrics is a 404.
    let other = url.replace("/metrics", "/other");
    assert!(matches!(
        ureq::get(&other).call(),
        Err(ureq::Error::StatusCode(404))
    ));
    for n in [bob, alice] {
        let mut n = n;
        n.type_line("/quit");
        assert_left(n, "/quit");
    }
}
