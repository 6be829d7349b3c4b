//! `fairness`: two saturated channels with priorities 1 and 4 share the connection; the
//! receiver measures the byte ratio it sees.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crossbeam_channel::bounded;
use mconn::{ChannelDescriptor, ChannelId, MConnConfig};

use crate::mc;
use crate::report::{Out, Row, Stats};
use crate::util::{Checker, Pool, Res};
use crate::Opts;

const LOW: ChannelId = 0x01;
const HIGH: ChannelId = 0x02;
const SIZE: usize = 64 * 1024;
/// Deep enough (64 MiB of queued messages) that a producer descheduled for tens of
/// milliseconds on a busy machine does not let its channel run dry.
const QUEUE: usize = 1024;

pub fn fairness(o: &Opts, out: &Out) -> Res<()> {
    let target: u64 = if o.quick { 8 << 20 } else { 64 << 20 };
    out.header(
        "fairness",
        &[
            format!("channels {LOW:#04x} (priority 1) and {HIGH:#04x} (priority 4), each fed by its own thread calling send() in a loop with {} KiB messages (send_queue_capacity={QUEUE}), so both stay saturated; default MConnConfig", SIZE / 1024),
            format!("the receiver counts message bytes per channel from the second switch between channels (the scheduler balances cumulative bytes from zero, so the start is a transient) until at least {} MiB are counted; the window opens and closes at a switch from the priority-1 to the priority-4 channel, so it holds whole scheduling cycles; {} repetitions, median [min–max]", target >> 20, o.reps()),
            "byte_ratio = priority-4 bytes / priority-1 bytes (ideal 4.0); deviation_pct = (byte_ratio - 4) / 4 in %. No raw baseline".into(),
        ],
    );
    let (mut ratio, mut dev) = (Vec::new(), Vec::new());
    for rep in 1..=o.reps() {
        let [low, high] = fairness_once(target)?;
        let r = high as f64 / low as f64;
        eprintln!("  fairness rep {rep}/{}: ratio {r:.4}", o.reps());
        ratio.push(r);
        dev.push((r - 4.0) / 4.0 * 100.0);
    }
    out.rows(&[Row::new("fairness")
        .int("size", SIZE as u64)
        .int("threads", 2)
        .text("priorities", "1:4")
        .int("counted_mib", target >> 20)
        .stat("byte_ratio", Stats::of(&ratio), 4)
        .stat("deviation_pct", Stats::of(&dev), 2)]);
    Ok(())
}

/// What the receiver has seen.
struct Tally {
    last: Option<ChannelId>,
    switches: u32,
    counting: bool,
    /// Bytes counted per channel [LOW, HIGH].
    bytes: [u64; 2],
    target: u64,
    done: bool,
    /// The order of the first completions, for a diagnosis if the ratio is off.
    trace: String,
}

impl Tally {
    fn new(target: u64) -> Tally {
        Tally {
            last: None,
            switches: 0,
            counting: false,
            bytes: [0; 2],
            target,
            done: false,
            trace: String::new(),
        }
    }

    /// Counts one message; true when the window is complete. The window opens at a
    /// switch from LOW to HIGH once at least two switches have happened, and closes at
    /// such a switch once `target` bytes are counted: it holds whole scheduling cycles,
    /// so message granularity does not bias the ratio.
    fn add(&mut self, ch: ChannelId, len: usize) -> bool {
        if self.done {
            return false;
        }
        if self.trace.len() < 400 {
            self.trace.push(if ch == HIGH { 'H' } else { 'L' });
        }
        if self.last.is_some_and(|l| l != ch) {
            self.switches += 1;
            if ch == HIGH && self.switches >= 2 {
                if self.bytes[0] + self.bytes[1] >= self.target {
                    self.done = true;
                    return true;
                }
                self.counting = true;
            }
        }
        self.last = Some(ch);
        if self.counting {
            self.bytes[usize::from(ch == HIGH)] += len as u64;
        }
        false
    }
}

/// One run: returns the bytes counted on [LOW, HIGH].
fn fairness_once(target: u64) -> Res<[u64; 2]> {
    let cfg = MConnConfig::default();
    let chans = [
        ChannelDescriptor::new(LOW, 1).send_queue_capacity(QUEUE),
        ChannelDescriptor::new(HIGH, 4).send_queue_capacity(QUEUE),
    ];
    let pools = [Pool::new(0, SIZE), Pool::new(1, SIZE)];
    let (ta, tb) = mc::tcp_transports(&cfg)?;
    let mut tally = Tally::new(target);
    let mut check = Checker::new(2, &pools[0]);
    let (done_tx, done) = bounded(1);
    let rx = mc::start(tb, &chans, &cfg, move |ch, msg| {
        check.check(&msg);
        if tally.add(ch, msg.len()) {
            let _ = done_tx.send((tally.bytes, check.bad, std::mem::take(&mut tally.trace)));
        }
    })?;
    let tx = mc::start(ta, &chans, &cfg, |_, _| {})?;
    let stop = AtomicBool::new(false);
    let (bytes, bad, trace) = thread::scope(|s| {
        for (ch, pool) in [LOW, HIGH].into_iter().zip(&pools) {
            let (tx, stop) = (tx.clone(), &stop);
            s.spawn(move || {
                let mut i = 0u64;
                // Ends when told to, or when the connection stops under it (Closed).
                while !stop.load(Ordering::Relaxed) && tx.send(ch, pool.get(i).clone()).is_ok() {
                    i += 1;
                }
            });
        }
        let got = done.recv_timeout(Duration::from_secs(300));
        stop.store(true, Ordering::Relaxed);
        tx.stop();
        rx.stop();
        got
    })
    .map_err(|_| "fairness: the receiver never counted enough bytes")?;
    if bad > 0 {
        return Err(format!("fairness: {bad} messages failed the check").into());
    }
    let ratio = bytes[1] as f64 / bytes[0] as f64;
    if (ratio - 4.0).abs() > 0.4 {
        eprintln!("  fairness: ratio {ratio:.3}; first completions (H = priority 4, L = priority 1): {trace}");
    }
    Ok(bytes)
}
