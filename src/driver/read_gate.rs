//! One connection's socket, read by whoever holds its gate: the reader
//! thread or the polling loop, or a caller blocked in
//! `MessageInfo::wait_for_publish`.
//!
//! The polling loop (unix) waits for the socket with `poll` instead of a
//! peek and reads without blocking; it keeps the reader thread's rules: it
//! leaves the socket to a caller that reads (and is woken when the caller
//! lets go), stands by after a caller read, and reads only a chunk the
//! session has room for. TLS and WebSocket layers decode every byte read at
//! once (nothing waits in a layer that `poll` could not see).
//!
//! Why a waiting caller reads: a QoS 1 round trip that ends in the reader
//! thread must then wake the waiting thread, and on a virtual machine that
//! second wake-up (often across CPUs) cost as much as the broker's whole
//! round trip. A caller that reads the acknowledgement itself is woken once,
//! by the socket, as a single-threaded client is.
//!
//! How the two share one socket without a poll call: the reader thread
//! waits with a blocking *peek*, which consumes nothing, and reads only once
//! it holds the gate; a waiting caller holds the gate while it blocks in
//! `read`. Every read and the feeding of its bytes happen under the gate, so
//! the session sees the bytes in order whoever read them. A counter of reads
//! tells the reader thread that a caller took the bytes its peek saw, so it
//! never blocks in `read` holding the gate.
//!
//! Standby: after a caller read what woke the reader thread, the reader
//! sleeps (it does not peek) for [`STANDBY`] past that caller's wait, so a
//! program that publishes and waits is not slowed by a second thread woken
//! by every acknowledgement. It skips the standby when it is needed at once:
//! messages stored beyond the in-flight window, or a backlog (of events to
//! deliver or bytes to write, see `Session::over_budget`).

use std::cell::Cell;
use std::io::{ErrorKind, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use super::reader::{Feed, Inbound};
use super::reader_feed::{over_backlog, Step};
use super::Driver;
use crate::transport::Socket;

/// Bytes read at once.
const CHUNK: usize = 64 * 1024;

/// The longest a waiting caller blocks in one read: a message can also end
/// without bytes arriving (`drop_out_messages`), and the caller then finds
/// out within this time.
const WAITER_READ_SLICE: Duration = Duration::from_millis(20);

/// How long the reader thread stands by after a waiting caller read the
/// bytes that woke it: a program that publishes and waits keeps reading
/// itself, and a reader woken with it by every acknowledgement took CPU
/// from that caller and the broker (on 2 cores, 15 µs of the median and
/// most of the tail). Bytes that arrive while nobody waits are read at
/// most this late.
const STANDBY: Duration = Duration::from_millis(2);

/// How long a waiting caller waits for the gate that the reader thread
/// holds for a chunk, before it waits for the reader instead.
const GATE_PATIENCE: Duration = Duration::from_micros(100);

/// How often a polling loop looks again whether the session is back under
/// its memory budget (events held by a stop, bytes the broker does not
/// take), before it reads on.
const BACKLOG_LOOK: Duration = Duration::from_millis(50);

/// Who reads (see [`ReadGate::read_one`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// The reader thread: blocking reads.
    Thread,
    /// A waiting caller: reads bounded by the socket's read timeout.
    Caller,
    /// The polling loop: reads that never block, and no wake-up of itself.
    #[cfg(unix)]
    Loop,
}

/// What a polling loop does with the socket in its next wait (see
/// [`ReadGate::loop_watch`]).
pub(crate) enum Watch {
    /// Waits for it too.
    Socket,
    /// Not, until a waiting caller lets go of it and wakes the loop.
    Parked,
    /// Not, until then.
    Until(Instant),
}

/// The socket, its buffer and the report to the loop, for one connection.
#[derive(Debug)]
pub(crate) struct ReadGate {
    /// The handle that reads, with its buffer; held for a read and the
    /// feeding of what it read.
    slot: Mutex<Slot>,
    /// The handle the reader thread peeks with, outside the gate.
    peek: Socket,
    /// Reads made so far (changed only under the gate).
    reads: AtomicU64,
    /// The end was reported (set under the gate): nobody feeds more.
    ended: AtomicBool,
    /// Until when the reader thread stands by (ns since `made`): set by a
    /// waiting caller that read.
    standby_until: AtomicU64,
    /// A waiting caller reads, or is about to (set before it takes the
    /// gate): a polling loop leaves the socket to it.
    caller_reading: AtomicBool,
    /// A polling loop left the socket to a reading caller and waits to be
    /// woken when it lets go (see [`ReadGate::loop_watch`]).
    loop_parked: AtomicBool,
    /// The last read filled the buffer (read under the gate).
    filled: AtomicBool,
    made: Instant,
    /// Tells the loop how the connection ended (bounded 1: the first report
    /// counts).
    report: Sender<Inbound>,
    feed: Feed,
}

#[derive(Debug)]
struct Slot {
    stream: Socket,
    buf: Vec<u8>,
}

/// What one read under the gate came to.
enum Read1 {
    /// Bytes fed; read on.
    Fed,
    /// The read timed out (a waiting caller's slice).
    TimedOut,
    /// The connection ended or was replaced: nobody reads it again.
    Ended,
    /// Bytes fed, and the loop has too many events to deliver or bytes to
    /// write (the memory budget): read on only once it has worked them off
    /// (only the reader thread waits).
    Backlog,
}

impl ReadGate {
    /// The gate of `stream`, reporting to `report`.
    pub(super) fn new(
        stream: Socket,
        report: Sender<Inbound>,
        feed: Feed,
    ) -> std::io::Result<Self> {
        Ok(ReadGate {
            peek: stream.try_clone()?,
            slot: Mutex::new(Slot {
                stream,
                buf: vec![0; CHUNK],
            }),
            reads: AtomicU64::new(0),
            ended: AtomicBool::new(false),
            standby_until: AtomicU64::new(0),
            caller_reading: AtomicBool::new(false),
            loop_parked: AtomicBool::new(false),
            filled: AtomicBool::new(false),
            made: Instant::now(),
            report,
            feed,
        })
    }

    /// The reader thread: waits for bytes, then reads and feeds them under
    /// the gate, until the connection ends.
    pub(super) fn reader_thread(&self) {
        let mut would_block = 0u32;
        loop {
            let seen = self.reads.load(Ordering::SeqCst);
            let peeked = self.peek.wait_readable();
            if let Err(e) = &peeked {
                match e.kind() {
                    ErrorKind::Interrupted => continue,
                    // A waiting caller's read timeout that this peek
                    // inherited (once per wait). Again and again, the
                    // socket was made non-blocking under the reader: do
                    // not spin.
                    ErrorKind::WouldBlock => {
                        would_block += 1;
                        if would_block > 1 {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        continue;
                    }
                    _ => {}
                }
            }
            would_block = 0;
            // Bytes, the end or an error: all are handled under the gate,
            // after whatever a waiting caller read before them.
            let mut slot = self.take_gate();
            if self.ended.load(Ordering::SeqCst) {
                return;
            }
            if self.reads.load(Ordering::SeqCst) != seen {
                // A waiting caller read what the peek saw.
                drop(slot);
                self.stand_by();
                continue;
            }
            let read = match peeked {
                Ok(_) => self.read_one(&mut slot, Reader::Thread),
                Err(e) => {
                    self.end(Inbound::Closed(Some(e)));
                    Read1::Ended
                }
            };
            match read {
                Read1::Fed | Read1::TimedOut => {}
                Read1::Ended => return,
                Read1::Backlog => {
                    // Holding the gate: a waiting caller must not read on
                    // either.
                    let Some(shared) = self.feed.shared.upgrade() else {
                        return;
                    };
                    let client = Driver { shared };
                    if let Step::Stop = client.wait_for_dispatch(self.feed.generation) {
                        return;
                    }
                }
            }
        }
    }

    /// Nanoseconds since the gate was made.
    fn now_ns(&self) -> u64 {
        self.made.elapsed().as_nanos() as u64
    }

    /// Sleeps until `standby_until` (see [`STANDBY`]), unless the reader
    /// is needed now: messages are stored beyond the in-flight window (a
    /// publisher that waits only now and then, for the message of a
    /// thousand publishes ago, say, needs the acknowledgements read as they
    /// come), or the loop has a backlog of events (the reader's wait for it
    /// is what slows the broker down).
    fn stand_by(&self) {
        loop {
            let until = self.standby_until.load(Ordering::SeqCst);
            let now = self.now_ns();
            if now >= until || self.ended.load(Ordering::SeqCst) || self.reader_needed() {
                return;
            }
            std::thread::sleep(Duration::from_nanos(until - now));
        }
    }

    /// More is stored than the in-flight window holds (messages queued
    /// behind it, or acknowledged ones not yet released: either way the
    /// reader may as well read), or the loop has a backlog of events; or
    /// the client is gone.
    fn reader_needed(&self) -> bool {
        self.with_core(|core| {
            let store = core.session.store();
            store.len() > store.in_flight() || over_backlog(&core.session)
        })
    }

    /// The loop has a backlog of events or unwritten bytes: a waiting
    /// caller reads no more
    /// (the reader thread's wait for the loop slows the broker down
    /// instead); or the client is gone.
    pub(super) fn backlogged(&self) -> bool {
        self.with_core(|core| over_backlog(&core.session))
    }

    /// `check` on the client's core; true when the client is gone.
    fn with_core(&self, check: impl FnOnce(&super::Core) -> bool) -> bool {
        self.feed
            .shared
            .upgrade()
            .is_none_or(|shared| check(&shared.core.lock()))
    }

    /// The gate, for the reader thread. A waiting caller that holds it is
    /// reading what woke the reader and lets go within a round trip; a few
    /// short sleeps before blocking on the lock spare that caller the work
    /// of waking the reader when it lets go (its round trip is what the
    /// gate is for). A caller that holds the gate longer is waiting for a
    /// slow broker, and wakes the reader then.
    fn take_gate(&self) -> parking_lot::MutexGuard<'_, Slot> {
        for pause_us in [50, 100, 200] {
            if let Some(slot) = self.slot.try_lock() {
                return slot;
            }
            std::thread::sleep(Duration::from_micros(pause_us));
        }
        self.slot.lock()
    }

    /// One read and the feeding of its bytes; the caller holds the gate.
    fn read_one(&self, slot: &mut Slot, reader: Reader) -> Read1 {
        let n = loop {
            let read = match reader {
                #[cfg(unix)]
                Reader::Loop => rustix::net::recv(
                    &slot.stream,
                    &mut slot.buf,
                    rustix::net::RecvFlags::DONTWAIT,
                )
                .map(|(n, _)| n)
                .map_err(std::io::Error::from),
                _ => (&slot.stream).read(&mut slot.buf),
            };
            match read {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // A waiting caller's slice (on Linux and macOS a receive
                // timeout is EAGAIN; a real ETIMEDOUT is an error).
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Read1::TimedOut,
                Err(e) => {
                    self.reads.fetch_add(1, Ordering::SeqCst);
                    self.end(Inbound::Closed(Some(e)));
                    return Read1::Ended;
                }
            }
        };
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.filled.store(n == slot.buf.len(), Ordering::Relaxed);
        if n == 0 {
            self.end(Inbound::Closed(None));
            return Read1::Ended;
        }
        let Some(shared) = self.feed.shared.upgrade() else {
            return Read1::Ended;
        };
        FEEDING.with(|f| f.set(true));
        let step = Driver { shared }.reader_chunk(
            &slot.buf[..n],
            self.feed.generation,
            !matches!(reader, Reader::Loop),
        );
        FEEDING.with(|f| f.set(false));
        match step {
            Step::Go => Read1::Fed,
            Step::Backlog => Read1::Backlog,
            Step::Stop => Read1::Ended,
            Step::Failed(cause) => {
                self.end(Inbound::Failed(cause));
                Read1::Ended
            }
        }
    }

    /// Tells the loop how the connection ended; under the gate, so after
    /// every byte read before the end was fed, and only once.
    fn end(&self, how: Inbound) {
        if !self.ended.swap(true, Ordering::SeqCst) {
            let _ = self.report.try_send(how);
            // A polling loop hears of an end a waiting caller read only
            // when woken.
            if let Some(shared) = self.feed.shared.upgrade() {
                shared.wake();
            }
        }
    }

    /// A waiting caller reads the socket itself until `done()`, `deadline`,
    /// or until it cannot (the reader thread or another caller has the
    /// gate, the connection ended). Returns `done()`; on false the caller
    /// waits to be woken as before.
    pub(super) fn read_while_waiting(
        &self,
        done: &dyn Fn() -> bool,
        may_read: &dyn Fn() -> bool,
        deadline: Option<Instant>,
    ) -> bool {
        // Elsewhere a receive timeout can leave a socket in an undefined
        // state (Windows): the caller waits to be woken instead.
        if !cfg!(unix) {
            return done();
        }
        // Said before the gate is taken, so a polling loop that finds the
        // gate held also finds why (see `loop_watch`).
        self.caller_reading.store(true, Ordering::SeqCst);
        let Some(mut slot) = self
            .slot
            .try_lock()
            .or_else(|| self.slot.try_lock_for(GATE_PATIENCE))
        else {
            self.caller_let_go();
            return done();
        };
        // The socket's read timeout is the socket's, not this handle's: it
        // is cleared before the gate is let go, so the reader thread's
        // reads never time out (a peek that began meanwhile may, once).
        let mut timed = false;
        let finished = loop {
            if done() {
                break true;
            }
            if self.ended.load(Ordering::SeqCst) || !may_read() || self.backlogged() {
                break false;
            }
            let slice = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(WAITER_READ_SLICE),
                    _ => break false,
                },
                None => WAITER_READ_SLICE,
            };
            if slot.stream.set_read_timeout(Some(slice)).is_err() {
                break done();
            }
            timed = true;
            let read = self.read_one(&mut slot, Reader::Caller);
            // The chunk that reached the backlog was read and fed too.
            if matches!(read, Read1::Fed | Read1::Backlog) {
                if let Some(shared) = self.feed.shared.upgrade() {
                    shared.waiter_reads.fetch_add(1, Ordering::Relaxed);
                }
            }
            match read {
                Read1::Fed | Read1::TimedOut => {}
                // The reader thread waits for the loop, not a caller: the
                // loop may be the caller's own `loop()` calls.
                Read1::Ended | Read1::Backlog => break done(),
            }
        };
        if timed {
            let _ = slot.stream.set_read_timeout(None);
            // The reader stands by only while callers keep up with what
            // arrives (see `stand_by`, which checks again).
            let until = self.now_ns() + STANDBY.as_nanos() as u64;
            self.standby_until.store(until, Ordering::SeqCst);
        }
        drop(slot);
        self.caller_let_go();
        // Nobody reads past the backlog but a reader thread; and a
        // publisher that keeps messages queued behind the in-flight window
        // and waits for old ones, or for room (`bench --sink`: a third of
        // the throughput at a window of 20 with a polling loop reading in
        // turn with the waiter), is served best by one too (see
        // `ReadSide::thread_for_backlog`).
        if (!finished && self.backlogged()) || self.reader_needed() {
            self.reader_thread_wanted();
        }
        finished
    }

    /// This connection, if a polling loop reads it, gets a reader thread.
    fn reader_thread_wanted(&self) {
        let Some(shared) = self.feed.shared.upgrade() else {
            return;
        };
        let mut core = shared.core.lock();
        let core = &mut *core;
        if core.generation != self.feed.generation {
            return;
        }
        let name = format!("mqtt-tether-read-{}", core.session.config().client_id);
        if let Some(conn) = core.conn.as_mut() {
            conn.read_side.thread_for_backlog(|| name);
        }
    }

    /// A waiting caller is done with the gate: a polling loop that left
    /// the socket to it watches it again.
    fn caller_let_go(&self) {
        self.caller_reading.store(false, Ordering::SeqCst);
        if self.loop_parked.swap(false, Ordering::SeqCst) {
            if let Some(shared) = self.feed.shared.upgrade() {
                shared.wake();
            }
        }
    }

    /// Reads made so far, for [`ReadGate::loop_read`].
    pub(super) fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }

    /// The socket, for the loop's poll.
    #[cfg(unix)]
    pub(super) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.peek.as_fd()
    }

    /// Whether a polling loop watches the socket in its next wait, as the
    /// reader thread would read: not while a waiting caller reads (the loop
    /// is woken when it lets go), not during a standby (see [`STANDBY`]),
    /// and not while the session is over its memory budget (looked at again
    /// within [`BACKLOG_LOOK`]).
    pub(super) fn loop_watch(&self) -> Watch {
        self.loop_parked.store(true, Ordering::SeqCst);
        if self.caller_reading.load(Ordering::SeqCst) {
            return Watch::Parked;
        }
        self.loop_parked.store(false, Ordering::SeqCst);
        if self.backlogged() {
            return Watch::Until(Instant::now() + BACKLOG_LOOK);
        }
        let until = self.standby_until.load(Ordering::SeqCst);
        if self.now_ns() < until && !self.reader_needed() {
            return Watch::Until(self.made + Duration::from_nanos(until));
        }
        Watch::Socket
    }

    /// The loop's wait is over: a caller letting go need not wake it.
    pub(super) fn loop_awake(&self) {
        self.loop_parked.store(false, Ordering::SeqCst);
    }

    /// The polling loop's read, after its poll said the socket is readable:
    /// one chunk, without blocking, fed to the session, unless a waiting
    /// caller holds the gate or read since `seen` (what the poll saw may be
    /// gone). An end is reported on the gate's channel, as a reader
    /// thread's.
    /// Returns true when the read filled the buffer, so more is likely
    /// waiting (see [`ReadGate::loop_read_more`]).
    #[cfg(unix)]
    pub(super) fn loop_read(&self, seen: u64) -> bool {
        let Some(mut slot) = self.slot.try_lock() else {
            return false;
        };
        if self.ended.load(Ordering::SeqCst) || self.reads.load(Ordering::SeqCst) != seen {
            return false;
        }
        let read = self.read_one(&mut slot, Reader::Loop);
        matches!(read, Read1::Fed) && self.filled.load(Ordering::Relaxed)
    }

    /// The polling loop reads on without a poll, after it delivered what
    /// a read that filled the buffer brought: under a stream of messages a
    /// poll per chunk would be a system call for nothing. (After a read
    /// that did not fill the buffer the socket was empty: a read now would
    /// mostly find nothing, a system call for nothing too.) True when it
    /// fed a full buffer again and the session is under its budget.
    #[cfg(unix)]
    pub(super) fn loop_read_more(&self) -> bool {
        if self.caller_reading.load(Ordering::SeqCst) {
            return false;
        }
        let Some(mut slot) = self.slot.try_lock() else {
            return false;
        };
        if self.ended.load(Ordering::SeqCst) {
            return false;
        }
        let read = self.read_one(&mut slot, Reader::Loop);
        matches!(read, Read1::Fed) && self.filled.load(Ordering::Relaxed)
    }
}

thread_local! {
    /// This thread is feeding what it read (a callback such as `on_log`
    /// may run meanwhile): it must not wait for a read.
    static FEEDING: Cell<bool> = const { Cell::new(false) };
}

/// True while this thread feeds bytes it read: a wait started now (from
/// `on_log`, say) would wait for the reading it is blocking.
pub(crate) fn feeding() -> bool {
    FEEDING.with(Cell::get)
}

/// The gate of the live connection, if a reader thread reads it.
pub(crate) fn gate_of(core: &super::Core) -> Option<Arc<ReadGate>> {
    core.conn.as_ref().and_then(|c| c.read_side.gate())
}
