//! Certificates made inside the test (nothing checked in that could
//! expire): a CA, a server certificate for `localhost` only (no IP address,
//! so connecting to 127.0.0.1 is a name mismatch), a client certificate,
//! and a second, unrelated CA. PEM files in one temporary directory.
#![cfg(feature = "testing")]

use std::path::PathBuf;

use mqtt_tether::testing::TempDir;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

pub struct Pki {
    dir: TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = TempDir::new("pki").unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        let ca = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.self_signed(&key).unwrap();
            (Issuer::new(params, key), cert)
        };
        let (issuer, ca_cert) = ca("mqtt-tether test CA");
        write("ca.pem", ca_cert.pem());
        let (_, other_ca) = ca("some other CA");
        write("other-ca.pem", other_ca.pem());
        let leaf = |names: Vec<String>, cn: &str, prefix: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            let cert = params.signed_by(&key, &issuer).unwrap();
            write(&format!("{prefix}.pem"), cert.pem());
            write(&format!("{prefix}-key.pem"), key.serialize_pem());
        };
        leaf(vec!["localhost".into()], "localhost", "server");
        leaf(Vec::new(), "a client", "client");
        Pki { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Mosquitto configuration lines that put the current listener on TLS
    /// with the server certificate.
    pub fn listener_lines(&self) -> Vec<String> {
        vec![
            format!("cafile {}", self.path("ca.pem").display()),
            format!("certfile {}", self.path("server.pem").display()),
            format!("keyfile {}", self.path("server-key.pem").display()),
        ]
    }

    /// A rustls server configuration with the server certificate.
    #[cfg(feature = "tls")]
    pub fn server_config(&self) -> rustls::ServerConfig {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(self.path("server.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(self.path("server-key.pem")).unwrap();
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap()
    }
}
