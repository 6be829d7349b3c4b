//! A full running MConnection (two channels, small `recv_message_capacity`) fed an
//! arbitrary byte stream through a custom `Transport`: reader = the fuzz bytes, writer = a
//! sink, closer = a flag.
//!
//! It must deliver exactly what a straightforward model of the protocol delivers (so never
//! a message over its channel's capacity, never one on an unknown channel), then end with
//! exactly one `on_error` saying what the model says; never panic; and leave no thread
//! behind once stopped.
//!
//! Input: `[read, cap1, cap2, stream...]`. `read & 0x7F` is the most bytes one `read`
//! returns (0: no limit); with `read & 0x80` every other read is `Interrupted` first.
//! Channel 0x01 accepts messages of up to `(cap1 + 1) * 16` bytes, channel 0x02 up to
//! `(cap2 + 1) * 16` (16..=4096). Packets carry at most 1024 payload bytes (the default).
#![no_main]

mod recv_model;

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::unbounded;
use libfuzzer_sys::fuzz_target;
use mconn::wire;
use mconn::{Error, MConnConfig, MConnection, Transport};
use recv_model::{channels, end_of, model};

struct FuzzReader {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
    interrupt: bool,
    flip: bool,
    closed: Arc<AtomicBool>,
}

impl Read for FuzzReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.closed.load(Ordering::Acquire) {
            // A shut-down socket reads as the end of the stream.
            return Ok(0);
        }
        if self.interrupt {
            self.flip = !self.flip;
            if self.flip {
                return Err(io::ErrorKind::Interrupted.into());
            }
        }
        let n = buf.len().min(self.chunk).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

enum Event {
    Msg(u8, Bytes),
    Err(Error),
}

fn mconn_threads() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .map(|n| n.starts_with("mconn-"))
                .unwrap_or(false)
        })
        .count()
}

fuzz_target!(|data: &[u8]| {
    let [read, cap1, cap2, stream @ ..] = data else {
        return;
    };
    let (caps, channels) = channels(*cap1, *cap2);
    let config = MConnConfig::default().io_thread_stack_size(128 * 1024);
    let max_total = wire::max_packet_total_size(config.max_packet_msg_payload_size);
    let (expected, expected_end) = model(stream, &caps, max_total);

    let closed = Arc::new(AtomicBool::new(false));
    let reader = FuzzReader {
        data: stream.to_vec(),
        pos: 0,
        chunk: match read & 0x7F {
            0 => usize::MAX,
            n => n as usize,
        },
        interrupt: read & 0x80 != 0,
        flip: false,
        closed: closed.clone(),
    };
    let c = closed.clone();
    let transport = Transport::new(reader, io::sink(), move || c.store(true, Ordering::Release));
    let (tx, events) = unbounded();
    let etx = tx.clone();
    let conn = MConnection::with_transport(
        transport,
        channels,
        config,
        move |ch, msg: Bytes| {
            let cap = caps.iter().find(|c| c.0 == ch).map(|c| c.1);
            assert!(
                cap.is_some_and(|cap| msg.len() <= cap),
                "delivered {} bytes on channel {ch:#04x} (capacity {cap:?})",
                msg.len()
            );
            let _ = tx.send(Event::Msg(ch, msg));
        },
        move |e| {
            let _ = etx.send(Event::Err(e));
        },
    )
    .expect("start");

    let mut got = Vec::new();
    let end = loop {
        match events.recv_timeout(Duration::from_secs(60)) {
            Ok(Event::Msg(ch, m)) => got.push((ch, m.to_vec())),
            Ok(Event::Err(e)) => break end_of(&e),
            Err(_) => panic!("no on_error within 60 s of the end of the input"),
        }
    };
    assert!(!conn.is_running());
    drop(conn);
    // Both callbacks are dropped with the threads: nothing more can arrive.
    assert!(
        events.recv_timeout(Duration::from_secs(10)).is_err(),
        "an event after on_error"
    );
    // A joined thread's /proc entry can outlive the join by a moment (the kernel wakes
    // the joiner before it reaps the task): allow it that moment, not more.
    let t = std::time::Instant::now();
    while mconn_threads() > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{} threads left after stop",
            mconn_threads()
        );
        std::thread::sleep(Duration::from_micros(100));
    }
    assert!(
        closed.load(Ordering::Acquire),
        "the transport was shut down"
    );
    assert_eq!(got.len(), expected.len(), "number of delivered messages");
    assert!(got == expected, "delivered messages differ from the model");
    assert_eq!(end, expected_end);
});
