//! NaCl's `crypto_secretbox` (XSalsa20-Poly1305) in place, with the multi-block
//! keystream of [`XSalsa20`] and the Poly1305 of
//! [`poly1305_donna`](super::poly1305_donna): the first 32 keystream bytes are the
//! Poly1305 key, the message is XORed with the keystream from byte 32 on, and the tag is Poly1305 of the
//! ciphertext. Byte for byte what `crypto_secretbox::XSalsa20Poly1305` and libsodium
//! produce, with the tag kept apart (the SecretConnection sends `tag || ciphertext`).

use std::cell::Cell;
use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::backend::Backend;
use super::poly1305_donna::Poly1305;
use super::xsalsa20::{subkey, XSalsa20};

pub(crate) mod many;

/// Size of the Poly1305 tag.
pub(crate) const TAG_SIZE: usize = 16;

/// Size of the secretbox key.
pub(crate) const KEY_SIZE: usize = 32;

/// Size of the XSalsa20 nonce.
pub(crate) const NONCE_SIZE: usize = 24;

/// A Poly1305 tag.
pub(crate) type Tag = [u8; TAG_SIZE];

/// A sealed message did not authenticate: altered, or sealed under another key or
/// nonce. Says nothing more, on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuthError;

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("secretbox authentication failed")
    }
}

impl std::error::Error for AuthError {}

/// XSalsa20-Poly1305 under one 32-byte key, with the widest build of the Salsa20 core
/// the CPU runs. The key and the kept subkey are wiped on drop and never shown by
/// `Debug`.
pub(crate) struct SecretBox {
    key: [u8; KEY_SIZE],
    backend: Backend,
    /// The first 16 bytes of the last nonce and their XSalsa20 subkey (HSalsa20 of the
    /// key and those bytes). A SecretConnection's nonces count up in their last bytes,
    /// so its frames share one subkey for 2^64 frames: HSalsa20 once, not per frame.
    subkey: Cell<Option<([u8; 16], [u8; 32])>>,
}

impl SecretBox {
    /// A secretbox keyed with `key`.
    pub(crate) fn new(key: &[u8; KEY_SIZE]) -> Self {
        Self::with_backend(key, Backend::detect())
    }

    /// A secretbox keyed with `key` that computes its keystream with `backend` (the
    /// tests force each build in turn).
    pub(crate) fn with_backend(key: &[u8; KEY_SIZE], backend: Backend) -> Self {
        SecretBox {
            key: *key,
            backend,
            subkey: Cell::new(None),
        }
    }

    /// The subkey for `nonce`: the kept one if the nonce's first 16 bytes are the last
    /// nonce's, else computed and kept.
    fn subkey(&self, nonce: &[u8; NONCE_SIZE]) -> [u8; 32] {
        let mut head = [0u8; 16];
        head.copy_from_slice(&nonce[..16]);
        if let Some((kept, subkey)) = self.subkey.get() {
            if kept == head {
                return subkey;
            }
        }
        // Overwrites the subkey kept before, if any.
        let subkey = subkey(&self.key, nonce);
        self.subkey.set(Some((head, subkey)));
        subkey
    }

    /// Encrypts `buf` in place under `nonce` and returns the tag of the ciphertext.
    /// `buf` may have any length (a SecretConnection frame is 1026 bytes). Never use a
    /// nonce twice with one key.
    pub(crate) fn seal_in_place(&self, nonce: &[u8; NONCE_SIZE], buf: &mut [u8]) -> Tag {
        let mut subkey = self.subkey(nonce);
        let tag = match self.backend.lanes() {
            16 => seal_in_place::<16>(self.backend, &subkey, nonce, buf),
            8 => seal_in_place::<8>(self.backend, &subkey, nonce, buf),
            _ => seal_in_place::<4>(self.backend, &subkey, nonce, buf),
        };
        subkey.zeroize();
        tag
    }

    /// Checks `tag` against the ciphertext `buf` sealed under `nonce`, then decrypts
    /// `buf` in place. The comparison is constant time.
    ///
    /// Errors: [`AuthError`] if the tag does not match; `buf` is then left as it was.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_SIZE],
        buf: &mut [u8],
        tag: &Tag,
    ) -> Result<(), AuthError> {
        let mut subkey = self.subkey(nonce);
        let opened = match self.backend.lanes() {
            16 => open_in_place::<16>(self.backend, &subkey, nonce, buf, tag),
            8 => open_in_place::<8>(self.backend, &subkey, nonce, buf, tag),
            _ => open_in_place::<4>(self.backend, &subkey, nonce, buf, tag),
        };
        subkey.zeroize();
        opened
    }
}

/// The keystream for `nonce` (whose XSalsa20 subkey is `subkey`) positioned at byte 32,
/// and Poly1305 keyed with keystream bytes 0..32 (secretbox's layout).
pub(crate) fn start<const N: usize>(
    backend: Backend,
    subkey: &[u8; 32],
    nonce: &[u8; NONCE_SIZE],
) -> (XSalsa20<N>, Poly1305) {
    let mut stream = XSalsa20::<N>::with_subkey(backend, subkey, nonce);
    // The first batch: Poly1305 key, then the start of the message.
    stream.fill_batch();
    let mut mac_key = [0u8; 32];
    stream.apply_keystream(&mut mac_key);
    let mac = Poly1305::with_backend(&mac_key, backend);
    mac_key.zeroize();
    (stream, mac)
}

/// Messages up to this size are sealed in two passes (keystream, then Poly1305); longer
/// ones a keystream batch at a time, each batch authenticated while it is in L1.
const IN_ONE_PASS: usize = 4096;

/// [`SecretBox::seal_in_place`] computing `N` keystream blocks at a time, in one pass:
/// each batch of keystream is XORed in and the whole 64-byte groups encrypted so far go
/// through Poly1305 while they are in L1; the last partial 16-byte block is padded as
/// Poly1305 pads a message's end.
pub(crate) fn seal_in_place<const N: usize>(
    backend: Backend,
    subkey: &[u8; 32],
    nonce: &[u8; NONCE_SIZE],
    buf: &mut [u8],
) -> Tag {
    let (mut stream, mut mac) = start::<N>(backend, subkey, nonce);
    if buf.len() <= IN_ONE_PASS {
        // Small enough to stay in L1 between the passes, and one long stretch suits
        // the four-lane Poly1305 better than a batch's worth at a time.
        stream.apply_keystream(buf);
        return mac.finish(buf);
    }
    let whole = buf.len() - buf.len() % 16;
    let mut encrypted = 0;
    let mut authenticated = 0;
    // The first batch gave its first 32 bytes to the Poly1305 key; its rest and then
    // whole batches follow, so each step ends on a batch boundary.
    let mut step = XSalsa20::<N>::BATCH - 32;
    while encrypted < buf.len() {
        let end = buf.len().min(encrypted + step);
        stream.apply_keystream(&mut buf[encrypted..end]);
        encrypted = end;
        step = XSalsa20::<N>::BATCH;
        let upto = if end == buf.len() {
            whole
        } else {
            end - end % 64
        };
        mac.update_blocks(&buf[authenticated..upto]);
        authenticated = upto;
    }
    mac.finish(&buf[whole..])
}

/// [`SecretBox::open_in_place`] computing `N` keystream blocks at a time: authenticate
/// first, decrypt only if the tag matches (so a forged frame is never decrypted).
pub(crate) fn open_in_place<const N: usize>(
    backend: Backend,
    subkey: &[u8; 32],
    nonce: &[u8; NONCE_SIZE],
    buf: &mut [u8],
    tag: &Tag,
) -> Result<(), AuthError> {
    let (mut stream, mac) = start::<N>(backend, subkey, nonce);
    let expected = mac.finish(buf);
    if !bool::from(expected.ct_eq(tag)) {
        return Err(AuthError);
    }
    stream.apply_keystream(buf);
    Ok(())
}

impl Drop for SecretBox {
    fn drop(&mut self) {
        self.key.zeroize();
        if let Some((_, subkey)) = self.subkey.get_mut() {
            subkey.zeroize();
        }
    }
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBox")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}
