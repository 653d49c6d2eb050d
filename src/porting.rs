//! # Porting from Paho
//!
//! How a program written for the Eclipse Paho Python client (`paho-mqtt`
//! 2.2) becomes a Rust program using this crate: where each Paho name went
//! ([the name table](#1-every-paho-name-and-its-rust-equivalent)), how
//! Python's idioms translate ([the idioms](#2-python-idioms-in-rust)), every
//! place where this crate deliberately behaves differently from Paho, and
//! why ([the differences](#3-deliberate-differences-from-paho)), and one
//! complete Paho program ported line by line
//! ([the example](#4-a-complete-program-side-by-side)).
//!
//! This page is documentation only; it defines nothing.
//!
//! ## 1. Every Paho name and its Rust equivalent
//!
//! Paths are those of this crate (`mqtt_tether::...`; the common names are
//! also re-exported at the crate root). Names under [`transport::tls`] and
//! [`helpers::Tls`] need a TLS engine: the cargo feature `tls` (rustls) or
//! `native-tls` (OpenSSL on Linux, as Paho); names under
//! [`transport::websocket`] the feature `websocket`.
//!
//! [`transport::tls`]: crate::transport::tls
//! [`helpers::Tls`]: crate::helpers::Tls
//! [`transport::websocket`]: crate::transport::websocket
//!
//! ### 1.1 Package layout and module-level names (`paho.mqtt`, `paho.mqtt.client`)
//!
//! | Paho | Rust | What differs |
//! |---|---|---|
//! | `paho.mqtt.__version__` | none | The crate's version is in `Cargo.toml`. |
//! | `paho.mqtt.MQTTException` | [`Error`](crate::Error) whose [`kind()`](crate::Error::kind) is [`PahoErrorKind::MqttException`](crate::PahoErrorKind::MqttException) | Several variants map to it: [`Error::Property`](crate::Error::Property), [`Error::Decode`](crate::Error::Decode), [`Error::ConnectionRefused`](crate::Error::ConnectionRefused). |
//! | `paho.mqtt.exception.MalformedPacket` | [`packet::DecodeError`](crate::packet::DecodeError) (inside [`Error::Decode`](crate::Error::Decode)) | Typed: each kind of malformation is a variant. |
//! | `Client` | [`Client`](crate::Client) | A cheap, cloneable handle usable from any thread; see [§2](#2-python-idioms-in-rust). |
//! | `MQTTMessage` | [`Message`](crate::Message) | `topic` is a `String` (always valid UTF-8, see [§3](#3-deliberate-differences-from-paho)), `payload` a `Vec<u8>`, `qos` a [`QoS`](crate::QoS); `properties` is an empty [`Properties`](crate::Properties) before MQTT 5 (Paho: `None`). No `timestamp`, `state` or `info` fields. |
//! | `MQTTMessageInfo` | [`MessageInfo`](crate::MessageInfo) | See [§1.6](#16-publishing-publish-and-mqttmessageinfo). |
//! | `ConnectFlags`, `DisconnectFlags` | [`ConnectFlags`](crate::ConnectFlags), [`DisconnectFlags`](crate::DisconnectFlags) | Same fields. |
//! | `WebsocketConnectionError` | [`Error::Io`](crate::Error::Io) whose text starts "WebSocket handshake error" | No separate type. |
//! | `error_string()` | [`error_string`](crate::error_string) | Takes an [`ErrorCode`](crate::ErrorCode) or any `i32`. |
//! | `connack_string()` | [`connack_string`](crate::connack_string) | Takes an integer, a [`ConnackCode`](crate::ConnackCode) or a [`ReasonCode`](crate::ReasonCode). |
//! | `topic_matches_sub()` | [`topic_matches_sub`](crate::topic_matches_sub) | Same. |
//! | `convert_connack_rc_to_reason_code()` | [`convert_connack_rc_to_reason_code`](crate::convert_connack_rc_to_reason_code) | Same mapping. |
//! | `convert_disconnect_error_code_to_reason_code()` | [`convert_disconnect_error_code_to_reason_code`](crate::convert_disconnect_error_code_to_reason_code) | Same mapping (2.2's, with "Protocol error"). |
//! | `CallbackAPIVersion` | [`CallbackAPIVersion`](crate::CallbackAPIVersion) | Only `VERSION2` works: `VERSION1` is refused by [`Client::new`](crate::Client::new) with a `ValueError` (see [§1.9](#19-paho-names-with-no-equivalent)). |
//! | `MQTTErrorCode` | [`ErrorCode`](crate::ErrorCode) | Compares with `i32` (`rc == 0`, `rc > 0`). |
//! | `MQTTProtocolVersion`, `MQTTv31`, `MQTTv311`, `MQTTv5` | [`ProtocolVersion`](crate::ProtocolVersion) (`ProtocolVersion::MQTTv311`, ...) | No module-level constants. |
//! | `LogLevel`, `MQTT_LOG_*` | [`LogLevel`](crate::LogLevel) (`LogLevel::Debug`, ...) | Same values; no module-level constants. |
//! | `ConnackCode`, `CONNACK_*` | [`ConnackCode`](crate::ConnackCode), [`CONNACK_ACCEPTED`](crate::CONNACK_ACCEPTED) and the other `CONNACK_*` constants | Same. |
//! | `MessageState`, `mqtt_ms_*` | [`session::OutState`](crate::session::OutState) | Only the states the outgoing store uses. |
//! | `MessageType` (`CONNECT = 0x10`, ...) and `PacketTypes` (`CONNECT = 1`, ..., `WILLMESSAGE = 99`) | [`PacketType`](crate::PacketType) | One enum for both; its value is the unshifted type nibble (`PacketTypes`' numbering), plus `WillMessage` (99). |
//! | `PahoClientMode` (`MQTT_CLIENT`, `MQTT_BRIDGE`) | [`Client::enable_bridge_mode`](crate::Client::enable_bridge_mode) | No enum: the bridge mode is a call. |
//! | `Properties` | [`Properties`](crate::Properties) | Set with [`Properties::set`](crate::Properties::set) and a typed [`Property`](crate::Property) instead of attribute assignment; the same checks and texts. The common ones are one call each: `props.UserProperty = ("k", "v")` is [`with_user_property`](crate::Properties::with_user_property)`("k", "v")?`, and so `with_message_expiry_interval`, `with_response_topic`, `with_correlation_data`, `with_content_type`; read with the getter of the same name (`Option<..>`: Paho raises `AttributeError` for a missing one). `str(props)` is `props.to_string()`, the same text. |
//! | `ReasonCode` | [`ReasonCode`](crate::ReasonCode) | Built with [`ReasonCode::new`](crate::ReasonCode::new) (by name) or [`ReasonCode::from_value`](crate::ReasonCode::from_value); compares with integers, names (`&str`) and other reason codes, as Paho's. |
//! | `ReasonCodes` (deprecated alias) | none | Use [`ReasonCode`](crate::ReasonCode). |
//! | `SubscribeOptions` (`RETAIN_*` constants) | [`SubscribeOptions`](crate::SubscribeOptions), [`packet::RetainHandling`](crate::packet::RetainHandling), [`packet::RETAIN_SEND_ON_SUBSCRIBE`](crate::packet::RETAIN_SEND_ON_SUBSCRIBE) and the other two | Fields are snake case (`no_local`, `retain_as_published`, `retain_handling`, `qos`); out-of-range values cannot be built (Paho: `AssertionError`). |
//! | `MQTTMatcher` | [`topic::TopicMatcher`](crate::topic::TopicMatcher) | Same matching order; never recurses per level. |
//! | `MQTT_CLEAN_START_FIRST_ONLY` | [`session::CleanStart::FirstOnly`](crate::session::CleanStart::FirstOnly) | `clean_start=True`/`False` are `CleanStart::Always`/`CleanStart::Never`. |
//! | `PayloadType` | `impl AsRef<[u8]>` | See [§2](#2-python-idioms-in-rust): numbers are not converted. |
//! | callback type aliases (`CallbackOnConnect`, ...) | [`client::OnConnect`](crate::client::OnConnect), [`client::OnDisconnect`](crate::client::OnDisconnect), [`client::OnMessage`](crate::client::OnMessage), [`client::OnPublish`](crate::client::OnPublish), [`client::OnSubscribe`](crate::client::OnSubscribe), [`client::OnLog`](crate::client::OnLog), [`client::OnConnectFail`](crate::client::OnConnectFail), [`client::OnSocket`](crate::client::OnSocket) | VERSION2 shapes only. |
//! | `paho.mqtt.enums`, `.properties`, `.reasoncodes`, `.subscribeoptions`, `.packettypes` | [`packet`](crate::packet) (and the crate root) | |
//! | `paho.mqtt.matcher` | [`topic`](crate::topic) | |
//! | `paho.mqtt.publish`, `paho.mqtt.subscribe` | [`helpers::publish`](crate::helpers::publish), [`helpers::subscribe`](crate::helpers::subscribe) | See [§1.8](#18-the-helpers-pahomqttpublish-and-pahomqttsubscribe). |
//!
//! ### 1.2 The constructor: `Client(...)`
//!
//! | Paho | Rust | What differs |
//! |---|---|---|
//! | `Client(CallbackAPIVersion.VERSION2)` | [`Client::new`](crate::Client::new)`(CallbackAPIVersion::VERSION2)` | Returns `Result`. |
//! | `Client(..., client_id=, clean_session=, userdata=, protocol=, transport=, reconnect_on_failure=, manual_ack=)` | [`Client::with_options`](crate::Client::with_options) with a [`ClientOptions`](crate::ClientOptions) | One field per keyword, same defaults, same validation texts. `transport` is the enum [`Transport`](crate::Transport), so an unknown transport cannot be named. |
//! | `__del__` | `Drop` | Dropping the application's last [`Client`](crate::Client) handle stops a `loop_start` thread and closes the connection ([§3](#3-deliberate-differences-from-paho)). |
//!
//! ### 1.3 Configuration (properties and setter methods)
//!
//! | Paho | Rust | What differs |
//! |---|---|---|
//! | `client.host`, `client.host = h` | [`Client::host`](crate::Client::host), [`Client::set_host`](crate::Client::set_host) | Setters return `Err` ([`Error::Runtime`](crate::Error::Runtime), Paho's `RuntimeError` text) while a connection exists or is being made, as Paho raises. |
//! | `client.port`, `client.port = p` | [`Client::port`](crate::Client::port), [`Client::set_port`](crate::Client::set_port) | `u16`; 0 is "Invalid port number.". |
//! | `client.keepalive`, `client.keepalive = k` | [`Client::keepalive`](crate::Client::keepalive), [`Client::set_keepalive`](crate::Client::set_keepalive) | `u16` seconds: negative values and values above 65535 cannot be written. |
//! | `client.transport` | none after construction | Chosen once, in [`ClientOptions::transport`](crate::ClientOptions::transport). |
//! | `client.protocol` | [`Client::protocol`](crate::Client::protocol) | Read-only, as in Paho. |
//! | `client.connect_timeout` | [`Client::connect_timeout`](crate::Client::connect_timeout), [`Client::set_connect_timeout`](crate::Client::set_connect_timeout) | A `Duration` (default 5 s). |
//! | `client.username`, `client.password` | [`Client::username_pw_set`](crate::Client::username_pw_set) | No getters. |
//! | `client.max_inflight_messages`, `max_inflight_messages_set(n)` | [`Client::max_inflight_messages`](crate::Client::max_inflight_messages), [`Client::max_inflight_messages_set`](crate::Client::max_inflight_messages_set) | `usize`, 0 unlimited. Respected on re-sends too ([§3](#3-deliberate-differences-from-paho)). |
//! | `client.max_queued_messages`, `max_queued_messages_set(n)` | [`Client::max_queued_messages`](crate::Client::max_queued_messages), [`Client::max_queued_messages_set`](crate::Client::max_queued_messages_set) | Returns `Result<()>`, not the client (no chaining). |
//! | `client.will_topic`, `client.will_payload` | [`Client::will_topic`](crate::Client::will_topic), [`Client::will_payload`](crate::Client::will_payload) | |
//! | `client.logger`, `enable_logger(logger)`, `disable_logger()` | [`Client::enable_logger`](crate::Client::enable_logger), [`Client::disable_logger`](crate::Client::disable_logger) | Lines always go to the `log` crate (target `mqtt_tether`), without `enable_logger()`, as Rust libraries log: the application's logger filters them (Paho logs nowhere until `enable_logger`). `enable_logger()` does nothing more than undo `disable_logger()`, which silences one client; there is no logger object to pass. Packet lines (DEBUG, one per packet sent or received, made only while `on_log` is set or the logger takes DEBUG lines) are worded differently from Paho's and never show payloads. |
//! | `client.callback_api_version` | none | Always `VERSION2`. |
//! | `username_pw_set(username, password)` | [`Client::username_pw_set`](crate::Client::username_pw_set)`(Option<&str>, Option<&str>)` | Passwords are strings (Paho also takes bytes). Returns `Result`: over 65,535 bytes is refused ([§3](#3-deliberate-differences-from-paho)). |
//! | `will_set(topic, payload, qos, retain, properties)` | [`Client::will_set`](crate::Client::will_set) | All five arguments are positional; `qos` is an `i32` or a [`QoS`](crate::QoS). A topic or payload over 65,535 bytes is refused ([§3](#3-deliberate-differences-from-paho)). |
//! | `will_clear()` | [`Client::will_clear`](crate::Client::will_clear) | |
//! | `user_data_set(u)`, `user_data_get()` | [`Client::user_data_set`](crate::Client::user_data_set), [`Client::user_data_get`](crate::Client::user_data_get) | Takes a [`UserData`](crate::UserData); [`UserData::get`](crate::UserData::get)`::<T>()` returns `Result`, an error naming both types when another type is stored. See [§2](#2-python-idioms-in-rust). |
//! | `reconnect_delay_set(min_delay, max_delay)` | [`Client::reconnect_delay_set`](crate::Client::reconnect_delay_set) | `Duration`s (fractions of a second work). |
//! | `message_retry_set(retry)` | none | Removed in Paho 2.0 too. |
//! | `enable_bridge_mode()` | [`Client::enable_bridge_mode`](crate::Client::enable_bridge_mode) | Same. |
//! | `ws_set_options(path, headers)` | [`Client::ws_set_options`](crate::Client::ws_set_options)`(path, `[`WsHeaders`](crate::transport::websocket::WsHeaders)`)` | A dict is `WsHeaders::Merge`, a callable `WsHeaders::Function`, `None` `WsHeaders::Default`. |
//! | `tls_set(ca_certs, certfile, keyfile, cert_reqs, tls_version, ciphers, keyfile_password, alpn_protocols)` | [`Client::tls_set`](crate::Client::tls_set)`(`[`TlsOptions`](crate::transport::tls::TlsOptions)`)` | No `tls_version` or `ciphers` field. An extra field, [`engine`](crate::transport::tls::TlsOptions::engine): rustls (the default) or [`TlsEngine::Native`](crate::transport::tls::TlsEngine::Native), OpenSSL as in Paho; `keyfile_password` needs the native engine ([§3.5](#35-tls-websockets-proxies)). `cert_reqs` is [`CertReqs`](crate::transport::tls::CertReqs). |
//! | `tls_set_context(context)` | [`Client::tls_set_context`](crate::Client::tls_set_context)`(Option<Arc<rustls::ClientConfig>>)` | A rustls configuration instead of an `ssl.SSLContext` (rustls engine only; build it with [`crypto_provider`](crate::transport::tls::crypto_provider)). |
//! | `tls_insecure_set(value)` | [`Client::tls_insecure_set`](crate::Client::tls_insecure_set) | Has no effect on a `tls_set_context` configuration ([§3](#3-deliberate-differences-from-paho)). |
//! | `socket().selected_alpn_protocol()` | [`Client::tls_alpn_protocol`](crate::Client::tls_alpn_protocol) | |
//! | `proxy_set(proxy_type=, proxy_addr=, ...)` | [`Client::proxy_set`](crate::Client::proxy_set)`(`[`ProxySettings`](crate::transport::proxy::ProxySettings)`)` | Built in, no PySocks; `proxy_type` is [`ProxyType`](crate::transport::proxy::ProxyType). The `mqtt_proxy`/`no_proxy` environment fallback is kept; PySocks' global default proxy does not exist. |
//! | `message_callback_add(sub, cb)`, `message_callback_remove(sub)` | [`Client::message_callback_add`](crate::Client::message_callback_add), [`Client::message_callback_remove`](crate::Client::message_callback_remove) | |
//! | `manual_ack_set(on)` | [`Client::manual_ack_set`](crate::Client::manual_ack_set) | |
//! | `client.suppress_exceptions = True` | [`Client::set_suppress_exceptions`](crate::Client::set_suppress_exceptions)`(true)` | Applies to panics in callbacks. |
//!
//! ### 1.4 Connecting
//!
//! | Paho | Rust | What differs |
//! |---|---|---|
//! | `connect(host, port, keepalive)` | [`Client::connect`](crate::Client::connect) | Returns `Result<ErrorCode, Error>`; the network exceptions Paho lets escape are [`Error::Io`](crate::Error::Io). |
//! | `connect(host, ..., bind_address=, bind_port=, clean_start=, properties=)` | [`Client::connect_with`](crate::Client::connect_with)`(host, `[`ConnectOptions`](crate::ConnectOptions)`)` | `ConnectOptions::default()` has Paho's defaults (port 1883, keepalive 60). |
//! | `connect_async(...)` | [`Client::connect_async`](crate::Client::connect_async), [`Client::connect_async_with`](crate::Client::connect_async_with) | |
//! | `connect_srv(domain, ...)` | none | See [§1.9](#19-paho-names-with-no-equivalent). |
//! | `reconnect()` | [`Client::reconnect`](crate::Client::reconnect) | |
//! | `disconnect()`, `disconnect(reasoncode, properties)` | [`Client::disconnect`](crate::Client::disconnect), [`Client::disconnect_with`](crate::Client::disconnect_with) | |
//! | `reinitialise(client_id, clean_session, userdata)` | [`Client::reinitialise`](crate::Client::reinitialise)`(`[`ClientOptions`](crate::ClientOptions)`)` | Takes every constructor option (Paho resets protocol, transport, `reconnect_on_failure` and `manual_ack` to their defaults; pass `ClientOptions::default()` plus the three fields for the same effect). Stored messages fail instead of waiting forever. |
//!
//! ### 1.5 The network loop
//!
//! | Paho | Rust | What differs |
//! |---|---|---|
//! | `loop(timeout)` | [`Client::r#loop`](crate::Client::loop) or [`Client::loop_once`](crate::Client::loop_once) | `loop` is a Rust keyword; `timeout` is a `Duration`. |
//! | `loop_forever(timeout, retry_first_connection)` | [`Client::loop_forever`](crate::Client::loop_forever) | Returns `Result<ErrorCode, Error>`. `timeout` is accepted but not needed ([§3](#3-deliberate-differences-from-paho)). |
//! | `loop_start()`, `loop_stop()` | [`Client::loop_start`](crate::Client::loop_start), [`Client::loop_stop`](crate::Client::loop_stop) | The thread is named `mqtt-tether-<client id>` (Paho: `paho-mqtt-client-<client id>`). |
//! | `loop_read(max_packets)`, `loop_write()`, `loop_misc()` | [`Client::loop_read`](crate::Client::loop_read), [`Client::loop_write`](crate::Client::loop_write), [`Client::loop_misc`](crate::Client::loop_misc) | No `max_packets` (Paho ignores it). |
//! | `want_write()` | [`Client::want_write`](crate::Client::want_write) | |
//! | `socket()` | [`Client::socket`](crate::Client::socket) | An `Arc<`[`transport::Socket`](crate::transport::Socket)`>` (TCP or unix); asking for it hands the socket to the caller's event loop ([§3](#3-deliberate-differences-from-paho)). |
//! | `is_connected()` | [`Client::is_connected`](crate::Client::is_connected) | Turns false at once ([§3](#3-deliberate-differences-from-paho)). |
//!
//! ### 1.6 Publishing: `publish()` and `MQTTMessageInfo`
//!
//! | Paho | Rust | What differs |
//! |---|---|---|
//! | `publish(topic, payload, qos, retain)` | [`Client::publish`](crate::Client::publish) | All four positional; `qos` is an `i32` or a [`QoS`](crate::QoS) ([`IntoQos`](crate::IntoQos)); returns `Result<MessageInfo, Error>` (validation errors are `Err`). |
//! | `publish(..., properties=)` | [`Client::publish_with`](crate::Client::publish_with) | |
//! | `info.mid`, `info.rc` | [`MessageInfo::mid`](crate::MessageInfo::mid), [`MessageInfo::rc`](crate::MessageInfo::rc) | Methods, not attributes. |
//! | `info.wait_for_publish(timeout)` | [`MessageInfo::wait_for_publish`](crate::MessageInfo::wait_for_publish)`(Option<Duration>)` | Returns an error instead of hanging on the loop thread; waits for QoS 1/2 messages stored while offline ([§3](#3-deliberate-differences-from-paho)). |
//! | `info.is_published()` | [`MessageInfo::is_published`](crate::MessageInfo::is_published) | `Result<bool, Error>`. |
//! | `rc, mid = info`, `info[0]`, `str(info)` | `(info.rc(), info.mid())`, `format!("{info}")` | No tuple unpacking or indexing; `Display` prints what Paho's `str(info)` prints, `(<MQTTErrorCode.MQTT_ERR_SUCCESS: 0>, 1)`. |
//! | (none) | [`MessageInfo::outcome`](crate::MessageInfo::outcome), [`Outcome`](crate::Outcome) | Beyond Paho: why a message was not delivered. |
//! | `drop_out_messages()` | [`Client::drop_out_messages`](crate::Client::drop_out_messages) | Returns `Vec<`[`Message`](crate::session::Message)`>`; their `MessageInfo`s end [`Outcome::Dropped`](crate::Outcome::Dropped). |
//! | (none) | [`Client::publish_wait`](crate::Client::publish_wait), [`Client::publish_wait_with`](crate::Client::publish_wait_with) | Beyond Paho: `publish` that waits (up to a timeout) for room in a full store instead of returning `MQTT_ERR_QUEUE_SIZE` ([§3.3](#33-messages)). |
//! | (none) | [`Client::disconnect_drain`](crate::Client::disconnect_drain) | Beyond Paho: `disconnect()` after waiting (up to a timeout) until every stored message is acknowledged; says how many were left ([§3.3](#33-messages)). |
//! | (none) | [`Client::queue_full_policy_set`](crate::Client::queue_full_policy_set), [`Client::queue_qos0_offline_set`](crate::Client::queue_qos0_offline_set) | Beyond Paho: drop the oldest unsent message instead of refusing the new one; queue QoS 0 published offline ([§3.3](#33-messages)). |
//!
//! ### 1.7 Subscribing, acknowledging, callbacks
//!
//! | Paho | Rust | What differs |
//! |---|---|---|
//! | `subscribe("a/b", qos)` | [`Client::subscribe`](crate::Client::subscribe) | `qos` is an `i32` or a [`QoS`](crate::QoS). Returns `Result<(ErrorCode, Option<u16>), Error>`. |
//! | `subscribe([("a", 0), ("b", 2)])`, `subscribe(("a", 1))` | [`Client::subscribe_many`](crate::Client::subscribe_many)`(&[("a", 0), ("b", 2)])` | Any list or iterator of [`Subscription`](crate::Subscription)s: `(topic, qos)` or `(topic, SubscribeOptions)`, owned or borrowed. Accepted for every protocol version (Paho refuses the `(topic, int)` tuple with MQTT 5). |
//! | `subscribe(topic, options=SubscribeOptions(...), properties=)`, `subscribe([(topic, SubscribeOptions)])` | [`Client::subscribe_with`](crate::Client::subscribe_with)`([(topic, SubscribeOptions)], properties)` | The same lists as `subscribe_many`. Before MQTT 5 only the QoS of the options is sent (Paho ignores `options` there). |
//! | `unsubscribe("a")`, `unsubscribe(["a", "b"])`, `unsubscribe(..., properties=)` | [`Client::unsubscribe`](crate::Client::unsubscribe), [`Client::unsubscribe_many`](crate::Client::unsubscribe_many), [`Client::unsubscribe_with`](crate::Client::unsubscribe_with) | An empty list is refused ([§3](#3-deliberate-differences-from-paho)). |
//! | `ack(mid, qos)` | [`Client::ack`](crate::Client::ack) | `client.ack(msg.mid, msg.qos)`: the message's [`QoS`](crate::QoS) or an `i32`. |
//! | `client.on_connect = f` (and every `on_*` property) | [`Client::on_connect`](crate::Client::on_connect)`(f)`, [`on_connect_fail`](crate::Client::on_connect_fail), [`on_disconnect`](crate::Client::on_disconnect), [`on_message`](crate::Client::on_message), [`on_publish`](crate::Client::on_publish), [`on_subscribe`](crate::Client::on_subscribe), [`on_unsubscribe`](crate::Client::on_unsubscribe), [`on_log`](crate::Client::on_log), [`on_pre_connect`](crate::Client::on_pre_connect), [`on_socket_open`](crate::Client::on_socket_open), [`on_socket_close`](crate::Client::on_socket_close), [`on_socket_register_write`](crate::Client::on_socket_register_write), [`on_socket_unregister_write`](crate::Client::on_socket_unregister_write) | Methods taking a closure. A callback cannot be read back or set to `None`; set a closure that does nothing instead. |
//! | decorators (`@client.connect_callback()`, ..., `@client.topic_callback(sub)`) | the same `on_*` methods; [`Client::message_callback_add`](crate::Client::message_callback_add) for `topic_callback` | Rust has no decorators. |
//! | `on_socket_open(client, userdata, sock)` and the other socket callbacks | `(client, userdata)` | Without the socket argument: call [`Client::socket`](crate::Client::socket). |
//!
//! ### 1.8 The helpers: `paho.mqtt.publish` and `paho.mqtt.subscribe`
//!
//! | Paho | Rust | What differs |
//! |---|---|---|
//! | `publish.single(topic, payload, qos, retain, hostname=, ...)` | [`helpers::publish::single`](crate::helpers::publish::single)`(topic, payload, qos, retain, &`[`publish::Options`](crate::helpers::publish::Options)`)` | Keyword arguments are the fields of [`helpers::Options`](crate::helpers::Options), one struct for all four helpers (also named `publish::Options`, `subscribe::Options`); `tls={'ca_certs': ca}` is `tls: Some(`[`Tls::ca_certs`](crate::helpers::Tls::ca_certs)`(ca))`. |
//! | `publish.multiple(msgs, hostname=, ...)` | [`helpers::publish::multiple`](crate::helpers::publish::multiple) | `msgs` yields [`Msg`](crate::helpers::publish::Msg)s or `(topic, payload, qos, retain)` tuples. Every message is checked before connecting. |
//! | `subscribe.simple(topics, qos, msg_count, retained, hostname=, ...)` | [`helpers::subscribe::simple`](crate::helpers::subscribe::simple) | Always returns a `Vec<Message>` (Paho: one message when `msg_count` is 1). `topics` is a slice. |
//! | `subscribe.callback(callback, topics, qos, userdata, hostname=, ...)` | [`helpers::subscribe::callback`](crate::helpers::subscribe::callback) | `topics` is a slice. |
//! | `will={...}`, `auth={...}`, `tls={...}` or an `SSLContext` | [`helpers::Will`](crate::helpers::Will), [`helpers::Auth`](crate::helpers::Auth), [`helpers::Tls`](crate::helpers::Tls) | The caller's `tls` value is not changed (Paho pops `insecure` from the dict). |
//! | `proxy_args={...}` | [`ProxySettings`](crate::transport::proxy::ProxySettings) | |
//! | `MQTTException` from a refused connection | [`Error::ConnectionRefused`](crate::Error::ConnectionRefused) | Same text ([`connack_string`](crate::connack_string) of the reason code). |
//! | `KeyError` for an `auth` without username | [`Error::Key`](crate::Error::Key) | Same text. |
//!
//! ### 1.9 Paho names with no equivalent
//!
//! * **`connect_srv(domain, ...)`**: DNS SRV lookup needs a resolver library
//!   (Paho uses dnspython), and the standard library has none. Paho's own
//!   version ignores SRV priority and weight and swallows every error, so it
//!   is easy to replace: look up `_mqtt._tcp.<domain>` with a DNS crate and
//!   call [`Client::connect`](crate::Client::connect) on each answer in turn.
//! * **The VERSION1 callback API**: deprecated by Paho ("will be removed in
//!   3.0"), with signatures that change with the protocol version.
//!   [`Client::new`](crate::Client::new)`(CallbackAPIVersion::VERSION1)`
//!   returns a `ValueError` pointing at Paho's migration notes; port
//!   VERSION1 callbacks to the VERSION2 shapes (Paho's `docs/migrations.rst`).
//! * **`tls_set(tls_version=, ciphers=)`**: both TLS engines negotiate TLS
//!   1.2 or 1.3 with their own safe cipher suites and do not offer older
//!   versions or custom cipher strings. To restrict versions or suites,
//!   build a `rustls::ClientConfig` and give it to
//!   [`Client::tls_set_context`](crate::Client::tls_set_context).
//! * **`tls_set(keyfile_password=)`** works with the native engine
//!   (feature `native-tls`, where it is OpenSSL); the rustls engine reads no
//!   encrypted key, and giving it a password is an error that says so
//!   ([§3.5](#35-tls-websockets-proxies)).
//! * **The `transport` property setter**, `callback_api_version`,
//!   `username`/`password` getters, reading a callback back, the `logger`
//!   object, `ReasonCodes`, `__version__`, `message_retry_set`: see the
//!   tables above.
//!
//! ## 2. Python idioms in Rust
//!
//! **Keyword arguments.** A call keeps Paho's positional arguments
//! (`connect(host, port, keepalive)`, `publish(topic, payload, qos,
//! retain)`, `subscribe(topic, qos)`); keyword-only extras go into a
//! `..._with` variant taking an options struct whose `Default` is Paho's
//! defaults ([`ClientOptions`](crate::ClientOptions),
//! [`ConnectOptions`](crate::ConnectOptions),
//! [`helpers::publish::Options`](crate::helpers::publish::Options),
//! [`helpers::subscribe::Options`](crate::helpers::subscribe::Options),
//! [`TlsOptions`](crate::transport::tls::TlsOptions)). Name the fields you
//! would have passed and fill in the rest with `..Default::default()`:
//!
//! ```no_run
//! use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions, ConnectOptions, ProtocolVersion};
//!
//! // Client(CallbackAPIVersion.VERSION2, client_id="sensor-1", protocol=MQTTv5)
//! let client = Client::with_options(
//!     CallbackAPIVersion::VERSION2,
//!     ClientOptions {
//!         client_id: "sensor-1".into(),
//!         protocol: ProtocolVersion::MQTTv5,
//!         ..Default::default()
//!     },
//! )?;
//! // client.connect("broker.example", keepalive=30)
//! client.connect_with("broker.example", ConnectOptions { keepalive: 30, ..Default::default() })?;
//! # Ok::<(), mqtt_tether::Error>(())
//! ```
//!
//! **Exceptions.** Where Paho raises, the call returns
//! `Err(`[`Error`](crate::Error)`)`. Its `Display` is Paho's exception
//! message ("Invalid topic.", "Invalid QoS level.", "updating host on
//! established connection is not supported", ...) and
//! [`Error::kind`](crate::Error::kind) names the Python class
//! ([`PahoErrorKind`](crate::PahoErrorKind): `ValueError`, `RuntimeError`,
//! `TypeError`, `MQTTException`, `OSError`, `KeyError`). So
//! `except ValueError:` becomes a check of `e.kind() ==
//! PahoErrorKind::ValueError`, and a test asserting Paho's message compares
//! `e.to_string()`. Paho's other `ValueError`s and `RuntimeError`s are
//! [`Error::Value`](crate::Error::Value) and
//! [`Error::Runtime`](crate::Error::Runtime) with a reason to match on
//! ([`ValueReason`](crate::ValueReason), [`RuntimeReason`](crate::RuntimeReason)),
//! whose text is Paho's. Network failures are [`Error::Io`](crate::Error::Io)
//! with a message naming the layer that failed; `source()` goes on to the
//! cause behind it, so an error chain prints each text once.
//!
//! **Return codes.** Calls that return an `MQTTErrorCode` in Paho return an
//! [`ErrorCode`](crate::ErrorCode) (inside `Ok` for those that can also
//! raise). The `MQTT_ERR_*` constants exist at the crate root
//! ([`MQTT_ERR_SUCCESS`](crate::MQTT_ERR_SUCCESS), ...), `rc == 0`,
//! `rc > 0` and [`ErrorCode::is_err`](crate::ErrorCode::is_err) work, and
//! [`error_string`](crate::error_string) gives Paho's text. A publish's code
//! is [`MessageInfo::rc`](crate::MessageInfo::rc).
//!
//! **`userdata`.** [`UserData`](crate::UserData) holds any `Send + Sync`
//! value ([`UserData::new`](crate::UserData::new)); a callback reads it with
//! [`UserData::get`](crate::UserData::get)`::<T>()`, which fails loudly
//! (naming both types) when the value stored is of another type, such as
//! a `&str` read as a `String`. It is shared, not
//! copied, so state that callbacks change needs interior mutability (a
//! `Mutex`, an atomic). Closures can also capture their state directly,
//! which is usually simpler.
//!
//! **Callbacks.** Set with methods taking closures
//! ([`Client::on_connect`](crate::Client::on_connect)`(|client, userdata,
//! flags, reason_code, properties| ...)`), in the VERSION2 shapes: the same
//! arguments in the same order, by reference. They run on the thread of the
//! network loop (the `loop_start` thread, or the caller of `loop_forever` /
//! `loop`), one at a time, with no lock of the client held, so a callback
//! may call any client method (`publish`, `subscribe`, `disconnect`,
//! `reconnect`, `loop_stop`). A Python exception in a callback is a Rust
//! panic here (see [§3](#3-deliberate-differences-from-paho)).
//!
//! **A callback's own client.** The `&Client` argument is the client; a
//! callback that needs it beyond the call (to hand it to a worker thread,
//! say) keeps a [`WeakClient`](crate::WeakClient) from
//! [`Client::downgrade`](crate::Client::downgrade) and upgrades it when it
//! needs it. A captured `Client` clone (or one in the userdata) would be
//! held by the client itself, which would then never stop (see "Dropping
//! the client stops it" in [§3.1](#31-the-network-loop-and-threads)).
//! Python's garbage collector breaks such cycles; Rust's reference counts
//! do not.
//!
//! **`loop`.** `loop` is a Rust keyword: call
//! [`client.r#loop(timeout)`](crate::Client::loop) or the same method
//! under the name [`Client::loop_once`](crate::Client::loop_once).
//!
//! **Payloads.** Anything that is `AsRef<[u8]>`: `&str`, `String`,
//! `&[u8]`, `Vec<u8>`, byte arrays. Paho's `None` is `""` or `b""`. Paho
//! turns an `int` or `float` into its decimal text (`42` becomes `b"42"`);
//! here the caller formats it: `client.publish(t, 42.to_string(), 0,
//! false)`. Received payloads are `Vec<u8>`: decode with
//! `String::from_utf8_lossy(&msg.payload)` or `std::str::from_utf8`.
//!
//! **QoS.** Arguments take Paho's integer (`publish(t, p, 1, false)`) or a
//! [`QoS`](crate::QoS), and an integer outside 0 to 2 is Paho's
//! `ValueError('Invalid QoS level.')`. Received messages carry a `QoS`,
//! which prints as Paho's number (`{}` gives `1`), compares with one
//! (`msg.qos == 1`), converts with `i32::from(msg.qos)` and goes straight
//! back into `ack(msg.mid, msg.qos)`.
//!
//! **Durations.** Seconds given as `float` (`timeout`, `min_delay`,
//! `connect_timeout`) are `std::time::Duration`s; `keepalive` stays whole
//! seconds (`u16`), as on the wire.
//!
//! ## 3. Deliberate differences from Paho
//!
//! Each is a Paho bug (most of them reported by users, see the Paho issue
//! numbers) or an option Paho lacks. Everything else follows Paho 2.2,
//! including its return codes, texts and callback order.
//!
//! ### 3.1 The network loop and threads
//!
//! * **No polling.** [`Client::loop_forever`](crate::Client::loop_forever)
//!   and the `loop_start` thread sleep until something happens (bytes, a
//!   queued packet, `disconnect()`, `loop_stop()`) or the keepalive is due;
//!   an idle connected client does not wake every `timeout` seconds. The
//!   `timeout` argument is accepted so calls port unchanged.
//! * **The backoff wait ends at once.** `disconnect()` or `loop_stop()`
//!   during a reconnect wait ends it immediately (Paho sleeps in 1 s
//!   slices). After a failed first `connect_async` attempt there is one wait
//!   between two attempts (Paho waits twice). Each wait is logged
//!   ("Waiting N s before reconnecting").
//! * **One thread for `loop_start` on unix, as in Paho.** The loop thread
//!   waits for its socket and its wake-up together and reads the socket
//!   itself; the application's own `loop()` calls, and every loop off
//!   unix, get a reader thread as well (below).
//! * **With no loop, `publish` writes with a blocking socket.** Paho's
//!   socket is non-blocking, so its `publish` returns at once even when
//!   the broker has stopped reading. Here, with no loop running, the
//!   caller writes what it queued itself, and against a broker that stops
//!   reading (its buffers full) that write waits for progress for up to a
//!   keepalive period (60 s by default), then closes the connection as a
//!   keepalive failure and returns `MQTT_ERR_NO_CONN`. With a loop
//!   running `publish` never writes a blocking socket
//!   (`tests/drain_stalled.rs` measures both).
//! * **The protocol does not wait for the loop.** Once a loop has started
//!   the connection's reader thread, that thread answers the broker itself
//!   (PUBREL, the next messages an acknowledgement lets into the in-flight
//!   window) and, when no `on_publish` is set, completes acknowledged
//!   [`MessageInfo`](crate::MessageInfo)s, so `wait_for_publish` returns
//!   without waiting for the loop thread to be scheduled; between two
//!   manual `loop()` calls the exchange goes on. Callbacks still run only in
//!   the loop, in Paho's order, and with `on_publish` set a message reads
//!   published only after its `on_publish` has run, as in Paho. (Paho does
//!   everything in its loop; here that cost two thread wake-ups per chunk
//!   read, most of the CPU of a QoS 1 stream.)
//! * **`wait_for_publish` reads the connection itself.** While a thread waits
//!   for a QoS 1/2 message, it reads and handles what arrives in the loop's
//!   or reader thread's place, so the acknowledgement wakes it directly
//!   instead of through a second thread (a QoS 1 publish-and-wait through
//!   Mosquitto on a 2-core VM: p50 64 µs instead of 132 µs). What it reads is
//!   fed to the session in order, as the reader would feed it; callbacks
//!   still run in the loop, in order. A second waiter, a waiter with
//!   `on_publish` set (the loop completes the message after the callback),
//!   one on a connection an external event loop reads, any waiter off unix,
//!   and any waiter while more than 8,192 events wait for the loop, wait to
//!   be woken. After a waiter has read, the reader (the polling loop or the
//!   reader thread) leaves the socket alone for 2 ms (it would otherwise be
//!   woken by every acknowledgement the waiters read), unless messages are
//!   stored beyond the in-flight window or events pile up; so bytes that
//!   arrive while nobody waits are read up to 2 ms later.
//!   `wait_for_publish` called from a callback run while reading (an
//!   `on_log` for a failed TLS record, say) returns an error, as on the
//!   loop thread.
//! * **`loop_stop()` does not wait for acknowledgements.** It stops the
//!   thread once what was queued is written; unacknowledged QoS 1/2
//!   messages stay stored (Paho blocks, possibly forever, until every one is
//!   acknowledged, #608).
//! * **`loop_start()` before `connect()` uses one connection.** The thread
//!   serves the connection `connect()` opened (Paho's thread opens a second
//!   one, so a QoS 0 message published in between is lost; Paho's own test
//!   calls that "probably a bug").
//! * **Re-entrancy.** Callbacks run with no client lock held: calling
//!   `reconnect()` from a callback with socket callbacks set, or taking a
//!   user lock in `on_publish` that another thread holds around `publish()`,
//!   does not deadlock (Paho #226, #354).
//!   [`MessageInfo::wait_for_publish`](crate::MessageInfo::wait_for_publish)
//!   called on the loop thread returns an error instead of hanging (Paho
//!   #527, #875).
//! * **A panicking callback closes the connection and re-raises.** Paho's
//!   exception kills the `loop_start` thread and leaves the socket open with
//!   `is_connected()` true (#704). Here the connection is closed (no further
//!   callbacks) and the panic continues out of `loop_forever` / `loop` (or
//!   ends the `loop_start` thread). With
//!   [`Client::set_suppress_exceptions`](crate::Client::set_suppress_exceptions)`(true)`
//!   it is logged ("Caught exception in on_xxx: ...") and the loop goes on,
//!   as in Paho.
//! * **Dropping the client stops it.** When the application's last
//!   [`Client`](crate::Client) handle is dropped, the `loop_start` thread
//!   ends and the connection closes (Paho's daemon thread would go on). The
//!   `&Client` a callback receives does not count, and neither does a
//!   [`WeakClient`](crate::WeakClient); a `Client` a callback captures does,
//!   so callbacks keep a `WeakClient` ([§2](#2-python-idioms-in-rust)).
//! * **`loop_stop()` and `disconnect()` do not wait for the broker to
//!   pause.** The loop looks for them between two callbacks and delivers no
//!   further message, so they take effect within the running callback plus
//!   a short constant (Paho reads on; with a broker that never pauses,
//!   `loop_stop` never returned). Messages received and not yet delivered
//!   stay queued, in order, for the next loop on the same connection; if
//!   the connection closes first they are dropped unacknowledged, so a
//!   broker that keeps the session sends a QoS 1 message again and a QoS 2
//!   message is delivered at the PUBREL it sends again.
//! * **One loop at a time.** `loop_forever`, `loop`, `loop_read`,
//!   `loop_write`, `loop_misc` and `loop_start` called while another thread
//!   runs a loop return `MQTT_ERR_INVAL` (Paho's answer to a second
//!   `loop_start`); Paho runs both, and callbacks on two threads at once.
//!   Called from a callback, on the loop's own thread, they run nested.
//! * **`socket()` hands the socket over.** Unless one of the client's own
//!   loops has read from the connection, [`Client::socket`](crate::Client::socket)
//!   makes the socket non-blocking and leaves its bytes to the caller's event
//!   loop, so `select`/`poll` readiness is exact (Paho's 01-asyncio
//!   scenario). The socket callbacks get no socket argument.
//!
//! ### 3.2 Connection state and reconnection
//!
//! * **Dead link after 1.5 × keepalive of silence, or a keepalive after an
//!   unanswered PINGREQ.** The link is declared dead (`MQTT_ERR_KEEPALIVE`)
//!   once nothing has arrived for 1.5 × keepalive, whatever the outgoing
//!   traffic (Paho: about 2 × keepalive plus its loop timeout), and once a
//!   keepalive has passed after a PINGREQ with no complete packet (its
//!   PINGRESP or any other) in return. Bytes of a packet still arriving do
//!   not answer a PINGREQ, so a broker that trickles a packet it never
//!   finishes is dead about two keepalives after its last complete packet.
//!   Paho 2.2 counts any byte as life and repeats the PINGREQ every
//!   keepalive (#914): such a broker is never declared dead, and its QoS 1/2
//!   messages wait for ever. The price here: one packet must finish
//!   arriving within a keepalive of the PINGREQ sent while it arrives (one
//!   to two keepalives in all), so pick a keepalive longer than your
//!   largest message takes to download.
//! * **`on_disconnect` once per lost connection.** Paho calls it twice when
//!   a PINGRESP is missing (#870, #246); here every connection is reported
//!   once.
//! * **`is_connected()` turns false at once** when the connection ends,
//!   whatever the cause (Paho lags after a server DISCONNECT, a protocol
//!   error, and inside `on_disconnect`, #840).
//! * **A connection broken before CONNACK is a failed connect** under
//!   automatic reconnection (`loop_forever`, `loop_start`): reset or end of
//!   stream before CONNACK gives `on_socket_close`, then `on_connect_fail`,
//!   then the backoff wait, as a refused TCP connect does (Paho reports it
//!   through `on_disconnect`). Manual loops keep Paho's `on_disconnect`.
//! * **One deadline for the whole connect.** The TCP connect (every address
//!   tried), the proxy negotiation, the TLS handshake and the WebSocket
//!   upgrade together end within `connect_timeout`, counted from the start;
//!   every read and write of theirs waits only the time left, so a peer
//!   that answers one byte at a time cannot stretch it (Paho bounds each
//!   step, and each read of a handshake, on its own: a ServerHello dripped
//!   one byte a second blocks its `connect()` for as long as the peer
//!   likes). The error says which step ran out of time.
//! * **`disconnect()` and `loop_stop()` abandon a connect in progress.**
//!   The connect's socket is shut down from the calling thread, so
//!   `disconnect()` returns at once, a blocking `connect()` on another
//!   thread returns `MQTT_ERR_NO_CONN` at once, and `loop_stop()` does not
//!   wait for the `loop_start` thread's connect to finish or time out (Paho
//!   waits for it). An abandoned connect is no failure: no
//!   `on_connect_fail`.
//! * **Keepalive 0 still bounds the wait for CONNACK**, by
//!   `connect_timeout`: a broker that accepts the connection and never
//!   answers the CONNECT is given up on as a missing CONNACK is with a
//!   keepalive (`on_disconnect` with `MQTT_ERR_KEEPALIVE`, then the
//!   reconnect). Paho with keepalive 0 waits for ever. With a keepalive, the
//!   keepalive bounds it, as in Paho.
//! * **Every failure names its layer**: "DNS lookup of H failed", "TCP
//!   connect to A failed", "proxy: ...", "TLS handshake failed: ...",
//!   "WebSocket handshake error: ...", in the error and in an `on_log` line.
//! * **Options Paho lacks** (all off by default, so behaviour is Paho's
//!   until you turn them on):
//!   [`Client::reconnect_jitter_set`](crate::Client::reconnect_jitter_set)
//!   randomises each wait ([`session::Jitter`](crate::session::Jitter)), so
//!   many clients do not return to a restarted broker at the same instant;
//!   [`Client::reconnect_reset_after_set`](crate::Client::reconnect_reset_after_set)
//!   starts the delay over only after a connection stayed up for a while,
//!   so a broker that accepts and drops at once cannot cause a tight loop;
//!   [`Client::auto_resubscribe_set`](crate::Client::auto_resubscribe_set)
//!   remembers subscriptions and asks again after a CONNACK without a
//!   session (Paho #375, #682: subscriptions vanish after a broker restart).
//! * **Failover** (Paho Python has none; Paho C has `serverURIs`, Paho Java
//!   `setServerURIs`):
//!   [`Client::failover_set`](crate::Client::failover_set)`(&[`[`Server`](crate::Server)`::tcp("b", 1883), ...], `[`FailoverOrder`](crate::FailoverOrder)`::InOrder)`
//!   adds brokers after the one `connect(host, port, ...)` names (so the
//!   ported `connect` line stays as it is; Paho C's and Java's list
//!   replaces the URI their constructor takes, Paho Python's constructor
//!   takes none). A failed attempt moves to the next broker at once; the
//!   reconnect delay is waited once per round of all of them. `on_connect`
//!   keeps Paho's arguments: [`Client::connected_server`](crate::Client::connected_server)
//!   says which broker answered (also an `on_log` line, "Connected to
//!   tcp://host:port"). [`Server::parse`](crate::Server::parse) reads Paho
//!   C's URIs (`tcp://`, `ssl://`, `ws://`, `wss://`).
//!   [`Client::follow_server_reference_set`](crate::Client::follow_server_reference_set)
//!   follows an MQTT 5 Server Reference (CONNACK or DISCONNECT 0x9C/0x9D),
//!   which Paho only hands to the callback. A broker that accepts the
//!   connection but never completes its CONNACK (or drips it a byte a
//!   second) holds the round for the CONNACK wait: the keepalive, or
//!   `connect_timeout` with keepalive 0, counted from when the connection
//!   opened, however many bytes arrive. It ends as in Paho, with
//!   `on_disconnect` `MQTT_ERR_KEEPALIVE` ("Keep alive timeout"), not
//!   `on_connect_fail`; then the round's next broker is tried at once and
//!   gets the queued messages.
//!   The blocking `connect()` does not wait for CONNACK, so on such a
//!   broker it returns `MQTT_ERR_SUCCESS` at once, with `connected_server()`
//!   naming it, and the loop moves on later (Paho C's `MQTTClient_connect`
//!   waits for each CONNACK, up to `connectTimeout`, before the next URI).
//! * **Counters**: [`Client::stats`](crate::Client::stats) (Paho has none):
//!   connects, disconnects by reason, messages and bytes by QoS both ways,
//!   re-sent, refused, dropped, queued, in flight, the broker and the time
//!   of the last CONNACK.
//!
//! ### 3.3 Messages
//!
//! * **No QoS 1/2 message before the CONNACK, and the backlog first.**
//!   Paho sends a QoS 1/2 message as soon as the socket is open, before the
//!   CONNACK has said how many the broker takes in flight, and re-sends its
//!   stored messages only after `on_connect`, so newer messages overtake
//!   them (#910). Here QoS 1/2 messages published between CONNECT and
//!   CONNACK are stored, and after the CONNACK the stored messages go first,
//!   in publish order, then the newer ones; a message published in
//!   `on_connect` follows the backlog (Paho sends it before). Without a
//!   backlog a message from `on_connect` goes at once, as in Paho, so
//!   "publish retained, then subscribe" keeps its order. The re-send still
//!   waits for `on_connect` to return, so `drop_out_messages()` there keeps
//!   the old messages from going out. QoS 0 goes at once, before the CONNACK
//!   too, as in Paho (a script with no loop relies on it). SUBSCRIBE and
//!   UNSUBSCRIBE wait for the CONNACK, whose limits they must meet; the
//!   call still returns `(MQTT_ERR_SUCCESS, mid)` at once.
//! * **Re-sends respect the window.** After a reconnect, stored messages go
//!   out within the in-flight window (`max_inflight_messages`, narrowed by
//!   the new CONNACK's Receive Maximum), oldest first, PUBRELs included;
//!   the rest follow as acknowledgements free slots (Paho re-sends
//!   everything at once, #492, PR #698, which can overwhelm a broker:
//!   Mosquitto answers what exceeds its limit with "quota exceeded" or
//!   drops it).
//! * **Every message ends with an outcome.**
//!   [`MessageInfo::outcome`](crate::MessageInfo::outcome) says `Published`
//!   or why not ([`Outcome`](crate::Outcome): `QueueFull`, `NotConnected`,
//!   `TooLarge`, `NotSupported`, `Refused`, `ConnectionLost`,
//!   `Reinitialised`, `Dropped`), and `wait_for_publish` errors say why.
//!   `reinitialise()` and `drop_out_messages()` fail the messages they
//!   remove (Paho leaves them unpublished forever).
//! * **A broker's refusal is a failure.** An MQTT 5 PUBACK, PUBREC or
//!   PUBCOMP whose reason code is 0x80 or more (0x87 Not authorized, 0x97
//!   Quota exceeded, 0x92 Packet identifier not found, ...) ends the message
//!   with [`Outcome::Refused`](crate::Outcome::Refused) carrying that reason:
//!   `wait_for_publish()` and `is_published()` return an error naming it.
//!   Paho counts such a message as published (its `wait_for_publish`
//!   returns, `is_published()` is `True`); what stays as in Paho is `rc()`
//!   (`MQTT_ERR_SUCCESS`: the publish call succeeded) and `on_publish`,
//!   which receives the reason code. A failed PUBREC gets no PUBREL
//!   (MQTT 5 §4.3.3; Paho sends one and waits for a PUBCOMP).
//! * **QoS 1/2 messages stored while offline can be waited for.** Paho
//!   returns `MQTT_ERR_NO_CONN` for them yet delivers them after the next
//!   CONNACK, and its `wait_for_publish()` raises at once. Here `rc()` is
//!   still `MQTT_ERR_NO_CONN` (as Paho), but `wait_for_publish` and
//!   `is_published` wait for the delivery.
//! * **The broker's MQTT 5 limits are respected** (Paho enforces none of
//!   the CONNACK limits; a broker then disconnects, and after the reconnect
//!   Paho sends the same stored message again, for ever). Each limit holds
//!   for the connection whose CONNACK announced it
//!   ([`Client::broker_limits`](crate::Client::broker_limits) reads them,
//!   the Assigned Client Identifier among them); nothing it forbids is sent:
//!   * Receive Maximum narrows the in-flight window (above).
//!   * Maximum Packet Size: a larger `publish`, `subscribe` or
//!     `unsubscribe` returns `MQTT_ERR_PAYLOAD_SIZE`.
//!   * Maximum QoS, Retain Available 0, a topic alias above Topic Alias
//!     Maximum (or an alias with an empty topic that is not set on this
//!     connection), Wildcard, Shared Subscription or Subscription
//!     Identifiers Available 0: the call returns `MQTT_ERR_NOT_SUPPORTED`
//!     (`subscribe`/`unsubscribe` with no mid).
//!   * A QoS 1/2 message stored before the CONNACK that announced the
//!     limit (published offline, or before a reconnect to a broker with
//!     smaller limits) is checked when its turn comes and, if forbidden,
//!     never sent: `on_publish` receives the DISCONNECT reason a broker
//!     gives for it (0x95 Packet too large, 0x9B QoS not supported, 0x9A
//!     Retain not supported, 0x94 Topic alias invalid) and its outcome is
//!     `TooLarge` or `NotSupported`. A SUBSCRIBE asked for before the
//!     CONNACK and forbidden by it gets an `on_subscribe` with failure
//!     reason codes; automatic resubscribe drops a filter the new broker
//!     forbids.
//!   * Every refusal writes one `on_log` line at `WARNING` naming the limit.
//!
//! * **Limits of our own, enforced** (Paho announces what it is given and
//!   enforces nothing):
//!   * The largest packet the client accepts, 16 MiB by default
//!     ([`Client::max_inbound_packet_size_set`](crate::Client::max_inbound_packet_size_set)),
//!     at every protocol level. An MQTT 5 CONNECT announces it as Maximum
//!     Packet Size: unlike Paho's, every v5 CONNECT carries that property
//!     (`27 01 00 00 00` unless set), so its bytes differ from Paho's. A
//!     `MaximumPacketSize` the application puts in the CONNECT properties
//!     is announced and enforced instead. A larger incoming packet closes
//!     the connection as soon as its fixed header arrives, its body never
//!     held: MQTT 5 with DISCONNECT 0x95 (Packet too large), MQTT 3 without
//!     a word. Paho takes up to MQTT's 256 MiB.
//!   * Our MQTT 5 Receive Maximum (a `ReceiveMaximum` CONNECT property; else
//!     65,535): a broker with more QoS 1/2 messages unacknowledged at once
//!     gets DISCONNECT 0x93 (Receive Maximum exceeded) and the connection
//!     closes (MQTT 5 §3.3.4).
//!   * The DISCONNECT carries a Reason String saying what happened, as for
//!     a protocol error (below). `on_disconnect` receives the reason code
//!     (0x93, 0x95, 0x97) at every level, with `MQTT_ERR_PROTOCOL` (0x97:
//!     `MQTT_ERR_QUEUE_SIZE`).
//! * **Bounded memory.** One [`MemoryBudget`](crate::MemoryBudget) per
//!   client, in bytes
//!   ([`Client::memory_budget_set`](crate::Client::memory_budget_set)),
//!   bounds what a broker can make it hold; Paho grows without limit (a
//!   broker that sends PINGREQs and never reads took it to gigabytes). At
//!   each budget:
//!   * `transmit` (16 MiB), the bytes not yet written: the client stops
//!     reading the socket until half has been written (TCP slows the
//!     broker down), and a QoS 0 `publish`, a `subscribe` or an
//!     `unsubscribe` returns `MQTT_ERR_QUEUE_SIZE` (Paho queues them all
//!     and returns success). The buffer gives its memory back after a
//!     spike (Paho's keeps its largest size).
//!   * `events` (64 MiB, and 8,192 events), the messages not yet handed to
//!     `on_message`: the client stops reading until half is delivered.
//!   * `inbound_qos2` (64 MiB), received QoS 2 messages waiting for the
//!     PUBREL: the connection closes, MQTT 5 with DISCONNECT 0x97 (Quota
//!     exceeded).
//!   * `store` (256 MiB), the QoS 1/2 messages queued or in flight: a
//!     `publish` returns `MQTT_ERR_QUEUE_SIZE` (outcome `QueueFull`), as at
//!     `max_queued_messages`, which still counts messages as in Paho.
//! * **Backpressure: `publish_wait` (our extension).** Paho's `publish`
//!   returns `MQTT_ERR_QUEUE_SIZE` when the store is full (all 65,535 ids
//!   held, `max_queued_messages`, or the `store` budget), and so does ours;
//!   [`Client::publish_wait`](crate::Client::publish_wait) waits for room
//!   instead, up to its timeout, then `Err(Error::QueueFull(reason))` with
//!   nothing queued. It holds no lock while it waits; from a callback (the
//!   loop's thread) it returns an `Error::Runtime` at once instead of
//!   waiting for acknowledgements only that loop could read, as
//!   `wait_for_publish` does there; `disconnect()`, `loop_stop()` or
//!   `reinitialise()` wakes it with an error. A Paho program that loops on
//!   `MQTT_ERR_QUEUE_SIZE` with a sleep ports to one call.
//! * **Drain before disconnecting (our extension).**
//!   [`Client::disconnect_drain`](crate::Client::disconnect_drain)`(timeout)`
//!   waits until the broker has acknowledged every stored QoS 1/2 message,
//!   then disconnects as `disconnect()`, and returns how many were left
//!   ([`Drained`](crate::Drained)). Paho's `disconnect()` (and
//!   `mosquitto_pub -l`) leaves what is queued unsent. From a callback it
//!   cannot wait: with messages left it errs and does not disconnect.
//!   Without a connection and with no loop running it returns at once,
//!   every message left.
//! * **Offline queue limits (our extension).** At `max_queued_messages` or
//!   the `store` budget, [`QueueFullPolicy::DropOldest`](crate::QueueFullPolicy::DropOldest)
//!   drops the oldest message never sent (never one in flight or sent on an
//!   earlier connection) instead of refusing the new one; the dropped
//!   message's `MessageInfo` ends [`Outcome::Evicted`](crate::Outcome::Evicted)
//!   (`rc` `MQTT_ERR_QUEUE_SIZE`) and gets no `on_publish`, which in Paho
//!   means delivered (Paho never drops). Refusing stays the default. With
//!   [`Client::queue_qos0_offline_set`](crate::Client::queue_qos0_offline_set)`(true)`
//!   QoS 0 messages published offline are queued and written after the
//!   next CONNACK (Paho drops them with `MQTT_ERR_NO_CONN`, still the
//!   default).
//! * **Persistence on disk, opt-in.** Paho Python keeps its message store
//!   in memory only: a crashed process loses what it had not delivered.
//!   [`Client::persistence_set`](crate::Client::persistence_set)`(dir,
//!   Durability)` keeps it in a directory, like Paho C's file persistence
//!   (`MQTTCLIENT_PERSISTENCE_DEFAULT`) but as one checksummed log per
//!   client (not a file per message), fsynced per write batch or every N ms
//!   ([`Durability`](crate::Durability)), locked against a second client;
//!   with the same directory, client id and `clean_session=False`, a
//!   restarted process re-sends what was left (PUBLISH with DUP, or PUBREL)
//!   before anything new, and inbound QoS 2 messages received and not yet
//!   acknowledged are delivered at the broker's PUBREL. Unlike Paho C, a
//!   clean session does not empty the directory: the messages are sent
//!   again as new (this crate's rule for its in-memory store too), and
//!   [`Client::persisted_publishes`](crate::Client::persisted_publishes)
//!   says how many were ever stored, for a producer to resume from.
//! * **Message ids skip ids still in use.** A QoS 1/2 publish whose next id
//!   is held by a stored message takes the next free one (Paho refuses it
//!   with `MQTT_ERR_QUEUE_SIZE`); QoS 0 ids skip them too, so a
//!   `MessageInfo` is never orphaned.
//! * **Invalid UTF-8 topics close the connection.** A received PUBLISH whose
//!   topic is not valid UTF-8 is a malformed packet (MQTT requires UTF-8):
//!   the connection closes with `MQTT_ERR_PROTOCOL` (Paho delivers it to
//!   `on_message`, where reading `message.topic` raises
//!   `UnicodeDecodeError`).
//! * **An MQTT 5 protocol error is told to the broker.** When the broker
//!   breaks the protocol (a malformed packet, a packet it may not send, a
//!   bad topic alias, a packet over the client's Maximum Packet Size), an
//!   MQTT 5 client writes DISCONNECT with the reason (§4.13: 0x81 Malformed
//!   Packet, 0x82 Protocol Error, 0x94 Topic Alias invalid, 0x95 Packet too
//!   large) and a Reason String, as far as the socket takes it at once,
//!   then closes; `on_disconnect` still gets `MQTT_ERR_PROTOCOL` (with the
//!   reason code 0x95 for a packet too large, a limit of the client's own,
//!   below). Paho just
//!   closes. MQTT 3.1.1 has no such DISCONNECT: it just closes, as Paho.
//!   Acks the application gives in `on_message` for messages received just
//!   before the error are left out (nothing follows a DISCONNECT).
//! * **Nothing is written after DISCONNECT** (MQTT 3.1.1 and 5.0 §3.14.4):
//!   acks, pings and publishes queued after the client's DISCONNECT are left
//!   out (QoS 0 messages fail, QoS 1/2 stay stored). A `disconnect()` from
//!   `on_message` used to send the message's PUBACK after it.
//! * **`unsubscribe` of an empty list is refused** with Paho's "No topic
//!   specified, or incorrect topic type." (Paho sends an UNSUBSCRIBE with no
//!   filter, which MQTT forbids).
//! * **MQTT 5 arguments with MQTT 3**: `disconnect_with`, `publish_with` and
//!   `subscribe_with` drop reason codes and properties before MQTT 5, as
//!   Paho does.
//! * **A message whose `on_message` panicked is delivered again.** It is
//!   not acknowledged (the panic closes the connection), so a broker that
//!   keeps the session sends a QoS 1 message again, and a QoS 2 message
//!   waits for the PUBREL the broker sends again, which delivers it (Paho
//!   forgets it and answers that PUBREL with PUBCOMP). With
//!   `set_suppress_exceptions(true)` the panic counts as handled and the
//!   message is acknowledged, as in Paho.
//! * **CONNECT fields over 65,535 bytes are refused where they are set**:
//!   the client id (constructor, `reinitialise`: "Client id is too long."),
//!   `username_pw_set` ("Username is too long.", "Password is too long.")
//!   and `will_set` (Paho's "Publish topic is too long." and "Payload too
//!   large."). Paho accepts them, and its `connect()` then fails on the
//!   field's two-byte length.
//! * An invalid subscription filter's error names it: `Invalid subscription
//!   filter: "a/#/b".` (Paho: `Invalid subscription filter.`, whichever
//!   filter of a list it was); the filter is also the field of
//!   [`Error::InvalidSubscriptionFilter`](crate::Error::InvalidSubscriptionFilter).
//!
//! ### 3.4 The helpers
//!
//! * [`helpers::publish::multiple`](crate::helpers::publish::multiple)
//!   checks every message before connecting, so a bad one means nothing is
//!   published (Paho raises when its turn comes, after publishing the ones
//!   before it). After a reconnect the message in flight stays the only one
//!   until it is complete (Paho's `on_connect` also publishes the next, so it
//!   may disconnect with one unacknowledged). A refused connection is
//!   closed before the error returns (Paho leaves the socket to the garbage
//!   collector).
//! * [`helpers::subscribe::callback`](crate::helpers::subscribe::callback)
//!   and [`simple`](crate::helpers::subscribe::simple) ignore
//!   `clean_session` with MQTT 5 (Paho's `callback` then fails with "Clean
//!   session is not used for MQTT 5.0"); topics are checked before
//!   connecting; `simple` always returns a `Vec` and acknowledges the last
//!   message too; nothing is sent after their DISCONNECT.
//! * The four helpers share one options struct,
//!   [`helpers::Options`](crate::helpers::Options), so the publish helpers
//!   have a `clean_session` field too (Paho's publish helpers have no such
//!   argument; the default, true, is the client default they use).
//! * [`helpers::publish`](crate::helpers::publish) disconnects through
//!   `disconnect_drain` (which, the messages going one at a time, finds
//!   nothing left to wait for).
//!
//! ### 3.5 TLS, WebSockets, proxies
//!
//! * **Two TLS engines, chosen per client.** Paho's TLS is OpenSSL's. Here
//!   the default is rustls (feature `tls`; `tls-aws-lc-rs` for the aws-lc-rs
//!   provider, `rustls` for one the program installs), and OpenSSL's rules
//!   are the native engine (feature `native-tls`: native-tls, which is
//!   OpenSSL on Linux, SChannel on Windows, Security.framework on Apple
//!   systems). A client picks one in the options it gives `tls_set`:
//!
//!   ```no_run
//!   # #[cfg(feature = "native-tls")] {
//!   use mqtt_tether::transport::tls::{TlsEngine, TlsOptions};
//!   # let client = mqtt_tether::Client::new(mqtt_tether::CallbackAPIVersion::VERSION2)?;
//!   client.tls_set(TlsOptions {
//!       ca_certs: Some("ca.crt".into()),
//!       certfile: Some("client.crt".into()),
//!       keyfile: Some("client.key".into()),
//!       keyfile_password: Some("secret".into()),
//!       engine: TlsEngine::Native,
//!       ..TlsOptions::default()
//!   })?;
//!   # }
//!   # Ok::<(), mqtt_tether::Error>(())
//!   ```
//!
//!   With both compiled in, other clients of the same program stay on
//!   rustls; an engine that is not compiled in is an error of `tls_set`
//!   naming its feature.
//! * **rustls is stricter than OpenSSL.** It refuses X.509 version 1
//!   certificates and host names that are only in the subject CN, which is
//!   what `openssl x509 -req` without an extension file makes, and so what
//!   the commands of Mosquitto's TLS guide (`man mosquitto-tls`) make. Paho
//!   accepts them. The rustls error says so in one line and names both ways
//!   out: reissue the certificate as version 3 with a subjectAltName
//!   (`-extfile` with `subjectAltName=DNS:<host>`), or use the native
//!   engine.
//! * **Keys.** rustls reads PEM keys in PKCS#8, PKCS#1 or SEC1, not
//!   encrypted. The native engine on OpenSSL reads whatever OpenSSL reads,
//!   encrypted ones with `keyfile_password`; without the password it fails
//!   (Paho lets OpenSSL prompt on the terminal). Elsewhere it takes
//!   unencrypted PKCS#8 only.
//! * **Trust and the hostname check.** `ca_certs` unset means the system's
//!   trust store; set, it replaces the store, in both engines.
//!   [`Client::tls_insecure_set`](crate::Client::tls_insecure_set) turns the
//!   hostname check off for `tls_set` configurations only: a configuration
//!   given to [`Client::tls_set_context`](crate::Client::tls_set_context)
//!   (rustls only) keeps the verifier the caller built (Paho flips
//!   `check_hostname` on the caller's context, and takes `insecure` from
//!   it).
//! * **WebSockets through tungstenite** (feature `websocket`): each batch of
//!   MQTT bytes is one binary frame; PINGs are answered, text frames
//!   ignored, CLOSE ends the connection.
//! * **Proxies are built in** (SOCKS4/4a, SOCKS5, HTTP CONNECT), with no
//!   PySocks dependency; the `mqtt_proxy` environment fallback is kept.
//!   Paho reads only the host and port of `mqtt_proxy` (urllib's parser,
//!   schemes `http` and `socks`); here
//!   [`ProxySettings::parse_url`](crate::transport::proxy::ProxySettings::parse_url)
//!   also takes `socks4`/`socks5` and the `user:password@` part
//!   (percent-decoded: `p%40ss` is `p@ss`), and a URL with a path, a host
//!   that is no name or address, or a bad port is not half-read: the
//!   variable is ignored and the log says why.
//!
//! ## 4. A complete program, side by side
//!
//! Paho's "getting started" publisher (from its README): publish two QoS 1
//! messages, track the unacknowledged ones in `userdata`, wait for both,
//! then disconnect.
//!
//! ```python
//! import time
//! import paho.mqtt.client as mqtt
//!
//! def on_publish(client, userdata, mid, reason_code, properties):
//!     # reason_code and properties will only be present in MQTTv5. It's always unset in MQTTv3
//!     try:
//!         userdata.remove(mid)
//!     except KeyError:
//!         print("on_publish() is called with a mid not present in unacked_publish")
//!         print("This is due to an unavoidable race-condition:")
//!         print("* publish() return the mid of the message sent.")
//!         print("* mid from publish() is added to unacked_publish by the main thread")
//!         print("* on_publish() is called by the loop_start thread")
//!         print("While unlikely (because on_publish() will be called after a network round-trip),")
//!         print(" this is a race-condition that COULD happen")
//!         print("")
//!         print("The best solution to avoid race-condition is using the msg_info from publish()")
//!         print("We could also try using a list of acknowledged mid rather than removing from pending list,")
//!         print("but remember that mid could be re-used !")
//!
//! unacked_publish = set()
//! mqttc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
//! mqttc.on_publish = on_publish
//!
//! mqttc.user_data_set(unacked_publish)
//! mqttc.connect("mqtt.eclipseprojects.io")
//! mqttc.loop_start()
//!
//! # Our application produce some messages
//! msg_info = mqttc.publish("paho/test/topic", "my message", qos=1)
//! unacked_publish.add(msg_info.mid)
//!
//! msg_info2 = mqttc.publish("paho/test/topic", "my message2", qos=1)
//! unacked_publish.add(msg_info2.mid)
//!
//! # Wait for all message to be published
//! while len(unacked_publish):
//!     time.sleep(0.1)
//!
//! # Due to race-condition described above, the following way to wait for all publish is safer
//! msg_info.wait_for_publish()
//! msg_info2.wait_for_publish()
//!
//! mqttc.disconnect()
//! mqttc.loop_stop()
//! ```
//!
//! The port. The `set` becomes a `Mutex<HashSet<u16>>` in a
//! [`UserData`](crate::UserData), which the main thread reads back with
//! [`Client::user_data_get`](crate::Client::user_data_get) (the same value,
//! shared); keyword arguments become positional ones or
//! `ConnectOptions::default()`; exceptions become `?`.
//!
//! ```rust,no_run
//! use std::collections::HashSet;
//! use std::sync::Mutex;
//! use std::thread::sleep;
//! use std::time::Duration;
//!
//! use mqtt_tether::{CallbackAPIVersion, Client, ConnectOptions};
//!
//! type Unacked = Mutex<HashSet<u16>>;
//!
//! fn main() -> Result<(), mqtt_tether::Error> {
//!     let mqttc = Client::new(CallbackAPIVersion::VERSION2)?;
//!     mqttc.on_publish(|_client, userdata, mid, _reason_code, _properties| {
//!         // reason_code and properties are only meaningful with MQTT 5.
//!         let unacked = userdata.get::<Unacked>().expect("set by user_data_set");
//!         if !unacked.lock().unwrap().remove(&mid) {
//!             // The same race as in Paho: on_publish runs on the loop thread
//!             // and may come before the main thread has added the mid.
//!             println!("on_publish() is called with a mid not present in unacked_publish");
//!         }
//!     });
//!
//!     mqttc.user_data_set(mqtt_tether::UserData::new(Unacked::default()));
//!     // connect(host) with Paho's defaults: port 1883, keepalive 60.
//!     mqttc.connect_with("mqtt.eclipseprojects.io", ConnectOptions::default())?;
//!     mqttc.loop_start();
//!
//!     let userdata = mqttc.user_data_get();
//!     let unacked_publish = userdata.get::<Unacked>().expect("set above");
//!
//!     // Our application produces some messages.
//!     let msg_info = mqttc.publish("paho/test/topic", "my message", 1, false)?;
//!     unacked_publish.lock().unwrap().insert(msg_info.mid());
//!
//!     let msg_info2 = mqttc.publish("paho/test/topic", "my message2", 1, false)?;
//!     unacked_publish.lock().unwrap().insert(msg_info2.mid());
//!
//!     // Wait for all messages to be published.
//!     while !unacked_publish.lock().unwrap().is_empty() {
//!         sleep(Duration::from_millis(100));
//!     }
//!
//!     // Because of the race described above, this way to wait is safer.
//!     msg_info.wait_for_publish(None)?;
//!     msg_info2.wait_for_publish(None)?;
//!
//!     mqttc.disconnect();
//!     mqttc.loop_stop();
//!     Ok(())
//! }
//! ```
//!
//! What changed, line by line: `mqtt.Client(...)` returns a `Result`
//! (`?`); `mqttc.on_publish = f` is a method call with a closure;
//! `user_data_set` takes a [`UserData`](crate::UserData);
//! `connect(host)` with no further arguments is
//! [`connect_with`](crate::Client::connect_with) and the default options
//! (or `connect(host, 1883, 60)`); `qos=1` is the third positional argument
//! and `retain` must be given; `msg_info.mid` is a method;
//! `wait_for_publish()` takes an optional timeout and returns a `Result`.
//! The behaviour is Paho's: if the connection drops while the program
//! waits, the loop thread reconnects and re-sends the two messages (within
//! the in-flight window, [§3.3](#33-messages)), and `wait_for_publish`
//! keeps waiting for them. Unlike Paho, a `publish` made while the client
//! is offline can also be waited for.

// Some links point at items of the TLS and `websocket` features; every
// link is checked by the all-features build (`cargo doc --all-features`).
#![cfg_attr(
    not(all(feature = "rustls", feature = "native-tls", feature = "websocket")),
    allow(rustdoc::broken_intra_doc_links)
)]
