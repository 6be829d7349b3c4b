//! One sealed frame: `BE16(len) || chunk || zero padding` (1026 bytes) sealed with
//! XSalsa20-Poly1305 into `tag(16) || ciphertext(1026)` = 1042 bytes (Go's `sc.go`
//! `Write` and `Read`). Sealing and opening work in place: no allocation.

use std::fmt;

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Tag, XSalsa20Poly1305};

use super::nonce::Nonce;
use crate::error::SecretError;

/// Bytes of the big-endian length in front of each frame's data.
pub(crate) const DATA_LEN_SIZE: usize = 2;
/// Most data bytes in one frame.
pub(crate) const DATA_MAX_SIZE: usize = 1024;
/// Size of a frame's padded plaintext: length, data and zero padding.
pub(crate) const TOTAL_FRAME_SIZE: usize = DATA_LEN_SIZE + DATA_MAX_SIZE;
/// Size of a frame on the wire: 16-byte tag and the encrypted 1026 bytes.
pub(crate) const SEALED_FRAME_SIZE: usize = TOTAL_FRAME_SIZE + 16;

/// Size of the Poly1305 tag in front of each frame.
const TAG_SIZE: usize = SEALED_FRAME_SIZE - TOTAL_FRAME_SIZE;

/// The padded plaintext of one frame: `BE16(len) || chunk || zero bytes` (1026 bytes).
///
/// Errors: [`SecretError::FrameLength`] if `chunk` is longer than 1024 bytes.
// The tests' oracle for the in-place path (`pad_into`).
#[cfg(test)]
pub(crate) fn padded_frame(chunk: &[u8]) -> Result<[u8; TOTAL_FRAME_SIZE], SecretError> {
    let mut out = [0u8; TOTAL_FRAME_SIZE];
    pad_into(chunk, &mut out)?;
    Ok(out)
}

fn frame_length_error(len: usize) -> SecretError {
    SecretError::FrameLength(u16::try_from(len).unwrap_or(u16::MAX))
}

/// Writes the padded plaintext of `chunk` into `out` (1026 bytes).
fn pad_into(chunk: &[u8], out: &mut [u8]) -> Result<(), SecretError> {
    if chunk.len() > DATA_MAX_SIZE {
        return Err(frame_length_error(chunk.len()));
    }
    let len = chunk.len() as u16;
    out[..DATA_LEN_SIZE].copy_from_slice(&len.to_be_bytes());
    out[DATA_LEN_SIZE..DATA_LEN_SIZE + chunk.len()].copy_from_slice(chunk);
    out[DATA_LEN_SIZE + chunk.len()..].fill(0);
    Ok(())
}

/// The connection's secretbox: seals and opens frames with the shared key. The key is
/// wiped when it is dropped and never shown by `Debug`.
pub(crate) struct FrameCipher {
    aead: XSalsa20Poly1305,
}

impl FrameCipher {
    /// A cipher keyed with the 32-byte shared secret.
    pub fn new(shared: &[u8; 32]) -> Self {
        FrameCipher {
            aead: XSalsa20Poly1305::new(shared.into()),
        }
    }

    /// Seals `chunk` (at most 1024 bytes) into one 1042-byte frame under `nonce`.
    ///
    /// Errors: [`SecretError::FrameLength`] if `chunk` is longer than 1024 bytes.
    // The tests' oracle for the in-place path.
    #[cfg(test)]
    pub fn seal(
        &self,
        nonce: &Nonce,
        chunk: &[u8],
        out: &mut [u8; SEALED_FRAME_SIZE],
    ) -> Result<(), SecretError> {
        self.seal_slice(nonce, chunk, out)
    }

    /// [`seal`](Self::seal) into a slice of exactly 1042 bytes.
    pub(crate) fn seal_slice(
        &self,
        nonce: &Nonce,
        chunk: &[u8],
        out: &mut [u8],
    ) -> Result<(), SecretError> {
        debug_assert_eq!(out.len(), SEALED_FRAME_SIZE);
        let (tag_out, body) = out.split_at_mut(TAG_SIZE);
        pad_into(chunk, body)?;
        let tag = self
            .aead
            .encrypt_in_place_detached(nonce.as_bytes().into(), b"", body)
            // Only fails with associated data, and we pass none.
            .map_err(|_| SecretError::FrameAuthFailed)?;
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Opens a sealed frame in place under `nonce` and returns its chunk. The padding
    /// is not checked (as in Go).
    ///
    /// Errors: [`SecretError::FrameAuthFailed`] if the frame was altered or sealed with
    /// another key or nonce (the frame is left as it was); [`SecretError::FrameLength`]
    /// if it decrypts but declares more than 1024 data bytes.
    // The tests' oracle for the in-place path.
    #[cfg(test)]
    pub fn open<'a>(
        &self,
        nonce: &Nonce,
        sealed: &'a mut [u8; SEALED_FRAME_SIZE],
    ) -> Result<&'a [u8], SecretError> {
        let range = self.open_slice(nonce, sealed)?;
        Ok(&sealed[range])
    }

    /// [`open`](Self::open) on a slice of exactly 1042 bytes; returns where the chunk is.
    pub(crate) fn open_slice(
        &self,
        nonce: &Nonce,
        sealed: &mut [u8],
    ) -> Result<std::ops::Range<usize>, SecretError> {
        debug_assert_eq!(sealed.len(), SEALED_FRAME_SIZE);
        let (tag, body) = sealed.split_at_mut(TAG_SIZE);
        let tag = Tag::clone_from_slice(tag);
        self.aead
            .decrypt_in_place_detached(nonce.as_bytes().into(), b"", body, &tag)
            .map_err(|_| SecretError::FrameAuthFailed)?;
        let len = usize::from(u16::from_be_bytes([body[0], body[1]]));
        if len > DATA_MAX_SIZE {
            return Err(frame_length_error(len));
        }
        let start = TAG_SIZE + DATA_LEN_SIZE;
        Ok(start..start + len)
    }
}

impl fmt::Debug for FrameCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameCipher").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let c = FrameCipher::new(&[3u8; 32]);
        let n = Nonce::new([1u8; 24]);
        let mut f = [0u8; SEALED_FRAME_SIZE];
        c.seal(&n, b"hello", &mut f).unwrap();
        let copy = f;
        assert_eq!(c.open(&n, &mut f).unwrap(), b"hello");
        let mut g = copy;
        g[100] ^= 1;
        assert_eq!(c.open(&n, &mut g), Err(SecretError::FrameAuthFailed));
        assert_eq!(
            g[101..],
            copy[101..],
            "a failed open leaves the frame alone"
        );
        let mut h = copy;
        assert_eq!(
            c.open(&Nonce::new([2u8; 24]), &mut h),
            Err(SecretError::FrameAuthFailed)
        );
        assert_eq!(
            c.seal(&n, &[0u8; 1025], &mut f),
            Err(SecretError::FrameLength(1025))
        );
    }
}
