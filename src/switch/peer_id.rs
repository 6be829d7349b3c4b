//! [`PeerId`]: a node's identity.

use std::fmt;

/// A node's identity: its 32-byte public key. Shown as 64 upper-case hex digits, the way
/// Go prints a peer key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 32]);

impl PeerId {
    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<PeerId> {
        let s = s.trim();
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(PeerId(out))
    }

    /// A short form for logs: the first 12 hex digits.
    pub fn short(&self) -> String {
        self.to_string()[..12].to_string()
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_is_upper_hex() {
        let id = PeerId([0xAB; 32]);
        assert_eq!(id.to_string(), "AB".repeat(32));
        assert_eq!(PeerId::from_hex(&"ab".repeat(32)), Some(id));
        assert_eq!(PeerId::from_hex("abc"), None);
    }
}
