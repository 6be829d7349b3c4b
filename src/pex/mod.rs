//! Peer exchange (PEX), wire-compatible with Go v0.12.1's `p2p/pex_reactor.go`: the
//! messages of channel `0x00`, the addresses they carry, and the address book. (The
//! reactor, the book's file and seeds come next; the Switch does not depend on any of
//! it.)

mod address;
mod book;
mod buckets;
mod known;
mod message;
mod sample;

pub use self::address::NetAddress;
pub use self::book::{AddrBook, NEED_MORE_BELOW};
pub use self::message::{PexMessage, MAX_ADDRS, MAX_MESSAGE_SIZE};
