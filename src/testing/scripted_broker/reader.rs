//! Reads bounded by a deadline and by a frame-size cap: the only way the
//! scripted connection takes bytes off its socket.
//!
//! Every read asks for no more than the step needs, so nothing is taken from
//! the socket that a later step of the script should see.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use crate::packet::{DecodeError, FixedHeader, ProtocolVersion};
use crate::testing::Stream;

/// The largest frame a step reads by its fixed header. A peer announcing more
/// gets an error at once instead of a buffer of that size.
pub(super) const MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// The most one read appends to a buffer, so that memory follows what arrives
/// rather than what a fixed header announces.
const CHUNK: usize = 64 * 1024;

/// How one bounded read (or a loop of them) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Some bytes were appended (for a loop: all that were wanted).
    Got,
    /// The deadline passed first.
    TimedOut,
    /// The peer closed or reset the connection.
    Closed,
}

/// How reading one frame ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Frame {
    /// The buffer holds exactly one whole frame.
    Complete,
    /// The deadline passed with the frame unfinished.
    TimedOut,
    /// The peer closed with the frame unfinished.
    Closed,
    /// The fixed header is not a valid one.
    BadHeader(DecodeError),
    /// The fixed header announces a frame larger than [`MAX_FRAME_SIZE`].
    TooLarge(usize),
}

/// Appends at most `max` bytes (at least one) to `buf` with one read, waiting
/// no later than `deadline`.
pub(super) fn read_some(
    stream: &mut Stream,
    buf: &mut Vec<u8>,
    max: usize,
    deadline: Instant,
) -> io::Result<Outcome> {
    let max = max.clamp(1, CHUNK);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(Outcome::TimedOut);
        }
        // A zero read timeout is refused by std; the check above rules it out,
        // and the floor keeps sub-microsecond rests from rounding to zero.
        stream.set_read_timeout(Some(remaining.max(Duration::from_millis(1))))?;
        let start = buf.len();
        buf.resize(start + max, 0);
        let result = stream.read(&mut buf[start..]);
        match result {
            Ok(0) => {
                buf.truncate(start);
                return Ok(Outcome::Closed);
            }
            Ok(n) => {
                buf.truncate(start + n);
                return Ok(Outcome::Got);
            }
            Err(e) => {
                buf.truncate(start);
                match e.kind() {
                    // Unix reports a read timeout as WouldBlock, Windows as
                    // TimedOut; the deadline check decides whether to go on.
                    io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe => return Ok(Outcome::Closed),
                    _ => return Err(e),
                }
            }
        }
    }
}

/// Reads until `buf` holds `want` bytes; `Got` means it does.
pub(super) fn fill(
    stream: &mut Stream,
    buf: &mut Vec<u8>,
    want: usize,
    deadline: Instant,
) -> io::Result<Outcome> {
    while buf.len() < want {
        match read_some(stream, buf, want - buf.len(), deadline)? {
            Outcome::Got => {}
            other => return Ok(other),
        }
    }
    Ok(Outcome::Got)
}

/// Reads one frame into the empty `buf`: the fixed header a byte at a time
/// (so nothing past it is taken), then exactly the body it announces.
pub(super) fn read_frame(
    stream: &mut Stream,
    buf: &mut Vec<u8>,
    protocol: ProtocolVersion,
    deadline: Instant,
) -> io::Result<Frame> {
    let header = loop {
        match FixedHeader::parse(buf, protocol) {
            Ok(Some(header)) => break header,
            Ok(None) => match read_some(stream, buf, 1, deadline)? {
                Outcome::Got => {}
                Outcome::TimedOut => return Ok(Frame::TimedOut),
                Outcome::Closed => return Ok(Frame::Closed),
            },
            Err(e) => return Ok(Frame::BadHeader(e)),
        }
    };
    let size = header.packet_len();
    if size > MAX_FRAME_SIZE {
        return Ok(Frame::TooLarge(size));
    }
    Ok(match fill(stream, buf, size, deadline)? {
        Outcome::Got => Frame::Complete,
        Outcome::TimedOut => Frame::TimedOut,
        Outcome::Closed => Frame::Closed,
    })
}

/// After a failed step, reads on (until `deadline`) to finish the frame that
/// `buf` ends inside, so the failure report shows whole packets. Stops at an
/// undecodable or oversized header; errors only end the attempt.
pub(super) fn finish_frames(
    stream: &mut Stream,
    buf: &mut Vec<u8>,
    protocol: ProtocolVersion,
    deadline: Instant,
) {
    while let Some(missing) = shortfall(buf, protocol) {
        match read_some(stream, buf, missing, deadline) {
            Ok(Outcome::Got) => {}
            _ => return,
        }
    }
}

/// How many more bytes the last frame in `bytes` needs (at least), or `None`
/// when `bytes` ends on a frame boundary or cannot be framed.
fn shortfall(bytes: &[u8], protocol: ProtocolVersion) -> Option<usize> {
    let mut offset = 0;
    while offset < bytes.len() {
        match FixedHeader::parse(&bytes[offset..], protocol) {
            Ok(None) => return Some(1),
            Ok(Some(header)) if header.packet_len() > MAX_FRAME_SIZE => return None,
            Ok(Some(header)) => {
                let end = offset + header.packet_len();
                if end > bytes.len() {
                    return Some(end - bytes.len());
                }
                offset = end;
            }
            Err(_) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: ProtocolVersion = ProtocolVersion::MQTTv311;

    #[test]
    fn shortfall_finds_the_unfinished_frame() {
        assert_eq!(shortfall(&[], V4), None);
        assert_eq!(shortfall(&[0xc0, 0x00], V4), None);
        assert_eq!(shortfall(&[0xc0], V4), Some(1));
        assert_eq!(shortfall(&[0xc0, 0x00, 0x20, 0x02, 0x00], V4), Some(1));
        assert_eq!(shortfall(&[0x30, 0x05, 0x00], V4), Some(4));
        assert_eq!(shortfall(&[0x00, 0x00], V4), None);
        assert_eq!(shortfall(&[0x30, 0xff, 0xff, 0xff, 0x7f], V4), None);
    }
}
