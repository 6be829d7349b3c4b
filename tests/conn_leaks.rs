//! After stop, no thread and no file descriptor of a connection is left. One test in its
//! own binary, so other tests' threads and sockets do not blur the counts.

mod support;

use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mconn::{MConnConfig, MConnection, WeakMConnection};
use support::*;

/// Whether no `mconn-` thread is listed any more. A thread's /proc entry can outlive its
/// `join` by a moment (the kernel wakes the joiner before it reaps the task; about 1 in
/// 10 000 plain std threads shows this on a loaded machine), so look for up to a second.
fn joined_threads_gone() -> bool {
    wait_until(Duration::from_secs(1), || threads_named("mconn-") == 0)
}

#[test]
fn stopped_connections_leave_no_threads_or_fds() {
    let _w = watchdog("leaks", Duration::from_secs(120));
    // Warm up lazily-initialised runtime state (logger, proc fs handles) first.
    {
        let (a, b) = conn_pair(vector_channels(), MConnConfig::default());
        a.conn.send(1, "warm").unwrap();
        b.received.recv_timeout(Duration::from_secs(5)).unwrap();
        a.conn.stop();
        b.conn.stop();
    }
    assert!(joined_threads_gone());
    let threads0 = thread_count();
    let fds0 = fd_count();

    for round in 0..10 {
        // 1. stop() from outside, both ends.
        let (a, b) = conn_pair(vector_channels(), MConnConfig::default());
        // A new thread names itself as it starts.
        assert!(wait_until(Duration::from_secs(5), || threads_named(
            "mconn-"
        ) == 4));
        a.conn.send(1, vec![7u8; 5000]).unwrap();
        b.received.recv_timeout(Duration::from_secs(5)).unwrap();
        a.conn.stop();
        b.conn.stop();
        assert!(
            joined_threads_gone(),
            "round {round}: stop joins both threads"
        );
        drop((a, b));

        // 2. flush_stop, and the peer noticing.
        let (a, b) = conn_pair(vector_channels(), MConnConfig::default());
        a.conn.try_send(2, "bye").unwrap();
        a.conn.flush_stop();
        b.errors
            .recv_timeout(Duration::from_secs(5))
            .expect("peer sees the close");
        drop(b); // dropping the last handle stops and joins
        drop(a);
        assert!(joined_threads_gone(), "round {round}: flush_stop / drop");

        // 3. The peer's socket closes: on_error, then threads exit by themselves.
        let (ours, peer) = tcp_pair();
        let c = start(ours, vector_channels(), MConnConfig::default());
        drop(peer);
        c.errors
            .recv_timeout(Duration::from_secs(5))
            .expect("on_error");
        assert!(
            wait_until(Duration::from_secs(5), || threads_named("mconn-") == 0),
            "round {round}: exit after error"
        );
        drop(c);

        // 4. stop() from inside on_receive: the recv thread cannot join itself; it exits
        //    right after the callback returns.
        let (ours, mut peer) = tcp_pair();
        let me: Arc<OnceLock<WeakMConnection>> = Arc::new(OnceLock::new());
        let m = me.clone();
        let conn = MConnection::new(
            ours,
            vector_channels(),
            MConnConfig::default(),
            move |_, _| {
                if let Some(c) = m.get().and_then(|w| w.upgrade()) {
                    c.stop();
                }
            },
            |_| {},
        )
        .unwrap();
        me.set(conn.downgrade()).unwrap();
        peer.write_all(&[0x03, 0x01, 0x01, 0x01, 0x01, b'x'])
            .unwrap();
        assert!(wait_until(Duration::from_secs(5), || !conn.is_running()));
        drop(conn);
        drop(peer);
        assert!(
            wait_until(Duration::from_secs(5), || threads_named("mconn-") == 0),
            "round {round}: stop inside callback"
        );
    }
    assert!(
        wait_until(Duration::from_secs(5), || thread_count() == threads0),
        "threads {} -> {}",
        threads0,
        thread_count()
    );
    assert!(
        wait_until(Duration::from_secs(5), || fd_count() == fds0),
        "fds {} -> {}",
        fds0,
        fd_count()
    );
}
