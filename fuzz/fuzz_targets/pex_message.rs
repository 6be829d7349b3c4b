//! Both PEX wires on arbitrary bytes (CometBFT's protobuf, below; then Go v0.12's):
//! `PexMessage::decode` never panics; never more than 250 addresses;
//! whatever decodes re-encodes to bytes that decode to the same message (what we send is
//! always what we read back); and a message that decodes from a prefix of the input
//! also decodes, identically, from the whole input (bytes after it are ignored, as Go
//! ignores them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mconn::fuzzing::{decode_cometbft_pex, encode_cometbft_pex};
use mconn::pex::{PexMessage, MAX_ADDRS};

fuzz_target!(|data: &[u8]| {
    cometbft(data);
    go_wire(data);
});

/// CometBFT's protobuf PEX: never a panic, never over 250 addresses, every address
/// with a node id; what decodes re-encodes to bytes that decode to the same message.
fn cometbft(data: &[u8]) {
    let Ok(msg) = decode_cometbft_pex(data) else {
        return;
    };
    if let PexMessage::Addrs(addrs) = &msg {
        assert!(addrs.len() <= MAX_ADDRS, "{} addresses", addrs.len());
        assert!(addrs.iter().all(|a| a.id().is_some()), "an address without id");
    }
    let again = decode_cometbft_pex(&encode_cometbft_pex(&msg)).expect("our own bytes");
    assert_eq!(again, msg, "round trip");
    if let (PexMessage::Addrs(a), PexMessage::Addrs(b)) = (&again, &msg) {
        assert!(a.iter().zip(b).all(|(x, y)| x.id() == y.id()), "ids kept");
    }
}

/// Go v0.12's go-wire PEX.
fn go_wire(data: &[u8]) {
    let Ok(msg) = PexMessage::decode(data) else {
        return;
    };
    if let PexMessage::Addrs(addrs) = &msg {
        assert!(addrs.len() <= MAX_ADDRS, "{} addresses", addrs.len());
    }
    let bytes = msg.encode();
    assert_eq!(PexMessage::decode(&bytes).ok().as_ref(), Some(&msg), "round trip");
    // Our encoding is a complete message: anything after it is ignored.
    let mut longer = bytes.clone();
    longer.extend_from_slice(data);
    assert_eq!(PexMessage::decode(&longer).ok().as_ref(), Some(&msg), "trailing bytes");
}
