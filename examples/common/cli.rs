//! Command-line handling shared by the `pub` and `sub` examples: the
//! connection options both take, in mosquitto_pub/mosquitto_sub spelling.

use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, ProtocolVersion};

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
        Ok(client)
    }

    /// Connects (blocking for the TCP connect).
    pub fn connect(&self, client: &Client) -> Result<(), String> {
        let mut options = mqtt_tether::ConnectOptions {
            port: self.port,
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
