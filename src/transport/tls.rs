//! TLS through rustls (ring provider): the configuration Paho's `tls_set`
//! builds, the blocking handshake made while connecting (within what is
//! left of the connect timeout), and the sans-IO record layer used after it.
//!
//! Keys load from PEM files: PKCS#8, PKCS#1 (RSA) and SEC1 (EC). Encrypted
//! keys are not supported (`keyfile_password` is refused with a clear
//! error); decrypt the key first (`openssl pkey -in enc.pem -out key.pem`).

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::deadline::{Bounded, Deadline};
use super::Socket;

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

/// The arguments of Paho's `tls_set`, with its defaults.
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
    /// Encrypted keys are not supported: giving a password is an error.
    pub keyfile_password: Option<String>,
    /// ALPN protocols to offer, in order of preference.
    pub alpn_protocols: Vec<String>,
}

/// The TLS settings of a client: a configuration, and Paho's "insecure"
/// switch (no hostname check; the chain is still verified).
#[derive(Clone)]
pub struct TlsSettings {
    base: Base,
    insecure: bool,
}

#[derive(Clone)]
enum Base {
    Options {
        roots: Arc<RootCertStore>,
        client_auth: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
        verify: bool,
        alpn: Vec<Vec<u8>>,
    },
    Context(Arc<ClientConfig>),
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.base {
            Base::Options { .. } => "tls_set",
            Base::Context(_) => "tls_set_context",
        };
        f.debug_struct("TlsSettings")
            .field("from", &kind)
            .field("insecure", &self.insecure)
            .finish()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn file_error(what: &str, path: &std::path::Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("cannot load the {what} {}: {e}", path.display()),
    )
}

impl TlsSettings {
    /// Paho's `tls_set`: loads the files now, so a missing or bad file is
    /// an error of this call.
    pub fn from_options(options: &TlsOptions) -> io::Result<TlsSettings> {
        if options.keyfile_password.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "encrypted private keys are not supported: decrypt the key file first",
            ));
        }
        let mut roots = RootCertStore::empty();
        match &options.ca_certs {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| file_error("CA certificates", path, e))?;
                for cert in certs {
                    let cert = cert.map_err(|e| file_error("CA certificates", path, e))?;
                    roots
                        .add(cert)
                        .map_err(|e| file_error("CA certificates", path, e))?;
                }
                if roots.is_empty() {
                    return Err(file_error("CA certificates", path, "no certificate in it"));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for cert in found.certs {
                    // A system store may hold certificates webpki cannot
                    // parse; the others still count.
                    let _ = roots.add(cert);
                }
            }
        }
        let client_auth = match &options.certfile {
            None => None,
            Some(certfile) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certfile)
                    .map_err(|e| file_error("certificate", certfile, e))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| file_error("certificate", certfile, e))?;
                let keyfile = options.keyfile.as_ref().unwrap_or(certfile);
                let key = PrivateKeyDer::from_pem_file(keyfile)
                    .map_err(|e| file_error("private key", keyfile, e))?;
                Some((certs, Arc::new(key)))
            }
        };
        let settings = TlsSettings {
            base: Base::Options {
                roots: Arc::new(roots),
                client_auth,
                verify: options.cert_reqs == CertReqs::Required,
                alpn: options
                    .alpn_protocols
                    .iter()
                    .map(|p| p.as_bytes().to_vec())
                    .collect(),
            },
            insecure: options.cert_reqs == CertReqs::None,
        };
        // Build once now, so a key that does not match its certificate is
        // an error of tls_set, not of every connect.
        settings.client_config()?;
        Ok(settings)
    }

    /// Paho's `tls_set_context`: a configuration built by the caller.
    pub fn from_config(config: Arc<ClientConfig>) -> TlsSettings {
        TlsSettings {
            base: Base::Context(config),
            insecure: false,
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

    /// The rustls configuration for one connection.
    pub fn client_config(&self) -> io::Result<Arc<ClientConfig>> {
        let (roots, client_auth, verify, alpn) = match &self.base {
            Base::Context(config) => return Ok(Arc::clone(config)),
            Base::Options {
                roots,
                client_auth,
                verify,
                alpn,
            } => (roots, client_auth, *verify, alpn),
        };
        let invalid = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(invalid)?;
        let builder = if !verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
        } else if self.insecure {
            let inner = WebPkiServerVerifier::builder_with_provider(Arc::clone(roots), provider())
                .build()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyHostName(inner)))
        } else {
            builder.with_root_certificates(Arc::clone(roots))
        };
        let mut config = match client_auth {
            Some((certs, key)) => builder
                .with_client_auth_cert(certs.clone(), key.clone_key())
                .map_err(invalid)?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.clone();
        Ok(Arc::new(config))
    }
}

/// Paho's insecure mode: the chain must verify, the name need not match.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `cert_reqs=CERT_NONE`: no certificate check at all (signatures over the
/// handshake are still checked, so the peer holds the key it presented).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS record layer of an established connection.
pub struct TlsLayer {
    conn: ClientConnection,
}

impl std::fmt::Debug for TlsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsLayer")
            .field("alpn", &self.alpn_protocol())
            .finish()
    }
}

fn tls_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
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
    let config = settings.client_config()?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TLS handshake failed: {host:?} is not a valid server name ({e})"),
        )
    })?;
    let mut conn = ClientConnection::new(config, name)
        .map_err(|e| io::Error::other(format!("TLS handshake failed: {e}")))?;
    let mut io = Bounded::new(socket, deadline);
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut io) {
            return Err(io::Error::new(
                e.kind(),
                format!("TLS handshake failed: {e}"),
            ));
        }
    }
    socket.set_read_timeout(None)?;
    socket.set_write_timeout(None)?;
    Ok(TlsLayer { conn })
}

impl TlsLayer {
    /// The ALPN protocol the broker chose, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// A blocking stream through this TLS session over `io` (the socket,
    /// or the socket bounded by a deadline), for a handshake layered on
    /// top (the WebSocket upgrade).
    pub fn blocking_stream<'a, S: Read + Write + 'a>(
        &'a mut self,
        io: S,
    ) -> impl Read + Write + 'a {
        struct Through<'a, S> {
            conn: &'a mut ClientConnection,
            io: S,
        }
        impl<S: Read + Write> Read for Through<'_, S> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                rustls::Stream::new(self.conn, &mut self.io).read(buf)
            }
        }
        impl<S: Read + Write> Write for Through<'_, S> {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                rustls::Stream::new(self.conn, &mut self.io).write(buf)
            }
            fn flush(&mut self) -> io::Result<()> {
                rustls::Stream::new(self.conn, &mut self.io).flush()
            }
        }
        Through {
            conn: &mut self.conn,
            io,
        }
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
        mut wire: &[u8],
        plain: &mut Vec<u8>,
        reply: &mut Vec<u8>,
    ) -> io::Result<()> {
        while !wire.is_empty() {
            let read = self.conn.read_tls(&mut wire);
            let processed = read.and_then(|_| {
                self.conn.process_new_packets().map_err(|e| {
                    // Send the alert that explains the failure before
                    // closing.
                    let _ = self.conn.write_tls(reply);
                    tls_error(e)
                })
            });
            // Taken at every turn: rustls stops reading records while its
            // plaintext buffer is full.
            let waiting = processed
                .as_ref()
                .map_or(0, |s| s.plaintext_bytes_to_read());
            self.take_plaintext(plain, waiting);
            if processed?.peer_has_closed() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "TLS: the broker closed the session",
                ));
            }
        }
        while self.conn.wants_write() {
            self.conn.write_tls(reply)?;
        }
        Ok(())
    }

    /// Appends the plaintext rustls holds (that of records processed
    /// before an error included) to `plain`; `waiting` is how much it
    /// said it holds, if it could say.
    fn take_plaintext(&mut self, plain: &mut Vec<u8>, waiting: usize) {
        plain.reserve(waiting);
        // It ends with Ok after a close_notify, else with WouldBlock (or
        // UnexpectedEof): either way every byte read is in `plain`.
        let _ = self.conn.reader().read_to_end(plain);
    }

    /// Plaintext out: appends its TLS records to `wire`.
    pub fn encode(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()> {
        self.conn.writer().write_all(plain)?;
        while self.conn.wants_write() {
            self.conn.write_tls(wire)?;
        }
        Ok(())
    }
}
