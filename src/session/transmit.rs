//! The bytes waiting to be written, with a note of what completes when each
//! packet's last byte is out (a QoS 0 publish, our DISCONNECT). The driver
//! writes from one contiguous buffer and reports how much it wrote.

use std::collections::VecDeque;

/// What finishes when a packet has been completely written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// A QoS 0 PUBLISH with this mid.
    Qos0(u16),
    /// Our DISCONNECT.
    Disconnect,
}

/// Bytes to write, and completions keyed by the stream offset of their
/// packet's end.
#[derive(Debug, Default)]
pub struct TransmitBuffer {
    bytes: Vec<u8>,
    /// Offset in `bytes` of the first unwritten byte.
    head: usize,
    /// Stream offset of `bytes[0]`.
    base: u64,
    marks: VecDeque<(u64, Completion)>,
}

impl TransmitBuffer {
    /// An empty buffer.
    pub fn new() -> TransmitBuffer {
        TransmitBuffer::default()
    }

    /// The unwritten bytes.
    pub fn pending(&self) -> &[u8] {
        &self.bytes[self.head..]
    }

    /// True when everything has been written.
    pub fn is_empty(&self) -> bool {
        self.head == self.bytes.len()
    }

    /// The buffer to encode the next packet into; call [`Self::mark`] after
    /// it to attach a completion.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Attaches `completion` to the end of what is in the buffer now.
    pub fn mark(&mut self, completion: Completion) {
        let end = self.base + self.bytes.len() as u64;
        self.marks.push_back((end, completion));
    }

    /// `n` more bytes were written; returns what that completed, in order.
    pub fn advance(&mut self, n: usize) -> Vec<Completion> {
        self.head = (self.head + n).min(self.bytes.len());
        let written = self.base + self.head as u64;
        let mut done = Vec::new();
        while let Some(&(end, completion)) = self.marks.front() {
            if end > written {
                break;
            }
            self.marks.pop_front();
            done.push(completion);
        }
        // Reclaim the written prefix once it is most of the buffer, so the
        // buffer does not grow with everything ever written.
        if self.head == self.bytes.len() {
            self.base += self.head as u64;
            self.bytes.clear();
            self.head = 0;
        } else if self.head > 64 * 1024 && self.head * 2 > self.bytes.len() {
            self.bytes.drain(..self.head);
            self.base += self.head as u64;
            self.head = 0;
        }
        done
    }

    /// Drops everything unwritten (a new connection starts); returns the
    /// completions that will now never happen.
    pub fn clear(&mut self) -> Vec<Completion> {
        self.base += self.bytes.len() as u64;
        self.bytes.clear();
        self.head = 0;
        self.marks.drain(..).map(|(_, c)| c).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_fire_when_their_last_byte_is_written() {
        let mut t = TransmitBuffer::new();
        t.buf().extend_from_slice(&[1, 2, 3]);
        t.mark(Completion::Qos0(1));
        t.buf().extend_from_slice(&[4, 5]);
        t.mark(Completion::Disconnect);
        assert_eq!(t.advance(2), []);
        assert_eq!(t.pending(), &[3, 4, 5]);
        assert_eq!(t.advance(1), [Completion::Qos0(1)]);
        assert_eq!(t.advance(2), [Completion::Disconnect]);
        assert!(t.is_empty());
        t.buf().extend_from_slice(&[6]);
        t.mark(Completion::Qos0(2));
        assert_eq!(t.clear(), [Completion::Qos0(2)]);
        assert!(t.is_empty());
    }
}
