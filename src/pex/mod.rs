//! Peer exchange (PEX), wire-compatible with Go v0.12.1's `p2p/pex_reactor.go` and, with
//! the `cometbft` feature, with CometBFT's (each peer in its protocol family's wire): the
//! messages of channel `0x00`, the addresses they carry, the address book, and the
//! [`PexReactor`] that keeps a node connected to enough peers found through them. The
//! Switch does not depend on any of it: it is an ordinary reactor.

mod address;
mod book;
mod book_file;
mod buckets;
mod ensure;
mod known;
mod message;
#[cfg(feature = "cometbft")]
pub(crate) mod proto;
mod reactor;
mod rfc3339;
mod sample;
mod wire;

pub use self::address::NetAddress;
pub use self::book::{AddrBook, NEED_MORE_BELOW};
pub use self::message::{PexMessage, MAX_ADDRS, MAX_MESSAGE_SIZE};
pub use self::reactor::{PexConfig, PexReactor, PEX_CHANNEL};
