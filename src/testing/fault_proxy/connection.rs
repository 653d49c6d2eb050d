//! One proxied connection: connects to the upstream, registers the pair so it
//! can be cut, runs both directions and unregisters when they end.

use std::net::TcpStream;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::bounded;

use super::pipe::{self, Direction, QUEUED_CHUNKS};
use super::shared::{Conn, Shared};
use crate::testing::DEFAULT_TIMEOUT;

/// Serves `client` until both directions end or the connection is cut.
pub(super) fn serve(shared: Arc<Shared>, client: TcpStream) {
    let upstream = match TcpStream::connect_timeout(&shared.upstream, DEFAULT_TIMEOUT) {
        Ok(upstream) => upstream,
        Err(e) => {
            log::debug!("fault proxy: upstream {} failed: {e}", shared.upstream);
            // Closing the client, the upstream's failure seen through the proxy.
            drop(client);
            shared.count_event(&shared.counters.upstream_failures);
            shared.count_event(&shared.counters.accepted);
            return;
        }
    };
    // Without Nagle's delay, latency and pacing are the proxy's alone.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let conn = Arc::new(Conn::new(client, upstream));
    let Some(id) = shared.register(&conn) else {
        conn.close(); // the proxy is shutting down
        return;
    };

    let (to_upstream_tx, to_upstream_rx) = bounded(QUEUED_CHUNKS);
    let (to_client_tx, to_client_rx) = bounded(QUEUED_CHUNKS);
    let helpers = [
        spawn_pipe("fault-proxy-c2u-write", &shared, &conn, move |s, c| {
            pipe::write_side(s, c, Direction::ToUpstream, to_upstream_rx)
        }),
        spawn_pipe("fault-proxy-u2c-read", &shared, &conn, move |s, c| {
            pipe::read_side(s, c, Direction::ToClient, to_client_tx)
        }),
        spawn_pipe("fault-proxy-u2c-write", &shared, &conn, move |s, c| {
            pipe::write_side(s, c, Direction::ToClient, to_client_rx)
        }),
    ];
    // The fourth pipe runs on this thread.
    pipe::read_side(&shared, &conn, Direction::ToUpstream, to_upstream_tx);
    for helper in helpers.into_iter().flatten() {
        let _ = helper.join();
    }
    shared.deregister(id);
}

/// Runs one pipe on its own thread. If no thread can be had, the pipe's
/// channel end is dropped with `job` and the connection is closed, so the
/// other pipes end too.
fn spawn_pipe(
    name: &str,
    shared: &Arc<Shared>,
    conn: &Arc<Conn>,
    job: impl FnOnce(&Shared, &Conn) + Send + 'static,
) -> Option<JoinHandle<()>> {
    let (for_shared, for_conn) = (Arc::clone(shared), Arc::clone(conn));
    match thread::Builder::new()
        .name(name.into())
        .spawn(move || job(&for_shared, &for_conn))
    {
        Ok(handle) => Some(handle),
        Err(e) => {
            log::debug!("fault proxy: could not start {name}: {e}");
            conn.close();
            None
        }
    }
}
