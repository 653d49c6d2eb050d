//! The native engine: the platform's TLS through native-tls (OpenSSL on
//! Linux, with the rules Paho has: X.509 version 1 certificates and a host
//! name in the subject CN are accepted, encrypted keys load with
//! `keyfile_password`).
//!
//! native-tls is a blocking stream API; here it runs over an in-memory
//! [`Pipe`], so the handshake is driven against the socket within the
//! connect deadline, and the established session is a sans-IO layer like
//! rustls's: wire bytes go into the pipe, OpenSSL reads them until the pipe
//! is empty (`WouldBlock`), and what it writes (records, alerts) is taken
//! from the pipe for the socket.

use std::io::{self, Read, Write};

use native_tls::{Certificate, HandshakeError, Identity, Protocol, TlsConnector, TlsStream};

use super::super::deadline::{Bounded, Deadline};
use super::super::pipe::Pipe;
use super::super::Socket;
use super::{file_error, is_encrypted_key, CertReqs, TlsOptions};

/// What one read takes from the engine at a time.
const CHUNK: usize = 16 * 1024;

/// The connectors built from `tls_set`'s options: one that checks the host
/// name and one for Paho's insecure mode.
#[derive(Clone)]
pub(super) struct Settings {
    strict: TlsConnector,
    any_host: TlsConnector,
}

fn read_file(what: &str, path: &std::path::Path) -> io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| io::Error::new(e.kind(), file_error(what, path, e).to_string()))
}

impl Settings {
    pub(super) fn from_options(options: &TlsOptions) -> io::Result<Settings> {
        let roots = match &options.ca_certs {
            Some(path) => {
                let pem = read_file("CA certificates", path)?;
                let certs = Certificate::stack_from_pem(&pem)
                    .map_err(|e| file_error("CA certificates", path, e))?;
                if certs.is_empty() {
                    return Err(file_error("CA certificates", path, "no certificate in it"));
                }
                Some(certs)
            }
            None => None,
        };
        // As Paho: the password matters only with a certificate.
        let identity = match &options.certfile {
            None => None,
            Some(certfile) => {
                let keyfile = options.keyfile.as_ref().unwrap_or(certfile);
                let chain = read_file("certificate", certfile)?;
                let key = read_file("private key", keyfile)?;
                let key = pkcs8_key(&key, options.keyfile_password.as_deref())
                    .map_err(|e| file_error("private key", keyfile, e))?;
                Some(
                    Identity::from_pkcs8(&chain, &key)
                        .map_err(|e| file_error("certificate", certfile, e))?,
                )
            }
        };
        let alpn: Vec<&str> = options.alpn_protocols.iter().map(String::as_str).collect();
        let build = |any_host: bool| {
            let mut builder = TlsConnector::builder();
            // Paho's default context (Python's PROTOCOL_TLS_CLIENT) starts at
            // TLS 1.2, as rustls does.
            builder.min_protocol_version(Some(Protocol::Tlsv12));
            if let Some(roots) = &roots {
                // Paho's `ca_certs` replaces the system's store.
                builder.disable_built_in_roots(true);
                for root in roots {
                    builder.add_root_certificate(root.clone());
                }
            }
            if let Some(identity) = &identity {
                builder.identity(identity.clone());
            }
            if options.cert_reqs == CertReqs::None {
                builder.danger_accept_invalid_certs(true);
                builder.danger_accept_invalid_hostnames(true);
            }
            if any_host {
                builder.danger_accept_invalid_hostnames(true);
            }
            if !alpn.is_empty() {
                builder.request_alpns(&alpn);
            }
            // A key that does not match its certificate fails here, so it
            // is an error of tls_set, not of every connect.
            builder.build().map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cannot configure TLS: {e}"),
                )
            })
        };
        Ok(Settings {
            strict: build(false)?,
            any_host: build(true)?,
        })
    }
}

/// The key as unencrypted PKCS#8 PEM, which is all native-tls reads: where
/// it is OpenSSL, any PEM key OpenSSL reads (PKCS#8, PKCS#1, SEC1,
/// encrypted with `password`) is converted.
#[cfg(not(any(target_os = "windows", target_vendor = "apple")))]
fn pkcs8_key(pem: &[u8], password: Option<&str>) -> Result<Vec<u8>, String> {
    use openssl::pkey::PKey;
    let key = match password {
        Some(password) => PKey::private_key_from_pem_passphrase(pem, password.as_bytes()),
        // Never OpenSSL's own prompt on the terminal: no password is an
        // empty one.
        None => PKey::private_key_from_pem_callback(pem, |_| Ok(0)),
    };
    let key = key.map_err(|e| match (is_encrypted_key(pem), password) {
        (true, None) => "it is encrypted: give its password as keyfile_password".to_string(),
        (true, Some(_)) => format!("it does not decrypt with keyfile_password ({e})"),
        (false, _) => e.to_string(),
    })?;
    key.private_key_to_pem_pkcs8().map_err(|e| e.to_string())
}

/// The key as unencrypted PKCS#8 PEM: where native-tls is not OpenSSL, it
/// must be one already.
#[cfg(any(target_os = "windows", target_vendor = "apple"))]
fn pkcs8_key(pem: &[u8], password: Option<&str>) -> Result<Vec<u8>, String> {
    if password.is_some() || is_encrypted_key(pem) {
        return Err(
            "encrypted keys need OpenSSL, which the native engine is not on this \
                    platform: decrypt the key first (openssl pkey -in enc.pem -out key.pem)"
                .into(),
        );
    }
    Ok(pem.to_vec())
}

/// Writes what the engine wrote to the pipe.
fn send(pipe: &mut Pipe, io: &mut impl Write) -> io::Result<()> {
    if !pipe.output.is_empty() {
        let out = std::mem::take(&mut pipe.output);
        io.write_all(&out)?;
    }
    Ok(())
}

/// Reads what the socket has into the pipe; false at its end.
fn receive(pipe: &mut Pipe, io: &mut impl Read) -> io::Result<bool> {
    let mut buf = [0u8; CHUNK];
    let n = io.read(&mut buf)?;
    pipe.input.extend(&buf[..n]);
    Ok(n > 0)
}

/// The record layer of an established native connection.
pub(super) struct Layer {
    stream: TlsStream<Pipe>,
    alpn: Option<Vec<u8>>,
}

/// Makes the handshake on `socket` for `host` by `deadline`.
pub(super) fn handshake(
    socket: &Socket,
    settings: &Settings,
    insecure: bool,
    host: &str,
    deadline: Deadline,
) -> io::Result<Layer> {
    let connector = if insecure {
        &settings.any_host
    } else {
        &settings.strict
    };
    let failed = |e: io::Error| io::Error::new(e.kind(), format!("TLS handshake failed: {e}"));
    let mut io = Bounded::new(socket, deadline);
    let mut attempt = connector.connect(host, Pipe::default());
    loop {
        match attempt {
            Ok(mut stream) => {
                // The last flight (a client Finished, a certificate).
                send(stream.get_mut(), &mut io).map_err(failed)?;
                let alpn = stream.negotiated_alpn().ok().flatten();
                return Ok(Layer { stream, alpn });
            }
            Err(HandshakeError::Failure(e)) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("TLS handshake failed: {e}"),
                ))
            }
            // Writing to the pipe never blocks: the engine waits for the
            // broker's next bytes.
            Err(HandshakeError::WouldBlock(mut mid)) => {
                send(mid.get_mut(), &mut io).map_err(failed)?;
                if !receive(mid.get_mut(), &mut io).map_err(failed)? {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "TLS handshake failed: the broker closed the connection",
                    ));
                }
                attempt = mid.handshake();
            }
        }
    }
}

impl Layer {
    pub(super) fn alpn_protocol(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    pub(super) fn blocking_stream<'a, S: Read + Write + 'a>(
        &'a mut self,
        io: S,
    ) -> impl Read + Write + 'a {
        struct Through<'a, S> {
            stream: &'a mut TlsStream<Pipe>,
            io: S,
        }
        impl<S: Read + Write> Read for Through<'_, S> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                loop {
                    match self.stream.read(buf) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            send(self.stream.get_mut(), &mut self.io)?;
                            if !receive(self.stream.get_mut(), &mut self.io)? {
                                return Ok(0);
                            }
                        }
                        other => return other,
                    }
                }
            }
        }
        impl<S: Read + Write> Write for Through<'_, S> {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let n = self.stream.write(buf)?;
                send(self.stream.get_mut(), &mut self.io)?;
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                send(self.stream.get_mut(), &mut self.io)?;
                self.io.flush()
            }
        }
        Through {
            stream: &mut self.stream,
            io,
        }
    }

    pub(super) fn decode(
        &mut self,
        wire: &[u8],
        plain: &mut Vec<u8>,
        reply: &mut Vec<u8>,
    ) -> io::Result<()> {
        self.stream.get_mut().input.extend(wire);
        let mut buf = [0u8; CHUNK];
        let result = loop {
            match self.stream.read(&mut buf) {
                Ok(n @ 1..) => plain.extend_from_slice(&buf[..n]),
                // The pipe never ends: 0 is the broker's close_notify.
                Ok(0) => {
                    break Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "TLS: the broker closed the session",
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => {
                    break Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("TLS: {e}"),
                    ))
                }
            }
        };
        // Alerts and anything else the engine owes the broker.
        reply.append(&mut self.stream.get_mut().output);
        result
    }

    pub(super) fn encode(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()> {
        self.stream.write_all(plain)?;
        wire.append(&mut self.stream.get_mut().output);
        Ok(())
    }
}
