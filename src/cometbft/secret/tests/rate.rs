//! How fast one 1028-byte frame is sealed and opened: a measurement, not a check. Run
//! it in release: `cargo test --release --features cometbft --lib seal_and_open_rate --
//! --ignored --nocapture`.

use std::hint::black_box;
use std::time::Instant;

use crate::cometbft::secret::frame::{ChaChaCipher, SEALED_FRAME_SIZE};
use crate::cometbft::secret::nonce::Nonce;
use crate::sealed_stream::frame::{open, seal};

#[test]
#[ignore = "a measurement: run in release with --ignored --nocapture"]
fn seal_and_open_rate() {
    let cipher = ChaChaCipher::new(&[7u8; 32]);
    let chunk = [0x5au8; 1024];
    let mut frame = [0u8; SEALED_FRAME_SIZE];
    let frames = 200_000u64;
    let start = Instant::now();
    for i in 0..frames {
        let nonce = Nonce::new(i);
        seal(&cipher, &nonce, black_box(&chunk), &mut frame).unwrap();
        let data = open(&cipher, &nonce, black_box(&mut frame)).unwrap();
        assert_eq!(data.len(), 1024);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "seal+open of one 1028-byte ChaCha20-Poly1305 frame: {:.2} µs, {:.0} frames/s, {:.1} MB/s of data",
        secs * 1e6 / frames as f64,
        frames as f64 / secs,
        frames as f64 * 1024.0 / secs / 1e6
    );
}
