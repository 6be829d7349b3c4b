//! The mconn side of the paired measurements: connections over loopback (plain or
//! SecretConnection), a checked stream, and echo round trips. Shaped like `raw` so the
//! two differ only in the transport under test.

use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::bounded;
use mconn::{
    ChannelDescriptor, ChannelId, MConnConfig, MConnection, NodeKey, SecretConnection, Transport,
    WeakMConnection,
};

use crate::util::{tcp_pair, Checker, Pool, Res};

/// The channel the benches send on.
pub const CH: ChannelId = 0x01;

/// Both ends of a plain loopback connection, set up as `MConnection::new` does.
pub fn tcp_transports(cfg: &MConnConfig) -> Res<(Transport, Transport)> {
    let (a, b) = tcp_pair()?;
    Ok((
        Transport::tcp(a, cfg.send_timeout)?,
        Transport::tcp(b, cfg.send_timeout)?,
    ))
}

/// Both ends of a loopback SecretConnection (fresh node keys, handshakes run
/// concurrently), as MConnection transports.
pub fn secret_transports() -> Res<(Transport, Transport)> {
    let (a, b) = tcp_pair()?;
    let ka = NodeKey::generate()?;
    let kb = NodeKey::generate()?;
    let other = thread::spawn(move || SecretConnection::handshake(b, &kb));
    let sa = SecretConnection::handshake(a, &ka)?;
    let sb = other.join().expect("handshake thread panicked")?;
    Ok((sa.into_transport()?, sb.into_transport()?))
}

/// Starts an MConnection whose errors are ignored (a bench notices missing messages).
pub fn start(
    t: Transport,
    chans: &[ChannelDescriptor],
    cfg: &MConnConfig,
    on_receive: impl FnMut(ChannelId, Bytes) + Send + 'static,
) -> Res<MConnection> {
    Ok(MConnection::with_transport(
        t,
        chans.to_vec(),
        cfg.clone(),
        on_receive,
        |_| {},
    )?)
}

/// Streams `per_sender` messages from each pool over `transports` (sender `k` uses
/// `pools[k]`; one sender calls `send` from this thread, several from threads of their
/// own) to an `on_receive` that checks them. Returns the time from the first `send`
/// until `on_receive` has checked the last message.
pub fn stream(
    transports: (Transport, Transport),
    chans: &[ChannelDescriptor],
    cfg: &MConnConfig,
    pools: &[Pool],
    per_sender: u64,
) -> Res<Duration> {
    let (ta, tb) = transports;
    let total = pools.len() as u64 * per_sender;
    let (done_tx, done) = bounded(1);
    let mut check = Checker::new(pools.len(), &pools[0]);
    let rx = start(tb, chans, cfg, move |_, msg| {
        check.check(&msg);
        if check.msgs == total {
            let _ = done_tx.send((Instant::now(), check.bad));
        }
    })?;
    let tx = start(ta, chans, cfg, |_, _| {})?;
    let t0 = Instant::now();
    if let [pool] = pools {
        for i in 0..per_sender {
            tx.send(CH, pool.get(i).clone())?;
        }
    } else {
        thread::scope(|s| -> Res<()> {
            let senders: Vec<_> = pools
                .iter()
                .map(|pool| {
                    let tx = tx.clone();
                    s.spawn(move || -> Res<()> {
                        for i in 0..per_sender {
                            tx.send(CH, pool.get(i).clone())?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in senders {
                h.join().expect("mconn sender panicked")?;
            }
            Ok(())
        })?;
    }
    let (t1, bad) = done.recv_timeout(Duration::from_secs(300)).map_err(|_| {
        format!(
            "mconn: not every message arrived (status {:?})",
            rx.status()
        )
    })?;
    tx.stop();
    rx.stop();
    if bad > 0 {
        return Err(format!("mconn: {bad} of {total} messages failed the check").into());
    }
    Ok(t1 - t0)
}

/// Round trips of `pool` messages: this thread `send`s, the peer's `on_receive` sends the
/// message straight back, and our `on_receive` hands the checked reply to this thread
/// through a channel. Returns the round trips in microseconds, after `warmup`.
pub fn latency(pool: &Pool, n: usize, warmup: usize) -> Res<Vec<f64>> {
    let cfg = MConnConfig::default();
    let chans = [ChannelDescriptor::new(CH, 1).send_queue_capacity(16)];
    let (ta, tb) = tcp_transports(&cfg)?;
    // The echo side needs its own handle inside its callback: a weak one, set once.
    let me: Arc<OnceLock<WeakMConnection>> = Arc::default();
    let me2 = me.clone();
    let echo = start(tb, &chans, &cfg, move |ch, msg| {
        if let Some(c) = me2.get().and_then(WeakMConnection::upgrade) {
            let _ = c.send(ch, msg);
        }
    })?;
    let _ = me.set(echo.downgrade());
    let (tx, rx) = bounded::<bool>(16);
    let mut check = Checker::new(1, pool);
    let conn = start(ta, &chans, &cfg, move |_, msg| {
        let _ = tx.send(check.check(&msg));
    })?;
    let mut rtts = Vec::with_capacity(n);
    for i in 0..(warmup + n) as u64 {
        let t = Instant::now();
        conn.send(CH, pool.get(i).clone())?;
        let ok = rx.recv_timeout(Duration::from_secs(10))?;
        let rtt = t.elapsed();
        if !ok {
            return Err(format!("mconn: reply {i} failed the check").into());
        }
        if i as usize >= warmup {
            rtts.push(rtt.as_secs_f64() * 1e6);
        }
    }
    conn.stop();
    echo.stop();
    Ok(rtts)
}
