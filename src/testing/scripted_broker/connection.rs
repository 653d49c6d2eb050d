//! One accepted connection of a [`ScriptedBroker`](super::ScriptedBroker):
//! the steps a script runs against the client on the other end.

use std::io::{self, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use super::reader::{self, Frame, Outcome, MAX_FRAME_SIZE};
use crate::packet::{ConnAck, Connect, FixedHeader, Packet, PacketType, ProtocolVersion};
use crate::testing::net::deadline_after;
use crate::testing::{render_bytes, Error, Result, Stream};

/// How long a failed step keeps reading to finish the packet it stopped
/// inside, so the report shows whole packets without delaying it much.
const REPORT_GRACE: Duration = Duration::from_millis(200);

/// The smallest step timeout: std refuses a zero socket timeout, and a step
/// that cannot wait at all could not even see bytes already queued.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// How much a failing silence or close check reads for its report.
const REPORT_READ: usize = 4096;

/// How long one write of a flood waits before it looks at the clock again.
const FLOOD_SLICE: Duration = Duration::from_millis(20);

/// What [`ScriptedConnection::flood`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flood {
    /// Bytes the client took.
    pub sent: u64,
    /// The longest the client took none: how long it pushed back (TCP
    /// flow control, once the client stops reading and the socket buffers
    /// are full).
    pub longest_stall: Duration,
    /// How long the client had taken none when the flood ended: a client
    /// that still reads shows no more than one write's wait (20 ms).
    pub stalled_at_end: Duration,
    /// The client closed the connection, which ended the flood.
    pub closed: bool,
}

/// One client connection accepted by a [`ScriptedBroker`](super::ScriptedBroker).
///
/// Each step waits at most the connection's timeout (inherited from the
/// broker, [`DEFAULT_TIMEOUT`](crate::testing::DEFAULT_TIMEOUT) unless set)
/// and reads only the bytes it needs, so the next step sees the rest. Failures
/// render what was expected and what arrived, as packets and as hex.
///
/// Packets are encoded and decoded at [`protocol`](Self::protocol), MQTT
/// 3.1.1 at first. When a step reads a CONNECT, the protocol follows the
/// CONNECT's level, so later packets of a v5 client decode with properties.
///
/// Dropping the connection closes the socket.
#[derive(Debug)]
pub struct ScriptedConnection {
    stream: Stream,
    protocol: ProtocolVersion,
    timeout: Duration,
}

impl ScriptedConnection {
    /// The largest packet (fixed header included) that a step reading by the
    /// fixed header accepts: 16 MiB. A larger announced length fails the step
    /// at once, before any of the body is buffered.
    pub const MAX_FRAME_SIZE: usize = MAX_FRAME_SIZE;

    pub(super) fn new(stream: Stream, timeout: Duration) -> ScriptedConnection {
        ScriptedConnection {
            stream,
            protocol: ProtocolVersion::MQTTv311,
            timeout: timeout.max(MIN_TIMEOUT),
        }
    }

    /// Sets how long each later step waits (at least 1 ms).
    pub fn with_timeout(mut self, timeout: Duration) -> ScriptedConnection {
        self.set_timeout(timeout);
        self
    }

    /// Sets how long each later step waits (at least 1 ms).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout.max(MIN_TIMEOUT);
    }

    /// How long each step waits.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The protocol level packets are encoded and decoded at.
    pub fn protocol(&self) -> ProtocolVersion {
        self.protocol
    }

    /// Sets the protocol level, e.g. to answer a client whose CONNECT the
    /// script skipped.
    pub fn set_protocol(&mut self, protocol: ProtocolVersion) {
        self.protocol = protocol;
    }

    /// Reads exactly `expected.len()` bytes and checks they are `expected`,
    /// like Paho's `expect_packet`. Fails as soon as a received byte differs.
    pub fn expect_bytes(&mut self, expected: &[u8]) -> Result<()> {
        let deadline = self.deadline();
        let mut got = Vec::new();
        while got.len() < expected.len() {
            let want = expected.len() - got.len();
            let outcome = reader::read_some(&mut self.stream, &mut got, want, deadline)?;
            if !expected.starts_with(&got) {
                return Err(self.mismatch(expected, got));
            }
            match outcome {
                Outcome::Got => {}
                Outcome::TimedOut => return Err(self.timed_out(self.describe("", expected), &got)),
                Outcome::Closed => return Err(self.closed(self.describe("", expected), &got)),
            }
        }
        self.follow_connect(&got);
        Ok(())
    }

    /// Reads one whole packet (framed by its fixed header) and checks that
    /// its bytes are `expected` encoded at [`protocol`](Self::protocol).
    pub fn expect_packet(&mut self, expected: &Packet) -> Result<()> {
        let expected = self.encode(expected)?;
        let frame = self.next_frame(self.describe("a packet of ", &expected))?;
        if frame != expected {
            return Err(self.mismatch(&expected, frame));
        }
        self.follow_connect(&frame);
        Ok(())
    }

    /// Reads and decodes the next packet, whatever it is.
    pub fn read_packet(&mut self) -> Result<Packet> {
        self.read_decoded().map(|(packet, _)| packet)
    }

    /// Reads the next packet, which must be a CONNECT, and returns it. The
    /// connection's protocol becomes the CONNECT's.
    pub fn expect_connect(&mut self) -> Result<Connect> {
        match self.read_decoded()? {
            (Packet::Connect(connect), _) => Ok(connect),
            (_, frame) => Err(Error::UnexpectedData {
                expected: "a CONNECT".to_string(),
                received: render_bytes(&frame, self.protocol),
            }),
        }
    }

    /// Writes `bytes` to the client, all within the step timeout: a client
    /// that takes them too slowly fails the step with [`Error::Timeout`].
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let deadline = self.deadline();
        let mut rest = bytes;
        let result = loop {
            if rest.is_empty() {
                break self.stream.flush();
            }
            // A socket's write timeout bounds each write call, not the step:
            // a client reading a little at a time would let every call make
            // progress and the step run on for ever. So the timeout is set to
            // what is left of the step before each call.
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break Err(io::ErrorKind::TimedOut.into());
            }
            self.stream
                .set_write_timeout(Some(remaining.max(MIN_TIMEOUT)))?;
            match self.stream.write(rest) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => rest = &rest[n..],
                // Unix reports a write timeout as WouldBlock, Windows as
                // TimedOut; the deadline check above decides.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => break Err(e),
            }
        };
        let Err(e) = result else { return Ok(()) };
        let sent = bytes.len() - rest.len();
        let waiting_for = format!("the peer to take {} byte(s) (it took {sent})", bytes.len());
        Err(match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout {
                waiting_for,
                after: self.timeout,
                received: String::new(),
            },
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::WriteZero => Error::Closed {
                waiting_for,
                received: String::new(),
            },
            _ => Error::Io(e),
        })
    }

    /// Encodes `packet` at [`protocol`](Self::protocol) and writes it.
    pub fn send_packet(&mut self, packet: &Packet) -> Result<()> {
        let bytes = self.encode(packet)?;
        self.send_bytes(&bytes)
    }

    /// Sends a CONNACK without properties: `20 02 00 00` for
    /// `send_connack(false, 0)` at MQTT 3.1.1.
    pub fn send_connack(&mut self, session_present: bool, return_code: u8) -> Result<()> {
        self.send_packet(&Packet::ConnAck(ConnAck::new(session_present, return_code)))
    }

    /// Checks that nothing arrives for `duration` (Paho's `expect_no_packet`).
    /// Bytes fail with [`Error::UnexpectedData`], a close with
    /// [`Error::Closed`]. It waits at least 1 ms, so that even
    /// `Duration::ZERO` looks at bytes that have already arrived.
    pub fn expect_silence(&mut self, duration: Duration) -> Result<()> {
        let waiting_for = format!("silence for {duration:?}");
        // A deadline already past would end the read before it looked.
        let deadline = deadline_after(duration.max(MIN_TIMEOUT));
        let mut got = Vec::new();
        match reader::read_some(&mut self.stream, &mut got, REPORT_READ, deadline)? {
            Outcome::TimedOut => Ok(()),
            Outcome::Got => Err(self.unexpected(waiting_for, got)),
            Outcome::Closed => Err(self.closed(waiting_for, &got)),
        }
    }

    /// Waits for the client to close the connection (an orderly close or a
    /// reset). Bytes arriving first fail with [`Error::UnexpectedData`], and
    /// no close within the timeout with [`Error::Timeout`].
    pub fn expect_close(&mut self) -> Result<()> {
        let waiting_for = "the peer to close the connection".to_string();
        let deadline = self.deadline();
        let mut got = Vec::new();
        match reader::read_some(&mut self.stream, &mut got, REPORT_READ, deadline)? {
            Outcome::Closed => Ok(()),
            Outcome::Got => Err(self.unexpected(waiting_for, got)),
            Outcome::TimedOut => Err(self.timed_out(waiting_for, &got)),
        }
    }

    /// A hostile broker: writes what `next` appends, called again and again,
    /// for `duration`, and reads nothing. A client that answers (PINGRESP
    /// to PINGREQ, PUBREC to a QoS 2 PUBLISH) finds its answers unread; a
    /// client slower than the flood finds messages piling up. Ends early
    /// when the client closes the connection, or when `next` appends
    /// nothing.
    pub fn flood(&mut self, duration: Duration, next: impl FnMut(&mut Vec<u8>)) -> Result<Flood> {
        self.flood_until(duration, duration, None, next)
    }

    /// [`flood`](Self::flood) for at least `min`, then on until the client
    /// has taken nothing for `stall` (it is pushed back), or until `max`.
    /// On a loaded machine a client needs longer to fill its budget and
    /// the kernel's buffers; a fixed attack would end before it could be
    /// pushed back, a client that reads for ever still runs to `max`.
    pub fn flood_until_pushed_back(
        &mut self,
        min: Duration,
        max: Duration,
        stall: Duration,
        next: impl FnMut(&mut Vec<u8>),
    ) -> Result<Flood> {
        self.flood_until(min, max.max(min), Some(stall), next)
    }

    fn flood_until(
        &mut self,
        min: Duration,
        duration: Duration,
        stall: Option<Duration>,
        mut next: impl FnMut(&mut Vec<u8>),
    ) -> Result<Flood> {
        let start = Instant::now();
        let end = start + duration;
        let min_end = start + min;
        let (mut buf, mut at) = (Vec::new(), 0);
        let mut report = Flood {
            sent: 0,
            longest_stall: Duration::ZERO,
            stalled_at_end: Duration::ZERO,
            closed: false,
        };
        let mut progress = start;
        loop {
            let now = Instant::now();
            report.stalled_at_end = now.min(end) - progress;
            report.longest_stall = report.longest_stall.max(report.stalled_at_end);
            if now >= end {
                break;
            }
            if stall.is_some_and(|stall| now >= min_end && now - progress >= stall) {
                break;
            }
            if at == buf.len() {
                buf.clear();
                at = 0;
                while buf.len() < 64 * 1024 {
                    let before = buf.len();
                    next(&mut buf);
                    if buf.len() == before {
                        break;
                    }
                }
                if buf.is_empty() {
                    break;
                }
            }
            self.stream
                .set_write_timeout(Some((end - now).clamp(MIN_TIMEOUT, FLOOD_SLICE)))?;
            match self.stream.write(&buf[at..]) {
                Ok(0) => {
                    report.closed = true;
                    break;
                }
                Ok(n) => {
                    at += n;
                    report.sent += n as u64;
                    progress = Instant::now();
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                    ) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::BrokenPipe
                    ) =>
                {
                    report.closed = true;
                    break;
                }
                Err(e) => return Err(Error::Io(e)),
            }
        }
        Ok(report)
    }

    /// Closes the connection, as a broker dropping the client would.
    pub fn close(self) {
        // Shutting down first sends the FIN even if a clone of the socket
        // were alive somewhere; the drop then releases it.
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    fn deadline(&self) -> Instant {
        deadline_after(self.timeout)
    }

    fn encode(&self, packet: &Packet) -> Result<Vec<u8>> {
        packet.to_bytes(self.protocol).map_err(|e| {
            Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the script's packet cannot be encoded at {}: {e}",
                    self.protocol
                ),
            ))
        })
    }

    /// Reads one frame. A frame with an invalid fixed header comes back as
    /// the bytes read so far, for the caller to report as it sees fit.
    fn next_frame(&mut self, waiting_for: String) -> Result<Vec<u8>> {
        let mut frame = Vec::new();
        let deadline = self.deadline();
        match reader::read_frame(&mut self.stream, &mut frame, self.protocol, deadline)? {
            Frame::Complete | Frame::BadHeader(_) => Ok(frame),
            Frame::TimedOut => Err(self.timed_out(waiting_for, &frame)),
            Frame::Closed => Err(self.closed(waiting_for, &frame)),
            Frame::TooLarge(size) => Err(Error::UnexpectedData {
                expected: format!(
                    "a packet of at most {MAX_FRAME_SIZE} bytes (its fixed header announces {size})"
                ),
                received: render_bytes(&frame, self.protocol),
            }),
        }
    }

    fn read_decoded(&mut self) -> Result<(Packet, Vec<u8>)> {
        let frame = self.next_frame("a packet".to_string())?;
        match Packet::decode(&frame, self.protocol) {
            Ok(packet) => {
                if let Packet::Connect(connect) = &packet {
                    self.protocol = connect.protocol;
                }
                Ok((packet, frame))
            }
            Err(_) => Err(Error::UnexpectedData {
                expected: "a valid packet".to_string(),
                received: render_bytes(&frame, self.protocol),
            }),
        }
    }

    /// Switches the protocol to that of a CONNECT at the start of `bytes`.
    fn follow_connect(&mut self, bytes: &[u8]) {
        let Ok(Some(header)) = FixedHeader::parse(bytes, self.protocol) else {
            return;
        };
        if header.packet_type() != PacketType::Connect || header.packet_len() > bytes.len() {
            return;
        }
        if let Ok(Packet::Connect(connect)) =
            Packet::decode(&bytes[..header.packet_len()], self.protocol)
        {
            self.protocol = connect.protocol;
        }
    }

    /// `prefix`, the size of `expected`, then `expected` rendered.
    fn describe(&self, prefix: &str, expected: &[u8]) -> String {
        format!(
            "{prefix}{} byte(s):\n{}",
            expected.len(),
            render_bytes(expected, self.protocol)
        )
    }

    /// Reads on briefly so that the report shows the whole packet.
    fn finish_for_report(&mut self, got: &mut Vec<u8>) {
        let deadline = deadline_after(REPORT_GRACE.min(self.timeout));
        reader::finish_frames(&mut self.stream, got, self.protocol, deadline);
    }

    fn mismatch(&mut self, expected: &[u8], mut actual: Vec<u8>) -> Error {
        self.finish_for_report(&mut actual);
        Error::Mismatch {
            expected: render_bytes(expected, self.protocol),
            actual: render_bytes(&actual, self.protocol),
        }
    }

    fn unexpected(&mut self, expected: String, mut received: Vec<u8>) -> Error {
        self.finish_for_report(&mut received);
        Error::UnexpectedData {
            expected,
            received: render_bytes(&received, self.protocol),
        }
    }

    fn timed_out(&self, waiting_for: String, got: &[u8]) -> Error {
        Error::Timeout {
            waiting_for,
            after: self.timeout,
            received: render_bytes(got, self.protocol),
        }
    }

    fn closed(&self, waiting_for: String, got: &[u8]) -> Error {
        Error::Closed {
            waiting_for,
            received: render_bytes(got, self.protocol),
        }
    }
}
