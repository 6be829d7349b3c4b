//! Splitting a TCP-backed [`SecretConnection`] into a reader half and a writer half on
//! two clones of the socket, each owning one direction's nonce, and into a [`Transport`]
//! for an MConnection (the halves and a closer that shuts the socket down).

use std::io::{self, Read, Write};
use std::net::TcpStream;

use super::connection::SecretConnection;
use super::frame::FrameCipher;
use crate::sealed_stream::{SealedReader, SealedWriter};
use crate::transport::{Transport, TCP_WRITE_TIMEOUT};

/// The reading half of a split [`SecretConnection`]: reads and opens the peer's frames
/// on its own clone of the socket, with the receiving nonce. Made by
/// [`SecretConnection::split`].
pub struct SecretReader(SealedReader<FrameCipher>);

impl SecretReader {
    /// The socket this half reads from (a clone of the connection's socket; options
    /// such as timeouts are shared by all clones).
    pub fn get_ref(&self) -> &TcpStream {
        self.0.get_ref()
    }
}

impl Read for SecretReader {
    /// As [`SecretConnection`]'s `read`: blocks only when nothing decrypted is buffered;
    /// `Ok(0)` is a clean close between frames; a bad frame is [`crate::Error::Secret`]
    /// inside an `io::Error`, on this and every later call.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// The writing half of a split [`SecretConnection`]: seals and writes frames on its own
/// clone of the socket, with the sending nonce. Made by [`SecretConnection::split`].
///
/// Resumable under a socket write timeout: a `write` that stalls (or that the socket takes
/// only part of, which blocks no longer than one socket write) keeps its sealed bytes
/// and reports them as taken; the next `write` or `flush` writes the rest first (and
/// returns the stall error, taking nothing new, if the socket is still full).
pub struct SecretWriter(SealedWriter<FrameCipher>);

impl SecretWriter {
    /// The socket this half writes to (a clone of the connection's socket; options such
    /// as timeouts are shared by all clones).
    pub fn get_ref(&self) -> &TcpStream {
        self.0.get_ref()
    }
}

impl Write for SecretWriter {
    /// As [`SecretConnection`]'s `write`: seals up to 64 KiB of `buf` into frames of
    /// its own, returns the bytes taken.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    /// Writes every sealed byte, then flushes. A stall error means "call again".
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl SecretConnection<TcpStream> {
    /// Splits the connection into a [`Transport`] for
    /// [`MConnection::with_transport`](crate::MConnection::with_transport), with a
    /// write timeout of 250 ms. See
    /// [`into_transport_with_write_timeout`](Self::into_transport_with_write_timeout).
    ///
    /// Blocks and fails as that method does.
    pub fn into_transport(self) -> io::Result<Transport> {
        self.into_transport_with_write_timeout(TCP_WRITE_TIMEOUT)
    }

    /// Splits the connection into a reading and a writing half, for two threads. Each
    /// half owns one direction's nonce; bytes already read ahead or sealed but unwritten
    /// are kept. Socket options are left as they are.
    ///
    /// Errors: [`io::Error`] if the socket cannot be cloned.
    pub fn split(self) -> io::Result<(SecretReader, SecretWriter)> {
        let (reader, writer) = self.inner.split()?;
        Ok((SecretReader(reader), SecretWriter(writer)))
    }
}
