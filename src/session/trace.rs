//! One readable line per packet sent or received, for `on_log` at DEBUG
//! (Paho logs every packet the same way). Built only while someone listens,
//! so a client without `on_log`, whose `log` logger drops DEBUG lines,
//! pays nothing for it.

use crate::packet::{Packet, ProtocolVersion};

/// Which way a packet went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Queued to be written.
    Sending,
    /// Read from the broker.
    Received,
}

/// The line for `packet`, e.g. `Sending PUBLISH (d0, q1, r0, m3) 'a/b', 5
/// bytes`. Payloads and passwords are never shown.
pub fn describe(direction: Direction, packet: &Packet, protocol: ProtocolVersion) -> String {
    let verb = match direction {
        Direction::Sending => "Sending",
        Direction::Received => "Received",
    };
    let kind = packet.packet_type();
    let v5 = protocol == ProtocolVersion::MQTTv5;
    let details = match packet {
        Packet::Connect(c) => {
            let will = c.will.as_ref();
            format!(
                " (username {}, password {}, will {}, will QoS {}, will retain {}, clean {}, keepalive {}) client id {:?}",
                u8::from(c.username.is_some()),
                u8::from(c.password.is_some()),
                u8::from(will.is_some()),
                will.map_or(0, |w| w.qos as u8),
                u8::from(will.is_some_and(|w| w.retain)),
                u8::from(c.clean_start),
                c.keep_alive,
                c.client_id,
            )
        }
        Packet::ConnAck(a) => format!(
            " (session present {}, code {})",
            u8::from(a.session_present),
            a.return_code
        ),
        Packet::Publish(p) => format!(
            " (d{}, q{}, r{}, m{}) {:?}, {} bytes",
            u8::from(p.dup),
            p.qos as u8,
            u8::from(p.retain),
            p.packet_id,
            p.topic,
            p.payload.len()
        ),
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            if v5 && a.reason_code.value() != 0 {
                format!(" (mid {}, {})", a.packet_id, a.reason_code)
            } else {
                format!(" (mid {})", a.packet_id)
            }
        }
        Packet::Subscribe(s) => {
            let filters: Vec<String> = s
                .filters
                .iter()
                .map(|(f, o)| format!("{f:?} q{}", o.qos as u8))
                .collect();
            format!(" (mid {}) [{}]", s.packet_id, filters.join(", "))
        }
        Packet::SubAck(s) => {
            let codes: Vec<String> = s
                .reason_codes
                .iter()
                .map(|c| c.value().to_string())
                .collect();
            format!(" (mid {}) [{}]", s.packet_id, codes.join(", "))
        }
        Packet::Unsubscribe(u) => format!(" (mid {}) {:?}", u.packet_id, u.filters),
        Packet::UnsubAck(u) => format!(" (mid {})", u.packet_id),
        Packet::Disconnect(d) if v5 => format!(" ({})", d.reason_code),
        Packet::PingReq | Packet::PingResp | Packet::Disconnect(_) | Packet::Auth(_) => {
            String::new()
        }
    };
    format!("{verb} {kind}{details}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Ack, PacketType, Publish, QoS};

    #[test]
    fn lines_name_the_packet_and_its_flags_never_the_payload() {
        let p = Packet::Publish(Publish::new("a/b", b"secret".to_vec(), QoS::AtLeastOnce, 3));
        assert_eq!(
            describe(Direction::Sending, &p, ProtocolVersion::MQTTv311),
            "Sending PUBLISH (d0, q1, r0, m3) \"a/b\", 6 bytes"
        );
        let a = Packet::PubAck(Ack::new(PacketType::PubAck, 3));
        assert_eq!(
            describe(Direction::Received, &a, ProtocolVersion::MQTTv311),
            "Received PUBACK (mid 3)"
        );
        assert_eq!(
            describe(
                Direction::Sending,
                &Packet::PingReq,
                ProtocolVersion::MQTTv311
            ),
            "Sending PINGREQ"
        );
    }
}
