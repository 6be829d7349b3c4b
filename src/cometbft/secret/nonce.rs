//! The 12-byte frame nonce: four zero bytes, then a little-endian 64-bit counter that
//! advances by 1 per frame (Go's `incrNonce`). Pure.

use crate::error::SecretError;
use crate::sealed_stream::FrameNonce;

/// Size of a frame nonce (ChaCha20-Poly1305's).
pub(crate) const NONCE_SIZE: usize = 12;

/// A frame nonce. Each direction has its own key, so both start at zero.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Nonce(u64);

impl Nonce {
    /// The nonce whose counter is `counter`.
    #[cfg(test)]
    pub fn new(counter: u64) -> Self {
        Nonce(counter)
    }

    /// The nonce's bytes: `00 00 00 00 || LE64(counter)`.
    pub fn to_bytes(self) -> [u8; NONCE_SIZE] {
        let mut b = [0u8; NONCE_SIZE];
        b[4..].copy_from_slice(&self.0.to_le_bytes());
        b
    }
}

impl FrameNonce for Nonce {
    /// Adds 1 to the counter.
    ///
    /// Errors: [`SecretError::NonceExhausted`] if the counter is already 2^64 - 1 (Go
    /// panics there); the nonce is then unchanged.
    fn advance(&mut self) -> Result<(), SecretError> {
        self.0 = self.0.checked_add(1).ok_or(SecretError::NonceExhausted)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_in_the_last_eight_bytes_little_endian() {
        let mut n = Nonce::default();
        assert_eq!(n.to_bytes(), [0u8; NONCE_SIZE]);
        n.advance().unwrap();
        assert_eq!(n.to_bytes(), [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        let mut n = Nonce::new(0x1ff);
        n.advance().unwrap();
        assert_eq!(n.to_bytes(), [0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn refuses_to_wrap() {
        let mut n = Nonce::new(u64::MAX);
        assert_eq!(n.advance(), Err(SecretError::NonceExhausted));
        assert_eq!(n, Nonce::new(u64::MAX));
        let mut n = Nonce::new(u64::MAX - 1);
        assert_eq!(n.advance(), Ok(()));
    }
}
