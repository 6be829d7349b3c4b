//! Decodes arbitrary bytes as a packet stream with both decoders; they must agree, and
//! neither may panic or accept a packet over the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mconn::wire::{self, Packet};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the payload limit (0 = the default 1024) so small limits are
    // explored too.
    let (max_payload, data) = match data.split_first() {
        Some((&b, rest)) => (if b == 0 { 1024 } else { b as usize * 8 }, rest),
        None => (1024, data),
    };
    let max_total = wire::max_packet_total_size(max_payload);
    let mut rest = data;
    let mut reader = data;
    loop {
        let a = wire::decode_packet(rest, max_total);
        let b = Packet::decode(&mut reader, max_total);
        match (a, b) {
            (Ok(Some((pkt, used))), Ok(Some(owned))) => {
                assert_eq!(pkt.to_packet(), owned);
                if let Packet::Msg { payload, .. } = &owned {
                    assert!(payload.len() <= max_total);
                }
                let mut re = Vec::new();
                owned.encode(&mut re);
                // Re-encoding is minimal, so never longer than what was decoded.
                assert!(re.len() <= used);
                rest = &rest[used..];
            }
            // The slice decoder says "need more" where the reader hits the end.
            (Ok(None), Ok(None)) | (Ok(None), Err(_)) => break,
            (Err(e1), Err(e2)) => {
                assert_eq!(std::mem::discriminant(&e1), std::mem::discriminant(&e2));
                break;
            }
            (a, b) => panic!("decoders disagree: {a:?} vs {b:?}"),
        }
    }
});
