//! Reading one length-delimited protobuf message (`uvarint(len) || body`, Go's
//! `protoio.NewDelimitedReader`) during the handshake, bounded: the prefix is read a
//! byte at a time (so nothing after the message is consumed from a plaintext socket),
//! the length is checked against the limit before anything is allocated, and the body
//! buffer grows only as bytes arrive.

use std::io::{self, Read};

use crate::error::{Error, SecretError};

/// Go's limit for both handshake messages (`secret_connection.go:313,419`).
pub(crate) const HANDSHAKE_MSG_LIMIT: usize = 1 << 20;

/// Most bytes of a uvarint that fits 64 bits.
const MAX_UVARINT_LEN: usize = 10;

/// Decodes a uvarint from the front of `bytes`: `Ok(Some((value, bytes used)))`,
/// `Ok(None)` if `bytes` ends inside it.
///
/// Errors: [`SecretError::BadLengthPrefix`] if it runs past 10 bytes or 64 bits.
pub(crate) fn decode_uvarint(
    bytes: &[u8],
    what: &'static str,
) -> Result<Option<(u64, usize)>, SecretError> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate() {
        // The tenth byte may only carry the 64th bit (Go's binary.ReadUvarint).
        if i == MAX_UVARINT_LEN - 1 && b > 1 {
            return Err(SecretError::BadLengthPrefix { what });
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(Some((value, i + 1)));
        }
        if i == MAX_UVARINT_LEN - 1 {
            return Err(SecretError::BadLengthPrefix { what });
        }
    }
    Ok(None)
}

/// Reads one delimited message's body from `r`, at most `limit` bytes.
///
/// Blocks in `r`'s reads; bound it with the stream's timeouts.
///
/// Errors: [`Error::Io`] for `r`'s errors and for a stream that ends inside the
/// message (`UnexpectedEof`, naming `what`); [`SecretError::BadLengthPrefix`] and
/// [`SecretError::HandshakeMessageTooLarge`] for a bad prefix.
pub(crate) fn read_delimited<R: Read + ?Sized>(
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
        if let Some((len, _)) = decode_uvarint(&prefix[..used], what)? {
            break len;
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
