//! The persistence directory: its lock, its log file, syncing and
//! compaction. The records are [`format`](super::format)'s.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::Mutex;

use super::format::{self, Change, Damage, FormatError, Live, Span, MAGIC};
use crate::packet::ProtocolVersion;
use crate::session::{Restored, StoreOp};

/// The log's name inside the directory.
const LOG: &str = "store.log";
/// Where compaction writes before its rename.
const LOG_NEW: &str = "store.log.new";
/// The file the lock is taken on (never renamed, so the lock stays on one
/// file while the log is replaced).
const LOCK: &str = "lock";

/// Compaction waits until the log is this large...
const COMPACT_MIN: u64 = 1 << 20;
/// ...and this many times the live records.
const COMPACT_RATIO: u64 = 4;

/// When records reach the disk itself (fsync), as opposed to the operating
/// system's cache. Either way each record is written (to the cache) before
/// `publish` returns and before any packet that depends on it goes to the
/// socket, so a crash of the process alone (`kill -9`, a panic, an abort)
/// loses nothing; the setting is about the machine going down (power,
/// kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync before the socket gets any packet that depends on the records
    /// written since the last one: a PUBLISH is never on the wire, and a
    /// PUBREL or PUBREC never answers, before its record is on the disk.
    /// One fsync per write to the socket that follows new records: the
    /// loop batches whatever was published meanwhile, but a publisher that
    /// waits for each message pays a whole fsync for each. A message
    /// published and not yet sent when the machine goes down may be lost;
    /// its `MessageInfo` had not completed.
    Sync,
    /// fsync at most this often, by a thread of its own, and never on the
    /// way to the socket: when the machine goes down, the records of the
    /// last period may be lost (messages sent but not on the disk: a QoS 1
    /// message may then be lost or, re-published by the application, come
    /// twice; a QoS 2 one may come twice). Costs no wait on the hot path.
    Every(Duration),
}

/// Why a persistence directory could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Another client (in this process or another) holds the directory.
    Locked(PathBuf),
    /// The log is not a persistence file this version reads.
    Format(PathBuf, FormatError),
    /// The log holds messages encoded at another protocol level than the
    /// client's.
    Protocol {
        /// The log.
        path: PathBuf,
        /// Its protocol level.
        stored: u8,
        /// The client's.
        client: u8,
    },
    /// The file system failed.
    Io(PathBuf, std::io::Error),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Locked(dir) => write!(
                f,
                "persistence directory {} is in use by another client (its lock is held)",
                dir.display()
            ),
            OpenError::Format(path, e) => write!(f, "{}: {e}", path.display()),
            OpenError::Protocol {
                path,
                stored,
                client,
            } => write!(
                f,
                "{} holds messages encoded for MQTT protocol level {stored}; this client uses \
                 level {client}",
                path.display()
            ),
            OpenError::Io(path, e) => write!(f, "{}: {e}", path.display()),
        }
    }
}

impl std::error::Error for OpenError {}

/// An open persistence directory.
pub struct Store {
    dir: PathBuf,
    /// Holds the directory's lock while open.
    _lock: File,
    log: File,
    len: u64,
    live: Live,
    protocol: ProtocolVersion,
    durability: Durability,
    buf: Vec<u8>,
    /// Records written since the last fsync.
    unsynced: bool,
    syncer: Option<Syncer>,
    /// The first write or sync that failed since the last look.
    error: Option<String>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("len", &self.len)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

/// What opening a directory found.
#[derive(Debug)]
pub struct Opened {
    /// The open store.
    pub store: Store,
    /// The state to give the session.
    pub restored: Restored,
    /// Where reading stopped before the end of the log, if it did.
    pub damage: Option<Damage>,
}

impl Store {
    /// Opens (creating it if needed) the persistence directory `dir` for a
    /// client encoding at `protocol`: takes its lock, reads its log (the
    /// valid prefix of a damaged one), and writes it anew compacted (to a
    /// new file, fsynced, then renamed over the old one), so appends start
    /// after a clean end.
    pub fn open(
        dir: &Path,
        protocol: ProtocolVersion,
        durability: Durability,
    ) -> Result<Opened, OpenError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |e| OpenError::Io(path, e)
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match fs4::FileExt::try_lock(&lock) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => return Err(OpenError::Locked(dir.into())),
            Err(fs4::TryLockError::Error(e)) => return Err(OpenError::Io(lock_path, e)),
        }
        let log_path = dir.join(LOG);
        let mut bytes = Vec::new();
        match File::open(&log_path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes).map_err(io(&log_path))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(OpenError::Io(log_path, e)),
        }
        let recovery =
            format::recover(&bytes).map_err(|e| OpenError::Format(log_path.clone(), e))?;
        let live = recovery.live;
        if let Some(stored) = live.protocol() {
            if stored != protocol.level() && live.outgoing() + live.inbound() > 0 {
                return Err(OpenError::Protocol {
                    path: log_path,
                    stored,
                    client: protocol.level(),
                });
            }
        }
        let restored = live.restored(&bytes);
        let spans = live.spans();
        let (len, live) = write_compacted(dir, protocol, live.next_seq(), &spans, |span| {
            Ok(bytes[span.at as usize..(span.at + span.len) as usize].to_vec())
        })
        .map_err(io(&log_path))?;
        let log = OpenOptions::new()
            .append(true)
            .open(&log_path)
            .map_err(io(&log_path))?;
        let syncer = match durability {
            Durability::Sync => None,
            Durability::Every(period) => Some(Syncer::start(
                log.try_clone().map_err(io(&log_path))?,
                period,
            )),
        };
        Ok(Opened {
            store: Store {
                dir: dir.into(),
                _lock: lock,
                log,
                len,
                live,
                protocol,
                durability,
                buf: Vec::new(),
                unsynced: false,
                syncer,
                error: None,
            },
            restored,
            damage: recovery.damage,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The durability setting.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// The log's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the log holds no record beyond its base.
    pub fn is_empty(&self) -> bool {
        self.live.outgoing() + self.live.inbound() == 0
    }

    /// How many QoS 1/2 messages were ever stored through this directory.
    pub fn next_seq(&self) -> u64 {
        self.live.next_seq()
    }

    /// Writes the records of `ops` (to the operating system: see
    /// [`Durability`]), then compacts the log if its live records have
    /// become a small share of it. A failure is kept for
    /// [`Store::take_error`]; the ops are applied to the live set anyway
    /// (the session already has).
    pub fn append(&mut self, ops: &[StoreOp]) {
        if ops.is_empty() {
            return;
        }
        self.buf.clear();
        for op in ops {
            let at = self.buf.len();
            format::encode_op(op, &mut self.buf);
            let span = Span {
                at: self.len + at as u64,
                len: (self.buf.len() - at) as u64,
            };
            self.live.apply(Change::of(op), span);
        }
        match self.log.write_all(&self.buf) {
            Ok(()) => self.len += self.buf.len() as u64,
            Err(e) => {
                // Logged at ERR by the driver; the session goes on in
                // memory. These records are not on the disk (a partial one
                // reads as a torn tail after a restart), and the next ones
                // are placed where the file really ends.
                self.fail("writing", e);
                self.len = self.log.metadata().map_or(self.len, |m| m.len());
            }
        }
        self.unsynced = true;
        if let Some(syncer) = &self.syncer {
            syncer.dirty.store(true, Ordering::Release);
        }
        if self.len >= COMPACT_MIN && self.len > COMPACT_RATIO * self.live.live_bytes() {
            self.compact();
        }
    }

    /// With [`Durability::Sync`], fsyncs what was written since the last
    /// fsync (call it before writing to the socket); otherwise nothing.
    pub fn sync_before_send(&mut self) {
        if self.durability == Durability::Sync && self.unsynced {
            self.sync();
        }
    }

    /// fsyncs what was written since the last fsync.
    pub fn sync(&mut self) {
        if !self.unsynced {
            return;
        }
        self.unsynced = false;
        if let Err(e) = self.log.sync_data() {
            self.fail("syncing", e);
        }
    }

    /// The first failure since the last call, as a log line.
    pub fn take_error(&mut self) -> Option<String> {
        self.error.take()
    }

    fn fail(&mut self, doing: &str, e: std::io::Error) {
        if self.error.is_none() {
            self.error = Some(format!(
                "persistence: {doing} {} failed: {e}",
                self.dir.join(LOG).display()
            ));
        }
    }

    /// Writes the live records to a new log and puts it in the old one's
    /// place.
    pub fn compact(&mut self) {
        let path = self.dir.join(LOG);
        let result = File::open(&path).and_then(|mut old| {
            let spans = self.live.spans();
            write_compacted(
                &self.dir,
                self.protocol,
                self.live.next_seq(),
                &spans,
                |span| {
                    let mut record = vec![0; span.len as usize];
                    old.seek(SeekFrom::Start(span.at))?;
                    old.read_exact(&mut record)?;
                    Ok(record)
                },
            )
        });
        let reopened = result.and_then(|(len, live)| {
            let log = OpenOptions::new().append(true).open(&path)?;
            if let Some(syncer) = &self.syncer {
                *syncer.log.lock() = log.try_clone()?;
            }
            Ok((len, live, log))
        });
        match reopened {
            Ok((len, live, log)) => {
                self.len = len;
                self.live = live;
                self.log = log;
                // write_compacted synced the new file.
                self.unsynced = false;
            }
            Err(e) => self.fail("compacting", e),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // A client dropped in good order leaves everything on the disk.
        self.sync();
        if let Some(syncer) = self.syncer.take() {
            syncer.stop();
        }
    }
}

/// Writes magic, base and the records `read` gives for `spans` to a new
/// file, fsyncs it, renames it over the log and fsyncs the directory.
/// Returns the new length and live set (read back from the bytes written,
/// which also checks them).
fn write_compacted(
    dir: &Path,
    protocol: ProtocolVersion,
    next_seq: u64,
    spans: &[Span],
    mut read: impl FnMut(Span) -> std::io::Result<Vec<u8>>,
) -> std::io::Result<(u64, Live)> {
    let mut bytes = MAGIC.to_vec();
    format::encode_base(protocol, next_seq, &mut bytes);
    for span in spans {
        bytes.extend_from_slice(&read(*span)?);
    }
    let recovery = format::recover(&bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    if let Some(damage) = recovery.damage {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("compacted records do not read back: {damage}"),
        ));
    }
    let new = dir.join(LOG_NEW);
    let mut file = File::create(&new)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&new, dir.join(LOG))?;
    // The rename itself reaches the disk with the directory (on systems
    // that cannot open a directory, such as Windows, it cannot be asked).
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok((bytes.len() as u64, recovery.live))
}

/// The thread of [`Durability::Every`].
struct Syncer {
    log: Arc<Mutex<File>>,
    dirty: Arc<AtomicBool>,
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Syncer {
    fn start(log: File, period: Duration) -> Syncer {
        let log = Arc::new(Mutex::new(log));
        let dirty = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = {
            let log = Arc::clone(&log);
            let dirty = Arc::clone(&dirty);
            std::thread::Builder::new()
                .name("mqtt-tether-persist-sync".into())
                .spawn(move || loop {
                    // Stopped (the store dropped) or a period passed.
                    let end =
                        !matches!(stopped.recv_timeout(period), Err(RecvTimeoutError::Timeout));
                    if dirty.swap(false, Ordering::AcqRel) {
                        // A failure shows again at the next period, or at
                        // the store's own sync when it is dropped.
                        if log.lock().sync_data().is_err() {
                            dirty.store(true, Ordering::Release);
                        }
                    }
                    if end {
                        return;
                    }
                })
                .ok()
        };
        Syncer {
            log,
            dirty,
            stop: Some(stop),
            thread,
        }
    }

    fn stop(mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
