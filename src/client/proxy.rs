//! Paho's `proxy_set`.

use crate::client::Client;
use crate::error::{Error, ValueReason};
use crate::transport::proxy::ProxySettings;

impl Client {
    /// `proxy_set(proxy_type, proxy_addr, proxy_port, proxy_rdns,
    /// proxy_username, proxy_password)`: reach the broker through a SOCKS4,
    /// SOCKS5 or HTTP CONNECT proxy from the next connection on. Without
    /// it, the `mqtt_proxy` environment variable is used (minus the hosts
    /// `no_proxy` names), as in Paho.
    pub fn proxy_set(&self, settings: ProxySettings) -> Result<(), Error> {
        if settings.proxy_addr.is_empty() {
            return Err(Error::Value(ValueReason::InvalidProxy));
        }
        self.driver.core().transport.proxy = Some(settings);
        Ok(())
    }
}
