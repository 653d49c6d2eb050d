//! The accept loop: refuses connections with a reset while refusing is on,
//! and hands every other one to its own connection thread.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use socket2::SockRef;

use super::connection;
use super::shared::Shared;

/// How long the loop sleeps when no connection is waiting. Polling a
/// non-blocking listener lets the loop see the stop flag without a wake-up
/// connection that could itself fail.
const POLL: Duration = Duration::from_millis(2);

/// Accepts on `listener` (non-blocking) until `shared.stopping` is set.
pub(super) fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    while !shared.stopping.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, peer)) => {
                if shared.refusing() {
                    refuse(&shared, client);
                    log::debug!("fault proxy: refused {peer}");
                } else {
                    take(&shared, client);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Out of descriptors, or a connection that died in the
                // backlog: not the proxy's end. Back off instead of spinning.
                log::debug!("fault proxy: accept failed: {e}");
                thread::sleep(POLL);
            }
        }
    }
}

/// Closes `client` with SO_LINGER 0, so the kernel sends a reset and the
/// client's next read fails with "connection reset".
fn refuse(shared: &Shared, client: TcpStream) {
    let _ = SockRef::from(&client).set_linger(Some(Duration::ZERO));
    drop(client);
    shared.count_event(&shared.counters.refused);
}

/// Starts the connection's own thread and keeps its handle for the drop.
fn take(shared: &Arc<Shared>, client: TcpStream) {
    // Accepted sockets do not inherit the listener's non-blocking mode on
    // every platform; the pipes need blocking reads and writes.
    if client.set_nonblocking(false).is_err() {
        return;
    }
    let for_thread = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("fault-proxy-conn".into())
        .spawn(move || connection::serve(for_thread, client));
    match spawned {
        Ok(handle) => {
            let mut threads = shared.threads.lock();
            // Forget finished threads so a long run does not pile up handles.
            threads.retain(|t| !t.is_finished());
            threads.push(handle);
        }
        // The client socket went down with the closure: the client sees a
        // close, as if the proxy had been overloaded.
        Err(e) => log::debug!("fault proxy: could not start a connection thread: {e}"),
    }
}
