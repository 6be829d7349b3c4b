//! Parser for `tests/vectors/tendermint-v0.12.1.txt`, the bytes captured from the Go
//! original (its header explains the format). Tests read the file; nothing is retyped.
#![allow(dead_code)]

use std::path::PathBuf;

/// One line of the vector file.
#[derive(Debug, Clone)]
pub enum Vector {
    Varint {
        value: i64,
        wire: Vec<u8>,
    },
    Send {
        channel: u8,
        message: Vec<u8>,
        wire: Vec<u8>,
    },
    Recv {
        wire: Vec<u8>,
        outcome: RecvOutcome,
    },
    NodeInfo {
        wire: Vec<u8>,
        fields: Vec<(String, String)>,
    },
}

/// What a `recv` line expects.
#[derive(Debug, Clone)]
pub enum RecvOutcome {
    Deliver {
        messages: Vec<(u8, Vec<u8>)>,
        reply: Vec<u8>,
    },
    Error(String),
}

pub use super::common::hex;

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("vectors")
}

/// Reads a vector file from tests/vectors, failing loudly if it is missing.
pub fn read_vector_file(name: &str) -> String {
    let path = vectors_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "vector file {} is missing or unreadable: {e}",
            path.display()
        )
    })
}

pub fn load() -> Vec<Vector> {
    let text = read_vector_file("tendermint-v0.12.1.txt");
    let mut out = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(' ').collect();
        let v = match f[0] {
            "varint" => Vector::Varint {
                value: f[1].parse().expect("varint value"),
                wire: hex(f[2]),
            },
            "send" => Vector::Send {
                channel: hex(f[1])[0],
                message: hex(f[2]),
                wire: hex(f[3]),
            },
            "recv" => {
                let wire = hex(f[1]);
                let outcome = if let Some(what) = f[2].strip_prefix("error=") {
                    RecvOutcome::Error(what.to_string())
                } else {
                    let list = f[2].strip_prefix("deliver=").expect("deliver= or error=");
                    let messages = list
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(|m| {
                            let (ch, msg) = m.split_once(':').expect("ch:msg");
                            (hex(ch)[0], hex(msg))
                        })
                        .collect();
                    let reply = f
                        .get(3)
                        .map(|r| hex(r.strip_prefix("reply=").expect("reply=")))
                        .unwrap_or_default();
                    RecvOutcome::Deliver { messages, reply }
                };
                Vector::Recv { wire, outcome }
            }
            "nodeinfo" => Vector::NodeInfo {
                wire: hex(f[1]),
                fields: f[2..]
                    .iter()
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').expect("key=value");
                        (k.to_string(), v.to_string())
                    })
                    .collect(),
            },
            other => panic!("line {}: unknown vector kind {other:?}", no + 1),
        };
        out.push(v);
    }
    assert!(!out.is_empty(), "no vectors parsed");
    out
}
