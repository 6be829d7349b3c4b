//! One frame of either family, sealed and opened in place (no allocation): the padded
//! plaintext `length || chunk || zero bytes`, encrypted, with its tag where the
//! [`FrameFormat`] puts it. Pure.

use std::ops::Range;

use aead::{AeadInPlace, Tag};

use super::format::{FrameFormat, FrameNonce, Sealed, DATA_MAX_SIZE, TAG_SIZE};
use crate::error::SecretError;

/// Writes the padded plaintext of `chunk` into `out` (`F::PLAIN_FRAME_SIZE` bytes): its
/// length, the chunk, zero bytes.
///
/// Errors: `F::length_error` if `chunk` is longer than 1024 bytes.
// The tests' (the engine gathers a chunk from several slices: `pad_with`).
#[cfg(test)]
pub(crate) fn pad_into<F: FrameFormat>(chunk: &[u8], out: &mut [u8]) -> Result<(), SecretError> {
    pad_with::<F>(chunk.len(), out, |data| data.copy_from_slice(chunk))
}

/// [`pad_into`] for a chunk of `len` bytes that `fill` writes (its argument is `len`
/// bytes long): from several slices, say.
///
/// Errors: `F::length_error` if `len` is over 1024 (`fill` is not called).
pub(crate) fn pad_with<F: FrameFormat>(
    len: usize,
    out: &mut [u8],
    fill: impl FnOnce(&mut [u8]),
) -> Result<(), SecretError> {
    debug_assert_eq!(out.len(), F::PLAIN_FRAME_SIZE);
    if len > DATA_MAX_SIZE {
        return Err(F::length_error(len as u64));
    }
    let (head, rest) = out.split_at_mut(F::LEN_SIZE);
    F::write_len(len, head);
    fill(&mut rest[..len]);
    rest[len..].fill(0);
    Ok(())
}

/// Where the encrypted frame starts inside a sealed one.
fn body_start<F: FrameFormat>() -> usize {
    if F::TAG_FIRST {
        TAG_SIZE
    } else {
        0
    }
}

/// A sealed frame's tag and encrypted body, apart.
pub(crate) fn tag_and_body<F: FrameFormat>(sealed: &mut [u8]) -> (&mut [u8], &mut [u8]) {
    if F::TAG_FIRST {
        sealed.split_at_mut(TAG_SIZE)
    } else {
        let (body, tag) = sealed.split_at_mut(F::PLAIN_FRAME_SIZE);
        (tag, body)
    }
}

/// Seals `chunk` (at most 1024 bytes) into `out`, exactly `F::SEALED_FRAME_SIZE` bytes,
/// under `nonce`.
///
/// Errors: `F::length_error` if `chunk` is longer than 1024 bytes.
// The tests' oracle for the frames the engine seals in place (`FrameFormat::seal_frames`).
#[cfg(test)]
pub(crate) fn seal<F: FrameFormat>(
    cipher: &F,
    nonce: &F::Nonce,
    chunk: &[u8],
    out: &mut [u8],
) -> Result<(), SecretError> {
    debug_assert_eq!(out.len(), F::SEALED_FRAME_SIZE);
    pad_into::<F>(chunk, tag_and_body::<F>(out).1)?;
    seal_padded(cipher, nonce, out)
}

/// Seals in place the frame `slot` (exactly `F::SEALED_FRAME_SIZE` bytes) whose body
/// already holds its padded plaintext ([`pad_into`]), under `nonce`.
#[cfg_attr(not(feature = "cometbft"), allow(dead_code))] // CometBFT's, frame by frame
pub(crate) fn seal_padded<F: FrameFormat>(
    cipher: &F,
    nonce: &F::Nonce,
    slot: &mut [u8],
) -> Result<(), SecretError> {
    debug_assert_eq!(slot.len(), F::SEALED_FRAME_SIZE);
    let (tag_out, body) = tag_and_body::<F>(slot);
    let tag = cipher
        .aead()
        .encrypt_in_place_detached(&F::aead_nonce(nonce), b"", body)
        // Only fails for a message far longer than a frame.
        .map_err(|_| SecretError::FrameAuthFailed)?;
    tag_out.copy_from_slice(&tag);
    Ok(())
}

/// [`FrameFormat::seal_frames`] one frame at a time.
#[cfg_attr(not(feature = "cometbft"), allow(dead_code))] // CometBFT's, frame by frame
pub(crate) fn seal_each<F: FrameFormat>(
    cipher: &F,
    nonce: &mut F::Nonce,
    slots: &mut [u8],
) -> Sealed {
    each::<F>(nonce, slots, |this, slot| seal_padded(cipher, this, slot))
}

/// [`FrameFormat::open_frames`] one frame at a time.
#[cfg_attr(not(feature = "cometbft"), allow(dead_code))] // CometBFT's, frame by frame
pub(crate) fn open_each<F: FrameFormat>(
    cipher: &F,
    nonce: &mut F::Nonce,
    slots: &mut [u8],
) -> Sealed {
    each::<F>(nonce, slots, |this, slot| decrypt(cipher, this, slot))
}

/// `step` on each frame slot in turn under its nonce, the counter advanced first (so a
/// nonce is never used twice), until one fails.
#[cfg_attr(not(feature = "cometbft"), allow(dead_code))] // CometBFT's, frame by frame
fn each<F: FrameFormat>(
    nonce: &mut F::Nonce,
    slots: &mut [u8],
    mut step: impl FnMut(&F::Nonce, &mut [u8]) -> Result<(), SecretError>,
) -> Sealed {
    for (k, slot) in slots.chunks_exact_mut(F::SEALED_FRAME_SIZE).enumerate() {
        let this = *nonce;
        if let Err(e) = nonce.advance().and_then(|()| step(&this, slot)) {
            return (k, Some(e));
        }
    }
    (slots.len() / F::SEALED_FRAME_SIZE, None)
}

/// Opens the sealed frame `sealed` (exactly `F::SEALED_FRAME_SIZE` bytes) in place
/// under `nonce`; returns where its chunk is in `sealed`. The padding is not checked
/// (Go fills it with whatever its buffer held).
///
/// Errors: [`SecretError::FrameAuthFailed`] if the frame was altered or sealed with
/// another key or nonce (the frame is left as it was); `F::length_error` if it decrypts
/// but declares more than 1024 data bytes.
// The tests' oracle for the frames the engine opens in place (`FrameFormat::open_frames`).
#[cfg(test)]
pub(crate) fn open<F: FrameFormat>(
    cipher: &F,
    nonce: &F::Nonce,
    sealed: &mut [u8],
) -> Result<Range<usize>, SecretError> {
    decrypt(cipher, nonce, sealed)?;
    chunk::<F>(sealed)
}

/// Authenticates and decrypts the sealed frame `sealed` in place under `nonce`, its
/// declared length not yet checked ([`chunk`] does).
///
/// Errors: [`SecretError::FrameAuthFailed`] if the frame was altered or sealed with
/// another key or nonce (the frame is left as it was).
#[cfg_attr(not(feature = "cometbft"), allow(dead_code))] // CometBFT's, frame by frame
pub(crate) fn decrypt<F: FrameFormat>(
    cipher: &F,
    nonce: &F::Nonce,
    sealed: &mut [u8],
) -> Result<(), SecretError> {
    debug_assert_eq!(sealed.len(), F::SEALED_FRAME_SIZE);
    let (tag, body) = tag_and_body::<F>(sealed);
    let tag = Tag::<F::Aead>::clone_from_slice(tag);
    cipher
        .aead()
        .decrypt_in_place_detached(&F::aead_nonce(nonce), b"", body, &tag)
        .map_err(|_| SecretError::FrameAuthFailed)
}

/// Where the chunk of a decrypted frame (`F::SEALED_FRAME_SIZE` bytes, as [`decrypt`]
/// left it) is.
///
/// Errors: `F::length_error` if it declares more than 1024 data bytes.
pub(crate) fn chunk<F: FrameFormat>(opened: &[u8]) -> Result<Range<usize>, SecretError> {
    let start = body_start::<F>();
    let len = F::read_len(&opened[start..start + F::LEN_SIZE]);
    if len > DATA_MAX_SIZE as u64 {
        return Err(F::length_error(len));
    }
    let start = start + F::LEN_SIZE;
    Ok(start..start + len as usize)
}
