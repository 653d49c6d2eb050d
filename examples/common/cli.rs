//! Command-line handling shared by the `pub` and `sub` examples: the
//! connection options both take, in mosquitto_pub/mosquitto_sub spelling,
//! declared once for clap (which also writes `--help` from them).
//!
//! As in mosquitto's tools `-h` is the host, so clap's own `-h` is off and
//! help is `--help` alone.
#![allow(dead_code)] // pub and sub use different parts

use std::time::Duration;

use clap::{ArgAction, Args};
use mqtt_tether::packet::{PacketType, Properties, Property};
use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, ProtocolVersion};

/// The connection options common to both tools.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection")]
pub struct Connection {
    /// Broker host
    #[arg(short = 'h', long = "host", default_value = "localhost")]
    pub host: String,
    /// Broker port
    #[arg(short = 'p', long = "port", default_value_t = 1883)]
    pub port: u16,
    /// Client id
    #[arg(short = 'i', long = "id", value_name = "ID", default_value = "")]
    pub id: String,
    /// Persistent session (clean session off; for MQTT 5, no clean start and
    /// a session that never expires)
    #[arg(short = 'c', long = "disable-clean-session")]
    pub persistent: bool,
    /// MQTT version: 31, 311 or 5 (also mqttv31, mqttv311, mqttv5); default
    /// 311, or 5 when -D is given
    #[arg(short = 'V', long = "protocol-version", value_name = "VERSION", value_parser = protocol)]
    protocol: Option<ProtocolVersion>,
    /// User name
    #[arg(short = 'u', long = "username", value_name = "USER")]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'P', long = "pw", value_name = "PASS")]
    pub password: Option<String>,
    /// Keepalive sent in CONNECT, in seconds (0 = off)
    #[arg(
        short = 'k',
        long = "keepalive",
        value_name = "SECONDS",
        default_value_t = 60
    )]
    pub keepalive: u16,
    /// Automatic reconnect: first wait MIN seconds, doubling up to MAX
    /// (fractions allowed; default 1 120)
    #[arg(
        long = "reconnect-delay",
        num_args = 2,
        value_names = ["MIN", "MAX"],
        value_parser = seconds,
    )]
    reconnect_delay: Vec<Duration>,
    #[command(flatten)]
    pub will: Will,
    /// An MQTT 5 property for one packet, as mosquitto's tools:
    /// `-D publish user-property NAME VALUE`, `-D connect
    /// session-expiry-interval 60`. Commands: connect, publish (pub),
    /// subscribe (sub), will, disconnect. Implies -V 5
    #[arg(
        short = 'D',
        long = "property",
        num_args = 3..=4,
        value_names = ["COMMAND", "IDENTIFIER", "VALUE"],
        action = ArgAction::Append,
        help_heading = "MQTT 5",
    )]
    property_values: Vec<String>,
    /// The `-D` occurrences, each its own values (filled in by [`parse`]:
    /// clap's derive gives them flattened).
    #[arg(skip)]
    properties: Vec<Vec<String>>,
    #[command(flatten)]
    pub tls: Tls,
    /// MQTT over WebSockets (path /mqtt)
    #[arg(long = "ws", help_heading = "Transport")]
    pub websockets: bool,
    /// Connect to the broker's unix socket at PATH
    #[arg(long = "unix", value_name = "PATH", help_heading = "Transport")]
    pub unix: Option<String>,
    /// Through a proxy: socks5://[user:pass@]host:port, socks4://host:port or
    /// http://[user:pass@]host:port
    #[arg(long = "proxy", value_name = "URL", help_heading = "Transport")]
    pub proxy: Option<String>,
    /// Another broker to fail over to (repeatable; -h/-p is the first; a URI
    /// such as ssl://HOST:PORT sets its own transport, a bare HOST:PORT takes
    /// -h's); the reconnect delay is waited once per round of all of them
    #[arg(long = "server", value_name = "HOST:PORT", help_heading = "Failover")]
    pub servers: Vec<String>,
    /// Print the client's counters on standard error at exit
    #[arg(long = "stats", help_heading = "Connection")]
    pub stats: bool,
}

/// The will (mosquitto's `--will-*` options).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Will")]
pub struct Will {
    /// The will's topic: the broker publishes the will there if the
    /// connection ends without a DISCONNECT
    #[arg(long = "will-topic", value_name = "TOPIC")]
    pub will_topic: Option<String>,
    /// The will's payload (default empty)
    #[arg(long = "will-payload", value_name = "PAYLOAD", requires = "will_topic")]
    pub will_payload: Option<String>,
    /// The will's QoS
    #[arg(
        long = "will-qos",
        value_name = "QOS",
        default_value_t = 0,
        value_parser = clap::value_parser!(i32).range(0..=2),
        requires = "will_topic",
    )]
    pub will_qos: i32,
    /// Retain the will
    #[arg(long = "will-retain", requires = "will_topic")]
    pub will_retain: bool,
}

/// The TLS options (mosquitto_pub's names).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "TLS")]
pub struct Tls {
    /// TLS, trusting the CA certificates in FILE (PEM)
    #[arg(long = "cafile", value_name = "FILE")]
    pub cafile: Option<String>,
    /// TLS, trusting the system's certificate store
    #[arg(long = "capath-system")]
    pub system_roots: bool,
    /// TLS client certificate (PEM)
    #[arg(long = "cert", value_name = "FILE")]
    pub cert: Option<String>,
    /// The client certificate's key (PEM)
    #[arg(long = "key", value_name = "FILE")]
    pub key: Option<String>,
    /// The password of an encrypted --key (native engine)
    #[arg(long = "key-password", value_name = "PASS")]
    pub key_password: Option<String>,
    /// TLS without the host name check (the chain is checked)
    #[arg(long = "insecure")]
    pub insecure: bool,
    /// TLS implementation: rustls (default) or native, the platform's
    /// (OpenSSL on Linux, as Paho), which also takes X.509 v1 certificates
    /// and host names only in the CN
    #[arg(long = "tls-engine", value_name = "rustls|native")]
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

/// The `-D` properties, by the packet they go in.
#[derive(Debug, Default)]
pub struct V5Properties {
    pub connect: Option<Properties>,
    pub publish: Option<Properties>,
    pub subscribe: Option<Properties>,
    pub will: Option<Properties>,
    pub disconnect: Option<Properties>,
}

impl Connection {
    /// The protocol: `-V`, else MQTT 5 when a property is given (as
    /// mosquitto's tools), else 3.1.1.
    pub fn protocol(&self) -> ProtocolVersion {
        match self.protocol {
            Some(p) => p,
            None if !self.properties.is_empty() => ProtocolVersion::MQTTv5,
            None => ProtocolVersion::MQTTv311,
        }
    }

    /// `--reconnect-delay MIN MAX`: the automatic reconnect's first wait
    /// and its cap (Paho's `reconnect_delay_set`).
    pub fn reconnect_delay(&self) -> (Duration, Duration) {
        match self.reconnect_delay[..] {
            [min, max] => (min, max),
            _ => (Duration::from_secs(1), Duration::from_secs(120)),
        }
    }

    /// The `-D` properties, checked against the packets they name (each
    /// tool refuses those for a packet it does not send).
    pub fn v5_properties(&self) -> Result<V5Properties, String> {
        let mut out = V5Properties::default();
        if self.properties.is_empty() {
            return Ok(out);
        }
        if self.protocol() != ProtocolVersion::MQTTv5 {
            return Err("-D: properties need MQTT 5 (-V 5)".into());
        }
        for given in &self.properties {
            let (command, identifier, values) = (&given[0], &given[1], &given[2..]);
            let command = command.to_ascii_lowercase();
            let (slot, packet_type) = match command.as_str() {
                "connect" => (&mut out.connect, PacketType::Connect),
                "will" => (&mut out.will, PacketType::WillMessage),
                "disconnect" => (&mut out.disconnect, PacketType::Disconnect),
                "publish" => (&mut out.publish, PacketType::Publish),
                "subscribe" => (&mut out.subscribe, PacketType::Subscribe),
                _ => return Err(format!("-D: unknown command {command:?}")),
            };
            let property = property(identifier, values)?;
            slot.get_or_insert_with(|| Properties::new(packet_type))
                .set(property)
                .map_err(|e| format!("-D {command} {identifier}: {e}"))?;
        }
        Ok(out)
    }

    /// A client for these options (not connected yet), with its will set.
    pub fn client(&self) -> Result<Client, String> {
        let protocol = self.protocol();
        let v5 = protocol == ProtocolVersion::MQTTv5;
        let options = ClientOptions {
            client_id: self.id.clone(),
            clean_session: if v5 { None } else { Some(!self.persistent) },
            protocol,
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
        let (min, max) = self.reconnect_delay();
        if min > max {
            return Err("--reconnect-delay: MIN must not be above MAX".into());
        }
        client.reconnect_delay_set(min, max);
        self.set_tls(&client)?;
        self.set_servers(&client)?;
        if let Some(url) = &self.proxy {
            let settings = mqtt_tether::transport::proxy::ProxySettings::parse_url(url)
                .map_err(|e| format!("--proxy: {e}"))?;
            client.proxy_set(settings).map_err(|e| e.to_string())?;
        }
        if let Some(topic) = &self.will.will_topic {
            let payload = self.will.will_payload.as_deref().unwrap_or_default();
            let properties = self.v5_properties()?.will;
            let will = &self.will;
            client
                .will_set(topic, payload, will.will_qos, will.will_retain, properties)
                .map_err(|e| format!("--will-topic: {e}"))?;
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
        let mut properties = self.v5_properties()?.connect;
        if self.protocol() == ProtocolVersion::MQTTv5 && self.persistent {
            options.clean_start = mqtt_tether::session::CleanStart::Never;
            properties
                .get_or_insert_with(|| Properties::new(PacketType::Connect))
                .set(Property::SessionExpiryInterval(u32::MAX))
                .map_err(|e| e.to_string())?;
        }
        options.properties = properties;
        client
            .connect_with(self.target(), options)
            .map(|_| ())
            .map_err(|e| format!("cannot connect to {}:{}: {e}", self.target(), self.port))
    }

    /// Disconnects cleanly (with the `-D disconnect` properties), so the
    /// broker discards the will, and stops the loop.
    pub fn disconnect(&self, client: &Client) {
        let properties = self.v5_properties().ok().and_then(|p| p.disconnect);
        let _ = client.disconnect_with(None, properties);
        let _ = client.loop_stop();
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

/// On SIGINT or SIGTERM, `stop` runs (once) on a thread of its own: the
/// tools then end with a DISCONNECT, so the broker drops their will, as
/// mosquitto's tools do, and exit 0.
pub fn on_interrupt(stop: impl FnMut() + Send + 'static) -> Result<(), String> {
    ctrlc::set_handler(stop).map_err(|e| format!("cannot handle signals: {e}"))
}

/// Parses the command line of `P`, whose connection options `connection`
/// finds; a mistake prints clap's message and the usage line and exits 1
/// (mosquitto's tools' status), `--help` prints the help and exits 0.
pub fn parse<P: clap::Parser>(connection: fn(&mut P) -> &mut Connection) -> P {
    let exit = |e: clap::Error| -> ! {
        let _ = e.print();
        std::process::exit(if e.use_stderr() { 1 } else { 0 });
    };
    let matches = P::command().try_get_matches().unwrap_or_else(|e| exit(e));
    let mut parsed = P::from_arg_matches(&matches).unwrap_or_else(|e| exit(e));
    if let Some(occurrences) = matches.get_occurrences::<String>("property_values") {
        connection(&mut parsed).properties = occurrences
            .map(|values| values.cloned().collect())
            .collect();
    }
    parsed
}

/// `-V`'s values.
fn protocol(text: &str) -> Result<ProtocolVersion, String> {
    match text {
        "31" | "mqttv31" => Ok(ProtocolVersion::MQTTv31),
        "311" | "mqttv311" => Ok(ProtocolVersion::MQTTv311),
        "5" | "mqttv5" => Ok(ProtocolVersion::MQTTv5),
        other => Err(format!("unknown protocol version {other:?}")),
    }
}

/// A `-D` property from its identifier (mosquitto's spelling: the
/// specification's name, words joined by `-`) and its values.
fn property(identifier: &str, values: &[String]) -> Result<Property, String> {
    let one = || match values {
        [value] => Ok(value.as_str()),
        _ => Err(format!("-D ... {identifier} takes one value")),
    };
    fn number<T: std::str::FromStr>(identifier: &str, value: &str) -> Result<T, String> {
        value
            .parse()
            .map_err(|_| format!("-D ... {identifier}: {value:?} is not a valid number"))
    }
    Ok(match identifier {
        "user-property" => match values {
            [name, value] => Property::UserProperty(name.clone(), value.clone()),
            _ => return Err("-D ... user-property takes a NAME and a VALUE".into()),
        },
        "content-type" => Property::ContentType(one()?.into()),
        "response-topic" => Property::ResponseTopic(one()?.into()),
        "correlation-data" => Property::CorrelationData(one()?.as_bytes().to_vec()),
        "payload-format-indicator" => Property::PayloadFormatIndicator(number(identifier, one()?)?),
        "message-expiry-interval" => Property::MessageExpiryInterval(number(identifier, one()?)?),
        "session-expiry-interval" => Property::SessionExpiryInterval(number(identifier, one()?)?),
        "will-delay-interval" => Property::WillDelayInterval(number(identifier, one()?)?),
        "receive-maximum" => Property::ReceiveMaximum(number(identifier, one()?)?),
        "maximum-packet-size" => Property::MaximumPacketSize(number(identifier, one()?)?),
        "topic-alias-maximum" => Property::TopicAliasMaximum(number(identifier, one()?)?),
        "request-problem-information" => {
            Property::RequestProblemInformation(number(identifier, one()?)?)
        }
        "request-response-information" => {
            Property::RequestResponseInformation(number(identifier, one()?)?)
        }
        "subscription-identifier" => Property::SubscriptionIdentifier(number(identifier, one()?)?),
        "reason-string" => Property::ReasonString(one()?.into()),
        other => return Err(format!("-D: unknown property {other:?}")),
    })
}

/// A number of seconds, fractions allowed (`0.25`).
pub fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| *s >= 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("seconds (like 0.5 or 2), not {text:?}"))
}
