//! Splitting a TCP-backed [`SecretConnection`] into a [`Transport`] for an MConnection:
//! a reader half and a writer half on two clones of the socket, each owning one
//! direction's nonce, and a closer that shuts the socket down.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use super::connection::SecretConnection;
use super::recv::RecvState;
use super::send::SendState;
use crate::conn::{Transport, TCP_WRITE_TIMEOUT};

/// The recv thread's half: reads and opens frames.
struct SecretReader {
    socket: TcpStream,
    state: RecvState,
}

impl Read for SecretReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.state.read(&mut self.socket, buf)
    }
}

/// The send thread's half: seals and writes frames, resumably.
struct SecretWriter {
    socket: TcpStream,
    state: SendState,
}

impl Write for SecretWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.state.write(&mut self.socket, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.state.flush(&mut self.socket)
    }
}

impl SecretConnection<TcpStream> {
    /// Splits the connection into a [`Transport`] for
    /// [`MConnection::with_transport`](crate::MConnection::with_transport), with a
    /// write timeout of 250 ms ([`TCP_WRITE_TIMEOUT`]). See
    /// [`into_transport_with_write_timeout`](Self::into_transport_with_write_timeout).
    ///
    /// Errors: [`io::Error`] if the socket cannot be cloned or configured.
    pub fn into_transport(self) -> io::Result<Transport> {
        self.into_transport_with_write_timeout(TCP_WRITE_TIMEOUT)
    }

    /// Splits the connection into a [`Transport`]: a reader half and a writer half on
    /// clones of the socket, and a closer that shuts the socket down (both halves stop
    /// blocking). Bytes already read ahead or sealed but unwritten are kept.
    ///
    /// Sets `TCP_NODELAY`, no read timeout (the handshake's deadline no longer applies;
    /// the MConnection's keepalive detects a dead peer), and a write timeout of
    /// `write_timeout` clamped to 1..=250 ms, like [`Transport::tcp`]: a write that times
    /// out is resumed later without losing or repeating a byte.
    ///
    /// Errors: [`io::Error`] if the socket cannot be cloned or configured.
    pub fn into_transport_with_write_timeout(
        self,
        write_timeout: Duration,
    ) -> io::Result<Transport> {
        let SecretConnection {
            stream, send, recv, ..
        } = self;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(None)?;
        let t = write_timeout.clamp(Duration::from_millis(1), TCP_WRITE_TIMEOUT);
        stream.set_write_timeout(Some(t))?;
        let peer_addr = stream.peer_addr().ok();
        let reader = SecretReader {
            socket: stream.try_clone()?,
            state: recv,
        };
        let closer = stream.try_clone()?;
        let writer = SecretWriter {
            socket: stream,
            state: send,
        };
        Ok(Transport::new(reader, writer, move || {
            let _ = closer.shutdown(Shutdown::Both);
        })
        .with_peer_addr(peer_addr))
    }
}
