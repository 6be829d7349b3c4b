//! CometBFT's NodeInfo: the bytes PROTOCOL.md and the session transcript pin, Go's
//! `Validate` and `CompatibleWith` rules, and the bounded reader.

use std::io;

use super::*;
use crate::cometbft::delimited::read_delimited;
use crate::cometbft::pb;
use crate::error::{RejectReason, SecretError};

const TRANSCRIPT: &str =
    include_str!("../../../tests/vectors/cometbft-v0.38/SELFGEN_session_transcript.txt");

fn transcript(key: &str) -> Vec<u8> {
    let line = TRANSCRIPT
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(" = "))
        .unwrap_or_else(|| panic!("{key} not in the transcript"));
    (0..line.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&line[i..i + 2], 16).unwrap())
        .collect()
}

fn key_of(who: &str) -> PeerId {
    PeerId(
        transcript(&format!("{who}.ed25519_pub"))
            .try_into()
            .unwrap(),
    )
}

fn alice() -> NodeInfo {
    NodeInfo {
        moniker: "alice".into(),
        network: "test-chain-AbCdEf".into(),
        listen_addr: "tcp://127.0.0.1:26656".into(),
        version: "0.38.25".into(),
        channels: vec![0x40, 0x20, 0x21, 0x22, 0x23, 0x30, 0x38, 0x60, 0x61, 0x00],
        tx_index: "on".into(),
        rpc_address: "tcp://127.0.0.1:26657".into(),
        ..NodeInfo::default()
    }
}

#[test]
fn an_empty_node_info_still_writes_its_two_non_nullable_fields() {
    let empty = DefaultNodeInfo {
        protocol_version: Some(ProtoVersion {
            p2p: 8,
            block: 11,
            app: 0,
        }),
        other: Some(Other::default()),
        ..DefaultNodeInfo::default()
    };
    // PROTOCOL.md §4.2.
    assert_eq!(
        prost::Message::encode_to_vec(&empty),
        [0x0a, 0x04, 0x08, 0x08, 0x10, 0x0b, 0x42, 0x00]
    );
}

#[test]
fn the_transcripts_node_infos_are_what_we_write_and_read() {
    let key = key_of("alice");
    let wire = transcript("step5.a2b.plaintext");
    assert_eq!(encode(&alice(), &key), wire);
    let body = read_delimited(&mut &wire[..], MAX_NODE_INFO_SIZE, "NodeInfo").unwrap();
    let theirs = decode(&body, &key).unwrap();
    assert_eq!(
        theirs,
        NodeInfo {
            pub_key: key.0,
            ..alice()
        }
    );
    // Bob's, under his key; not under Alice's.
    let wire = transcript("step6.b2a.plaintext");
    let body = read_delimited(&mut &wire[..], MAX_NODE_INFO_SIZE, "NodeInfo").unwrap();
    let bob = decode(&body, &key_of("bob")).unwrap();
    assert_eq!(
        (bob.moniker.as_str(), bob.protocol_version.block),
        ("bob", 11)
    );
    assert!(matches!(
        decode(&body, &key),
        Err(Error::Rejected(RejectReason::KeyMismatch(_)))
    ));
}

#[test]
fn validate_refuses_what_go_refuses() {
    let key = PeerId([3; 32]);
    let ok = to_proto(&alice(), &key);
    assert_eq!(validate(&ok), Ok(()));
    type Breaker = Box<dyn Fn(&mut DefaultNodeInfo)>;
    let cases: Vec<(&str, Breaker)> = vec![
        ("no port", Box::new(|n| n.listen_addr = "1.2.3.4".into())),
        (
            "port too big",
            Box::new(|n| n.listen_addr = "1.2.3.4:65536".into()),
        ),
        (
            "signed port",
            Box::new(|n| n.listen_addr = "1.2.3.4:+1".into()),
        ),
        (
            "no host",
            Box::new(|n| n.listen_addr = "tcp://:26656".into()),
        ),
        (
            "bare IPv6",
            Box::new(|n| n.listen_addr = "::1:26656".into()),
        ),
        ("empty listen address", Box::new(|n| n.listen_addr.clear())),
        ("tab in version", Box::new(|n| n.version = "0.38\t".into())),
        ("empty moniker", Box::new(|n| n.moniker.clear())),
        ("moniker of spaces", Box::new(|n| n.moniker = "   ".into())),
        ("non-ASCII moniker", Box::new(|n| n.moniker = "bé".into())),
        ("17 channels", Box::new(|n| n.channels = (0..17).collect())),
        (
            "duplicate channel",
            Box::new(|n| n.channels = vec![1, 2, 1]),
        ),
        (
            "tx_index",
            Box::new(|n| n.other.as_mut().unwrap().tx_index = "yes".into()),
        ),
        (
            "rpc",
            Box::new(|n| n.other.as_mut().unwrap().rpc_address = "\u{7f}".into()),
        ),
    ];
    for (why, break_it) in cases {
        let mut n = ok.clone();
        break_it(&mut n);
        assert!(validate(&n).is_err(), "{why}");
    }
    for good in [
        "[::1]:26656",
        "example.com:1",
        "0.0.0.0:0",
        "tcp://[fe80::1]:65535",
    ] {
        let mut n = ok.clone();
        n.listen_addr = good.into();
        assert_eq!(validate(&n), Ok(()), "{good}");
    }
}

#[test]
fn a_node_that_does_not_listen_sends_an_address_go_accepts() {
    let info = NodeInfo {
        listen_addr: String::new(),
        ..alice()
    };
    let p = to_proto(&info, &PeerId([1; 32]));
    assert_eq!(p.listen_addr, NO_LISTEN_ADDR);
    assert_eq!(validate(&p), Ok(()));
}

#[test]
fn our_own_node_info_is_checked_before_a_peer_refuses_it() {
    assert_eq!(check_ours(&alice()), Ok(()));
    let no_network = NodeInfo {
        network: String::new(),
        ..alice()
    };
    let no_moniker = NodeInfo::new("", "chain");
    let huge = NodeInfo {
        rpc_address: "x".repeat(MAX_NODE_INFO_SIZE),
        ..alice()
    };
    for bad in [no_network, no_moniker, huge] {
        assert!(check_ours(&bad).is_err(), "{bad:?}");
    }
}

#[test]
fn compatibility_is_block_version_network_and_a_common_channel() {
    let ours = alice();
    assert_eq!(compatible(&ours, &ours), Ok(()));
    let mut other = ours.clone();
    other.protocol_version.p2p = 9;
    other.protocol_version.app = 7;
    other.version = "1.0.1".into();
    assert_eq!(
        compatible(&ours, &other),
        Ok(()),
        "p2p and app are not compared"
    );
    for (why, theirs) in [
        (
            "block",
            NodeInfo {
                protocol_version: ProtocolVersion {
                    block: 10,
                    ..ours.protocol_version
                },
                ..ours.clone()
            },
        ),
        (
            "network",
            NodeInfo {
                network: "other".into(),
                ..ours.clone()
            },
        ),
        (
            "channel",
            NodeInfo {
                channels: vec![0x99],
                ..ours.clone()
            },
        ),
    ] {
        let e = compatible(&ours, &theirs).unwrap_err();
        assert!(e.contains(why), "{why}: {e}");
    }
    // Listing no channels is "just testing": anyone with a matching network will do.
    let testing = NodeInfo {
        channels: Vec::new(),
        ..ours.clone()
    };
    let theirs = NodeInfo {
        channels: vec![0x99],
        ..ours
    };
    assert_eq!(compatible(&testing, &theirs), Ok(()));
}

/// A reader that fails any read past its bytes: proves the reader stops at the length.
struct Exactly<'a>(&'a [u8]);

impl io::Read for Exactly<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            panic!("read past the length prefix");
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn the_reader_refuses_an_oversized_length_before_reading_the_body() {
    let mut prefix = Vec::new();
    pb::put_uvarint(&mut prefix, MAX_NODE_INFO_SIZE as u64 + 1);
    let e = read_delimited(&mut Exactly(&prefix), MAX_NODE_INFO_SIZE, "NodeInfo").unwrap_err();
    assert!(
        matches!(
            e,
            Error::Secret(SecretError::HandshakeMessageTooLarge {
                length: 10241,
                limit: MAX_NODE_INFO_SIZE,
                ..
            })
        ),
        "{e}"
    );
    let e = read_delimited(&mut Exactly(&[0xff; 10]), 100, "x").unwrap_err();
    assert!(
        matches!(e, Error::Secret(SecretError::BadLengthPrefix { .. })),
        "{e}"
    );
    // A body cut short is an unexpected end, not a hang or a short message.
    let e = read_delimited(&mut &[5u8, 1, 2][..], 100, "x").unwrap_err();
    assert!(matches!(e, Error::Io(ref io) if io.kind() == io::ErrorKind::UnexpectedEof));
    // Garbage that is not a NodeInfo is an error.
    assert!(decode(&[0x0a, 0x05, 0x08], &PeerId([0; 32])).is_err());
}
