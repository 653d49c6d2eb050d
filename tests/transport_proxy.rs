//! Reaching Mosquitto through proxies: SOCKS5 (with and without
//! credentials, names resolved by the proxy or here), SOCKS4a, HTTP CONNECT
//! with Basic credentials, a URL with an escaped password, and a refusing
//! proxy (reported with "proxy", retried with backoff).
#![cfg(feature = "testing")]

mod common;

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::clients::fast_reconnecting_client as client;
use mqtt_tether::testing::{Mosquitto, MosquittoConfig, ProxyKind, ProxyRequest, TestProxy};
use mqtt_tether::transport::proxy::{ProxySettings, ProxyType};

const WAIT: Duration = Duration::from_secs(10);

/// Connects through `settings`, makes a QoS 1 round trip, disconnects.
fn round_trip_through(settings: ProxySettings, host: &str, port: u16) {
    let c = client("via-proxy");
    c.proxy_set(settings).unwrap();
    let (tx, rx) = mpsc::channel();
    c.on_message(move |_, _, m| tx.send(m.payload.clone()).unwrap());
    let (stx, srx) = mpsc::channel();
    c.on_subscribe(move |_, _, _, _, _| stx.send(()).unwrap());
    assert_eq!(
        c.connect(host, port, 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let _ = c.subscribe("proxy/t", 1).unwrap();
    srx.recv_timeout(WAIT).unwrap();
    c.publish("proxy/t", "through", 1, false)
        .unwrap()
        .wait_for_publish(Some(WAIT))
        .unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), b"through");
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

fn settings(kind: ProxyType, proxy: &TestProxy) -> ProxySettings {
    ProxySettings {
        proxy_port: Some(proxy.port()),
        ..ProxySettings::new(kind, "127.0.0.1")
    }
}

fn granted(proxy: &TestProxy, destination: &str, port: u16) {
    assert_eq!(
        proxy.requests(),
        [ProxyRequest {
            destination: destination.into(),
            port,
            granted: true
        }]
    );
}

#[test]
fn socks5_with_remote_names_and_credentials() {
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let proxy = TestProxy::start(ProxyKind::Socks5 {
        credentials: Some(("user".into(), "secret".into())),
    })
    .unwrap();
    round_trip_through(
        ProxySettings {
            proxy_username: Some("user".into()),
            proxy_password: Some("secret".into()),
            ..settings(ProxyType::Socks5, &proxy)
        },
        "localhost",
        m.port(),
    );
    granted(&proxy, "localhost", m.port());
}

/// The name is resolved here, so the proxy is asked for the address
/// `localhost` resolves to first: `::1` on stock Debian, where Mosquitto
/// then listens on `::1` too.
#[test]
fn socks5_with_names_resolved_here() {
    let host = "localhost";
    let first = |port| -> std::net::IpAddr {
        std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
            .unwrap()
            .next()
            .unwrap()
            .ip()
    };
    let config = MosquittoConfig::default().ipv6_loopback(first(0).is_ipv6());
    let Some(m) = Mosquitto::start_or_skip(config) else {
        return;
    };
    let proxy = TestProxy::start(ProxyKind::Socks5 { credentials: None }).unwrap();
    round_trip_through(
        ProxySettings {
            proxy_rdns: false,
            ..settings(ProxyType::Socks5, &proxy)
        },
        host,
        m.port(),
    );
    granted(&proxy, &first(m.port()).to_string(), m.port());
}

#[test]
fn socks4a_and_http_connect_with_basic_credentials() {
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let socks4 = TestProxy::start(ProxyKind::Socks4).unwrap();
    round_trip_through(settings(ProxyType::Socks4, &socks4), "localhost", m.port());
    granted(&socks4, "localhost", m.port());

    let http = TestProxy::start(ProxyKind::HttpConnect {
        credentials: Some(("alice".into(), "pa:ss".into())),
    })
    .unwrap();
    round_trip_through(
        ProxySettings {
            proxy_username: Some("alice".into()),
            proxy_password: Some("pa:ss".into()),
            ..settings(ProxyType::Http, &http)
        },
        "localhost",
        m.port(),
    );
    granted(&http, "localhost", m.port());
}

/// A password with `@`, `:` and `/` can only be written escaped in a proxy
/// URL: the proxy gets it decoded, over HTTP Basic and SOCKS5 alike.
#[test]
fn an_escaped_password_in_a_proxy_url_reaches_the_proxy_decoded() {
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let credentials = Some(("alice".into(), "p@ss:w/rd".into()));
    for (scheme, kind) in [
        (
            "http",
            ProxyKind::HttpConnect {
                credentials: credentials.clone(),
            },
        ),
        ("socks5", ProxyKind::Socks5 { credentials }),
    ] {
        let proxy = TestProxy::start(kind).unwrap();
        let url = format!(
            "{scheme}://alice:p%40ss%3aw%2Frd@127.0.0.1:{}",
            proxy.port()
        );
        let settings = ProxySettings::parse_url(&url).unwrap();
        round_trip_through(settings, "localhost", m.port());
        granted(&proxy, "localhost", m.port());
    }
}

#[test]
fn a_refusing_proxy_is_reported_and_retried_with_backoff() {
    let Some(m) = Mosquitto::start_or_skip(MosquittoConfig::default()) else {
        return;
    };
    let proxy = TestProxy::start(ProxyKind::HttpConnect { credentials: None }).unwrap();
    proxy.set_refusing(true);
    let c = client("refused-by-proxy");
    c.proxy_set(settings(ProxyType::Http, &proxy)).unwrap();
    let err = c.connect("localhost", m.port(), 60).unwrap_err();
    assert!(err.to_string().starts_with("proxy: "), "{err}");
    assert!(err.to_string().contains("403"), "{err}");
    let fails = Arc::new(Mutex::new(0));
    let f = Arc::clone(&fails);
    c.on_connect_fail(move |_, _| *f.lock().unwrap() += 1);
    let (tx, rx) = mpsc::channel();
    c.on_connect(move |_, _, _, rc, _| tx.send(rc.value()).unwrap());
    assert_eq!(c.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let deadline = Instant::now() + WAIT;
    while *fails.lock().unwrap() < 2 {
        assert!(Instant::now() < deadline, "no retries");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The proxy relents: the next attempt connects.
    proxy.set_refusing(false);
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), 0);
    assert!(proxy.requests().iter().filter(|r| !r.granted).count() >= 3);
    let _ = c.disconnect();
    let _ = c.loop_stop();
}

#[test]
fn proxy_set_needs_an_address() {
    let c = client("bad-proxy");
    let err = c
        .proxy_set(ProxySettings::new(ProxyType::Socks5, ""))
        .unwrap_err();
    assert_eq!(err.to_string(), "proxy_type and/or proxy_addr are invalid.");
}
