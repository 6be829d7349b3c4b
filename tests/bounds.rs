//! A flood of connections that never say anything cannot lock a good peer out, and the
//! switch closes every one of them within `handshake_timeout`.
//!
//! (The memory bound of a never-ending message and the 10 000 connection cycles are in
//! `bounds_memory.rs` and `bounds_cycles.rs`: each needs a binary of its own for exact
//! RSS, thread and fd figures.)

mod support;

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::switch::*;
use support::*;

const SILENT: usize = 1000;

/// The soft and hard limits on open files.
fn nofile() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut v = line
        .split_whitespace()
        .skip(3)
        .map(|x| x.parse::<u64>().unwrap_or(u64::MAX));
    Some((v.next()?, v.next()?))
}

/// Makes sure this process may open `need` files, raising the soft limit (with the
/// `prlimit` tool, as no unsafe code is allowed here) when the hard limit allows.
fn ensure_fds(need: u64) -> Result<(), String> {
    let Some((soft, hard)) = nofile() else {
        return Err("cannot read /proc/self/limits".into());
    };
    if soft >= need {
        return Ok(());
    }
    if hard < need {
        return Err(format!(
            "open-file hard limit {hard} is below the {need} needed"
        ));
    }
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={need}:{hard}")])
        .status();
    match (status, nofile()) {
        (Ok(s), Some((soft, _))) if s.success() && soft >= need => Ok(()),
        (res, _) => Err(format!(
            "open-file soft limit {soft} is below the {need} needed and prlimit failed: {res:?}"
        )),
    }
}

#[test]
fn silent_connections_do_not_lock_out_a_good_peer_and_are_closed_in_time() {
    let _w = watchdog("silent_flood", Duration::from_secs(180));
    // Our sockets, the switch's, and its clones of handshaking ones.
    if let Err(why) = ensure_fds(4 * SILENT as u64 + 512) {
        println!("SKIPPED silent_connections_do_not_lock_out_a_good_peer: {why}");
        return;
    }
    let handshake_timeout = Duration::from_secs(2);
    let hub_r = Recorder::new(&[0x01]);
    let (hub, hub_addr) = listening(
        "hub",
        &[("r", hub_r.clone())],
        config().handshake_timeout(handshake_timeout),
    );
    let start = Instant::now();
    let mut silent = Vec::with_capacity(SILENT);
    for i in 0..SILENT {
        let s = TcpStream::connect(hub_addr).unwrap_or_else(|e| panic!("silent {i}: {e}"));
        silent.push(s);
    }
    let flooded = Instant::now();

    // A good peer still gets in, and talks.
    let good_r = Recorder::new(&[0x01]);
    let (good, _) = listening("good", &[("r", good_r.clone())], config());
    let peer = good
        .dial(hub_addr)
        .expect("the good peer connects despite the flood");
    assert_eq!(hub_r.next(10), Event::Added(good.id()));
    peer.send(0x01, "hello").unwrap();
    assert_eq!(hub_r.next_msg(10).2, "hello");
    let good_in = Instant::now();

    // Every silent connection is closed by the switch: older ones to make room for newer
    // handshakes, the rest when their handshake_timeout runs out.
    let deadline = flooded + handshake_timeout + Duration::from_secs(5);
    let mut buf = [0u8; 1024];
    let mut late = 0;
    for (i, s) in silent.iter_mut().enumerate() {
        // The switch writes its NodeInfo first; then it must hang up.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    late += 1;
                    break;
                }
                Err(e) => panic!("silent {i}: {e}"),
            }
        }
    }
    assert_eq!(
        late, 0,
        "{late} silent connections still open after the deadline"
    );
    println!(
        "{SILENT} silent connections: made in {:?}, the good peer was in {:?} after them, \
         all closed {:?} after them",
        flooded - start,
        good_in - flooded,
        flooded.elapsed()
    );
    // The good peer was never disturbed.
    assert_eq!(hub.peers().len(), 1);
    assert!(hub_r.events.try_recv().is_err());
    drop(silent);
    good.stop();
    hub.stop();
}
