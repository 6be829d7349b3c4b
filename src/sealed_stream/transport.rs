//! Splitting a TCP-backed [`SealedConnection`] into a reader half and a writer half on
//! two clones of the socket, each owning one direction's nonce, and into a [`Transport`]
//! for an MConnection (the halves and a closer that shuts the socket down).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use super::connection::SealedConnection;
use super::format::FrameFormat;
use super::recv::RecvState;
use super::send::SendState;
use crate::transport::{configure_socket, is_stall, Transport};

/// The reading half of a split connection: reads and opens the peer's frames on its own
/// clone of the socket, with the receiving nonce.
pub(crate) struct SealedReader<F: FrameFormat> {
    socket: TcpStream,
    state: RecvState<F>,
}

impl<F: FrameFormat> SealedReader<F> {
    /// The socket this half reads from.
    #[cfg(feature = "secret-connection")]
    pub fn get_ref(&self) -> &TcpStream {
        &self.socket
    }
}

impl<F: FrameFormat> Read for SealedReader<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.state.read(&mut self.socket, buf)
    }
}

/// The writing half of a split connection: seals and writes frames on its own clone of
/// the socket, with the sending nonce; resumable under a socket write timeout.
pub(crate) struct SealedWriter<F: FrameFormat> {
    socket: TcpStream,
    state: SendState<F>,
}

impl<F: FrameFormat> SealedWriter<F> {
    /// The socket this half writes to.
    #[cfg(feature = "secret-connection")]
    pub fn get_ref(&self) -> &TcpStream {
        &self.socket
    }
}

impl<F: FrameFormat> Write for SealedWriter<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.state.write(&mut self.socket, buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.state.write_vectored(&mut self.socket, bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.state.flush(&mut self.socket)
    }
}

impl<F: FrameFormat> SealedConnection<TcpStream, F> {
    /// Splits the connection into a [`Transport`]: the halves of [`split`](Self::split)
    /// and a closer that shuts the socket down (both halves stop blocking). Sealed bytes
    /// not yet written are written first, or, if the socket is still full, by the
    /// MConnection's first write.
    ///
    /// Sets `TCP_NODELAY`, no read timeout, and a write timeout of `write_timeout`
    /// clamped to 1..=250 ms, like [`Transport::tcp`].
    ///
    /// Errors: [`io::Error`] if the socket cannot be cloned or configured, or writing
    /// the unflushed bytes fails (other than by timing out).
    pub fn into_transport(mut self, write_timeout: Duration) -> io::Result<Transport> {
        let stream = self.get_ref();
        let peer_addr = configure_socket(stream, write_timeout)?;
        let closer = stream.try_clone()?;
        // Bytes left by an unflushed write would otherwise wait for the MConnection's
        // first write; if the socket is still full they do.
        if self.send.has_pending() {
            match self.send.flush(&mut self.stream) {
                Err(e) if !is_stall(&e) => return Err(e),
                _ => {}
            }
        }
        let (reader, writer) = self.split()?;
        let mut transport = Transport::new(reader, writer, move || {
            let _ = closer.shutdown(Shutdown::Both);
        })
        .with_peer_addr(peer_addr);
        // The writer seals straight from the slices of a vectored write, so a large
        // message's chunks need not be copied into the send batch first.
        transport.vectored = true;
        Ok(transport)
    }

    /// Splits the connection into a reading and a writing half, for two threads. Each
    /// half owns one direction's nonce; bytes already read ahead or sealed but unwritten
    /// are kept. Socket options are left as they are.
    ///
    /// Errors: [`io::Error`] if the socket cannot be cloned.
    pub fn split(self) -> io::Result<(SealedReader<F>, SealedWriter<F>)> {
        let reader = SealedReader {
            socket: self.stream.try_clone()?,
            state: self.recv,
        };
        let writer = SealedWriter {
            socket: self.stream,
            state: self.send,
        };
        Ok((reader, writer))
    }
}
