//! Hostile review of the by-reference batch (cb03726): the stream a writer sees must be
//! the same, byte for byte, whether large payloads are copied or held by reference,
//! whatever mix of fills, pings, pongs, staged bytes, rate-limited rounds, stalls and
//! trims comes in between, and whether the writer takes several slices per call (as
//! `writev`) or only the first one (std's default `write_vectored`).

use proptest::prelude::*;

use super::*;

/// A writer whose calls take at most the next cap of a shared script (cycled), across
/// slices (`across`) or, as std's default `write_vectored`, the first non-empty slice
/// only; stalls while `stall` is set.
#[derive(Clone)]
struct Scripted {
    out: Arc<Mutex<Vec<u8>>>,
    caps: Arc<Vec<usize>>,
    call: Arc<Mutex<usize>>,
    stall: Arc<Mutex<bool>>,
    across: bool,
}

impl Scripted {
    fn new(caps: Vec<usize>, across: bool) -> Self {
        Scripted {
            out: Arc::default(),
            caps: Arc::new(caps),
            call: Arc::default(),
            stall: Arc::default(),
            across,
        }
    }
    fn cap(&self) -> usize {
        let mut c = self.call.lock().unwrap();
        let cap = self.caps[*c % self.caps.len()];
        *c += 1;
        cap
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if *self.stall.lock().unwrap() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.cap().min(buf.len());
        self.out.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        if !self.across {
            // std's default: the first non-empty slice, through `write`.
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
            return self.write(first);
        }
        if *self.stall.lock().unwrap() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let mut left = self.cap();
        let mut out = self.out.lock().unwrap();
        let mut n = 0;
        for b in bufs {
            let k = b.len().min(left);
            out.extend_from_slice(&b[..k]);
            left -= k;
            n += k;
            if left == 0 {
                break;
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum Op {
    Send { ch: usize, size: usize, kind: u8 },
    Fill,
    Ping,
    Pong,
    Stage { ch: usize, len: usize },
    Write { limit: usize, stall: bool },
    Trim,
}

const SIZES: &[usize] = &[
    0,
    1,
    1023,
    1024,
    1025,
    BY_REF_MIN - 1,
    BY_REF_MIN,
    BY_REF_MIN + 1,
    17 * 1024 - 1,
    17 * 1024,
    17 * 1024 + 1,
    3 * BY_REF_MIN + 5,
    64 * 1024 + 3,
    200_000,
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..SIZES.len(), 0..3u8)
            .prop_map(|(ch, i, kind)| Op::Send { ch, size: SIZES[i], kind }),
        3 => Just(Op::Fill),
        1 => Just(Op::Ping),
        1 => Just(Op::Pong),
        1 => (0..3usize, 0..50usize).prop_map(|(ch, len)| Op::Stage { ch, len }),
        4 => (prop_oneof![1..20usize, 20..5000usize, Just(usize::MAX)], any::<bool>())
            .prop_map(|(limit, stall)| Op::Write { limit, stall: stall && limit % 5 == 0 }),
        1 => Just(Op::Trim),
    ]
}

/// A static buffer to make `Bytes::from_static` messages from.
fn static_pool() -> &'static [u8] {
    static POOL: std::sync::OnceLock<&'static [u8]> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let v: Vec<u8> = (0..300_000u32).map(|i| (i * 31 + i / 251) as u8).collect();
        Box::leak(v.into_boxed_slice())
    })
}

/// Message `seq` of `size` bytes: from a Vec, a static, or a slice of a larger Bytes.
fn message(seq: u32, size: usize, kind: u8) -> Bytes {
    let fill = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|i| (i as u32).wrapping_mul(2654435761).wrapping_add(seq) as u8 ^ (i >> 8) as u8)
            .collect()
    };
    match kind {
        0 => Bytes::from(fill(size)),
        1 => {
            let off = seq as usize % 1000;
            Bytes::from_static(&static_pool()[off..off + size])
        }
        _ => {
            let parent = Bytes::from(fill(size + 777));
            parent.slice(333..333 + size)
        }
    }
}

/// Runs `ops` on an outbox (by reference or not) and returns what its writer got, the
/// bytes `on_written` reported, and each round's result.
fn run_ops(
    ops: &[Op],
    vectored: bool,
    writer: Scripted,
    max_payload: usize,
    limit: usize,
    now: Instant,
) -> (Vec<u8>, usize, Vec<String>, Vec<Vec<Bytes>>) {
    let mut txs = Vec::new();
    let mut chans = Vec::new();
    for (i, p) in [1u32, 3, 7].into_iter().enumerate() {
        let (tx, rx) = bounded(1000);
        txs.push(tx);
        chans.push(SendChannel::new(i as u8, p, rx, Arc::default()));
    }
    let mut ob = Outbox::new(
        OutboxParts {
            channels: chans,
            writer: Box::new(writer.clone()),
            codec: Codec::default(),
            max_payload,
            batch: limit,
            vectored,
        },
        now,
    );
    let mut stage = Stage::new(1 << 20);
    let mut staged_ch: Option<usize> = None;
    let mut sent: Vec<Vec<Bytes>> = vec![Vec::new(); 3];
    let mut staged: Vec<Vec<Bytes>> = vec![Vec::new(); 3];
    let mut kinds: Vec<Vec<u8>> = vec![Vec::new(); 3];
    let mut counted = 0usize;
    let mut results = Vec::new();
    let mut seq = 0u32;
    for op in ops {
        match *op {
            Op::Send { ch, size, kind } => {
                let m = message(seq, size, kind);
                seq += 1;
                sent[ch].push(m.clone());
                kinds[ch].push(kind);
                txs[ch].send(m).unwrap();
            }
            Op::Fill => {
                // Staged bytes go first, as in the send loop.
                if ob.absorb(&mut stage) {
                    staged_ch = None;
                }
                ob.fill(now);
            }
            Op::Ping => ob.push_ping(),
            Op::Pong => ob.push_pong(),
            Op::Stage { ch, len } => {
                if staged_ch.is_none_or(|c| c == ch) && sent[ch].is_empty() && len > 0 {
                    // Only on a channel with nothing queued, so its order is known.
                    // A staged message is one packet (`stage.rs` takes only such).
                    let m = message(seq, len.min(max_payload), 0);
                    seq += 1;
                    stage.push(ch, ch as u8, &m, &Codec::default());
                    staged_ch = Some(ch);
                    staged[ch].push(m);
                }
            }
            Op::Write { limit, stall } => {
                *writer.stall.lock().unwrap() = stall;
                let r = ob.write_some(limit, None, |n| counted += n);
                *writer.stall.lock().unwrap() = false;
                results.push(format!("{r:?}"));
            }
            Op::Trim => ob.trim(),
        }
    }
    // Drain everything.
    for _ in 0..100_000 {
        ob.absorb(&mut stage);
        ob.fill(now);
        ob.write_some(usize::MAX, None, |n| counted += n).unwrap();
        if ob.is_idle() && stage.is_empty() {
            break;
        }
    }
    assert!(ob.is_idle());
    ob.trim();
    // Everything is written: the outbox holds no reference to any message (`sent`
    // holds one of each; a static one is never unique, an empty one may be static).
    for (c, msgs) in sent.iter().enumerate() {
        for (i, m) in msgs.iter().enumerate() {
            if kinds[c][i] != 1 && !m.is_empty() {
                assert!(
                    m.is_unique(),
                    "channel {c}: message {i} ({} bytes, kind {}) still referenced after everything was written",
                    m.len(),
                    kinds[c][i]
                );
            }
        }
    }
    let out = writer.out.lock().unwrap().clone();
    // Staged messages came before any queued one on their channel.
    for (c, m) in sent.into_iter().enumerate() {
        staged[c].extend(m);
    }
    (out, counted, results, staged)
}

/// Every message of `sent` comes out of `wire`, in order per channel, byte-exact, once.
fn check_messages(wire: &[u8], sent: &[Vec<Bytes>], max_payload: usize) {
    let mut rest = wire;
    let mut got: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 3];
    let mut partial: Vec<Vec<u8>> = vec![Vec::new(); 3];
    while let Some((p, used)) = decode_packet(rest, max_payload + 10).unwrap() {
        if let PacketRef::Msg {
            channel,
            eof,
            payload,
        } = p
        {
            let c = channel as usize;
            assert!(payload.len() <= max_payload);
            partial[c].extend_from_slice(payload);
            if eof {
                got[c].push(std::mem::take(&mut partial[c]));
            }
        }
        rest = &rest[used..];
    }
    assert!(rest.is_empty(), "a torn packet at the end");
    for c in 0..3 {
        assert!(
            partial[c].is_empty(),
            "channel {c}: a message without its end"
        );
        let want: Vec<&[u8]> = sent[c].iter().map(|b| &b[..]).collect();
        let got: Vec<&[u8]> = got[c].iter().map(|b| &b[..]).collect();
        assert_eq!(got.len(), want.len(), "channel {c}: message count");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                g == w,
                "channel {c}: message {i} ({} bytes) differs ({} bytes came)",
                w.len(),
                g.len()
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn hostile_by_reference_and_copied_batches_write_the_same_stream(
        ops in prop::collection::vec(op(), 1..60),
        caps in prop::collection::vec(prop_oneof![1..8usize, 8..3000usize, 3000..100_000usize], 1..8),
        max_payload in prop_oneof![Just(13usize), Just(1000), Just(1024), Just(4096), Just(70_000)],
        limit in prop_oneof![Just(1usize), Just(100), Just(BY_REF_MIN), Just(1 << 20)],
        across in any::<bool>(),
    ) {
        let now = Instant::now();
        let (copied, n_copied, r_copied, sent) =
            run_ops(&ops, false, Scripted::new(caps.clone(), true), max_payload, limit, now);
        let (by_ref, n_by_ref, r_by_ref, _) =
            run_ops(&ops, true, Scripted::new(caps, across), max_payload, limit, now);
        prop_assert_eq!(n_copied, copied.len());
        prop_assert_eq!(n_by_ref, by_ref.len());
        prop_assert!(copied == by_ref, "the streams differ ({} vs {} bytes)", copied.len(), by_ref.len());
        if across {
            prop_assert_eq!(r_copied, r_by_ref);
        }
        check_messages(&by_ref, &sent, max_payload);
    }
}
