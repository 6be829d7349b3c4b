//! The first, plaintext message of the handshake: our ephemeral X25519 key as a
//! delimited `BytesValue` (`shareEphPubKey`, `secret_connection.go:299-333`). Pure.

use prost::Message;

use super::proto::BytesValue;
use crate::error::SecretError;

/// Size of the message on the wire: `22 0a 20 <32-byte key>`.
pub(crate) const EPH_MSG_SIZE: usize = 35;

/// The delimited message carrying `key`: `uvarint(34) || 0a 20 || key`.
pub(crate) fn encode(key: &[u8; 32]) -> [u8; EPH_MSG_SIZE] {
    let mut out = [0u8; EPH_MSG_SIZE];
    out[..3].copy_from_slice(&[0x22, 0x0a, 0x20]);
    out[3..].copy_from_slice(key);
    out
}

/// The key in a message body (the bytes after the length prefix).
///
/// Stricter than Go, as tendermint-rs is: Go pads a short key with zeros and cuts a long
/// one; we refuse both (an honest peer always sends 32 bytes).
///
/// Errors: [`SecretError::BadEphemeralMessage`] if `body` is not a `BytesValue` or its
/// value is not 32 bytes.
pub(crate) fn decode(body: &[u8]) -> Result<[u8; 32], SecretError> {
    let msg = BytesValue::decode(body)
        .map_err(|e| SecretError::BadEphemeralMessage(format!("not a BytesValue: {e}")))?;
    let len = msg.value.len();
    msg.value.try_into().map_err(|_| {
        SecretError::BadEphemeralMessage(format!("the key is {len} bytes, expected 32"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_shapes() {
        let key = [7u8; 32];
        let msg = encode(&key);
        assert_eq!(decode(&msg[1..]), Ok(key));
        assert!(matches!(
            decode(&msg[1..34]),
            Err(SecretError::BadEphemeralMessage(_))
        ));
        // Field 1 as a varint (wire type 0) instead of bytes.
        assert!(matches!(
            decode(&[0x08, 0x01]),
            Err(SecretError::BadEphemeralMessage(_))
        ));
        // An empty message is a BytesValue with no key.
        assert!(matches!(
            decode(&[]),
            Err(SecretError::BadEphemeralMessage(_))
        ));
        // A 33-byte key.
        let mut long = vec![0x0a, 0x21];
        long.extend([1u8; 33]);
        assert!(matches!(
            decode(&long),
            Err(SecretError::BadEphemeralMessage(_))
        ));
        // Unknown fields are skipped, as protobuf says.
        let mut extra = msg[1..].to_vec();
        extra.extend([0x10, 0x05]);
        assert_eq!(decode(&extra), Ok(key));
    }
}
