//! A small SOCKS4/4a, SOCKS5 and HTTP CONNECT proxy for tests: it checks
//! credentials, records what each client asked for, can refuse every
//! request, and pipes accepted connections to their destination.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use super::{Error, Result};

/// Which protocol the proxy speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyKind {
    /// SOCKS4, and SOCKS4a (a name after the user id).
    Socks4,
    /// SOCKS5; with credentials, only username/password authentication
    /// with exactly these is accepted.
    Socks5 {
        /// Required (user name, password), if any.
        credentials: Option<(String, String)>,
    },
    /// HTTP CONNECT; with credentials, `Proxy-Authorization: Basic` must
    /// carry them.
    HttpConnect {
        /// Required (user name, password), if any.
        credentials: Option<(String, String)>,
    },
}

/// One request the proxy received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRequest {
    /// The destination as the client sent it: a host name (resolved by the
    /// proxy) or an address.
    pub destination: String,
    /// The destination port.
    pub port: u16,
    /// Whether the proxy granted it.
    pub granted: bool,
}

struct Shared {
    kind: ProxyKind,
    stop: AtomicBool,
    refusing: AtomicBool,
    requests: Mutex<Vec<ProxyRequest>>,
    sockets: Mutex<Vec<TcpStream>>,
}

/// The proxy; stops its threads and closes its sockets on drop.
pub struct TestProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TestProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestProxy")
            .field("addr", &self.addr)
            .field("kind", &self.shared.kind)
            .finish()
    }
}

const POLL: Duration = Duration::from_millis(2);
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest request head or name the proxy reads.
const MAX_HEAD: usize = 16 * 1024;

impl TestProxy {
    /// Starts a proxy of `kind` on 127.0.0.1, port 0.
    pub fn start(kind: ProxyKind) -> Result<TestProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            kind,
            stop: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            sockets: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("test-proxy-accept".into())
                .spawn(move || accept_loop(&listener, &shared))
                .map_err(|e| Error::Startup(format!("cannot start the proxy: {e}")))?
        };
        Ok(TestProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// While on, every request is answered with a refusal (SOCKS5 code 5,
    /// SOCKS4 0x5B, HTTP 403).
    pub fn set_refusing(&self, on: bool) {
        self.shared.refusing.store(on, Ordering::SeqCst);
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        self.shared.requests.lock().clone()
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for s in self.shared.sockets.lock().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut threads = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let shared = Arc::clone(shared);
                if let Ok(t) = std::thread::Builder::new()
                    .name("test-proxy-conn".into())
                    .spawn(move || {
                        let _ = serve(stream, &shared);
                    })
                {
                    threads.push(t);
                }
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
    for s in shared.sockets.lock().drain(..) {
        let _ = s.shutdown(std::net::Shutdown::Both);
    }
    for t in threads {
        let _ = t.join();
    }
}

fn read_u8(s: &mut TcpStream) -> std::io::Result<u8> {
    let mut b = [0u8; 1];
    s.read_exact(&mut b)?;
    Ok(b[0])
}

fn read_until_nul(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        match read_u8(s)? {
            0 => return Ok(out),
            b if out.len() < MAX_HEAD => out.push(b),
            _ => return Err(std::io::ErrorKind::InvalidData.into()),
        }
    }
}

fn serve(mut client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    client.set_nodelay(true)?;
    shared.sockets.lock().push(client.try_clone()?);
    let refusing = shared.refusing.load(Ordering::SeqCst);
    let record = |destination: String, port: u16, granted: bool| {
        shared.requests.lock().push(ProxyRequest {
            destination,
            port,
            granted,
        });
    };
    let (destination, port) = match &shared.kind {
        ProxyKind::Socks5 { credentials } => {
            let version = read_u8(&mut client)?;
            let n = read_u8(&mut client)?;
            let mut methods = vec![0u8; usize::from(n)];
            client.read_exact(&mut methods)?;
            if version != 5 {
                return Ok(());
            }
            let wanted = if credentials.is_some() { 2 } else { 0 };
            if !methods.contains(&wanted) {
                client.write_all(&[5, 0xff])?;
                return Ok(());
            }
            client.write_all(&[5, wanted])?;
            if let Some((user, password)) = credentials {
                let _version = read_u8(&mut client)?;
                let mut u = vec![0u8; usize::from(read_u8(&mut client)?)];
                client.read_exact(&mut u)?;
                let mut p = vec![0u8; usize::from(read_u8(&mut client)?)];
                client.read_exact(&mut p)?;
                let ok = u == user.as_bytes() && p == password.as_bytes();
                client.write_all(&[1, if ok { 0 } else { 1 }])?;
                if !ok {
                    return Ok(());
                }
            }
            let mut head = [0u8; 4];
            client.read_exact(&mut head)?;
            let destination = match head[3] {
                1 => {
                    let mut a = [0u8; 4];
                    client.read_exact(&mut a)?;
                    Ipv4Addr::from(a).to_string()
                }
                4 => {
                    let mut a = [0u8; 16];
                    client.read_exact(&mut a)?;
                    Ipv6Addr::from(a).to_string()
                }
                3 => {
                    let mut name = vec![0u8; usize::from(read_u8(&mut client)?)];
                    client.read_exact(&mut name)?;
                    String::from_utf8_lossy(&name).into_owned()
                }
                _ => return Ok(()),
            };
            let mut p = [0u8; 2];
            client.read_exact(&mut p)?;
            let port = u16::from_be_bytes(p);
            let code = if refusing { 5 } else { 0 };
            record(destination.clone(), port, !refusing);
            client.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0])?;
            if refusing {
                return Ok(());
            }
            (destination, port)
        }
        ProxyKind::Socks4 => {
            let mut head = [0u8; 8];
            client.read_exact(&mut head)?;
            let port = u16::from_be_bytes([head[2], head[3]]);
            let _user = read_until_nul(&mut client)?;
            let destination = if head[4..7] == [0, 0, 0] && head[7] != 0 {
                String::from_utf8_lossy(&read_until_nul(&mut client)?).into_owned()
            } else {
                Ipv4Addr::new(head[4], head[5], head[6], head[7]).to_string()
            };
            record(destination.clone(), port, !refusing);
            let code = if refusing { 0x5b } else { 0x5a };
            client.write_all(&[0, code, 0, 0, 0, 0, 0, 0])?;
            if refusing {
                return Ok(());
            }
            (destination, port)
        }
        ProxyKind::HttpConnect { credentials } => {
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                if head.len() >= MAX_HEAD {
                    return Ok(());
                }
                head.push(read_u8(&mut client)?);
            }
            let text = String::from_utf8_lossy(&head).into_owned();
            let mut lines = text.lines();
            let request_line = lines.next().unwrap_or_default();
            let mut parts = request_line.split_whitespace();
            if parts.next() != Some("CONNECT") {
                client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")?;
                return Ok(());
            }
            let authority = parts.next().unwrap_or_default().to_string();
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.trim_matches(|c| c == '[' || c == ']').to_string(),
                    p.parse().unwrap_or(0),
                ),
                None => (authority.clone(), 0),
            };
            if let Some((user, password)) = credentials {
                let expected = format!(
                    "basic {}",
                    crate::transport::proxy::base64(format!("{user}:{password}").as_bytes())
                );
                let given = lines
                    .filter_map(|l| l.split_once(':'))
                    .find(|(n, _)| n.trim().eq_ignore_ascii_case("proxy-authorization"))
                    .map(|(_, v)| v.trim().to_ascii_lowercase());
                if given.as_deref() != Some(expected.to_ascii_lowercase().as_str()) {
                    client.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")?;
                    return Ok(());
                }
            }
            record(host.clone(), port, !refusing);
            if refusing {
                client.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n")?;
                return Ok(());
            }
            client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
            (host, port)
        }
    };
    let upstream = TcpStream::connect((destination.as_str(), port))?;
    upstream.set_nodelay(true)?;
    client.set_read_timeout(None)?;
    shared.sockets.lock().push(upstream.try_clone()?);
    let (mut up_read, mut down_write) = (upstream.try_clone()?, client.try_clone()?);
    let down = std::thread::Builder::new()
        .name("test-proxy-down".into())
        .spawn(move || {
            let _ = std::io::copy(&mut up_read, &mut down_write);
            let _ = down_write.shutdown(std::net::Shutdown::Write);
        })?;
    let mut up_write = upstream;
    let _ = std::io::copy(&mut client, &mut up_write);
    let _ = up_write.shutdown(std::net::Shutdown::Write);
    let _ = down.join();
    Ok(())
}
