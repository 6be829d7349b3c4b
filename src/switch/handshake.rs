//! The handshake: both sides write their NodeInfo and read the other's, all within a
//! deadline. Over plain TCP the NodeInfo goes out in one write; over an encrypted
//! connection, one frame per go-wire write, as Go expects.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use super::node_info::NodeInfo;
use crate::error::Error;

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

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm(true)?;
        self.stream.read(buf).map_err(timeout_is_deadline)
    }
}

impl Write for Deadline {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm(false)?;
        self.stream.write(buf).map_err(timeout_is_deadline)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes `ours` (in one write) and reads the peer's NodeInfo over a plain stream.
pub(crate) fn exchange_plain<S: Read + Write>(
    s: &mut S,
    ours: &NodeInfo,
) -> Result<NodeInfo, Error> {
    s.write_all(&ours.encode())?;
    s.flush()?;
    NodeInfo::decode(s)
}

/// Writes `ours` one go-wire write at a time (each becomes its own encrypted frame) and
/// reads the peer's NodeInfo as a byte stream.
#[cfg(feature = "secret-connection")]
pub(crate) fn exchange_framed<S: Read + Write>(
    s: &mut S,
    ours: &NodeInfo,
) -> Result<NodeInfo, Error> {
    ours.write_parts(|part| s.write_all(part))?;
    s.flush()?;
    NodeInfo::decode(s)
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
        let mut d = Deadline {
            stream: a,
            deadline: Instant::now() + Duration::from_millis(100),
        };
        let t = Instant::now();
        let info = NodeInfo::default();
        match exchange_plain(&mut d, &info) {
            Err(Error::HandshakeTimeout) => {}
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed() >= Duration::from_millis(100));
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
