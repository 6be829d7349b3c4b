//! CometBFT's frames (Go's `secret_connection.go` `Write` and `Read`): `LE32(len) ||
//! chunk || padding` (1028 bytes) sealed with ChaCha20-Poly1305 (RFC 8439) into
//! `ciphertext(1028) || tag(16)` = 1044 bytes, under a 12-byte nonce that counts frames.
//! This is CometBFT's [`FrameFormat`]; the shared engine (`crate::sealed_stream`) does
//! the rest. Pure.

use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::ChaCha20Poly1305;

use super::nonce::Nonce;
use crate::error::SecretError;
use crate::sealed_stream::frame::{open_each, seal_each};
use crate::sealed_stream::{FrameFormat, Sealed};

/// Bytes of the little-endian length in front of each frame's data.
pub(crate) const DATA_LEN_SIZE: usize = 4;
/// Size of a frame on the wire: the encrypted 1028 bytes and the 16-byte tag.
#[cfg(test)]
pub(crate) const SEALED_FRAME_SIZE: usize = <ChaChaCipher as FrameFormat>::SEALED_FRAME_SIZE;

/// One direction's ChaCha20-Poly1305 cipher. The key is wiped when it is dropped.
pub(crate) struct ChaChaCipher {
    aead: ChaCha20Poly1305,
}

impl ChaChaCipher {
    /// A cipher keyed with one direction's 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        ChaChaCipher {
            aead: ChaCha20Poly1305::new(key.into()),
        }
    }
}

/// `LE32(len)` in front, the tag last, the nonce `00000000 || LE64(counter)`.
impl FrameFormat for ChaChaCipher {
    const TAG_FIRST: bool = false;
    const LEN_SIZE: usize = DATA_LEN_SIZE;
    type Nonce = Nonce;
    type Aead = ChaCha20Poly1305;

    fn aead(&self) -> &ChaCha20Poly1305 {
        &self.aead
    }

    fn aead_nonce(nonce: &Nonce) -> chacha20poly1305::Nonce {
        nonce.to_bytes().into()
    }

    fn write_len(len: usize, head: &mut [u8]) {
        head.copy_from_slice(&(len as u32).to_le_bytes());
    }

    fn read_len(head: &[u8]) -> u64 {
        let mut b = [0u8; DATA_LEN_SIZE];
        b.copy_from_slice(head);
        u32::from_le_bytes(b).into()
    }

    fn length_error(len: u64) -> SecretError {
        SecretError::FrameTooLong(u32::try_from(len).unwrap_or(u32::MAX))
    }

    fn seal_frames(&self, nonce: &mut Nonce, slots: &mut [u8]) -> Sealed {
        seal_each(self, nonce, slots)
    }

    fn open_frames(&self, nonce: &mut Nonce, slots: &mut [u8]) -> Sealed {
        open_each(self, nonce, slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealed_stream::frame::{open, seal};

    #[test]
    fn seal_open_round_trip_tamper_and_length() {
        let c = ChaChaCipher::new(&[3u8; 32]);
        let n = Nonce::new(7);
        let mut f = [0u8; SEALED_FRAME_SIZE];
        seal(&c, &n, b"hello", &mut f).unwrap();
        let copy = f;
        let r = open(&c, &n, &mut f).unwrap();
        assert_eq!(&f[r], b"hello");
        for pos in [0, 3, 4, 1027, 1028, SEALED_FRAME_SIZE - 1] {
            let mut g = copy;
            g[pos] ^= 1;
            assert_eq!(open(&c, &n, &mut g), Err(SecretError::FrameAuthFailed));
            assert_eq!(
                g[..],
                {
                    let mut h = copy;
                    h[pos] ^= 1;
                    h
                }[..],
                "a failed open leaves the frame alone"
            );
        }
        let mut h = copy;
        assert_eq!(
            open(&c, &Nonce::new(8), &mut h),
            Err(SecretError::FrameAuthFailed)
        );
        assert_eq!(
            seal(&c, &n, &[0u8; 1025], &mut f),
            Err(SecretError::FrameTooLong(1025))
        );
    }
}
