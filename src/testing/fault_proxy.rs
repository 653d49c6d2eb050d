//! A TCP proxy that puts faults between a client and any broker: cuts,
//! refusals, a black hole, latency, a bandwidth cap and seeded random cuts.

mod accept;
mod chaos;
mod connection;
mod counters;
mod pipe;
mod shared;

pub use chaos::ChaosSchedule;
pub use counters::FaultCounters;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use parking_lot::Mutex;

use self::chaos::ChaosRunner;
use self::shared::Shared;
use super::{Endpoint, Result};

/// A TCP proxy on 127.0.0.1 in front of an upstream (usually a broker) that
/// injects network faults while traffic flows.
///
/// Clients connect to [`FaultProxy::addr`]; each connection is relayed to the
/// upstream over its own upstream connection. Every control takes `&self` and
/// applies at once, to live connections as well as new ones, and the proxy is
/// `Send + Sync`, so a test can share it with the threads it drives:
///
/// * [`cut_all`](FaultProxy::cut_all) closes every live connection, both
///   sockets, both directions, as a dead network path would end them.
/// * [`set_refusing`](FaultProxy::set_refusing) resets new connections at
///   once (the client sees "connection reset").
/// * [`set_black_hole`](FaultProxy::set_black_hole) keeps connections open
///   but lets nothing through either way: no bytes, no closes, no resets.
/// * [`set_latency`](FaultProxy::set_latency) delivers each chunk that long
///   after it was read, in order; [`set_bandwidth`](FaultProxy::set_bandwidth)
///   paces each direction of each connection to a byte rate.
/// * [`start_chaos`](FaultProxy::start_chaos) cuts every live connection at
///   random intervals from a seed (see [`ChaosSchedule`]), so a failing run
///   can be repeated.
///
/// [`counters`](FaultProxy::counters) tells what happened. Dropping the proxy
/// stops chaos, closes the listener and every connection, and joins all its
/// threads; that takes milliseconds, unless a connection is still connecting
/// to an unresponsive upstream, which is given up after
/// [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT).
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
/// use std::time::Duration;
/// use mqtt_tether::testing::FaultProxy;
///
/// // Any TCP server will do as the upstream; this one says hello.
/// let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
/// let proxy = FaultProxy::start(upstream.local_addr().unwrap()).unwrap();
/// let server = std::thread::spawn(move || {
///     let (mut s, _) = upstream.accept().unwrap();
///     s.write_all(b"hello").unwrap();
/// });
///
/// let mut client = TcpStream::connect(proxy.addr()).unwrap();
/// client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
/// let mut buf = [0u8; 5];
/// client.read_exact(&mut buf).unwrap();
/// assert_eq!(&buf, b"hello");
/// server.join().unwrap();
///
/// proxy.wait_for_connections(1, Duration::from_secs(5)).unwrap();
/// assert_eq!(proxy.cut_all(), 1);
/// assert_eq!(client.read(&mut buf).unwrap_or(0), 0); // closed by the cut
/// assert_eq!(proxy.counters().cuts, 1);
/// ```
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
    chaos: Mutex<Option<ChaosRunner>>,
}

impl FaultProxy {
    /// The most intervals [`chaos_intervals`](Self::chaos_intervals) keeps.
    pub const MAX_CHAOS_INTERVALS: usize = shared::MAX_CHAOS_INTERVALS;

    /// Starts a proxy on 127.0.0.1 (a free port) that relays to `upstream`.
    ///
    /// The upstream is connected once per client connection, when the client
    /// connects; if it cannot be reached (within
    /// [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT)), the client's connection
    /// is closed and counted in [`FaultCounters::upstream_failures`].
    pub fn start(upstream: SocketAddr) -> Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(upstream));
        let for_thread = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name("fault-proxy-accept".into())
            .spawn(move || accept::accept_loop(for_thread, listener))?;
        Ok(FaultProxy {
            addr,
            shared,
            accept_thread: Some(accept_thread),
            chaos: Mutex::new(None),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients connect to (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address clients connect to, as a kit [`Endpoint`].
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::Tcp(self.addr)
    }

    /// The address the proxy relays to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Cuts every live connection now: both of its sockets are shut down both
    /// ways, so the client and the upstream each see the connection close.
    /// Returns how many were cut (each also counts in
    /// [`FaultCounters::cuts`]).
    ///
    /// A connection counts as live from the moment its upstream connection is
    /// made; [`wait_for_connections`](FaultProxy::wait_for_connections) waits
    /// for that, so a cut right after it cannot miss the connection.
    pub fn cut_all(&self) -> usize {
        let cut = self.shared.cut_all();
        log::debug!("fault proxy {}: cut {cut} connection(s)", self.addr);
        cut
    }

    /// While on, every new connection is reset as soon as it is accepted (the
    /// client's connect may succeed, but its next read or write fails with
    /// "connection reset"), and counted in [`FaultCounters::refused`]. Live
    /// connections are left alone.
    pub fn set_refusing(&self, on: bool) {
        self.shared.set_refusing(on);
    }

    /// While on, connections stay open but nothing passes either way: bytes
    /// (including those already delayed by latency but not yet delivered) are
    /// dropped and counted in [`FaultCounters::bytes_dropped`], and a close or
    /// reset on one side is not passed on to the other, as in a network
    /// partition. New connections are still accepted. Turning it off lets
    /// bytes sent from then on through again; what was dropped stays lost.
    pub fn set_black_hole(&self, on: bool) {
        self.shared.set_black_hole(on);
    }

    /// Delivers each chunk `latency` after the proxy read it, in order, both
    /// ways (so a request and its reply are delayed twice). Applies to chunks
    /// read from now on; `Duration::ZERO` turns it off. At most a day.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.set_latency(latency);
    }

    /// Caps each direction of each connection at `bytes_per_second` (paced in
    /// pieces of about 20 ms worth of bytes), or lifts the cap with `None`.
    /// A cap of 0 is taken as 1 byte per second.
    pub fn set_bandwidth(&self, bytes_per_second: Option<u64>) {
        self.shared.set_bandwidth(bytes_per_second);
    }

    /// Starts cutting every live connection at intervals drawn from
    /// [`ChaosSchedule::new(seed, min, max)`](ChaosSchedule::new): it waits
    /// the first interval, cuts, waits the second, and so on, until
    /// [`stop_chaos`](FaultProxy::stop_chaos) or the drop. A chaos run that
    /// is already going is stopped first, and the record of
    /// [`chaos_intervals`](FaultProxy::chaos_intervals) starts afresh.
    ///
    /// Intervals are at least [`ChaosSchedule::MIN_INTERVAL`] (1 ms), even
    /// for a `min` and `max` of zero.
    ///
    /// Fails only if its thread cannot be started.
    pub fn start_chaos(&self, seed: u64, min: Duration, max: Duration) -> Result<()> {
        let mut chaos = self.chaos.lock();
        if let Some(running) = chaos.take() {
            running.stop();
        }
        self.shared.clear_chaos_intervals();
        log::debug!(
            "fault proxy {}: chaos seed {seed} between {min:?} and {max:?}",
            self.addr
        );
        let schedule = ChaosSchedule::new(seed, min, max);
        *chaos = Some(ChaosRunner::start(Arc::clone(&self.shared), schedule)?);
        Ok(())
    }

    /// Stops chaos (at once, even mid-interval); the record of intervals is
    /// kept. Does nothing if chaos is not running.
    pub fn stop_chaos(&self) {
        if let Some(running) = self.chaos.lock().take() {
            running.stop();
        }
    }

    /// The intervals the current (or last) chaos run has waited out, each
    /// followed by a cut, in order: always the first intervals of its
    /// [`ChaosSchedule`]. Only the first
    /// [`MAX_CHAOS_INTERVALS`](Self::MAX_CHAOS_INTERVALS) are kept, so that a
    /// long run at short intervals does not grow the record without end;
    /// [`chaos_rounds`](Self::chaos_rounds) counts them all.
    pub fn chaos_intervals(&self) -> Vec<Duration> {
        self.shared.chaos_intervals()
    }

    /// How many intervals (each followed by a cut) the current (or last)
    /// chaos run has waited out, including those past
    /// [`MAX_CHAOS_INTERVALS`](Self::MAX_CHAOS_INTERVALS) that
    /// [`chaos_intervals`](Self::chaos_intervals) no longer keeps.
    pub fn chaos_rounds(&self) -> u64 {
        self.shared.chaos_rounds()
    }

    /// What the proxy has done so far.
    pub fn counters(&self) -> FaultCounters {
        self.shared.counters()
    }

    /// Waits until at least `n` connections have been accepted in total
    /// ([`FaultCounters::accepted`]), which for a reachable upstream means
    /// they are live and can be cut. Fails with [`Error::Timeout`] (showing
    /// the counters) after `timeout`.
    ///
    /// [`Error::Timeout`]: super::Error::Timeout
    pub fn wait_for_connections(&self, n: u64, timeout: Duration) -> Result<()> {
        let what = format!("{n} connection(s) accepted by the fault proxy");
        self.wait_for(&what, timeout, |c| c.accepted >= n)
    }

    /// Waits until `done` holds for the counters (checked at every
    /// connection change and at least every 10 ms), or fails with
    /// [`Error::Timeout`] naming `what` and showing the counters after
    /// `timeout`. `done` runs with no lock of the proxy held, so it may call
    /// the proxy itself.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # fn demo(proxy: &mqtt_tether::testing::FaultProxy) -> mqtt_tether::testing::Result<()> {
    /// proxy.wait_for("every connection closed", Duration::from_secs(5), |c| c.live == 0)?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`Error::Timeout`]: super::Error::Timeout
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&FaultCounters) -> bool,
    ) -> Result<()> {
        self.shared.wait_for(what, timeout, done)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop_chaos();
        // The accept loop polls, so it sees the flag within a few ms.
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept_thread.take() {
            let _ = accept.join();
        }
        // No connection thread starts after the accept loop ends; closing the
        // sockets wakes every pipe, and a thread still connecting upstream
        // finds the registry shut and closes its own.
        self.shared.shut_down();
        let threads = std::mem::take(&mut *self.shared.threads.lock());
        for thread in threads {
            let _ = thread.join();
        }
    }
}
