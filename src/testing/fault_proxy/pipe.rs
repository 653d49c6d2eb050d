//! One direction of a proxied connection: a reader that stamps each chunk
//! with its delivery time, and a writer that waits for that time, paces the
//! bytes to the bandwidth cap and drops them into the black hole if it is on.
//!
//! Reading and writing are separate threads so that latency delays every
//! chunk by the same amount instead of adding up while a writer sleeps.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::AtomicU64;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::counters::Counters;
use super::shared::{Conn, Shared};

/// The most bytes one read takes.
const CHUNK_BYTES: usize = 16 * 1024;

/// How many chunks may wait between reader and writer. Bounded, so a slow
/// (capped or delayed) writer pushes back on the sender through TCP instead
/// of the proxy buffering without limit.
pub(super) const QUEUED_CHUNKS: usize = 64;

/// The longest a pipe sleeps before checking whether its connection closed.
const SLEEP_SLICE: Duration = Duration::from_millis(10);

/// The pacing granularity of the bandwidth cap: a cap is met in pieces of
/// about this much time's worth of bytes.
const PACE_SLICES_PER_SECOND: u64 = 50;

/// Which way bytes flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// From the client to the upstream.
    ToUpstream,
    /// From the upstream back to the client.
    ToClient,
}

impl Direction {
    fn source(self, conn: &Conn) -> &TcpStream {
        match self {
            Direction::ToUpstream => &conn.client,
            Direction::ToClient => &conn.upstream,
        }
    }

    fn dest(self, conn: &Conn) -> &TcpStream {
        match self {
            Direction::ToUpstream => &conn.upstream,
            Direction::ToClient => &conn.client,
        }
    }

    fn delivered(self, shared: &Shared) -> &AtomicU64 {
        match self {
            Direction::ToUpstream => &shared.counters.bytes_to_upstream,
            Direction::ToClient => &shared.counters.bytes_to_client,
        }
    }
}

/// What a reader hands its writer.
#[derive(Debug)]
pub(super) enum Chunk {
    /// Bytes to deliver at `due`.
    Data { bytes: Vec<u8>, due: Instant },
    /// The source closed its side: pass the half-close on at `due`.
    Eof { due: Instant },
}

/// Reads `dir`'s source until it closes, fails or the connection is cut.
///
/// A failure other than a clean close breaks the whole connection, as it would
/// for a client talking to the upstream directly. In the black hole nothing
/// passes, closes and failures included: the reader just stops.
pub(super) fn read_side(shared: &Shared, conn: &Conn, dir: Direction, tx: Sender<Chunk>) {
    let mut source = dir.source(conn);
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        let read = source.read(&mut buf);
        if conn.is_closed() {
            return;
        }
        // The setter caps latency at a day, so this cannot overflow.
        let due = Instant::now() + shared.latency();
        match read {
            Ok(0) => {
                if !shared.black_hole() {
                    let _ = tx.send(Chunk::Eof { due });
                }
                return;
            }
            Ok(n) => {
                if shared.black_hole() {
                    Counters::add(&shared.counters.bytes_dropped, n as u64);
                    continue;
                }
                let bytes = buf[..n].to_vec();
                if tx.send(Chunk::Data { bytes, due }).is_err() {
                    return; // the writer ended; it has closed what needs closing
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::debug!("fault proxy: read {dir:?} failed: {e}");
                if !shared.black_hole() {
                    conn.close();
                }
                return;
            }
        }
    }
}

/// Delivers what `dir`'s reader sends until it ends or delivery fails.
pub(super) fn write_side(shared: &Shared, conn: &Conn, dir: Direction, rx: Receiver<Chunk>) {
    let mut pacer = Pacer::default();
    // Ends when the reader drops its sender; the reader always ends once the
    // connection is closed, so this cannot outlive the connection.
    while let Ok(chunk) = rx.recv() {
        match chunk {
            Chunk::Data { bytes, due } => {
                if !sleep_until(due, conn) {
                    return;
                }
                if let Err(e) = deliver(shared, conn, dir, &bytes, &mut pacer) {
                    log::debug!("fault proxy: write {dir:?} failed: {e}");
                    conn.close();
                    return;
                }
            }
            Chunk::Eof { due } => {
                if sleep_until(due, conn) && !shared.black_hole() {
                    let _ = dir.dest(conn).shutdown(Shutdown::Write);
                }
                return;
            }
        }
    }
}

/// Writes `bytes` to `dir`'s destination, in paced pieces under a cap, and
/// re-reads the black hole and the cap before each piece and after every
/// slice of a pacing wait, so a change applies at once, even mid-chunk and
/// mid-wait (lifting a 1 byte/s cap must not wait out the second it set).
fn deliver(
    shared: &Shared,
    conn: &Conn,
    dir: Direction,
    bytes: &[u8],
    pacer: &mut Pacer,
) -> io::Result<()> {
    let mut dest = dir.dest(conn);
    let mut rest = bytes;
    while !rest.is_empty() {
        if shared.black_hole() {
            Counters::add(&shared.counters.bytes_dropped, rest.len() as u64);
            return Ok(());
        }
        let rate = shared.bandwidth();
        if let Some(due) = rate.and_then(|rate| pacer.next_free(rate)) {
            let now = Instant::now();
            if now < due {
                if conn.is_closed() {
                    return Ok(()); // cut while waiting; the close is done
                }
                thread::sleep((due - now).min(SLEEP_SLICE));
                continue;
            }
        }
        let n = rate.map_or(rest.len(), |rate| rest.len().min(piece_len(rate)));
        dest.write_all(&rest[..n])?;
        Counters::add(dir.delivered(shared), n as u64);
        pacer.spent(n, rate);
        rest = &rest[n..];
    }
    Ok(())
}

/// Bytes per paced piece at `rate` bytes per second (at least 1, at most a
/// chunk).
fn piece_len(rate: u64) -> usize {
    let piece = (rate / PACE_SLICES_PER_SECOND).clamp(1, CHUNK_BYTES as u64);
    usize::try_from(piece).unwrap_or(CHUNK_BYTES)
}

/// The last piece a direction sent under a cap, from which its next sending
/// time follows. Idle time earns no credit, so a burst after a pause is paced
/// like any other.
#[derive(Debug, Default)]
struct Pacer {
    /// When the last capped piece was written, its size and the cap then;
    /// `None` after an uncapped write, which leaves nothing to wait out.
    last: Option<(Instant, usize, u64)>,
}

impl Pacer {
    /// When the next piece may go under a cap of `rate` bytes per second
    /// (`None`: at once). The last piece is paid for at the higher of its own
    /// cap and `rate`: raising the cap shortens the wait at once, and
    /// lowering it slows the pieces sent from then on without charging the
    /// last one again.
    fn next_free(&self, rate: u64) -> Option<Instant> {
        // Pieces are at most a chunk and rates at least 1 byte/s, so the cost
        // stays within hours and the sum cannot overflow.
        self.last.map(|(at, bytes, then)| {
            at + Duration::from_secs_f64(bytes as f64 / rate.max(then) as f64)
        })
    }

    /// Records a piece of `bytes` just written under `rate` (`None`: no cap).
    fn spent(&mut self, bytes: usize, rate: Option<u64>) {
        self.last = rate.map(|rate| (Instant::now(), bytes, rate));
    }
}

/// Sleeps until `due` in short slices; `false` if the connection closed first.
fn sleep_until(due: Instant, conn: &Conn) -> bool {
    loop {
        if conn.is_closed() {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        thread::sleep((due - now).min(SLEEP_SLICE));
    }
}
