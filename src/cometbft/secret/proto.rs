//! The protobuf messages of the handshake, as prost types: `google.protobuf.BytesValue`
//! (the ephemeral key), `tendermint.crypto.PublicKey` and `tendermint.p2p.AuthSigMessage`
//! (`proto/tendermint/p2p/conn.proto:27-30`, `crypto/keys.proto:9-17`). Decoding follows
//! protobuf's rules as Go's generated code does: fields in any order, the last one wins,
//! unknown fields skipped, a wrong wire type or a truncation an error.

/// `google.protobuf.BytesValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct BytesValue {
    /// The bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub value: Vec<u8>,
}

/// `tendermint.crypto.PublicKey`: a oneof of key types.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PublicKey {
    /// The key, of whichever type was set last.
    #[prost(oneof = "PublicKeySum", tags = "1, 2")]
    pub sum: Option<PublicKeySum>,
}

/// The key types of `tendermint.crypto.PublicKey`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum PublicKeySum {
    /// An Ed25519 key: 32 bytes.
    #[prost(bytes, tag = "1")]
    Ed25519(Vec<u8>),
    /// A secp256k1 key: 33 bytes. Go decodes it, then refuses it for a connection.
    #[prost(bytes, tag = "2")]
    Secp256k1(Vec<u8>),
}

/// `tendermint.p2p.AuthSigMessage`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AuthSigMessage {
    /// The sender's identity key (non-nullable in Go: always written).
    #[prost(message, optional, tag = "1")]
    pub pub_key: Option<PublicKey>,
    /// The sender's signature of the challenge.
    #[prost(bytes = "vec", tag = "2")]
    pub sig: Vec<u8>,
}
