//! `NodeInfo::decode` on arbitrary bytes: never a panic; whatever decodes re-encodes to
//! at most the bytes it consumed and decodes again to the same value; a reader that hands
//! out one byte at a time sees exactly what a whole slice sees.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use mconn::NodeInfo;

/// A reader that returns at most one byte per call.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((&b, rest)), Some(out)) => {
                *out = b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let whole = NodeInfo::decode(&mut rest);
    let trickled = NodeInfo::decode(&mut Trickle(data));
    match (&whole, &trickled) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "{a} vs {b}"
        ),
        _ => panic!("slice and trickle disagree: {whole:?} vs {trickled:?}"),
    }
    let Ok(info) = whole else { return };
    let consumed = data.len() - rest.len();
    assert!(consumed <= NodeInfo::MAX_SIZE);
    let enc = info.encode();
    // go-wire accepts non-minimal varints; we always write minimal ones.
    assert!(enc.len() <= consumed, "{} > {consumed}", enc.len());
    if enc.len() == consumed {
        assert_eq!(
            &enc[..],
            &data[..consumed],
            "minimal input re-encodes exactly"
        );
    }
    let again = NodeInfo::decode(&mut &enc[..]).expect("re-encoding decodes");
    assert_eq!(again, info);
    let mut parts = Vec::new();
    info.write_parts(|p| -> Result<(), ()> {
        assert!(!p.is_empty(), "no empty write");
        parts.extend_from_slice(p);
        Ok(())
    })
    .expect("write_parts");
    assert_eq!(parts, enc);
});
