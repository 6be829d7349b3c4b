//! Every line of `tests/vectors/pex-v0.12.1.txt` (bytes written and judged by Go
//! v0.12.1): what we send is Go's bytes exactly; what we read is Go's result, except the
//! cases where we are stricter on purpose (see the module docs), each counted here.

use std::net::SocketAddr;

use super::*;

const VECTORS: &str = include_str!("../../../tests/vectors/pex-v0.12.1.txt");

fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Go's description of a message; `None` if it holds something we refuse to represent
/// (an IP of the wrong length). Nil entries are dropped, as Go's reactor skips them.
fn described(desc: &str) -> Option<PexMessage> {
    if desc == "request" {
        return Some(PexMessage::Request);
    }
    if desc == "nil" {
        return None; // the nil message
    }
    let list = desc.strip_prefix("addrs=").expect("addrs=");
    if list == "-" {
        return Some(PexMessage::Addrs(Vec::new()));
    }
    let mut addrs = Vec::new();
    for a in list.split(',') {
        if a == "nil" {
            continue;
        }
        addrs.push(NetAddress::from(a.parse::<SocketAddr>().ok()?));
    }
    Some(PexMessage::Addrs(addrs))
}

/// The address count a message claims, if it is an addrs message with a whole varint.
fn claimed_count(bytes: &[u8]) -> Option<i64> {
    match bytes {
        [TYPE_ADDRS, rest @ ..] => decode_varint(rest).ok().flatten().map(|(v, _)| v),
        _ => None,
    }
}

#[test]
fn go_v0_12_1_pex_vectors() {
    let (mut sent, mut read, mut stricter, mut addresses) = (0, 0, Vec::new(), 0);
    for line in VECTORS.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut f = line.splitn(3, ' ');
        let (kind, a, rest) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap_or(""));
        match kind {
            "pex" => {
                let msg = described(rest).expect("Go sends only well-formed addresses");
                assert_eq!(hex(&msg.encode()), a, "what we send for {rest}");
                assert_eq!(PexMessage::decode(&unhex(a)).ok(), Some(msg), "{line}");
                sent += 1;
            }
            "pexdecode" => {
                let bytes = unhex(a);
                let ours = PexMessage::decode(&bytes);
                let go_ok = rest.strip_prefix("ok=");
                match go_ok.map(|d| (d, described(d))) {
                    Some(("nil", _)) => {
                        assert!(ours.is_err(), "the nil message (Go: logged, dropped)");
                        stricter.push("nil message");
                    }
                    Some((_, None)) => {
                        assert!(ours.is_err(), "an IP not 4 or 16 bytes: {line}");
                        stricter.push("IP length");
                    }
                    Some((_, Some(_))) if claimed_count(&bytes).is_some_and(|c| c < 0) => {
                        assert!(ours.is_err(), "a negative count (Go: none): {line}");
                        stricter.push("negative count");
                    }
                    Some((_, Some(msg))) => assert_eq!(ours.ok(), Some(msg), "{line}"),
                    None => {
                        // Go errs or panics (empty message): we err, never panic.
                        assert!(ours.is_err(), "{line}");
                        if rest.starts_with("panic=") {
                            stricter.push("empty message");
                        }
                    }
                }
                read += 1;
            }
            "netaddress" => {
                let na = NetAddress::from(a.parse::<SocketAddr>().expect("addr"));
                let want = format!(
                    "routable={} local={} valid={}",
                    na.is_routable(),
                    na.is_local(),
                    na.is_valid()
                );
                assert_eq!(want, rest, "{a}");
                addresses += 1;
            }
            other => panic!("unknown vector kind {other}"),
        }
    }
    assert_eq!((sent, read, addresses), (10, 36, 32), "every vector read");
    stricter.sort();
    assert_eq!(
        stricter,
        [
            "IP length",
            "IP length",
            "IP length",
            "empty message",
            "negative count",
            "negative count",
            "negative count",
            "nil message"
        ],
        "where we are stricter than Go, on purpose"
    );
}

#[test]
fn hostile_messages_are_errors_without_allocating_from_claims() {
    // Over the size limit, before reading anything.
    let big = vec![TYPE_ADDRS; MAX_MESSAGE_SIZE + 1];
    assert!(matches!(
        PexMessage::decode(&big),
        Err(Error::LengthOverLimit { .. })
    ));
    // More than 250 addresses, even when the bytes are there.
    let many = PexMessage::Addrs(vec![
        NetAddress::from(SocketAddr::from(([1, 2, 3, 4], 1)));
        251
    ]);
    assert!(PexMessage::decode(&many.encode()).is_err());
    let most = PexMessage::Addrs(vec![
        NetAddress::from(SocketAddr::from(([1, 2, 3, 4], 1)));
        250
    ]);
    assert_eq!(PexMessage::decode(&most.encode()).ok(), Some(most));
    // A count the remaining bytes cannot hold.
    assert!(PexMessage::decode(&[TYPE_ADDRS, 0x01, 0x05, 0x00, 0x00]).is_err());
    // Every prefix of a valid message is an error or a shorter valid reading, never a
    // panic.
    let msg = PexMessage::Addrs(vec![
        NetAddress::from("[2a00:1450::1]:443".parse::<SocketAddr>().unwrap()),
        NetAddress::from(SocketAddr::from(([8, 8, 8, 8], 26656))),
    ])
    .encode();
    for n in 0..msg.len() {
        assert!(
            PexMessage::decode(&msg[..n]).is_err(),
            "prefix of {n} bytes"
        );
    }
}
