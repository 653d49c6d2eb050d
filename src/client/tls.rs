//! Paho's TLS configuration calls: `tls_set`, `tls_set_context` and
//! `tls_insecure_set` (feature `tls`, `tls-aws-lc-rs`, `rustls` or
//! `native-tls`).

#[cfg(feature = "rustls")]
use std::sync::Arc;

use crate::client::Client;
use crate::error::{Error, ValueReason};
use crate::transport::tls::{TlsOptions, TlsSettings};

impl Client {
    /// `tls_set(ca_certs, certfile, keyfile, cert_reqs, tls_version,
    /// ciphers, keyfile_password, alpn_protocols)`: turns TLS on for the
    /// next connections, with the broker's certificate checked against
    /// `ca_certs` (or the system's trust store) and its host name. The files
    /// are read now: a missing or unreadable file is an error of this call,
    /// as in Paho. Both engines negotiate TLS 1.2 or 1.3 with their own
    /// safe cipher suites, so Paho's `tls_version` and `ciphers` have no
    /// equivalent.
    ///
    /// `options.engine` chooses the TLS implementation for this client:
    /// rustls (the default), or [`TlsEngine::Native`] (feature
    /// `native-tls`), OpenSSL's rules as Paho has them, for certificates
    /// rustls refuses (X.509 version 1, host name only in the CN) and
    /// encrypted keys (`keyfile_password`).
    ///
    /// Errors: a second TLS configuration
    /// (`ValueError('SSL/TLS has already been configured.')`), a file that
    /// cannot be loaded, an encrypted key without its password (or with the
    /// rustls engine), an engine that is not compiled in.
    ///
    /// [`TlsEngine::Native`]: crate::transport::tls::TlsEngine::Native
    pub fn tls_set(&self, options: TlsOptions) -> Result<(), Error> {
        self.not_configured()?;
        let settings = TlsSettings::from_options(&options).map_err(Error::Io)?;
        self.driver.core().transport.tls = Some(settings);
        Ok(())
    }

    /// `tls_set_context(context)`: TLS with a rustls configuration built by
    /// the caller (`None`: the system's trust roots, as Paho's
    /// `ssl.create_default_context()`). The rustls engine only; build it
    /// with [`crypto_provider`](crate::transport::tls::crypto_provider) to
    /// use the crate's provider.
    #[cfg(feature = "rustls")]
    pub fn tls_set_context(&self, config: Option<Arc<rustls::ClientConfig>>) -> Result<(), Error> {
        self.not_configured()?;
        let settings = match config {
            Some(config) => TlsSettings::from_config(config),
            None => TlsSettings::from_options(&TlsOptions {
                engine: crate::transport::tls::TlsEngine::Rustls,
                ..TlsOptions::default()
            })
            .map_err(Error::Io)?,
        };
        self.driver.core().transport.tls = Some(settings);
        Ok(())
    }

    /// `tls_insecure_set(value)`: with `true`, the broker's certificate may
    /// name another host (the chain is still verified). Only for `tls_set`
    /// configurations: a configuration given to `tls_set_context` keeps the
    /// verifier it was built with.
    pub fn tls_insecure_set(&self, value: bool) -> Result<(), Error> {
        let mut core = self.driver.core();
        match &mut core.transport.tls {
            Some(settings) => {
                settings.set_insecure(value);
                Ok(())
            }
            None => Err(Error::Value(ValueReason::TlsNotConfigured)),
        }
    }

    /// The ALPN protocol the broker chose on the current connection, if
    /// TLS negotiated one (Paho: `client.socket().selected_alpn_protocol()`).
    pub fn tls_alpn_protocol(&self) -> Option<Vec<u8>> {
        let core = self.driver.core();
        let layers = core.conn.as_ref()?.layers.as_ref()?;
        let alpn = layers.lock().alpn_protocol();
        alpn
    }

    fn not_configured(&self) -> Result<(), Error> {
        if self.driver.core().transport.tls.is_some() {
            return Err(Error::Value(ValueReason::TlsAlreadyConfigured));
        }
        Ok(())
    }
}
