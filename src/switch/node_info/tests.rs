//! NodeInfo's go-wire form, limits and compatibility rules.

use super::*;

fn info() -> NodeInfo {
    NodeInfo {
        pub_key: [7; 32],
        moniker: "alice".into(),
        network: "testnet".into(),
        remote_addr: String::new(),
        listen_addr: "127.0.0.1:26656".into(),
        version: "0.12.1".into(),
        other: vec!["a".into(), String::new()],
        ..NodeInfo::default()
    }
}

#[test]
fn round_trip_and_parts_join_to_the_encoding() {
    let n = info();
    let enc = n.encode();
    assert_eq!(NodeInfo::decode(&mut &enc[..]).unwrap(), n);
    let mut parts = Vec::new();
    n.write_parts(|p| -> Result<(), ()> {
        parts.push(p.to_vec());
        Ok(())
    })
    .unwrap();
    assert_eq!(parts.concat(), enc);
    assert!(parts.iter().all(|p| !p.is_empty()), "no empty writes");
}

#[test]
fn compatibility_rules() {
    let a = info();
    let mut b = info();
    assert!(a.compatible_with(&b).is_ok());
    b.version = "0.12.7".into();
    assert!(a.compatible_with(&b).is_ok(), "patch may differ");
    b.version = "0.13.1".into();
    assert!(a.compatible_with(&b).unwrap_err().contains("minor"));
    b.version = "1.12.1".into();
    assert!(a.compatible_with(&b).unwrap_err().contains("major"));
    b.version = "0.12".into();
    assert!(a
        .compatible_with(&b)
        .unwrap_err()
        .contains("invalid version"));
    b = info();
    b.network = "other".into();
    assert!(a.compatible_with(&b).unwrap_err().contains("network"));
}

#[test]
fn hostile_encodings_are_clear_errors() {
    // A moniker claiming 1 MB.
    let mut bad = vec![0x01];
    bad.extend_from_slice(&[0u8; 32]);
    bad.extend_from_slice(&[0x03, 0x10, 0x00, 0x00]);
    match NodeInfo::decode(&mut &bad[..]) {
        Err(Error::FieldOverLimit {
            field: "moniker", ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // Bad UTF-8 in the network.
    let mut n = info();
    n.network = "xx".into();
    let mut enc = n.encode();
    let pos = enc.windows(2).position(|w| w == b"xx").unwrap();
    enc[pos] = 0xFF;
    assert!(matches!(
        NodeInfo::decode(&mut &enc[..]),
        Err(Error::InvalidUtf8 { field: "network" })
    ));
    // A nil pointer.
    assert!(matches!(
        NodeInfo::decode(&mut &[0x00u8][..]),
        Err(Error::Malformed(_))
    ));
    // Other with more entries than bytes.
    let mut n = info();
    n.other.clear();
    let mut enc = n.encode();
    enc.pop();
    enc.extend_from_slice(&[0x04, 0x7F, 0xFF, 0xFF, 0xFF]);
    assert!(matches!(
        NodeInfo::decode(&mut &enc[..]),
        Err(Error::FieldOverLimit { field: "other", .. })
    ));
    // Truncated anywhere: an error, never a panic.
    let enc = info().encode();
    for cut in 0..enc.len() {
        assert!(NodeInfo::decode(&mut &enc[..cut]).is_err());
    }
}

#[test]
fn the_whole_budget_is_enforced() {
    let mut n = info();
    n.other = vec!["x".repeat(1000); 11];
    let enc = n.encode();
    assert!(enc.len() > MAX_NODE_INFO_SIZE);
    assert!(NodeInfo::decode(&mut &enc[..]).is_err());
    n.other.truncate(10);
    assert!(n.encode().len() <= MAX_NODE_INFO_SIZE);
    assert_eq!(NodeInfo::decode(&mut &n.encode()[..]).unwrap(), n);
}
