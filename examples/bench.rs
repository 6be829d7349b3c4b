//! Benchmarks of mconn against hand-written raw TCP, measured in the same run.
//!
//! ```text
//! cargo run --release --example bench                    # every bench, as a table
//! cargo run --release --example bench -- --json          # one JSON object per line
//! cargo run --release --example bench -- --quick         # fewer bytes and repetitions
//! cargo run --release --example bench -- --big           # scale also with 10 000 peers
//! cargo run --release --example bench -- --only latency  # one bench
//! ```
//!
//! Benches: throughput, message_rate, latency, fairness, scale, broadcast,
//! throughput_encrypted. Each prints how it measures before its figures. Every figure
//! that has a baseline is paired with one measured in the same run (raw TCP on loopback:
//! 4-byte length prefix, 64 KiB `BufWriter`, a reader thread), repetitions interleaved,
//! and its line carries `ratio` = mconn ÷ raw. Progress goes to stderr.
//!
//! The benches live in `examples/bench/`, one module each, with shared helpers for
//! statistics and output (`report`), the raw baseline (`raw`), the mconn side (`mc`) and
//! a hand-written protocol peer (`peer`).
//!
//! The scale bench runs each measurement in child processes of this binary (the
//! `--scale-server` and `--scale-driver` modes), so memory and thread counts belong to
//! the Switch alone.

#[path = "bench/addrbook.rs"]
mod addrbook;
#[path = "bench/broadcast.rs"]
mod broadcast;
#[path = "bench/fairness.rs"]
mod fairness;
#[path = "bench/latency.rs"]
mod latency;
#[path = "bench/mc.rs"]
mod mc;
#[path = "bench/peer.rs"]
mod peer;
#[path = "bench/raw.rs"]
mod raw;
#[path = "bench/report.rs"]
mod report;
#[path = "bench/scale.rs"]
mod scale;
#[path = "bench/stream.rs"]
mod stream;
#[path = "bench/util.rs"]
mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Instant;

use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

use report::Out;
use util::Res;

/// The allocation counts that the broadcast, scale and address-book benches read.
pub static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Whether allocations are being counted (see [`Counting`]).
static COUNTING: AtomicBool = AtomicBool::new(false);

/// The system allocator, counting into [`GLOBAL`] only while a bench that reads the
/// counts runs. Counting costs atomic additions on shared counters per allocation and
/// per free; the stream benches must not pay them, since mconn allocates once per
/// received message and raw TCP's reader never does, so the counts would weigh on one
/// side of every ratio only.
struct Switchable;

// SAFETY: every call goes to the system allocator, directly or through stats_alloc's
// counting wrapper around the same allocator, so memory from either path may be freed
// by the other; the layouts are passed on unchanged.
unsafe impl GlobalAlloc for Switchable {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            GLOBAL.alloc(layout)
        } else {
            System.alloc(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Relaxed) {
            GLOBAL.dealloc(ptr, layout)
        } else {
            System.dealloc(ptr, layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            GLOBAL.alloc_zeroed(layout)
        } else {
            System.alloc_zeroed(layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            GLOBAL.realloc(ptr, layout, new_size)
        } else {
            System.realloc(ptr, layout, new_size)
        }
    }
}

#[global_allocator]
static ALLOCATOR: Switchable = Switchable;

/// Counts allocations into [`GLOBAL`] until dropped.
pub struct Counting;

impl Counting {
    pub fn start() -> Counting {
        COUNTING.store(true, Relaxed);
        Counting
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        COUNTING.store(false, Relaxed);
    }
}

/// Command-line options.
pub struct Opts {
    pub quick: bool,
    pub big: bool,
    pub json: bool,
    pub only: Option<String>,
}

impl Opts {
    /// Repetitions of each measurement.
    pub fn reps(&self) -> usize {
        if self.quick {
            2
        } else {
            5
        }
    }
}

type Bench = fn(&Opts, &Out) -> Res<()>;

const BENCHES: &[(&str, Bench)] = &[
    ("throughput", stream::throughput),
    ("message_rate", stream::message_rate),
    ("latency", latency::latency),
    ("fairness", fairness::fairness),
    ("scale", scale::scale),
    ("broadcast", broadcast::broadcast),
    ("throughput_encrypted", stream::throughput_encrypted),
    ("addrbook", addrbook::addrbook),
];

const USAGE: &str =
    "usage: bench [--json] [--quick] [--big] [--only NAME]\n\nbenches: throughput, message_rate, latency, fairness, scale, broadcast, throughput_encrypted, addrbook";

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        quick: false,
        big: false,
        json: false,
        only: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--big" => o.big = true,
            "--json" => o.json = true,
            "--only" => {
                let name = it.next().ok_or("--only needs a bench name")?;
                if !BENCHES.iter().any(|(n, _)| n == name) {
                    return Err(format!("no bench named {name:?}"));
                }
                o.only = Some(name.clone());
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The scale bench's child processes.
    match args.first().map(String::as_str) {
        Some("--scale-server") => return scale::server_main(&args[1..]),
        Some("--scale-driver") => return scale::driver_main(&args[1..]),
        _ => {}
    }
    let o = match parse(&args) {
        Ok(o) => o,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("bench: {why}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let out = Out { json: o.json };
    for (k, v) in util::machine() {
        out.info(k, &v);
    }
    out.info(
        "mode",
        &format!(
            "{}{}: {} repetitions per figure unless a bench's header says otherwise",
            if o.quick { "quick" } else { "full" },
            if o.big { ", big" } else { "" },
            o.reps()
        ),
    );
    let start = Instant::now();
    let mut failed = Vec::new();
    for (name, bench) in BENCHES {
        if o.only.as_deref().is_some_and(|only| only != *name) {
            continue;
        }
        eprintln!("[{:>6.1}s] {name}", start.elapsed().as_secs_f64());
        if let Err(e) = bench(&o, &out) {
            eprintln!("bench {name} failed: {e}");
            out.info("failed", &format!("{name}: {e}"));
            failed.push(*name);
        }
    }
    out.info(
        "elapsed",
        &format!("{:.1} s", start.elapsed().as_secs_f64()),
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}
