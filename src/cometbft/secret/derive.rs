//! The handshake's pure derivations (Go's `MakeSecretConnection` between the two
//! exchanges, `secret_connection.go:110-138`): the X25519 secret, the key order, the
//! Merlin transcript and its challenge, and the HKDF-SHA256 keys. No I/O; each is
//! checked against the upstream vectors.

use hkdf::Hkdf;
use merlin::Transcript;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::SecretError;
use crate::sealed_stream::dh::dh_secret;

/// The transcript's label (`secret_connection.go:114`).
const TRANSCRIPT_LABEL: &[u8] = b"TENDERMINT_SECRET_CONNECTION_TRANSCRIPT_HASH";
/// HKDF's info (`:50`).
const HKDF_INFO: &[u8] = b"TENDERMINT_SECRET_CONNECTION_KEY_AND_CHALLENGE_GEN";

/// The 96 bytes of HKDF-SHA256 (no salt, CometBFT's info) of the DH secret.
pub(crate) fn hkdf96(dh: &[u8; 32]) -> Zeroizing<[u8; 96]> {
    let mut okm = Zeroizing::new([0u8; 96]);
    Hkdf::<Sha256>::new(None, dh)
        .expand(HKDF_INFO, &mut okm[..])
        .expect("96 bytes is within HKDF-SHA256's limit of 255 * 32");
    okm
}

/// One side's two keys (Go's `deriveSecrets`): the side whose ephemeral key sorts first
/// receives with `okm[0..32]` and sends with `okm[32..64]`; the other the reverse.
/// `okm[64..96]`, the pre-Merlin challenge, is unused.
pub(crate) fn derive_secrets(dh: &[u8; 32], loc_is_least: bool) -> Keys {
    let okm = hkdf96(dh);
    let mut a = Zeroizing::new([0u8; 32]);
    let mut b = Zeroizing::new([0u8; 32]);
    a.copy_from_slice(&okm[..32]);
    b.copy_from_slice(&okm[32..64]);
    if loc_is_least {
        Keys { recv: a, send: b }
    } else {
        Keys { recv: b, send: a }
    }
}

/// One side's receive and send keys.
pub(crate) struct Keys {
    /// The key of the frames we open.
    pub recv: Zeroizing<[u8; 32]>,
    /// The key of the frames we seal.
    pub send: Zeroizing<[u8; 32]>,
}

/// Everything one side derives from the two ephemeral keys.
pub(crate) struct Derived {
    /// Both directions' keys.
    pub keys: Keys,
    /// The 32 bytes each side signs: the transcript's `SECRET_CONNECTION_MAC`.
    pub challenge: [u8; 32],
}

/// The two ephemeral keys, lowest first, and whether ours is the lowest (`sort32`;
/// with equal keys both sides think theirs is, as in Go).
pub(crate) fn sort_keys<'a>(
    loc: &'a [u8; 32],
    rem: &'a [u8; 32],
) -> (&'a [u8; 32], &'a [u8; 32], bool) {
    if loc <= rem {
        (loc, rem, true)
    } else {
        (rem, loc, false)
    }
}

/// Everything between the two exchanges, for the side whose ephemeral secret is
/// `our_secret` (public key `ours`; the peer's is `theirs`): DH (refusing a low-order
/// key), sort, transcript, keys and challenge.
///
/// Errors: [`SecretError::LowOrderKey`] as for [`dh_secret`].
pub(crate) fn derive_keys(
    our_secret: &[u8; 32],
    ours: &[u8; 32],
    theirs: &[u8; 32],
) -> Result<Derived, SecretError> {
    let (lo, hi, loc_is_least) = sort_keys(ours, theirs);
    let mut t = Transcript::new(TRANSCRIPT_LABEL);
    t.append_message(b"EPHEMERAL_LOWER_PUBLIC_KEY", lo);
    t.append_message(b"EPHEMERAL_UPPER_PUBLIC_KEY", hi);
    let dh = dh_secret(our_secret, theirs)?;
    t.append_message(b"DH_SECRET", &dh[..]);
    let keys = derive_secrets(&dh, loc_is_least);
    let mut challenge = [0u8; 32];
    t.challenge_bytes(b"SECRET_CONNECTION_MAC", &mut challenge);
    Ok(Derived { keys, challenge })
}
