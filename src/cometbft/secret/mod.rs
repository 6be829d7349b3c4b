//! CometBFT's SecretConnection (to be written).
