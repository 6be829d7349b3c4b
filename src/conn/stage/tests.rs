use super::*;
use crate::conn::codec::{Codec, GoWire, PacketCodec};

const MAX: usize = 1024;

fn staged(stage: &mut Stage, idx: usize, msg: &[u8]) {
    assert_eq!(stage.route(idx, msg.len(), MAX, 0), Route::Stage);
    stage.push(idx, 0x20 + idx as u8, msg, &Codec::default());
}

#[test]
fn an_empty_stage_takes_a_one_packet_message_when_nothing_is_pending() {
    let stage = Stage::new(64 * 1024);
    assert_eq!(stage.route(0, 100, MAX, 0), Route::Stage);
    assert_eq!(stage.route(0, MAX, MAX, 0), Route::Stage);
    // Larger than one packet: the queue, where the scheduler interleaves its packets.
    assert_eq!(stage.route(0, MAX + 1, MAX, 0), Route::Queue);
    // Something queued or being sent: the queue, so the scheduler's priorities hold.
    assert_eq!(stage.route(0, 100, MAX, 1), Route::Queue);
}

#[test]
fn a_channel_whose_packets_are_staged_never_queues() {
    let mut stage = Stage::new(64 * 1024);
    staged(&mut stage, 1, b"first");
    // Its next message could be read from the queue before the stage is taken: it waits.
    assert_eq!(stage.route(1, 100, MAX, 1), Route::Wait);
    assert_eq!(stage.route(1, MAX + 1, MAX, 0), Route::Wait);
    // Without anything pending it joins the stage.
    assert_eq!(stage.route(1, 100, MAX, 0), Route::Stage);
    // Another channel queues: the stage holds one channel at a time.
    assert_eq!(stage.route(2, 100, MAX, 0), Route::Queue);
}

#[test]
fn a_full_stage_makes_its_channel_wait() {
    let mut stage = Stage::new(300);
    staged(&mut stage, 0, &[7; 100]);
    staged(&mut stage, 0, &[7; 100]);
    assert_eq!(stage.route(0, 100, MAX, 0), Route::Wait);
    // One packet always fits an empty stage, however small the limit.
    let tiny = Stage::new(1);
    assert_eq!(tiny.route(0, MAX, MAX, 0), Route::Stage);
}

#[test]
fn a_batch_larger_than_the_stage_limit_stages_only_max_stage_bytes() {
    let mut stage = Stage::new(usize::MAX);
    let mut bytes = 0;
    while stage.route(0, 1000, MAX, 0) == Route::Stage {
        staged(&mut stage, 0, &[7; 1000]);
        bytes += 1000;
        assert!(bytes <= MAX_STAGE, "staged {bytes} bytes");
    }
    assert_eq!(stage.route(0, 1000, MAX, 0), Route::Wait);
    assert!(bytes > MAX_STAGE - 4096, "waited early, at {bytes} bytes");
    assert_ne!(stage.hint(MAX) & Hint::FULL, 0, "the hint says full too");
}

#[test]
fn taking_swaps_into_an_empty_batch_and_appends_to_a_busy_one() {
    let mut stage = Stage::new(64 * 1024);
    staged(&mut stage, 3, b"one");
    staged(&mut stage, 3, b"two!");
    let mut expected = Vec::new();
    GoWire.encode_msg(&mut expected, 0x23, true, b"one");
    GoWire.encode_msg(&mut expected, 0x23, true, b"two!");

    let mut batch = Vec::new();
    let t = stage.take_into(&mut batch).expect("staged");
    assert_eq!((t.channel, t.msgs, t.payload), (3, 2, 7));
    assert_eq!(batch, expected);
    assert!(stage.is_empty());
    assert!(stage.take_into(&mut batch).is_none(), "taken once");

    staged(&mut stage, 0, b"three");
    let mut busy = vec![0xaa];
    stage.take_into(&mut busy).expect("staged");
    let mut want = vec![0xaa];
    GoWire.encode_msg(&mut want, 0x20, true, b"three");
    assert_eq!(busy, want);
    // Emptied: any channel may stage now.
    assert_eq!(stage.route(5, 10, MAX, 0), Route::Stage);
}

#[test]
fn a_closed_stage_sends_everyone_to_the_queue_and_holds_nothing() {
    let mut stage = Stage::new(64 * 1024);
    staged(&mut stage, 0, &[1; 500]);
    stage.close();
    assert!(stage.is_empty());
    assert_eq!(stage.capacity(), 0);
    assert_eq!(stage.route(0, 10, MAX, 0), Route::Queue);
}

#[test]
fn trim_gives_back_a_large_buffer_only_when_empty() {
    let mut stage = Stage::new(1 << 20);
    for _ in 0..100 {
        staged(&mut stage, 0, &[0; 1000]);
    }
    stage.trim(16 * 1024);
    assert!(stage.capacity() >= 100_000, "not while it holds packets");
    let mut batch = vec![1];
    stage.take_into(&mut batch);
    stage.trim(16 * 1024);
    assert_eq!(stage.capacity(), 0);
}
