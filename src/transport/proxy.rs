//! Reaching the broker through a proxy (Paho's `proxy_set`, which uses
//! PySocks): SOCKS4 (SOCKS4a when the proxy resolves names), SOCKS5 with
//! optional username and password, and HTTP CONNECT with optional Basic
//! authentication; and Paho's fallback to the `mqtt_proxy` environment
//! variable, minus the hosts `no_proxy` names.
//!
//! The proxy handshake shares the connect timeout with the rest of opening
//! a connection: a proxy that answers one byte at a time cannot stretch it.
//! Its failures say "proxy" and what the proxy said.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};

use super::deadline::{Abandon, Bounded, Deadline};
use super::tcp::{connect_tcp_until, TcpOptions};

/// The kind of proxy (PySocks' `socks.HTTP`, `socks.SOCKS4`,
/// `socks.SOCKS5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyType {
    /// HTTP CONNECT.
    Http,
    /// SOCKS4, or SOCKS4a when the proxy resolves the name.
    Socks4,
    /// SOCKS5.
    Socks5,
}

/// Paho's `proxy_set(proxy_type, proxy_addr, proxy_port, proxy_rdns,
/// proxy_username, proxy_password)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySettings {
    /// The kind of proxy.
    pub proxy_type: ProxyType,
    /// The proxy's host name or address.
    pub proxy_addr: String,
    /// The proxy's port (`None`: 1080 for SOCKS, 8080 for HTTP, as
    /// PySocks).
    pub proxy_port: Option<u16>,
    /// Let the proxy resolve the broker's name (default true, as PySocks).
    pub proxy_rdns: bool,
    /// User name for the proxy.
    pub proxy_username: Option<String>,
    /// Password for the proxy.
    pub proxy_password: Option<String>,
}

impl ProxySettings {
    /// A proxy of `proxy_type` at `proxy_addr`, with PySocks' defaults for
    /// the rest.
    pub fn new(proxy_type: ProxyType, proxy_addr: impl Into<String>) -> ProxySettings {
        ProxySettings {
            proxy_type,
            proxy_addr: proxy_addr.into(),
            proxy_port: None,
            proxy_rdns: true,
            proxy_username: None,
            proxy_password: None,
        }
    }

    fn port(&self) -> u16 {
        self.proxy_port.unwrap_or(match self.proxy_type {
            ProxyType::Http => 8080,
            ProxyType::Socks4 | ProxyType::Socks5 => 1080,
        })
    }

    /// Paho's fallback: the proxy the `mqtt_proxy` environment variable
    /// names (`http://` → HTTP, `socks://`, `socks5://`, `socks5h://` →
    /// SOCKS5, `socks4://` → SOCKS4; `user:password@` allowed), unless
    /// `no_proxy` names `host`.
    pub fn from_env(host: &str) -> Option<ProxySettings> {
        let url = std::env::var("mqtt_proxy")
            .or_else(|_| std::env::var("MQTT_PROXY"))
            .ok()?;
        let no_proxy = std::env::var("no_proxy")
            .or_else(|_| std::env::var("NO_PROXY"))
            .unwrap_or_default();
        if bypassed(host, &no_proxy) {
            return None;
        }
        match ProxySettings::parse_url(&url) {
            Ok(settings) => Some(settings),
            // Paho goes direct when it cannot use the variable (a scheme it
            // does not know, say): so do we, but the log says why.
            Err(e) => {
                log::warn!("mqtt_proxy ignored: {e}");
                None
            }
        }
    }

    /// Parses `scheme://[user[:password]@]host[:port][/]`: the schemes
    /// [`ProxySettings::from_env`] names, `%XX` escapes in the user name and
    /// password decoded (`p%40ss` is `p@ss`), an IPv6 address in brackets.
    ///
    /// A proxy URL names a host and nothing under it: a path, query or
    /// fragment is an error, as are an unknown scheme, a host that is not a
    /// name or an address (a space, say), a bad port and a bad escape. The
    /// error never repeats the password.
    pub fn parse_url(url: &str) -> Result<ProxySettings, ProxyUrlError> {
        let (scheme, rest) = url.split_once("://").ok_or(ProxyUrlError::NoScheme)?;
        let proxy_type = match scheme.to_ascii_lowercase().as_str() {
            "http" => ProxyType::Http,
            "socks" | "socks5" | "socks5h" => ProxyType::Socks5,
            "socks4" | "socks4a" => ProxyType::Socks4,
            _ => return Err(ProxyUrlError::UnknownScheme(scheme.to_string())),
        };
        let (authority, tail) = match rest.find(['/', '?', '#']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        // A lone trailing slash is how such URLs are often written
        // (`http://proxy:3128/`); anything more is a mistake we must not
        // silently drop.
        if !tail.is_empty() && tail != "/" {
            return Err(ProxyUrlError::Path(tail.to_string()));
        }
        let (auth, hostport) = match authority.rsplit_once('@') {
            Some((auth, hostport)) => (Some(auth), hostport),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport)?;
        let mut settings = ProxySettings::new(proxy_type, host);
        settings.proxy_port = port;
        if let Some(auth) = auth {
            let (user, password) = match auth.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (auth, None),
            };
            settings.proxy_username = Some(percent_decode(user, "user name")?);
            settings.proxy_password = password
                .map(|p| percent_decode(p, "password"))
                .transpose()?;
        }
        Ok(settings)
    }
}

/// Why [`ProxySettings::parse_url`] refused a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyUrlError {
    /// No `scheme://`.
    NoScheme,
    /// A scheme other than `http`, `socks`, `socks4`, `socks4a`,
    /// `socks5` and `socks5h`.
    UnknownScheme(String),
    /// Something after the host: a path, query or fragment (given).
    Path(String),
    /// The host is empty, or neither a name nor an address (given).
    Host(String),
    /// The port is not a number from 0 to 65535 (given).
    Port(String),
    /// A `%` not followed by two hex digits, or escapes that do not decode
    /// to UTF-8, in the user name or the password (which).
    Escape(&'static str),
}

impl std::fmt::Display for ProxyUrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyUrlError::NoScheme => write!(f, "proxy URL: no scheme (like socks5://)"),
            ProxyUrlError::UnknownScheme(s) => write!(
                f,
                "proxy URL: unknown scheme {s:?} (http, socks, socks4, socks4a, socks5, socks5h)"
            ),
            ProxyUrlError::Path(p) => {
                write!(
                    f,
                    "proxy URL: nothing may follow the host and port, not {p:?}"
                )
            }
            ProxyUrlError::Host(h) => write!(f, "proxy URL: {h:?} is not a host name or address"),
            ProxyUrlError::Port(p) => write!(f, "proxy URL: {p:?} is not a port number"),
            ProxyUrlError::Escape(what) => {
                write!(f, "proxy URL: a bad %-escape in the {what}")
            }
        }
    }
}

impl std::error::Error for ProxyUrlError {}

/// `host[:port]` or `[v6 address][:port]`.
fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), ProxyUrlError> {
    let bad_host = || ProxyUrlError::Host(hostport.to_string());
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (address, after) = bracketed.split_once(']').ok_or_else(bad_host)?;
        address
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| bad_host())?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(bad_host)?),
        };
        (address, port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    // The characters of a DNS name or an IPv4 address (and `_`, which
    // real names carry); anything else (a space, a stray `:`) would only
    // fail later, at the lookup, with a less helpful message.
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if host.is_empty() || (!hostport.starts_with('[') && !host.chars().all(name_char)) {
        return Err(bad_host());
    }
    let port = port
        .map(|p| {
            // u16's parser takes a leading `+`; a URL's port is digits.
            p.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| p.parse::<u16>().ok())
                .flatten()
                .ok_or_else(|| ProxyUrlError::Port(p.to_string()))
        })
        .transpose()?;
    Ok((host.to_string(), port))
}

/// Decodes `%XX` escapes (RFC 3986): the user information of a URL is the
/// only place they occur here, so no general-purpose URL crate is pulled in
/// (the `url` crate brings `idna` and its Unicode tables).
fn percent_decode(text: &str, what: &'static str) -> Result<String, ProxyUrlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or(ProxyUrlError::Escape(what))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ProxyUrlError::Escape(what))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ProxyUrlError::Escape(what))
}

/// Whether `no_proxy` (comma-separated names, `.domain` suffixes, `*`)
/// names `host`.
fn bypassed(host: &str, no_proxy: &str) -> bool {
    let host = host.to_ascii_lowercase();
    no_proxy
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.split(':').next().unwrap_or_default();
            let bare = entry.trim_start_matches('.');
            host == bare || host.ends_with(&format!(".{bare}"))
        })
}

fn proxy_error(kind: io::ErrorKind, text: impl std::fmt::Display) -> io::Error {
    io::Error::new(kind, format!("proxy: {text}"))
}

/// Connects to `host:port` through the proxy; the stream returned carries
/// the broker's bytes. Reaching the proxy and its negotiation together take
/// at most `tcp.connect_timeout`.
pub fn connect_via(
    proxy: &ProxySettings,
    host: &str,
    port: u16,
    tcp: &TcpOptions,
) -> io::Result<TcpStream> {
    let deadline = Deadline::after(tcp.connect_timeout);
    connect_via_until(proxy, host, port, tcp, deadline, &Abandon::default())
}

/// [`connect_via`] that ends by `deadline`, or when `abandon` says so.
pub(crate) fn connect_via_until(
    proxy: &ProxySettings,
    host: &str,
    port: u16,
    tcp: &TcpOptions,
    deadline: Deadline,
    abandon: &Abandon,
) -> io::Result<TcpStream> {
    let stream = connect_tcp_until(&proxy.proxy_addr, proxy.port(), tcp, deadline, abandon)
        .map_err(|e| {
            proxy_error(
                e.kind(),
                format!(
                    "cannot reach the proxy {}:{}: {e}",
                    proxy.proxy_addr,
                    proxy.port()
                ),
            )
        })?;
    let mut bounded = Bounded::new(&stream, deadline);
    let result = match proxy.proxy_type {
        ProxyType::Socks5 => socks5(&mut bounded, proxy, host, port),
        ProxyType::Socks4 => socks4(&mut bounded, proxy, host, port),
        ProxyType::Http => http_connect(&mut bounded, proxy, host, port),
    };
    result.map_err(|e| {
        if e.to_string().starts_with("proxy:") {
            e
        } else {
            proxy_error(e.kind(), e)
        }
    })?;
    stream.set_read_timeout(None)?;
    stream.set_write_timeout(None)?;
    Ok(stream)
}

/// The broker's address as the proxy should get it: the name itself with
/// remote resolution, or an address resolved here.
enum Target {
    Name(String),
    Ip(IpAddr),
}

fn target(host: &str, port: u16, rdns: bool) -> io::Result<Target> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Target::Ip(ip));
    }
    if rdns {
        return Ok(Target::Name(host.to_string()));
    }
    let addr: SocketAddr = (host, port).to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("no address found for {host}"),
        )
    })?;
    Ok(Target::Ip(addr.ip()))
}

fn socks5(
    s: &mut (impl Read + Write),
    proxy: &ProxySettings,
    host: &str,
    port: u16,
) -> io::Result<()> {
    let auth = proxy.proxy_username.is_some();
    let greeting: &[u8] = if auth { &[5, 2, 0, 2] } else { &[5, 1, 0] };
    s.write_all(greeting)?;
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply)?;
    if reply[0] != 5 {
        return Err(proxy_error(
            io::ErrorKind::InvalidData,
            "not a SOCKS5 proxy",
        ));
    }
    match reply[1] {
        0 => {}
        2 if auth => {
            let user = proxy
                .proxy_username
                .as_deref()
                .unwrap_or_default()
                .as_bytes();
            let password = proxy
                .proxy_password
                .as_deref()
                .unwrap_or_default()
                .as_bytes();
            if user.len() > 255 || password.len() > 255 {
                return Err(proxy_error(
                    io::ErrorKind::InvalidInput,
                    "SOCKS5 user name and password are limited to 255 bytes",
                ));
            }
            let mut message = vec![1, user.len() as u8];
            message.extend_from_slice(user);
            message.push(password.len() as u8);
            message.extend_from_slice(password);
            s.write_all(&message)?;
            s.read_exact(&mut reply)?;
            if reply[1] != 0 {
                return Err(proxy_error(
                    io::ErrorKind::PermissionDenied,
                    "SOCKS5 authentication failed",
                ));
            }
        }
        0xff => {
            return Err(proxy_error(
                io::ErrorKind::PermissionDenied,
                "SOCKS5 proxy accepts none of our authentication methods",
            ))
        }
        other => {
            return Err(proxy_error(
                io::ErrorKind::InvalidData,
                format!("SOCKS5 proxy chose an unknown method {other}"),
            ))
        }
    }
    let mut request = vec![5, 1, 0];
    match target(host, port, proxy.proxy_rdns)? {
        Target::Ip(IpAddr::V4(ip)) => {
            request.push(1);
            request.extend_from_slice(&ip.octets());
        }
        Target::Ip(IpAddr::V6(ip)) => {
            request.push(4);
            request.extend_from_slice(&ip.octets());
        }
        Target::Name(name) => {
            if name.len() > 255 {
                return Err(proxy_error(
                    io::ErrorKind::InvalidInput,
                    "host name too long",
                ));
            }
            request.push(3);
            request.push(name.len() as u8);
            request.extend_from_slice(name.as_bytes());
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    s.write_all(&request)?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head)?;
    if head[1] != 0 {
        let why = match head[1] {
            1 => "general SOCKS server failure",
            2 => "connection not allowed by ruleset",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused by destination host",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "unknown error",
        };
        return Err(proxy_error(
            io::ErrorKind::ConnectionRefused,
            format!("SOCKS5 proxy: {why}"),
        ));
    }
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len)?;
            usize::from(len[0]) + 2
        }
        _ => {
            return Err(proxy_error(
                io::ErrorKind::InvalidData,
                "SOCKS5 proxy sent an unknown address type",
            ))
        }
    };
    let mut bound = vec![0u8; rest];
    s.read_exact(&mut bound)
}

fn socks4(
    s: &mut (impl Read + Write),
    proxy: &ProxySettings,
    host: &str,
    port: u16,
) -> io::Result<()> {
    let mut request = vec![4, 1];
    request.extend_from_slice(&port.to_be_bytes());
    let name = match target(host, port, proxy.proxy_rdns)? {
        Target::Ip(IpAddr::V4(ip)) => {
            request.extend_from_slice(&ip.octets());
            None
        }
        Target::Ip(IpAddr::V6(_)) => {
            return Err(proxy_error(
                io::ErrorKind::InvalidInput,
                "SOCKS4 cannot reach an IPv6 address",
            ))
        }
        // SOCKS4a: an address of 0.0.0.x says a name follows.
        Target::Name(name) => {
            request.extend_from_slice(&[0, 0, 0, 1]);
            Some(name)
        }
    };
    request.extend_from_slice(
        proxy
            .proxy_username
            .as_deref()
            .unwrap_or_default()
            .as_bytes(),
    );
    request.push(0);
    if let Some(name) = name {
        request.extend_from_slice(name.as_bytes());
        request.push(0);
    }
    s.write_all(&request)?;
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply)?;
    if reply[1] != 0x5a {
        return Err(proxy_error(
            io::ErrorKind::ConnectionRefused,
            format!(
                "SOCKS4 proxy refused the connection (code {:#04x})",
                reply[1]
            ),
        ));
    }
    Ok(())
}

/// The longest HTTP response head accepted from a proxy.
const MAX_HEAD: usize = 16 * 1024;

fn http_connect(
    s: &mut (impl Read + Write),
    proxy: &ProxySettings,
    host: &str,
    port: u16,
) -> io::Result<()> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(user) = &proxy.proxy_username {
        let credentials = format!("{user}:{}", proxy.proxy_password.as_deref().unwrap_or(""));
        request.push_str(&format!(
            "Proxy-Authorization: Basic {}\r\n",
            base64(credentials.as_bytes())
        ));
    }
    request.push_str("\r\n");
    s.write_all(request.as_bytes())?;
    // Byte by byte, so nothing of the broker's stream is read past the
    // head.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err(proxy_error(
                io::ErrorKind::InvalidData,
                "HTTP proxy response head too long",
            ));
        }
        if s.read(&mut byte)? == 0 {
            return Err(proxy_error(
                io::ErrorKind::UnexpectedEof,
                "HTTP proxy closed the connection",
            ));
        }
        head.push(byte[0]);
    }
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or_default();
    let code = status_line.split_whitespace().nth(1).unwrap_or_default();
    if !code.starts_with('2') {
        return Err(proxy_error(
            io::ErrorKind::ConnectionRefused,
            format!("HTTP proxy refused CONNECT: {status_line}"),
        ));
    }
    Ok(())
}

/// Standard base64 with padding (RFC 4648), as Basic authentication
/// wants it.
pub(crate) fn base64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), output);
        }
    }

    #[test]
    fn proxy_urls_parse_like_pahos_environment_fallback() {
        let p = ProxySettings::parse_url("socks://u:p@proxy.local:1081").unwrap();
        assert_eq!(p.proxy_type, ProxyType::Socks5);
        assert_eq!(p.proxy_addr, "proxy.local");
        assert_eq!(p.proxy_port, Some(1081));
        assert_eq!(p.proxy_username.as_deref(), Some("u"));
        assert_eq!(p.proxy_password.as_deref(), Some("p"));
        let h = ProxySettings::parse_url("http://10.0.0.1").unwrap();
        assert_eq!((h.proxy_type, h.port()), (ProxyType::Http, 8080));
        assert_eq!(
            ProxySettings::parse_url("ftp://x"),
            Err(ProxyUrlError::UnknownScheme("ftp".into()))
        );
        assert_eq!(
            ProxySettings::parse_url("no scheme"),
            Err(ProxyUrlError::NoScheme)
        );
    }

    #[test]
    fn proxy_url_credentials_are_percent_decoded() {
        let p = ProxySettings::parse_url("http://us%65r:p%40ss%3a%2F@proxy:3128/").unwrap();
        assert_eq!(p.proxy_username.as_deref(), Some("user"));
        assert_eq!(p.proxy_password.as_deref(), Some("p@ss:/"));
        assert_eq!((p.proxy_addr.as_str(), p.proxy_port), ("proxy", Some(3128)));
        // An unescaped `@` in the password: the last one ends the user
        // information, as in browsers and curl.
        let p = ProxySettings::parse_url("socks5://u:p@ss@proxy").unwrap();
        assert_eq!(p.proxy_password.as_deref(), Some("p@ss"));
        let p = ProxySettings::parse_url("socks5://%C3%A9t%C3%A9@proxy").unwrap();
        assert_eq!(p.proxy_username.as_deref(), Some("\u{e9}t\u{e9}"));
        assert_eq!(p.proxy_password, None);
        for (url, what) in [
            ("http://u:p%4@proxy", "password"),
            ("http://u:p%zz@proxy", "password"),
            ("http://%ff:p@proxy", "user name"),
        ] {
            let e = ProxySettings::parse_url(url).unwrap_err();
            assert_eq!(e, ProxyUrlError::Escape(what), "{url}");
            assert_eq!(
                e.to_string(),
                format!("proxy URL: a bad %-escape in the {what}")
            );
        }
    }

    #[test]
    fn a_proxy_url_with_more_than_a_host_is_an_error() {
        for (url, tail) in [
            ("http://proxy:3128/path", "/path"),
            ("http://proxy//", "//"),
            ("socks5://proxy?x=1", "?x=1"),
            ("socks5://proxy:1080#top", "#top"),
            ("http://u:secret@proxy/a", "/a"),
        ] {
            let e = ProxySettings::parse_url(url).unwrap_err();
            assert_eq!(e, ProxyUrlError::Path(tail.into()), "{url}");
            assert!(!e.to_string().contains("secret"), "{e}");
        }
        assert_eq!(
            ProxySettings::parse_url("http://u:secret@proxy/a")
                .unwrap_err()
                .to_string(),
            "proxy URL: nothing may follow the host and port, not \"/a\""
        );
    }

    #[test]
    fn a_proxy_url_host_must_be_a_name_or_an_address() {
        for (url, host) in [
            ("http://proxy host:8080", "proxy host:8080"),
            ("http:// proxy", " proxy"),
            ("http://", ""),
            ("http://u:p@", ""),
            ("http://:8080", ":8080"),
            ("http://a:b:8080", "a:b:8080"),
            ("http://[::1", "[::1"),
            ("http://[not-v6]:1", "[not-v6]:1"),
            ("http://[::1]8080", "[::1]8080"),
        ] {
            assert_eq!(
                ProxySettings::parse_url(url),
                Err(ProxyUrlError::Host(host.into())),
                "{url}"
            );
        }
        assert_eq!(
            ProxySettings::parse_url("http://proxy host")
                .unwrap_err()
                .to_string(),
            "proxy URL: \"proxy host\" is not a host name or address"
        );
        for (url, port) in [
            ("http://proxy:", ""),
            ("http://proxy:+80", "+80"),
            ("http://proxy:65536", "65536"),
            ("http://proxy:80 ", "80 "),
        ] {
            assert_eq!(
                ProxySettings::parse_url(url),
                Err(ProxyUrlError::Port(port.into())),
                "{url}"
            );
        }
        let v6 = ProxySettings::parse_url("socks5://[::1]:1081").unwrap();
        assert_eq!((v6.proxy_addr.as_str(), v6.proxy_port), ("::1", Some(1081)));
        let v6 = ProxySettings::parse_url("socks4://[fe80::1]").unwrap();
        assert_eq!((v6.proxy_addr.as_str(), v6.proxy_port), ("fe80::1", None));
        let named = ProxySettings::parse_url("HTTP://my_proxy.example-1.org:0").unwrap();
        assert_eq!(named.proxy_addr, "my_proxy.example-1.org");
        assert_eq!(named.proxy_port, Some(0));
    }

    #[test]
    fn no_proxy_names_hosts_domains_and_everything() {
        assert!(bypassed("broker.example.com", "localhost, .example.com"));
        assert!(bypassed("example.com", "example.com"));
        assert!(bypassed("LOCALHOST", "localhost"));
        assert!(bypassed("anything", "*"));
        assert!(!bypassed("badexample.com", "example.com"));
        assert!(!bypassed("broker", ""));
    }
}
