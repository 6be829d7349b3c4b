//! Failure as a tested path: two MConnections (or two Switches) joined through a proxy
//! that cuts, mutes, throttles, corrupts or half-closes the link. Every failure must end
//! in a clean `on_error` on both sides, never a panic, never a partial message, and never
//! the loss of a message that `send` accepted while the link stayed up.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mconn::wire::msg_packet_len;
use mconn::{ChannelDescriptor, Error, MConnConfig, SendError, TrySendError};
use support::proxy::{proxied_pair, Dir, Proxy};
use support::switch::*;
use support::*;

const LIMIT: Duration = Duration::from_secs(90);
/// How long we wait for something that must happen (the VM is slow and noisy).
const WAIT: Duration = Duration::from_secs(10);

fn chans() -> Vec<ChannelDescriptor> {
    vec![
        ChannelDescriptor::new(0x01, 1).send_queue_capacity(4),
        ChannelDescriptor::new(0x02, 1)
            .send_queue_capacity(4)
            .recv_message_capacity(100),
    ]
}

/// Wire bytes of a message of `len` bytes cut into 1024-byte packets.
fn wire_len(len: usize) -> u64 {
    if len == 0 {
        return msg_packet_len(0) as u64;
    }
    let (full, rest) = (len / 1024, len % 1024);
    (full * msg_packet_len(1024) + if rest > 0 { msg_packet_len(rest) } else { 0 }) as u64
}

/// A message that carries its sequence number: 8 bytes big-endian, then a pattern.
fn numbered(seq: u64, len: usize) -> Bytes {
    let mut m = seq.to_be_bytes().to_vec();
    m.extend(pattern(seq, len.saturating_sub(8)));
    Bytes::from(m)
}

/// The sequence number of a `numbered` message, after checking its content.
fn check_numbered(m: &[u8]) -> u64 {
    assert!(m.len() >= 8, "message of {} bytes", m.len());
    let seq = u64::from_be_bytes(m[..8].try_into().unwrap());
    assert!(m[8..] == pattern(seq, m.len() - 8)[..], "content of #{seq}");
    seq
}

fn no_more_messages(c: &TestConn) {
    assert!(
        c.received.try_recv().is_err(),
        "a message was delivered after the failure"
    );
}

/// A cut inside a large message, at several offsets (inside the first packet's header,
/// at a packet boundary, deep inside): both sides get `on_error`; the receiver delivers
/// exactly the messages before the cut and nothing of the cut one.
#[test]
fn cut_mid_message_errors_both_sides_and_delivers_no_partial_message() {
    let _w = watchdog("cut_mid_message", LIMIT);
    let big = 200_000usize;
    for offset in [
        1u64,
        2,
        5,
        1030,
        1031,
        2060,
        wire_len(big) / 2,
        wire_len(big) - 1,
    ] {
        let (a, b, proxy) = proxied_pair(chans(), MConnConfig::default());
        let before: u64 = (0..3).map(|_| wire_len(100)).sum();
        proxy.cut_after(Dir::ToServer, before + offset);
        for i in 0..3 {
            a.conn
                .send(0x01, numbered(i, 100))
                .expect("send before the cut");
            let (ch, m) = b.received.recv_timeout(WAIT).expect("delivered");
            assert_eq!((ch, check_numbered(&m)), (0x01, i));
        }
        // The cut may come while `send` still writes directly: both outcomes are fine.
        match a.conn.send(0x01, numbered(3, big)) {
            Ok(()) | Err(SendError::Closed(_)) => {}
            Err(e) => panic!("offset {offset}: {e}"),
        }
        let eb = b.errors.recv_timeout(WAIT).expect("receiver's on_error");
        let ea = a.errors.recv_timeout(WAIT).expect("sender's on_error");
        for e in [&ea, &eb] {
            assert!(
                matches!(e, Error::PeerClosed | Error::Io(_)),
                "offset {offset}: {e}"
            );
        }
        // Cut at a packet boundary reads as a clean close; anywhere else as a truncation.
        let boundary = offset % msg_packet_len(1024) as u64 == 0;
        assert_eq!(
            matches!(eb, Error::PeerClosed),
            boundary,
            "offset {offset}: {eb}"
        );
        assert_eq!(proxy.forwarded(Dir::ToServer), before + offset);
        no_more_messages(&b);
        assert!(!a.conn.is_running() && !b.conn.is_running());
        assert!(matches!(a.conn.send(0x01, "x"), Err(SendError::Closed(_))));
        assert_eq!(proxy.cuts(), 1);
    }
}

/// A link that goes mute (sockets open, nothing forwarded) is detected by the keepalive:
/// both sides stop with `PongTimeout` about `ping_interval + pong_timeout` after the
/// last thing they heard.
#[test]
fn silent_link_is_a_pong_timeout_on_both_sides() {
    let _w = watchdog("silent_link", LIMIT);
    let ping = Duration::from_millis(200);
    let pong = Duration::from_millis(100);
    let cfg = MConnConfig::default()
        .ping_interval(ping)
        .pong_timeout(pong);
    let (a, b, proxy) = proxied_pair(chans(), cfg);
    // An idle but healthy link stays up: pings are answered through the proxy.
    assert!(a.errors.recv_timeout(Duration::from_secs(1)).is_err());
    assert!(b.errors.try_recv().is_err());
    assert!(a.conn.status().bytes_received > 0 && b.conn.status().bytes_received > 0);
    assert!(a.conn.is_running() && b.conn.is_running());

    let t = Instant::now();
    proxy.set_silent(true);
    let ea = a.errors.recv_timeout(WAIT).expect("a's on_error");
    let eb = b.errors.recv_timeout(WAIT).expect("b's on_error");
    let took = t.elapsed();
    assert!(matches!(ea, Error::PongTimeout), "{ea}");
    assert!(matches!(eb, Error::PongTimeout), "{eb}");
    // Nothing was heard for at most ping + pong before the timeout fires; the slack is
    // for a loaded machine.
    assert!(
        took < ping + pong + Duration::from_secs(3),
        "PongTimeout after {took:?}"
    );
    assert!(took >= pong, "too early: {took:?}");
    no_more_messages(&a);
    no_more_messages(&b);
}

/// The link goes mute in the middle of a bulk transfer: the sender, stalled on a full
/// socket, still keeps time and stops with `PongTimeout`, and so does the receiver; a
/// `send` blocked on the full queue is released with the message.
#[test]
fn silent_link_during_bulk_transfer_is_a_pong_timeout() {
    let _w = watchdog("silent_bulk", LIMIT);
    let ping = Duration::from_millis(200);
    let pong = Duration::from_millis(100);
    let cfg = MConnConfig::default()
        .ping_interval(ping)
        .pong_timeout(pong);
    let (a, b, proxy) = proxied_pair(chans(), cfg);
    let sender = {
        let conn = a.conn.clone();
        thread::spawn(move || {
            let mut seq = 0;
            loop {
                match conn.send(0x01, numbered(seq, 256 * 1024)) {
                    Ok(()) => seq += 1,
                    Err(SendError::Timeout(_)) => {}
                    Err(SendError::Closed(m)) => {
                        assert_eq!(check_numbered(&m), seq, "Closed hands the message back");
                        return seq;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        })
    };
    for i in 0..4 {
        let (_, m) = b.received.recv_timeout(WAIT).expect("bulk traffic flows");
        assert_eq!(check_numbered(&m), i);
    }
    let t = Instant::now();
    proxy.set_silent(true);
    let ea = a.errors.recv_timeout(WAIT).expect("sender's on_error");
    let eb = b.errors.recv_timeout(WAIT).expect("receiver's on_error");
    let took = t.elapsed();
    assert!(matches!(ea, Error::PongTimeout), "sender: {ea}");
    assert!(matches!(eb, Error::PongTimeout), "receiver: {eb}");
    assert!(took < ping + pong + Duration::from_secs(3), "{took:?}");
    let accepted = sender.join().expect("sender thread");
    // In order and exact up to the silence; nothing more afterwards.
    let mut next = 4;
    while let Ok((_, m)) = b.received.try_recv() {
        assert_eq!(check_numbered(&m), next);
        next += 1;
    }
    assert!(next <= accepted);
}

/// Over a 64 KiB/s link: `send` with a short timeout hands the message back as
/// `Timeout` while the queue stays full, and every message it accepted arrives, exactly,
/// once, in order.
#[test]
fn slow_link_loses_nothing_and_send_times_out_with_the_message() {
    let _w = watchdog("slow_link", Duration::from_secs(180));
    let chans = vec![ChannelDescriptor::new(0x01, 1).send_queue_capacity(2)];
    let cfg = MConnConfig::default().send_timeout(Duration::from_millis(50));
    let (a, b, proxy) = proxied_pair(chans, cfg);
    proxy.set_rate(Some(64 * 1024));

    let stop = Arc::new(AtomicBool::new(false));
    let full_seen = Arc::new(AtomicBool::new(false));
    let sender = {
        let (conn, stop, full_seen) = (a.conn.clone(), stop.clone(), full_seen.clone());
        thread::spawn(move || {
            let mut rng = Rng(0x5EED);
            let (mut accepted, mut timeouts, mut full_timeouts) = (0u64, 0u64, 0u64);
            let mut msg = numbered(0, 8 + rng.below(20_000) as usize);
            while !stop.load(Ordering::Acquire) {
                match conn.send(0x01, msg.clone()) {
                    Ok(()) => {
                        accepted += 1;
                        msg = numbered(accepted, 8 + rng.below(20_000) as usize);
                    }
                    Err(SendError::Timeout(back)) => {
                        assert!(back == msg, "Timeout hands back the very message");
                        timeouts += 1;
                        if !conn.can_send(0x01) {
                            full_timeouts += 1;
                            full_seen.store(true, Ordering::Release);
                        }
                    }
                    Err(e) => panic!("send: {e}"),
                }
            }
            (accepted, timeouts, full_timeouts)
        })
    };
    // Let the link run slow until the socket buffers are full and a send has timed out
    // on a full queue (how long that takes depends on the kernel's buffers and the
    // machine's load); messages trickle through meanwhile.
    let mut next = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while (next == 0 || !full_seen.load(Ordering::Acquire)) && Instant::now() < deadline {
        if let Ok((_, m)) = b.received.recv_timeout(Duration::from_millis(50)) {
            assert_eq!(check_numbered(&m), next, "in order, none lost or repeated");
            next += 1;
        }
    }
    assert!(next > 0, "nothing arrived over the slow link");
    stop.store(true, Ordering::Release);
    let (accepted, timeouts, full_timeouts) = sender.join().expect("sender");
    assert!(timeouts > 0, "send never timed out ({accepted} accepted)");
    assert!(full_timeouts > 0, "no timeout found the queue full");
    // Open the link up: the rest drains.
    proxy.set_rate(None);
    while next < accepted {
        let (_, m) = b
            .received
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("message {next} of {accepted} never arrived"));
        assert_eq!(check_numbered(&m), next);
        next += 1;
    }
    assert!(b.received.recv_timeout(Duration::from_millis(200)).is_err());
    assert!(a.errors.try_recv().is_err() && b.errors.try_recv().is_err());
    println!(
        "slow link: {accepted} accepted, {timeouts} timeouts ({full_timeouts} with the queue full)"
    );
}

/// Garbage injected into an idle stream: the receiver stops with the matching protocol
/// error, the sender sees the connection close, nothing partial is delivered.
#[test]
fn injected_garbage_is_a_clean_protocol_error() {
    let _w = watchdog("garbage", LIMIT);
    let mut too_large = vec![0x03, 0x02, 0x01, 0x01, 0xC8];
    too_large.extend([0u8; 200]);
    type Expect = fn(&Error) -> bool;
    let cases: Vec<(Vec<u8>, Expect)> = vec![
        (vec![0x07, 0x01], |e| {
            matches!(e, Error::UnknownPacketType { byte: 0x07 })
        }),
        (vec![0x03, 0x09, 0x01, 0x01, 0x01, 0x41], |e| {
            matches!(e, Error::UnknownChannel { channel: 0x09 })
        }),
        (vec![0x03, 0x01, 0x01, 0x09, 0, 0], |e| {
            matches!(e, Error::VarintOverflow { size_byte: 0x09 })
        }),
        (vec![0x03, 0x01, 0x01, 0xF1, 0x01], |e| {
            matches!(e, Error::InvalidLength { length: -1 })
        }),
        (vec![0x03, 0x01, 0x00, 0x02, 0x10, 0x00], |e| {
            matches!(e, Error::PacketTooLarge { .. })
        }),
        (too_large, |e| {
            matches!(
                e,
                Error::MessageTooLarge {
                    channel: 0x02,
                    limit: 100,
                    ..
                }
            )
        }),
    ];
    for (garbage, expected) in cases {
        let (a, b, proxy) = proxied_pair(chans(), MConnConfig::default());
        a.conn.send(0x01, "before").unwrap();
        assert_eq!(b.received.recv_timeout(WAIT).unwrap().1, "before");
        proxy.inject(Dir::ToServer, &garbage);
        let eb = b
            .errors
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("{garbage:02x?}: no on_error"));
        assert!(expected(&eb), "{garbage:02x?}: got {eb}");
        assert!(eb.is_protocol_violation());
        let ea = a.errors.recv_timeout(WAIT).expect("sender's on_error");
        assert!(matches!(ea, Error::PeerClosed | Error::Io(_)), "{ea}");
        no_more_messages(&b);
        assert!(matches!(
            b.conn.try_send(0x01, "y"),
            Err(TrySendError::Closed(_))
        ));
    }
}

/// Random garbage injected into a busy stream: whatever it does to the framing, the
/// receiver ends with an error (never a panic, never a hang), and every message it
/// delivered before the corruption is exact.
#[test]
fn random_garbage_in_a_busy_stream_ends_cleanly() {
    let _w = watchdog("random_garbage", LIMIT);
    for seed in 1..=5u64 {
        let (a, b, proxy) = proxied_pair(chans(), MConnConfig::default());
        let stop = Arc::new(AtomicBool::new(false));
        let sender = {
            let (conn, stop) = (a.conn.clone(), stop.clone());
            thread::spawn(move || {
                let mut rng = Rng(seed);
                let mut seq = 0;
                while !stop.load(Ordering::Acquire) {
                    let m = numbered(seq, 8 + rng.below(3000) as usize);
                    if conn.send(0x01, m).is_err() {
                        return;
                    }
                    seq += 1;
                }
            })
        };
        // Some clean traffic first.
        for i in 0..20 {
            let (_, m) = b.received.recv_timeout(WAIT).expect("clean traffic");
            assert_eq!(check_numbered(&m), i);
        }
        let mut rng = Rng(seed * 7919);
        let garbage: Vec<u8> = (0..64).map(|_| rng.next() as u8).collect();
        proxy.inject(Dir::ToServer, &garbage);
        let eb = b.errors.recv_timeout(WAIT).unwrap_or_else(|_| {
            panic!("seed {seed}: corrupted stream not detected within {WAIT:?}")
        });
        assert!(
            eb.is_protocol_violation() || matches!(eb, Error::Io(_) | Error::PeerClosed),
            "seed {seed}: {eb}"
        );
        a.errors.recv_timeout(WAIT).expect("sender's on_error");
        stop.store(true, Ordering::Release);
        sender.join().expect("sender thread");
        assert!(!a.conn.is_running() && !b.conn.is_running());
    }
}

/// The proxy shuts down one direction only: that receiver reads EOF (`PeerClosed`),
/// stops, and its close travels back, so the other side stops too. Nothing hangs.
#[test]
fn half_close_stops_both_sides_cleanly() {
    let _w = watchdog("half_close", LIMIT);
    for dir in [Dir::ToServer, Dir::ToClient] {
        let (a, b, proxy) = proxied_pair(chans(), MConnConfig::default());
        a.conn.send(0x01, "to b").unwrap();
        b.conn.send(0x01, "to a").unwrap();
        assert_eq!(b.received.recv_timeout(WAIT).unwrap().1, "to b");
        assert_eq!(a.received.recv_timeout(WAIT).unwrap().1, "to a");
        proxy.half_close(dir);
        let (reader, other) = match dir {
            Dir::ToServer => (&b, &a),
            Dir::ToClient => (&a, &b),
        };
        let e = reader
            .errors
            .recv_timeout(WAIT)
            .expect("EOF side's on_error");
        assert!(matches!(e, Error::PeerClosed), "{dir:?}: {e}");
        let e = other
            .errors
            .recv_timeout(WAIT)
            .expect("other side's on_error");
        assert!(
            matches!(e, Error::PeerClosed | Error::Io(_)),
            "{dir:?}: {e}"
        );
        for c in [&a, &b] {
            assert!(!c.conn.is_running());
            assert!(matches!(
                c.conn.send(0x01, "late"),
                Err(SendError::Closed(_))
            ));
            no_more_messages(c);
        }
        // Stopping joins both threads of each connection; the watchdog catches a hang.
        a.conn.stop();
        b.conn.stop();
        drop(proxy);
    }
}

/// A link with 20 ms of delay each way and a small rate still carries a conversation
/// both ways, exactly and in order.
#[test]
fn delayed_link_carries_everything_in_order() {
    let _w = watchdog("delayed_link", LIMIT);
    let (a, b, proxy) = proxied_pair(chans(), MConnConfig::default());
    proxy.set_delay(Duration::from_millis(20));
    proxy.set_rate(Some(512 * 1024));
    let mut rng = Rng(42);
    for i in 0..50u64 {
        let m = numbered(i, 8 + rng.below(5000) as usize);
        a.conn.send(0x01, m.clone()).unwrap();
        b.conn.send(0x01, m).unwrap();
    }
    for i in 0..50u64 {
        assert_eq!(check_numbered(&b.received.recv_timeout(WAIT).unwrap().1), i);
        assert_eq!(check_numbered(&a.received.recv_timeout(WAIT).unwrap().1), i);
    }
    assert!(a.errors.try_recv().is_err() && b.errors.try_recv().is_err());
}

/// Through Switches: a cut link removes the peer on both sides (remove_peer with the
/// reason), a persistent dialer comes back through the proxy, and a mute link is removed
/// with `PongTimeout`.
#[test]
fn switches_recover_from_a_cut_and_drop_a_mute_peer() {
    let _w = watchdog("switch_cut", LIMIT);
    let mconn = MConnConfig::default()
        .ping_interval(Duration::from_millis(300))
        .pong_timeout(Duration::from_millis(150));
    let reconnect = mconn::ReconnectSchedule::default().scaled(
        Duration::from_millis(100),
        Duration::from_millis(50),
        Duration::from_millis(50),
    );
    let ra = Recorder::new(&[0x01]);
    let rb = Recorder::new(&[0x01]);
    let (b, b_addr) = listening("b", &[("r", rb.clone())], config().mconn(mconn.clone()));
    let proxy = Proxy::start(b_addr);
    let (a, _) = listening(
        "a",
        &[("r", ra.clone())],
        config().mconn(mconn).reconnect(reconnect),
    );
    a.dial_persistent(proxy.addr()).unwrap();
    assert_eq!(ra.next(10), Event::Added(b.id()));
    assert_eq!(rb.next(10), Event::Added(a.id()));

    proxy.cut_now();
    for (r, other, on_b) in [(&ra, b.id(), false), (&rb, a.id(), true)] {
        match r.next(10) {
            Event::Removed(id, why) => {
                assert_eq!(id, other);
                // On b the old connection may also go the other way: a's redial reaches
                // b before b reads the cut, ranks better (two dials from one side: the
                // lower socket addresses), and replaces it as a duplicate. a redials
                // only after its own removal, so a always sees the cut.
                let replaced = on_b && why.contains("duplicate");
                assert!(
                    why.contains("closed") || why.contains("i/o") || replaced,
                    "{why}"
                );
            }
            e => panic!("{e:?}"),
        }
    }
    // The persistent dialer comes back through the proxy. Its first attempt may race
    // with b's removal of the old connection and be refused as a duplicate (a then sees
    // that connection close); it tries again on its schedule until a message gets through.
    let back = wait_until(Duration::from_secs(30), || {
        if let Some(p) = a.peers().first() {
            let _ = p.try_send(0x01, "after the cut");
        }
        loop {
            match rb.events.recv_timeout(Duration::from_millis(100)) {
                Ok(Event::Msg(_, _, m)) => return m == "after the cut",
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
    });
    assert!(back, "no message through the reconnected link");
    assert!(proxy.accepted() >= 2);
    // Let the reconnection settle, forgetting its events.
    for r in [&ra, &rb] {
        while r.events.recv_timeout(Duration::from_millis(500)).is_ok() {}
    }
    assert_eq!((a.peers().len(), b.peers().len()), (1, 1));

    // A mute link: removed for PongTimeout (both sides), not hanging forever.
    proxy.set_silent(true);
    for r in [&ra, &rb] {
        match r.next(10) {
            Event::Removed(_, why) => assert!(why.contains("ping"), "{why}"),
            e => panic!("{e:?}"),
        }
    }
    a.stop();
    b.stop();
}

/// A dial through a mute link fails with `HandshakeTimeout` after `handshake_timeout`,
/// and a switch whose peer went mute in the middle of
/// a bulk send (writes stalled, a `send` blocked on a full queue) still stops promptly,
/// well before `send_timeout`.
#[test]
fn mute_links_bound_dial_and_stop() {
    let _w = watchdog("mute_dial_stop", LIMIT);
    let (b, b_addr) = listening("b", &[("r", Recorder::new(&[0x01]))], config());
    let proxy = Proxy::start(b_addr);
    let hs = Duration::from_secs(1);
    let (a, _) = listening(
        "a",
        &[("r", Recorder::new(&[0x01]))],
        config().handshake_timeout(hs),
    );
    proxy.set_silent(true);
    let t = Instant::now();
    match a.dial(proxy.addr()) {
        Err(Error::HandshakeTimeout) => {}
        other => panic!("dial through a mute link: {other:?}"),
    }
    let took = t.elapsed();
    assert!(took >= hs - Duration::from_millis(50), "{took:?}");
    assert!(took < hs + Duration::from_secs(4), "{took:?}");
    assert!(a.peers().is_empty());

    // A fresh link (the old one still holds a's late NodeInfo: released now, b would
    // finish that stale handshake and refuse the next as a duplicate).
    drop(proxy);
    let proxy = Proxy::start(b_addr);
    let peer = a.dial(proxy.addr()).expect("dial over a link that speaks");
    proxy.set_silent(true);
    let sender = thread::spawn(move || {
        // Fills the socket, then the queue; ends when the switch stops the peer.
        let mut n = 0u64;
        while peer.send(0x01, vec![7u8; 256 * 1024]).is_ok() {
            n += 1;
        }
        n
    });
    // Wait until the writes have stalled: the queue is full and stays full.
    assert!(wait_until(WAIT, || {
        a.peers()
            .first()
            .is_some_and(|p| !p.can_send(0x01) && p.status().channels[0].send_queue_size > 0)
    }));
    let t = Instant::now();
    a.stop();
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "stop took {took:?} with a mute peer (send_timeout is 10 s)"
    );
    sender.join().expect("sender");
    b.stop();
}

/// Faults during the handshake: a link cut inside the NodeInfo, or garbage in front of
/// it, fails the dial at once with a clear error (not after `handshake_timeout`), and
/// neither switch ends up with a peer or a reactor callback.
#[test]
fn handshake_faults_fail_the_dial_cleanly() {
    let _w = watchdog("handshake_faults", LIMIT);
    let hs = Duration::from_secs(5);
    let rb = Recorder::new(&[0x01]);
    let (b, b_addr) = listening("b", &[("r", rb.clone())], config().handshake_timeout(hs));
    let ra = Recorder::new(&[0x01]);
    let (a, _) = listening("a", &[("r", ra.clone())], config().handshake_timeout(hs));

    type Expect = fn(&Error) -> bool;
    type Setup = Box<dyn Fn(&Proxy)>;
    let cases: Vec<(&str, Setup, Expect)> = vec![
        (
            "cut inside b's NodeInfo",
            Box::new(|p: &Proxy| p.cut_after(Dir::ToClient, 20)),
            |e| matches!(e, Error::Io(_) | Error::PeerClosed),
        ),
        (
            "cut inside a's NodeInfo",
            Box::new(|p: &Proxy| p.cut_after(Dir::ToServer, 20)),
            |e| matches!(e, Error::Io(_) | Error::PeerClosed),
        ),
        (
            "garbage before b's NodeInfo",
            Box::new(|p: &Proxy| p.inject_on_connect(Dir::ToClient, &[0x00])),
            |e| matches!(e, Error::Malformed(_)),
        ),
        (
            "a NodeInfo claiming a 1 MB moniker",
            Box::new(|p: &Proxy| {
                let mut lie = vec![0x01];
                lie.extend([0u8; 32]);
                lie.extend([0x03, 0x10, 0x00, 0x00]);
                p.inject_on_connect(Dir::ToClient, &lie)
            }),
            |e| matches!(e, Error::FieldOverLimit { .. }),
        ),
    ];
    for (what, setup, expected) in cases {
        let proxy = Proxy::start(b_addr);
        setup(&proxy);
        let t = Instant::now();
        match a.dial(proxy.addr()) {
            Err(e) => assert!(expected(&e), "{what}: {e}"),
            // Cutting only a's direction races with b's NodeInfo, sent at the same time:
            // if all of it reached a first, a's half of the handshake is complete. Then
            // the cut must remove the peer at once.
            Ok(p) if what == "cut inside a's NodeInfo" => {
                assert!(
                    wait_until(WAIT, || !p.is_running() && a.peers().is_empty()),
                    "{what}: {p} stayed"
                );
                while let Ok(e) = ra.events.recv_timeout(Duration::from_secs(5)) {
                    if matches!(e, Event::Removed(..)) {
                        break;
                    }
                }
            }
            Ok(p) => panic!("{what}: dial succeeded with {p}"),
        }
        assert!(t.elapsed() < hs, "{what}: took {:?}", t.elapsed());
        drop(proxy);
    }
    // a keeps no peer (a raced completion was removed above). b's side of each attempt
    // ends too: where a's NodeInfo reached it whole, b finished its half of the
    // handshake and may have added a; then a's hang-up removed it again.
    assert!(wait_until(WAIT, || a.peers().is_empty() && b.peers().is_empty()));
    assert!(ra.events.recv_timeout(Duration::from_millis(300)).is_err());
    let events: Vec<Event> = std::iter::from_fn(|| rb.events.try_recv().ok()).collect();
    println!("b saw {events:?}");
    let added = events
        .iter()
        .filter(|e| matches!(e, Event::Added(_)))
        .count();
    let removed = events
        .iter()
        .filter(|e| matches!(e, Event::Removed(..)))
        .count();
    assert_eq!(added, removed, "{events:?}");
    assert!(!events.iter().any(|e| matches!(e, Event::Msg(..))));
    // And a clean dial still works afterwards.
    a.dial(b_addr).expect("a clean dial");
    assert_eq!(rb.next(10), Event::Added(a.id()));
    a.stop();
    b.stop();
}
