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
            b.push_ref(Bytes::from(bytes.clone()));
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
