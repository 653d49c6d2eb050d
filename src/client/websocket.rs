//! Paho's `ws_set_options` (feature `websocket`).

use crate::client::Client;
use crate::transport::websocket::{WsHeaders, WsOptions};

impl Client {
    /// `ws_set_options(path="/mqtt", headers=None)`: the request path and
    /// the upgrade headers used by the websockets transport from the next
    /// connection on. `headers` merges into Paho's default headers, or is a
    /// function given the defaults that returns the headers to send.
    pub fn ws_set_options(&self, path: &str, headers: WsHeaders) {
        self.driver.core().transport.websocket = WsOptions {
            path: path.to_string(),
            headers,
        };
    }
}
