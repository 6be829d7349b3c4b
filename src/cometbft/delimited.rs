//! Reading one length-delimited protobuf message (`uvarint(len) || body`, Go's
//! `protoio.NewDelimitedReader`) during the handshake (the ephemeral key, the auth
//! signature, the NodeInfo), bounded: the prefix is read a
//! byte at a time (so nothing after the message is consumed from a plaintext socket),
//! the length is checked against the limit before anything is allocated, and the body
//! buffer grows only as bytes arrive.

use std::io::{self, Read};

use super::pb;
use crate::error::{Error, SecretError};

/// Go's limit for both handshake messages (`secret_connection.go:313,419`).
pub(crate) const HANDSHAKE_MSG_LIMIT: usize = 1 << 20;

/// Most bytes of a uvarint that fits 64 bits.
const MAX_UVARINT_LEN: usize = 10;

/// Reads one delimited message's body from `r`, at most `limit` bytes.
///
/// Blocks in `r`'s reads; bound it with the stream's timeouts.
///
/// Errors: [`Error::Io`] for `r`'s errors and for a stream that ends inside the
/// message (`UnexpectedEof`, naming `what`); [`SecretError::BadLengthPrefix`] and
/// [`SecretError::HandshakeMessageTooLarge`] for a bad prefix.
pub fn read_delimited<R: Read + ?Sized>(
    r: &mut R,
    limit: usize,
    what: &'static str,
) -> Result<Vec<u8>, Error> {
    let mut prefix = [0u8; MAX_UVARINT_LEN];
    let mut used = 0;
    let len = loop {
        r.read_exact(&mut prefix[used..used + 1])
            .map_err(|e| closed_during(what, e))?;
        used += 1;
        match pb::read_uvarint(&prefix[..used]) {
            Ok(Some((len, _))) => break len,
            Ok(None) => {}
            Err(_) => return Err(SecretError::BadLengthPrefix { what }.into()),
        }
    };
    if len > limit as u64 {
        return Err(SecretError::HandshakeMessageTooLarge {
            what,
            length: len,
            limit,
        }
        .into());
    }
    let mut body = Vec::new();
    r.take(len).read_to_end(&mut body)?;
    if body.len() as u64 != len {
        return Err(closed_during(what, io::ErrorKind::UnexpectedEof.into()).into());
    }
    Ok(body)
}

/// An end of the stream in the middle of the handshake, said as what it is: the peer
/// closed the connection before it sent all of its `what` message.
pub(crate) fn closed_during(what: &str, e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "the peer closed the connection during the secret handshake, in its {what} message"
            ),
        )
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
        read_delimited(&mut &bytes[..], limit, "test")
    }

    #[test]
    fn reads_exactly_one_message() {
        let mut r = &[3u8, 1, 2, 3, 9][..];
        assert_eq!(read_delimited(&mut r, 10, "t").unwrap(), [1, 2, 3]);
        assert_eq!(r, [9], "nothing after the message is consumed");
        assert_eq!(read(&[0], 10).unwrap(), Vec::<u8>::new());
        // A two-byte prefix: 300 = ac 02.
        let mut m = vec![0xac, 0x02];
        m.extend(std::iter::repeat(7).take(300));
        assert_eq!(read(&m, 300).unwrap().len(), 300);
    }

    #[test]
    fn bad_prefixes_and_truncations_are_errors() {
        assert!(matches!(
            read(&[0xac, 0x02], 299),
            Err(Error::Secret(SecretError::HandshakeMessageTooLarge {
                length: 300,
                limit: 299,
                ..
            }))
        ));
        // u64::MAX is ff ff ff ff ff ff ff ff ff 01: too large, not malformed.
        let mut max = vec![0xff; 9];
        max.push(1);
        assert!(matches!(
            read(&max, 10),
            Err(Error::Secret(SecretError::HandshakeMessageTooLarge { .. }))
        ));
        for bad in [
            &[0xff; 11][..],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
        ] {
            assert!(matches!(
                read(bad, 10),
                Err(Error::Secret(SecretError::BadLengthPrefix { what: "test" }))
            ));
        }
        for short in [&[][..], &[0x80][..], &[5, 1, 2][..]] {
            match read(short, 10) {
                Err(Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof),
                other => panic!("{short:?}: {other:?}"),
            }
        }
    }
}
