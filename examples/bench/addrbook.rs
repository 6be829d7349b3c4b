//! `addrbook`: the address book under 100 000 offered addresses. No TCP baseline: the
//! figures are rates and memory, measured in this process.

use std::net::SocketAddr;
use std::time::Instant;

use mconn::pex::{AddrBook, NetAddress};
use stats_alloc::Region;

use crate::report::{Out, Row, Stats};
use crate::util::Res;
use crate::{Opts, GLOBAL};

/// Addresses offered, from this many sources (each its own /16).
const OFFERED: u32 = 100_000;
const SOURCES: u32 = 1000;

pub fn addrbook(o: &Opts, out: &Out) -> Res<()> {
    // This bench reads the allocation counts.
    let _counting = crate::Counting::start();
    let reps = o.reps();
    out.header(
        "addrbook",
        &[
            format!("a strict AddrBook is offered {OFFERED} routable addresses ({} per source, {SOURCES} sources in distinct /16 groups); it keeps what its buckets hold (at most 256 x 64 new + 64 x 64 old)", OFFERED / SOURCES),
            "then 100 000 pick(50) calls and 10 000 selection() calls; rates in operations per second, heap bytes held by the book (stats_alloc) per address kept; median [min-max] of the repetitions".to_string(),
        ],
    );
    let (mut add, mut pick, mut sel, mut kept, mut heap) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..reps {
        let region = Region::new(GLOBAL);
        let t = Instant::now();
        let mut book = AddrBook::new(true);
        for i in 0..OFFERED {
            let s = i % SOURCES;
            let src = v4(1 + (s >> 8) as u8, s as u8, 0, 1);
            let a = 11 + (i % 200) as u8;
            book.add(v4(a, (i / 200 % 256) as u8, (i / 51_200) as u8, 7), src);
        }
        add.push(OFFERED as f64 / t.elapsed().as_secs_f64());
        let stats = region.change();
        let held = stats
            .bytes_allocated
            .saturating_sub(stats.bytes_deallocated);
        kept.push(book.size() as f64);
        heap.push(held as f64 / book.size().max(1) as f64);
        let t = Instant::now();
        let mut found = 0u64;
        for _ in 0..100_000 {
            found += book.pick(50).is_some() as u64;
        }
        pick.push(100_000.0 / t.elapsed().as_secs_f64());
        assert_eq!(found, 100_000);
        let t = Instant::now();
        for _ in 0..10_000 {
            std::hint::black_box(book.selection());
        }
        sel.push(10_000.0 / t.elapsed().as_secs_f64());
    }
    out.rows(&[Row::new("addrbook")
        .int("offered", OFFERED as u64)
        .stat("kept", Stats::of(&kept), 0)
        .stat("add_per_s", Stats::of(&add), 0)
        .stat("pick_per_s", Stats::of(&pick), 0)
        .stat("selection_per_s", Stats::of(&sel), 0)
        .stat("heap_b_per_address", Stats::of(&heap), 0)]);
    Ok(())
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> NetAddress {
    NetAddress::from(SocketAddr::from(([a, b, c, d], 26656)))
}
