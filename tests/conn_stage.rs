//! The stage (callers encode one-packet messages straight into the send thread's next
//! batch, see `src/conn/stage.rs`) keeps the queues' promises: order per channel and per
//! sending thread while messages move between stage and queue, priorities between busy
//! channels, bounded room (a sender waits at most its timeout), nothing lost by
//! `flush_stop`, and `stop` releasing a waiting sender (`can_send` says it waits).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mconn::{ChannelDescriptor, MConnConfig, SendError, TrySendError};
use support::*;

const LIMIT: Duration = Duration::from_secs(120);

/// Message `seq` of sender `thread`: `len` bytes starting with both numbers.
fn stamped(thread: u8, seq: u32, len: usize) -> Bytes {
    let mut m = pattern(u64::from(seq) << 8 | u64::from(thread), len.max(5));
    m[0] = thread;
    m[1..5].copy_from_slice(&seq.to_be_bytes());
    Bytes::from(m)
}

#[test]
fn order_holds_per_channel_and_thread_as_messages_move_between_stage_and_queue() {
    let _w = watchdog("stage_order", LIMIT);
    // A small batch makes the stage fill (and senders wait) often; sizes around one
    // packet (1024 bytes) send some messages through the stage and some through the queue.
    const THREADS: u8 = 4;
    const PER_THREAD: u32 = 20_000;
    let chans = vec![
        ChannelDescriptor::new(0x01, 1).send_queue_capacity(8),
        ChannelDescriptor::new(0x02, 3).send_queue_capacity(2),
    ];
    let cfg = MConnConfig::default().send_buffer_size(4096);
    let (a, b) = conn_pair(chans, cfg);
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let conn = a.conn.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(u64::from(t) * 7919 + 1);
                for seq in 0..PER_THREAD {
                    let ch = 1 + (t % 2);
                    let len = match rng.below(10) {
                        0 => 1025 + rng.below(2000) as usize,
                        1 => 1024,
                        _ => 5 + rng.below(300) as usize,
                    };
                    let msg = stamped(t, seq, len);
                    if rng.below(3) == 0 {
                        if let Err(e) = conn.try_send(ch, msg) {
                            assert!(matches!(e, TrySendError::Full(_)), "{e:?}");
                            conn.send(ch, e.into_inner()).expect("send after Full");
                        }
                    } else {
                        conn.send(ch, msg).expect("send");
                    }
                }
            })
        })
        .collect();
    let mut next = [0u32; THREADS as usize];
    for _ in 0..u64::from(THREADS) * u64::from(PER_THREAD) {
        let (ch, m) = b
            .received
            .recv_timeout(Duration::from_secs(30))
            .expect("delivered");
        let t = m[0];
        let seq = u32::from_be_bytes([m[1], m[2], m[3], m[4]]);
        assert_eq!(ch, 1 + (t % 2), "thread {t}'s channel");
        assert_eq!(
            seq, next[t as usize],
            "thread {t}: message {seq} out of order"
        );
        assert_eq!(
            m,
            stamped(t, seq, m.len()),
            "thread {t} message {seq} intact"
        );
        next[t as usize] += 1;
    }
    for s in senders {
        s.join().expect("sender");
    }
    assert!(
        b.received.recv_timeout(Duration::from_millis(200)).is_err(),
        "nothing extra"
    );
}

/// Channels 0x01 (priority 1) and 0x02 (priority 4), each fed by its own thread with
/// `size`-byte messages (0x01 spinning on `try_send` if `spin_low`, else both calling
/// `send`), under a send rate that makes the link the bottleneck whatever the machine's
/// load; returns priority-4 bytes / priority-1 bytes counted in steady state.
fn priority_share(size: usize, spin_low: bool) -> f64 {
    let chans = vec![
        ChannelDescriptor::new(0x01, 1).send_queue_capacity(1024),
        ChannelDescriptor::new(0x02, 4).send_queue_capacity(1024),
    ];
    // The scheduler orders what is queued: a batch must be shallower than the queues (16
    // KiB against 1024 messages each), or one batch takes both queues whole, whatever
    // their priorities.
    let cfg = MConnConfig::default()
        .send_rate(Some(4_000_000))
        .send_buffer_size(16 * 1024);
    let (a, b) = conn_pair(chans, cfg);
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(2));
    let senders: Vec<_> = [0x01u8, 0x02]
        .into_iter()
        .map(|ch| {
            let (conn, stop, barrier) = (a.conn.clone(), stop.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let msg = Bytes::from(vec![ch; size]);
                while !stop.load(Ordering::Relaxed) {
                    let sent = if spin_low && ch == 0x01 {
                        match conn.try_send(ch, msg.clone()) {
                            Err(TrySendError::Full(_)) => Ok(()),
                            r => r.map_err(|_| ()),
                        }
                    } else {
                        conn.send(ch, msg.clone()).map_err(|_| ())
                    };
                    if sent.is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    // Steady state only: from 2.5 MB on. The rate's first burst (a tenth of a second's
    // worth, 400 KB) leaves at full speed, and a sender that starts first (or whose
    // thread the machine runs first) may fill it alone; no priority is broken then,
    // nothing else being pending, but the scheduler then repays the other channel until
    // its share is 4 times as large: up to about 2 MB in all. (Counting from the second
    // switch between channels, as conn_schedule.rs does for 64 KiB messages, saw that
    // repayment in a loaded CI run: 5.26.)
    let counted = bytes_by_channel(&b.received, 4_000_000, |seen, _| seen > 2_500_000);
    stop.store(true, Ordering::Relaxed);
    a.conn.stop();
    for s in senders {
        s.join().expect("sender");
    }
    let ratio = counted[2] as f64 / counted[1] as f64;
    eprintln!("priority 4 : priority 1 = {ratio:.3}");
    ratio
}

#[test]
fn busy_channels_of_small_messages_share_bytes_by_priority() {
    let _w = watchdog("stage_priorities", LIMIT);
    // Small messages: the first of a burst is staged, the rest queue once the other
    // channel is busy too.
    let ratio = priority_share(100, false);
    assert!(
        (3.4..=4.6).contains(&ratio),
        "ratio {ratio:.3}, want 4 within 15%"
    );
}

/// Found by the hostile review (tests/stage_hostile.rs): a low-priority caller spinning
/// on `try_send` took the stage's lock on every call and kept the other channel's sender
/// from it; a certain refusal is now decided without the lock.
#[test]
fn a_caller_spinning_on_try_send_does_not_take_the_link_from_a_higher_priority() {
    let _w = watchdog("stage_priority_spin", LIMIT);
    let ratio = priority_share(1024, true);
    assert!(
        (3.4..=4.6).contains(&ratio),
        "ratio {ratio:.3}, want 4 within 15%"
    );
}

#[test]
fn try_send_refuses_and_send_times_out_once_room_bounded_in_bytes_is_used() {
    let _w = watchdog("stage_room", LIMIT);
    // The peer never reads: once the socket buffers are full, nothing leaves.
    let (ours, _peer) = tcp_pair();
    let cfg = MConnConfig::default().send_buffer_size(16 * 1024);
    let c = start(
        ours,
        vec![ChannelDescriptor::new(0x01, 1).send_queue_capacity(4)],
        cfg,
    );
    let msg = Bytes::from(vec![0x5a; 1000]);
    // Offer until a thousand offers in a row are refused: by then the socket is full
    // and nothing leaves any more.
    let (mut accepted, mut refused_in_a_row) = (0u64, 0);
    while refused_in_a_row < 1000 {
        match c.conn.try_send(0x01, msg.clone()) {
            Ok(()) => {
                accepted += 1;
                refused_in_a_row = 0;
            }
            Err(TrySendError::Full(m)) => {
                assert_eq!(m, msg, "the message comes back");
                refused_in_a_row += 1;
            }
            Err(e) => panic!("{e:?}"),
        }
        // Bounded: what the kernel buffers (a few MB at most on loopback), plus the
        // stage (16 KiB), the batch being written and the queue (4 messages).
        assert!(
            accepted * 1000 < 64 << 20,
            "{accepted} messages taken: room is not bounded by bytes"
        );
    }
    assert!(
        accepted > 4,
        "small messages are taken beyond the queue's slots"
    );
    // Room comes back only when the send thread moves the stage into its batch (a
    // stalled write lets it, once per write timeout). send waits at most its timeout, and hands the message back; the batch is bounded,
    // so such waits soon all time out.
    let mut timeouts = 0;
    let mut more = 0u64;
    while timeouts < 3 {
        let t = Instant::now();
        match c
            .conn
            .send_timeout(0x01, msg.clone(), Duration::from_millis(100))
        {
            Ok(()) => more += 1,
            Err(SendError::Timeout(m)) => {
                assert_eq!(m, msg);
                assert!(t.elapsed() >= Duration::from_millis(100));
                timeouts += 1;
            }
            Err(e) => panic!("{e:?}"),
        }
        assert!(
            (accepted + more) * 1000 < 64 << 20,
            "{} messages taken: room is not bounded by bytes",
            accepted + more
        );
    }
    c.conn.stop();
}

#[test]
fn stop_releases_a_sender_waiting_for_the_stage() {
    let _w = watchdog("stage_stop_releases", LIMIT);
    stop_releases_a_waiting_sender(
        MConnConfig::default()
            .send_buffer_size(4096)
            .send_timeout(Duration::from_secs(3600)),
    );
}

/// The default batch (the stage stops at its 128 KiB cap) and a timeout of
/// `Duration::MAX`: the waiting sender's deadline saturates, and stop still releases it.
#[test]
fn stop_releases_a_sender_waiting_forever_for_a_capped_stage() {
    let _w = watchdog("stage_stop_releases_forever", LIMIT);
    stop_releases_a_waiting_sender(MConnConfig::default().send_timeout(Duration::MAX));
}

/// Sends 500-byte messages to a peer that never reads until a send waits, then stops.
fn stop_releases_a_waiting_sender(cfg: MConnConfig) {
    let (ours, _peer) = tcp_pair();
    let c = start(ours, vec![ChannelDescriptor::new(0x01, 1)], cfg);
    let conn = c.conn.clone();
    let (tx, rx) = crossbeam_channel::bounded(1);
    let sender = std::thread::spawn(move || loop {
        // Small messages: once nothing leaves, this send waits (for its whole timeout).
        if let Err(e) = conn.send(0x01, vec![1u8; 500]) {
            let _ = tx.send(e);
            return;
        }
    });
    // Wait until the sender is blocked: the connection accepts nothing more.
    assert!(wait_until(Duration::from_secs(60), || !c
        .conn
        .can_send(0x01)));
    c.conn.stop();
    let e = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("stop releases the waiting sender");
    assert!(
        matches!(e, SendError::Closed(ref m) if m.len() == 500),
        "{e:?}"
    );
    sender.join().expect("sender");
}

#[test]
fn flush_stop_writes_everything_staged() {
    let _w = watchdog("stage_flush", LIMIT);
    let chans = vec![ChannelDescriptor::new(0x01, 1)];
    let (a, b) = conn_pair(chans, MConnConfig::default());
    const N: u32 = 50_000;
    for seq in 0..N {
        a.conn.send(0x01, stamped(0, seq, 64)).expect("send");
    }
    a.conn.flush_stop();
    for seq in 0..N {
        let (_, m) = b
            .received
            .recv_timeout(Duration::from_secs(10))
            .expect("every message sent before flush_stop");
        assert_eq!(m, stamped(0, seq, 64), "message {seq}");
    }
}
