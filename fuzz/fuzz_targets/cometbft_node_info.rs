//! CometBFT's NodeInfo reader on arbitrary bytes: never a panic; the length prefix is
//! checked before the body is read (no body over the limit is ever allocated); whatever
//! it accepts has the key's id and passes Go's checks (a moniker, at most 16 channels).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mconn::fuzzing::{decode_node_info, read_delimited, MAX_NODE_INFO_SIZE};
use mconn::{NodeId, PeerId};

fuzz_target!(|data: &[u8]| {
    let key = PeerId([7; 32]);
    let mut reader = data;
    let Ok(body) = read_delimited(&mut reader, MAX_NODE_INFO_SIZE, "NodeInfo") else {
        return;
    };
    assert!(body.len() <= MAX_NODE_INFO_SIZE);
    // Its id must be the key's, which random bytes rarely are: also try the body with
    // the key's id appended (protobuf's last value wins), so accepted NodeInfos are
    // explored too.
    let mut with_id = body.clone();
    with_id.extend_from_slice(&[0x12, 40]);
    with_id.extend_from_slice(NodeId::of(&key).to_string().as_bytes());
    for body in [&body, &with_id] {
        if let Ok(info) = decode_node_info(body, &key) {
            assert_eq!(info.pub_key, key.0);
            assert!(info.channels.len() <= 16);
            assert!(!info.moniker.is_empty());
        }
    }
});
