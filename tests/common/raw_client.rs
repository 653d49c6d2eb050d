//! A bare MQTT client for tests of the test kit's brokers: plain sockets and
//! the codec, so a test controls every packet (and every missing ack).

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mqtt_tether::packet::{
    Ack, ConnAck, Connect, Decoder, Packet, PacketType, ProtocolVersion, Publish, QoS, SubAck,
    Subscribe, SubscribeOptions,
};

pub const WAIT: Duration = Duration::from_secs(5);

/// What a receive found.
#[derive(Debug)]
pub enum Received {
    Packet(Packet),
    Silence,
    Closed,
}

pub struct RawClient {
    stream: TcpStream,
    decoder: Decoder,
    pending: VecDeque<Packet>,
    protocol: ProtocolVersion,
    closed: bool,
}

impl RawClient {
    pub fn open(addr: SocketAddr, protocol: ProtocolVersion) -> RawClient {
        let stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect to the broker");
        stream.set_nodelay(true).unwrap();
        RawClient {
            stream,
            decoder: Decoder::new(protocol),
            pending: VecDeque::new(),
            protocol,
            closed: false,
        }
    }

    /// Opens a connection, sends `connect` and returns the CONNACK.
    pub fn connect(addr: SocketAddr, connect: Connect) -> (RawClient, ConnAck) {
        let mut c = RawClient::open(addr, connect.protocol);
        c.send(&Packet::Connect(connect));
        match c.recv() {
            Packet::ConnAck(ack) => (c, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// CONNECT with Paho's defaults and the given id and clean flag.
    pub fn connect_simple(
        addr: SocketAddr,
        protocol: ProtocolVersion,
        client_id: &str,
        clean: bool,
    ) -> (RawClient, ConnAck) {
        let mut connect = Connect::new(protocol, client_id);
        connect.clean_start = clean;
        RawClient::connect(addr, connect)
    }

    pub fn send(&mut self, packet: &Packet) {
        let bytes = packet.to_bytes(self.protocol).expect("encode");
        self.stream.write_all(&bytes).expect("write to the broker");
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the broker");
    }

    /// Writes without panicking; false once the broker has cut us off.
    pub fn try_send_bytes(&mut self, bytes: &[u8]) -> bool {
        self.stream
            .set_write_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        match self.stream.write_all(bytes) {
            Ok(()) => true,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => true,
            Err(_) => false,
        }
    }

    /// The next packet, or what happened instead within `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Received {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(p) = self.pending.pop_front() {
                return Received::Packet(p);
            }
            if self.closed {
                return Received::Closed;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Received::Silence;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => self.closed = true,
                Ok(n) => {
                    let mut input = &buf[..n];
                    while let Some(p) = self.decoder.decode(&mut input).expect("broker sent junk") {
                        self.pending.push_back(p);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.closed = true,
            }
        }
    }

    /// The next packet; panics after 5 s or on a close.
    pub fn recv(&mut self) -> Packet {
        match self.recv_timeout(WAIT) {
            Received::Packet(p) => p,
            other => panic!("expected a packet, got {other:?}"),
        }
    }

    pub fn recv_publish(&mut self) -> Publish {
        match self.recv() {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    pub fn expect_silence(&mut self, d: Duration) {
        match self.recv_timeout(d) {
            Received::Silence => {}
            other => panic!("expected silence, got {other:?}"),
        }
    }

    /// Waits for the broker to close the connection, skipping packets.
    pub fn expect_closed(&mut self, timeout: Duration) -> Vec<Packet> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            match self.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Received::Closed => return seen,
                Received::Packet(p) => seen.push(p),
                Received::Silence => panic!("the broker did not close; got {seen:?}"),
            }
        }
    }

    pub fn subscribe(&mut self, packet_id: u16, filter: &str, qos: QoS) -> SubAck {
        self.subscribe_with(packet_id, filter, SubscribeOptions::new(qos))
    }

    pub fn subscribe_with(
        &mut self,
        packet_id: u16,
        filter: &str,
        options: SubscribeOptions,
    ) -> SubAck {
        let sub = Subscribe::new(packet_id, vec![(filter.to_string(), options)]);
        self.send(&Packet::Subscribe(sub));
        match self.recv() {
            Packet::SubAck(a) => a,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Publishes and completes the QoS flow from the client side.
    pub fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS, retain: bool, id: u16) {
        let mut p = Publish::new(topic, payload.to_vec(), qos, id);
        p.retain = retain;
        self.send(&Packet::Publish(p));
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => match self.recv() {
                Packet::PubAck(a) => assert_eq!(a.packet_id, id),
                other => panic!("expected PUBACK, got {other:?}"),
            },
            QoS::ExactlyOnce => {
                match self.recv() {
                    Packet::PubRec(a) => assert_eq!(a.packet_id, id),
                    other => panic!("expected PUBREC, got {other:?}"),
                }
                self.send(&Packet::PubRel(Ack::new(PacketType::PubRel, id)));
                match self.recv() {
                    Packet::PubComp(a) => assert_eq!(a.packet_id, id),
                    other => panic!("expected PUBCOMP, got {other:?}"),
                }
            }
        }
    }

    /// A PINGREQ round trip: everything sent before it has been handled.
    pub fn sync(&mut self) {
        self.send(&Packet::PingReq);
        match self.recv() {
            Packet::PingResp => {}
            other => panic!("expected PINGRESP, got {other:?}"),
        }
    }

    pub fn ack(&mut self, publish: &Publish) {
        match publish.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.send(&Packet::PubAck(Ack::new(
                PacketType::PubAck,
                publish.packet_id,
            ))),
            QoS::ExactlyOnce => {
                self.send(&Packet::PubRec(Ack::new(
                    PacketType::PubRec,
                    publish.packet_id,
                )));
                match self.recv() {
                    Packet::PubRel(a) => assert_eq!(a.packet_id, publish.packet_id),
                    other => panic!("expected PUBREL, got {other:?}"),
                }
                self.send(&Packet::PubComp(Ack::new(
                    PacketType::PubComp,
                    publish.packet_id,
                )));
            }
        }
    }

    pub fn disconnect(mut self) {
        self.send(&Packet::Disconnect(mqtt_tether::packet::Disconnect::new(
            mqtt_tether::ReasonCode::success(PacketType::Disconnect),
        )));
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        // Wait for the broker's side to close so its state is settled.
        let _ = self.recv_timeout(WAIT);
    }

    /// Drops the socket without DISCONNECT (an abnormal close).
    pub fn abort(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}
