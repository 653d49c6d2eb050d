//! Paho's fallback to the `mqtt_proxy` environment variable, and
//! `no_proxy`. Alone in its test binary: the environment is process-wide.
#![cfg(feature = "testing")]

use std::sync::mpsc;
use std::time::Duration;

use mqtt_tether::testing::{Mosquitto, MosquittoConfig, ProxyKind, TestProxy};
use mqtt_tether::{CallbackAPIVersion, Client};

const WAIT: Duration = Duration::from_secs(10);

fn connects(port: u16) {
    let c = Client::new(CallbackAPIVersion::VERSION2).unwrap();
    let (tx, rx) = mpsc::channel();
    c.on_connect(move |_, _, _, rc, _| tx.send(rc.value()).unwrap());
    assert_eq!(
        c.connect("localhost", port, 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), 0);
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

#[test]
fn mqtt_proxy_is_used_unless_no_proxy_names_the_host() {
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let proxy = TestProxy::start(ProxyKind::Socks5 { credentials: None }).unwrap();
    // SAFETY of the test: this binary has no other test, so nothing reads
    // the environment concurrently.
    std::env::set_var("mqtt_proxy", format!("socks://127.0.0.1:{}", proxy.port()));
    std::env::remove_var("no_proxy");
    std::env::remove_var("NO_PROXY");
    connects(m.port());
    assert_eq!(proxy.requests().len(), 1, "went through the proxy");
    std::env::set_var("no_proxy", "example.org,localhost");
    connects(m.port());
    assert_eq!(proxy.requests().len(), 1, "no_proxy bypasses it");
    std::env::remove_var("mqtt_proxy");
    std::env::remove_var("no_proxy");
}
