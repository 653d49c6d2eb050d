//! Incremental decoding of a byte stream into packets.
//!
//! Bytes arrive from a socket in pieces of any size. [`Decoder::decode`] takes
//! a slice, consumes what it needs and returns each packet as soon as its last
//! byte is there. A packet that lies whole inside the slice is decoded in
//! place, with no copy into the decoder; only a packet cut by the end of the
//! slice is buffered, and only after its fixed header has passed the maximum
//! packet size check. So memory held for a connection never exceeds the
//! maximum packet size, whatever the peer sends.

use super::error::DecodeError;
use super::fixed_header::FixedHeader;
use super::{Packet, ProtocolVersion};

/// The largest packet MQTT can express: a 5-byte fixed header and a remaining
/// length of 268,435,455. This is the default maximum, as Paho has no limit.
pub const DEFAULT_MAX_PACKET_SIZE: usize = 5 + super::MAX_VARIABLE_INTEGER as usize;

/// Buffer capacity kept between packets; a larger buffer (left by a large
/// packet) is released once that packet is decoded.
const KEEP_CAPACITY: usize = 64 * 1024;

/// A streaming packet decoder for one connection.
///
/// ```
/// use mqtt_tether::packet::{Decoder, Packet, ProtocolVersion};
///
/// let mut decoder = Decoder::new(ProtocolVersion::MQTTv311);
/// // A CONNACK and a PINGRESP, arriving in two pieces.
/// let mut first: &[u8] = &[0x20, 0x02, 0x00];
/// assert_eq!(decoder.decode(&mut first)?, None);
/// let mut second: &[u8] = &[0x00, 0xd0, 0x00];
/// assert!(matches!(decoder.decode(&mut second)?, Some(Packet::ConnAck(_))));
/// assert_eq!(decoder.decode(&mut second)?, Some(Packet::PingResp));
/// assert!(second.is_empty());
/// # Ok::<(), mqtt_tether::packet::DecodeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    protocol: ProtocolVersion,
    max_packet_size: usize,
    /// The packet in progress: its fixed header and as much body as has come.
    partial: Vec<u8>,
    /// The fixed header of the packet in progress, once it is complete.
    header: Option<FixedHeader>,
}

impl Decoder {
    /// A decoder for `protocol` that accepts packets up to
    /// [`DEFAULT_MAX_PACKET_SIZE`].
    pub fn new(protocol: ProtocolVersion) -> Decoder {
        Decoder {
            protocol,
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            partial: Vec::new(),
            header: None,
        }
    }

    /// Sets the largest packet (fixed header included) this decoder accepts.
    /// A larger packet is refused from its fixed header, before its body is read.
    pub fn with_max_packet_size(mut self, max_packet_size: usize) -> Decoder {
        self.set_max_packet_size(max_packet_size);
        self
    }

    /// Sets the largest packet (fixed header included) this decoder accepts.
    pub fn set_max_packet_size(&mut self, max_packet_size: usize) {
        self.max_packet_size = max_packet_size.min(DEFAULT_MAX_PACKET_SIZE);
    }

    /// The largest packet this decoder accepts.
    pub fn max_packet_size(&self) -> usize {
        self.max_packet_size
    }

    /// The protocol level packets are decoded at.
    pub fn protocol(&self) -> ProtocolVersion {
        self.protocol
    }

    /// Changes the protocol level, e.g. once a broker has read CONNECT, or
    /// after a client falls back from 3.1.1 to 3.1.
    pub fn set_protocol(&mut self, protocol: ProtocolVersion) {
        self.protocol = protocol;
    }

    /// How many bytes of an unfinished packet are buffered.
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// The memory held for an unfinished packet, in bytes: never more than
    /// that packet's size, and never more than twice what has arrived of it.
    pub fn capacity(&self) -> usize {
        self.partial.capacity()
    }

    /// Forgets any unfinished packet (for a new connection).
    pub fn reset(&mut self) {
        self.partial = Vec::new();
        self.header = None;
    }

    /// Decodes the next packet from `input`, advancing `input` past the bytes
    /// used.
    ///
    /// Returns `Ok(None)` when `input` is used up before a packet is complete;
    /// the bytes are kept and the next call goes on from them. Call it in a loop
    /// until it returns `Ok(None)` to take every packet out of a chunk.
    ///
    /// After an error the stream cannot be resynchronised: close the
    /// connection. The decoder itself is reset and may be used for a new one.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Packet>, DecodeError> {
        let result = self.decode_inner(input);
        if result.is_err() {
            self.reset();
        }
        result
    }

    fn decode_inner(&mut self, input: &mut &[u8]) -> Result<Option<Packet>, DecodeError> {
        if self.partial.is_empty() {
            return self.decode_in_place(input);
        }
        let header = match self.header {
            Some(h) => h,
            None => match self.complete_header(input)? {
                Some(h) => h,
                None => return Ok(None),
            },
        };
        let total = header.packet_len();
        let take = (total - self.partial.len()).min(input.len());
        let (used, rest) = input.split_at(take);
        self.grow_for(take, total);
        self.partial.extend_from_slice(used);
        *input = rest;
        if self.partial.len() < total {
            return Ok(None);
        }
        let packet =
            Packet::decode_body(&header, &self.partial[header.header_len()..], self.protocol);
        self.header = None;
        self.partial.clear();
        if self.partial.capacity() > KEEP_CAPACITY {
            self.partial = Vec::new();
        }
        packet.map(Some)
    }

    /// The fast path: nothing is buffered, so decode straight from `input`.
    fn decode_in_place(&mut self, input: &mut &[u8]) -> Result<Option<Packet>, DecodeError> {
        if input.is_empty() {
            return Ok(None);
        }
        let Some(header) = FixedHeader::parse(input, self.protocol)? else {
            // At most four bytes of an unfinished fixed header.
            self.partial.extend_from_slice(input);
            *input = &[];
            return Ok(None);
        };
        self.check_size(&header)?;
        let total = header.packet_len();
        if input.len() < total {
            self.grow_for(input.len(), total);
            self.partial.extend_from_slice(input);
            self.header = Some(header);
            *input = &[];
            return Ok(None);
        }
        let (frame, rest) = input.split_at(total);
        *input = rest;
        Packet::decode_body(&header, &frame[header.header_len()..], self.protocol).map(Some)
    }

    /// Moves bytes into `partial` one at a time until the fixed header is
    /// whole (it is at most five bytes), then checks it.
    fn complete_header(&mut self, input: &mut &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
        while let Some((&byte, rest)) = input.split_first() {
            self.partial.push(byte);
            *input = rest;
            if let Some(header) = FixedHeader::parse(&self.partial, self.protocol)? {
                self.check_size(&header)?;
                self.header = Some(header);
                return Ok(Some(header));
            }
        }
        Ok(None)
    }

    /// Makes room for `more` bytes of a packet of `total` bytes. Capacity
    /// doubles as bytes arrive (so a peer that only announces a large packet
    /// gets nothing reserved for it), but never beyond the packet's size.
    fn grow_for(&mut self, more: usize, total: usize) {
        let needed = self.partial.len() + more;
        if needed <= self.partial.capacity() {
            return;
        }
        let target = needed.max(self.partial.capacity() * 2).min(total);
        self.partial.reserve_exact(target - self.partial.len());
    }

    fn check_size(&self, header: &FixedHeader) -> Result<(), DecodeError> {
        let size = header.packet_len();
        if size > self.max_packet_size {
            return Err(DecodeError::PacketTooLarge {
                size,
                maximum: self.max_packet_size,
            });
        }
        Ok(())
    }
}
