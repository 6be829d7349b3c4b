//! The receive side's pure step (the `Inbox` the recv thread drives) fed an arbitrary
//! byte stream in arbitrary pieces, with no threads: the same model and input layout as
//! `recv_loop`, many times faster per input.
//!
//! It must deliver exactly what the model delivers (so never a message over its
//! channel's capacity, never one on an unknown channel), end with the model's error when
//! the stream proves one or the model's end-of-stream error otherwise, and never panic.
//!
//! Input: `[read, cap1, cap2, stream...]`. `read & 0x7F` is the size of the pieces the
//! stream is fed in (0: all at once). Channel 0x01 accepts messages of up to
//! `(cap1 + 1) * 16` bytes, channel 0x02 up to `(cap2 + 1) * 16`. Packets carry at most
//! 1024 payload bytes (the default).
#![no_main]

mod recv_model;

use libfuzzer_sys::fuzz_target;
use mconn::fuzzing::Inbox as FuzzInbox;
use mconn::wire;
use mconn::MConnConfig;
use recv_model::{channels, end_of, model};

fuzz_target!(|data: &[u8]| {
    let [read, cap1, cap2, stream @ ..] = data else {
        return;
    };
    let (caps, channels) = channels(*cap1, *cap2);
    let config = MConnConfig::default();
    config.validate(&channels).expect("valid channels");
    let max_total = wire::max_packet_total_size(config.max_packet_msg_payload_size);
    let (expected, expected_end) = model(stream, &caps, max_total);

    let mut inbox = FuzzInbox::new(&channels, &config);
    let piece = match read & 0x7F {
        0 => stream.len().max(1),
        n => n as usize,
    };
    let mut got = Vec::new();
    let mut error = None;
    for chunk in stream.chunks(piece) {
        let step = inbox.step(chunk);
        for (ch, m) in step.messages {
            let cap = caps.iter().find(|c| c.0 == ch).map(|c| c.1);
            assert!(
                cap.is_some_and(|cap| m.len() <= cap),
                "delivered {} bytes on channel {ch:#04x} (capacity {cap:?})",
                m.len()
            );
            got.push((ch, m.to_vec()));
        }
        if step.error.is_some() {
            error = step.error;
            break;
        }
    }
    let end = match error {
        Some(e) => end_of(&e),
        None => end_of(&inbox.closed_error()),
    };
    assert_eq!(got.len(), expected.len(), "number of delivered messages");
    assert!(got == expected, "delivered messages differ from the model");
    assert_eq!(end, expected_end);
});
