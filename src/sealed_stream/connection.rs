//! [`SealedConnection`]: what either family's handshake yields, the stream with both
//! directions' sealing state, the peer's proven key and the challenge; its `Read` and
//! `Write`, and borrowed halves for a NodeInfo exchange on two threads.

use std::fmt;
use std::io::{self, Read, Write};

use super::format::FrameFormat;
use super::recv::RecvState;
use super::send::SendState;
use crate::peer_id::PeerId;

/// A handshaken connection of the family `F` over `S`. Each family's public
/// `SecretConnection` wraps one and adds its handshake and its documentation.
pub(crate) struct SealedConnection<S, F: FrameFormat> {
    pub(super) stream: S,
    pub(super) send: SendState<F>,
    pub(super) recv: RecvState<F>,
    remote_pubkey: [u8; 32],
    challenge: [u8; 32],
}

impl<S, F: FrameFormat> SealedConnection<S, F> {
    /// A connection whose handshake derived `send`, `recv` and `challenge`. The peer's
    /// key is not known yet: set it with [`authenticated`](Self::authenticated) once its
    /// signature of the challenge verified.
    pub fn new(stream: S, send: SendState<F>, recv: RecvState<F>, challenge: [u8; 32]) -> Self {
        SealedConnection {
            stream,
            send,
            recv,
            remote_pubkey: [0u8; 32],
            challenge,
        }
    }

    /// The connection with the peer's verified Ed25519 key recorded.
    pub fn authenticated(mut self, remote_pubkey: [u8; 32]) -> Self {
        self.remote_pubkey = remote_pubkey;
        self
    }

    /// The peer's authenticated Ed25519 public key.
    pub fn remote_pubkey(&self) -> [u8; 32] {
        self.remote_pubkey
    }

    /// The peer's id: its authenticated public key.
    pub fn remote_id(&self) -> PeerId {
        PeerId(self.remote_pubkey)
    }

    /// The handshake's challenge: the same 32 bytes on both ends, different for every
    /// connection.
    pub fn challenge(&self) -> [u8; 32] {
        self.challenge
    }

    /// The same connection over another stream type; `f` must return the same byte
    /// stream.
    pub fn map_stream<T>(self, f: impl FnOnce(S) -> T) -> SealedConnection<T, F> {
        SealedConnection {
            stream: f(self.stream),
            send: self.send,
            recv: self.recv,
            remote_pubkey: self.remote_pubkey,
            challenge: self.challenge,
        }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The connection as a reading half and a writing half over a shared `&S`, for one
    /// thread each (both need `&S` to read and write, as `&TcpStream` does), and the
    /// stream itself.
    pub fn halves(&mut self) -> (RecvHalf<'_, S, F>, SendHalf<'_, S, F>, &S) {
        (
            RecvHalf {
                state: &mut self.recv,
                stream: &self.stream,
            },
            SendHalf {
                state: &mut self.send,
                stream: &self.stream,
            },
            &self.stream,
        )
    }
}

impl<S: Read, F: FrameFormat> Read for SealedConnection<S, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv.read(&mut self.stream, buf)
    }
}

impl<S: Write, F: FrameFormat> Write for SealedConnection<S, F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send.write(&mut self.stream, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send.flush(&mut self.stream)
    }
}

impl<S, F: FrameFormat> fmt::Debug for SealedConnection<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretConnection")
            .field("remote_id", &self.remote_id())
            .field("unwritten", &self.send.has_pending())
            .finish_non_exhaustive()
    }
}

/// The reading half of a borrowed connection (see `halves`).
pub(crate) struct RecvHalf<'a, S, F: FrameFormat> {
    state: &'a mut RecvState<F>,
    stream: &'a S,
}

/// The writing half of a borrowed connection (see `halves`).
pub(crate) struct SendHalf<'a, S, F: FrameFormat> {
    state: &'a mut SendState<F>,
    stream: &'a S,
}

impl<S, F: FrameFormat> Read for RecvHalf<'_, S, F>
where
    for<'s> &'s S: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut stream = self.stream;
        self.state.read(&mut stream, buf)
    }
}

impl<S, F: FrameFormat> Write for SendHalf<'_, S, F>
where
    for<'s> &'s S: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut stream = self.stream;
        self.state.write(&mut stream, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        let mut stream = self.stream;
        self.state.flush(&mut stream)
    }
}
