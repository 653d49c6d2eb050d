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
                             up to MAX (default 1 120; fractions allowed)";

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
            ..ClientOptions::default()
        };
        let client = Client::with_options(CallbackAPIVersion::VERSION2, options)
            .map_err(|e| e.to_string())?;
        if let Some(user) = &self.username {
            client.username_pw_set(Some(user), self.password.as_deref());
        }
        let (min, max) = self.reconnect_delay;
        client.reconnect_delay_set(min, max);
        Ok(client)
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
            .connect_with(&self.host, options)
            .map(|_| ())
            .map_err(|e| format!("cannot connect to {}:{}: {e}", self.host, self.port))
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
