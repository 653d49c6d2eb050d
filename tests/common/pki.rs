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
    #[cfg(feature = "rustls")]
    pub fn server_config(&self) -> rustls::ServerConfig {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(self.path("server.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(self.path("server-key.pem")).unwrap();
        rustls::ServerConfig::builder_with_provider(
            mqtt_tether::transport::tls::crypto_provider().unwrap(),
        )
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap()
    }
}

/// Certificates made as Mosquitto's TLS guide (`man mosquitto-tls`) makes
/// them, by the `openssl` tool with the guide's commands (plus `-subj`,
/// `-passin`/`-passout` and `-days` where the guide prompts): the CA with
/// `req -new -x509 -extensions v3_ca`, its key encrypted; each certificate
/// signed by `x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial` with no
/// extension file, so X.509 version 1 with the host name only in the
/// subject CN; the server key unencrypted (the guide's second form), the
/// client key encrypted with `genrsa -des3`, its password
/// [`GuidePki::CLIENT_KEY_PASSWORD`]. Also `server-v3.crt`: the same
/// request signed with an extension file that adds no subjectAltName
/// (version 3, the host name still only in the CN).
pub struct GuidePki {
    dir: TempDir,
}

impl GuidePki {
    pub const CLIENT_KEY_PASSWORD: &'static str = "client key password";
    const CA_KEY_PASSWORD: &'static str = "ca key password";

    /// `None` when `openssl` is missing outside CI (the test should return);
    /// on CI a missing `openssl` fails the test.
    pub fn new() -> Option<GuidePki> {
        let openssl = mqtt_tether::testing::require_program("openssl")?;
        let dir = TempDir::new("guide-pki").unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new(&openssl)
                .args(args)
                .current_dir(dir.path())
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let ca_pass = format!("pass:{}", Self::CA_KEY_PASSWORD);
        let client_pass = format!("pass:{}", Self::CLIENT_KEY_PASSWORD);
        // CERTIFICATE AUTHORITY
        run(&[
            "req",
            "-new",
            "-x509",
            "-days",
            "2",
            "-extensions",
            "v3_ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=guide CA",
            "-passout",
            &ca_pass,
        ]);
        let sign = |csr: &str, crt: &str, extra: &[&str]| {
            let mut args = vec![
                "x509",
                "-req",
                "-in",
                csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                crt,
                "-days",
                "2",
                "-passin",
                &ca_pass,
            ];
            args.extend_from_slice(extra);
            run(&args);
        };
        // SERVER: "Generate a server key without encryption."
        run(&["genrsa", "-out", "server.key", "2048"]);
        run(&[
            "req",
            "-out",
            "server.csr",
            "-key",
            "server.key",
            "-new",
            "-subj",
            "/CN=localhost",
        ]);
        sign("server.csr", "server.crt", &[]);
        std::fs::write(dir.path().join("v3.ext"), "basicConstraints=CA:FALSE\n").unwrap();
        sign("server.csr", "server-v3.crt", &["-extfile", "v3.ext"]);
        // CLIENT
        run(&[
            "genrsa",
            "-des3",
            "-out",
            "client.key",
            "-passout",
            &client_pass,
            "2048",
        ]);
        run(&[
            "req",
            "-out",
            "client.csr",
            "-key",
            "client.key",
            "-new",
            "-subj",
            "/CN=guide client",
            "-passin",
            &client_pass,
        ]);
        sign("client.csr", "client.crt", &[]);
        // What the tests rely on: the guide's certificates are version 1 and
        // name no host but in the CN; the key is encrypted.
        for crt in ["server.crt", "client.crt", "server-v3.crt"] {
            let text = run(&["x509", "-in", crt, "-noout", "-text"]);
            let version = if crt == "server-v3.crt" {
                "Version: 3 (0x2)"
            } else {
                "Version: 1 (0x0)"
            };
            assert!(text.contains(version), "{crt}: {text}");
            assert!(!text.contains("Subject Alternative Name"), "{crt}: {text}");
        }
        let key = std::fs::read_to_string(dir.path().join("client.key")).unwrap();
        assert!(key.contains("ENCRYPTED"), "{key}");
        Some(GuidePki { dir })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Mosquitto configuration lines that put the current listener on TLS
    /// with the guide's server certificate `crt` (as its mosquitto.conf
    /// section does).
    pub fn listener_lines(&self, crt: &str) -> Vec<String> {
        vec![
            format!("cafile {}", self.path("ca.crt").display()),
            format!("certfile {}", self.path(crt).display()),
            format!("keyfile {}", self.path("server.key").display()),
        ]
    }
}
