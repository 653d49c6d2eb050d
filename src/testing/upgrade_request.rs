//! What a WebSocket server received as the upgrade request, for tests that
//! check what the client sent: the kit's `WsBridge` (feature `websocket`)
//! records them, and [`Amqtt::ws_requests`](super::Amqtt::ws_requests)
//! reads them from amqtt's log.

/// An upgrade request as a WebSocket server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The request path.
    pub path: String,
    /// The headers, in order, names as sent.
    pub headers: Vec<(String, String)>,
}

impl UpgradeRequest {
    /// The value of header `name` (compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
