//! Paho's one-shot helper modules: [`publish`] (`paho.mqtt.publish`:
//! `single`, `multiple`) and [`subscribe`] (`paho.mqtt.subscribe`: `simple`,
//! `callback`).
//!
//! Each call makes its own [`Client`], connects, runs
//! [`Client::loop_forever`] on the calling thread until its work is done,
//! and disconnects, as Paho's helpers do. Paho's keyword arguments are the
//! fields of one options struct with Paho's defaults ([`Options`], also
//! named [`publish::Options`] and [`subscribe::Options`]); its dict arguments
//! (`will`, `auth`, `tls`, messages) are the structs of this module.
//!
//! Where Paho raises, these functions return an [`Error`] with Paho's text:
//! a refused connection is [`Error::ConnectionRefused`], whose text is
//! [`connack_string`](crate::connack_string) of the reason code (Paho's
//! `MQTTException`).
//!
//! ```no_run
//! use mqtt_tether::helpers::{publish, subscribe};
//!
//! let options = publish::Options {
//!     hostname: "broker.example".into(),
//!     ..publish::Options::default()
//! };
//! publish::single("status/door", "open", 1, true, &options)?;
//! publish::multiple([("a/b", "1", 0, false), ("a/c", "2", 1, false)], &options)?;
//!
//! let options = subscribe::Options {
//!     hostname: "broker.example".into(),
//!     ..subscribe::Options::default()
//! };
//! let messages = subscribe::simple(&["status/#"], 0, 2, false, &options)?;
//! assert_eq!(messages.len(), 2);
//! # Ok::<(), mqtt_tether::Error>(())
//! ```

pub mod publish;
pub mod subscribe;

#[cfg(feature = "rustls")]
use std::sync::Arc;
use std::time::Duration;

use crate::client::{CallbackAPIVersion, Client, ClientOptions, UserData};
use crate::error::{Error, ErrorCode};
use crate::packet::{Properties, ProtocolVersion};
use crate::transport::proxy::ProxySettings;
#[cfg(any(feature = "rustls", feature = "native-tls"))]
use crate::transport::tls::TlsOptions;
use crate::transport::Transport;

/// Paho's `will` dict (`{'topic', 'payload', 'qos', 'retain',
/// 'properties'}`), handed to [`Client::will_set`]. Only the topic is
/// required; the rest defaults to an empty payload, QoS 0, no retain and no
/// properties.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Will {
    /// The will topic (required: an empty one is `ValueError('Invalid
    /// topic.')`).
    pub topic: String,
    /// The will payload.
    pub payload: Vec<u8>,
    /// The will QoS, 0 to 2.
    pub qos: i32,
    /// Whether the will is retained.
    pub retain: bool,
    /// MQTT 5 will properties.
    pub properties: Option<Properties>,
}

impl Will {
    /// A will on `topic` with `payload`, QoS 0, not retained.
    pub fn new(topic: impl Into<String>, payload: impl AsRef<[u8]>) -> Will {
        Will {
            topic: topic.into(),
            payload: payload.as_ref().to_vec(),
            ..Will::default()
        }
    }
}

/// Paho's `auth` dict (`{'username', 'password'}`), handed to
/// [`Client::username_pw_set`]. The username is required: an empty one is
/// Paho's `KeyError("The 'username' key was not found, this is required for
/// auth")` ([`Error::Key`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    /// The user name (required, not empty).
    pub username: String,
    /// The password (optional, as in Paho).
    pub password: Option<String>,
}

impl Auth {
    /// `{'username': username, 'password': password}`.
    pub fn new(username: impl Into<String>, password: Option<&str>) -> Auth {
        Auth {
            username: username.into(),
            password: password.map(str::to_string),
        }
    }
}

/// Paho's `tls` argument (feature `tls` or `native-tls`): either the dict of
/// [`Client::tls_set`] arguments with its extra `insecure` key, or an
/// `SSLContext` for [`Client::tls_set_context`].
#[cfg(any(feature = "rustls", feature = "native-tls"))]
#[derive(Debug, Clone)]
pub enum Tls {
    /// The dict form: `tls_set(**options)`, then `tls_insecure_set(True)`
    /// when `insecure` is true. (Paho pops `insecure` from the caller's
    /// dict; nothing of the caller's is changed here.)
    Options {
        /// The `tls_set` arguments.
        options: TlsOptions,
        /// The dict's `insecure` key: accept a certificate that names
        /// another host (the chain is still verified).
        insecure: bool,
    },
    /// The `SSLContext` form: `tls_set_context(context)` with a rustls
    /// configuration (the rustls engine only).
    #[cfg(feature = "rustls")]
    Context(Arc<rustls::ClientConfig>),
}

#[cfg(any(feature = "rustls", feature = "native-tls"))]
impl From<TlsOptions> for Tls {
    /// The dict form without `insecure`.
    fn from(options: TlsOptions) -> Tls {
        Tls::Options {
            options,
            insecure: false,
        }
    }
}

#[cfg(feature = "rustls")]
impl From<Arc<rustls::ClientConfig>> for Tls {
    /// The `SSLContext` form.
    fn from(config: Arc<rustls::ClientConfig>) -> Tls {
        Tls::Context(config)
    }
}

#[cfg(any(feature = "rustls", feature = "native-tls"))]
impl Tls {
    /// Paho's `tls={'ca_certs': ca_certs}`: verify the broker against the
    /// CA certificates in this PEM file, the rest as `tls_set`'s defaults.
    ///
    /// ```
    /// use mqtt_tether::helpers::{publish, Tls};
    /// let options = publish::Options {
    ///     hostname: "broker.example".into(),
    ///     port: 8883,
    ///     tls: Some(Tls::ca_certs("ca.pem")),
    ///     ..publish::Options::default()
    /// };
    /// # let _ = options;
    /// ```
    pub fn ca_certs(ca_certs: impl Into<std::path::PathBuf>) -> Tls {
        Tls::from(TlsOptions {
            ca_certs: Some(ca_certs.into()),
            ..TlsOptions::default()
        })
    }
}

/// The keyword arguments of Paho's helpers, with Paho's defaults: one
/// struct for [`publish::single`], [`publish::multiple`],
/// [`subscribe::simple`] and [`subscribe::callback`] (also named
/// `publish::Options` and `subscribe::Options`).
///
/// ```
/// use mqtt_tether::helpers::Options;
/// let options = Options {
///     hostname: "broker.example".into(),
///     ..Options::default()
/// };
/// assert_eq!((options.port, options.keepalive), (1883, 60));
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    /// `hostname`: the broker's address (default `"localhost"`; for the
    /// unix transport, the socket's path).
    pub hostname: String,
    /// `port` (default 1883).
    pub port: u16,
    /// `client_id` (default `""`). As in Paho, an empty id is sent as it is
    /// to MQTT 3.1.1 and 5 brokers (Paho's docstring says one is generated;
    /// that happens only for MQTT 3.1).
    pub client_id: String,
    /// `keepalive` in seconds (default 60).
    pub keepalive: u16,
    /// `will` (default none): [`Client::will_set`].
    pub will: Option<Will>,
    /// `auth` (default none): [`Client::username_pw_set`].
    pub auth: Option<Auth>,
    /// `tls` (default none, feature `tls` or `native-tls`): [`Client::tls_set`] and
    /// [`Client::tls_insecure_set`], or [`Client::tls_set_context`].
    /// [`Tls::ca_certs`] is Paho's `tls={'ca_certs': ca}`.
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    pub tls: Option<Tls>,
    /// `protocol` (default MQTT 3.1.1).
    pub protocol: ProtocolVersion,
    /// `transport` (default TCP).
    pub transport: Transport,
    /// `clean_session` (default true), the subscribe helpers' argument;
    /// Paho's publish helpers do not take it and use the client's default,
    /// which is the same true. Ignored with MQTT 5, which has clean start
    /// instead (the client's default: clean on the first connection only).
    /// Paho's `callback` hands it to the client even for MQTT 5, where the
    /// client refuses it (`ValueError('Clean session is not used for MQTT
    /// 5.0')`); here every helper ignores it, as Paho's `simple` does.
    pub clean_session: bool,
    /// `proxy_args` (default none): [`Client::proxy_set`].
    pub proxy_args: Option<ProxySettings>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            hostname: "localhost".into(),
            port: 1883,
            client_id: String::new(),
            keepalive: 60,
            will: None,
            auth: None,
            #[cfg(any(feature = "rustls", feature = "native-tls"))]
            tls: None,
            protocol: ProtocolVersion::MQTTv311,
            transport: Transport::Tcp,
            clean_session: true,
            proxy_args: None,
        }
    }
}

impl Options {
    /// The connection these options describe; `manual_ack` when the helper
    /// acknowledges received messages itself.
    fn connection(&self, manual_ack: bool) -> Connection<'_> {
        Connection {
            hostname: &self.hostname,
            port: self.port,
            client_id: &self.client_id,
            keepalive: self.keepalive,
            will: self.will.as_ref(),
            auth: self.auth.as_ref(),
            #[cfg(any(feature = "rustls", feature = "native-tls"))]
            tls: self.tls.as_ref(),
            protocol: self.protocol,
            transport: self.transport,
            clean_session: (self.protocol != ProtocolVersion::MQTTv5).then_some(self.clean_session),
            proxy_args: self.proxy_args.as_ref(),
            manual_ack,
        }
    }
}

/// Paho's `KeyError` for an `auth` without a username.
const NO_USERNAME: &str = "The 'username' key was not found, this is required for auth";

/// The keyword arguments both helper modules share: how to reach the
/// broker and how to connect.
pub(crate) struct Connection<'a> {
    pub(crate) hostname: &'a str,
    pub(crate) port: u16,
    pub(crate) client_id: &'a str,
    pub(crate) keepalive: u16,
    pub(crate) will: Option<&'a Will>,
    pub(crate) auth: Option<&'a Auth>,
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    pub(crate) tls: Option<&'a Tls>,
    pub(crate) protocol: ProtocolVersion,
    pub(crate) transport: Transport,
    pub(crate) clean_session: Option<bool>,
    pub(crate) proxy_args: Option<&'a ProxySettings>,
    /// The helper acknowledges received messages itself.
    pub(crate) manual_ack: bool,
}

impl Connection<'_> {
    /// Paho's set-up, in Paho's order (so the first error is Paho's):
    /// `Client(VERSION2, client_id, userdata, protocol, transport,
    /// clean_session)`, `enable_logger()`, then `install` (the helper's
    /// callbacks), `proxy_set`, `username_pw_set`, `will_set`, `tls_set` /
    /// `tls_insecure_set` / `tls_set_context`.
    pub(crate) fn client(
        &self,
        userdata: UserData,
        install: impl FnOnce(&Client),
    ) -> Result<Client, Error> {
        let client = Client::with_options(
            CallbackAPIVersion::VERSION2,
            ClientOptions {
                client_id: self.client_id.to_string(),
                clean_session: self.clean_session,
                userdata,
                protocol: self.protocol,
                transport: self.transport,
                manual_ack: self.manual_ack,
                ..ClientOptions::default()
            },
        )?;
        client.enable_logger();
        install(&client);
        if let Some(proxy) = self.proxy_args {
            client.proxy_set(proxy.clone())?;
        }
        if let Some(auth) = self.auth {
            if auth.username.is_empty() {
                return Err(Error::Key(NO_USERNAME.into()));
            }
            client.username_pw_set(Some(&auth.username), auth.password.as_deref())?;
        }
        if let Some(will) = self.will {
            client.will_set(
                &will.topic,
                &will.payload,
                will.qos,
                will.retain,
                will.properties.clone(),
            )?;
        }
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        match self.tls {
            Some(Tls::Options { options, insecure }) => {
                client.tls_set(options.clone())?;
                if *insecure {
                    client.tls_insecure_set(true)?;
                }
            }
            #[cfg(feature = "rustls")]
            Some(Tls::Context(config)) => client.tls_set_context(Some(Arc::clone(config)))?,
            None => {}
        }
        Ok(client)
    }

    /// `connect(hostname, port, keepalive)` (a network error is returned as
    /// is), then `loop_forever()` on this thread until the helper's
    /// callbacks disconnect.
    pub(crate) fn run(&self, client: &Client) -> Result<ErrorCode, Error> {
        // Paho's helpers ignore connect's rc too: the only non-success is an
        // abandoned connect, and `loop_forever` then connects again.
        let _ = client.connect(self.hostname, self.port, self.keepalive)?;
        client.loop_forever(Duration::from_secs(1), false)
    }
}

/// Records the first error a helper's callback meets and ends the helper:
/// Paho raises it from the callback, out of `loop_forever`; here the
/// callback stores it and calls `disconnect()`, and the helper returns it
/// once `loop_forever` has returned.
pub(crate) fn fail(client: &Client, slot: &parking_lot::Mutex<Option<Error>>, error: Error) {
    slot.lock().get_or_insert(error);
    // Without a connection (NO_CONN) it still stops the reconnects, which
    // is all the helper needs.
    let _ = client.disconnect();
}
