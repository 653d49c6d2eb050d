//! The clients the integration tests make: VERSION2 callbacks, Paho's
//! defaults otherwise.

use std::time::Duration;

use mqtt_tether::{CallbackAPIVersion, Client, ClientOptions};

/// A client with these options.
pub fn client_with(options: ClientOptions) -> Client {
    Client::with_options(CallbackAPIVersion::VERSION2, options).unwrap()
}

/// A client with this id.
pub fn client(id: &str) -> Client {
    client_with(ClientOptions {
        client_id: id.into(),
        ..ClientOptions::default()
    })
}

/// A client with this id that reconnects after 50 ms, doubling to 200 ms
/// (Paho's 1 s to 120 s would make fault tests slow).
pub fn fast_reconnecting_client(id: &str) -> Client {
    let c = client(id);
    c.reconnect_delay_set(Duration::from_millis(50), Duration::from_millis(200));
    c
}
