//! go-wire primitives (go-wire 2baffcb, as Tendermint v0.12 uses it). Pure.
//!
//! A go-wire varint is one size byte `n` (0..=8, or `0xF0 | n` for a negative number)
//! followed by the magnitude in `n` big-endian bytes: 0 is `00`, 7 is `01 07`, 256 is
//! `02 01 00`, -1 is `F1 01`. Byte slices and strings are a varint length then the bytes.
//! Re-exported from [`wire`](crate::wire) so applications can build messages a Go reactor
//! understands.

use std::io::Read;

use crate::error::Error;

// ---------------------------------------------------------------- go-wire writing

/// The number of big-endian bytes go-wire uses for the magnitude `v` (0 for 0).
#[inline]
fn magnitude_len(v: u64) -> usize {
    8 - (v.leading_zeros() as usize / 8)
}

#[inline]
fn put_magnitude(out: &mut Vec<u8>, size_byte: u8, v: u64) {
    let n = magnitude_len(v);
    out.push(size_byte | n as u8);
    out.extend_from_slice(&v.to_be_bytes()[8 - n..]);
}

/// Appends go-wire's signed varint of `v` (`WriteVarint`): the length form of byte slices
/// and strings, and of Go `int` fields.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        put_magnitude(out, 0xF0, v.unsigned_abs());
    } else {
        put_magnitude(out, 0, v as u64);
    }
}

/// Appends go-wire's unsigned varint of `v` (`WriteUvarint`): size byte then magnitude.
pub fn put_uvarint(out: &mut Vec<u8>, v: u64) {
    put_magnitude(out, 0, v);
}

/// The number of bytes [`put_varint`] writes for a length `len`.
pub fn varint_len(len: usize) -> usize {
    1 + magnitude_len(len as u64)
}

/// Appends a go-wire byte slice: varint length, then the bytes.
pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
}

/// Appends a go-wire string: varint length, then the UTF-8 bytes.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

// ---------------------------------------------------------------- go-wire reading

/// Splits a varint size byte into (negative, magnitude length), as go-wire's `ReadVarint`.
#[inline]
pub(crate) fn parse_size_byte(b: u8) -> Result<(bool, usize), Error> {
    let (negative, n) = if b >> 4 == 0xF {
        (true, b & 0x0F)
    } else {
        (false, b)
    };
    if n > 8 {
        return Err(Error::VarintOverflow { size_byte: b });
    }
    if negative && n == 0 {
        return Err(Error::VarintNegativeZero);
    }
    Ok((negative, n as usize))
}

/// The value of a magnitude, wrapping exactly as Go's `int(binary.BigEndian.Uint64(..))`.
#[inline]
fn magnitude_value(negative: bool, be: &[u8]) -> i64 {
    // 0..=8 bytes (checked by parse_size_byte). Byte by byte: `read_uint` copied them
    // into a stack array through a `memcpy` call and read it back as one word, a
    // store-forwarding stall that was a third of the receive loop's own time.
    let v = be.iter().fold(0u64, |v, &b| v << 8 | u64::from(b)) as i64;
    if negative {
        v.wrapping_neg()
    } else {
        v
    }
}

/// Decodes a go-wire signed varint from the front of `buf`: `Ok(Some((value, bytes used)))`,
/// `Ok(None)` if `buf` ends first. Non-minimal encodings are accepted, as go-wire does.
#[inline]
pub fn decode_varint(buf: &[u8]) -> Result<Option<(i64, usize)>, Error> {
    let Some(&b) = buf.first() else {
        return Ok(None);
    };
    let (negative, n) = parse_size_byte(b)?;
    if buf.len() < 1 + n {
        return Ok(None);
    }
    Ok(Some((magnitude_value(negative, &buf[1..1 + n]), 1 + n)))
}

fn read_byte<R: Read + ?Sized>(r: &mut R) -> Result<u8, Error> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

/// Reads a go-wire signed varint.
pub fn read_varint<R: Read + ?Sized>(r: &mut R) -> Result<i64, Error> {
    let (negative, n) = parse_size_byte(read_byte(r)?)?;
    let mut be = [0u8; 8];
    r.read_exact(&mut be[..n])?;
    Ok(magnitude_value(negative, &be[..n]))
}

/// Reads a go-wire unsigned varint (`ReadUvarint`: size byte 0..=8, then the magnitude).
pub fn read_uvarint<R: Read + ?Sized>(r: &mut R) -> Result<u64, Error> {
    let b = read_byte(r)?;
    if b > 8 {
        return Err(Error::VarintOverflow { size_byte: b });
    }
    let n = b as usize;
    let mut be = [0u8; 8];
    r.read_exact(&mut be[8 - n..])?;
    Ok(u64::from_be_bytes(be))
}

/// Checks a decoded length prefix against `limit`.
pub fn check_len(length: i64, limit: usize) -> Result<usize, Error> {
    if length < 0 {
        return Err(Error::InvalidLength { length });
    }
    if length as u64 > limit as u64 {
        return Err(Error::LengthOverLimit {
            length: length as u64,
            limit,
        });
    }
    Ok(length as usize)
}

/// Reads a go-wire byte slice of at most `limit` bytes. The length is checked before
/// anything is allocated.
pub fn read_bytes<R: Read + ?Sized>(r: &mut R, limit: usize) -> Result<Vec<u8>, Error> {
    let len = check_len(read_varint(r)?, limit)?;
    let mut v = vec![0u8; len];
    r.read_exact(&mut v)?;
    Ok(v)
}

/// Reads a go-wire string of at most `limit` bytes; `field` names it in the UTF-8 error.
pub fn read_string<R: Read + ?Sized>(
    r: &mut R,
    limit: usize,
    field: &'static str,
) -> Result<String, Error> {
    String::from_utf8(read_bytes(r, limit)?).map_err(|_| Error::InvalidUtf8 { field })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        out
    }

    #[test]
    fn varint_examples_from_the_design() {
        assert_eq!(varint(0), [0x00]);
        assert_eq!(varint(7), [0x01, 0x07]);
        assert_eq!(varint(256), [0x02, 0x01, 0x00]);
        assert_eq!(varint(1024), [0x02, 0x04, 0x00]);
        assert_eq!(varint(-1), [0xF1, 0x01]);
        assert_eq!(varint(i64::MIN)[0], 0xF8);
        assert_eq!(varint_len(1024), 3);
        assert_eq!(varint_len(0), 1);
    }

    #[test]
    fn varint_decoding_limits() {
        assert!(matches!(
            decode_varint(&[0x09]),
            Err(Error::VarintOverflow { size_byte: 0x09 })
        ));
        assert!(matches!(
            decode_varint(&[0xF9]),
            Err(Error::VarintOverflow { size_byte: 0xF9 })
        ));
        assert!(matches!(
            decode_varint(&[0xF0]),
            Err(Error::VarintNegativeZero)
        ));
        assert_eq!(decode_varint(&[0x02, 0x00, 0x05]).unwrap(), Some((5, 3)));
        assert_eq!(decode_varint(&[0x02, 0x00]).unwrap(), None);
        // Go's int(uint64) wraps: a size-8 magnitude with the top bit set is negative.
        let wrapped = [0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert_eq!(decode_varint(&wrapped).unwrap(), Some((-1, 9)));
    }

    #[test]
    fn uvarint_roundtrip() {
        for v in [0u64, 1, 255, 256, u64::MAX] {
            let mut out = Vec::new();
            put_uvarint(&mut out, v);
            assert_eq!(read_uvarint(&mut &out[..]).unwrap(), v);
        }
        assert!(matches!(
            read_uvarint(&mut &[0xF1u8, 1][..]),
            Err(Error::VarintOverflow { .. })
        ));
    }

    #[test]
    fn strings_and_limits() {
        let mut out = Vec::new();
        put_str(&mut out, "refnet");
        assert_eq!(out, b"\x01\x06refnet");
        assert_eq!(read_string(&mut &out[..], 6, "network").unwrap(), "refnet");
        assert!(matches!(
            read_string(&mut &out[..], 5, "network"),
            Err(Error::LengthOverLimit {
                length: 6,
                limit: 5
            })
        ));
        let bad = [0x01, 0x01, 0xFF];
        assert!(matches!(
            read_string(&mut &bad[..], 5, "moniker"),
            Err(Error::InvalidUtf8 { field: "moniker" })
        ));
    }
}
