//! [`PeerId`]: a node's identity, shared by every floor (the SecretConnection proves
//! it, the switch keys its peers by it).

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A node's identity: its 32-byte public key. Shown as 64 upper-case hex digits, the way
/// Go prints a peer key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 32]);

impl PeerId {
    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
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

impl FromStr for PeerId {
    type Err = Error;

    /// Parses exactly 64 hex digits, either case (what [`Display`](fmt::Display) prints,
    /// and Go's `PubKey.KeyString()`). Nothing else: no sign, no prefix, no whitespace.
    ///
    /// Errors: [`Error::InvalidPeerId`] saying what is wrong.
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(PeerId(parse_hex(s)?))
    }
}

/// Exactly `2 * N` hex digits, either case, as `N` bytes. Nothing else: no sign, no
/// prefix, no whitespace.
///
/// Errors: [`Error::InvalidPeerId`] saying what is wrong.
pub(crate) fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], Error> {
    let bad = |why: String| Err(Error::InvalidPeerId(why));
    if s.len() != 2 * N {
        return bad(format!(
            "{} characters, expected {} hex digits",
            s.len(),
            2 * N
        ));
    }
    let mut out = [0u8; N];
    for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
        match (hex_digit(pair[0]), hex_digit(pair[1])) {
            (Some(hi), Some(lo)) => out[i] = hi << 4 | lo,
            _ => {
                let at = 2 * i + usize::from(hex_digit(pair[0]).is_some());
                return bad(format!("not a hex digit at position {at}"));
            }
        }
    }
    Ok(out)
}

/// The value of one ASCII hex digit.
fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
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
    fn peer_id_prints_upper_hex_and_parses_it_back() {
        let id = PeerId(std::array::from_fn(|i| (i * 37) as u8));
        let s = id.to_string();
        assert_eq!(s.len(), 64);
        assert!(s
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_eq!(s.parse::<PeerId>().unwrap(), id);
        assert_eq!(s.to_lowercase().parse::<PeerId>().unwrap(), id);
    }

    #[test]
    fn only_exactly_64_hex_digits_parse() {
        let ok = "ab".repeat(32);
        for bad in [
            String::new(),
            "abc".to_string(),
            format!("{ok}0"),
            format!(" {}", &ok[1..]),
            format!("+0{}", &ok[2..]),
            format!("0x{}", &ok[2..]),
            format!("{}-1", &ok[..62]),
            format!("{}é", &ok[..62]),
            format!("{}g0", &ok[..62]),
        ] {
            let e = bad.parse::<PeerId>().expect_err(&bad);
            assert!(matches!(e, Error::InvalidPeerId(_)), "{bad:?}: {e:?}");
        }
        let e = format!("+0{}", &ok[2..]).parse::<PeerId>().unwrap_err();
        assert!(e.to_string().contains("position 0"), "{e}");
    }
}
