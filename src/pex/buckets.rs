//! Where the address book places an address (Go's `calcNewBucket`, `calcOldBucket` and
//! `groupKey`, from bitcoind's addrman). Pure.
//!
//! An address's *group* is its IPv4 /16 (for IPv6, its /32; /36 in Hurricane Electric's
//! range; the embedded IPv4 /16 for the tunnelling and translation ranges). A new address
//! goes to one of 32 buckets chosen by its group and its source's group, out of 256
//! picked by the source's group: whatever one source announces lands in at most 32 of
//! the 256 new buckets (64 addresses each), so it can fill at most an eighth of the new
//! table. An old address goes to one of 4 buckets chosen by its group, out of 64. The
//! book's random key makes the placement unpredictable to peers.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use super::address::NetAddress;

/// New buckets (Go: 256), each holding up to [`BUCKET_SIZE`] addresses.
pub(crate) const NEW_BUCKETS: usize = 256;
/// Old buckets (Go: 64).
pub(crate) const OLD_BUCKETS: usize = 64;
/// Addresses per bucket (Go: 64, new and old).
pub(crate) const BUCKET_SIZE: usize = 64;
/// New buckets one source group can reach (Go: 32).
const NEW_BUCKETS_PER_SOURCE_GROUP: u64 = 32;
/// Old buckets one address group can reach (Go: 4).
const OLD_BUCKETS_PER_GROUP: u64 = 4;

/// The book's secret key for placement (Go: 96 random bits).
pub(crate) type BookKey = [u8; 12];

/// The network group of `addr` (see the module docs). With `strict` routability, every
/// local address is one group and every unroutable one another, as in Go.
pub(crate) fn group(addr: &NetAddress, strict: bool) -> Vec<u8> {
    if strict && addr.is_local() {
        return b"local".to_vec();
    }
    if strict && !addr.is_routable() {
        return b"unroutable".to_vec();
    }
    match addr.ip() {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            vec![4, o[0], o[1]]
        }
        IpAddr::V6(v6) => {
            let o = v6.octets();
            let seg = v6.segments();
            // RFC 6145 (::ffff:0:a.b.c.d) and RFC 6052 (64:ff9b::a.b.c.d): IPv4 inside.
            let rfc6145 = seg[..6] == [0, 0, 0, 0, 0xffff, 0];
            let rfc6052 = seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
            if rfc6145 || rfc6052 {
                vec![4, o[12], o[13]]
            } else if seg[0] == 0x2002 {
                // RFC 3964 (6to4): the IPv4 address follows the prefix.
                vec![4, o[2], o[3]]
            } else if seg[..2] == [0x2001, 0] {
                // RFC 4380 (Teredo): the client's IPv4 address, inverted, at the end.
                vec![4, o[12] ^ 0xff, o[13] ^ 0xff]
            } else if seg[..2] == [0x2001, 0x0470] {
                // Hurricane Electric: /36.
                vec![6, o[0], o[1], o[2], o[3], o[4] & 0xf0]
            } else {
                vec![6, o[0], o[1], o[2], o[3]]
            }
        }
    }
}

fn hash(parts: &[&[u8]]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let d = h.finalize();
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// The new bucket for `addr` announced by `src`.
pub(crate) fn new_bucket(
    key: &BookKey,
    addr: &NetAddress,
    src: &NetAddress,
    strict: bool,
) -> usize {
    let (ga, gs) = (group(addr, strict), group(src, strict));
    let slot = hash(&[key, &ga, &gs]) % NEW_BUCKETS_PER_SOURCE_GROUP;
    (hash(&[key, &gs, &slot.to_be_bytes()]) % NEW_BUCKETS as u64) as usize
}

/// The old bucket for `addr`.
pub(crate) fn old_bucket(key: &BookKey, addr: &NetAddress, strict: bool) -> usize {
    let slot = hash(&[key, addr.to_string().as_bytes()]) % OLD_BUCKETS_PER_GROUP;
    let g = group(addr, strict);
    (hash(&[key, &g, &slot.to_be_bytes()]) % OLD_BUCKETS as u64) as usize
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::net::SocketAddr;

    use super::*;

    fn na(s: &str) -> NetAddress {
        NetAddress::from(s.parse::<SocketAddr>().expect("addr"))
    }

    #[test]
    fn groups_are_the_ipv4_16_and_the_ipv6_32() {
        assert_eq!(
            group(&na("1.2.3.4:1"), true),
            group(&na("1.2.200.9:2"), true)
        );
        assert_ne!(group(&na("1.2.3.4:1"), true), group(&na("1.3.3.4:1"), true));
        assert_eq!(
            group(&na("[2a00:1450::1]:1"), true),
            group(&na("[2a00:1450:ffff::9]:1"), true)
        );
        // Tunnels and translations group with the IPv4 address they carry.
        assert_eq!(
            group(&na("[2002:102:304::1]:1"), true),
            group(&na("1.2.9.9:1"), true)
        );
        assert_eq!(
            group(&na("[64:ff9b::102:304]:1"), true),
            group(&na("1.2.0.1:1"), true)
        );
        assert_eq!(group(&na("127.0.0.1:1"), true), b"local");
        assert_eq!(group(&na("10.0.0.1:1"), true), b"unroutable");
        assert_eq!(group(&na("10.0.0.1:1"), false), vec![4, 10, 0]);
    }

    /// One source group reaches at most 32 of the 256 new buckets, whatever it announces.
    #[test]
    fn one_source_reaches_an_eighth_of_the_new_table() {
        let key = *b"a secret key";
        let src = na("5.6.7.8:26656");
        let mut reached = HashSet::new();
        for a in 0..=255u8 {
            for b in (0..=255u8).step_by(5) {
                let addr = NetAddress::from(SocketAddr::from(([a, b, 1, 1], 26656)));
                reached.insert(new_bucket(&key, &addr, &src, true));
            }
        }
        assert!(reached.len() <= 32, "{} buckets", reached.len());
        assert!(
            reached.len() >= 20,
            "and spreads over them: {}",
            reached.len()
        );
        // Another key places the same addresses elsewhere.
        let other: HashSet<_> = (0..=255u8)
            .map(|a| {
                let addr = NetAddress::from(SocketAddr::from(([a, 0, 1, 1], 26656)));
                new_bucket(b"another  key", &addr, &src, true)
            })
            .collect();
        assert_ne!(other, reached);
    }

    #[test]
    fn one_group_reaches_at_most_four_old_buckets() {
        let key = *b"a secret key";
        let reached: HashSet<_> = (0..=255u8)
            .flat_map(|c| (0..=255u8).step_by(17).map(move |d| (c, d)))
            .map(|(c, d)| {
                old_bucket(
                    &key,
                    &NetAddress::from(SocketAddr::from(([9, 9, c, d], 1))),
                    true,
                )
            })
            .collect();
        assert!(reached.len() <= 4, "{}", reached.len());
    }
}
