//! The Mosquitto launcher of the test kit, against the real `mosquitto`:
//! it starts, restarts on the same port, keeps sessions with persistence and
//! forgets them without, and checks passwords. Each test skips (one line on
//! stderr) when Mosquitto is not installed, and fails instead on CI.
#![cfg(feature = "testing")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use mqtt_tether::packet::{
    Ack, ConnAck, Connect, Decoder, Disconnect, Packet, PacketType, ProtocolVersion, Publish, QoS,
    Subscribe, SubscribeOptions,
};
use mqtt_tether::testing::{
    find_program, Endpoint, Error, Mosquitto, MosquittoConfig, DEFAULT_TIMEOUT,
};

const V311: ProtocolVersion = ProtocolVersion::MQTTv311;

/// A bare MQTT 3.1.1 client over a plain socket: every read has a timeout,
/// and a failure shows Mosquitto's log.
struct Client<'a> {
    stream: TcpStream,
    decoder: Decoder,
    broker: &'a Mosquitto,
}

impl<'a> Client<'a> {
    /// Connects and returns the client with the broker's CONNACK.
    fn connect(broker: &'a Mosquitto, connect: Connect) -> (Client<'a>, ConnAck) {
        let stream = TcpStream::connect_timeout(&broker.addr(), DEFAULT_TIMEOUT).unwrap();
        stream.set_read_timeout(Some(DEFAULT_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(DEFAULT_TIMEOUT)).unwrap();
        let mut client = Client {
            stream,
            decoder: Decoder::new(V311),
            broker,
        };
        client.send(Packet::Connect(connect));
        match client.recv() {
            Packet::ConnAck(ack) => (client, ack),
            other => client.fail(&format!("expected CONNACK, got {other:?}")),
        }
    }

    /// Connects as `id` with this clean-session flag and expects success.
    fn session(broker: &'a Mosquitto, id: &str, clean: bool) -> (Client<'a>, ConnAck) {
        let mut connect = Connect::new(V311, id);
        connect.clean_start = clean;
        let (client, ack) = Client::connect(broker, connect);
        assert_eq!(ack.return_code, 0, "CONNACK of {id}\n{}", broker.log());
        (client, ack)
    }

    fn send(&mut self, packet: Packet) {
        let bytes = packet.to_bytes(V311).unwrap();
        self.stream.write_all(&bytes).unwrap();
    }

    fn recv(&mut self) -> Packet {
        let mut buf = [0u8; 1024];
        loop {
            let mut none: &[u8] = &[];
            if let Some(packet) = self.decoder.decode(&mut none).unwrap() {
                return packet;
            }
            let n = match self.stream.read(&mut buf) {
                Ok(0) => self.fail("the broker closed the connection"),
                Ok(n) => n,
                Err(e) => self.fail(&format!("read failed: {e}")),
            };
            let mut input = &buf[..n];
            if let Some(packet) = self.decoder.decode(&mut input).unwrap() {
                // One packet per call is all these tests exchange; keep any
                // rest for the next call.
                assert!(input.is_empty(), "unexpected extra bytes {input:02x?}");
                return packet;
            }
        }
    }

    fn subscribe(&mut self, filter: &str, qos: QoS) {
        let filters = vec![(filter.to_string(), SubscribeOptions::new(qos))];
        self.send(Packet::Subscribe(Subscribe::new(1, filters)));
        match self.recv() {
            Packet::SubAck(ack) => {
                let granted: Vec<u8> = ack.reason_codes.iter().map(|c| c.value()).collect();
                assert_eq!(granted, [qos.as_u8()], "granted QoS");
            }
            other => self.fail(&format!("expected SUBACK, got {other:?}")),
        }
    }

    fn disconnect(mut self) {
        self.send(Packet::Disconnect(Disconnect::default()));
    }

    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n--- mosquitto log ---\n{}", self.broker.log())
    }
}

#[test]
fn it_starts_and_accepts_a_connect() {
    let Some(broker) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    assert_eq!(broker.endpoint(), Endpoint::Tcp(broker.addr()));
    assert_eq!(broker.endpoint().port(), Some(broker.port()));
    assert!(broker.addr().ip().is_loopback());
    let listener = format!("listener {} 127.0.0.1\n", broker.port());
    assert!(broker.config_text().contains(&listener));
    let (client, ack) = Client::session(&broker, "tether-start", true);
    assert!(!ack.session_present);
    client.disconnect();
    assert!(broker.log().contains("running"), "{}", broker.log());
}

#[test]
fn a_restart_keeps_the_port_and_drop_cleans_up() {
    let Some(mut broker) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let port = broker.port();
    let pid = broker.pid();
    broker.restart().unwrap();
    assert_eq!(broker.port(), port);
    assert_ne!(broker.pid(), pid);
    Client::session(&broker, "tether-restart", true)
        .0
        .disconnect();

    broker.stop().unwrap();
    assert!(!broker.is_running());
    assert!(TcpStream::connect(broker.addr()).is_err());
    broker.restart().unwrap();
    assert!(broker.is_running());

    let dir = broker.dir().to_path_buf();
    drop(broker);
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

/// A subscribes with a persistent session and leaves; the broker restarts;
/// B publishes to A's topic at QoS 1. Then the test brings A back.
fn leave_restart_publish(broker: &mut Mosquitto, topic: &str) {
    let (mut a, _) = Client::session(broker, "tether-a", false);
    a.subscribe(topic, QoS::AtLeastOnce);
    a.disconnect();
    broker.restart().unwrap();

    let (mut b, _) = Client::session(broker, "tether-b", true);
    b.send(Packet::Publish(Publish::new(
        topic,
        "kept",
        QoS::AtLeastOnce,
        7,
    )));
    match b.recv() {
        Packet::PubAck(ack) => assert_eq!(ack.packet_id, 7),
        other => b.fail(&format!("expected PUBACK, got {other:?}")),
    }
    b.disconnect();
}

#[test]
fn with_persistence_a_restart_keeps_a_session() {
    let config = MosquittoConfig::new().persistence(true);
    let Some(mut broker) = Mosquitto::start_or_skip(config) else {
        return;
    };
    leave_restart_publish(&mut broker, "tether/kept");
    let (mut a, ack) = Client::session(&broker, "tether-a", false);
    assert!(ack.session_present, "{}", a.broker.log());
    match a.recv() {
        Packet::Publish(p) => {
            assert_eq!(
                (p.topic.as_str(), &p.payload[..], p.qos),
                ("tether/kept", &b"kept"[..], QoS::AtLeastOnce)
            );
            a.send(Packet::PubAck(Ack::new(PacketType::PubAck, p.packet_id)));
        }
        other => a.fail(&format!("expected the queued PUBLISH, got {other:?}")),
    }
    a.disconnect();
}

#[test]
fn without_persistence_a_restart_forgets_sessions() {
    let Some(mut broker) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    leave_restart_publish(&mut broker, "tether/lost");
    let (a, ack) = Client::session(&broker, "tether-a", false);
    assert!(!ack.session_present, "{}", a.broker.log());
    a.disconnect();
}

#[test]
fn a_password_file_refuses_wrong_credentials() {
    let config = MosquittoConfig::new().user("alice", "secret");
    let Some(broker) = Mosquitto::start_or_skip(config) else {
        return;
    };
    let login = |password: Option<&str>| {
        let mut connect = Connect::new(V311, "tether-auth");
        if let Some(password) = password {
            connect.username = Some("alice".into());
            connect.password = Some(password.as_bytes().to_vec());
        }
        Client::connect(&broker, connect).1.return_code
    };
    // Mosquitto 2.0 answers a wrong password with 5 (not authorized), not 4
    // (bad user name or password), and so it does for no credentials.
    assert_eq!(login(Some("wrong")), 5, "{}", broker.log());
    assert_eq!(login(None), 5, "{}", broker.log());
    assert_eq!(login(Some("secret")), 0, "{}", broker.log());
}

#[test]
fn the_clients_are_found_where_mosquitto_is() {
    // Other tests need mosquitto_pub and mosquitto_sub from the same packages.
    if find_program("mosquitto").is_some() {
        assert!(find_program("mosquitto_pub").is_some());
        assert!(find_program("mosquitto_sub").is_some());
    }
    assert_eq!(find_program("mqtt-tether-no-such-program"), None);
}

#[test]
fn a_bad_config_line_fails_with_mosquittos_complaint() {
    if find_program("mosquitto").is_none() {
        // start_or_skip would skip (or fail on CI); this test needs the error.
        let _ = Mosquitto::start_or_skip(MosquittoConfig::default());
        return;
    }
    let config = MosquittoConfig::new().line("no_such_option 1");
    let err = Mosquitto::start(config).unwrap_err();
    assert!(matches!(err, Error::Startup(_)), "{err}");
    assert!(err.to_string().contains("no_such_option"), "{err}");
}

#[test]
fn a_restart_onto_a_taken_port_fails_with_the_log_then_recovers() {
    let Some(mut broker) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    broker.set_timeout(Duration::from_millis(500));
    broker.stop().unwrap();
    let squatter = TcpListener::bind(broker.addr()).unwrap();
    let err = broker.restart().unwrap_err();
    assert!(err.to_string().contains("Address already in use"), "{err}");
    assert!(!broker.is_running());
    drop(squatter);
    broker.restart().unwrap();
    Client::session(&broker, "tether-recovered", true)
        .0
        .disconnect();
}
