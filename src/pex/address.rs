//! [`NetAddress`]: a peer's dialable address as PEX carries it, and Go v0.12.1's rules for
//! which addresses are valid, local and routable (`p2p/netaddress.go`, itself bitcoind's
//! rules). Pure.
//!
//! An IPv4 address is kept as IPv4 however it arrived: Go parses `1.2.3.4` into its
//! 16-byte form (`::ffff:1.2.3.4`) and treats both forms alike, and so do we.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::node_id::NodeId;

/// A peer's address (IP and port), as a PEX message or an address book holds it, and
/// the CometBFT id of the node there when it is known (CometBFT's PEX carries it; Go
/// v0.12's does not). Two addresses are the same address when their IP and port are:
/// the id is what we know of the node there, not part of the address.
#[derive(Clone, Copy, Debug)]
pub struct NetAddress {
    addr: SocketAddr,
    id: Option<NodeId>,
}

impl NetAddress {
    /// The address of `ip` and `port`; an IPv4-mapped IPv6 address becomes IPv4.
    pub fn new(ip: IpAddr, port: u16) -> Self {
        NetAddress {
            addr: SocketAddr::new(canonical(ip), port),
            id: None,
        }
    }

    /// This address, with `id` as the node there.
    pub fn with_id(self, id: NodeId) -> Self {
        NetAddress {
            id: Some(id),
            ..self
        }
    }

    /// The node there, if known.
    pub fn id(&self) -> Option<NodeId> {
        self.id
    }

    /// The socket address to dial.
    pub fn socket_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The IP address.
    pub fn ip(&self) -> IpAddr {
        self.addr.ip()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Go's `Valid`: an IP that can name one host: not unspecified (`0.0.0.0`, `::`), not
    /// the IPv4 broadcast address, not IPv6 documentation (`2001:db8::/32`).
    pub fn is_valid(&self) -> bool {
        match self.ip() {
            IpAddr::V4(v4) => !v4.is_unspecified() && v4 != Ipv4Addr::BROADCAST,
            IpAddr::V6(v6) => !v6.is_unspecified() && !in_v6(v6, [0x2001, 0x0db8], 32),
        }
    }

    /// Go's `Local`: loopback (`127.0.0.0/8`, `::1`) or `0.0.0.0/8`.
    pub fn is_local(&self) -> bool {
        match self.ip() {
            IpAddr::V4(v4) => v4.is_loopback() || v4.octets()[0] == 0,
            IpAddr::V6(v6) => v6.is_loopback(),
        }
    }

    /// Go's `Routable`: valid, not local, and in none of the private or
    /// autoconfiguration ranges: RFC 1918 (`10/8`, `172.16/12`, `192.168/16`), RFC 3927
    /// (`169.254/16`), RFC 4862 (`fe80::/64`), RFC 4193 (`fc00::/7`) and RFC 4843
    /// (`2001:10::/28`). Exactly Go v0.12.1's answer, so some addresses Go calls
    /// routable are not reachable on the Internet (multicast, `192.0.2.0/24`,
    /// `fe80:0:0:1::/64`): a strict address book refuses what Go's refuses, no more.
    pub fn is_routable(&self) -> bool {
        if !self.is_valid() || self.is_local() {
            return false;
        }
        match self.ip() {
            IpAddr::V4(v4) => {
                let [a, b, ..] = v4.octets();
                !(a == 10
                    || (a == 172 && (16..32).contains(&b))
                    || (a == 192 && b == 168)
                    || (a == 169 && b == 254))
            }
            IpAddr::V6(v6) => {
                !(in_v6(v6, [0xfe80, 0, 0, 0], 64)
                    || in_v6(v6, [0xfc00], 7)
                    || in_v6(v6, [0x2001, 0x0010], 28))
            }
        }
    }
}

impl From<SocketAddr> for NetAddress {
    fn from(addr: SocketAddr) -> Self {
        NetAddress::new(addr.ip(), addr.port())
    }
}

impl PartialEq for NetAddress {
    fn eq(&self, other: &Self) -> bool {
        self.addr == other.addr
    }
}

impl Eq for NetAddress {}

impl Hash for NetAddress {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.addr.hash(state)
    }
}

impl PartialOrd for NetAddress {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NetAddress {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.addr.cmp(&other.addr)
    }
}

impl fmt::Display for NetAddress {
    /// As Go's `NetAddress.String()`: `1.2.3.4:26656`, `[2001:db8::1]:26656`, with
    /// `id@` in front when the node's id is known (CometBFT's form).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(id) = self.id {
            write!(f, "{id}@")?;
        }
        self.addr.fmt(f)
    }
}

/// An IPv4-mapped IPv6 address as IPv4; anything else as it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Whether `ip` is in the network whose first segments are `prefix` and whose prefix
/// length is `bits`.
fn in_v6<const N: usize>(ip: Ipv6Addr, prefix: [u16; N], bits: u32) -> bool {
    let mut net = [0u16; 8];
    net[..N].copy_from_slice(&prefix);
    let net = u128::from(Ipv6Addr::from(net));
    let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
    u128::from(ip) & mask == net & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn na(s: &str) -> NetAddress {
        NetAddress::from(s.parse::<SocketAddr>().expect("a socket address"))
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        let mapped = na("[::ffff:1.2.3.4]:26656");
        assert_eq!(mapped, na("1.2.3.4:26656"));
        assert_eq!(mapped.to_string(), "1.2.3.4:26656");
        // `::ffff:0:a.b.c.d` (RFC 6145) is not a mapped address.
        assert!(na("[::ffff:0:102:304]:1").ip().is_ipv6());
    }

    #[test]
    fn an_address_is_its_ip_and_port_whatever_id_is_known() {
        let id = NodeId([0xab; 20]);
        let a = na("1.2.3.4:26656");
        assert_eq!(a.with_id(id), a);
        assert_eq!(a.with_id(id).id(), Some(id));
        assert_eq!(a.id(), None);
        let set: std::collections::HashSet<_> = [a, a.with_id(id)].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert_eq!(a.with_id(id).to_string(), format!("{id}@1.2.3.4:26656"));
    }

    #[test]
    fn prefixes_end_where_their_length_says() {
        assert!(!na("[fe80::1]:1").is_routable());
        assert!(na("[fe80:0:0:1::1]:1").is_routable(), "outside fe80::/64");
        assert!(!na("[fdff:ffff::1]:1").is_routable(), "inside fc00::/7");
        assert!(na("[fe00::1]:1").is_routable(), "outside fc00::/7");
        assert!(!na("[2001:1f::1]:1").is_routable(), "inside 2001:10::/28");
        assert!(na("[2001:20::1]:1").is_routable(), "outside 2001:10::/28");
        assert!(!na("172.31.255.255:1").is_routable());
        assert!(na("172.32.0.0:1").is_routable());
    }
}
