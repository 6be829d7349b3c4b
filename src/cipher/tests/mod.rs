//! The cipher against the RustCrypto crates the frame path uses today (`differential`)
//! and against the frames recorded from Go v0.12.1 (`recorded_frames`); and a hostile
//! review's attacks on the four-lane Poly1305 and the two-pass seal (`wide_hostile`); and
//! sealing and opening several messages at once (`many`), and a hostile review of it
//! (`many_hostile`).

mod differential;
mod many;
mod many_hostile;
mod recorded_frames;
mod wide_hostile;
