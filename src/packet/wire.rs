//! The primitive field encodings of MQTT (specification §1.5): two- and four-byte
//! integers, variable byte integers, length-prefixed UTF-8 strings and binary data.
//!
//! Reading goes through [`Reader`], which never indexes past its slice: every
//! field that would run past the end gives [`DecodeError::Truncated`]. Writing
//! is split in two steps so that a packet is measured (and validated) before a
//! single byte is written: the `*_len` functions check and measure, the `put_*`
//! functions write what was already checked.

use super::error::{DecodeError, EncodeError};

/// The largest value a variable byte integer can hold (four bytes of seven bits).
pub const MAX_VARIABLE_INTEGER: u32 = 268_435_455;

/// A cursor over the body of one packet.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Everything that is left (the payload of a PUBLISH, the list of a SUBSCRIBE).
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&b, tail) = self.buf.split_first().ok_or(DecodeError::Truncated)?;
        self.buf = tail;
        Ok(b)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn variable_integer(&mut self) -> Result<u32, DecodeError> {
        match parse_variable_integer(self.buf)? {
            Some((value, used)) => {
                self.buf = &self.buf[used..];
                Ok(value)
            }
            None => Err(DecodeError::Truncated),
        }
    }

    pub(crate) fn binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        self.bytes(usize::from(len))
    }

    pub(crate) fn string(&mut self) -> Result<&'a str, DecodeError> {
        let raw = self.binary()?;
        check_utf8(raw)
    }
}

/// Checks a UTF-8 string field as §1.5.4 restricts it: well-formed UTF-8 (which
/// already excludes the surrogates U+D800..U+DFFF) and no U+0000.
pub(crate) fn check_utf8(raw: &[u8]) -> Result<&str, DecodeError> {
    let s = std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8)?;
    if raw.contains(&0) {
        return Err(DecodeError::NullCharacter);
    }
    Ok(s)
}

/// Parses a variable byte integer at the start of `buf`.
///
/// Returns `Ok(None)` when `buf` ends before the integer does (more bytes are
/// needed), and an error when a fourth byte still has its continuation bit set.
pub(crate) fn parse_variable_integer(buf: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for (i, &byte) in buf.iter().enumerate().take(4) {
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 4 {
        Err(DecodeError::MalformedVariableInteger)
    } else {
        Ok(None)
    }
}

/// How many bytes `value` takes as a variable byte integer.
pub(crate) fn variable_integer_len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes `value`, which the caller has checked is at most [`MAX_VARIABLE_INTEGER`].
pub(crate) fn put_variable_integer(out: &mut Vec<u8>, mut value: u32) {
    debug_assert!(value <= MAX_VARIABLE_INTEGER);
    loop {
        let mut byte = (value & 0x7f) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if value == 0 {
            break;
        }
    }
}

pub(crate) fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

pub(crate) fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Writes a string that [`string_len`] accepted.
pub(crate) fn put_string(out: &mut Vec<u8>, s: &str) {
    put_binary(out, s.as_bytes());
}

/// Writes binary data that [`binary_len`] accepted.
pub(crate) fn put_binary(out: &mut Vec<u8>, data: &[u8]) {
    debug_assert!(data.len() <= usize::from(u16::MAX));
    put_u16(out, data.len() as u16);
    out.extend_from_slice(data);
}

/// Checks a string for encoding and returns its encoded size (length prefix included).
pub(crate) fn string_len(s: &str) -> Result<usize, EncodeError> {
    if s.len() > usize::from(u16::MAX) {
        return Err(EncodeError::StringTooLong { len: s.len() });
    }
    if s.as_bytes().contains(&0) {
        return Err(EncodeError::NullCharacter);
    }
    Ok(2 + s.len())
}

/// Checks binary data for encoding and returns its encoded size (length prefix included).
pub(crate) fn binary_len(data: &[u8]) -> Result<usize, EncodeError> {
    if data.len() > usize::from(u16::MAX) {
        return Err(EncodeError::BinaryTooLong { len: data.len() });
    }
    Ok(2 + data.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_integer_boundaries_round_trip() {
        for (value, bytes) in [
            (0u32, &[0x00][..]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xff, 0xff, 0x7f]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (MAX_VARIABLE_INTEGER, &[0xff, 0xff, 0xff, 0x7f]),
        ] {
            let mut out = Vec::new();
            put_variable_integer(&mut out, value);
            assert_eq!(out, bytes, "encoding {value}");
            assert_eq!(variable_integer_len(value), bytes.len());
            assert_eq!(
                parse_variable_integer(bytes).unwrap(),
                Some((value, bytes.len()))
            );
        }
    }

    #[test]
    fn variable_integer_of_five_bytes_is_rejected() {
        assert_eq!(
            parse_variable_integer(&[0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(DecodeError::MalformedVariableInteger)
        );
        assert_eq!(
            parse_variable_integer(&[0x80, 0x80, 0x80, 0x80]),
            Err(DecodeError::MalformedVariableInteger)
        );
    }

    #[test]
    fn variable_integer_incomplete_asks_for_more() {
        assert_eq!(parse_variable_integer(&[]), Ok(None));
        assert_eq!(parse_variable_integer(&[0x80]), Ok(None));
        assert_eq!(parse_variable_integer(&[0x80, 0x80, 0x80]), Ok(None));
    }

    #[test]
    fn strings_reject_nul_and_bad_utf8() {
        assert_eq!(check_utf8(b"a\0b"), Err(DecodeError::NullCharacter));
        // An encoded surrogate (U+D800) is not UTF-8.
        assert_eq!(
            check_utf8(&[0xed, 0xa0, 0x80]),
            Err(DecodeError::InvalidUtf8)
        );
        assert_eq!(check_utf8(&[0xff]), Err(DecodeError::InvalidUtf8));
        // U+FEFF is allowed (§1.5.4: it must not be skipped or stripped).
        assert_eq!(check_utf8("\u{feff}x".as_bytes()), Ok("\u{feff}x"));
        assert_eq!(string_len("a\0"), Err(EncodeError::NullCharacter));
        let long = "x".repeat(65_536);
        assert_eq!(
            string_len(&long),
            Err(EncodeError::StringTooLong { len: 65_536 })
        );
        assert_eq!(string_len(&long[1..]), Ok(65_537));
    }

    #[test]
    fn reader_never_reads_past_the_end() {
        let mut r = Reader::new(&[0x00, 0x05, b'a']);
        assert_eq!(r.string(), Err(DecodeError::Truncated));
        let mut r = Reader::new(&[0x01]);
        assert_eq!(r.u16(), Err(DecodeError::Truncated));
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u32(), Err(DecodeError::Truncated));
        let mut r = Reader::new(&[0x80]);
        assert_eq!(r.variable_integer(), Err(DecodeError::Truncated));
    }
}
