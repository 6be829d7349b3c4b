//! Helpers for CometBFT's SecretConnection tests: the vector files (compiled in, never
//! retyped) and their `KEY = hex` parser, and the shared loopback and watchdog helpers.

use std::collections::BTreeMap;

pub(super) use crate::test_support::{hex, tcp_pair, watchdog, Recorder, Rng};

/// The vector folder's files used here.
pub(super) const THIRD_PARTY: &str = include_str!(
    "../../../../tests/vectors/cometbft-v0.38/thirdparty_cometbft-p2p-0.3.0_handshake_vectors.txt"
);
pub(super) const SESSION: &str =
    include_str!("../../../../tests/vectors/cometbft-v0.38/SELFGEN_session_transcript.txt");

/// A `KEY = value` file (`#` starts a comment): its values by key.
pub(super) struct KeyValues(BTreeMap<String, String>);

impl KeyValues {
    /// Parses `text`; panics (naming the key) on a malformed or repeated key.
    pub(super) fn parse(text: &str) -> Self {
        let mut map = BTreeMap::new();
        for line in content_lines(text) {
            let (k, v) = line
                .split_once(" = ")
                .unwrap_or_else(|| panic!("{line:?} is not KEY = value"));
            assert!(
                map.insert(k.to_string(), v.to_string()).is_none(),
                "{k} twice"
            );
        }
        KeyValues(map)
    }

    /// The text of `key`; panics if it is missing.
    pub(super) fn text(&self, key: &str) -> &str {
        self.0
            .get(key)
            .unwrap_or_else(|| panic!("vector {key:?} is missing"))
    }

    /// The bytes of the hex value of `key`.
    pub(super) fn bytes(&self, key: &str) -> Vec<u8> {
        hex(self.text(key))
    }

    /// The hex value of `key` as 32 bytes.
    pub(super) fn b32(&self, key: &str) -> [u8; 32] {
        self.bytes(key)
            .try_into()
            .unwrap_or_else(|_| panic!("{key} is not 32 bytes"))
    }

    /// Whether some key starts with `prefix`.
    pub(super) fn has_prefix(&self, prefix: &str) -> bool {
        self.0.keys().any(|k| k.starts_with(prefix))
    }
}

/// The lines of a vector file that are neither blank nor comments.
fn content_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
}

/// The rows of a TAB-separated vector file.
pub(super) fn tsv_rows(text: &str) -> Vec<Vec<&str>> {
    content_lines(text)
        .map(|l| l.split('\t').collect())
        .collect()
}
