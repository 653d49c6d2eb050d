//! The scripted broker, driven by plain sockets playing the client: scripts
//! that match pass, and every way a script can fail gives a prompt, readable
//! error instead of a hang.
#![cfg(feature = "testing")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::hex;
use mqtt_tether::packet::{
    Ack, Disconnect, Packet, PacketType, Property, ProtocolVersion, Publish, QoS,
};
use mqtt_tether::testing::{Error, ScriptedBroker, ScriptedConnection, Stream};

/// CONNECT with an empty client id at 3.1.1 (paho-python.md §18.4).
const CONNECT_V4: &str = "10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00";
/// CONNECT "client-id" at 5.0 without properties (§18.4).
const CONNECT_V5: &str = "10 16 00 04 4d 51 54 54 05 02 00 3c 00 00 09 63 6c 69 65 6e 74 2d 69 64";
/// PUBLISH q0 "pub/qos0/test" "message" (§18.4).
const PUBLISH_Q0: &str = "30 16 00 0d 70 75 62 2f 71 6f 73 30 2f 74 65 73 74 6d 65 73 73 61 67 65";

const SHORT: Duration = Duration::from_millis(150);
/// Far below the default timeout: a step that fails "promptly" fails in this.
const PROMPT: Duration = Duration::from_secs(2);

fn client(broker: &ScriptedBroker) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", broker.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    stream
}

/// A connected pair: the client socket and the broker's side of it.
fn pair() -> (ScriptedBroker, TcpStream, ScriptedConnection) {
    let broker = ScriptedBroker::bind().unwrap();
    let client = client(&broker);
    let conn = broker.accept().unwrap();
    (broker, client, conn)
}

fn read_n(client: &mut impl Read, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    client.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn a_matching_script_passes() {
    let (_broker, mut client, mut conn) = pair();
    assert_eq!(conn.protocol(), ProtocolVersion::MQTTv311);

    client.write_all(&hex(CONNECT_V4)).unwrap();
    conn.expect_bytes(&hex(CONNECT_V4)).unwrap();
    conn.send_connack(false, 0).unwrap();
    assert_eq!(read_n(&mut client, 4), hex("20 02 00 00"));

    client.write_all(&hex(PUBLISH_Q0)).unwrap();
    let publish = Publish::new("pub/qos0/test", b"message".to_vec(), QoS::AtMostOnce, 0);
    conn.expect_packet(&Packet::Publish(publish)).unwrap();

    let publish = Publish::new("pub/qos1/test", b"message".to_vec(), QoS::AtLeastOnce, 1);
    let wire = Packet::Publish(publish.clone())
        .to_bytes(ProtocolVersion::MQTTv311)
        .unwrap();
    client.write_all(&wire).unwrap();
    assert_eq!(conn.read_packet().unwrap(), Packet::Publish(publish));
    conn.send_packet(&Packet::PubAck(Ack::new(PacketType::PubAck, 1)))
        .unwrap();
    assert_eq!(read_n(&mut client, 4), hex("40 02 00 01"));

    client.write_all(&hex("e0 00")).unwrap();
    conn.expect_packet(&Packet::Disconnect(Disconnect::default()))
        .unwrap();
    conn.expect_silence(Duration::from_millis(50)).unwrap();
    drop(client);
    conn.expect_close().unwrap();
}

#[test]
fn expect_connect_returns_the_connect() {
    let (_broker, mut client, mut conn) = pair();
    client.write_all(&hex(CONNECT_V4)).unwrap();
    let connect = conn.expect_connect().unwrap();
    assert_eq!(connect.client_id, "");
    assert_eq!(connect.keep_alive, 60);

    client.write_all(&hex("c0 00")).unwrap();
    let err = conn.expect_connect().unwrap_err();
    assert!(matches!(err, Error::UnexpectedData { .. }), "{err}");
    assert!(err.to_string().contains("PingReq"), "{err}");
}

#[test]
fn a_mismatch_shows_both_sides_as_packets_and_hex() {
    let (_broker, mut client, mut conn) = pair();
    client.write_all(&hex("c0 00")).unwrap();
    let started = Instant::now();
    let err = conn.expect_bytes(&hex(CONNECT_V4)).unwrap_err();
    // The first byte already differs: no waiting for the other 12.
    assert!(started.elapsed() < PROMPT);
    assert!(matches!(err, Error::Mismatch { .. }), "{err}");
    let text = format!("{err:?}");
    for needle in ["Connect", "PingReq", CONNECT_V4, "c0 00"] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[test]
fn a_packet_mismatch_reads_the_whole_received_packet() {
    let (_broker, mut client, mut conn) = pair();
    client.write_all(&hex(CONNECT_V4)).unwrap();
    client.write_all(&hex("c0 00")).unwrap();
    let err = conn.expect_packet(&Packet::PingReq).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Mismatch { .. }), "{text}");
    for needle in ["Connect", "PingReq", CONNECT_V4, "c0 00"] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    // The CONNECT was taken whole, so the next step sees the PINGREQ.
    conn.expect_packet(&Packet::PingReq).unwrap();
}

#[test]
fn a_silent_peer_times_out_promptly() {
    let (_broker, _client, conn) = pair();
    let mut conn = conn.with_timeout(SHORT);
    let started = Instant::now();
    let err = conn.expect_packet(&Packet::PingReq).unwrap_err();
    assert!(started.elapsed() < PROMPT);
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("PingReq"), "{err}");
}

#[test]
fn a_timeout_shows_what_arrived_so_far() {
    let (_broker, mut client, mut conn) = pair();
    conn.set_timeout(SHORT);
    client.write_all(&hex("10 0c 00 04")).unwrap();
    let err = conn.expect_bytes(&hex(CONNECT_V4)).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Timeout { .. }), "{text}");
    assert!(text.contains("received so far"), "{text}");
    assert!(text.contains("10 0c 00 04"), "{text}");
}

#[test]
fn a_close_mid_packet_is_reported_with_what_arrived() {
    let (_broker, mut client, mut conn) = pair();
    client.write_all(&hex("10 0c 00 04")).unwrap();
    drop(client);
    let err = conn.read_packet().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Closed { .. }), "{text}");
    assert!(text.contains("10 0c 00 04"), "{text}");
}

#[test]
fn expect_silence_fails_on_data() {
    let (_broker, mut client, mut conn) = pair();
    conn.expect_silence(Duration::from_millis(50)).unwrap();
    client.write_all(&hex("c0 00")).unwrap();
    let started = Instant::now();
    let err = conn.expect_silence(Duration::from_secs(3)).unwrap_err();
    assert!(started.elapsed() < PROMPT);
    assert!(matches!(err, Error::UnexpectedData { .. }), "{err}");
    assert!(err.to_string().contains("PingReq"), "{err}");
}

#[test]
fn expect_close_passes_on_a_close_and_fails_on_data_or_timeout() {
    let (broker, client, mut conn) = pair();
    drop(client);
    conn.expect_close().unwrap();

    let mut client = self::client(&broker);
    let mut conn = broker.accept().unwrap();
    client.write_all(&hex("e0 00")).unwrap();
    let err = conn.expect_close().unwrap_err();
    assert!(matches!(err, Error::UnexpectedData { .. }), "{err}");
    assert!(err.to_string().contains("Disconnect"), "{err}");

    let _client = self::client(&broker);
    let mut conn = broker.accept().unwrap().with_timeout(SHORT);
    let err = conn.expect_close().unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
}

#[test]
fn close_is_seen_by_the_client() {
    let (_broker, mut client, conn) = pair();
    conn.close();
    let mut buf = [0; 1];
    assert_eq!(client.read(&mut buf).unwrap(), 0);
}

#[test]
fn accept_times_out_when_nobody_connects() {
    let broker = ScriptedBroker::bind().unwrap().with_timeout(SHORT);
    let started = Instant::now();
    let err = broker.accept().unwrap_err();
    assert!(started.elapsed() < PROMPT);
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    broker.expect_no_connection(SHORT).unwrap();

    let _client = client(&broker);
    let err = broker.expect_no_connection(SHORT).unwrap_err();
    assert!(matches!(err, Error::UnexpectedData { .. }), "{err}");
}

#[test]
fn a_second_accept_gets_the_next_connection() {
    let broker = ScriptedBroker::bind().unwrap();
    let mut first = client(&broker);
    first.write_all(&hex("c0 00")).unwrap();
    let mut conn = broker.accept().unwrap();
    conn.expect_packet(&Packet::PingReq).unwrap();
    conn.close();
    assert_eq!(first.read(&mut [0; 1]).unwrap(), 0);

    // The client reconnects: the script just accepts again.
    let mut second = client(&broker);
    second.write_all(&hex(CONNECT_V4)).unwrap();
    let mut conn = broker.accept().unwrap();
    conn.expect_bytes(&hex(CONNECT_V4)).unwrap();
}

#[cfg(unix)]
#[test]
fn a_unix_socket_serves_the_same_script() {
    let path =
        std::env::temp_dir().join(format!("mqtt-tether-scripted-{}.sock", std::process::id()));
    let broker = ScriptedBroker::bind_unix(&path).unwrap();
    assert_eq!(broker.port(), 0);
    assert_eq!(broker.endpoint().port(), None);

    let mut client = broker.endpoint().connect().unwrap();
    assert!(matches!(client, Stream::Unix(_)));
    client.write_all(&hex(CONNECT_V4)).unwrap();
    let mut conn = broker.accept().unwrap();
    conn.expect_bytes(&hex(CONNECT_V4)).unwrap();
    conn.send_connack(false, 0).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert_eq!(read_n(&mut client, 4), hex("20 02 00 00"));
    drop(client);
    conn.expect_close().unwrap();

    drop(broker);
    assert!(!path.exists(), "the socket file outlived the broker");
}

#[test]
fn a_huge_announced_length_fails_without_buffering_it() {
    let (_broker, mut client, mut conn) = pair();
    // PUBLISH announcing the largest remaining length MQTT can express.
    client.write_all(&hex("30 ff ff ff 7f 00")).unwrap();
    let started = Instant::now();
    let err = conn.read_packet().unwrap_err();
    assert!(started.elapsed() < PROMPT);
    assert!(matches!(err, Error::UnexpectedData { .. }), "{err}");
    assert!(err.to_string().contains("268435460"), "{err}");

    let (_broker, mut client, mut conn) = pair();
    client.write_all(&hex("30 ff ff ff 7f 00")).unwrap();
    let err = conn.expect_packet(&Packet::PingReq).unwrap_err();
    assert!(matches!(err, Error::UnexpectedData { .. }), "{err}");
}

#[test]
fn an_undecodable_packet_is_reported() {
    let (_broker, mut client, mut conn) = pair();
    client.write_all(&hex("00 00")).unwrap();
    let err = conn.read_packet().unwrap_err();
    assert!(matches!(err, Error::UnexpectedData { .. }), "{err}");
    assert!(err.to_string().contains("undecodable"), "{err}");
}

#[test]
fn a_v5_connect_switches_the_protocol() {
    let (_broker, mut client, mut conn) = pair();
    client.write_all(&hex(CONNECT_V5)).unwrap();
    let connect = conn.expect_connect().unwrap();
    assert_eq!(connect.client_id, "client-id");
    assert_eq!(conn.protocol(), ProtocolVersion::MQTTv5);

    let mut publish = Publish::new("pub/qos1/test", b"message".to_vec(), QoS::AtLeastOnce, 7);
    publish
        .properties
        .push(Property::UserProperty("a".into(), "b".into()))
        .unwrap();
    publish
        .properties
        .push(Property::MessageExpiryInterval(30))
        .unwrap();
    let wire = Packet::Publish(publish.clone())
        .to_bytes(ProtocolVersion::MQTTv5)
        .unwrap();
    client.write_all(&wire).unwrap();
    match conn.read_packet().unwrap() {
        Packet::Publish(got) => {
            assert_eq!(got.properties.message_expiry_interval(), Some(30));
            assert_eq!(got, publish);
        }
        other => panic!("expected a PUBLISH, got {other:?}"),
    }

    // Replies are encoded at v5 too: a PUBACK with its reason code.
    conn.send_packet(&Packet::PubAck(Ack::new(PacketType::PubAck, 7)))
        .unwrap();
    client.write_all(&hex("c0 00")).unwrap();
    conn.expect_packet(&Packet::PingReq).unwrap();
}

#[test]
fn expect_bytes_and_expect_packet_follow_a_connect_too() {
    let (_broker, mut client, mut conn) = pair();
    client.write_all(&hex(CONNECT_V5)).unwrap();
    conn.expect_bytes(&hex(CONNECT_V5)).unwrap();
    assert_eq!(conn.protocol(), ProtocolVersion::MQTTv5);

    let (_broker, mut client, mut conn) = pair();
    client.write_all(&hex(CONNECT_V5)).unwrap();
    let connect = mqtt_tether::packet::Connect::new(ProtocolVersion::MQTTv5, "client-id");
    conn.expect_packet(&Packet::Connect(connect)).unwrap();
    assert_eq!(conn.protocol(), ProtocolVersion::MQTTv5);
    // The v5 PUBLISH of §18.4 (with its empty property block) now matches.
    client
        .write_all(&hex(
            "30 17 00 0d 70 75 62 2f 71 6f 73 30 2f 74 65 73 74 00 6d 65 73 73 61 67 65",
        ))
        .unwrap();
    let publish = Publish::new("pub/qos0/test", b"message".to_vec(), QoS::AtMostOnce, 0);
    conn.expect_packet(&Packet::Publish(publish)).unwrap();
}

#[test]
fn concurrent_waits_on_one_broker_each_keep_their_timeout() {
    let broker = ScriptedBroker::bind().unwrap().with_timeout(SHORT);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let started = Instant::now();
            let result = broker.accept().map(|_| ());
            (result, started.elapsed())
        });
        // This shorter wait ends while the accept above still waits; it used
        // to leave the listener blocking, and the accept then never timed out.
        std::thread::sleep(Duration::from_millis(20));
        broker
            .expect_no_connection(Duration::from_millis(30))
            .unwrap();
        // Long after the accept's timeout: a connection that frees a stuck
        // accept (which then wrongly succeeds) rather than hang the test.
        std::thread::sleep(PROMPT);
        let _unstick = client(&broker);
        let (result, elapsed) = waiter.join().unwrap();
        assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
        assert!(elapsed < PROMPT, "{elapsed:?}");
    });
}

#[test]
fn a_huge_timeout_waits_instead_of_panicking() {
    // `Instant::now() + Duration::MAX` panics; "no timeout" must not.
    let broker = ScriptedBroker::bind().unwrap().with_timeout(Duration::MAX);
    let mut client = client(&broker);
    client.write_all(&hex("c0 00")).unwrap();
    let mut conn = broker.accept().unwrap();
    assert_eq!(conn.timeout(), Duration::MAX);
    conn.expect_packet(&Packet::PingReq).unwrap();
    conn.send_packet(&Packet::PingResp).unwrap();
    assert_eq!(read_n(&mut client, 2), hex("d0 00"));
    client.write_all(&hex("c0 00")).unwrap();
    let err = conn.expect_packet(&Packet::PingResp).unwrap_err();
    assert!(matches!(err, Error::Mismatch { .. }), "{err}");
    conn.expect_silence(Duration::from_millis(20)).unwrap();
    broker
        .expect_no_connection(Duration::from_millis(20))
        .unwrap();
}

#[test]
fn expect_silence_of_zero_still_sees_waiting_bytes() {
    let (_broker, mut client, mut conn) = pair();
    conn.expect_silence(Duration::ZERO).unwrap();
    client.write_all(&hex("c0 00")).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let err = conn.expect_silence(Duration::ZERO).unwrap_err();
    assert!(matches!(err, Error::UnexpectedData { .. }), "{err}");
    assert!(err.to_string().contains("PingReq"), "{err}");
}

#[test]
fn send_bytes_is_bounded_by_the_step_timeout_against_a_slow_reader() {
    let (_broker, client, conn) = pair();
    let mut conn = conn.with_timeout(Duration::from_millis(300));
    // A reader that takes 256 KiB every 15 ms or so (about 16 MB/s): each
    // write call makes progress well within the timeout, but 64 MiB take
    // seconds.
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut client = client;
            client
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let mut buf = vec![0u8; 256 * 1024];
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = client.read(&mut buf);
                std::thread::sleep(Duration::from_millis(15));
            }
        });
        let started = Instant::now();
        let result = conn.send_bytes(&vec![0x30; 64 * 1024 * 1024]);
        let elapsed = started.elapsed();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let err = result.unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(elapsed < PROMPT, "{elapsed:?}");
    });
}

#[test]
fn a_report_on_megabytes_stays_short() {
    let (_broker, mut client, conn) = pair();
    let mut conn = conn.with_timeout(SHORT);
    // A PUBLISH announcing 1 MiB of which half arrives: the timeout report
    // used to carry all of it as hex, three characters a byte.
    let mut bytes = hex("30 80 80 40 00 01 74");
    bytes.resize(512 * 1024, 0x61);
    client.write_all(&bytes).unwrap();
    let err = conn.read_packet().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Timeout { .. }), "{text}");
    assert!(text.len() < 8 * 1024, "a report of {} bytes", text.len());
    assert!(text.contains("more bytes"), "{text}");
}

#[cfg(unix)]
#[test]
fn bind_unix_never_deletes_a_file_that_is_not_a_socket() {
    let path =
        std::env::temp_dir().join(format!("mqtt-tether-not-a-socket-{}", std::process::id()));
    std::fs::write(&path, b"precious").unwrap();
    let result = ScriptedBroker::bind_unix(&path);
    let left = std::fs::read(&path);
    let _ = std::fs::remove_file(&path);
    assert!(result.is_err(), "bound over a regular file");
    assert_eq!(left.unwrap(), b"precious");
}

#[cfg(unix)]
#[test]
fn a_dropped_unix_broker_leaves_a_newer_socket_at_its_path() {
    let path =
        std::env::temp_dir().join(format!("mqtt-tether-replaced-{}.sock", std::process::id()));
    let old = ScriptedBroker::bind_unix(&path).unwrap();
    // A stale socket file is replaced by the next bind.
    let new = ScriptedBroker::bind_unix(&path).unwrap();
    drop(old);
    assert!(path.exists(), "the old broker removed the new one's socket");
    let mut client = new.endpoint().connect().unwrap();
    client.write_all(&hex("c0 00")).unwrap();
    new.accept()
        .unwrap()
        .expect_packet(&Packet::PingReq)
        .unwrap();
    drop(new);
    assert!(!path.exists(), "the socket file outlived its broker");
}
