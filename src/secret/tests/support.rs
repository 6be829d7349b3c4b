//! Helpers for the SecretConnection unit tests: loopback sockets, a watchdog, a
//! reproducible random generator, and streams that record or replay bytes.

use std::io::{self, Read, Write};

pub(super) use crate::test_support::{hex, tcp_pair, watchdog, Recorder, Rng};

/// A stream that reads from a fixed input and collects what is written.
pub(super) struct Scripted {
    pub(super) input: io::Cursor<Vec<u8>>,
    pub(super) output: Vec<u8>,
}

impl Scripted {
    pub(super) fn new(input: Vec<u8>) -> Self {
        Scripted {
            input: io::Cursor::new(input),
            output: Vec::new(),
        }
    }
}

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
