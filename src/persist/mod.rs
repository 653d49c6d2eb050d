//! Crash-safe persistence of a session's stores (opt-in:
//! [`Client::persistence_set`](crate::Client::persistence_set)).
//!
//! With a directory given, the outgoing QoS 1/2 store (each message and
//! whether its PUBREC came) and the inbound QoS 2 state (messages received
//! and not yet acknowledged) are kept on disk, so a client killed at any
//! moment and started again with the same directory, client id and
//! `clean_session=False` loses nothing: the stored messages go out again
//! with their ids, in publish order, within the broker's window.
//!
//! How it is layered: the session (sans-IO) appends a
//! [`StoreOp`](crate::session::StoreOp) per
//! change to a journal; the driver takes the journal under the core lock,
//! writes its records here ([`Store::append`]) and, with
//! [`Durability::Sync`], fsyncs ([`Store::sync_before_send`]) before it
//! takes the bytes for the socket, in the same lock hold. So no PUBLISH,
//! PUBREL or PUBREC is ever on the wire before its record, and the
//! session checks that no driver path forgets to (a debug assertion).
//! `publish` also writes its record before it returns, so the count of
//! messages ever stored ([`Store::next_seq`], read back with
//! `Client::persisted_publishes`) tells a restarted producer where to
//! resume.
//!
//! The format (see [`format`](mod@format)) is an append-only log of small records, each
//! with its length and a CRC-32: one record per change, so the common path
//! (a publish, an acknowledgement) is one `write` of a few dozen bytes
//! plus the message, never a rewrite; when the live records have become a
//! quarter of the file or less (and it is over 1 MiB), it is compacted:
//! the live records go to a new file, fsynced, renamed over the old one.
//! Chosen over an embedded store (redb, sled, fjall) because the data is a
//! queue, written once, read back only after a crash, never queried: a log
//! is the whole need, ~600 lines with its tests, where a store would add a
//! dependency tree larger than this crate, its own file format, and its own
//! threads or locking to reason about under `kill -9`.
//!
//! A damaged log (a torn tail from a write the process did not finish, a
//! record whose checksum fails) is read up to the damage: that valid
//! prefix is the state, the rest is reported (`on_log` at WARNING, and in
//! the [`PersistReport`] the call returns, with the byte offset), and the
//! log is rewritten without it. A file that is not this format at all is
//! an `Err` from the call that opens it. Never a panic.
//!
//! The directory is locked with an operating-system lock (`flock`,
//! `LockFileEx`) for as long as the client keeps it: a second client, in
//! this process or another, gets a clear error, and the lock dies with its
//! holder, so `kill -9` leaves no stale lock.

mod file;
pub mod format;

pub use file::{Durability, OpenError, Opened, Store};

/// What [`Client::persistence_set`](crate::Client::persistence_set) found in
/// the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistReport {
    /// Outgoing QoS 1/2 messages recovered: they go out at the next
    /// connection, before anything published later.
    pub outgoing: usize,
    /// Inbound QoS 2 messages recovered (received, not yet acknowledged):
    /// delivered when the broker's PUBREL comes.
    pub inbound: usize,
    /// How many QoS 1/2 messages were ever stored through this directory
    /// (kept across compaction): a deterministic producer resumes at this
    /// message, since every one before it is either delivered or among
    /// `outgoing`.
    pub publishes: u64,
    /// Where the log was damaged and cut, if it was (a description with the
    /// byte offset; also logged at WARNING).
    pub damage: Option<String>,
}
