//! Tests of the SecretConnection that need its crypto steps, which are not public API:
//! the bytes recorded from Go v0.12.1 (`vectors`, `replay`) and hostile peers
//! (`hostile_frames`, `hostile_handshake`, over the hand-made peer of `hostile_peer`);
//! frames sealed and opened several at a time, against one at a time (`many_stream`);
//! and vectored writes against plain ones (`vectored`).

mod hostile_frames;
mod hostile_handshake;
mod hostile_peer;
mod many_stream;
mod replay;
mod support;
mod vector_file;
mod vectored;
mod vectors;
