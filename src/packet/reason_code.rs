//! MQTT 5 reason codes with Paho's names (`paho.mqtt.reasoncodes.ReasonCode`).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use super::PacketType;

use PacketType::{
    Auth as AU, ConnAck as CA, Disconnect as DI, PubAck as PA, PubComp as PC, PubRec as PR,
    PubRel as PL, SubAck as SA, UnsubAck as UA,
};

/// (value, Paho's name, the packet types that allow it), after MQTT 5 Table 2-6.
/// Where Paho's table is narrower than the specification (0x99 in CONNACK) the
/// specification wins.
const TABLE: &[(u8, &str, &[PacketType])] = &[
    (0x00, "Success", &[CA, PA, PR, PL, PC, UA, AU]),
    (0x00, "Normal disconnection", &[DI]),
    (0x00, "Granted QoS 0", &[SA]),
    (0x01, "Granted QoS 1", &[SA]),
    (0x02, "Granted QoS 2", &[SA]),
    (0x04, "Disconnect with will message", &[DI]),
    (0x10, "No matching subscribers", &[PA, PR]),
    (0x11, "No subscription found", &[UA]),
    (0x18, "Continue authentication", &[AU]),
    (0x19, "Re-authenticate", &[AU]),
    (0x80, "Unspecified error", &[CA, PA, PR, SA, UA, DI]),
    (0x81, "Malformed packet", &[CA, DI]),
    (0x82, "Protocol error", &[CA, DI]),
    (
        0x83,
        "Implementation specific error",
        &[CA, PA, PR, SA, UA, DI],
    ),
    (0x84, "Unsupported protocol version", &[CA]),
    (0x85, "Client identifier not valid", &[CA]),
    (0x86, "Bad user name or password", &[CA]),
    (0x87, "Not authorized", &[CA, PA, PR, SA, UA, DI]),
    (0x88, "Server unavailable", &[CA]),
    (0x89, "Server busy", &[CA, DI]),
    (0x8a, "Banned", &[CA]),
    (0x8b, "Server shutting down", &[DI]),
    (0x8c, "Bad authentication method", &[CA, DI]),
    (0x8d, "Keep alive timeout", &[DI]),
    (0x8e, "Session taken over", &[DI]),
    (0x8f, "Topic filter invalid", &[SA, UA, DI]),
    (0x90, "Topic name invalid", &[CA, PA, PR, DI]),
    (0x91, "Packet identifier in use", &[PA, PR, SA, UA]),
    (0x92, "Packet identifier not found", &[PL, PC]),
    (0x93, "Receive maximum exceeded", &[DI]),
    (0x94, "Topic alias invalid", &[DI]),
    (0x95, "Packet too large", &[CA, DI]),
    (0x96, "Message rate too high", &[DI]),
    (0x97, "Quota exceeded", &[CA, PA, PR, SA, DI]),
    (0x98, "Administrative action", &[DI]),
    (0x99, "Payload format invalid", &[CA, PA, PR, DI]),
    (0x9a, "Retain not supported", &[CA, DI]),
    (0x9b, "QoS not supported", &[CA, DI]),
    (0x9c, "Use another server", &[CA, DI]),
    (0x9d, "Server moved", &[CA, DI]),
    (0x9e, "Shared subscription not supported", &[SA, DI]),
    (0x9f, "Connection rate exceeded", &[CA, DI]),
    (0xa0, "Maximum connect time", &[DI]),
    (0xa1, "Subscription identifiers not supported", &[SA, DI]),
    (0xa2, "Wildcard subscription not supported", &[SA, DI]),
];

fn lookup(packet_type: PacketType, value: u8) -> Option<&'static str> {
    TABLE
        .iter()
        .find(|(v, _, types)| *v == value && types.contains(&packet_type))
        .map(|(_, name, _)| *name)
}

/// A reason code of a given packet type, as Paho's `ReasonCode`.
///
/// Comparisons follow Paho: two reason codes are equal when their values are,
/// whatever their packet types; a reason code equals a `u8`/`i32` with its
/// value and a `&str` with its name. `Display` gives the name.
///
/// ```
/// use mqtt_tether::packet::{PacketType, ReasonCode};
///
/// let rc = ReasonCode::from_value(PacketType::ConnAck, 135)?;
/// assert_eq!(rc.to_string(), "Not authorized");
/// assert!(rc == 135 && rc == "Not authorized" && rc.is_failure());
/// assert_eq!(ReasonCode::new(PacketType::Disconnect, "Success")?.name(), "Normal disconnection");
/// # Ok::<(), mqtt_tether::packet::UnknownReasonCode>(())
/// ```
#[derive(Clone, Copy)]
pub struct ReasonCode {
    packet_type: PacketType,
    value: u8,
}

/// A reason code value or name that the packet type does not define
/// (Paho raises `KeyError` or `ValueError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownReasonCode {
    /// The packet type asked for.
    pub packet_type: PacketType,
    /// The value or name given.
    pub given: String,
}

impl fmt::Display for UnknownReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not a valid reason code for {}",
            self.given,
            self.packet_type.title()
        )
    }
}

impl std::error::Error for UnknownReasonCode {}

impl ReasonCode {
    /// The reason code named `name` for `packet_type` (Paho's
    /// `ReasonCode(packetType, aName)`). As in Paho, "Success" also names
    /// "Normal disconnection" in a DISCONNECT.
    pub fn new(packet_type: PacketType, name: &str) -> Result<ReasonCode, UnknownReasonCode> {
        if name == "Success" && packet_type == PacketType::Disconnect {
            return Ok(ReasonCode::success(packet_type));
        }
        TABLE
            .iter()
            .find(|(_, n, types)| *n == name && types.contains(&packet_type))
            .map(|(v, _, _)| ReasonCode {
                packet_type,
                value: *v,
            })
            .ok_or_else(|| UnknownReasonCode {
                packet_type,
                given: name.to_owned(),
            })
    }

    /// The reason code with this value for `packet_type` (Paho's
    /// `ReasonCode(packetType, identifier=value)`).
    pub fn from_value(packet_type: PacketType, value: u8) -> Result<ReasonCode, UnknownReasonCode> {
        Self::checked(packet_type, value).ok_or_else(|| UnknownReasonCode {
            packet_type,
            given: value.to_string(),
        })
    }

    /// Value 0 of `packet_type` ("Success", "Normal disconnection" or "Granted QoS 0").
    pub fn success(packet_type: PacketType) -> ReasonCode {
        ReasonCode {
            packet_type,
            value: 0,
        }
    }

    pub(crate) fn checked(packet_type: PacketType, value: u8) -> Option<ReasonCode> {
        lookup(packet_type, value).map(|_| ReasonCode { packet_type, value })
    }

    /// The numeric value.
    pub fn value(self) -> u8 {
        self.value
    }

    /// The packet type this code belongs to.
    pub fn packet_type(self) -> PacketType {
        self.packet_type
    }

    /// Paho's name for the code ("Success", "Not authorized", ...).
    pub fn name(self) -> &'static str {
        lookup(self.packet_type, self.value)
            .or_else(|| TABLE.iter().find(|e| e.0 == self.value).map(|e| e.1))
            .unwrap_or("Unknown reason code")
    }

    /// Paho's `getName()`.
    pub fn get_name(self) -> &'static str {
        self.name()
    }

    /// Whether this is a failure: value 0x80 or more.
    pub fn is_failure(self) -> bool {
        self.value >= 0x80
    }

    /// Paho's `pack()`: the one byte that goes on the wire.
    pub fn pack(self) -> u8 {
        self.value
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Paho's repr: ReasonCode(Connack, 'Not authorized')
        write!(
            f,
            "ReasonCode({}, {:?})",
            self.packet_type.title(),
            self.name()
        )
    }
}

impl PartialEq for ReasonCode {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Eq for ReasonCode {}

impl Hash for ReasonCode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl PartialOrd for ReasonCode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ReasonCode {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value.cmp(&other.value)
    }
}

impl PartialEq<u8> for ReasonCode {
    fn eq(&self, other: &u8) -> bool {
        self.value == *other
    }
}

impl PartialEq<i32> for ReasonCode {
    fn eq(&self, other: &i32) -> bool {
        i32::from(self.value) == *other
    }
}

impl PartialEq<&str> for ReasonCode {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

impl PartialOrd<u8> for ReasonCode {
    fn partial_cmp(&self, other: &u8) -> Option<Ordering> {
        Some(self.value.cmp(other))
    }
}

impl PartialOrd<i32> for ReasonCode {
    fn partial_cmp(&self, other: &i32) -> Option<Ordering> {
        Some(i32::from(self.value).cmp(other))
    }
}

impl From<ReasonCode> for u8 {
    fn from(rc: ReasonCode) -> u8 {
        rc.value
    }
}

impl From<ReasonCode> for i32 {
    fn from(rc: ReasonCode) -> i32 {
        i32::from(rc.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_paho_for_every_value() {
        let expect = [
            (PacketType::ConnAck, 0, "Success"),
            (PacketType::Disconnect, 0, "Normal disconnection"),
            (PacketType::SubAck, 0, "Granted QoS 0"),
            (PacketType::SubAck, 2, "Granted QoS 2"),
            (PacketType::Disconnect, 4, "Disconnect with will message"),
            (PacketType::UnsubAck, 17, "No subscription found"),
            (PacketType::Auth, 25, "Re-authenticate"),
            (PacketType::ConnAck, 132, "Unsupported protocol version"),
            (PacketType::Disconnect, 141, "Keep alive timeout"),
            (PacketType::PubComp, 146, "Packet identifier not found"),
            (
                PacketType::SubAck,
                162,
                "Wildcard subscription not supported",
            ),
        ];
        for (t, v, name) in expect {
            let rc = ReasonCode::from_value(t, v).unwrap();
            assert_eq!(rc.name(), name);
            assert_eq!(ReasonCode::new(t, name).unwrap().value(), v);
        }
        assert_eq!(TABLE.len(), 45);
    }

    #[test]
    fn values_are_checked_per_packet_type() {
        assert!(ReasonCode::from_value(PacketType::PubAck, 0x84).is_err());
        assert!(ReasonCode::from_value(PacketType::ConnAck, 0x01).is_err());
        assert!(ReasonCode::from_value(PacketType::PubRel, 0x80).is_err());
        assert!(ReasonCode::from_value(PacketType::ConnAck, 0x03).is_err());
        // Paho: ReasonCode(SUBACK, "Success") raises KeyError.
        assert!(ReasonCode::new(PacketType::SubAck, "Success").is_err());
        assert_eq!(
            ReasonCode::new(PacketType::ConnAck, "Success")
                .unwrap()
                .value(),
            0
        );
        let e = ReasonCode::new(PacketType::PubAck, "Banned").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Banned is not a valid reason code for Puback"
        );
    }

    #[test]
    fn comparisons_follow_paho() {
        let a = ReasonCode::from_value(PacketType::ConnAck, 0x87).unwrap();
        let b = ReasonCode::from_value(PacketType::Disconnect, 0x87).unwrap();
        assert_eq!(a, b);
        assert!(a > 0x80u8 && a == 135 && a == "Not authorized");
        assert_eq!(format!("{a:?}"), "ReasonCode(Connack, \"Not authorized\")");
        assert!(!ReasonCode::success(PacketType::SubAck).is_failure());
    }
}
