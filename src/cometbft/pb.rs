//! The protobuf wire format, as much of it as the packet codec reads by hand (the hot
//! path: no allocation, the payload named as a range): unsigned varints and a walk over
//! a message's fields with gogoproto's decoding rules (PROTOCOL.md §2.2): any field
//! order, unknown fields skipped, field number 0 and unfinished fields are errors. The
//! other messages (NodeInfo, the handshake's, PEX) are `prost` structs.

use std::ops::Range;

use crate::error::Error;

/// The most bytes an unsigned varint of 64 bits takes.
const MAX_VARINT_LEN: usize = 10;

/// Appends `v` as an unsigned LEB128 varint (Go's `binary.PutUvarint`).
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// How many bytes [`put_uvarint`] writes for `v`.
pub(crate) fn uvarint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    (bits + 6) / 7
}

/// The unsigned varint at the front of `buf` and its length; `Ok(None)` while `buf`
/// holds only a prefix of one. More than ten bytes, or a value over 64 bits, is an error
/// (as Go's `binary.ReadUvarint`).
pub(crate) fn read_uvarint(buf: &[u8]) -> Result<Option<(u64, usize)>, Error> {
    let mut v: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(MAX_VARINT_LEN) {
        if i == MAX_VARINT_LEN - 1 && b > 1 {
            return Err(Error::Malformed("varint overflows 64 bits".into()));
        }
        v |= u64::from(b & 0x7F) << (7 * i);
        if b < 0x80 {
            return Ok(Some((v, i + 1)));
        }
    }
    if buf.len() >= MAX_VARINT_LEN {
        return Err(Error::Malformed("varint longer than 10 bytes".into()));
    }
    Ok(None)
}

/// One field's value, as its wire type carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 2: where the bytes are in the message walked.
    Bytes(Range<usize>),
    /// Wire types 1 and 5 (fixed 64 and 32 bits): no field here has them.
    Fixed,
}

/// The fields of one complete message, in order: `(field number, value)`. An error ends
/// the walk (the message is malformed).
pub(crate) struct Fields<'a> {
    msg: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    /// Walks `msg`, which must hold exactly one message.
    pub fn new(msg: &'a [u8]) -> Self {
        Fields { msg, at: 0 }
    }

    fn varint(&mut self, what: &str) -> Result<u64, Error> {
        match read_uvarint(&self.msg[self.at..])? {
            Some((v, n)) => {
                self.at += n;
                Ok(v)
            }
            None => Err(Error::Malformed(format!("protobuf {what} cut short"))),
        }
    }

    fn take(&mut self, n: u64, what: &str) -> Result<Range<usize>, Error> {
        let left = (self.msg.len() - self.at) as u64;
        if n > left {
            return Err(Error::Malformed(format!(
                "protobuf {what} of {n} bytes with {left} left"
            )));
        }
        let start = self.at;
        self.at += n as usize;
        Ok(start..self.at)
    }

    fn next_field(&mut self) -> Result<(u64, Value), Error> {
        let key = self.varint("field key")?;
        // Keys are 32-bit (field numbers up to 2^29 - 1); gogoproto would read a longer
        // one modulo 2^32, which no encoder writes: refused, as prost refuses it.
        if key > u64::from(u32::MAX) {
            return Err(Error::Malformed(format!("protobuf key {key} over 32 bits")));
        }
        let (field, wire_type) = (key >> 3, key & 7);
        if field == 0 {
            return Err(Error::Malformed("protobuf field number 0".into()));
        }
        let value = match wire_type {
            0 => Value::Varint(self.varint("varint")?),
            1 => {
                self.take(8, "fixed64")?;
                Value::Fixed
            }
            2 => {
                let n = self.varint("length")?;
                Value::Bytes(self.take(n, "field")?)
            }
            5 => {
                self.take(4, "fixed32")?;
                Value::Fixed
            }
            // Groups (3, 4) are long deprecated and no tendermint message has one.
            t => {
                return Err(Error::Malformed(format!(
                    "protobuf wire type {t} in field {field}"
                )))
            }
        };
        Ok((field, value))
    }
}

impl Iterator for Fields<'_> {
    type Item = Result<(u64, Value), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.msg.len() {
            return None;
        }
        let next = self.next_field();
        if next.is_err() {
            // Nothing after an error is trustworthy.
            self.at = self.msg.len();
        }
        Some(next)
    }
}

/// The error for a known field with the wrong wire type (Go's `proto: wrong wireType`).
pub(crate) fn wrong_type(message: &str, field: u64) -> Error {
    Error::Malformed(format!("{message}: wrong wire type for field {field}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_report_their_length() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_uvarint(&mut out, v);
            assert_eq!(out.len(), uvarint_len(v), "{v}");
            assert_eq!(read_uvarint(&out).unwrap(), Some((v, out.len())));
            assert_eq!(read_uvarint(&out[..out.len() - 1]).unwrap(), None);
        }
        assert_eq!(uvarint_len(u64::MAX), 10);
    }

    #[test]
    fn overlong_and_overflowing_varints_are_errors() {
        assert!(read_uvarint(&[0x80; 10]).is_err());
        let mut max = vec![0xFF; 9];
        max.push(0x01);
        assert_eq!(read_uvarint(&max).unwrap(), Some((u64::MAX, 10)));
        max[9] = 0x02;
        assert!(read_uvarint(&max).is_err());
    }

    #[test]
    fn fields_walk_every_wire_type_and_refuse_what_gogoproto_refuses() {
        // field 1 varint 5, field 2 bytes "ab", field 3 fixed32, field 4 fixed64
        let msg = [
            0x08, 5, 0x12, 2, b'a', b'b', 0x1d, 0, 0, 0, 0, 0x21, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let fields: Vec<_> = Fields::new(&msg).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            fields,
            [
                (1, Value::Varint(5)),
                (2, Value::Bytes(4..6)),
                (3, Value::Fixed),
                (4, Value::Fixed)
            ]
        );
        // The last one was found by the fuzzer.
        for bad in [
            &[0xd8, 0xff, 0xb6, 0xe8, 0x18, 0x00][..],
            &[0x00, 0x01],
            &[0x12, 3, b'a'],
            &[0x08],
            &[0x0b],
            &[0x1d, 0],
        ] {
            let r: Result<Vec<_>, _> = Fields::new(bad).collect();
            assert!(r.is_err(), "{bad:02x?}");
        }
    }
}
