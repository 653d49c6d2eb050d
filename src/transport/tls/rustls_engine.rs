//! The rustls engine: its configuration, its crypto provider, the
//! handshake and the record layer.
//!
//! Keys load from PEM files: PKCS#8, PKCS#1 (RSA) and SEC1 (EC), not
//! encrypted (`keyfile_password` is refused with an error that points at
//! the native engine).

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, OtherError,
    RootCertStore, SignatureScheme,
};

use super::super::deadline::{Bounded, Deadline};
use super::super::Socket;
use super::{file_error, is_encrypted_key, CertReqs, TlsOptions};

/// The crypto provider the rustls engine uses: the process's default when
/// the program installed one (`rustls::crypto::CryptoProvider::
/// install_default`); otherwise aws-lc-rs with the feature `tls-aws-lc-rs`;
/// otherwise the one rustls's own features name (ring with the feature
/// `tls`), which rustls then installs as the process's default.
///
/// For a `rustls::ClientConfig` of your own (for
/// [`Client::tls_set_context`](crate::Client::tls_set_context)) built with
/// the same provider: `ClientConfig::builder_with_provider(crypto_provider()?)`.
///
/// Fails when there is none to choose: the feature `rustls` alone, and the
/// program installed no provider; or another crate enabled rustls's other
/// provider feature too (then rustls cannot tell which one is meant).
pub fn crypto_provider() -> io::Result<Arc<CryptoProvider>> {
    if let Some(provider) = CryptoProvider::get_default() {
        return Ok(Arc::clone(provider));
    }
    #[cfg(feature = "tls-aws-lc-rs")]
    {
        Ok(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
    }
    #[cfg(not(feature = "tls-aws-lc-rs"))]
    {
        // rustls's own choice from its features; it panics, with its own
        // explanation, when they name no provider or two.
        std::panic::catch_unwind(|| Arc::clone(ClientConfig::builder().crypto_provider())).map_err(
            |_| {
                io::Error::new(
                    io::ErrorKind::Unsupported,
                    "rustls has no crypto provider to use: enable the feature `tls` (ring) or \
                     `tls-aws-lc-rs`, or call rustls::crypto::CryptoProvider::install_default \
                     before configuring TLS",
                )
            },
        )
    }
}

/// A client configuration: loaded from `tls_set`'s files, or the caller's
/// own.
#[derive(Clone)]
pub(super) enum Settings {
    Options {
        roots: Arc<RootCertStore>,
        client_auth: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
        verify: bool,
        alpn: Vec<Vec<u8>>,
    },
    Context(Arc<ClientConfig>),
}

impl Settings {
    /// Which Paho call made them.
    pub(super) fn from(&self) -> &'static str {
        match self {
            Settings::Options { .. } => "tls_set",
            Settings::Context(_) => "tls_set_context",
        }
    }

    pub(super) fn from_options(options: &TlsOptions) -> io::Result<Settings> {
        if options.keyfile_password.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "encrypted private keys are not supported by the rustls engine: use the native \
                 engine (feature `native-tls`, TlsOptions::engine = TlsEngine::Native), or \
                 decrypt the key first (openssl pkey -in enc.pem -out key.pem)",
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
                let key = PrivateKeyDer::from_pem_file(keyfile).map_err(|e| {
                    if std::fs::read(keyfile).is_ok_and(|pem| is_encrypted_key(&pem)) {
                        file_error(
                            "private key",
                            keyfile,
                            "it is encrypted, and the rustls engine reads no encrypted key: \
                             use the native engine (feature `native-tls`, TlsOptions::engine = \
                             TlsEngine::Native) with keyfile_password, or decrypt the key first",
                        )
                    } else {
                        file_error("private key", keyfile, e)
                    }
                })?;
                Some((certs, Arc::new(key)))
            }
        };
        let settings = Settings::Options {
            roots: Arc::new(roots),
            client_auth,
            verify: options.cert_reqs == CertReqs::Required,
            alpn: options
                .alpn_protocols
                .iter()
                .map(|p| p.as_bytes().to_vec())
                .collect(),
        };
        // Build once now, so a key that does not match its certificate (or
        // a missing provider) is an error of tls_set, not of every connect.
        settings.client_config(options.cert_reqs == CertReqs::None)?;
        Ok(settings)
    }

    pub(super) fn from_config(config: Arc<ClientConfig>) -> Settings {
        Settings::Context(config)
    }

    /// The rustls configuration for one connection.
    pub(super) fn client_config(&self, insecure: bool) -> io::Result<Arc<ClientConfig>> {
        let (roots, client_auth, verify, alpn) = match self {
            Settings::Context(config) => return Ok(Arc::clone(config)),
            Settings::Options {
                roots,
                client_auth,
                verify,
                alpn,
            } => (roots, client_auth, *verify, alpn),
        };
        let invalid = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
        let provider = crypto_provider()?;
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(invalid)?;
        let builder = if !verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
        } else {
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::clone(roots), provider)
                .build()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            let checks: Arc<dyn ServerCertVerifier> = if insecure {
                Arc::new(AnyHostName(webpki))
            } else {
                webpki
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Explained(checks)))
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
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
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

/// The checks of `tls_set`, whose refusal of a certificate OpenSSL (and so
/// Paho) accepts explains itself: X.509 version 1, or a host name in the
/// subject CN only, as `openssl x509 -req` without an extension file makes
/// them (Mosquitto's TLS guide does).
#[derive(Debug)]
struct Explained(Arc<dyn ServerCertVerifier>);

/// Why rustls refused a certificate OpenSSL accepts, and the ways out.
#[derive(Debug)]
struct NotWebPki {
    /// rustls's own words.
    cause: String,
    /// What about the certificate.
    what: &'static str,
}

impl std::fmt::Display for NotWebPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}), which rustls refuses and OpenSSL (Paho's engine) accepts: reissue it as \
             an X.509 v3 certificate with a subjectAltName naming the host (openssl x509 -req \
             ... -extfile with subjectAltName=DNS:<host>), or use the native TLS engine (feature \
             `native-tls`, TlsOptions::engine = TlsEngine::Native)",
            self.what, self.cause
        )
    }
}

impl std::error::Error for NotWebPki {}

impl ServerCertVerifier for Explained {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| explain(e, end_entity))
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

/// `e` with the explanation, when the certificate is one OpenSSL takes.
fn explain(e: rustls::Error, cert: &CertificateDer<'_>) -> rustls::Error {
    let what = if is_version_1(cert) {
        "the broker's certificate is X.509 version 1"
    } else if matches!(
        &e,
        rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { presented, .. })
            if presented.is_empty()
    ) {
        "the broker's certificate names its host only in the subject CN, with no subjectAltName"
    } else {
        return e;
    };
    let cause = match &e {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => format!("{other}"),
        rustls::Error::InvalidCertificate(inner) => inner.to_string(),
        other => other.to_string(),
    };
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(NotWebPki {
        cause,
        what,
    }))))
}

/// Whether a DER certificate is X.509 version 1: its TBSCertificate starts
/// without the `[0]` version field (RFC 5280 §4.1: absent means v1).
fn is_version_1(der: &[u8]) -> bool {
    /// The contents of the SEQUENCE at the start of `der`.
    fn sequence(der: &[u8]) -> Option<&[u8]> {
        let (&tag, rest) = der.split_first()?;
        if tag != 0x30 {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |len, &b| (len << 8) | usize::from(b));
            (len, &rest[n..])
        };
        rest.get(..len)
    }
    sequence(der)
        .and_then(sequence)
        .and_then(|tbs| tbs.first())
        .is_some_and(|&tag| tag != 0xa0)
}

/// The handshake error, with the explanation of a certificate rustls
/// refuses and OpenSSL accepts in place of rustls's own words.
fn handshake_error(e: io::Error) -> io::Error {
    let explained = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|e| match e {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(other))) => {
                other.downcast_ref::<NotWebPki>()
            }
            _ => None,
        });
    match explained {
        Some(why) => io::Error::new(
            e.kind(),
            format!("TLS handshake failed: invalid peer certificate: {why}"),
        ),
        None => io::Error::new(e.kind(), format!("TLS handshake failed: {e}")),
    }
}

/// `cert_reqs=CERT_NONE`: no certificate check at all (signatures over the
/// handshake are still checked, so the peer holds the key it presented).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

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

/// The record layer of an established rustls connection.
pub(super) struct Layer {
    conn: ClientConnection,
}

fn tls_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

/// Makes the handshake on `socket` for `host` by `deadline`.
pub(super) fn handshake(
    socket: &Socket,
    settings: &Settings,
    insecure: bool,
    host: &str,
    deadline: Deadline,
) -> io::Result<Layer> {
    let config = settings.client_config(insecure)?;
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
        conn.complete_io(&mut io).map_err(handshake_error)?;
    }
    Ok(Layer { conn })
}

impl Layer {
    pub(super) fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    pub(super) fn blocking_stream<'a, S: Read + Write + 'a>(
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

    pub(super) fn decode(
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

    pub(super) fn encode(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()> {
        self.conn.writer().write_all(plain)?;
        while self.conn.wants_write() {
            self.conn.write_tls(wire)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_field_tells_v1_from_v3() {
        // Certificate, TBSCertificate, then either [0] { INTEGER 2 } or the
        // serial number straight away.
        let v3 = [
            0x30, 0x0a, 0x30, 0x08, 0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x01, 0x01,
        ];
        let v1 = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x01];
        assert!(!is_version_1(&v3));
        assert!(is_version_1(&v1));
        // Long-form lengths.
        let mut long = vec![0x30, 0x81, 0x06, 0x30, 0x81, 0x03, 0x02, 0x01, 0x01];
        assert!(is_version_1(&long));
        long[6] = 0xa0;
        assert!(!is_version_1(&long));
        // Not a certificate: no claim.
        assert!(!is_version_1(&[]));
        assert!(!is_version_1(&[0x31, 0x00]));
    }
}
