//! The byte stream under an MConnection: a reader half for the recv thread, a writer half
//! for the send thread, and a way to shut both down. A plain `TcpStream` is one; an
//! encrypted stream is another, without the scheduler or the codec knowing.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// Shuts a transport down: both halves stop blocking and fail from now on. Must be
/// idempotent and callable from any thread.
pub type Closer = Box<dyn Fn() + Send + Sync>;

/// The reader, writer and closer of one connection.
///
/// The writer may return `WouldBlock` or `TimedOut` (having written nothing, or a
/// partial count as `Ok`); the connection retries. A writer that times out within a
/// bounded time lets [`send`](crate::MConnection::send) keep its `send_timeout` even when
/// it writes directly on an idle connection.
pub struct Transport {
    pub(crate) reader: Box<dyn Read + Send>,
    pub(crate) writer: Box<dyn Write + Send>,
    pub(crate) closer: Closer,
    pub(crate) peer_addr: Option<SocketAddr>,
    /// The writer takes several slices in one call (a socket's `writev`), so large
    /// payloads need not be copied into the send batch first.
    pub(crate) vectored: bool,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("peer_addr", &self.peer_addr)
            .finish_non_exhaustive()
    }
}

/// Longest a single write to a TCP socket blocks before the connection looks again (at
/// keepalive, at stop, or, for a caller writing directly, hands the rest to the send
/// thread).
pub const TCP_WRITE_TIMEOUT: Duration = Duration::from_millis(250);

impl Transport {
    /// A transport from its parts. `closer` must make blocked reads and writes return.
    pub fn new(
        reader: impl Read + Send + 'static,
        writer: impl Write + Send + 'static,
        closer: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        Transport {
            reader: Box::new(reader),
            writer: Box::new(writer),
            closer: Box::new(closer),
            peer_addr: None,
            vectored: false,
        }
    }

    /// A plain TCP transport. Sets `TCP_NODELAY` (the connection batches writes itself)
    /// and a write timeout of `min(write_timeout, 250 ms)`.
    pub fn tcp(stream: TcpStream, write_timeout: Duration) -> io::Result<Self> {
        let peer_addr = configure_socket(&stream, write_timeout)?;
        // One socket shared by the three: one file descriptor per connection.
        let stream = Arc::new(stream);
        let closer = stream.clone();
        let mut t = Transport::new(Shared(stream.clone()), Shared(stream), move || {
            let _ = closer.shutdown(Shutdown::Both);
        });
        t.peer_addr = peer_addr;
        t.vectored = true;
        Ok(t)
    }

    /// Records the remote address (shown in logs and status).
    pub fn with_peer_addr(mut self, addr: Option<SocketAddr>) -> Self {
        self.peer_addr = addr;
        self
    }

    /// The remote address, if known.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }
}

/// A `TcpStream` shared between the reader and writer halves (`&TcpStream` reads and
/// writes; the kernel keeps the directions apart).
struct Shared(Arc<TcpStream>);

impl Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&*self.0).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sets a socket up for a connection's two threads: `TCP_NODELAY` (the connection batches
/// writes itself), no read timeout (the keepalive detects a dead peer), and a write
/// timeout of `write_timeout` clamped to 1..=250 ms ([`TCP_WRITE_TIMEOUT`]), so a write
/// that stalls comes back to look at keepalive and stop. Returns the remote address.
pub(crate) fn configure_socket(
    stream: &TcpStream,
    write_timeout: Duration,
) -> io::Result<Option<SocketAddr>> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(None)?;
    let t = write_timeout.clamp(Duration::from_millis(1), TCP_WRITE_TIMEOUT);
    stream.set_write_timeout(Some(t))?;
    Ok(stream.peer_addr().ok())
}

/// Whether an I/O error only means "not now": the write may be retried.
pub(crate) fn is_stall(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
