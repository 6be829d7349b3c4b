//! The cipher against the RustCrypto crates the frame path uses today (`differential`)
//! and against the frames recorded from Go v0.12.1 (`recorded_frames`).

mod differential;
mod recorded_frames;
