//! One sealed frame: `BE16(len) || chunk || zero padding` (1026 bytes) sealed with
//! XSalsa20-Poly1305 into `tag(16) || ciphertext(1026)` = 1042 bytes (Go's `sc.go`
//! `Write` and `Read`): v0.12's [`FrameFormat`], for the shared sealing engine
//! (`crate::sealed_stream`), which seals and opens in place.

use std::fmt;

use super::nonce::{Nonce, NONCE_SIZE};
use crate::cipher::secretbox::TAG_SIZE;
use crate::cipher::{SecretBox, GROUP};
use crate::error::SecretError;
#[cfg(test)]
use crate::sealed_stream::frame::{open, pad_into, seal};
use crate::sealed_stream::{FrameFormat, Sealed};

/// Bytes of the big-endian length in front of each frame's data.
pub(crate) const DATA_LEN_SIZE: usize = 2;
/// Size of a frame's padded plaintext: length, data and zero padding.
#[cfg(test)]
pub(crate) const TOTAL_FRAME_SIZE: usize = <FrameCipher as FrameFormat>::PLAIN_FRAME_SIZE;
/// Size of a frame on the wire: 16-byte tag and the encrypted 1026 bytes.
#[cfg(test)]
pub(crate) const SEALED_FRAME_SIZE: usize = <FrameCipher as FrameFormat>::SEALED_FRAME_SIZE;

/// The padded plaintext of one frame: `BE16(len) || chunk || zero bytes` (1026 bytes).
///
/// Errors: [`SecretError::FrameLength`] if `chunk` is longer than 1024 bytes.
// The tests' oracle for the in-place path (`pad_into`).
#[cfg(test)]
pub(crate) fn padded_frame(chunk: &[u8]) -> Result<[u8; TOTAL_FRAME_SIZE], SecretError> {
    let mut out = [0u8; TOTAL_FRAME_SIZE];
    pad_into::<FrameCipher>(chunk, &mut out)?;
    Ok(out)
}

/// The connection's secretbox: seals and opens frames with the shared key. The key is
/// wiped when it is dropped and never shown by `Debug`.
pub(crate) struct FrameCipher {
    aead: SecretBox,
}

impl FrameCipher {
    /// A cipher keyed with the 32-byte shared secret.
    pub fn new(shared: &[u8; 32]) -> Self {
        FrameCipher {
            aead: SecretBox::new(shared),
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
        seal(self, nonce, chunk, out)
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
        let range = open(self, nonce, sealed)?;
        Ok(&sealed[range])
    }
}

/// Go's `sc.go` `Write` and `Read`: `BE16(len) || chunk || zero padding` (1026 bytes)
/// sealed with XSalsa20-Poly1305 into `tag(16) || ciphertext(1026)` = 1042 bytes, the
/// 24-byte nonce advancing by 2 per frame.
impl FrameFormat for FrameCipher {
    type Aead = SecretBox;
    type Nonce = Nonce;
    const LEN_SIZE: usize = DATA_LEN_SIZE;
    const TAG_FIRST: bool = true;

    fn aead(&self) -> &SecretBox {
        &self.aead
    }

    fn aead_nonce(nonce: &Nonce) -> aead::Nonce<SecretBox> {
        (*nonce.as_bytes()).into()
    }

    fn write_len(len: usize, head: &mut [u8]) {
        head.copy_from_slice(&(len as u16).to_be_bytes());
    }

    fn read_len(head: &[u8]) -> u64 {
        u64::from(u16::from_be_bytes([head[0], head[1]]))
    }

    fn length_error(len: u64) -> SecretError {
        SecretError::FrameLength(u16::try_from(len).unwrap_or(u16::MAX))
    }

    /// Up to [`GROUP`] frames at a time ([`SecretBox::seal_many`]: their last keystream
    /// blocks share batches), the same bytes as one at a time.
    fn seal_frames(&self, nonce: &mut Nonce, slots: &mut [u8]) -> Sealed {
        in_groups(nonce, slots, |group| {
            let n = group.len;
            let mut tags = [[0u8; TAG_SIZE]; GROUP];
            self.aead
                .seal_many(&group.nonces[..n], &mut group.bodies[..n], &mut tags[..n]);
            for (out, tag) in group.tags.iter_mut().zip(&tags[..n]) {
                out.copy_from_slice(tag);
            }
            Ok(())
        })
    }

    /// Up to [`GROUP`] frames at a time ([`SecretBox::open_many`]), in order, as one at
    /// a time.
    fn open_frames(&self, nonce: &mut Nonce, slots: &mut [u8]) -> Sealed {
        in_groups(nonce, slots, |group| {
            let n = group.len;
            let mut tags = [[0u8; TAG_SIZE]; GROUP];
            for (tag, given) in tags.iter_mut().zip(&group.tags[..n]) {
                tag.copy_from_slice(given);
            }
            self.aead
                .open_many(&group.nonces[..n], &mut group.bodies[..n], &tags[..n])
                .map_err(|(i, _)| (i, SecretError::FrameAuthFailed))
        })
    }
}

/// `step` on each [`Group`] of `slots` in turn, until one fails (at the frame it says)
/// or the counter runs out. Returns the frames done and why it stopped short, if it did.
fn in_groups(
    nonce: &mut Nonce,
    slots: &mut [u8],
    mut step: impl FnMut(&mut Group<'_>) -> Result<(), (usize, SecretError)>,
) -> Sealed {
    let mut done = 0;
    for slots in slots.chunks_mut(GROUP * FrameCipher::SEALED_FRAME_SIZE) {
        let mut group = Group::new(nonce, slots);
        if let Err((i, e)) = step(&mut group) {
            return (done + i, Some(e));
        }
        done += group.len;
        if group.failed.is_some() {
            return (done, group.failed);
        }
    }
    (done, None)
}

/// Up to [`GROUP`] frame slots, split into tags and bodies, with their nonces: the
/// counter's next ones, advanced once per frame. `failed` is why there are fewer
/// frames than slots (the counter ran out).
struct Group<'a> {
    nonces: [[u8; NONCE_SIZE]; GROUP],
    tags: [&'a mut [u8]; GROUP],
    bodies: [&'a mut [u8]; GROUP],
    len: usize,
    failed: Option<SecretError>,
}

impl<'a> Group<'a> {
    fn new(nonce: &mut Nonce, slots: &'a mut [u8]) -> Self {
        let mut group = Group {
            nonces: [[0; NONCE_SIZE]; GROUP],
            tags: Default::default(),
            bodies: Default::default(),
            len: 0,
            failed: None,
        };
        for slot in slots.chunks_exact_mut(FrameCipher::SEALED_FRAME_SIZE) {
            let this = *nonce;
            // Advance first: a nonce is never used twice.
            if let Err(e) = nonce.advance() {
                group.failed = Some(e);
                break;
            }
            let (tag, body) = slot.split_at_mut(TAG_SIZE);
            group.nonces[group.len] = *this.as_bytes();
            group.tags[group.len] = tag;
            group.bodies[group.len] = body;
            group.len += 1;
        }
        group
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
