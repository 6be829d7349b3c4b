//! 10 000 connect–handshake–disconnect cycles against one Switch leave its threads and
//! file descriptors where they started. One test in its own binary, so the counts are
//! exact.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mconn::{ChannelDescriptor, ChannelId, Error, NodeInfo, Peer, Reactor};
use support::switch::*;
use support::*;

/// Counts peers added and removed.
#[derive(Default)]
struct Counter {
    added: AtomicUsize,
    removed: AtomicUsize,
}

impl Reactor for Counter {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(0x01, 1)]
    }
    fn add_peer(&self, _: &Arc<Peer>) {
        self.added.fetch_add(1, Ordering::AcqRel);
    }
    fn remove_peer(&self, _: &Arc<Peer>, _: &Error) {
        self.removed.fetch_add(1, Ordering::AcqRel);
    }
    fn receive(&self, _: ChannelId, _: &Arc<Peer>, _: Bytes) {}
}

/// One cycle: connect, exchange NodeInfos as a Go peer would, hang up.
fn cycle(addr: std::net::SocketAddr, i: u64) -> Result<(), Error> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut ours = node_info(&format!("c{i}"));
    ours.pub_key[..8].copy_from_slice(&i.to_be_bytes());
    ours.pub_key[8] = 0xC1;
    s.write_all(&ours.encode())?;
    NodeInfo::decode(&mut s)?;
    Ok(())
}

#[test]
fn ten_thousand_connection_cycles_leave_threads_and_fds_where_they_started() {
    let cycles: u64 = std::env::var("CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let _w = watchdog("connection_cycles", Duration::from_secs(600));
    let counter = Arc::new(Counter::default());
    let sw = mconn::Switch::new(
        config().max_inbound_peers(cycles as usize),
        node_info("hub"),
    )
    .unwrap();
    sw.add_reactor("count", counter.clone()).unwrap();
    let addr = sw.listen("127.0.0.1:0").unwrap();
    // Warm up, then take the baseline with the switch running and idle.
    for i in 0..20 {
        cycle(addr, u64::MAX - i).expect("warm-up cycle");
    }
    assert!(wait_until(Duration::from_secs(10), || counter
        .removed
        .load(Ordering::Acquire)
        == 20));
    assert!(wait_peers(&sw, 0, 10));
    let threads0 = threads_named("mconn-");
    let all_threads0 = thread_count();
    let fds0 = fd_count();

    let t = Instant::now();
    let (mut max_threads, mut max_fds) = (0, 0);
    for i in 0..cycles {
        cycle(addr, i).unwrap_or_else(|e| panic!("cycle {i}: {e}"));
        if i % 500 == 0 {
            max_threads = max_threads.max(threads_named("mconn-"));
            max_fds = max_fds.max(fd_count());
        }
    }
    let took = t.elapsed();
    let done = wait_until(Duration::from_secs(60), || {
        counter.removed.load(Ordering::Acquire) == cycles as usize + 20
    });
    assert!(
        done,
        "{} of {cycles} peers removed",
        counter.removed.load(Ordering::Acquire) - 20
    );
    assert_eq!(counter.added.load(Ordering::Acquire), cycles as usize + 20);
    assert!(wait_peers(&sw, 0, 10));
    println!(
        "{cycles} cycles in {took:?}; mconn threads {threads0} at rest, at most {max_threads} \
         seen; fds {fds0} at rest, at most {max_fds} seen"
    );
    assert!(
        wait_until(Duration::from_secs(10), || threads_named("mconn-")
            == threads0),
        "mconn threads {threads0} -> {}",
        threads_named("mconn-")
    );
    assert!(
        wait_until(Duration::from_secs(10), || thread_count() == all_threads0),
        "threads {all_threads0} -> {}",
        thread_count()
    );
    assert!(
        wait_until(Duration::from_secs(10), || fd_count() == fds0),
        "fds {fds0} -> {}",
        fd_count()
    );
    sw.stop();
    drop(sw);
    assert!(wait_until(Duration::from_secs(10), || threads_named(
        "mconn-"
    ) == 0));
}
