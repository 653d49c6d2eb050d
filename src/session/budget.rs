//! How much memory one client may hold for what a peer makes it hold: the
//! bytes waiting for the socket, the messages waiting for the application,
//! the inbound QoS 2 messages waiting for PUBREL, and the outgoing store.

/// One mebibyte.
const MIB: usize = 1024 * 1024;

/// The memory budget of one client, in bytes, one figure per part
/// ([`Client::memory_budget_set`](crate::Client::memory_budget_set)).
///
/// Paho has no such bound: a broker that sends and never reads, or sends
/// faster than `on_message` keeps up, grows it until the process dies.
/// Each part says what happens when it is reached; none of them drops a
/// message that was already accepted. `usize::MAX` makes a part unlimited.
///
/// A part is checked before something is added, so it can be passed by
/// what one step adds: one packet (a single publish larger than the
/// budget is still accepted into an empty buffer), or what one read of the
/// socket (64 KiB) brings in and makes the client answer.
///
/// ```
/// use mqtt_tether::MemoryBudget;
///
/// let budget = MemoryBudget::default();
/// assert_eq!(budget.transmit, 16 * 1024 * 1024);
/// assert_eq!(budget.events, 64 * 1024 * 1024);
/// assert_eq!(budget.inbound_qos2, 64 * 1024 * 1024);
/// assert_eq!(budget.store, 256 * 1024 * 1024);
/// let small = MemoryBudget { store: 1024 * 1024, ..MemoryBudget::default() };
/// # let _ = small;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryBudget {
    /// Bytes queued for the socket and not yet written (default 16 MiB):
    /// our PUBLISHes, SUBSCRIBEs and the answers the client gives to what
    /// the broker sends (PUBACK, PUBREC, PUBCOMP, PINGRESP).
    ///
    /// At the budget the client stops reading the socket until the buffer
    /// has drained below half of it, so a broker that sends and never
    /// reads is slowed down by TCP instead of growing the client; and a
    /// new QoS 0 `publish`, a `subscribe` or an `unsubscribe` is refused
    /// with `MQTT_ERR_QUEUE_SIZE` (the message's outcome `QueueFull`).
    /// Once written, a buffer that grew past half the budget gives its
    /// memory back (keeping 64 KiB); below that it keeps its room for the
    /// next burst. When its connection ends it keeps 64 KiB.
    pub transmit: usize,
    /// Received messages not yet handed to `on_message` (default 64 MiB),
    /// counted as topic + payload + MQTT 5 properties. At the budget, or
    /// at 8,192 undelivered events of any size, the client stops reading
    /// the socket until the loop has delivered half of them: a slow
    /// `on_message` slows the broker down (TCP flow control). Nothing is
    /// dropped.
    pub events: usize,
    /// Inbound QoS 2 messages held between their PUBLISH (answered with
    /// PUBREC) and the broker's PUBREL (default 64 MiB), counted as topic +
    /// payload + properties. A message that would take them past the
    /// budget closes the connection: MQTT 5 with DISCONNECT 0x97 (Quota
    /// exceeded), earlier levels without a word. The broker delivers it
    /// again on the next connection. One message alone is always accepted.
    pub inbound_qos2: usize,
    /// The outgoing store of QoS 1 and 2 messages (default 256 MiB),
    /// queued or in flight, counted as their encoded PUBLISH packets. A
    /// `publish` that would take it past the budget is refused with
    /// `MQTT_ERR_QUEUE_SIZE` (outcome `QueueFull`) and nothing is stored,
    /// as when `max_queued_messages` (a count, kept as in Paho) is
    /// reached. One message alone is always accepted.
    pub store: usize,
}

impl Default for MemoryBudget {
    fn default() -> MemoryBudget {
        MemoryBudget {
            transmit: 16 * MIB,
            events: 64 * MIB,
            inbound_qos2: 64 * MIB,
            store: 256 * MIB,
        }
    }
}

/// What one client holds now, part by part, in the units of
/// [`MemoryBudget`] (from [`Session::memory_use`](super::Session::memory_use)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryUse {
    /// Bytes queued for the socket and not yet written (taken out for a
    /// write in progress included).
    pub transmit: usize,
    /// The capacity of the transmit buffer: the memory it keeps.
    pub transmit_capacity: usize,
    /// Undelivered received messages (topic + payload + properties). The
    /// session counts those it holds; the client adds those its loop has
    /// taken and is delivering (at most 1 MiB of them, or 256 events).
    pub events: usize,
    /// How many events wait (of any kind), likewise.
    pub event_count: usize,
    /// Inbound QoS 2 messages waiting for PUBREL.
    pub inbound_qos2: usize,
    /// The outgoing store's encoded packets.
    pub store: usize,
}

/// The largest inbound packet accepted by default (16 MiB), at every
/// protocol level; announced as Maximum Packet Size in an MQTT 5 CONNECT.
pub const DEFAULT_MAX_INBOUND_PACKET_SIZE: u32 = 16 * MIB as u32;
