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

/// Packets read off a byte stream one at a time. Bytes read past a packet
/// are kept for the next one: Mosquitto often sends two packets in one
/// segment (a CONNACK and the queued PUBLISH behind it).
struct Packets<R> {
    source: R,
    decoder: Decoder,
    /// Read but not yet given to the decoder.
    rest: Vec<u8>,
}

impl<R: Read> Packets<R> {
    fn new(source: R) -> Packets<R> {
        Packets {
            source,
            decoder: Decoder::new(V311),
            rest: Vec::new(),
        }
    }

    /// The next packet, or why there is none.
    fn next(&mut self) -> Result<Packet, String> {
        let mut buf = [0u8; 1024];
        loop {
            let mut input = &self.rest[..];
            let decoded = self.decoder.decode(&mut input);
            let used = self.rest.len() - input.len();
            self.rest.drain(..used);
            match decoded {
                Ok(Some(packet)) => return Ok(packet),
                Ok(None) => {}
                Err(e) => return Err(format!("undecodable bytes: {e}")),
            }
            match self.source.read(&mut buf) {
                Ok(0) => return Err("the broker closed the connection".into()),
                Ok(n) => self.rest.extend_from_slice(&buf[..n]),
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
    }
}

/// A bare MQTT 3.1.1 client over a plain socket: every read has a timeout,
/// and a failure shows Mosquitto's log.
struct Client<'a> {
    stream: TcpStream,
    packets: Packets<TcpStream>,
    broker: &'a Mosquitto,
}

impl<'a> Client<'a> {
    /// Connects and returns the client with the broker's CONNACK.
    fn connect(broker: &'a Mosquitto, connect: Connect) -> (Client<'a>, ConnAck) {
        let stream = TcpStream::connect_timeout(&broker.addr(), DEFAULT_TIMEOUT).unwrap();
        stream.set_read_timeout(Some(DEFAULT_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(DEFAULT_TIMEOUT)).unwrap();
        let mut client = Client {
            packets: Packets::new(stream.try_clone().unwrap()),
            stream,
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
        match self.packets.next() {
            Ok(packet) => packet,
            Err(e) => self.fail(&e),
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

/// The helper above once failed whenever two packets came in one read.
#[test]
fn the_test_client_keeps_bytes_past_a_packet() {
    let mut wire = Packet::ConnAck(ConnAck::new(true, 0))
        .to_bytes(V311)
        .unwrap();
    let publish = Publish::new("t", "kept", QoS::AtLeastOnce, 1);
    wire.extend(Packet::Publish(publish.clone()).to_bytes(V311).unwrap());
    wire.extend(Packet::PingResp.to_bytes(V311).unwrap());
    let mut packets = Packets::new(&wire[..]);
    assert!(matches!(packets.next(), Ok(Packet::ConnAck(_))));
    assert_eq!(packets.next(), Ok(Packet::Publish(publish)));
    assert_eq!(packets.next(), Ok(Packet::PingResp));
    assert!(packets.next().is_err(), "nothing is left");
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
    // The short timeout was for the failing restart; a real start may take
    // longer on a loaded machine.
    broker.set_timeout(DEFAULT_TIMEOUT);
    broker.restart().unwrap();
    Client::session(&broker, "tether-recovered", true)
        .0
        .disconnect();
}

/// A timeout of `Duration::MAX` ("wait as long as it takes") once panicked in
/// `stop`, `restart` and the drop.
#[test]
fn a_huge_timeout_neither_panics_nor_leaks_mosquitto() {
    let Some(mut broker) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    broker.set_timeout(Duration::MAX);
    broker.restart().unwrap();
    Client::session(&broker, "tether-patient", true)
        .0
        .disconnect();
    let pid = broker.pid().unwrap();
    let dir = broker.dir().to_path_buf();
    drop(broker);
    assert!(!dir.exists(), "{} is left behind", dir.display());
    // The drop killed and reaped it (checked where /proc exists).
    if std::path::Path::new("/proc/self").exists() {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid}"
        );
    }
}
