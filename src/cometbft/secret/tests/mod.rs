//! Tests of CometBFT's SecretConnection that need its private steps: the upstream and
//! third-party vectors (`vectors`), the self-generated session replayed (`session`),
//! hostile peers (`hostile`, over the hand-made peer of `peer`), and the ZIP-215
//! verifier against ed25519-consensus and ed25519-dalek (`zip215`).

mod hostile;
mod pair;
mod peer;
mod rate;
mod session;
mod support;
mod vectors;
mod zip215;
