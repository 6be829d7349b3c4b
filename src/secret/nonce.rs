//! The 24-byte frame nonce: a 192-bit big-endian counter that advances by 2 per frame.

use std::fmt;

use crate::error::SecretError;
use crate::sealed_stream::FrameNonce;

/// Size of a frame nonce.
pub(crate) const NONCE_SIZE: usize = 24;

/// A frame nonce. Each direction of a connection has its own; they start one apart and
/// both advance by 2 per frame, so the two directions never use the same nonce.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Nonce([u8; NONCE_SIZE]);

impl Nonce {
    /// A nonce from its 24 bytes.
    pub fn new(bytes: [u8; NONCE_SIZE]) -> Self {
        Nonce(bytes)
    }

    /// The nonce's bytes.
    pub fn as_bytes(&self) -> &[u8; NONCE_SIZE] {
        &self.0
    }

    /// Adds 2, treating the 24 bytes as one big-endian integer with carry (Go's
    /// `incr2Nonce`).
    ///
    /// Errors: [`SecretError::NonceExhausted`] if the counter would wrap past 2^192. Go
    /// wraps around (and would reuse nonces); we refuse. The nonce is then unchanged.
    pub fn advance(&mut self) -> Result<(), SecretError> {
        let mut next = self.0;
        let mut carry = 2u16;
        for b in next.iter_mut().rev() {
            if carry == 0 {
                break;
            }
            let sum = u16::from(*b) + carry;
            *b = sum as u8;
            carry = sum >> 8;
        }
        if carry != 0 {
            return Err(SecretError::NonceExhausted);
        }
        self.0 = next;
        Ok(())
    }
}

impl FrameNonce for Nonce {
    fn advance(&mut self) -> Result<(), SecretError> {
        Nonce::advance(self)
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nonce(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(tail: &[u8]) -> Nonce {
        let mut b = [0u8; NONCE_SIZE];
        b[NONCE_SIZE - tail.len()..].copy_from_slice(tail);
        Nonce::new(b)
    }

    #[test]
    fn advances_by_two_with_carry() {
        let mut x = n(&[0x01]);
        x.advance().unwrap();
        assert_eq!(x, n(&[0x03]));
        let mut x = n(&[0x00, 0xff]);
        x.advance().unwrap();
        assert_eq!(x, n(&[0x01, 0x01]));
        let mut x = n(&[0x00, 0xff, 0xfe]);
        x.advance().unwrap();
        assert_eq!(x, n(&[0x01, 0x00, 0x00]));
    }

    #[test]
    fn refuses_to_wrap() {
        let mut top = Nonce::new([0xff; NONCE_SIZE]);
        assert_eq!(top.advance(), Err(SecretError::NonceExhausted));
        assert_eq!(top, Nonce::new([0xff; NONCE_SIZE]));
        let mut b = [0xff; NONCE_SIZE];
        b[NONCE_SIZE - 1] = 0xfe;
        let mut x = Nonce::new(b);
        assert_eq!(x.advance(), Err(SecretError::NonceExhausted));
        b[NONCE_SIZE - 1] = 0xfd;
        let mut x = Nonce::new(b);
        assert_eq!(x.advance(), Ok(()));
        assert_eq!(x, Nonce::new([0xff; NONCE_SIZE]));
    }
}
