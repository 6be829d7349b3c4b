//! Parser for `tests/vectors/secret-connection-v0.12.1.txt`, the SecretConnection bytes
//! recorded from the Go original (its header explains every line), compiled into the
//! test binary. Nothing is retyped. Also the helpers both vector test files use.

use std::collections::BTreeMap;

use super::support::hex;
use crate::node_key::NodeKey;

/// The vector file, as recorded.
const TEXT: &str = include_str!("../../../tests/vectors/secret-connection-v0.12.1.txt");

/// The two sides of every recorded session.
pub(super) const SIDES: [&str; 2] = ["alice", "bob"];

pub(super) fn other(side: &str) -> &'static str {
    if side == "alice" {
        "bob"
    } else {
        "alice"
    }
}

/// The name of `side`'s fact `name`.
pub(super) fn f(side: &str, name: &str) -> String {
    format!("{side}.{name}")
}

pub(super) fn node_key(v: &SecretVectors, side: &str) -> NodeKey {
    NodeKey::from_secret(v.get(&f(side, "node_secret")).as_bytes())
}

/// byte j = j % 251, the vectors' data pattern.
pub(super) fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|j| (j % 251) as u8).collect()
}

/// One `<sess>.<side>.frame` line.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    pub(super) session: String,
    pub(super) side: String,
    pub(super) index: usize,
    pub(super) what: String,
    pub(super) nonce: Vec<u8>,
    pub(super) len: usize,
    pub(super) plain: Vec<u8>,
    pub(super) sealed: Vec<u8>,
}

/// Every fact of the file: `name value` lines and frame lines.
#[derive(Debug)]
pub(super) struct SecretVectors {
    facts: BTreeMap<String, String>,
    frames: Vec<Frame>,
}

impl SecretVectors {
    /// The raw value of fact `name`; panics (naming it) if it is missing.
    pub(super) fn get(&self, name: &str) -> &str {
        self.facts
            .get(name)
            .unwrap_or_else(|| panic!("vector fact {name:?} is missing"))
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.facts.contains_key(name)
    }

    pub(super) fn bytes(&self, name: &str) -> Vec<u8> {
        hex(self.get(name))
    }

    pub(super) fn arr32(&self, name: &str) -> [u8; 32] {
        let b = self.bytes(name);
        b.as_slice()
            .try_into()
            .unwrap_or_else(|_| panic!("{name} is {} bytes, not 32", b.len()))
    }

    pub(super) fn arr24(&self, name: &str) -> [u8; 24] {
        let b = self.bytes(name);
        b.as_slice()
            .try_into()
            .unwrap_or_else(|_| panic!("{name} is {} bytes, not 24", b.len()))
    }

    pub(super) fn usize(&self, name: &str) -> usize {
        self.get(name)
            .parse()
            .unwrap_or_else(|_| panic!("{name} is not a number"))
    }

    /// The frames one side wrote in one session, in order; checks they are numbered
    /// 0, 1, 2, ...
    pub(super) fn frames(&self, session: &str, side: &str) -> Vec<&Frame> {
        let v: Vec<&Frame> = self
            .frames
            .iter()
            .filter(|f| f.session == session && f.side == side)
            .collect();
        assert!(!v.is_empty(), "no frames for {session}.{side}");
        for (i, f) in v.iter().enumerate() {
            assert_eq!(f.index, i, "{session}.{side} frames out of order");
        }
        v
    }
}

pub(super) fn load() -> SecretVectors {
    let mut facts = BTreeMap::new();
    let mut frames = Vec::new();
    for (no, line) in TEXT.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("line {}: no value", no + 1));
        if let Some(prefix) = name.strip_suffix(".frame") {
            let (session, side) = prefix
                .split_once('.')
                .unwrap_or_else(|| panic!("line {}: bad frame name {name:?}", no + 1));
            let mut f = value.split(' ');
            let index = f
                .next()
                .and_then(|k| k.parse().ok())
                .unwrap_or_else(|| panic!("line {}: bad frame index", no + 1));
            let mut kv = BTreeMap::new();
            for item in f {
                let (k, v) = item
                    .split_once('=')
                    .unwrap_or_else(|| panic!("line {}: {item:?} is not key=value", no + 1));
                kv.insert(k, v);
            }
            let field = |k: &str| -> &str {
                kv.get(k)
                    .copied()
                    .unwrap_or_else(|| panic!("line {}: frame has no {k}=", no + 1))
            };
            frames.push(Frame {
                session: session.to_string(),
                side: side.to_string(),
                index,
                what: field("what").to_string(),
                nonce: hex(field("nonce")),
                len: field("len").parse().expect("frame len"),
                plain: hex(field("plain")),
                sealed: hex(field("sealed")),
            });
        } else {
            let old = facts.insert(name.to_string(), value.to_string());
            assert!(old.is_none(), "line {}: {name} given twice", no + 1);
        }
    }
    assert!(facts.len() > 40, "too few facts parsed: {}", facts.len());
    assert_eq!(frames.len(), 76, "frame lines parsed");
    SecretVectors { facts, frames }
}
