//! `stop()` called from several threads at once: each call returns only once the threads
//! are joined (a second caller used to find the join list empty and return at once), and
//! a switch's short-lived threads (handshakes, persistent dialers) are joined too, not
//! only waited for.
//!
//! What a test can see of "joined" is /proc, and Linux lists a thread there for a moment
//! after `pthread_join` returned (the thread is in the kernel's exit path, state R). So
//! each round checks that the threads are gone within a short grace: a thread that stop
//! left running (a leak, or one never joined that waits on something) fails it.
//!
//! One test in its own binary: it counts the process's threads by name.

mod support;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use mconn::{ChannelDescriptor, MConnConfig, MConnection};
use support::switch::*;
use support::*;

/// The names of this process's threads that a stopped connection or switch must not
/// leave behind (the detached `mconn-connect` and `mconn-filter` threads may).
fn mconn_threads() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .map(|n| n.trim_end().to_string())
        .filter(|n| {
            n.starts_with("mconn-")
                && !n.starts_with("mconn-connect")
                && !n.starts_with("mconn-filter")
        })
        .collect()
}

/// Calls `stop` from two threads released together; each then reports the mconn threads
/// still listed after a short grace (see the module docs).
fn stop_twice_at_once(stop: impl Fn() + Clone + Send + 'static) -> Vec<Vec<String>> {
    let start = Arc::new(Barrier::new(2));
    let stoppers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, start) = (stop.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                stop();
                wait_until(Duration::from_secs(2), || mconn_threads().is_empty());
                mconn_threads()
            })
        })
        .collect();
    stoppers.into_iter().map(|s| s.join().unwrap()).collect()
}

#[test]
fn concurrent_stops_each_leave_no_thread_behind() {
    let _w = watchdog("concurrent_stops", Duration::from_secs(240));
    let mut left_behind = Vec::new();
    for round in 0..100 {
        let (a, _b) = tcp_pair();
        let conn = MConnection::new(
            a,
            vec![ChannelDescriptor::new(1, 1)],
            MConnConfig::default(),
            |_, _| {},
            |_| {},
        )
        .unwrap();
        for left in stop_twice_at_once(move || conn.stop()) {
            if !left.is_empty() {
                left_behind.push(format!("connection round {round}: {left:?}"));
            }
        }
    }
    for round in 0..30 {
        let (sw, addr) = listening("s", &[("r", Recorder::new(&[1]))], config());
        // A handshake in progress and a persistent dialer: short-lived threads.
        let _silent = std::net::TcpStream::connect(addr).unwrap();
        sw.dial_persistent(addr).unwrap();
        for left in stop_twice_at_once(move || sw.stop()) {
            if !left.is_empty() {
                left_behind.push(format!("switch round {round}: {left:?}"));
            }
        }
    }
    assert!(
        left_behind.is_empty(),
        "threads left running: {left_behind:?}"
    );
}
