//! Peer exchange (PEX), wire-compatible with Go v0.12.1's `p2p/pex_reactor.go`: the
//! messages of channel `0x00` and the addresses they carry. (The reactor and the address
//! book come next; the Switch does not depend on any of it.)

mod address;
mod message;

pub use self::address::NetAddress;
pub use self::message::{PexMessage, MAX_ADDRS, MAX_MESSAGE_SIZE};
