//! [`PexMessage`]: the two messages of the peer-exchange channel, go-wire encoded exactly
//! as Go v0.12.1's `PEXReactor` writes them, and decoded strictly. Pure.
//!
//! A message is one whole MConnection message on channel `0x00`: a type byte (`01` a
//! request, no body; `02` addresses: a varint count, then per address a pointer byte,
//! `01`, or `00` for nil, the IP as a byte slice and the port as two big-endian bytes).
//!
//! Where Go's `DecodeMessage` is lax we refuse, with an error (the reactor then stops
//! the peer): an empty message (Go panics), the nil message (type `00`), a negative
//! count, a count over [`MAX_ADDRS`] or larger than the bytes left can hold (Go reads
//! until it runs out), and an IP that is not 4 or 16 bytes long (Go takes it, and its
//! address book can then no longer be saved). As Go does, bytes after a complete
//! message are ignored and nil entries are skipped.

use crate::error::Error;
use crate::gowire::{decode_varint, put_varint};

use super::address::NetAddress;

/// The largest PEX message accepted (Go's `maxPexMessageSize`, 1 MiB).
pub const MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// The most addresses one message may carry (what Go's `GetSelection` ever sends).
pub const MAX_ADDRS: usize = 250;

const TYPE_REQUEST: u8 = 0x01;
const TYPE_ADDRS: u8 = 0x02;

/// A message on the PEX channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PexMessage {
    /// "Send me addresses."
    Request,
    /// Addresses of peers (in a request's answer, or unasked).
    Addrs(Vec<NetAddress>),
}

impl PexMessage {
    /// The message's bytes, as Go writes them: an IPv4 address in its 16-byte
    /// (IPv4-mapped) form, as a Go node sends the addresses it parsed.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            PexMessage::Request => vec![TYPE_REQUEST],
            PexMessage::Addrs(addrs) => {
                let mut out = Vec::with_capacity(2 + addrs.len() * 22);
                out.push(TYPE_ADDRS);
                put_varint(&mut out, addrs.len() as i64);
                for a in addrs {
                    let ip = match a.ip() {
                        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                        std::net::IpAddr::V6(v6) => v6.octets(),
                    };
                    out.push(0x01);
                    put_varint(&mut out, 16);
                    out.extend_from_slice(&ip);
                    out.extend_from_slice(&a.port().to_be_bytes());
                }
                out
            }
        }
    }

    /// Reads a message; see the module docs for what is refused. Nothing is allocated
    /// from a claimed count before the bytes that back it are there.
    pub fn decode(buf: &[u8]) -> Result<PexMessage, Error> {
        if buf.len() > MAX_MESSAGE_SIZE {
            return Err(Error::LengthOverLimit {
                length: buf.len() as u64,
                limit: MAX_MESSAGE_SIZE,
            });
        }
        let mut r = Cursor(buf);
        match r.byte("the message type")? {
            TYPE_REQUEST => Ok(PexMessage::Request),
            TYPE_ADDRS => decode_addrs(&mut r).map(PexMessage::Addrs),
            other => Err(bad(format!("unknown PEX message type {other:#04x}"))),
        }
    }
}

fn decode_addrs(r: &mut Cursor<'_>) -> Result<Vec<NetAddress>, Error> {
    let count = r.varint("the address count")?;
    if count < 0 {
        return Err(bad(format!("negative address count {count}")));
    }
    // Each entry takes at least one byte (a nil pointer).
    if count as u64 > MAX_ADDRS as u64 || count as u64 > r.0.len() as u64 {
        return Err(bad(format!(
            "{count} addresses claimed: at most {MAX_ADDRS}, and {} bytes are left",
            r.0.len()
        )));
    }
    let mut addrs = Vec::with_capacity(count as usize);
    for i in 0..count {
        match r.byte("an address pointer")? {
            0x00 => continue, // nil, skipped as Go's reactor does
            0x01 => {}
            other => {
                return Err(bad(format!(
                    "address {i}: pointer byte {other:#04x} (01 or 00 expected)"
                )))
            }
        }
        let len = r.varint("an IP length")?;
        let ip: std::net::IpAddr = match len {
            4 => <[u8; 4]>::try_from(r.take(4, "an IPv4 address")?)
                .map(std::net::IpAddr::from)
                .map_err(|_| bad("an IPv4 address".into()))?,
            16 => <[u8; 16]>::try_from(r.take(16, "an IPv6 address")?)
                .map(std::net::IpAddr::from)
                .map_err(|_| bad("an IPv6 address".into()))?,
            other => {
                return Err(bad(format!(
                    "address {i}: an IP of {other} bytes (4 or 16 expected)"
                )))
            }
        };
        let port = r.take(2, "a port")?;
        addrs.push(NetAddress::new(ip, u16::from_be_bytes([port[0], port[1]])));
    }
    Ok(addrs)
}

fn bad(why: String) -> Error {
    Error::Malformed(format!("PEX message: {why}"))
}

/// What is left of the message.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Error> {
        if self.0.len() < n {
            return Err(bad(format!("it ends inside {what}")));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self, what: &str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }

    fn varint(&mut self, what: &str) -> Result<i64, Error> {
        match decode_varint(self.0)? {
            Some((v, used)) => {
                self.0 = &self.0[used..];
                Ok(v)
            }
            None => Err(bad(format!("it ends inside {what}"))),
        }
    }
}

#[cfg(test)]
mod tests;
