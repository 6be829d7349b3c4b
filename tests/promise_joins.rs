//! Review B9: `stop()` called from several threads at once returned, in the second
//! caller, while the threads were still alive (it found the join list empty), and a
//! switch's short-lived threads were waited for but never joined. Each caller of `stop()`
//! outside a callback now returns only once every thread is gone.
//!
//! One test in its own binary: it counts the process's threads by name.

mod support;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use mconn::{ChannelDescriptor, MConnConfig, MConnection};
use support::switch::*;
use support::*;

fn mconn_threads() -> usize {
    threads_named("mconn-send")
        + threads_named("mconn-recv")
        + threads_named("mconn-worker")
        + threads_named("mconn-lifecycle")
        + threads_named("mconn-accept")
        + threads_named("mconn-handshake")
        + threads_named("mconn-persistent")
}

#[test]
fn concurrent_stops_each_return_after_every_thread_is_joined() {
    let _w = watchdog("concurrent_stops", Duration::from_secs(240));
    let mut early = Vec::new();
    for round in 0..200 {
        let (a, _b) = tcp_pair();
        let conn = MConnection::new(
            a,
            vec![ChannelDescriptor::new(1, 1)],
            MConnConfig::default(),
            |_, _| {},
            |_| {},
        )
        .unwrap();
        let start = Arc::new(Barrier::new(2));
        let stoppers: Vec<_> = (0..2)
            .map(|_| {
                let (c, start) = (conn.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    c.stop();
                    mconn_threads()
                })
            })
            .collect();
        for s in stoppers {
            let left = s.join().unwrap();
            if left > 0 {
                early.push(format!("connection round {round}: {left} threads left"));
            }
        }
    }
    for round in 0..30 {
        let (sw, addr) = listening("s", &[("r", Recorder::new(&[1]))], config());
        // A handshake in progress and a persistent dialer: short-lived threads.
        let _silent = std::net::TcpStream::connect(addr).unwrap();
        sw.dial_persistent(addr).unwrap();
        let start = Arc::new(Barrier::new(2));
        let stoppers: Vec<_> = (0..2)
            .map(|_| {
                let (s, start) = (sw.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    s.stop();
                    mconn_threads()
                })
            })
            .collect();
        for s in stoppers {
            let left = s.join().unwrap();
            if left > 0 {
                early.push(format!("switch round {round}: {left} threads left"));
            }
        }
    }
    assert!(early.is_empty(), "stop() returned early: {early:?}");
}
