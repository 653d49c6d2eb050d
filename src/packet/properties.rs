//! The property set of one packet, as Paho's `Properties(packetType)`.
//!
//! A set is kept in its wire form: the encoded properties, checked when they
//! were set or decoded. So decoding a set is one copy of its bytes (a peer
//! cannot make it take more memory than it sent), encoding is one copy back,
//! and the typed getters read straight from those bytes.

use std::fmt;

use super::error::{DecodeError, EncodeError, PropertyError};
use super::property::{read_value, Property, PropertyId, Value};
use super::wire::{put_variable_integer, variable_integer_len, Reader, MAX_VARIABLE_INTEGER};
use super::PacketType;

/// The properties of one packet (or of a will), as Paho's `Properties`.
///
/// It knows the packet type it is for, so [`set`](Properties::set) refuses a
/// property that does not belong there, with Paho's message. Properties set
/// through `set` are kept in identifier order, repeated ones (UserProperty,
/// SubscriptionIdentifier) in the order they were added: the order Paho writes
/// them in. [`push`](Properties::push) and decoding keep the order given.
///
/// ```
/// use mqtt_tether::packet::{PacketType, Properties, Property};
///
/// let mut props = Properties::new(PacketType::Publish);
/// props.set(Property::MessageExpiryInterval(30))?;
/// props.set(Property::UserProperty("k".into(), "v".into()))?;
/// assert_eq!(props.message_expiry_interval(), Some(30));
/// assert_eq!(props.user_properties().collect::<Vec<_>>(), [("k", "v")]);
///
/// let err = props.set(Property::SessionExpiryInterval(5)).unwrap_err();
/// assert_eq!(err.to_string(),
///     "Property SessionExpiryInterval does not apply to packet type Publish");
/// # Ok::<(), mqtt_tether::packet::PropertyError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Properties {
    packet_type: PacketType,
    /// The encoded properties without their length prefix. Every property in
    /// it is allowed in `packet_type`, in range, and repeated only if it may be.
    raw: Vec<u8>,
}

impl Properties {
    /// An empty set for `packet_type` (`WillMessage` for will properties).
    pub fn new(packet_type: PacketType) -> Properties {
        Properties {
            packet_type,
            raw: Vec::new(),
        }
    }

    /// The packet type this set is for.
    pub fn packet_type(&self) -> PacketType {
        self.packet_type
    }

    /// Whether the set holds no property (Paho's `isEmpty()`).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// How many properties the set holds, repeats counted.
    pub fn len(&self) -> usize {
        self.entries().count()
    }

    /// The properties in encoding order, as owned values.
    pub fn iter(&self) -> impl Iterator<Item = Property> + '_ {
        self.entries().map(|(id, v)| Property::from_value(id, v))
    }

    /// The encoded properties, without the length prefix.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// Removes every property (Paho's `clear()`).
    pub fn clear(&mut self) {
        self.raw.clear();
    }

    /// Sets a property, as assigning Paho's attribute does.
    ///
    /// UserProperty (and SubscriptionIdentifier in PUBLISH) accumulate; any
    /// other property replaces the previous value. Fails with Paho's message
    /// when the property does not apply to this packet type or its value is
    /// out of range, and when a string holds U+0000 or a value is longer than
    /// 65,535 bytes.
    pub fn set(&mut self, property: Property) -> Result<(), PropertyError> {
        let id = self.check(&property)?;
        let mut items: Vec<Property> = self.iter().collect();
        match items.iter_mut().find(|p| p.id() == id) {
            Some(slot) if !may_repeat_in(id, self.packet_type) => *slot = property,
            _ => {
                let at = items
                    .iter()
                    .position(|p| p.id() > id)
                    .unwrap_or(items.len());
                items.insert(at, property);
            }
        }
        self.rebuild(&items)
    }

    /// Appends a property after the others, keeping the order given (to
    /// reproduce a peer's bytes exactly). Checked as [`set`](Self::set) is, and
    /// a second copy of a property that may not repeat is refused.
    pub fn push(&mut self, property: Property) -> Result<(), PropertyError> {
        let id = self.check(&property)?;
        if !may_repeat_in(id, self.packet_type) && self.contains(id) {
            return Err(PropertyError::Duplicate(id));
        }
        if self.raw.len() + property.size() > MAX_VARIABLE_INTEGER as usize {
            return Err(PropertyError::ValueTooLong {
                property: id,
                len: property.size(),
            });
        }
        property.write(&mut self.raw);
        Ok(())
    }

    /// The first property with this identifier.
    pub fn get(&self, id: PropertyId) -> Option<Property> {
        self.value(id).map(|v| Property::from_value(id, v))
    }

    /// Whether a property with this identifier is present.
    pub fn contains(&self, id: PropertyId) -> bool {
        self.value(id).is_some()
    }

    /// Removes every property with this identifier; returns whether there was one.
    pub fn remove(&mut self, id: PropertyId) -> bool {
        if !self.contains(id) {
            return false;
        }
        let kept: Vec<Property> = self.iter().filter(|p| p.id() != id).collect();
        // The kept properties were valid together, so this cannot fail.
        let _ = self.rebuild(&kept);
        true
    }

    /// The user properties, as (name, value) pairs in order.
    pub fn user_properties(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries().filter_map(|(_, v)| match v {
            Value::Pair(k, v) => Some((k, v)),
            _ => None,
        })
    }

    /// The subscription identifiers, in order.
    pub fn subscription_identifiers(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries().filter_map(|(id, v)| match (id, v) {
            (PropertyId::SubscriptionIdentifier, Value::Int(n)) => Some(n),
            _ => None,
        })
    }

    fn check(&self, property: &Property) -> Result<PropertyId, PropertyError> {
        let id = property.id();
        if !id.allowed_in(self.packet_type) {
            return Err(PropertyError::NotAllowed {
                property: id,
                packet_type: self.packet_type,
            });
        }
        property.check_range()?;
        if let Property::MaximumPacketSize(value) = property {
            if *value > id.paho_range().1 {
                return Err(PropertyError::OutOfRange {
                    property: id,
                    value: *value,
                });
            }
        }
        property.check_encodable()?;
        Ok(id)
    }

    fn rebuild(&mut self, items: &[Property]) -> Result<(), PropertyError> {
        let size: usize = items.iter().map(Property::size).sum();
        if size > MAX_VARIABLE_INTEGER as usize {
            return Err(PropertyError::ValueTooLong {
                property: items.last().map_or(PropertyId::UserProperty, Property::id),
                len: size,
            });
        }
        self.raw.clear();
        for p in items {
            p.write(&mut self.raw);
        }
        Ok(())
    }

    /// The value of the first property with this identifier.
    fn value(&self, id: PropertyId) -> Option<Value<'_>> {
        self.entries().find(|(i, _)| *i == id).map(|(_, v)| v)
    }

    /// Walks the encoded properties. They were checked when stored, so the
    /// walk never meets an error; it would simply stop at one.
    fn entries(&self) -> impl Iterator<Item = (PropertyId, Value<'_>)> {
        let mut r = Reader::new(&self.raw);
        std::iter::from_fn(move || {
            if r.is_empty() {
                return None;
            }
            let id = u8::try_from(r.variable_integer().ok()?)
                .ok()
                .and_then(PropertyId::from_u8)?;
            let value = read_value(id, &mut r).ok()?;
            Some((id, value))
        })
    }

    /// The size of the encoded set, length prefix included, for a packet of
    /// `packet_type`: the set's own type, or another one its properties are
    /// all allowed in.
    pub(crate) fn encoded_len(&self, packet_type: PacketType) -> Result<usize, EncodeError> {
        if packet_type != self.packet_type {
            self.check_fits(packet_type)?;
        }
        Ok(variable_integer_len(self.raw.len() as u32) + self.raw.len())
    }

    /// Checks a set built for one packet type against another.
    fn check_fits(&self, packet_type: PacketType) -> Result<(), PropertyError> {
        let mut seen = 0u64;
        for (id, _) in self.entries() {
            if !id.allowed_in(packet_type) {
                return Err(PropertyError::NotAllowed {
                    property: id,
                    packet_type,
                });
            }
            let bit = 1u64 << (id as u8);
            if seen & bit != 0 && !may_repeat_in(id, packet_type) {
                return Err(PropertyError::Duplicate(id));
            }
            seen |= bit;
        }
        Ok(())
    }

    /// Writes a set that [`encoded_len`](Self::encoded_len) accepted.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        put_variable_integer(out, self.raw.len() as u32);
        out.extend_from_slice(&self.raw);
    }

    /// Reads and checks a property set (length prefix included) for `packet_type`.
    pub(crate) fn read(
        r: &mut Reader<'_>,
        packet_type: PacketType,
    ) -> Result<Properties, DecodeError> {
        let len = r.variable_integer()? as usize;
        let raw = r.bytes(len)?;
        let mut inner = Reader::new(raw);
        let mut seen = 0u64;
        while !inner.is_empty() {
            // The identifier is a variable byte integer; every defined one fits in a byte.
            let number = inner.variable_integer()?;
            let id = u8::try_from(number)
                .ok()
                .and_then(PropertyId::from_u8)
                .ok_or(PropertyError::Unknown(number))?;
            if !id.allowed_in(packet_type) {
                return Err(PropertyError::NotAllowed {
                    property: id,
                    packet_type,
                }
                .into());
            }
            let bit = 1u64 << (id as u8);
            if seen & bit != 0 && !may_repeat_in(id, packet_type) {
                return Err(PropertyError::Duplicate(id).into());
            }
            seen |= bit;
            read_value(id, &mut inner)?;
        }
        Ok(Properties {
            packet_type,
            raw: raw.to_vec(),
        })
    }
}

/// SubscriptionIdentifier repeats only in PUBLISH (one per matching
/// subscription); a SUBSCRIBE carries at most one (§3.8.2.1.2).
fn may_repeat_in(id: PropertyId, packet_type: PacketType) -> bool {
    match id {
        PropertyId::UserProperty => true,
        PropertyId::SubscriptionIdentifier => packet_type == PacketType::Publish,
        _ => false,
    }
}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Properties({}, ", self.packet_type.title())?;
        f.debug_list().entries(self.iter()).finish()?;
        f.write_str(")")
    }
}

/// One call each for the common MQTT 5 properties, as builders: each adds
/// its property to the set (as [`set`](Properties::set) does) and returns
/// the set, or Paho's error when it does not apply to the packet type.
/// The typed getters of the same names read them back.
///
/// ```
/// use mqtt_tether::{PacketType, Properties};
///
/// let props = Properties::new(PacketType::Publish)
///     .with_message_expiry_interval(60)?
///     .with_response_topic("svc/replies/7")?
///     .with_correlation_data("req-7")?
///     .with_content_type("application/json")?
///     .with_user_property("k", "v")?
///     .with_user_property("trace", "on")?;
/// assert_eq!(props.message_expiry_interval(), Some(60));
/// assert_eq!(props.response_topic(), Some("svc/replies/7"));
/// assert_eq!(props.correlation_data(), Some(&b"req-7"[..]));
/// assert_eq!(props.content_type(), Some("application/json"));
/// assert_eq!(props.user_properties().collect::<Vec<_>>(), [("k", "v"), ("trace", "on")]);
/// // Printed as Paho prints `str(props)`: values, not `Some(..)`.
/// assert_eq!(
///     props.to_string(),
///     "[MessageExpiryInterval : 60, ContentType : application/json, \
///      ResponseTopic : svc/replies/7, CorrelationData : b'req-7', \
///      UserProperty : [('k', 'v'), ('trace', 'on')]]"
/// );
/// # Ok::<(), mqtt_tether::packet::PropertyError>(())
/// ```
impl Properties {
    /// Adds a user property (name, value); user properties accumulate.
    pub fn with_user_property(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Properties, PropertyError> {
        self.set(Property::UserProperty(name.into(), value.into()))?;
        Ok(self)
    }

    /// Sets the Message Expiry Interval, in seconds.
    pub fn with_message_expiry_interval(
        mut self,
        seconds: u32,
    ) -> Result<Properties, PropertyError> {
        self.set(Property::MessageExpiryInterval(seconds))?;
        Ok(self)
    }

    /// Sets the Response Topic (MQTT 5 request/response).
    pub fn with_response_topic(
        mut self,
        topic: impl Into<String>,
    ) -> Result<Properties, PropertyError> {
        self.set(Property::ResponseTopic(topic.into()))?;
        Ok(self)
    }

    /// Sets the Correlation Data (MQTT 5 request/response).
    pub fn with_correlation_data(
        mut self,
        data: impl AsRef<[u8]>,
    ) -> Result<Properties, PropertyError> {
        self.set(Property::CorrelationData(data.as_ref().to_vec()))?;
        Ok(self)
    }

    /// Sets the Content Type.
    pub fn with_content_type(
        mut self,
        content_type: impl Into<String>,
    ) -> Result<Properties, PropertyError> {
        self.set(Property::ContentType(content_type.into()))?;
        Ok(self)
    }
}

impl fmt::Display for Properties {
    /// Paho's `str(properties)`: `[Name : value, ...]` in identifier order,
    /// values as Python prints them (`60`, `text`, `b'bytes'`), and the
    /// properties that repeat as one list (`UserProperty : [('k', 'v')]`,
    /// `SubscriptionIdentifier : [1, 2]`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<PropertyId> = self.entries().map(|(id, _)| id).collect();
        ids.sort();
        ids.dedup();
        f.write_str("[")?;
        for (i, id) in ids.into_iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} : ", id.name())?;
            let values = self.entries().filter(|(p, _)| *p == id).map(|(_, v)| v);
            if matches!(
                id,
                PropertyId::UserProperty | PropertyId::SubscriptionIdentifier
            ) {
                f.write_str("[")?;
                for (j, v) in values.enumerate() {
                    if j > 0 {
                        f.write_str(", ")?;
                    }
                    write_value(f, v, true)?;
                }
                f.write_str("]")?;
            } else if let Some(v) = values.into_iter().next() {
                write_value(f, v, false)?;
            }
        }
        f.write_str("]")
    }
}

impl fmt::Display for Property {
    /// `Name : value`, as one entry of Paho's `str(properties)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} : ", self.id().name())?;
        match self.value() {
            Value::Pair(k, v) => {
                f.write_str("[")?;
                write_value(f, Value::Pair(k, v), true)?;
                f.write_str("]")
            }
            v => write_value(f, v, false),
        }
    }
}

/// A value as Python's `str()` shows it; `nested` inside a list, where a
/// string is shown by its `repr()`.
fn write_value(f: &mut fmt::Formatter<'_>, value: Value<'_>, nested: bool) -> fmt::Result {
    match value {
        Value::Int(n) => write!(f, "{n}"),
        Value::Text(s) if nested => write_py_str(f, s),
        Value::Text(s) => f.write_str(s),
        Value::Pair(k, v) => {
            f.write_str("(")?;
            write_py_str(f, k)?;
            f.write_str(", ")?;
            write_py_str(f, v)?;
            f.write_str(")")
        }
        Value::Bytes(b) => {
            // Python's bytes repr: b'...' with \x escapes.
            let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
                '"'
            } else {
                '\''
            };
            write!(f, "b{quote}")?;
            for &c in b {
                match c {
                    b'\\' => f.write_str("\\\\")?,
                    b'\n' => f.write_str("\\n")?,
                    b'\r' => f.write_str("\\r")?,
                    b'\t' => f.write_str("\\t")?,
                    c if char::from(c) == quote => write!(f, "\\{quote}")?,
                    0x20..=0x7e => write!(f, "{}", char::from(c))?,
                    c => write!(f, "\\x{c:02x}")?,
                }
            }
            write!(f, "{quote}")
        }
    }
}

/// Python's `repr()` of a string: single quotes unless it holds one and no
/// double quote.
fn write_py_str(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    write!(f, "{quote}")?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c == quote => write!(f, "\\{quote}")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    write!(f, "{quote}")
}

macro_rules! getters {
    ($( $fn:ident => $variant:ident : $ty:ty, $how:ident; )*) => {
        impl Properties {
            $(
                #[doc = concat!("The ", stringify!($variant), " property, if present.")]
                pub fn $fn(&self) -> Option<$ty> {
                    self.value(PropertyId::$variant).map(|v| getters!(@$how v, $ty))
                }
            )*
        }
    };
    // The casts cannot truncate: the value was read from a field of that width.
    (@int $v:ident, $ty:ty) => { match $v { Value::Int(n) => n as $ty, _ => 0 } };
    (@text $v:ident, $ty:ty) => { $v.text() };
    (@bytes $v:ident, $ty:ty) => { $v.bytes() };
}

getters! {
    payload_format_indicator => PayloadFormatIndicator: u8, int;
    message_expiry_interval => MessageExpiryInterval: u32, int;
    content_type => ContentType: &str, text;
    response_topic => ResponseTopic: &str, text;
    correlation_data => CorrelationData: &[u8], bytes;
    session_expiry_interval => SessionExpiryInterval: u32, int;
    assigned_client_identifier => AssignedClientIdentifier: &str, text;
    server_keep_alive => ServerKeepAlive: u16, int;
    authentication_method => AuthenticationMethod: &str, text;
    authentication_data => AuthenticationData: &[u8], bytes;
    request_problem_information => RequestProblemInformation: u8, int;
    will_delay_interval => WillDelayInterval: u32, int;
    request_response_information => RequestResponseInformation: u8, int;
    response_information => ResponseInformation: &str, text;
    server_reference => ServerReference: &str, text;
    reason_string => ReasonString: &str, text;
    receive_maximum => ReceiveMaximum: u16, int;
    topic_alias_maximum => TopicAliasMaximum: u16, int;
    topic_alias => TopicAlias: u16, int;
    maximum_qos => MaximumQoS: u8, int;
    retain_available => RetainAvailable: u8, int;
    maximum_packet_size => MaximumPacketSize: u32, int;
    wildcard_subscription_available => WildcardSubscriptionAvailable: u8, int;
    subscription_identifier_available => SubscriptionIdentifierAvailable: u8, int;
    shared_subscription_available => SharedSubscriptionAvailable: u8, int;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(p: &Properties, t: PacketType) -> Result<Vec<u8>, EncodeError> {
        p.encoded_len(t)?;
        let mut out = Vec::new();
        p.write(&mut out);
        Ok(out)
    }

    #[test]
    fn set_orders_by_identifier_like_paho() {
        // Paho writes `19 11 00 00 00 05 21 00 14 22 00 0a 26 ..a..b 26 ..c..d` for
        // these assignments in this order.
        let mut p = Properties::new(PacketType::Connect);
        p.set(Property::TopicAliasMaximum(10)).unwrap();
        p.set(Property::ReceiveMaximum(20)).unwrap();
        p.set(Property::UserProperty("a".into(), "b".into()))
            .unwrap();
        p.set(Property::SessionExpiryInterval(5)).unwrap();
        p.set(Property::UserProperty("c".into(), "d".into()))
            .unwrap();
        assert_eq!(
            encode(&p, PacketType::Connect).unwrap(),
            [
                0x19, 0x11, 0, 0, 0, 5, 0x21, 0, 0x14, 0x22, 0, 0x0a, 0x26, 0, 1, b'a', 0, 1, b'b',
                0x26, 0, 1, b'c', 0, 1, b'd'
            ]
        );
        assert_eq!(p.receive_maximum(), Some(20));
        assert_eq!(
            p.user_properties().collect::<Vec<_>>(),
            [("a", "b"), ("c", "d")]
        );
    }

    #[test]
    fn set_replaces_single_properties_and_accumulates_repeats() {
        let mut p = Properties::new(PacketType::Publish);
        p.set(Property::MessageExpiryInterval(1)).unwrap();
        p.set(Property::MessageExpiryInterval(2)).unwrap();
        p.set(Property::SubscriptionIdentifier(3)).unwrap();
        p.set(Property::SubscriptionIdentifier(4)).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p.message_expiry_interval(), Some(2));
        assert_eq!(p.subscription_identifiers().collect::<Vec<_>>(), [3, 4]);
        assert!(p.remove(PropertyId::SubscriptionIdentifier));
        assert!(!p.remove(PropertyId::SubscriptionIdentifier));
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            [Property::MessageExpiryInterval(2)]
        );
        // In SUBSCRIBE a subscription identifier replaces the previous one.
        let mut s = Properties::new(PacketType::Subscribe);
        s.set(Property::SubscriptionIdentifier(3)).unwrap();
        s.set(Property::SubscriptionIdentifier(4)).unwrap();
        assert_eq!(s.subscription_identifiers().collect::<Vec<_>>(), [4]);
        assert_eq!(
            s.push(Property::SubscriptionIdentifier(5)),
            Err(PropertyError::Duplicate(PropertyId::SubscriptionIdentifier))
        );
    }

    #[test]
    fn values_are_checked_when_set() {
        let mut p = Properties::new(PacketType::Publish);
        let e = p.set(Property::TopicAlias(0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "TopicAlias property value must be in the range 1-65535"
        );
        assert_eq!(
            p.set(Property::ContentType("a\0b".into())),
            Err(PropertyError::NullCharacter(PropertyId::ContentType))
        );
        let mut c = Properties::new(PacketType::Connect);
        for (property, text) in [
            (
                Property::RequestProblemInformation(2),
                "RequestProblemInformation property value must be 0 or 1",
            ),
            (
                Property::MaximumPacketSize(0),
                "MaximumPacketSize property value must be in the range 1-268435455",
            ),
            (
                Property::MaximumPacketSize(268_435_456),
                "MaximumPacketSize property value must be in the range 1-268435455",
            ),
            (
                Property::ReceiveMaximum(0),
                "ReceiveMaximum property value must be in the range 1-65535",
            ),
        ] {
            assert_eq!(c.set(property).unwrap_err().to_string(), text);
        }
        assert!(c.is_empty());
        assert!(matches!(
            p.set(Property::CorrelationData(vec![0; 65_536])),
            Err(PropertyError::ValueTooLong { .. })
        ));
        assert!(p.is_empty());
    }

    #[test]
    fn a_set_is_checked_again_for_another_packet_type() {
        let mut p = Properties::new(PacketType::Publish);
        p.set(Property::SubscriptionIdentifier(1)).unwrap();
        p.set(Property::SubscriptionIdentifier(2)).unwrap();
        assert_eq!(
            p.encoded_len(PacketType::Subscribe),
            Err(PropertyError::Duplicate(PropertyId::SubscriptionIdentifier).into())
        );
        p.set(Property::MessageExpiryInterval(1)).unwrap();
        assert!(matches!(
            p.encoded_len(PacketType::Connect),
            Err(EncodeError::Property(PropertyError::NotAllowed { .. }))
        ));
    }

    #[test]
    fn every_identifier_round_trips_through_from_u8() {
        for &id in PropertyId::ALL {
            assert_eq!(PropertyId::from_u8(id as u8), Some(id));
        }
        assert_eq!(PropertyId::ALL.len(), 27);
        for unknown in [0u8, 4, 5, 6, 7, 10, 12, 16, 20, 27, 29, 30, 32, 43, 0x7f] {
            assert_eq!(PropertyId::from_u8(unknown), None);
        }
    }

    #[test]
    fn decoding_rejects_duplicates_unknowns_and_misplaced() {
        let read = |bytes: &[u8], t| Properties::read(&mut Reader::new(bytes), t);
        assert_eq!(
            read(&[4, 0x11, 0, 0, 0], PacketType::Connect),
            Err(DecodeError::Truncated),
            "the value runs past the declared length"
        );
        assert_eq!(
            read(&[9, 0x11, 0, 0, 0, 1], PacketType::Connect),
            Err(DecodeError::Truncated),
            "the declared length runs past the packet"
        );
        assert_eq!(
            read(
                &[10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2],
                PacketType::Connect
            ),
            Err(PropertyError::Duplicate(PropertyId::SessionExpiryInterval).into())
        );
        assert_eq!(
            read(&[4, 0x0b, 1, 0x0b, 2], PacketType::Subscribe),
            Err(PropertyError::Duplicate(PropertyId::SubscriptionIdentifier).into())
        );
        let ok = read(&[4, 0x0b, 1, 0x0b, 2], PacketType::Publish).unwrap();
        assert_eq!(ok.subscription_identifiers().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(
            read(&[2, 0x04, 0], PacketType::Publish),
            Err(PropertyError::Unknown(4).into())
        );
        assert_eq!(
            read(&[5, 0x11, 0, 0, 0, 1], PacketType::Publish),
            Err(PropertyError::NotAllowed {
                property: PropertyId::SessionExpiryInterval,
                packet_type: PacketType::Publish
            }
            .into())
        );
        assert_eq!(
            read(&[3, 0x23, 0, 0], PacketType::Publish),
            Err(PropertyError::OutOfRange {
                property: PropertyId::TopicAlias,
                value: 0
            }
            .into())
        );
    }
}
