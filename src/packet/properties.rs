//! MQTT 5 properties (specification §2.2.2): every identifier with its value
//! type, the packets that allow it, its range, and whether it may repeat.
//!
//! [`Properties`] mirrors Paho's `Properties(packetType)`: it knows the packet
//! it is for, so [`Properties::set`] refuses a property that does not belong
//! there with Paho's message. The encoder checks again against the packet the
//! set is actually sent in.

use super::error::{DecodeError, EncodeError, PropertyError};
use super::wire::{
    binary_len, put_binary, put_string, put_u16, put_u32, put_variable_integer, string_len,
    variable_integer_len, Reader, MAX_VARIABLE_INTEGER,
};
use super::PacketType;

/// The value type of a property (specification §2.2.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyType {
    /// One byte.
    Byte,
    /// A big-endian `u16`.
    TwoByteInteger,
    /// A big-endian `u32`.
    FourByteInteger,
    /// A variable byte integer (up to 268,435,455).
    VariableByteInteger,
    /// A length-prefixed UTF-8 string.
    Utf8String,
    /// Two UTF-8 strings: a name and a value.
    Utf8StringPair,
    /// Length-prefixed binary data.
    BinaryData,
}

macro_rules! property_ids {
    ($( $(#[$doc:meta])* $variant:ident = $id:literal, $ty:ident, [$($pt:ident),+]; )*) => {
        /// A property identifier, named as Paho names the attribute.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum PropertyId {
            $( $(#[$doc])* $variant = $id, )*
        }

        impl PropertyId {
            /// Every identifier, in increasing order.
            pub const ALL: &'static [PropertyId] = &[$(PropertyId::$variant),*];

            /// The identifier for a number, if MQTT 5 defines it.
            pub fn from_u8(id: u8) -> Option<PropertyId> {
                match id {
                    $( $id => Some(PropertyId::$variant), )*
                    _ => None,
                }
            }

            /// Paho's attribute name ("SessionExpiryInterval", ...).
            pub fn name(self) -> &'static str {
                match self {
                    $( PropertyId::$variant => stringify!($variant), )*
                }
            }

            /// The value type.
            pub fn value_type(self) -> PropertyType {
                match self {
                    $( PropertyId::$variant => PropertyType::$ty, )*
                }
            }

            /// Whether the specification allows this property in `packet_type`
            /// (`WillMessage` for the will properties of CONNECT).
            pub fn allowed_in(self, packet_type: PacketType) -> bool {
                match self {
                    $( PropertyId::$variant => matches!(packet_type, $(PacketType::$pt)|+), )*
                }
            }
        }
    };
}

property_ids! {
    /// 0 or 1: whether the payload is UTF-8 text.
    PayloadFormatIndicator = 1, Byte, [Publish, WillMessage];
    /// Lifetime of the message in seconds.
    MessageExpiryInterval = 2, FourByteInteger, [Publish, WillMessage];
    /// A MIME type for the payload.
    ContentType = 3, Utf8String, [Publish, WillMessage];
    /// The topic for a response (request/response).
    ResponseTopic = 8, Utf8String, [Publish, WillMessage];
    /// Data that ties a response to its request.
    CorrelationData = 9, BinaryData, [Publish, WillMessage];
    /// The identifier of a subscription (may repeat in PUBLISH).
    SubscriptionIdentifier = 11, VariableByteInteger, [Publish, Subscribe];
    /// How long the session lives after the connection closes, in seconds.
    SessionExpiryInterval = 17, FourByteInteger, [Connect, ConnAck, Disconnect];
    /// The client identifier the broker made up for an empty one.
    AssignedClientIdentifier = 18, Utf8String, [ConnAck];
    /// The keepalive the broker wants the client to use.
    ServerKeepAlive = 19, TwoByteInteger, [ConnAck];
    /// The name of the enhanced authentication method.
    AuthenticationMethod = 21, Utf8String, [Connect, ConnAck, Auth];
    /// Data of the enhanced authentication method.
    AuthenticationData = 22, BinaryData, [Connect, ConnAck, Auth];
    /// 0 or 1: whether reason strings and user properties may be sent on failures.
    RequestProblemInformation = 23, Byte, [Connect];
    /// Delay before the will is published, in seconds.
    WillDelayInterval = 24, FourByteInteger, [WillMessage];
    /// 0 or 1: whether the client wants response information in CONNACK.
    RequestResponseInformation = 25, Byte, [Connect];
    /// The base for response topics.
    ResponseInformation = 26, Utf8String, [ConnAck];
    /// Another server to use.
    ServerReference = 28, Utf8String, [ConnAck, Disconnect];
    /// A human-readable reason.
    ReasonString = 31, Utf8String,
        [ConnAck, PubAck, PubRec, PubRel, PubComp, SubAck, UnsubAck, Disconnect, Auth];
    /// How many QoS 1 and 2 messages the sender will process at once.
    ReceiveMaximum = 33, TwoByteInteger, [Connect, ConnAck];
    /// The highest topic alias the sender accepts.
    TopicAliasMaximum = 34, TwoByteInteger, [Connect, ConnAck];
    /// A number that stands for the topic name.
    TopicAlias = 35, TwoByteInteger, [Publish];
    /// 0 or 1: the highest QoS the broker supports.
    MaximumQoS = 36, Byte, [ConnAck];
    /// 0 or 1: whether the broker supports retained messages.
    RetainAvailable = 37, Byte, [ConnAck];
    /// A name and a value (may repeat).
    UserProperty = 38, Utf8StringPair,
        [Connect, ConnAck, Publish, WillMessage, PubAck, PubRec, PubRel, PubComp,
         Subscribe, SubAck, Unsubscribe, UnsubAck, Disconnect, Auth];
    /// The largest packet the sender accepts.
    MaximumPacketSize = 39, FourByteInteger, [Connect, ConnAck];
    /// 0 or 1: whether the broker supports wildcard subscriptions.
    WildcardSubscriptionAvailable = 40, Byte, [ConnAck];
    /// 0 or 1: whether the broker supports subscription identifiers.
    SubscriptionIdentifierAvailable = 41, Byte, [ConnAck];
    /// 0 or 1: whether the broker supports shared subscriptions.
    SharedSubscriptionAvailable = 42, Byte, [ConnAck];
}

impl PropertyId {
    /// Whether the property may appear more than once in one packet. Only
    /// UserProperty and SubscriptionIdentifier may (and the latter only in PUBLISH).
    pub fn may_repeat(self) -> bool {
        matches!(
            self,
            PropertyId::UserProperty | PropertyId::SubscriptionIdentifier
        )
    }

    /// The allowed range of a numeric value, inclusive.
    pub fn range(self) -> (u32, u32) {
        use PropertyId::*;
        match self {
            PayloadFormatIndicator
            | RequestProblemInformation
            | RequestResponseInformation
            | MaximumQoS
            | RetainAvailable
            | WildcardSubscriptionAvailable
            | SubscriptionIdentifierAvailable
            | SharedSubscriptionAvailable => (0, 1),
            ReceiveMaximum | TopicAlias => (1, 65_535),
            ServerKeepAlive | TopicAliasMaximum => (0, 65_535),
            MaximumPacketSize => (1, u32::MAX),
            SubscriptionIdentifier => (1, MAX_VARIABLE_INTEGER),
            MessageExpiryInterval | SessionExpiryInterval | WillDelayInterval => (0, u32::MAX),
            ContentType
            | ResponseTopic
            | CorrelationData
            | AssignedClientIdentifier
            | AuthenticationMethod
            | AuthenticationData
            | ResponseInformation
            | ServerReference
            | ReasonString
            | UserProperty => (0, 0),
        }
    }
}

/// One property with its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each variant is the PropertyId of the same name
pub enum Property {
    PayloadFormatIndicator(u8),
    MessageExpiryInterval(u32),
    ContentType(String),
    ResponseTopic(String),
    CorrelationData(Vec<u8>),
    SubscriptionIdentifier(u32),
    SessionExpiryInterval(u32),
    AssignedClientIdentifier(String),
    ServerKeepAlive(u16),
    AuthenticationMethod(String),
    AuthenticationData(Vec<u8>),
    RequestProblemInformation(u8),
    WillDelayInterval(u32),
    RequestResponseInformation(u8),
    ResponseInformation(String),
    ServerReference(String),
    ReasonString(String),
    ReceiveMaximum(u16),
    TopicAliasMaximum(u16),
    TopicAlias(u16),
    MaximumQoS(u8),
    RetainAvailable(u8),
    /// A name and a value.
    UserProperty(String, String),
    MaximumPacketSize(u32),
    WildcardSubscriptionAvailable(u8),
    SubscriptionIdentifierAvailable(u8),
    SharedSubscriptionAvailable(u8),
}

impl Property {
    /// The identifier of this property.
    pub fn id(&self) -> PropertyId {
        use Property as P;
        use PropertyId as I;
        match self {
            P::PayloadFormatIndicator(_) => I::PayloadFormatIndicator,
            P::MessageExpiryInterval(_) => I::MessageExpiryInterval,
            P::ContentType(_) => I::ContentType,
            P::ResponseTopic(_) => I::ResponseTopic,
            P::CorrelationData(_) => I::CorrelationData,
            P::SubscriptionIdentifier(_) => I::SubscriptionIdentifier,
            P::SessionExpiryInterval(_) => I::SessionExpiryInterval,
            P::AssignedClientIdentifier(_) => I::AssignedClientIdentifier,
            P::ServerKeepAlive(_) => I::ServerKeepAlive,
            P::AuthenticationMethod(_) => I::AuthenticationMethod,
            P::AuthenticationData(_) => I::AuthenticationData,
            P::RequestProblemInformation(_) => I::RequestProblemInformation,
            P::WillDelayInterval(_) => I::WillDelayInterval,
            P::RequestResponseInformation(_) => I::RequestResponseInformation,
            P::ResponseInformation(_) => I::ResponseInformation,
            P::ServerReference(_) => I::ServerReference,
            P::ReasonString(_) => I::ReasonString,
            P::ReceiveMaximum(_) => I::ReceiveMaximum,
            P::TopicAliasMaximum(_) => I::TopicAliasMaximum,
            P::TopicAlias(_) => I::TopicAlias,
            P::MaximumQoS(_) => I::MaximumQoS,
            P::RetainAvailable(_) => I::RetainAvailable,
            P::UserProperty(_, _) => I::UserProperty,
            P::MaximumPacketSize(_) => I::MaximumPacketSize,
            P::WildcardSubscriptionAvailable(_) => I::WildcardSubscriptionAvailable,
            P::SubscriptionIdentifierAvailable(_) => I::SubscriptionIdentifierAvailable,
            P::SharedSubscriptionAvailable(_) => I::SharedSubscriptionAvailable,
        }
    }

    /// The value of a numeric property, for range checks.
    fn numeric_value(&self) -> Option<u32> {
        use Property as P;
        Some(match *self {
            P::PayloadFormatIndicator(v)
            | P::RequestProblemInformation(v)
            | P::RequestResponseInformation(v)
            | P::MaximumQoS(v)
            | P::RetainAvailable(v)
            | P::WildcardSubscriptionAvailable(v)
            | P::SubscriptionIdentifierAvailable(v)
            | P::SharedSubscriptionAvailable(v) => u32::from(v),
            P::ServerKeepAlive(v)
            | P::ReceiveMaximum(v)
            | P::TopicAliasMaximum(v)
            | P::TopicAlias(v) => u32::from(v),
            P::MessageExpiryInterval(v)
            | P::SubscriptionIdentifier(v)
            | P::SessionExpiryInterval(v)
            | P::WillDelayInterval(v)
            | P::MaximumPacketSize(v) => v,
            _ => return None,
        })
    }

    /// Checks the value against the range the specification allows.
    pub fn check_range(&self) -> Result<(), PropertyError> {
        if let Some(value) = self.numeric_value() {
            let property = self.id();
            let (lo, hi) = property.range();
            if value < lo || value > hi {
                return Err(PropertyError::OutOfRange { property, value });
            }
        }
        Ok(())
    }

    /// Checks the strings and binary data for encoding (length, U+0000).
    fn check_encodable(&self) -> Result<(), EncodeError> {
        use Property as P;
        match self {
            P::ContentType(s)
            | P::ResponseTopic(s)
            | P::AssignedClientIdentifier(s)
            | P::AuthenticationMethod(s)
            | P::ResponseInformation(s)
            | P::ServerReference(s)
            | P::ReasonString(s) => string_len(s).map(drop),
            P::CorrelationData(b) | P::AuthenticationData(b) => binary_len(b).map(drop),
            P::UserProperty(k, v) => string_len(k).and(string_len(v)).map(drop),
            _ => Ok(()),
        }
    }

    /// The encoded size, identifier byte included.
    fn size(&self) -> usize {
        use Property as P;
        1 + match self {
            P::PayloadFormatIndicator(_)
            | P::RequestProblemInformation(_)
            | P::RequestResponseInformation(_)
            | P::MaximumQoS(_)
            | P::RetainAvailable(_)
            | P::WildcardSubscriptionAvailable(_)
            | P::SubscriptionIdentifierAvailable(_)
            | P::SharedSubscriptionAvailable(_) => 1,
            P::ServerKeepAlive(_)
            | P::ReceiveMaximum(_)
            | P::TopicAliasMaximum(_)
            | P::TopicAlias(_) => 2,
            P::MessageExpiryInterval(_)
            | P::SessionExpiryInterval(_)
            | P::WillDelayInterval(_)
            | P::MaximumPacketSize(_) => 4,
            P::SubscriptionIdentifier(v) => variable_integer_len(*v),
            P::ContentType(s)
            | P::ResponseTopic(s)
            | P::AssignedClientIdentifier(s)
            | P::AuthenticationMethod(s)
            | P::ResponseInformation(s)
            | P::ServerReference(s)
            | P::ReasonString(s) => 2 + s.len(),
            P::CorrelationData(b) | P::AuthenticationData(b) => 2 + b.len(),
            P::UserProperty(k, v) => 4 + k.len() + v.len(),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        use Property as P;
        out.push(self.id() as u8);
        match self {
            P::PayloadFormatIndicator(v)
            | P::RequestProblemInformation(v)
            | P::RequestResponseInformation(v)
            | P::MaximumQoS(v)
            | P::RetainAvailable(v)
            | P::WildcardSubscriptionAvailable(v)
            | P::SubscriptionIdentifierAvailable(v)
            | P::SharedSubscriptionAvailable(v) => out.push(*v),
            P::ServerKeepAlive(v)
            | P::ReceiveMaximum(v)
            | P::TopicAliasMaximum(v)
            | P::TopicAlias(v) => put_u16(out, *v),
            P::MessageExpiryInterval(v)
            | P::SessionExpiryInterval(v)
            | P::WillDelayInterval(v)
            | P::MaximumPacketSize(v) => put_u32(out, *v),
            P::SubscriptionIdentifier(v) => put_variable_integer(out, *v),
            P::ContentType(s)
            | P::ResponseTopic(s)
            | P::AssignedClientIdentifier(s)
            | P::AuthenticationMethod(s)
            | P::ResponseInformation(s)
            | P::ServerReference(s)
            | P::ReasonString(s) => put_string(out, s),
            P::CorrelationData(b) | P::AuthenticationData(b) => put_binary(out, b),
            P::UserProperty(k, v) => {
                put_string(out, k);
                put_string(out, v);
            }
        }
    }

    fn read(id: PropertyId, r: &mut Reader<'_>) -> Result<Property, DecodeError> {
        use Property as P;
        use PropertyId as I;
        let s = |r: &mut Reader<'_>| r.string().map(str::to_owned);
        Ok(match id {
            I::PayloadFormatIndicator => P::PayloadFormatIndicator(r.u8()?),
            I::MessageExpiryInterval => P::MessageExpiryInterval(r.u32()?),
            I::ContentType => P::ContentType(s(r)?),
            I::ResponseTopic => P::ResponseTopic(s(r)?),
            I::CorrelationData => P::CorrelationData(r.binary()?.to_vec()),
            I::SubscriptionIdentifier => P::SubscriptionIdentifier(r.variable_integer()?),
            I::SessionExpiryInterval => P::SessionExpiryInterval(r.u32()?),
            I::AssignedClientIdentifier => P::AssignedClientIdentifier(s(r)?),
            I::ServerKeepAlive => P::ServerKeepAlive(r.u16()?),
            I::AuthenticationMethod => P::AuthenticationMethod(s(r)?),
            I::AuthenticationData => P::AuthenticationData(r.binary()?.to_vec()),
            I::RequestProblemInformation => P::RequestProblemInformation(r.u8()?),
            I::WillDelayInterval => P::WillDelayInterval(r.u32()?),
            I::RequestResponseInformation => P::RequestResponseInformation(r.u8()?),
            I::ResponseInformation => P::ResponseInformation(s(r)?),
            I::ServerReference => P::ServerReference(s(r)?),
            I::ReasonString => P::ReasonString(s(r)?),
            I::ReceiveMaximum => P::ReceiveMaximum(r.u16()?),
            I::TopicAliasMaximum => P::TopicAliasMaximum(r.u16()?),
            I::TopicAlias => P::TopicAlias(r.u16()?),
            I::MaximumQoS => P::MaximumQoS(r.u8()?),
            I::RetainAvailable => P::RetainAvailable(r.u8()?),
            I::UserProperty => P::UserProperty(s(r)?, s(r)?),
            I::MaximumPacketSize => P::MaximumPacketSize(r.u32()?),
            I::WildcardSubscriptionAvailable => P::WildcardSubscriptionAvailable(r.u8()?),
            I::SubscriptionIdentifierAvailable => P::SubscriptionIdentifierAvailable(r.u8()?),
            I::SharedSubscriptionAvailable => P::SharedSubscriptionAvailable(r.u8()?),
        })
    }
}

/// The properties of one packet (or of a will), as Paho's `Properties`.
///
/// Properties set through [`set`](Properties::set) are kept in identifier
/// order, repeated ones (UserProperty, SubscriptionIdentifier) in the order
/// they were added, which is the order Paho writes them in. Decoded properties
/// keep the order they arrived in.
///
/// ```
/// use mqtt_tether::packet::{PacketType, Properties, Property};
///
/// let mut props = Properties::new(PacketType::Publish);
/// props.set(Property::MessageExpiryInterval(30))?;
/// props.set(Property::UserProperty("k".into(), "v".into()))?;
/// assert_eq!(props.message_expiry_interval(), Some(30));
///
/// let err = props.set(Property::SessionExpiryInterval(5)).unwrap_err();
/// assert_eq!(err.to_string(),
///     "Property SessionExpiryInterval does not apply to packet type Publish");
/// # Ok::<(), mqtt_tether::packet::PropertyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Properties {
    packet_type: PacketType,
    items: Vec<Property>,
}

impl Properties {
    /// An empty set for `packet_type` (`WillMessage` for will properties).
    pub fn new(packet_type: PacketType) -> Properties {
        Properties {
            packet_type,
            items: Vec::new(),
        }
    }

    /// The packet type this set is for.
    pub fn packet_type(&self) -> PacketType {
        self.packet_type
    }

    /// Whether the set holds no property (Paho's `isEmpty()`).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many properties the set holds, repeats counted.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The properties in encoding order.
    pub fn iter(&self) -> std::slice::Iter<'_, Property> {
        self.items.iter()
    }

    /// Removes every property (Paho's `clear()`).
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Sets a property, as assigning Paho's attribute does.
    ///
    /// UserProperty (and SubscriptionIdentifier in PUBLISH) accumulate; any
    /// other property replaces the previous value. Fails with Paho's message when the property
    /// does not apply to this packet type or its value is out of range.
    pub fn set(&mut self, property: Property) -> Result<(), PropertyError> {
        let id = self.check(&property)?;
        if !may_repeat_in(id, self.packet_type) {
            if let Some(slot) = self.items.iter_mut().find(|p| p.id() == id) {
                *slot = property;
                return Ok(());
            }
        }
        let at = self
            .items
            .iter()
            .position(|p| p.id() > id)
            .unwrap_or(self.items.len());
        self.items.insert(at, property);
        Ok(())
    }

    /// Appends a property after the others, keeping the order given (for
    /// reproducing a peer's bytes exactly). Checked as [`set`](Self::set) is,
    /// and a second copy of a property that may not repeat is refused.
    pub fn push(&mut self, property: Property) -> Result<(), PropertyError> {
        let id = self.check(&property)?;
        if !may_repeat_in(id, self.packet_type) && self.get(id).is_some() {
            return Err(PropertyError::Duplicate(id));
        }
        self.items.push(property);
        Ok(())
    }

    /// Checks that a property belongs in this packet type and is in range.
    fn check(&self, property: &Property) -> Result<PropertyId, PropertyError> {
        let id = property.id();
        if !id.allowed_in(self.packet_type) {
            return Err(PropertyError::NotAllowed {
                property: id,
                packet_type: self.packet_type,
            });
        }
        property.check_range()?;
        Ok(id)
    }

    /// The first property with this identifier.
    pub fn get(&self, id: PropertyId) -> Option<&Property> {
        self.items.iter().find(|p| p.id() == id)
    }

    /// Removes every property with this identifier; returns whether there was one.
    pub fn remove(&mut self, id: PropertyId) -> bool {
        let before = self.items.len();
        self.items.retain(|p| p.id() != id);
        self.items.len() != before
    }

    /// The user properties, as (name, value) pairs in order.
    pub fn user_properties(&self) -> impl Iterator<Item = (&str, &str)> {
        self.items.iter().filter_map(|p| match p {
            Property::UserProperty(k, v) => Some((k.as_str(), v.as_str())),
            _ => None,
        })
    }

    /// The subscription identifiers, in order.
    pub fn subscription_identifiers(&self) -> impl Iterator<Item = u32> + '_ {
        self.items.iter().filter_map(|p| match p {
            Property::SubscriptionIdentifier(v) => Some(*v),
            _ => None,
        })
    }

    /// The size of the encoded set, length prefix included, after checking
    /// every property against `packet_type` (the packet it is really sent in).
    pub(crate) fn encoded_len(&self, packet_type: PacketType) -> Result<usize, EncodeError> {
        let len = self.content_len(packet_type)?;
        Ok(variable_integer_len(len as u32) + len)
    }

    fn content_len(&self, packet_type: PacketType) -> Result<usize, EncodeError> {
        let mut len = 0usize;
        let mut seen = 0u64;
        for p in &self.items {
            let id = p.id();
            if !id.allowed_in(packet_type) {
                return Err(PropertyError::NotAllowed {
                    property: id,
                    packet_type,
                }
                .into());
            }
            p.check_range()?;
            let bit = 1u64 << (id as u8);
            if seen & bit != 0 && !may_repeat_in(id, packet_type) {
                return Err(PropertyError::Duplicate(id).into());
            }
            seen |= bit;
            p.check_encodable()?;
            len += p.size();
        }
        if len > MAX_VARIABLE_INTEGER as usize {
            return Err(EncodeError::PacketTooLarge {
                remaining_length: len,
            });
        }
        Ok(len)
    }

    /// Writes a set that [`encoded_len`](Self::encoded_len) accepted.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        let len: usize = self.items.iter().map(Property::size).sum();
        put_variable_integer(out, len as u32);
        for p in &self.items {
            p.write(out);
        }
    }

    /// Reads a property set (length prefix included) for `packet_type`.
    pub(crate) fn read(
        r: &mut Reader<'_>,
        packet_type: PacketType,
    ) -> Result<Properties, DecodeError> {
        let len = r.variable_integer()? as usize;
        let mut inner = Reader::new(r.bytes(len)?);
        let mut items = Vec::new();
        let mut seen = 0u64;
        while !inner.is_empty() {
            // The identifier is a variable byte integer; every defined one fits in a byte.
            let raw = inner.variable_integer()?;
            let id = u8::try_from(raw)
                .ok()
                .and_then(PropertyId::from_u8)
                .ok_or(PropertyError::Unknown(raw))?;
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
            let property = Property::read(id, &mut inner)?;
            property.check_range()?;
            items.push(property);
        }
        Ok(Properties { packet_type, items })
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

impl<'a> IntoIterator for &'a Properties {
    type Item = &'a Property;
    type IntoIter = std::slice::Iter<'a, Property>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

macro_rules! getters {
    ($( $fn:ident => $variant:ident : $ty:ty, $how:ident; )*) => {
        impl Properties {
            $(
                #[doc = concat!("The ", stringify!($variant), " property, if present.")]
                pub fn $fn(&self) -> Option<$ty> {
                    self.items.iter().find_map(|p| match p {
                        Property::$variant(v) => Some(getters!(@$how v)),
                        _ => None,
                    })
                }
            )*
        }
    };
    (@copy $v:ident) => { *$v };
    (@borrow $v:ident) => { $v.as_ref() };
}

getters! {
    payload_format_indicator => PayloadFormatIndicator: u8, copy;
    message_expiry_interval => MessageExpiryInterval: u32, copy;
    content_type => ContentType: &str, borrow;
    response_topic => ResponseTopic: &str, borrow;
    correlation_data => CorrelationData: &[u8], borrow;
    session_expiry_interval => SessionExpiryInterval: u32, copy;
    assigned_client_identifier => AssignedClientIdentifier: &str, borrow;
    server_keep_alive => ServerKeepAlive: u16, copy;
    authentication_method => AuthenticationMethod: &str, borrow;
    authentication_data => AuthenticationData: &[u8], borrow;
    request_problem_information => RequestProblemInformation: u8, copy;
    will_delay_interval => WillDelayInterval: u32, copy;
    request_response_information => RequestResponseInformation: u8, copy;
    response_information => ResponseInformation: &str, borrow;
    server_reference => ServerReference: &str, borrow;
    reason_string => ReasonString: &str, borrow;
    receive_maximum => ReceiveMaximum: u16, copy;
    topic_alias_maximum => TopicAliasMaximum: u16, copy;
    topic_alias => TopicAlias: u16, copy;
    maximum_qos => MaximumQoS: u8, copy;
    retain_available => RetainAvailable: u8, copy;
    maximum_packet_size => MaximumPacketSize: u32, copy;
    wildcard_subscription_available => WildcardSubscriptionAvailable: u8, copy;
    subscription_identifier_available => SubscriptionIdentifierAvailable: u8, copy;
    shared_subscription_available => SharedSubscriptionAvailable: u8, copy;
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
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn range_errors_use_pahos_text() {
        let mut p = Properties::new(PacketType::Publish);
        let e = p.set(Property::TopicAlias(0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "TopicAlias property value must be in the range 1-65535"
        );
        let mut c = Properties::new(PacketType::Connect);
        assert!(c.set(Property::RequestProblemInformation(2)).is_err());
        assert!(c.set(Property::MaximumPacketSize(0)).is_err());
        assert!(c.set(Property::ReceiveMaximum(0)).is_err());
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
        assert!(read(&[4, 0x0b, 1, 0x0b, 2], PacketType::Publish).is_ok());
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
