//! `PexMessage::decode` on arbitrary bytes: never a panic; never more than 250 addresses;
//! whatever decodes re-encodes to bytes that decode to the same message (what we send is
//! always what we read back); and a message that decodes from a prefix of the input
//! also decodes, identically, from the whole input (bytes after it are ignored, as Go
//! ignores them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mconn::pex::{PexMessage, MAX_ADDRS};

fuzz_target!(|data: &[u8]| {
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
});
