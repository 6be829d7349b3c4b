//! Decoding never allocates more than the packet limit, whatever length a peer claims.
//! Its own test binary: the counting allocator is global.

use std::alloc::System;

use mconn::wire::{self, Packet};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The most bytes one packet decode of `input` allocated, measured until it is within
/// `bound` (at most three times). The counters are global, so another thread (libtest's
/// own, right as the test starts) can add its allocations to one measurement; decoding
/// is deterministic, so its own allocations show every time and a real excess still
/// fails.
fn most_allocated(input: &[u8], max_total: usize, bound: usize) -> usize {
    let mut most = usize::MAX;
    for _ in 0..3 {
        most = most.min(allocated_while_decoding(input, max_total).0);
        if most <= bound {
            break;
        }
    }
    most
}

/// Bytes allocated while decoding a whole stream from `input`.
fn allocated_while_decoding(input: &[u8], max_total: usize) -> (usize, usize) {
    let region = Region::new(GLOBAL);
    let mut r = input;
    let mut most = 0usize;
    loop {
        let before = region.change().bytes_allocated;
        let res = Packet::decode(&mut r, max_total);
        let this = region.change().bytes_allocated - before;
        most = most.max(this);
        match res {
            Ok(Some(p)) => drop(p),
            _ => break,
        }
    }
    (most, region.change().bytes_allocated)
}

#[test]
fn decoding_allocates_at_most_the_limit() {
    let max_total = wire::max_packet_total_size(1024);
    // Hostile headers first: claimed lengths far over the limit allocate nothing.
    for claim in [
        &[0x03, 0x01, 0x00, 0x04, 0x7F, 0xFF, 0xFF, 0xFF][..],
        &[
            0x03, 0x01, 0x00, 0x08, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ],
        &[0x03, 0x01, 0x00, 0x02, 0x04, 0x06],
    ] {
        let most = most_allocated(claim, max_total, 0);
        assert_eq!(most, 0, "claim {claim:02x?} allocated {most} bytes");
    }
    // Then arbitrary streams: no single packet decode allocates more than the limit.
    let mut runner = TestRunner::new(Config {
        cases: 3000,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..8192), |bytes| {
            let most = most_allocated(&bytes, max_total, max_total);
            prop_assert!(most <= max_total, "a decode allocated {} bytes", most);
            Ok(())
        })
        .unwrap();
}
