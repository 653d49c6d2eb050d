//! The helpers' `tls` argument against the real Mosquitto on a TLS
//! listener: Paho's dict form (`tls_set` arguments plus `insecure`) and its
//! `SSLContext` form (a rustls configuration). Skipped without Mosquitto
//! unless the environment requires it.
#![cfg(all(feature = "testing", feature = "rustls"))]

mod common;

use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use common::pki::Pki;
use mqtt_tether::helpers::{publish, subscribe, Auth, Tls};
use mqtt_tether::testing::{Mosquitto, MosquittoConfig};
use mqtt_tether::transport::tls::{crypto_provider, TlsOptions};
use mqtt_tether::{connack_string, Error, PahoErrorKind, ProtocolVersion};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

const WAIT: Duration = Duration::from_secs(10);

/// Runs a helper on its own thread and gives its result, bounded by WAIT.
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    within(WAIT, f)
}

/// Runs a helper on its own thread and gives its result, bounded by `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the helper did not return within {limit:?}"))
}

#[test]
fn tls_as_a_dict_with_insecure_and_as_a_context() {
    let pki = Pki::new();
    let mut config = MosquittoConfig::default();
    for line in pki.listener_lines() {
        config = config.line(line);
    }
    let Some(mosquitto) = Mosquitto::start_or_skip(config) else {
        return;
    };
    let port = mosquitto.port();
    let options = move |hostname: &str, tls: Tls| publish::Options {
        hostname: hostname.into(),
        port,
        tls: Some(tls),
        ..publish::Options::default()
    };
    let ca = TlsOptions {
        ca_certs: Some(pki.path("ca.pem")),
        ..TlsOptions::default()
    };

    // The dict form; the certificate names localhost.
    let o = options("localhost", Tls::from(ca.clone()));
    bounded(move || publish::single("tls/dict", "1", 1, true, &o)).unwrap();
    // Paho's shortest form, `tls={'ca_certs': ca}`.
    let o = options("localhost", Tls::ca_certs(pki.path("ca.pem")));
    bounded(move || publish::single("tls/brief", "1", 1, true, &o)).unwrap();

    // 127.0.0.1 is not the certificate's name: the handshake fails and,
    // as Paho lets connect() raise it, the error is returned at once.
    let o = options("127.0.0.1", Tls::from(ca.clone()));
    let err = bounded(move || publish::single("tls/dict", "x", 0, false, &o)).unwrap_err();
    assert_eq!(err.kind(), PahoErrorKind::OsError, "{err}");
    // ... unless the dict says insecure.
    let o = options(
        "127.0.0.1",
        Tls::Options {
            options: ca.clone(),
            insecure: true,
        },
    );
    bounded(move || publish::single("tls/insecure", "2", 1, true, &o)).unwrap();

    // The SSLContext form.
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let context = rustls::ClientConfig::builder_with_provider(crypto_provider().unwrap())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let context = Tls::from(Arc::new(context));
    let o = options("localhost", context.clone());
    bounded(move || publish::single("tls/context", "3", 1, true, &o)).unwrap();

    // And subscribe reads the four retained messages back over TLS.
    let o = subscribe::Options {
        hostname: "localhost".into(),
        port,
        tls: Some(context),
        ..subscribe::Options::default()
    };
    let messages = bounded(move || subscribe::simple(&["tls/#"], 1, 4, true, &o)).unwrap();
    let mut got: Vec<(String, Vec<u8>)> =
        messages.into_iter().map(|m| (m.topic, m.payload)).collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("tls/brief".to_string(), b"1".to_vec()),
            ("tls/context".to_string(), b"3".to_vec()),
            ("tls/dict".to_string(), b"1".to_vec()),
            ("tls/insecure".to_string(), b"2".to_vec()),
        ]
    );
}

/// Mosquitto's TLS listener refuses a wrong password with CONNACK 5 (135
/// for MQTT 5) and closes the TLS session at once: both helpers raise the
/// refusal, as over plain TCP, instead of retrying for ever.
#[test]
fn a_refusal_over_tls_is_raised_by_both_helpers() {
    let pki = Pki::new();
    let mut config = MosquittoConfig::default().user("alice", "secret");
    for line in pki.listener_lines() {
        config = config.line(line);
    }
    let Some(mosquitto) = Mosquitto::start_or_skip(config) else {
        return;
    };
    let tls = Tls::from(TlsOptions {
        ca_certs: Some(pki.path("ca.pem")),
        ..TlsOptions::default()
    });
    // The deadline is the behaviour: a refusal ends the call at once.
    let limit = Duration::from_secs(2);
    let check = |err: Error, what: &str| {
        assert_eq!(err.kind(), PahoErrorKind::MqttException, "{what}: {err}");
        let Error::ConnectionRefused(rc) = &err else {
            panic!("{what}: {err:?}");
        };
        assert_eq!(rc.value(), 135, "{what}");
        assert_eq!(err.to_string(), "Not authorized", "{what}");
        assert_eq!(err.to_string(), connack_string(*rc), "{what}");
    };
    for protocol in [ProtocolVersion::MQTTv311, ProtocolVersion::MQTTv5] {
        let o = publish::Options {
            hostname: "localhost".into(),
            port: mosquitto.port(),
            protocol,
            auth: Some(Auth::new("alice", Some("wrong"))),
            tls: Some(tls.clone()),
            ..publish::Options::default()
        };
        let err = within(limit, move || publish::single("t", "x", 1, false, &o)).unwrap_err();
        check(err, &format!("publish.single {protocol:?}"));
        let o = subscribe::Options {
            hostname: "localhost".into(),
            port: mosquitto.port(),
            protocol,
            auth: Some(Auth::new("alice", Some("wrong"))),
            tls: Some(tls.clone()),
            ..subscribe::Options::default()
        };
        let err = within(limit, move || subscribe::simple(&["t"], 0, 1, false, &o)).unwrap_err();
        check(err, &format!("subscribe.simple {protocol:?}"));
    }
}
