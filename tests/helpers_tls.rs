//! The helpers' `tls` argument against the real Mosquitto on a TLS
//! listener: Paho's dict form (`tls_set` arguments plus `insecure`) and its
//! `SSLContext` form (a rustls configuration). Skipped without Mosquitto
//! unless the environment requires it.
#![cfg(all(feature = "testing", feature = "tls"))]

mod common;

use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use common::pki::Pki;
use mqtt_tether::helpers::{publish, subscribe, Tls};
use mqtt_tether::testing::{Mosquitto, MosquittoConfig};
use mqtt_tether::transport::tls::TlsOptions;
use mqtt_tether::PahoErrorKind;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

const WAIT: Duration = Duration::from_secs(10);

/// Runs a helper on its own thread and gives its result, bounded by WAIT.
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(WAIT)
        .expect("the helper did not return in time")
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
    let context = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let context = Tls::from(Arc::new(context));
    let o = options("localhost", context.clone());
    bounded(move || publish::single("tls/context", "3", 1, true, &o)).unwrap();

    // And subscribe reads the three retained messages back over TLS.
    let o = subscribe::Options {
        hostname: "localhost".into(),
        port,
        tls: Some(context),
        ..subscribe::Options::default()
    };
    let messages = bounded(move || subscribe::simple(&["tls/#"], 1, 3, true, &o)).unwrap();
    let mut got: Vec<(String, Vec<u8>)> =
        messages.into_iter().map(|m| (m.topic, m.payload)).collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("tls/context".to_string(), b"3".to_vec()),
            ("tls/dict".to_string(), b"1".to_vec()),
            ("tls/insecure".to_string(), b"2".to_vec()),
        ]
    );
}
