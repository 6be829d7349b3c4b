//! Where a stream of small messages spends its CPU: one thread sends N messages of SIZE
//! bytes on one MConnection over loopback, the peer counts them, and each thread's CPU
//! time (from /proc, Linux only) is printed per message. A profiling driver for the
//! send and receive paths (run it under `perf record`); the bench (`examples/bench.rs`)
//! is what compares against raw TCP.
//!
//! ```sh
//! cargo run --release --example cpu_per_message -- 20000000 100
//! ```
//!
//! Messages come from a pool of pre-built buffers (a `Bytes::clone` per send), as in the
//! bench. Queue capacity 1024 and unlimited rates, as in the bench's stream figures.

use std::error::Error;
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use bytes::Bytes;
use crossbeam_channel::bounded;
use mconn::{ChannelDescriptor, MConnConfig, MConnection, Transport};

/// Each thread of this process: its name and its CPU seconds (user + system).
fn cpu_by_thread() -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in dir.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // Fields after the ")" closing the name: utime and stime are the 12th and 13th.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split(' ').collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        out.push((name.trim().to_string(), (ticks(11) + ticks(12)) / 100.0));
    }
    out
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000_000);
    let size: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let a = TcpStream::connect(listener.local_addr()?)?;
    let (b, _) = listener.accept()?;
    let cfg = MConnConfig::default();
    let chans = vec![ChannelDescriptor::new(1, 1).send_queue_capacity(1024)];

    let (done_tx, done) = bounded(1);
    let mut got = 0u64;
    let rx = MConnection::with_transport(
        Transport::tcp(b, cfg.send_timeout)?,
        chans.clone(),
        cfg.clone(),
        move |_, m: Bytes| {
            got += 1;
            std::hint::black_box(&m);
            if got == n {
                let _ = done_tx.send(Instant::now());
            }
        },
        |_| {},
    )?;
    let tx = MConnection::with_transport(
        Transport::tcp(a, cfg.send_timeout)?,
        chans,
        cfg,
        |_, _| {},
        |_| {},
    )?;
    // At most 16 MiB of distinct buffers, as the bench's pools.
    let pool: Vec<Bytes> = (0..((16 << 20) / size.max(1)).clamp(4, 4096))
        .map(|i| {
            let b = Bytes::from(vec![i as u8; size]);
            drop(b.clone()); // the first clone makes the buffer shared: not timed
            b
        })
        .collect();

    let cpu0 = cpu_by_thread();
    let t0 = Instant::now();
    for i in 0..n {
        tx.send(1, pool[(i % pool.len() as u64) as usize].clone())?;
    }
    let t1 = done.recv()?;
    let secs = (t1 - t0).as_secs_f64();
    println!(
        "{n} messages of {size} B in {secs:.3} s: {:.2} M msg/s, {:.0} ns per message",
        n as f64 / secs / 1e6,
        secs * 1e9 / n as f64
    );
    for (name, cpu) in cpu_by_thread() {
        let before = cpu0.iter().find(|(n0, _)| *n0 == name).map_or(0.0, |c| c.1);
        if cpu - before > 0.01 {
            println!(
                "  {name:<16} {:.2} s CPU = {:.0} ns per message",
                cpu - before,
                (cpu - before) * 1e9 / n as f64
            );
        }
    }
    tx.stop();
    rx.stop();
    Ok(())
}
