//! The batch's tests: whatever is held by reference, and however a writer splits its
//! writes, the writer sees exactly the stream of bytes in order.
use proptest::prelude::*;

use super::*;

/// Takes at most `cap` bytes per write, across slices, as a socket may.
struct Capped {
    out: Vec<u8>,
    cap: usize,
    calls: usize,
    slices_seen: usize,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.calls += 1;
        self.slices_seen = self.slices_seen.max(bufs.len());
        let mut left = self.cap;
        for b in bufs {
            let n = b.len().min(left);
            self.out.extend_from_slice(&b[..n]);
            left -= n;
            if left == 0 {
                break;
            }
        }
        Ok(self.cap - left)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A batch built from `parts` (inline bytes, or by reference), and the stream it holds.
fn build(parts: &[(bool, Vec<u8>)]) -> (Batch, Vec<u8>) {
    let mut b = Batch::default();
    let mut want = Vec::new();
    for (by_ref, bytes) in parts {
        want.extend_from_slice(bytes);
        if *by_ref {
            b.push_ref(&Bytes::from(bytes.clone()), 0..bytes.len());
        } else {
            b.buf().extend_from_slice(bytes);
        }
    }
    (b, want)
}

fn capped(cap: usize) -> Capped {
    Capped {
        out: Vec::new(),
        cap,
        calls: 0,
        slices_seen: 0,
    }
}

proptest! {
    #[test]
    fn the_writer_sees_the_stream_in_order(
        parts in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..40)), 0..30),
        cap in 1usize..100,
        step in 1usize..120,
    ) {
        let (mut b, want) = build(&parts);
        prop_assert_eq!(b.len(), want.len());
        let mut w = capped(cap);
        // Writes stop at successive limits, as a rate-limited round does.
        let mut stop = 0;
        while b.written() < b.len() {
            stop = (stop + step).min(b.len());
            while b.written() < stop {
                let n = b.write_once(&mut w, stop).unwrap();
                prop_assert!(n > 0);
                prop_assert!(b.written() <= stop);
            }
            prop_assert_eq!(&w.out[..], &want[..b.written()]);
        }
        prop_assert_eq!(b.unwritten(), 0);
        prop_assert_eq!(w.out, want);
    }
}

#[test]
fn with_nothing_by_reference_a_write_is_one_plain_slice() {
    let (mut b, want) = build(&[(false, vec![1; 10]), (false, vec![2; 5])]);
    let mut w = capped(usize::MAX / 2);
    assert_eq!(b.write_once(&mut w, usize::MAX).unwrap(), 15);
    assert_eq!((w.out, w.calls, w.slices_seen), (want, 1, 1));
}

#[test]
fn a_vectored_write_takes_at_most_iov_max_slices() {
    // 3000 references with a header before each: 6000 slices in all.
    let parts: Vec<_> = (0..3000u32)
        .flat_map(|i| [(false, vec![i as u8; 3]), (true, vec![(i >> 8) as u8; 7])])
        .collect();
    let (mut b, want) = build(&parts);
    let mut w = capped(usize::MAX / 2);
    while b.unwritten() > 0 {
        b.write_once(&mut w, usize::MAX).unwrap();
    }
    assert_eq!(w.out, want);
    assert_eq!(w.slices_seen, MAX_SLICES);
    assert_eq!(w.calls, 6000usize.div_ceil(MAX_SLICES));
}

#[test]
fn clear_keeps_the_buffer_and_release_gives_it_back() {
    let (mut b, _) = build(&[(false, vec![0; 100]), (true, vec![1; 100])]);
    let mut w = capped(50);
    b.write_once(&mut w, usize::MAX).unwrap();
    b.clear();
    assert_eq!((b.len(), b.written(), b.unwritten()), (0, 0, 0));
    assert!(b.capacity() >= 100);
    b.buf().push(7);
    b.release();
    assert_eq!((b.len(), b.capacity()), (0, 0));
}

#[test]
fn a_messages_chunks_share_one_reference_and_write_in_place() {
    let one = Bytes::from((0..=255u8).collect::<Vec<u8>>());
    let two = Bytes::from(vec![9u8; 10]);
    let mut b = Batch::default();
    let mut want = Vec::new();
    for (msg, range) in [
        (&one, 0..100),
        (&one, 100..200),
        (&two, 0..10),
        (&one, 200..256),
    ] {
        b.buf().extend_from_slice(b"hd");
        want.extend_from_slice(b"hd");
        b.push_ref(msg, range.clone());
        want.extend_from_slice(&msg[range]);
    }
    // `one`'s first two chunks follow each other: one reference; then `two`, then `one`
    // again (another message came between).
    assert_eq!(b.owners.len(), 3);
    let mut w = capped(7);
    while b.unwritten() > 0 {
        b.write_once(&mut w, usize::MAX).unwrap();
    }
    assert_eq!(w.out, want);
    // A slice of the same memory with another length is another owner.
    let mut c = Batch::default();
    c.push_ref(&one, 0..10);
    c.push_ref(&one.slice(0..10), 0..10);
    assert_eq!(c.owners.len(), 2);
    b.clear();
    assert!(b.owners.is_empty(), "clear lets go of the messages");
}

#[test]
#[should_panic]
fn a_range_outside_its_message_panics_when_pushed_not_when_written() {
    Batch::default().push_ref(&Bytes::from_static(b"abc"), 1..4);
}

// ---------------------------------------------------------------------------------------
// Hostile review (cb03726): partial writes that end exactly at a slice boundary, inside
// a header, at a `stop_at` limit on a boundary, with more than `MAX_SLICES` pending.

/// Takes whole slices only: the first `k` of each call (cycled from `ks`), plus `extra`
/// bytes of the next one, as a socket whose buffer fills exactly at a boundary does.
struct Boundary {
    out: Vec<u8>,
    ks: Vec<(usize, usize)>,
    call: usize,
    max_slices: usize,
}

impl Write for Boundary {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.max_slices = self.max_slices.max(bufs.len());
        assert!(
            bufs.len() <= MAX_SLICES,
            "{} slices in one call",
            bufs.len()
        );
        assert!(
            bufs.iter().all(|b| !b.is_empty()),
            "an empty slice was handed over"
        );
        let (k, extra) = self.ks[self.call % self.ks.len()];
        self.call += 1;
        let k = k.max(1);
        let mut n = 0;
        for (i, b) in bufs.iter().enumerate() {
            if i < k {
                self.out.extend_from_slice(b);
                n += b.len();
            } else {
                let e = extra.min(b.len());
                self.out.extend_from_slice(&b[..e]);
                n += e;
                break;
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A batch like the send thread's: 3-to-5-byte headers each followed by a reference
/// (`refs` of them, of `ref_len(i)` bytes), some inline packets, pings between.
fn packets_batch(refs: usize, ref_len: impl Fn(usize) -> usize) -> (Batch, Vec<u8>) {
    let mut parts = Vec::new();
    for i in 0..refs {
        let len = ref_len(i);
        let mut h = vec![0x03, 1, (i % 2) as u8];
        h.extend(std::iter::repeat_n(0x80 | (i as u8), i % 3));
        parts.push((false, h));
        parts.push((true, (0..len).map(|j| (i * 131 + j) as u8).collect()));
        if i % 7 == 3 {
            // A ping and an inline packet: buffer bytes between two references.
            parts.push((false, vec![0x01, 0x03, 2, 1, 1, 0xAB]));
        }
    }
    build(&parts)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn hostile_writes_ending_on_slice_boundaries_with_thousands_of_slices(
        refs in prop_oneof![1..10usize, 500..1500usize],
        ref_len in prop_oneof![Just(1usize), 1..5usize, Just(1024)],
        ks in prop::collection::vec((0..2000usize, prop_oneof![Just(0usize), 1..4usize]), 1..6),
        stops in prop::collection::vec(prop_oneof![1..10usize, 10..100_000usize], 1..10),
    ) {
        let (mut b, want) = packets_batch(refs, |i| if ref_len == 1024 { 1024 } else { ref_len + i % 3 });
        let mut w = Boundary { out: Vec::new(), ks, call: 0, max_slices: 0 };
        let mut stop = 0;
        let mut round = 0;
        while b.written() < b.len() {
            stop = (stop + stops[round % stops.len()]).min(b.len());
            round += 1;
            while b.written() < stop {
                let before = b.written();
                let n = b.write_once(&mut w, stop).unwrap();
                prop_assert!(n > 0, "a write took nothing at {} of {}", before, b.len());
                prop_assert_eq!(b.written(), before + n);
                prop_assert!(b.written() <= stop, "wrote past stop_at {}", stop);
                prop_assert!(w.out.len() == b.written() && w.out[before..] == want[before..b.written()], "the stream differs in {}..{}", before, b.written());
            }
        }
        prop_assert_eq!(b.unwritten(), 0);
        prop_assert!(w.out == want);
        prop_assert!(w.max_slices <= MAX_SLICES);
    }
}

#[test]
fn hostile_every_cut_of_a_small_batch() {
    // Every pair of cuts (first write ends at `a`, stop_at at `s`) of a batch with
    // back-to-back and empty references, a reference first and one last.
    let parts: Vec<(bool, Vec<u8>)> = vec![
        (true, vec![1, 2, 3]),
        (false, vec![4, 5]),
        (true, vec![]),
        (true, vec![6]),
        (true, vec![7, 8]),
        (false, vec![9]),
        (true, vec![10, 11, 12, 13]),
        (false, vec![]),
        (true, vec![14]),
    ];
    let (_, want) = build(&parts);
    for s in 0..=want.len() {
        for a in 0..=s {
            let (mut b, _) = build(&parts);
            let mut w = capped(a.max(1));
            if a > 0 {
                assert_eq!(b.write_once(&mut w, s).unwrap(), a.min(s));
            }
            // The rest up to s, a byte at a time, then to the end in one write.
            w.cap = 1;
            while b.written() < s {
                b.write_once(&mut w, s).unwrap();
            }
            assert_eq!(&w.out[..], &want[..s], "cut {a} stop {s}");
            w.cap = usize::MAX / 2;
            while b.unwritten() > 0 {
                b.write_once(&mut w, usize::MAX).unwrap();
            }
            assert_eq!(w.out, want, "cut {a} stop {s}");
        }
    }
}
