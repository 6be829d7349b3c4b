//! The raw TCP baseline: what a user could write by hand. Messages are a 4-byte length
//! prefix and the bytes, written through a 64 KiB `BufWriter` (flushed when the sender
//! has nothing more to say) with `TCP_NODELAY` on, as mconn sets it; a reader thread
//! reads through a 64 KiB `BufReader` into one reused buffer and runs the same check as
//! mconn's `on_receive`.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use parking_lot::Mutex;

use crate::util::{tcp_pair, Checker, Pool, Res};

/// Buffer size of the raw writer and reader.
pub const RAW_BUF: usize = 64 * 1024;

/// The sending half: length-prefixed messages through a 64 KiB `BufWriter`.
pub struct RawWriter {
    w: BufWriter<TcpStream>,
}

impl RawWriter {
    pub fn new(s: TcpStream) -> io::Result<RawWriter> {
        s.set_nodelay(true)?;
        Ok(RawWriter {
            w: BufWriter::with_capacity(RAW_BUF, s),
        })
    }

    /// Buffers one message (the `BufWriter` writes when full, or passes a message at
    /// least as large as its buffer straight through).
    pub fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.w.write_all(&(msg.len() as u32).to_le_bytes())?;
        self.w.write_all(msg)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// The receiving half: each message read into one reused buffer.
pub struct RawReader {
    r: BufReader<TcpStream>,
    buf: Vec<u8>,
}

impl RawReader {
    pub fn new(s: TcpStream) -> RawReader {
        RawReader {
            r: BufReader::with_capacity(RAW_BUF, s),
            buf: Vec::new(),
        }
    }

    /// The next message, or `None` at a clean end of the stream.
    pub fn next_msg(&mut self) -> io::Result<Option<&[u8]>> {
        let mut len = [0u8; 4];
        match self.r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = u32::from_le_bytes(len) as usize;
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        self.r.read_exact(&mut self.buf[..len])?;
        Ok(Some(&self.buf[..len]))
    }
}

/// Streams `per_sender` messages from each pool (sender `k` uses `pools[k]`) to a checking
/// reader thread. One sender writes from this thread; several share one writer behind a
/// `Mutex`, as several threads share one MConnection. Returns the time from the first
/// send until the reader has checked the last message.
pub fn stream(pools: &[Pool], per_sender: u64) -> Res<Duration> {
    let (a, b) = tcp_pair()?;
    let total = pools.len() as u64 * per_sender;
    let mut check = Checker::new(pools.len(), &pools[0]);
    let reader = thread::spawn(move || -> io::Result<(Instant, u64)> {
        let mut r = RawReader::new(b);
        while let Some(m) = r.next_msg()? {
            check.check(m);
            if check.msgs == total {
                return Ok((Instant::now(), check.bad));
            }
        }
        Err(io::ErrorKind::UnexpectedEof.into())
    });
    let mut w = RawWriter::new(a)?;
    let t0 = Instant::now();
    if let [pool] = pools {
        for i in 0..per_sender {
            w.send(pool.get(i))?;
        }
        w.flush()?;
    } else {
        let w = Arc::new(Mutex::new(w));
        thread::scope(|s| -> io::Result<()> {
            let senders: Vec<_> = pools
                .iter()
                .map(|pool| {
                    let w = w.clone();
                    s.spawn(move || -> io::Result<()> {
                        for i in 0..per_sender {
                            w.lock().send(pool.get(i))?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in senders {
                h.join().expect("raw sender panicked")?;
            }
            w.lock().flush()
        })?;
    }
    let (t1, bad) = reader.join().expect("raw reader panicked")?;
    if bad > 0 {
        return Err(format!("raw: {bad} of {total} messages failed the check").into());
    }
    Ok(t1 - t0)
}

/// Round trips of `pool` messages: this thread writes (flushing each), the peer's reader
/// thread writes the echo back, and our reader thread hands the checked reply to this
/// thread through a channel. Returns the round trips in microseconds, after `warmup`.
pub fn latency(pool: &Pool, n: usize, warmup: usize) -> Res<Vec<f64>> {
    let (a, b) = tcp_pair()?;
    let echo = {
        let mut r = RawReader::new(b.try_clone()?);
        let mut w = RawWriter::new(b)?;
        thread::spawn(move || -> io::Result<()> {
            while let Some(m) = r.next_msg()? {
                w.send(m)?;
                w.flush()?;
            }
            Ok(())
        })
    };
    let (tx, rx) = bounded::<bool>(16);
    let mut check = Checker::new(1, pool);
    let mut r = RawReader::new(a.try_clone()?);
    let reader = thread::spawn(move || -> io::Result<()> {
        while let Some(m) = r.next_msg()? {
            if tx.send(check.check(m)).is_err() {
                break;
            }
        }
        Ok(())
    });
    let closer = a.try_clone()?;
    let mut w = RawWriter::new(a)?;
    let mut rtts = Vec::with_capacity(n);
    for i in 0..(warmup + n) as u64 {
        let t = Instant::now();
        w.send(pool.get(i))?;
        w.flush()?;
        let ok = rx.recv_timeout(Duration::from_secs(10))?;
        let rtt = t.elapsed();
        if !ok {
            return Err(format!("raw: reply {i} failed the check").into());
        }
        if i as usize >= warmup {
            rtts.push(rtt.as_secs_f64() * 1e6);
        }
    }
    // The echo thread sees the end of the stream and stops; so does our reader.
    closer.shutdown(Shutdown::Both)?;
    drop(rx);
    echo.join().expect("raw echo panicked")?;
    let _ = reader.join();
    Ok(rtts)
}
