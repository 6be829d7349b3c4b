//! The handshake: both sides write their NodeInfo and read the other's, all within a
//! deadline. Over plain TCP the NodeInfo goes out in one write; over an encrypted
//! connection, one frame per go-wire write, as Go expects.
//!
//! Writing and reading run at the same time (the write on a short-lived thread of its
//! own, as Go's `cmn.Parallel`): each side writing its whole NodeInfo before reading
//! deadlocks once the NodeInfo outgrows the socket buffers, which over the
//! SecretConnection takes only a few KiB (every go-wire write is a 1042-byte frame).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Instant;

use super::node_info::NodeInfo;
use crate::error::Error;
use crate::threads::panic_text;

/// Stack of the short-lived thread that writes our NodeInfo.
const WRITER_STACK: usize = 64 * 1024;

/// A `TcpStream` whose every read and write must finish before `deadline`.
pub(crate) struct Deadline {
    pub stream: TcpStream,
    pub deadline: Instant,
}

impl Deadline {
    fn arm(&self, read: bool) -> io::Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::HandshakeTimeout.into());
        }
        if read {
            self.stream.set_read_timeout(Some(left))
        } else {
            self.stream.set_write_timeout(Some(left))
        }
    }
}

fn timeout_is_deadline(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::HandshakeTimeout.into(),
        _ => e,
    }
}

// Reads and writes go through `&Deadline`, so one thread can read while another writes
// (the read and write timeouts are separate socket options).
impl Read for &Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm(true)?;
        (&self.stream).read(buf).map_err(timeout_is_deadline)
    }
}

impl Write for &Deadline {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm(false)?;
        (&self.stream).write(buf).map_err(timeout_is_deadline)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for Deadline {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How our NodeInfo goes out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// In one write (plain TCP).
    Whole,
    /// One write per go-wire write, each its own encrypted frame (as Go reads it).
    #[cfg_attr(not(feature = "secret-connection"), allow(dead_code))]
    Parts,
}

/// Writes `ours` with `writer` on a thread of its own while this thread reads the
/// peer's NodeInfo from `reader` (see [`exchange_with`]).
pub(super) fn exchange<R: Read, W: Write + Send>(
    reader: &mut R,
    writer: &mut W,
    socket: &TcpStream,
    ours: &NodeInfo,
    framing: Framing,
) -> Result<NodeInfo, Error> {
    let write = move |writer: &mut W| -> io::Result<()> {
        match framing {
            Framing::Whole => writer.write_all(&ours.encode()),
            Framing::Parts => ours.write_parts(|part| writer.write_all(part)),
        }
    };
    exchange_with(reader, writer, socket, write, |r| NodeInfo::decode(r))
}

/// Runs `write` (then a flush) on `writer` on a thread of its own while this thread runs
/// `read` on `reader`: every protocol family's NodeInfo exchange. If reading fails,
/// `socket` is shut down so a write blocked on a peer that does not read ends at once.
pub(crate) fn exchange_with<R: Read, W: Write + Send, T>(
    reader: &mut R,
    writer: &mut W,
    socket: &TcpStream,
    write: impl FnOnce(&mut W) -> io::Result<()> + Send,
    read: impl FnOnce(&mut R) -> Result<T, Error>,
) -> Result<T, Error> {
    thread::scope(|scope| {
        let write = move || -> io::Result<()> {
            write(writer)?;
            writer.flush()
        };
        let w = thread::Builder::new()
            .name("mconn-handshake-w".into())
            .stack_size(WRITER_STACK)
            .spawn_scoped(scope, write)?;
        let theirs = read(reader);
        if theirs.is_err() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        let wrote = match w.join() {
            Ok(r) => r.map_err(Error::from),
            Err(p) => Err(Error::Panicked(format!(
                "writing the NodeInfo panicked: {}",
                panic_text(&*p)
            ))),
        };
        let theirs = theirs.map_err(closed_during)?;
        wrote?;
        Ok(theirs)
    })
}

/// An end of the stream (or a reset) before the peer's NodeInfo, said as what it is: the
/// peer closed the connection during the handshake (it refused us, or it is not an
/// mconn node). The kind stays.
fn closed_during(e: Error) -> Error {
    use io::ErrorKind::{ConnectionAborted, ConnectionReset, UnexpectedEof};
    match e {
        Error::Io(io)
            if matches!(
                io.kind(),
                UnexpectedEof | ConnectionReset | ConnectionAborted
            ) =>
        {
            Error::Io(io::Error::new(
                io.kind(),
                format!(
                    "the peer closed the connection during the handshake, before its NodeInfo \
                     (it refused us, or it does not speak this protocol): {io}"
                ),
            ))
        }
        other => other,
    }
}

/// [`exchange`] over a plain TCP stream with a deadline.
pub(super) fn exchange_plain(d: &Deadline, ours: &NodeInfo) -> Result<NodeInfo, Error> {
    let (mut r, mut w) = (d, d);
    exchange(&mut r, &mut w, &d.stream, ours, Framing::Whole)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Duration;

    #[test]
    fn a_silent_peer_hits_the_deadline() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_b, _) = l.accept().unwrap();
        let d = Deadline {
            stream: a,
            deadline: Instant::now() + Duration::from_millis(100),
        };
        let t = Instant::now();
        let info = NodeInfo::default();
        match exchange_plain(&d, &info) {
            Err(Error::HandshakeTimeout) => {}
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed() >= Duration::from_millis(100));
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
