//! The bytes waiting to be written, with a note of what completes when each
//! packet's last byte is out (a QoS 0 publish, our DISCONNECT). The driver
//! writes from one contiguous buffer and reports how much it wrote.

use std::collections::VecDeque;

/// The capacity a buffer keeps when its connection is gone, and the least
/// it keeps on a live one.
const KEEP_CAPACITY: usize = 64 * 1024;

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
///
/// A driver either writes straight from [`Self::pending`], or moves the bytes
/// out with [`Self::take`] (to write them without holding a lock); either way
/// it reports what reached the socket with [`Self::advance`].
#[derive(Debug)]
pub struct TransmitBuffer {
    bytes: Vec<u8>,
    /// Offset in `bytes` of the first byte neither written nor taken.
    head: usize,
    /// Stream offset of `bytes[0]`.
    base: u64,
    /// Stream offset up to which bytes were written.
    written: u64,
    marks: VecDeque<(u64, Completion)>,
    /// The most capacity an emptied buffer keeps on a live connection
    /// ([`Self::set_keep_capacity`]).
    keep: usize,
}

impl Default for TransmitBuffer {
    fn default() -> TransmitBuffer {
        TransmitBuffer {
            bytes: Vec::new(),
            head: 0,
            base: 0,
            written: 0,
            marks: VecDeque::new(),
            keep: KEEP_CAPACITY,
        }
    }
}

impl TransmitBuffer {
    /// An empty buffer.
    pub fn new() -> TransmitBuffer {
        TransmitBuffer::default()
    }

    /// Sets the most capacity the buffer keeps once everything in it has
    /// been written (at least 64 KiB): a spike above it (a
    /// broker flooding PINGREQs while it reads nothing, one large publish)
    /// is given back, while a client publishing fast keeps the room its
    /// bursts take between two writes (giving it back each time and
    /// growing it again cost a tenth of its QoS 0 throughput). The session
    /// keeps half its `transmit` budget.
    pub fn set_keep_capacity(&mut self, keep: usize) {
        self.keep = keep.max(KEEP_CAPACITY);
    }

    /// The bytes neither written nor taken.
    pub fn pending(&self) -> &[u8] {
        &self.bytes[self.head..]
    }

    /// True when nothing is left to write or take.
    pub fn is_empty(&self) -> bool {
        self.head == self.bytes.len()
    }

    /// Bytes queued and not yet reported written, taken ones included: what
    /// the transmit part of the memory budget measures.
    pub fn unwritten(&self) -> usize {
        (self.base + self.bytes.len() as u64 - self.written) as usize
    }

    /// The memory the buffer keeps.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// True when everything queued has been reported written.
    pub fn is_flushed(&self) -> bool {
        self.written == self.base + self.bytes.len() as u64
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

    /// Moves the pending bytes to the end of `out`; report them with
    /// [`Self::advance`] as they are written.
    pub fn take(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.bytes[self.head..]);
        self.base += self.bytes.len() as u64;
        self.emptied();
    }

    /// The bytes are gone (written or taken): empty the buffer, and give
    /// back what a spike made it take.
    fn emptied(&mut self) {
        self.bytes.clear();
        self.head = 0;
        if self.bytes.capacity() > self.keep {
            self.bytes.shrink_to(KEEP_CAPACITY);
        }
    }

    /// `n` more bytes were written; returns what that completed, in order.
    pub fn advance(&mut self, n: usize) -> Vec<Completion> {
        let end = self.base + self.bytes.len() as u64;
        self.written = (self.written + n as u64).min(end);
        if self.written > self.base {
            // Written straight from `pending`: move the head past them.
            self.head = self.head.max((self.written - self.base) as usize);
        }
        let mut done = Vec::new();
        while let Some(&(mark, completion)) = self.marks.front() {
            if mark > self.written {
                break;
            }
            self.marks.pop_front();
            done.push(completion);
        }
        // Reclaim the written prefix so the buffer does not grow with
        // everything ever sent.
        if self.head == self.bytes.len() {
            self.base += self.bytes.len() as u64;
            self.emptied();
        } else if self.head > 64 * 1024 && self.head * 2 > self.bytes.len() {
            self.bytes.drain(..self.head);
            self.base += self.head as u64;
            self.head = 0;
        }
        done
    }

    /// Drops everything not yet written, taken bytes included (a new
    /// connection starts); returns the completions that will now never
    /// happen.
    pub fn clear(&mut self) -> Vec<Completion> {
        self.base += self.bytes.len() as u64;
        self.emptied();
        // The connection is gone: nothing is kept for it.
        self.bytes.shrink_to(KEEP_CAPACITY);
        self.written = self.base;
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

    #[test]
    fn taken_bytes_complete_as_they_are_reported_written() {
        let mut t = TransmitBuffer::new();
        t.buf().extend_from_slice(&[1, 2]);
        t.mark(Completion::Qos0(7));
        let mut out = Vec::new();
        t.take(&mut out);
        assert_eq!(out, [1, 2]);
        assert!(t.is_empty() && !t.is_flushed());
        t.buf().extend_from_slice(&[3]);
        t.mark(Completion::Disconnect);
        assert_eq!(t.advance(2), [Completion::Qos0(7)]);
        assert_eq!(t.pending(), &[3]);
        assert_eq!(t.advance(1), [Completion::Disconnect]);
        assert!(t.is_flushed());
        t.buf().extend_from_slice(&[4]);
        t.mark(Completion::Qos0(8));
        t.take(&mut out);
        assert_eq!(t.clear(), [Completion::Qos0(8)], "taken but unwritten");
    }

    #[test]
    fn unwritten_bytes_count_taken_ones_and_a_spike_gives_its_memory_back() {
        const KEEP: usize = 1 << 20;
        const BIG: usize = 2 * KEEP;
        let mut t = TransmitBuffer::new();
        t.set_keep_capacity(KEEP);
        t.buf().resize(KEEP / 2, 6);
        t.advance(KEEP / 2);
        assert!(t.capacity() >= KEEP / 2, "kept for the next burst");
        t.buf().resize(BIG, 7);
        assert_eq!(t.unwritten(), BIG);
        let mut out = Vec::new();
        t.take(&mut out);
        assert_eq!(t.unwritten(), BIG, "taken, not yet written");
        assert!(t.capacity() <= KEEP_CAPACITY, "{}", t.capacity());
        t.buf().resize(BIG, 8);
        assert_eq!(t.unwritten(), 2 * BIG);
        t.advance(BIG);
        assert_eq!(t.unwritten(), BIG);
        assert!(t.capacity() >= BIG);
        t.advance(BIG - 1);
        assert_eq!(t.unwritten(), 1);
        t.advance(1);
        assert_eq!((t.unwritten(), t.capacity() <= KEEP_CAPACITY), (0, true));
        // A connection that ends keeps nothing for the next one.
        t.buf().resize(KEEP / 2, 9);
        t.clear();
        assert_eq!((t.unwritten(), t.capacity() <= KEEP_CAPACITY), (0, true));
    }
}
