//! [`SecretBox`] as an `aead` crate AEAD, so the shared sealing engine
//! (`crate::sealed_stream`) drives it as it drives any family's cipher: detached
//! tags, no associated data (secretbox has none; the frames never pass any).

use aead::consts::{U0, U16, U24};
use aead::{AeadCore, AeadInPlace, Error, Nonce, Tag};

use super::secretbox::SecretBox;

impl AeadCore for SecretBox {
    type NonceSize = U24;
    type TagSize = U16;
    type CiphertextOverhead = U0;
}

impl AeadInPlace for SecretBox {
    fn encrypt_in_place_detached(
        &self,
        nonce: &Nonce<Self>,
        associated_data: &[u8],
        buffer: &mut [u8],
    ) -> Result<Tag<Self>, Error> {
        if !associated_data.is_empty() {
            return Err(Error);
        }
        Ok(self.seal_in_place(&(*nonce).into(), buffer).into())
    }

    fn decrypt_in_place_detached(
        &self,
        nonce: &Nonce<Self>,
        associated_data: &[u8],
        buffer: &mut [u8],
        tag: &Tag<Self>,
    ) -> Result<(), Error> {
        if !associated_data.is_empty() {
            return Err(Error);
        }
        self.open_in_place(&(*nonce).into(), buffer, &(*tag).into())
            .map_err(|_| Error)
    }
}
