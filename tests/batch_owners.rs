//! The send batch holds each large message once and its chunks as ranges of it
//! (`src/conn/batch.rs`, f068de1), reusing the last message it holds when the next has
//! the same pointer and length. These tests send messages built to confuse that
//! shortcut over a plain TCP socket (where chunks go by reference): the same `Bytes`
//! again and again, on two channels at once; views of one buffer that start at the same
//! byte with other lengths, or at other bytes with the same length; equal contents in
//! different buffers. Each message must arrive once, intact and in order per channel.

mod support;

use std::thread;
use std::time::Duration;

use bytes::Bytes;
use mconn::{ChannelDescriptor, MConnConfig};
use support::*;

const LIMIT: Duration = Duration::from_secs(240);

/// Larger than the by-reference threshold (16 KiB), and not a multiple of a packet.
const BIG: usize = 40 * 1024 + 17;

/// The messages one channel sends, in order: views of `base` chosen so that consecutive
/// ones often share a pointer or a length (but not both unless they are the same view).
fn views(base: &Bytes, salt: usize) -> Vec<Bytes> {
    let n = base.len();
    let mut out = Vec::new();
    // The whole, a shorter view from the same start, a half from the same start and then
    // the whole again (a longer view after a shorter one), a view of the first shorter
    // one's length from another start, the same bytes in other memory, the other half.
    const ORDER: [usize; 7] = [0, 1, 3, 0, 2, 4, 5];
    for i in 0..70 {
        let v = match ORDER[(i + salt) % ORDER.len()] {
            0 => base.clone(),
            1 => base.slice(0..n - 1),
            2 => base.slice(1..n),
            3 => base.slice(0..n / 2),
            4 => Bytes::from(base[..n].to_vec()),
            _ => base.slice(n / 2..n),
        };
        out.push(v);
    }
    out
}

#[test]
fn views_of_one_buffer_sent_over_and_over_on_two_channels_arrive_intact_in_order() {
    let _w = watchdog(
        "views_of_one_buffer_sent_over_and_over_on_two_channels_arrive_intact_in_order",
        LIMIT,
    );
    let chans = vec![
        ChannelDescriptor::new(0x01, 1).send_queue_capacity(2),
        ChannelDescriptor::new(0x02, 3).send_queue_capacity(2),
    ];
    // Small batches, so messages straddle batches and a batch holds a few of them.
    for batch in [64 * 1024, 512 * 1024] {
        let cfg = MConnConfig::default().send_buffer_size(batch);
        let (a, b) = conn_pair(chans.clone(), cfg);
        // Both channels send views of the same buffer.
        let base = Bytes::from(pattern(7, BIG));
        let want: Vec<Vec<Bytes>> = vec![views(&base, 0), views(&base, 3)];
        let senders: Vec<_> = [0x01u8, 0x02]
            .into_iter()
            .zip(want.clone())
            .map(|(ch, msgs)| {
                let conn = a.conn.clone();
                thread::spawn(move || {
                    for m in msgs {
                        conn.send(ch, m).expect("send");
                    }
                })
            })
            .collect();
        let mut next = [0usize; 2];
        while next.iter().sum::<usize>() < want[0].len() + want[1].len() {
            let (ch, got) = b.received.recv_timeout(LIMIT).expect("a message");
            let k = usize::from(ch - 1);
            let i = next[k];
            assert!(i < want[k].len(), "channel {ch}: more messages than sent");
            assert!(
                got == want[k][i],
                "channel {ch}, message {i} ({} bytes, want {}): wrong bytes",
                got.len(),
                want[k][i].len()
            );
            next[k] += 1;
        }
        for s in senders {
            s.join().expect("sender");
        }
        assert!(
            b.received.recv_timeout(Duration::from_millis(200)).is_err(),
            "a message arrived twice"
        );
        assert!(a.errors.try_recv().is_err() && b.errors.try_recv().is_err());
    }
}
