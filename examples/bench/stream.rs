//! The streaming benches: `throughput` (one sender, messages of every size),
//! `message_rate` (small messages from 1 and 4 threads) and `throughput_encrypted`
//! (the SecretConnection under an MConnection against the plain one).

use mconn::{ChannelDescriptor, MConnConfig};

use crate::mc::{self, CH};
use crate::raw;
use crate::report::{ratios, Out, Row, Stats};
use crate::util::{paired, Pool, Res};
use crate::Opts;

const MIB: u64 = 1 << 20;
/// Send queue capacity of the streaming channel: deep, so `send` rarely waits.
const QUEUE: usize = 1024;

/// The streaming channel and config: one channel, rate limits off (the default), a deep
/// queue, and room for the largest message.
fn setup(max_msg: usize) -> (Vec<ChannelDescriptor>, MConnConfig) {
    let cfg = MConnConfig::default().send_rate(None).recv_rate(None);
    let ch = ChannelDescriptor::new(CH, 1)
        .send_queue_capacity(QUEUE)
        .recv_message_capacity(max_msg.max(1 << 20));
    (vec![ch], cfg)
}

fn config_line(cfg: &MConnConfig) -> String {
    format!(
        "mconn: send_queue_capacity={QUEUE}, send_buffer_size={} B, max_packet_msg_payload_size={} B, send_rate/recv_rate=None, flush_throttle={:?}",
        cfg.send_buffer_size, cfg.max_packet_msg_payload_size, cfg.flush_throttle
    )
}

const POOL_LINE: &str = "messages are pre-stamped, each in its own buffer (Bytes::clone per send), so neither side pays for building them; the receiver checks each message's sequence stamp (first 8 bytes) and checksum (last 8 bytes)";

fn mb_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

pub fn throughput(o: &Opts, out: &Out) -> Res<()> {
    let (chans, cfg) = setup(1 << 20);
    let big = if o.quick { 8 * MIB } else { 256 * MIB };
    let small = if o.quick { 2 * MIB } else { 64 * MIB };
    out.header(
        "throughput",
        &[
            format!("one sender thread calls send() for every message; MB/s = 10^6 bytes of message payload per second, from the first send until the receiver has checked the last message; {} MiB per size ({} MiB for 100 B) per repetition, {} repetitions, median [min–max]", big / MIB, small / MIB, o.reps()),
            config_line(&cfg),
            POOL_LINE.into(),
            "raw: 4-byte length prefix, 64 KiB BufWriter (flushed at the end), TCP_NODELAY, a reader thread with a 64 KiB BufReader reading each message into a reused buffer".into(),
            "ratio = mconn / raw per repetition pair (higher is better)".into(),
        ],
    );
    let mut rows = Vec::new();
    for size in [100usize, 1024, 64 * 1024, 1 << 20] {
        let bytes = if size == 100 { small } else { big };
        let count = bytes / size as u64;
        let pools = [Pool::new(0, size)];
        let moved = count * size as u64;
        let (r, m) = paired(
            &format!("throughput {size} B (MB/s)"),
            o.reps(),
            || Ok(mb_s(moved, raw::stream(&pools, count)?.as_secs_f64())),
            || {
                let t = mc::tcp_transports(&cfg)?;
                let d = mc::stream(t, &chans, &cfg, &pools, count)?;
                Ok(mb_s(moved, d.as_secs_f64()))
            },
        )?;
        rows.push(
            Row::new("throughput")
                .int("size", size as u64)
                .int("threads", 1)
                .int("messages", count)
                .stat("mconn_mb_s", Stats::of(&m), 1)
                .stat("raw_mb_s", Stats::of(&r), 1)
                .stat("ratio", Stats::of(&ratios(&m, &r)), 3),
        );
    }
    out.rows(&rows);
    Ok(())
}

pub fn message_rate(o: &Opts, out: &Out) -> Res<()> {
    const SIZE: usize = 100;
    let (chans, cfg) = setup(SIZE);
    let total: u64 = if o.quick { 50_000 } else { 1_000_000 };
    out.header(
        "message_rate",
        &[
            format!("{SIZE} B messages per second, from 1 and from 4 sender threads on one connection ({total} messages per repetition, split evenly), timed from the first send until the receiver has checked the last; {} repetitions, median [min–max]", o.reps()),
            config_line(&cfg),
            POOL_LINE.into(),
            "raw: the same threads share one 64 KiB BufWriter behind a Mutex (lock per message), one reader thread. This is the fair shape: mconn's senders also share one connection and one writer; a socket per thread would be a different program (4 connections, 4 readers)".into(),
            "ratio = mconn / raw per repetition pair (higher is better)".into(),
        ],
    );
    let mut rows = Vec::new();
    for threads in [1u16, 4] {
        let pools: Vec<Pool> = (0..threads).map(|k| Pool::new(k, SIZE)).collect();
        let per = total / threads as u64;
        let n = per * threads as u64;
        let (r, m) = paired(
            &format!("message_rate {threads} threads (msgs/s)"),
            o.reps(),
            || Ok(n as f64 / raw::stream(&pools, per)?.as_secs_f64()),
            || {
                let t = mc::tcp_transports(&cfg)?;
                Ok(n as f64 / mc::stream(t, &chans, &cfg, &pools, per)?.as_secs_f64())
            },
        )?;
        rows.push(
            Row::new("message_rate")
                .int("size", SIZE as u64)
                .int("threads", threads as u64)
                .stat("mconn_msgs_s", Stats::of(&m), 0)
                .stat("raw_msgs_s", Stats::of(&r), 0)
                .stat("ratio", Stats::of(&ratios(&m, &r)), 3),
        );
    }
    out.rows(&rows);
    Ok(())
}

pub fn throughput_encrypted(o: &Opts, out: &Out) -> Res<()> {
    const SIZES: [usize; 3] = [1024, 64 * 1024, 1024 * 1024];
    let bytes = if o.quick { 8 * MIB } else { 256 * MIB };
    out.header(
        "throughput_encrypted",
        &[
            format!("1 KiB, 64 KiB and 1 MiB messages, {} MiB per repetition, one sender calling send(), as in throughput; {} repetitions, median [min–max]", bytes / MIB, o.reps()),
            "encrypted: SecretConnection::handshake on both ends of a loopback pair (NodeKey::generate()), into_transport(), MConnection::with_transport; the handshake is not timed".into(),
            "plain: the same MConnection over Transport::tcp".into(),
            config_line(&setup(64 * 1024).1),
            "ratio = encrypted / plain mconn per repetition pair (higher is better)".into(),
        ],
    );
    let mut rows = Vec::new();
    for size in SIZES {
        let (chans, cfg) = setup(size);
        let count = bytes / size as u64;
        let pools = [Pool::new(0, size)];
        let run = |t| {
            Ok(mb_s(
                bytes,
                mc::stream(t, &chans, &cfg, &pools, count)?.as_secs_f64(),
            ))
        };
        let (p, e) = paired(
            &format!("throughput_encrypted {size} B (MB/s)"),
            o.reps(),
            || run(mc::tcp_transports(&cfg)?),
            || run(mc::secret_transports()?),
        )?;
        rows.push(
            Row::new("throughput_encrypted")
                .int("size", size as u64)
                .int("threads", 1)
                .stat("encrypted_mb_s", Stats::of(&e), 1)
                .stat("plain_mb_s", Stats::of(&p), 1)
                .stat("ratio", Stats::of(&ratios(&e, &p)), 3),
        );
    }
    out.rows(&rows);
    Ok(())
}
