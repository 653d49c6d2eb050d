//! One MQTT 5 property (specification §2.2.2): every identifier with its value
//! type, the packets that allow it, its range, and whether it may repeat; and
//! how a single property is read from and written to the wire.

use super::error::{DecodeError, PropertyError};
use super::wire::{
    put_binary, put_string, put_u16, put_u32, put_variable_integer, variable_integer_len, Reader,
    MAX_VARIABLE_INTEGER,
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

    /// The range [`Properties::set`](super::Properties::set) accepts, which is
    /// Paho's: the specification's, except that MaximumPacketSize stops at
    /// 268,435,455 (no packet can be larger anyway).
    pub fn paho_range(self) -> (u32, u32) {
        match self {
            PropertyId::MaximumPacketSize => (1, MAX_VARIABLE_INTEGER),
            _ => self.range(),
        }
    }

    /// The range of a numeric value the specification allows, inclusive.
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

    /// The value as it is laid out on the wire.
    pub(crate) fn value(&self) -> Value<'_> {
        use Property as P;
        match self {
            P::PayloadFormatIndicator(v)
            | P::RequestProblemInformation(v)
            | P::RequestResponseInformation(v)
            | P::MaximumQoS(v)
            | P::RetainAvailable(v)
            | P::WildcardSubscriptionAvailable(v)
            | P::SubscriptionIdentifierAvailable(v)
            | P::SharedSubscriptionAvailable(v) => Value::Int(u32::from(*v)),
            P::ServerKeepAlive(v)
            | P::ReceiveMaximum(v)
            | P::TopicAliasMaximum(v)
            | P::TopicAlias(v) => Value::Int(u32::from(*v)),
            P::MessageExpiryInterval(v)
            | P::SubscriptionIdentifier(v)
            | P::SessionExpiryInterval(v)
            | P::WillDelayInterval(v)
            | P::MaximumPacketSize(v) => Value::Int(*v),
            P::ContentType(s)
            | P::ResponseTopic(s)
            | P::AssignedClientIdentifier(s)
            | P::AuthenticationMethod(s)
            | P::ResponseInformation(s)
            | P::ServerReference(s)
            | P::ReasonString(s) => Value::Text(s),
            P::CorrelationData(b) | P::AuthenticationData(b) => Value::Bytes(b),
            P::UserProperty(k, v) => Value::Pair(k, v),
        }
    }

    /// Checks the value against the range the specification allows.
    pub fn check_range(&self) -> Result<(), PropertyError> {
        check_range(self.id(), self.value())
    }

    /// Checks the strings and binary data for encoding: at most 65,535 bytes
    /// each, and no U+0000 in a string.
    pub(crate) fn check_encodable(&self) -> Result<(), PropertyError> {
        let property = self.id();
        let check_len = |len: usize| {
            if len > usize::from(u16::MAX) {
                Err(PropertyError::ValueTooLong { property, len })
            } else {
                Ok(())
            }
        };
        let check_str = |s: &str| {
            check_len(s.len())?;
            if s.as_bytes().contains(&0) {
                return Err(PropertyError::NullCharacter(property));
            }
            Ok(())
        };
        match self.value() {
            Value::Int(_) => Ok(()),
            Value::Text(s) => check_str(s),
            Value::Pair(k, v) => check_str(k).and(check_str(v)),
            Value::Bytes(b) => check_len(b.len()),
        }
    }

    /// The encoded size, identifier byte included.
    pub(crate) fn size(&self) -> usize {
        1 + match (self.id().value_type(), self.value()) {
            (PropertyType::Byte, _) => 1,
            (PropertyType::TwoByteInteger, _) => 2,
            (PropertyType::FourByteInteger, _) => 4,
            (PropertyType::VariableByteInteger, Value::Int(n)) => variable_integer_len(n),
            (_, Value::Text(s)) => 2 + s.len(),
            (_, Value::Pair(k, v)) => 4 + k.len() + v.len(),
            (_, Value::Bytes(b)) => 2 + b.len(),
            (_, Value::Int(_)) => 0, // no other type holds an integer
        }
    }

    /// Writes the property, which the caller has checked.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.push(self.id() as u8);
        // The casts cannot truncate: each variant holds a value of its width.
        match (self.id().value_type(), self.value()) {
            (PropertyType::Byte, Value::Int(n)) => out.push(n as u8),
            (PropertyType::TwoByteInteger, Value::Int(n)) => put_u16(out, n as u16),
            (PropertyType::FourByteInteger, Value::Int(n)) => put_u32(out, n),
            (_, Value::Int(n)) => put_variable_integer(out, n),
            (_, Value::Text(s)) => put_string(out, s),
            (_, Value::Pair(k, v)) => {
                put_string(out, k);
                put_string(out, v);
            }
            (_, Value::Bytes(b)) => put_binary(out, b),
        }
    }

    /// The owned property for a value read from the wire.
    pub(crate) fn from_value(id: PropertyId, value: Value<'_>) -> Property {
        use Property as P;
        use PropertyId as I;
        let int = |v: &Value<'_>| match *v {
            Value::Int(i) => i,
            _ => 0,
        };
        let (n, s, b) = (int(&value), value.text(), value.bytes());
        // The casts cannot truncate: `read_value` read these from one or two bytes.
        match id {
            I::PayloadFormatIndicator => P::PayloadFormatIndicator(n as u8),
            I::MessageExpiryInterval => P::MessageExpiryInterval(n),
            I::ContentType => P::ContentType(s.into()),
            I::ResponseTopic => P::ResponseTopic(s.into()),
            I::CorrelationData => P::CorrelationData(b.into()),
            I::SubscriptionIdentifier => P::SubscriptionIdentifier(n),
            I::SessionExpiryInterval => P::SessionExpiryInterval(n),
            I::AssignedClientIdentifier => P::AssignedClientIdentifier(s.into()),
            I::ServerKeepAlive => P::ServerKeepAlive(n as u16),
            I::AuthenticationMethod => P::AuthenticationMethod(s.into()),
            I::AuthenticationData => P::AuthenticationData(b.into()),
            I::RequestProblemInformation => P::RequestProblemInformation(n as u8),
            I::WillDelayInterval => P::WillDelayInterval(n),
            I::RequestResponseInformation => P::RequestResponseInformation(n as u8),
            I::ResponseInformation => P::ResponseInformation(s.into()),
            I::ServerReference => P::ServerReference(s.into()),
            I::ReasonString => P::ReasonString(s.into()),
            I::ReceiveMaximum => P::ReceiveMaximum(n as u16),
            I::TopicAliasMaximum => P::TopicAliasMaximum(n as u16),
            I::TopicAlias => P::TopicAlias(n as u16),
            I::MaximumQoS => P::MaximumQoS(n as u8),
            I::RetainAvailable => P::RetainAvailable(n as u8),
            I::UserProperty => match value {
                Value::Pair(k, v) => P::UserProperty(k.into(), v.into()),
                _ => P::UserProperty(String::new(), String::new()),
            },
            I::MaximumPacketSize => P::MaximumPacketSize(n),
            I::WildcardSubscriptionAvailable => P::WildcardSubscriptionAvailable(n as u8),
            I::SubscriptionIdentifierAvailable => P::SubscriptionIdentifierAvailable(n as u8),
            I::SharedSubscriptionAvailable => P::SharedSubscriptionAvailable(n as u8),
        }
    }
}

/// A property value as it lies on the wire, borrowed from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// A byte, a two- or four-byte integer, or a variable byte integer.
    Int(u32),
    /// A UTF-8 string.
    Text(&'a str),
    /// A UTF-8 string pair.
    Pair(&'a str, &'a str),
    /// Binary data.
    Bytes(&'a [u8]),
}

impl<'a> Value<'a> {
    pub(crate) fn text(self) -> &'a str {
        match self {
            Value::Text(s) => s,
            _ => "",
        }
    }

    pub(crate) fn bytes(self) -> &'a [u8] {
        match self {
            Value::Bytes(b) => b,
            _ => &[],
        }
    }
}

/// Reads the value of property `id` (whose identifier was just read) and
/// checks its range.
pub(crate) fn read_value<'a>(id: PropertyId, r: &mut Reader<'a>) -> Result<Value<'a>, DecodeError> {
    let value = match id.value_type() {
        PropertyType::Byte => Value::Int(u32::from(r.u8()?)),
        PropertyType::TwoByteInteger => Value::Int(u32::from(r.u16()?)),
        PropertyType::FourByteInteger => Value::Int(r.u32()?),
        PropertyType::VariableByteInteger => Value::Int(r.variable_integer()?),
        PropertyType::Utf8String => Value::Text(r.string()?),
        PropertyType::Utf8StringPair => Value::Pair(r.string()?, r.string()?),
        PropertyType::BinaryData => Value::Bytes(r.binary()?),
    };
    check_range(id, value)?;
    Ok(value)
}

fn check_range(property: PropertyId, value: Value<'_>) -> Result<(), PropertyError> {
    if let Value::Int(n) = value {
        let (lo, hi) = property.range();
        if n < lo || n > hi {
            return Err(PropertyError::OutOfRange { property, value: n });
        }
    }
    Ok(())
}
