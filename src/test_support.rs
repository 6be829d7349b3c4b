//! Helpers for the unit tests of both SecretConnection families: the integration tests'
//! `tests/support/common.rs` (watchdog, loopback sockets, a seeded generator, hex, a
//! recording stream), compiled once into the crate's test build.

#[path = "../tests/support/common.rs"]
mod common;

pub(crate) use self::common::{hex, tcp_pair, watchdog, Recorder, Rng};
