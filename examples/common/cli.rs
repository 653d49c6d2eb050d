//! Command-line handling shared by the `pub` and `sub` examples: the
//! connection options both take, in mosquitto_pub/mosquitto_sub spelling.

use std::time::Duration;

use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, ProtocolVersion};

/// `--help` text for the connection options.
pub const HELP: &str = "\
connection options:
  -h HOST                    broker host (default localhost)
  -p PORT                    broker port (default 1883)
  -i ID                      client id (default empty)
  -c                         persistent session (clean session off)
  -V 31|311|5                MQTT version (default 311)
  -u USER, -P PASS           username and password
  -k, --keepalive SECONDS    keepalive sent in CONNECT (default 60, 0 = off)
  --reconnect-delay MIN MAX  automatic reconnect: first wait MIN seconds, doubling
                             up to MAX (default 1 120; fractions allowed)
  --server HOST:PORT         another broker to fail over to (repeatable; -h/-p is
                             the first; a URI such as ssl://HOST:PORT sets its own
                             transport, a bare HOST:PORT takes -h's); the delay is
                             waited once per round of all of them
  --stats                    print the client's counters on standard error at exit
transport options:
  --cafile FILE              TLS, trusting the CA certificates in FILE (PEM)
  --capath-system            TLS, trusting the system's certificate store
  --cert FILE, --key FILE    TLS client certificate and its key (PEM)
  --key-password PASS        the password of an encrypted --key (native engine)
  --insecure                 TLS without the host name check (the chain is checked)
  --tls-engine rustls|native TLS implementation (default rustls); native is the
                             platform's (OpenSSL on Linux, as Paho), which also takes
                             X.509 v1 certificates and host names only in the CN
  --ws                       MQTT over WebSockets (path /mqtt)
  --unix PATH                connect to the broker's unix socket at PATH
  --proxy URL                through a proxy: socks5://[user:pass@]host:port,
                             socks4://host:port or http://[user:pass@]host:port";

/// The connection options common to both tools.
#[derive(Debug, Clone)]
pub struct Connection {
    pub host: String,
    pub port: u16,
    pub id: String,
    pub protocol: ProtocolVersion,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `-c`: a persistent session (clean session off; for MQTT 5, no clean
    /// start and a session that never expires).
    pub persistent: bool,
    /// `-k`/`--keepalive`: the keepalive in seconds sent in CONNECT (0
    /// turns it off).
    pub keepalive: u16,
    /// `--reconnect-delay MIN MAX`: the automatic reconnect's first wait and
    /// its cap (Paho's `reconnect_delay_set`).
    pub reconnect_delay: (Duration, Duration),
    /// `--cafile` / `--capath-system` / `--cert` / `--key` /
    /// `--key-password` / `--insecure` / `--tls-engine`.
    pub tls: Tls,
    /// `--ws`: the websockets transport.
    pub websockets: bool,
    /// `--unix PATH`: the unix transport, to this socket.
    pub unix: Option<String>,
    /// `--proxy URL`.
    pub proxy: Option<String>,
    /// `--server HOST:PORT` (repeatable): the failover list after -h/-p.
    pub servers: Vec<String>,
    /// `--stats`: the client's counters on standard error at exit.
    pub stats: bool,
}

/// The TLS options (mosquitto_pub's names).
#[derive(Debug, Clone, Default)]
pub struct Tls {
    pub cafile: Option<String>,
    pub system_roots: bool,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub key_password: Option<String>,
    pub insecure: bool,
    /// `--tls-engine`: `rustls` or `native` (checked when the client is
    /// made, by the library's own parser).
    pub engine: Option<String>,
}

impl Tls {
    fn wanted(&self) -> bool {
        self.cafile.is_some() || self.system_roots || self.cert.is_some()
    }

    /// An option that only means something with TLS.
    fn modifier(&self) -> bool {
        self.insecure || self.key.is_some() || self.key_password.is_some() || self.engine.is_some()
    }
}

impl Default for Connection {
    fn default() -> Connection {
        Connection {
            host: "localhost".into(),
            port: 1883,
            id: String::new(),
            protocol: ProtocolVersion::MQTTv311,
            username: None,
            password: None,
            persistent: false,
            keepalive: 60,
            reconnect_delay: (Duration::from_secs(1), Duration::from_secs(120)),
            tls: Tls::default(),
            websockets: false,
            unix: None,
            proxy: None,
            servers: Vec::new(),
            stats: false,
        }
    }
}

impl Connection {
    /// Takes one connection option (and its value) if `flag` is one.
    /// `Ok(false)`: not a connection option.
    pub fn take(
        &mut self,
        flag: &str,
        args: &mut impl Iterator<Item = String>,
    ) -> Result<bool, String> {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag {
            "-h" => self.host = value()?,
            "-p" => self.port = value()?.parse().map_err(|_| "-p needs a port number")?,
            "-i" => self.id = value()?,
            "-u" => self.username = Some(value()?),
            "-P" => self.password = Some(value()?),
            "-c" => self.persistent = true,
            "-k" | "--keepalive" => {
                self.keepalive = value()?
                    .parse()
                    .map_err(|_| format!("{flag} needs seconds from 0 to 65535"))?
            }
            "--reconnect-delay" => {
                let min = seconds(flag, &value()?)?;
                let max = seconds(flag, &value()?)?;
                if min > max {
                    return Err(format!("{flag}: MIN must not be above MAX"));
                }
                self.reconnect_delay = (min, max);
            }
            "--cafile" => self.tls.cafile = Some(value()?),
            "--capath-system" => self.tls.system_roots = true,
            "--cert" => self.tls.cert = Some(value()?),
            "--key" => self.tls.key = Some(value()?),
            "--key-password" => self.tls.key_password = Some(value()?),
            "--insecure" => self.tls.insecure = true,
            "--tls-engine" => self.tls.engine = Some(value()?),
            "--ws" => self.websockets = true,
            "--unix" => self.unix = Some(value()?),
            "--proxy" => self.proxy = Some(value()?),
            "--server" => self.servers.push(value()?),
            "--stats" => self.stats = true,
            "-V" => {
                self.protocol = match value()?.as_str() {
                    "31" | "mqttv31" => ProtocolVersion::MQTTv31,
                    "311" | "mqttv311" => ProtocolVersion::MQTTv311,
                    "5" | "mqttv5" => ProtocolVersion::MQTTv5,
                    other => return Err(format!("unknown protocol version {other:?}")),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A client for these options (not connected yet).
    pub fn client(&self) -> Result<Client, String> {
        let v5 = self.protocol == ProtocolVersion::MQTTv5;
        let options = ClientOptions {
            client_id: self.id.clone(),
            clean_session: if v5 { None } else { Some(!self.persistent) },
            protocol: self.protocol,
            transport: self.transport()?,
            ..ClientOptions::default()
        };
        let client = Client::with_options(CallbackAPIVersion::VERSION2, options)
            .map_err(|e| e.to_string())?;
        if let Some(user) = &self.username {
            client
                .username_pw_set(Some(user), self.password.as_deref())
                .map_err(|e| e.to_string())?;
        }
        let (min, max) = self.reconnect_delay;
        client.reconnect_delay_set(min, max);
        self.set_tls(&client)?;
        self.set_servers(&client)?;
        if let Some(url) = &self.proxy {
            let settings = mqtt_tether::transport::proxy::ProxySettings::parse_url(url)
                .ok_or_else(|| format!("--proxy: cannot read {url:?}"))?;
            client.proxy_set(settings).map_err(|e| e.to_string())?;
        }
        Ok(client)
    }

    fn transport(&self) -> Result<mqtt_tether::Transport, String> {
        if self.unix.is_some() && self.websockets {
            return Err("--unix and --ws cannot be combined".into());
        }
        if self.unix.is_some() {
            #[cfg(unix)]
            return Ok(mqtt_tether::Transport::Unix);
        }
        if self.websockets {
            #[cfg(feature = "websocket")]
            return Ok(mqtt_tether::Transport::Websockets);
            #[cfg(not(feature = "websocket"))]
            return Err(
                "--ws needs the websocket feature: cargo run --features websocket ...".into(),
            );
        }
        Ok(mqtt_tether::Transport::Tcp)
    }

    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    fn set_tls(&self, client: &Client) -> Result<(), String> {
        use mqtt_tether::transport::tls::{TlsEngine, TlsOptions};
        if !self.tls.wanted() {
            return if self.tls.modifier() {
                Err(
                    "--insecure, --key, --key-password and --tls-engine need --cafile, \
                     --capath-system or --cert"
                        .into(),
                )
            } else {
                Ok(())
            };
        }
        let engine = match &self.tls.engine {
            Some(name) => name.parse().map_err(|e| format!("--tls-engine: {e}"))?,
            None => TlsEngine::Rustls,
        };
        client
            .tls_set(TlsOptions {
                ca_certs: self.tls.cafile.as_ref().map(Into::into),
                certfile: self.tls.cert.as_ref().map(Into::into),
                keyfile: self.tls.key.as_ref().map(Into::into),
                keyfile_password: self.tls.key_password.clone(),
                engine,
                ..TlsOptions::default()
            })
            .map_err(|e| e.to_string())?;
        client
            .tls_insecure_set(self.tls.insecure)
            .map_err(|e| e.to_string())
    }

    #[cfg(not(any(feature = "rustls", feature = "native-tls")))]
    fn set_tls(&self, _client: &Client) -> Result<(), String> {
        if self.tls.wanted() || self.tls.modifier() {
            return Err(
                "TLS options need the tls or native-tls feature: cargo run --features tls ..."
                    .into(),
            );
        }
        Ok(())
    }

    /// `--server`: a URI with a scheme as Paho C reads it; a bare
    /// `HOST:PORT` (or `HOST`, port 1883) with the transport and TLS of -h.
    fn set_servers(&self, client: &Client) -> Result<(), String> {
        let mut servers = Vec::new();
        for s in &self.servers {
            let mut server =
                mqtt_tether::Server::parse(s).map_err(|e| format!("--server {s}: {e}"))?;
            if !s.contains("://") {
                server.transport = self.transport()?;
                server.tls = self.tls.wanted();
            }
            servers.push(server);
        }
        client
            .failover_set(&servers, mqtt_tether::FailoverOrder::InOrder)
            .map_err(|e| format!("--server: {e}"))
    }

    /// With `--stats`, prints `client`'s counters (one line on standard
    /// error, after `tool: stats: `) when the returned guard goes, whatever
    /// way the tool ends.
    pub fn stats_at_exit(&self, client: &Client, tool: &'static str) -> StatsAtExit {
        StatsAtExit(self.stats.then(|| (client.clone(), tool)))
    }

    /// The host to connect to: the socket path with `--unix`.
    fn target(&self) -> &str {
        self.unix.as_deref().unwrap_or(&self.host)
    }

    /// Connects (blocking for the TCP connect).
    pub fn connect(&self, client: &Client) -> Result<(), String> {
        let mut options = mqtt_tether::ConnectOptions {
            port: self.port,
            keepalive: self.keepalive,
            ..mqtt_tether::ConnectOptions::default()
        };
        if self.protocol == ProtocolVersion::MQTTv5 && self.persistent {
            use mqtt_tether::packet::{PacketType, Properties, Property};
            options.clean_start = mqtt_tether::session::CleanStart::Never;
            let mut props = Properties::new(PacketType::Connect);
            props
                .set(Property::SessionExpiryInterval(u32::MAX))
                .map_err(|e| e.to_string())?;
            options.properties = Some(props);
        }
        client
            .connect_with(self.target(), options)
            .map(|_| ())
            .map_err(|e| format!("cannot connect to {}:{}: {e}", self.target(), self.port))
    }
}

/// See [`Connection::stats_at_exit`].
pub struct StatsAtExit(Option<(Client, &'static str)>);

impl Drop for StatsAtExit {
    fn drop(&mut self) {
        if let Some((client, tool)) = &self.0 {
            eprintln!("{tool}: stats: {}", client.stats());
        }
    }
}

/// Reports on standard error each connection lost other than by our own
/// `disconnect()`; the client's loop then reconnects by itself.
pub fn report_connection_loss(client: &Client, tool: &'static str) {
    client.on_disconnect(move |_, _, flags, reason_code, _| {
        if reason_code.is_failure() || flags.is_disconnect_packet_from_server {
            eprintln!("{tool}: connection lost ({reason_code}), reconnecting");
        }
    });
}

/// A number of seconds, fractions allowed (`0.25`).
fn seconds(flag: &str, text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| *s >= 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("{flag} needs seconds (like 0.5 or 2), not {text:?}"))
}
