//! What a family's frames look like ([`FrameFormat`], [`FrameNonce`]) and the sizes both
//! families share: the seam between the shared engine and each family's cipher.

use aead::consts::U16;
use aead::AeadInPlace;

use crate::error::SecretError;

/// Most data bytes in one frame, in both families.
pub(crate) const DATA_MAX_SIZE: usize = 1024;

/// Bytes of the Poly1305 tag of a sealed frame, in both families.
pub(crate) const TAG_SIZE: usize = 16;

/// What one family's frames look like: the AEAD, the nonce, the length header and where
/// the tag goes. A value of it is one direction's keyed cipher (the key is wiped when
/// it is dropped).
///
/// A plaintext frame is `length header || data (<= 1024) || padding`
/// ([`PLAIN_FRAME_SIZE`](Self::PLAIN_FRAME_SIZE) bytes), sealed with no associated
/// data into [`SEALED_FRAME_SIZE`](Self::SEALED_FRAME_SIZE) bytes: the encrypted frame
/// and its 16-byte tag, in the order [`TAG_FIRST`](Self::TAG_FIRST) says.
pub(crate) trait FrameFormat: Sized + Send + 'static {
    /// The AEAD that seals each frame.
    type Aead: AeadInPlace<TagSize = U16> + Send + 'static;
    /// One direction's nonce: the frame counter.
    type Nonce: FrameNonce;

    /// Bytes of the data length at the head of each plaintext frame.
    const LEN_SIZE: usize;
    /// Whether the tag comes before the encrypted frame (NaCl's secretbox) or after it
    /// (the IETF AEAD construction).
    const TAG_FIRST: bool;
    /// Bytes of a plaintext frame: the length, the data and the padding.
    const PLAIN_FRAME_SIZE: usize = Self::LEN_SIZE + DATA_MAX_SIZE;
    /// Bytes of a sealed frame on the wire.
    const SEALED_FRAME_SIZE: usize = Self::PLAIN_FRAME_SIZE + TAG_SIZE;

    /// The keyed AEAD.
    #[cfg_attr(not(feature = "cometbft"), allow(dead_code))] // CometBFT's, frame by frame
    fn aead(&self) -> &Self::Aead;

    /// The AEAD's nonce for the frame counter `nonce`.
    #[cfg_attr(not(feature = "cometbft"), allow(dead_code))] // CometBFT's, frame by frame
    fn aead_nonce(nonce: &Self::Nonce) -> aead::Nonce<Self::Aead>;

    /// Writes `len` (at most 1024, checked by the caller) into the
    /// [`LEN_SIZE`](Self::LEN_SIZE) bytes `head`.
    fn write_len(len: usize, head: &mut [u8]);

    /// Reads the length that `head` ([`LEN_SIZE`](Self::LEN_SIZE) bytes) declares.
    fn read_len(head: &[u8]) -> u64;

    /// The error for a declared (or offered) data length over 1024.
    fn length_error(len: u64) -> SecretError;

    /// Seals in place the frames `slots` (whole `SEALED_FRAME_SIZE` slots whose bodies
    /// hold their padded plaintext), the first under `*nonce`, advancing `nonce` once per
    /// frame (before sealing it, so a nonce is never used twice). Returns how many
    /// frames were sealed and, if that is not all, why not. `frame::seal_each` seals one
    /// frame at a time; a family may seal several at once.
    fn seal_frames(&self, nonce: &mut Self::Nonce, slots: &mut [u8]) -> Sealed;

    /// Authenticates and decrypts in place the sealed frames `slots` (whole
    /// `SEALED_FRAME_SIZE` slots), the first under `*nonce`, advancing `nonce` once per
    /// frame, in order: stops at the first that does not open, leaving it and those
    /// after it as they were. Returns how many frames were opened and, if that is not
    /// all, why not. Declared lengths are not checked (`frame::chunk` does).
    /// `frame::open_each` opens one frame at a time; a family may open several at once.
    fn open_frames(&self, nonce: &mut Self::Nonce, slots: &mut [u8]) -> Sealed;
}

/// How many frames [`FrameFormat::seal_frames`] or [`FrameFormat::open_frames`] did,
/// and why it stopped short, if it did.
pub(crate) type Sealed = (usize, Option<SecretError>);

/// A frame counter.
pub(crate) trait FrameNonce: Copy + Send + 'static {
    /// Moves to the next frame's nonce.
    ///
    /// Errors: [`SecretError::NonceExhausted`] if the counter would wrap; the nonce is
    /// then unchanged.
    #[cfg_attr(not(feature = "cometbft"), allow(dead_code))] // CometBFT's, frame by frame
    fn advance(&mut self) -> Result<(), SecretError>;
}
