//! `latency`: round trips of a small message echoed by the peer.

use crate::report::{percentile, ratios, Out, Row, Stats};
use crate::util::{paired, Pool, Res};
use crate::{mc, raw, Opts};

pub fn latency(o: &Opts, out: &Out) -> Res<()> {
    const SIZE: usize = 100;
    const WARMUP: usize = 200;
    let n = if o.quick { 1_000 } else { 10_000 };
    out.header(
        "latency",
        &[
            format!("round trip of a {SIZE} B message, {n} per repetition after {WARMUP} unrecorded, one at a time; p50 and p99 per repetition, then median [min–max] over {} repetitions, in microseconds", o.reps()),
            "mconn: the main thread calls send(); the peer's on_receive calls send() with the message it got (its recv thread writes the echo); our on_receive hands the checked reply to the main thread through a channel. Default MConnConfig".into(),
            "raw: TCP_NODELAY, the main thread writes and flushes; the peer's reader thread writes the echo; our reader thread hands the checked reply to the main thread through a channel (the same threads per side as mconn)".into(),
            "ratio = mconn / raw per repetition pair (lower is better here); ratio is for p50, ratio_p99 for p99".into(),
        ],
    );
    let pool = Pool::new(0, SIZE);
    let (mut r99, mut m99) = (Vec::new(), Vec::new());
    let (r, m) = paired(
        "latency p50 (us)",
        o.reps(),
        || Ok(p50_p99(raw::latency(&pool, n, WARMUP)?, &mut r99)),
        || Ok(p50_p99(mc::latency(&pool, n, WARMUP)?, &mut m99)),
    )?;
    out.rows(&[Row::new("latency")
        .int("size", SIZE as u64)
        .int("threads", 1)
        .stat("mconn_p50_us", Stats::of(&m), 1)
        .stat("raw_p50_us", Stats::of(&r), 1)
        .stat("ratio", Stats::of(&ratios(&m, &r)), 3)
        .stat("mconn_p99_us", Stats::of(&m99), 1)
        .stat("raw_p99_us", Stats::of(&r99), 1)
        .stat("ratio_p99", Stats::of(&ratios(&m99, &r99)), 3)]);
    Ok(())
}

/// The median of `rtts`; its 99th percentile goes to `p99s`.
fn p50_p99(mut rtts: Vec<f64>, p99s: &mut Vec<f64>) -> f64 {
    rtts.sort_by(f64::total_cmp);
    p99s.push(percentile(&rtts, 99.0));
    percentile(&rtts, 50.0)
}
