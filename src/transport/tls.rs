//! TLS: the configuration Paho's `tls_set` builds, the blocking handshake
//! made while connecting (within what is left of the connect timeout), and
//! the sans-IO record layer used after it.
//!
//! Two engines, chosen per client with [`TlsOptions::engine`]:
//!
//! * [`TlsEngine::Rustls`] (feature `tls`, or `tls-aws-lc-rs`, or `rustls`
//!   with a crypto provider of the program's; see [`crypto_provider`]):
//!   pure Rust, TLS 1.2 and 1.3, keys in PEM (PKCS#8, PKCS#1, SEC1), not
//!   encrypted. It follows the WebPKI rules, stricter than OpenSSL's: it
//!   refuses X.509 version 1 certificates and a host name that is only in
//!   the subject CN, which is what the certificates of Mosquitto's TLS guide
//!   (`man mosquitto-tls`) are. Its error for one says so, and names both
//!   ways out.
//! * [`TlsEngine::Native`] (feature `native-tls`): the platform's TLS
//!   through the native-tls crate: OpenSSL on Linux and the BSDs (Paho's
//!   engine, with its rules: version 1 certificates and host names in the CN
//!   are accepted), SChannel on Windows, Security.framework on Apple systems.
//!   Encrypted keys load with Paho's `keyfile_password` (where the engine is
//!   OpenSSL).

use std::io::{self, Read, Write};
use std::path::PathBuf;
#[cfg(feature = "rustls")]
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "rustls")]
use rustls::ClientConfig;

use super::deadline::Deadline;
use super::Socket;

#[cfg(feature = "native-tls")]
mod native_engine;
#[cfg(feature = "rustls")]
mod rustls_engine;

#[cfg(feature = "rustls")]
pub use rustls_engine::crypto_provider;

/// Whether the broker's certificate is checked (Paho's `cert_reqs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CertReqs {
    /// The chain must verify against the trust roots (`ssl.CERT_REQUIRED`,
    /// the default).
    #[default]
    Required,
    /// Nothing is checked (`ssl.CERT_NONE`): encryption without
    /// authentication. Also turns the hostname check off, as in Paho.
    None,
}

/// Which TLS implementation a client uses (see the [module docs](self)).
///
/// Both names exist in every build; choosing one whose cargo feature is
/// not enabled is an error of [`TlsSettings::from_options`] (and so of
/// `tls_set`) that names the feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsEngine {
    /// rustls (features `tls`, `tls-aws-lc-rs` or `rustls`). The default
    /// when it is compiled in.
    Rustls,
    /// The platform's TLS through native-tls (feature `native-tls`): OpenSSL
    /// on Linux, as in Paho. The default when rustls is not compiled in.
    Native,
}

impl Default for TlsEngine {
    fn default() -> TlsEngine {
        if cfg!(feature = "rustls") {
            TlsEngine::Rustls
        } else {
            TlsEngine::Native
        }
    }
}

impl TlsEngine {
    /// Its name: `"rustls"` or `"native"` (what [`str::parse`] takes).
    pub fn name(self) -> &'static str {
        match self {
            TlsEngine::Rustls => "rustls",
            TlsEngine::Native => "native",
        }
    }

    /// Whether this build has it.
    pub fn is_available(self) -> bool {
        match self {
            TlsEngine::Rustls => cfg!(feature = "rustls"),
            TlsEngine::Native => cfg!(feature = "native-tls"),
        }
    }

    fn unavailable(self) -> io::Error {
        let feature = match self {
            TlsEngine::Rustls => "tls",
            TlsEngine::Native => "native-tls",
        };
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "the {} TLS engine is not compiled in: enable the cargo feature `{feature}`",
                self.name()
            ),
        )
    }
}

impl std::str::FromStr for TlsEngine {
    type Err = String;

    fn from_str(s: &str) -> Result<TlsEngine, String> {
        match s {
            "rustls" => Ok(TlsEngine::Rustls),
            "native" => Ok(TlsEngine::Native),
            other => Err(format!("unknown TLS engine {other:?}: rustls or native")),
        }
    }
}

impl std::fmt::Display for TlsEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The arguments of Paho's `tls_set`, with its defaults, and the engine.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM file of trusted CA certificates; `None`: the system's trust
    /// store.
    pub ca_certs: Option<PathBuf>,
    /// PEM file of the client certificate chain, for client authentication.
    pub certfile: Option<PathBuf>,
    /// PEM file of its private key (defaults to `certfile`, as in Paho).
    pub keyfile: Option<PathBuf>,
    /// Whether the broker's certificate is checked.
    pub cert_reqs: CertReqs,
    /// The password of an encrypted `keyfile` (Paho's `keyfile_password`).
    /// The native engine decrypts the key with it where it is OpenSSL; the
    /// rustls engine reads no encrypted key, and giving a password to it is
    /// an error that says so.
    pub keyfile_password: Option<String>,
    /// ALPN protocols to offer, in order of preference.
    pub alpn_protocols: Vec<String>,
    /// Which TLS implementation: rustls (the default when compiled in) or
    /// the platform's, as Paho has it ([`TlsEngine::Native`]).
    pub engine: TlsEngine,
}

/// The TLS settings of a client: a configuration, and Paho's "insecure"
/// switch (no hostname check; the chain is still verified).
#[derive(Clone)]
pub struct TlsSettings {
    engine: Engine,
    insecure: bool,
}

#[derive(Clone)]
enum Engine {
    #[cfg(feature = "rustls")]
    Rustls(rustls_engine::Settings),
    #[cfg(feature = "native-tls")]
    Native(native_engine::Settings),
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = match &self.engine {
            #[cfg(feature = "rustls")]
            Engine::Rustls(settings) => settings.from(),
            #[cfg(feature = "native-tls")]
            Engine::Native(_) => "tls_set",
        };
        f.debug_struct("TlsSettings")
            .field("engine", &self.engine())
            .field("from", &from)
            .field("insecure", &self.insecure)
            .finish()
    }
}

pub(super) fn file_error(
    what: &str,
    path: &std::path::Path,
    e: impl std::fmt::Display,
) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("cannot load the {what} {}: {e}", path.display()),
    )
}

/// Whether a PEM file holds an encrypted private key (PKCS#8
/// `ENCRYPTED PRIVATE KEY`, or OpenSSL's traditional `Proc-Type:
/// 4,ENCRYPTED` header).
pub(super) fn is_encrypted_key(pem: &[u8]) -> bool {
    let has = |needle: &[u8]| pem.windows(needle.len()).any(|w| w == needle);
    has(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || has(b"Proc-Type: 4,ENCRYPTED")
}

impl TlsSettings {
    /// Paho's `tls_set`: loads the files now, so a missing or bad file is
    /// an error of this call, with the engine `options.engine` names.
    pub fn from_options(options: &TlsOptions) -> io::Result<TlsSettings> {
        let engine = match options.engine {
            #[cfg(feature = "rustls")]
            TlsEngine::Rustls => Engine::Rustls(rustls_engine::Settings::from_options(options)?),
            #[cfg(feature = "native-tls")]
            TlsEngine::Native => Engine::Native(native_engine::Settings::from_options(options)?),
            #[allow(unreachable_patterns)]
            other => return Err(other.unavailable()),
        };
        Ok(TlsSettings {
            engine,
            insecure: options.cert_reqs == CertReqs::None,
        })
    }

    /// Paho's `tls_set_context`: a rustls configuration built by the
    /// caller.
    #[cfg(feature = "rustls")]
    pub fn from_config(config: Arc<ClientConfig>) -> TlsSettings {
        TlsSettings {
            engine: Engine::Rustls(rustls_engine::Settings::from_config(config)),
            insecure: false,
        }
    }

    /// The engine these settings are for.
    pub fn engine(&self) -> TlsEngine {
        match &self.engine {
            #[cfg(feature = "rustls")]
            Engine::Rustls(_) => TlsEngine::Rustls,
            #[cfg(feature = "native-tls")]
            Engine::Native(_) => TlsEngine::Native,
        }
    }

    /// Paho's `tls_insecure_set`: with `true`, a certificate for another
    /// host name is accepted (the chain is still verified). Only for
    /// settings from [`TlsSettings::from_options`]; a caller-built
    /// configuration keeps the verifier it was built with.
    pub fn set_insecure(&mut self, insecure: bool) {
        self.insecure = insecure;
    }

    /// Whether the hostname check is off.
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// The rustls configuration for one connection; an error for settings
    /// of the native engine.
    #[cfg(feature = "rustls")]
    pub fn client_config(&self) -> io::Result<Arc<ClientConfig>> {
        match &self.engine {
            Engine::Rustls(settings) => settings.client_config(self.insecure),
            #[cfg(feature = "native-tls")]
            Engine::Native(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "these TLS settings are for the native engine, not rustls",
            )),
        }
    }
}

/// The TLS record layer of an established connection.
pub struct TlsLayer(Layer);

enum Layer {
    // A rustls connection is a kilobyte; a native one, a pointer or two.
    #[cfg(feature = "rustls")]
    Rustls(Box<rustls_engine::Layer>),
    #[cfg(feature = "native-tls")]
    Native(native_engine::Layer),
}

impl std::fmt::Debug for TlsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsLayer")
            .field("engine", &self.engine())
            .field("alpn", &self.alpn_protocol())
            .finish()
    }
}

/// Makes the TLS handshake on `socket` for `host`, all of it within
/// `timeout`, however the server paces its bytes.
pub fn handshake(
    socket: &Socket,
    settings: &TlsSettings,
    host: &str,
    timeout: Duration,
) -> io::Result<TlsLayer> {
    handshake_until(socket, settings, host, Deadline::after(timeout))
}

/// [`handshake`] that ends by `deadline`.
pub(crate) fn handshake_until(
    socket: &Socket,
    settings: &TlsSettings,
    host: &str,
    deadline: Deadline,
) -> io::Result<TlsLayer> {
    let layer = match &settings.engine {
        #[cfg(feature = "rustls")]
        Engine::Rustls(engine) => Layer::Rustls(Box::new(rustls_engine::handshake(
            socket,
            engine,
            settings.insecure,
            host,
            deadline,
        )?)),
        #[cfg(feature = "native-tls")]
        Engine::Native(engine) => Layer::Native(native_engine::handshake(
            socket,
            engine,
            settings.insecure,
            host,
            deadline,
        )?),
    };
    socket.set_read_timeout(None)?;
    socket.set_write_timeout(None)?;
    Ok(TlsLayer(layer))
}

impl TlsLayer {
    /// The engine of this connection.
    pub fn engine(&self) -> TlsEngine {
        match &self.0 {
            #[cfg(feature = "rustls")]
            Layer::Rustls(_) => TlsEngine::Rustls,
            #[cfg(feature = "native-tls")]
            Layer::Native(_) => TlsEngine::Native,
        }
    }

    /// The ALPN protocol the broker chose, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        match &self.0 {
            #[cfg(feature = "rustls")]
            Layer::Rustls(layer) => layer.alpn_protocol(),
            #[cfg(feature = "native-tls")]
            Layer::Native(layer) => layer.alpn_protocol(),
        }
    }

    /// A blocking stream through this TLS session over `io` (the socket,
    /// or the socket bounded by a deadline), for a handshake layered on
    /// top (the WebSocket upgrade).
    pub fn blocking_stream<'a, S: Read + Write + 'a>(
        &'a mut self,
        io: S,
    ) -> impl Read + Write + 'a {
        let stream: Box<dyn ReadWrite + 'a> = match &mut self.0 {
            #[cfg(feature = "rustls")]
            Layer::Rustls(layer) => Box::new(layer.blocking_stream(io)),
            #[cfg(feature = "native-tls")]
            Layer::Native(layer) => Box::new(layer.blocking_stream(io)),
        };
        stream
    }

    /// Wire bytes in: appends the plaintext to `plain`, and whatever TLS
    /// must send in answer (alerts, key updates) to `reply`. The broker's
    /// close_notify is an end of stream.
    ///
    /// On an error (that end, or a record that does not decrypt), `plain`
    /// still holds the plaintext of the records before it: a broker that
    /// refuses a CONNECT sends its CONNACK and its close_notify at once,
    /// and the CONNACK must be delivered before the end is.
    pub fn decode(
        &mut self,
        wire: &[u8],
        plain: &mut Vec<u8>,
        reply: &mut Vec<u8>,
    ) -> io::Result<()> {
        match &mut self.0 {
            #[cfg(feature = "rustls")]
            Layer::Rustls(layer) => layer.decode(wire, plain, reply),
            #[cfg(feature = "native-tls")]
            Layer::Native(layer) => layer.decode(wire, plain, reply),
        }
    }

    /// Plaintext out: appends its TLS records to `wire`.
    pub fn encode(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()> {
        match &mut self.0 {
            #[cfg(feature = "rustls")]
            Layer::Rustls(layer) => layer.encode(plain, wire),
            #[cfg(feature = "native-tls")]
            Layer::Native(layer) => layer.encode(plain, wire),
        }
    }
}

/// A blocking stream of either engine.
trait ReadWrite: Read + Write {}

impl<T: Read + Write> ReadWrite for T {}
