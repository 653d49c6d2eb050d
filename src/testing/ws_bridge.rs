//! A WebSocket front for a TCP broker (features `testing` and `websocket`):
//! it accepts MQTT-over-WebSocket connections (optionally over TLS, with
//! feature `tls`), records each upgrade request's path and headers, and
//! pipes binary frames to and from a new TCP connection to the upstream
//! broker. It exists because Mosquitto builds often lack websockets support
//! (Debian's 2.0.11 among them), and so tests can see what the client sent.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use tungstenite::handshake::server::{Request, Response};
use tungstenite::{Message, WebSocket};

use super::{Error, Result, UpgradeRequest};

/// How often a connection's thread looks at each direction.
const POLL: Duration = Duration::from_millis(2);
/// Most chunks waiting to go from the broker to the client.
const BACKLOG: usize = 256;

/// The WebSocket front; stops its threads and closes its sockets on drop.
#[derive(Debug)]
pub struct WsBridge {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<UpgradeRequest>>>,
    acceptor: Option<JoinHandle<()>>,
}

/// What a connection is carried over.
#[cfg(feature = "rustls")]
type Tls = Option<Arc<rustls::ServerConfig>>;
#[cfg(not(feature = "rustls"))]
type Tls = Option<std::convert::Infallible>;

impl WsBridge {
    /// A plain WebSocket front for the broker at `upstream`.
    pub fn start(upstream: SocketAddr) -> Result<WsBridge> {
        WsBridge::start_with(upstream, None)
    }

    /// A WebSocket-over-TLS front for the broker at `upstream`.
    #[cfg(feature = "rustls")]
    pub fn start_tls(upstream: SocketAddr, config: Arc<rustls::ServerConfig>) -> Result<WsBridge> {
        WsBridge::start_with(upstream, Some(config))
    }

    fn start_with(upstream: SocketAddr, tls: Tls) -> Result<WsBridge> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let stop = Arc::clone(&stop);
            let requests = Arc::clone(&requests);
            std::thread::Builder::new()
                .name("ws-bridge-accept".into())
                .spawn(move || accept_loop(&listener, upstream, &tls, &stop, &requests))
                .map_err(|e| Error::Startup(format!("cannot start the bridge: {e}")))?
        };
        Ok(WsBridge {
            addr,
            stop,
            requests,
            acceptor: Some(acceptor),
        })
    }

    /// The port clients connect to (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every upgrade request so far, oldest first.
    pub fn requests(&self) -> Vec<UpgradeRequest> {
        self.requests.lock().clone()
    }
}

impl Drop for WsBridge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    upstream: SocketAddr,
    tls: &Tls,
    stop: &Arc<AtomicBool>,
    requests: &Arc<Mutex<Vec<UpgradeRequest>>>,
) {
    let mut connections = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let stop = Arc::clone(stop);
                let requests = Arc::clone(requests);
                // `Tls` is `Copy` only in a build without TLS.
                #[allow(clippy::clone_on_copy)]
                let tls = tls.clone();
                if let Ok(t) = std::thread::Builder::new()
                    .name("ws-bridge-conn".into())
                    .spawn(move || {
                        let _ = serve(stream, upstream, tls, &stop, &requests);
                    })
                {
                    connections.push(t);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(_) => std::thread::sleep(POLL),
        }
    }
    for t in connections {
        let _ = t.join();
    }
}

fn serve(
    stream: TcpStream,
    upstream: SocketAddr,
    tls: Tls,
    stop: &AtomicBool,
    requests: &Mutex<Vec<UpgradeRequest>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_nodelay(true)?;
    match tls {
        #[cfg(feature = "rustls")]
        Some(config) => {
            let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
            let stream = rustls::StreamOwned::new(conn, stream);
            bridge(stream, upstream, stop, requests)
        }
        #[cfg(not(feature = "rustls"))]
        Some(never) => match never {},
        None => bridge(stream, upstream, stop, requests),
    }
}

/// Something the bridge can set a read timeout on.
trait Timeouts {
    fn tcp(&self) -> &TcpStream;
}

impl Timeouts for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

#[cfg(feature = "rustls")]
impl Timeouts for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

fn bridge<S: Read + Write + Timeouts>(
    stream: S,
    upstream: SocketAddr,
    stop: &AtomicBool,
    requests: &Mutex<Vec<UpgradeRequest>>,
) -> std::io::Result<()> {
    // tungstenite's callback type fixes the error type, however large.
    #[allow(clippy::result_large_err)]
    let record = |request: &Request, response: Response| {
        requests.lock().push(UpgradeRequest {
            path: request.uri().path().to_string(),
            headers: request
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        });
        let mut response = response;
        if request
            .headers()
            .get("Sec-WebSocket-Protocol")
            .is_some_and(|p| {
                p.as_bytes()
                    .split(|b| *b == b',')
                    .any(|p| p.trim_ascii() == b"mqtt")
            })
        {
            response.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                "mqtt".parse().expect("a valid value"),
            );
        }
        Ok(response)
    };
    let mut ws: WebSocket<S> = tungstenite::accept_hdr(stream, record)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let broker = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))?;
    broker.set_nodelay(true)?;
    let (tx, rx): (Sender<Vec<u8>>, Receiver<Vec<u8>>) = crossbeam_channel::bounded(BACKLOG);
    let mut reader = broker.try_clone()?;
    let pump = std::thread::Builder::new()
        .name("ws-bridge-up".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        })?;
    // Non-blocking toward the client, so neither direction waits for the
    // other: the loop sleeps only when both are idle, and then wakes at once
    // for bytes from the broker.
    ws.get_ref().tcp().set_nonblocking(true)?;
    let would_block = |e: &tungstenite::Error| matches!(e, tungstenite::Error::Io(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    let mut to_broker = &broker;
    let result = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        let mut busy = false;
        match ws.read() {
            Ok(Message::Binary(bytes)) => {
                busy = true;
                if let Err(e) = to_broker.write_all(&bytes) {
                    break Err(e);
                }
            }
            Ok(Message::Close(_)) => break Ok(()),
            Ok(_) => busy = true,
            Err(e) if would_block(&e) => {}
            Err(e) => break Err(std::io::Error::other(e.to_string())),
        }
        let next = if busy {
            rx.try_recv().map_err(|e| e.is_disconnected())
        } else {
            rx.recv_timeout(POLL / 10).map_err(|e| e.is_disconnected())
        };
        match next {
            Ok(chunk) => match ws.send(Message::binary(chunk)) {
                // Queued inside tungstenite; flushed below.
                Err(e) if would_block(&e) => {}
                Err(e) => break Err(std::io::Error::other(e.to_string())),
                Ok(()) => {}
            },
            Err(true) => {
                let _ = ws.close(None);
                let _ = ws.flush();
                break Ok(());
            }
            Err(false) => {}
        }
        match ws.flush() {
            Err(e) if !would_block(&e) => break Err(std::io::Error::other(e.to_string())),
            _ => {}
        }
    };
    let _ = broker.shutdown(std::net::Shutdown::Both);
    let _ = ws.get_ref().tcp().shutdown(std::net::Shutdown::Both);
    let _ = pump.join();
    result
}
