//! The `pub` and `sub` examples checked from outside, as processes, against
//! the in-process broker and against Mosquitto's own tools.
#![cfg(feature = "testing")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mqtt_tether::packet::{Ack, Packet, PacketType, Publish};
use mqtt_tether::testing::{require_program, Broker, FaultProxy, ScriptedBroker};
use mqtt_tether::QoS;

use common::examples::example;

/// How long any one process may take before the test kills it and fails.
const WATCHDOG: Duration = Duration::from_secs(60);

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Starts `sub` and gives it time to subscribe (it prints nothing until a
/// message comes, so the broker's log tells when the SUBACK went out).
fn start_sub(broker: &Broker, args: &[&str]) -> std::process::Child {
    let child = example("sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    broker
        .wait_for_event("sub's SUBACK", |e| {
            matches!(
                e,
                mqtt_tether::testing::BrokerEvent::PacketOut {
                    packet: mqtt_tether::packet::Packet::SubAck(_),
                    ..
                }
            )
        })
        .unwrap();
    child
}

#[test]
fn pub_count_reaches_sub_count_with_topics() {
    let broker = Broker::start().unwrap();
    let sub = start_sub(
        &broker,
        &["-t", "x/#", "-q", "1", "-C", "3", "-v", "-W", "20"],
    );
    let out = example("pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(["-t", "x/y", "-m", "msg {n}", "--count", "3", "-q", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = sub.wait_with_output().unwrap();
    assert!(got.status.success());
    assert_eq!(text(&got), "x/y msg 0\nx/y msg 1\nx/y msg 2\n");
}

#[test]
fn sub_exits_27_when_w_expires_before_c() {
    let broker = Broker::start().unwrap();
    let out = example("sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(["-t", "nothing", "-C", "1", "-W", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(27));
}

#[test]
fn pub_lines_from_stdin_at_qos2_and_an_empty_message() {
    let broker = Broker::start().unwrap();
    let sub = start_sub(&broker, &["-t", "l", "-q", "2", "-C", "3", "-W", "20"]);
    let mut publisher = example("pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(["-t", "l", "-l", "-q", "2", "-V", "5"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    publisher
        .stdin
        .take()
        .unwrap()
        .write_all(b"first\nsecond\n")
        .unwrap();
    assert!(publisher.wait().unwrap().success());
    let empty = example("pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &broker.port().to_string(),
            "-t",
            "l",
            "-n",
        ])
        .output()
        .unwrap();
    assert!(empty.status.success());
    assert_eq!(text(&sub.wait_with_output().unwrap()), "first\nsecond\n\n");
}

#[test]
fn pub_fails_when_the_broker_refuses_or_is_absent() {
    let broker = Broker::start_with(
        mqtt_tether::testing::BrokerConfig::default().with_credentials("u", "p"),
    )
    .unwrap();
    let port = broker.port().to_string();
    let refused = example("pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "t",
            "-m",
            "x",
            "-u",
            "u",
            "-P",
            "bad",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Not authorized"));
    let ok = example("pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "t",
            "-m",
            "x",
            "-u",
            "u",
            "-P",
            "p",
            "-q",
            "1",
        ])
        .output()
        .unwrap();
    assert!(ok.status.success());
    drop(broker);
    let absent = example("pub")
        .args(["-h", "127.0.0.1", "-p", &port, "-t", "t", "-m", "x"])
        .output()
        .unwrap();
    assert_eq!(absent.status.code(), Some(1));
}

/// Runs sub with `args` against a broker that refuses it; it must exit
/// within 2 s (the deadline is the behaviour: a refusal ends it at once).
/// Returns its status and standard error.
fn refused_sub(args: &[&str], what: &str) -> (ExitStatus, String) {
    let child = example("sub")
        .args(args)
        .args(["-t", "t", "-u", "alice", "-P", "wrong"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sub = Running(child);
    let status = sub.wait_within(what, Duration::from_secs(2));
    let mut stderr = String::new();
    sub.0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

/// A refused connection ends sub with status 1 and the broker's reason, over
/// plain TCP and over TLS, where Mosquitto closes the TLS session right
/// after its CONNACK.
#[test]
fn sub_exits_with_the_reason_when_the_broker_refuses() {
    let broker = Broker::start_with(
        mqtt_tether::testing::BrokerConfig::default().with_credentials("alice", "secret"),
    )
    .unwrap();
    let port = broker.port().to_string();
    let (status, stderr) = refused_sub(&["-h", "127.0.0.1", "-p", &port], "sub over TCP");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(stderr, "sub: connection refused: Not authorized\n");

    #[cfg(feature = "rustls")]
    {
        use mqtt_tether::testing::{Mosquitto, MosquittoConfig};
        let pki = common::pki::Pki::new();
        let mut config = MosquittoConfig::default().user("alice", "secret");
        for line in pki.listener_lines() {
            config = config.line(line);
        }
        let Some(m) = Mosquitto::start_or_skip(config) else {
            return;
        };
        let port = m.port().to_string();
        let ca = pki.path("ca.pem");
        let (status, stderr) = refused_sub(
            &[
                "-h",
                "localhost",
                "-p",
                &port,
                "--cafile",
                ca.to_str().unwrap(),
            ],
            "sub over TLS",
        );
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert_eq!(stderr, "sub: connection refused: Not authorized\n");
    }
}

#[test]
fn the_examples_interoperate_with_mosquittos_tools() {
    let (Some(mpub), Some(msub)) = (
        require_program("mosquitto_pub"),
        require_program("mosquitto_sub"),
    ) else {
        return;
    };
    let broker = Broker::start().unwrap();
    let port = broker.port().to_string();
    // mosquitto_pub -> our sub.
    let sub = start_sub(&broker, &["-t", "i/#", "-C", "1", "-v", "-W", "20"]);
    let status = Command::new(&mpub)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "i/a",
            "-m",
            "from mosquitto",
            "-q",
            "1",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        text(&sub.wait_with_output().unwrap()),
        "i/a from mosquitto\n"
    );
    // Our pub -> mosquitto_sub (persistent session, message sent while away).
    let first = Command::new(&msub)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-c",
            "-i",
            "msub",
            "-q",
            "1",
            "-t",
            "j",
            "-E",
        ])
        .output()
        .unwrap();
    assert!(first.status.success());
    let out = example("pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "j",
            "-m",
            "while away",
            "-q",
            "1",
            "-c",
            "-i",
            "ourpub",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = Command::new(&msub)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-c",
            "-i",
            "msub",
            "-q",
            "1",
            "-t",
            "j",
            "-C",
            "1",
            "-W",
            "10",
        ])
        .output()
        .unwrap();
    assert_eq!(text(&second), "while away\n");
}

/// A child process that is killed (and reaped) if the test ends first.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Waits for the process to exit; kills it and fails after `WATCHDOG`.
    fn wait(&mut self, what: &str) -> ExitStatus {
        self.wait_within(what, WATCHDOG)
    }

    /// Waits for the process to exit; kills it and fails after `limit`.
    fn wait_within(&mut self, what: &str, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.0.kill();
                panic!("{what} did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The lines of `pipe`, read on a thread of their own so that the process
/// never blocks on a full pipe.
fn lines_of(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Moves lines from `rx` into `seen` until `done(seen)` holds; fails after
/// `WATCHDOG` (or when the pipe ends first), showing what came.
fn collect_until(
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    what: &str,
    done: impl Fn(&[String]) -> bool,
) {
    let deadline = Instant::now() + WATCHDOG;
    while !done(seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(e) => panic!("waiting for {what}: {e:?}; got {seen:#?}"),
        }
    }
}

/// What a process has written to a pipe read by [`lines_of`] so far.
fn drain(rx: &mpsc::Receiver<String>) -> String {
    rx.try_iter().collect::<Vec<_>>().join("\n")
}

#[test]
fn pub_sends_its_keepalive_and_reconnects_with_its_delay() {
    let broker = ScriptedBroker::bind()
        .unwrap()
        .with_timeout(Duration::from_secs(20));
    let mut publisher = Running(
        example("pub")
            .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
            .args(["-t", "k", "-m", "hello", "-q", "1", "-k", "17"])
            .args(["--reconnect-delay", "0.05", "0.2"])
            .spawn()
            .unwrap(),
    );
    let mut first = broker.accept().unwrap();
    assert_eq!(first.expect_connect().unwrap().keep_alive, 17);
    first.send_connack(false, 0).unwrap();
    let Packet::Publish(sent) = first.read_packet().unwrap() else {
        panic!("expected the PUBLISH");
    };
    assert_eq!(sent.payload, b"hello");
    // Lost before its PUBACK: pub reconnects by itself and sends it again.
    first.close();
    let mut second = broker.accept().unwrap();
    assert_eq!(second.expect_connect().unwrap().keep_alive, 17);
    second.send_connack(false, 0).unwrap();
    let Packet::Publish(again) = second.read_packet().unwrap() else {
        panic!("expected the PUBLISH again");
    };
    assert_eq!(again.payload, b"hello");
    second
        .send_packet(&Packet::PubAck(Ack::new(
            PacketType::PubAck,
            again.packet_id,
        )))
        .unwrap();
    assert!(matches!(
        second.read_packet().unwrap(),
        Packet::Disconnect(_)
    ));
    assert!(publisher.wait("pub").success());
}

#[test]
fn sub_sends_its_keepalive_and_subscribes_again_after_a_reconnect() {
    let broker = ScriptedBroker::bind()
        .unwrap()
        .with_timeout(Duration::from_secs(20));
    let mut subscriber = Running(
        example("sub")
            .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
            .args(["-t", "k/#", "-C", "1", "-W", "60", "--keepalive", "23"])
            .args(["--reconnect-delay", "0.05", "0.2"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut conn = broker.accept().unwrap();
    for round in 0..2 {
        assert_eq!(conn.expect_connect().unwrap().keep_alive, 23);
        conn.send_connack(false, 0).unwrap();
        let Packet::Subscribe(subscribe) = conn.read_packet().unwrap() else {
            panic!("expected SUBSCRIBE");
        };
        assert_eq!(subscribe.filters[0].0, "k/#");
        if round == 0 {
            // Cut: sub reconnects by itself and subscribes again.
            conn.close();
            conn = broker.accept().unwrap();
        }
    }
    conn.send_packet(&Packet::Publish(Publish::new(
        "k/x",
        b"after the reconnect".to_vec(),
        QoS::AtMostOnce,
        0,
    )))
    .unwrap();
    assert!(subscriber.wait("sub").success());
    let mut out = String::new();
    subscriber
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, "after the reconnect\n");
}

#[test]
fn a_long_reconnect_delay_holds_the_reconnect_back() {
    // With MIN and MAX at 30 s, no reconnect may come within a few seconds
    // (the default would reconnect after 1 s). Only an early reconnect can
    // fail this, never a slow machine.
    let broker = ScriptedBroker::bind()
        .unwrap()
        .with_timeout(Duration::from_secs(20));
    let _publisher = Running(
        example("pub")
            .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
            .args(["-t", "k", "-m", "hello", "-q", "1"])
            .args(["--reconnect-delay", "30", "30"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut conn = broker.accept().unwrap();
    assert_eq!(conn.expect_connect().unwrap().keep_alive, 60, "the default");
    conn.send_connack(false, 0).unwrap();
    assert!(matches!(conn.read_packet().unwrap(), Packet::Publish(_)));
    conn.close();
    broker.expect_no_connection(Duration::from_secs(3)).unwrap();
}

#[test]
fn pub_lines_keep_coming_across_a_cut_at_qos1() {
    let broker = Broker::start().unwrap();
    let proxy = FaultProxy::start(broker.addr().unwrap()).unwrap();
    let mut subscriber = Running(start_sub(&broker, &["-t", "lines", "-q", "1", "-W", "60"]));
    let received = lines_of(subscriber.0.stdout.take().unwrap());
    let mut publisher = Running(
        example("pub")
            .args(["-h", "127.0.0.1", "-p", &proxy.port().to_string()])
            .args(["-t", "lines", "-l", "-q", "1", "-i", "linepub"])
            .args(["--reconnect-delay", "0.05", "0.2"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdin = publisher.0.stdin.take().unwrap();
    let pub_stderr = lines_of(publisher.0.stderr.take().unwrap());
    let lines: Vec<String> = (1..=15).map(|n| format!("line {n}")).collect();
    let mut write = |range: std::ops::Range<usize>| {
        for line in &lines[range] {
            writeln!(stdin, "{line}").unwrap();
        }
        stdin.flush().unwrap();
    };
    let mut seen = Vec::new();

    // Lines 1-5 go through before the cut.
    write(0..5);
    collect_until(&received, &mut seen, "line 5", |s| {
        s.iter().any(|l| l == "line 5")
    });
    // The cut, with reconnects refused until pub has tried twice, so that
    // lines 6-10 are read while it is disconnected.
    proxy.set_refusing(true);
    assert_eq!(proxy.cut_all(), 1);
    write(5..10);
    let deadline = Instant::now() + WATCHDOG;
    while proxy
        .wait_for("two refused reconnects", Duration::from_millis(100), |c| {
            c.refused >= 2
        })
        .is_err()
    {
        if let Some(status) = publisher.0.try_wait().unwrap() {
            panic!("pub gave up: {status}\n{}", drain(&pub_stderr));
        }
        assert!(Instant::now() < deadline, "pub did not try to reconnect");
    }
    proxy.set_refusing(false);
    // Lines 11-15 after that, then the end of input.
    write(10..15);
    drop(stdin);

    let status = publisher.wait("pub");
    assert!(status.success(), "pub: {status}\n{}", drain(&pub_stderr));
    // Every line arrives (at QoS 1 one may come twice).
    collect_until(&received, &mut seen, "every line", |s| {
        lines.iter().all(|l| s.contains(l))
    });
    assert!(seen.iter().all(|l| lines.contains(l)), "{seen:#?}");
    assert!(proxy.counters().accepted >= 2);
}

#[test]
fn pub_reports_a_qos0_line_read_while_disconnected_as_dropped() {
    let broker = Broker::start().unwrap();
    let proxy = FaultProxy::start(broker.addr().unwrap()).unwrap();
    let mut subscriber = Running(start_sub(&broker, &["-t", "q0", "-W", "60"]));
    let received = lines_of(subscriber.0.stdout.take().unwrap());
    let mut publisher = Running(
        example("pub")
            .args(["-h", "127.0.0.1", "-p", &proxy.port().to_string()])
            .args(["-t", "q0", "-l", "-q", "0", "-i", "q0pub"])
            .args(["--reconnect-delay", "1", "1"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdin = publisher.0.stdin.take().unwrap();
    let pub_stderr = lines_of(publisher.0.stderr.take().unwrap());
    let mut seen = Vec::new();
    let mut notes = Vec::new();

    writeln!(stdin, "line 1").unwrap();
    stdin.flush().unwrap();
    collect_until(&received, &mut seen, "line 1", |s| s.len() == 1);
    assert_eq!(proxy.cut_all(), 1);
    collect_until(&pub_stderr, &mut notes, "the loss reported", |n| {
        n.iter().any(|l| l.contains("connection lost"))
    });
    // Read while disconnected: the next attempt is a second away.
    writeln!(stdin, "line 2").unwrap();
    stdin.flush().unwrap();
    collect_until(&pub_stderr, &mut notes, "the reconnect", |n| {
        n.iter().any(|l| l == "pub: reconnected")
    });
    writeln!(stdin, "line 3").unwrap();
    drop(stdin);
    let status = publisher.wait("pub");
    collect_until(&received, &mut seen, "line 3", |s| {
        s.last().is_some_and(|l| l == "line 3")
    });
    notes.extend(pub_stderr.iter());

    let dropped = notes.iter().any(|l| l.starts_with("pub: line 2 dropped"));
    if dropped {
        assert_eq!(seen, ["line 1", "line 3"]);
        assert_eq!(status.code(), Some(1), "{notes:#?}");
        assert!(
            notes.contains(&"pub: 1 of 3 QoS 0 lines dropped while disconnected".to_string()),
            "{notes:#?}"
        );
    } else {
        // Only if pub read the line after the reconnect (a stall of over a
        // second): then it was published, and nothing was dropped.
        eprintln!("note: pub read line 2 only after the reconnect");
        assert_eq!(seen, ["line 1", "line 2", "line 3"]);
        assert!(status.success(), "{notes:#?}");
    }
}

/// The transport flags: `sub --unix PATH`; `pub` over TLS with `--cafile`
/// and `--insecure` (the certificate names localhost, not 127.0.0.1),
/// through `--proxy socks5://...`, over `--unix`, and over `--ws` through
/// the test kit's WebSocket front (features permitting). Every message
/// reaches the subscriber.
#[test]
fn pub_and_sub_take_the_transport_flags() {
    use mqtt_tether::testing::{Mosquitto, MosquittoConfig, ProxyKind, TempDir, TestProxy};
    let dir = TempDir::new("cli-transports").unwrap();
    let socket = dir.path().join("mqtt.sock");
    let socket = socket.to_str().unwrap();
    let pki = common::pki::Pki::new();
    let tls_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut config = MosquittoConfig::default()
        .line(format!("listener 0 {socket}"))
        .line(format!("listener {tls_port} 127.0.0.1"));
    for line in pki.listener_lines() {
        config = config.line(line);
    }
    let Some(m) = Mosquitto::start_or_skip(config) else {
        return;
    };
    let mut publishers: Vec<(&str, Vec<String>)> =
        vec![("unix", vec!["--unix".into(), socket.into()])];
    let proxy = TestProxy::start(ProxyKind::Socks5 { credentials: None }).unwrap();
    publishers.push((
        "proxy",
        vec![
            "-h".into(),
            "localhost".into(),
            "-p".into(),
            m.port().to_string(),
            "--proxy".into(),
            format!("socks5://127.0.0.1:{}", proxy.port()),
        ],
    ));
    if cfg!(feature = "rustls") {
        publishers.push((
            "tls",
            vec![
                "-h".into(),
                "127.0.0.1".into(),
                "-p".into(),
                tls_port.to_string(),
                "--cafile".into(),
                pki.path("ca.pem").to_str().unwrap().into(),
                "--insecure".into(),
            ],
        ));
    }
    #[cfg(feature = "websocket")]
    let bridge = mqtt_tether::testing::WsBridge::start(m.addr()).unwrap();
    #[cfg(feature = "websocket")]
    publishers.push((
        "ws",
        vec![
            "-h".into(),
            "localhost".into(),
            "-p".into(),
            bridge.port().to_string(),
            "--ws".into(),
        ],
    ));

    let mut sub = example("sub")
        .args(["--unix", socket, "-t", "cli/#", "-q", "1", "-v"])
        .args(["-C", &publishers.len().to_string(), "-W", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // sub prints nothing until a message comes: wait for its subscription
    // in Mosquitto's log.
    let deadline = Instant::now() + WATCHDOG;
    while !m.log().contains("cli/#") {
        assert!(
            Instant::now() < deadline,
            "sub did not subscribe:\n{}",
            m.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for (name, args) in &publishers {
        let out = example("pub")
            .args(args)
            .args(["-t", &format!("cli/{name}"), "-m", name, "-q", "1"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pub over {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut lines = String::new();
    sub.stdout
        .take()
        .unwrap()
        .read_to_string(&mut lines)
        .unwrap();
    assert!(sub.wait().unwrap().success());
    let mut got: Vec<&str> = lines.lines().collect();
    got.sort();
    let mut want: Vec<String> = publishers
        .iter()
        .map(|(name, _)| format!("cli/{name} {name}"))
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(proxy.requests().len(), 1);
}

/// `--tls-engine` and `--key-password` with the certificates of
/// Mosquitto's TLS guide (version 1, the host in the CN, the client key
/// encrypted) against Mosquitto requiring client certificates: `sub` and
/// `pub` connect with `--tls-engine native`; with the default engine
/// (rustls) `pub` exits 1 with the one-line explanation; an unknown engine
/// is a usage error.
#[cfg(all(feature = "rustls", feature = "native-tls"))]
#[test]
fn pub_and_sub_take_the_tls_engine_and_the_key_password() {
    use common::pki::GuidePki;
    use mqtt_tether::testing::{Mosquitto, MosquittoConfig};
    let Some(guide) = GuidePki::new() else {
        return;
    };
    let mut config = MosquittoConfig::default().line("require_certificate true");
    for line in guide.listener_lines("server.crt") {
        config = config.line(line);
    }
    let Some(m) = Mosquitto::start_or_skip(config) else {
        return;
    };
    let port = m.port().to_string();
    let path = |name: &str| guide.path(name).to_str().unwrap().to_string();
    let server: Vec<String> = ["-h", "localhost", "-p", &port, "--cafile", &path("ca.crt")]
        .map(String::from)
        .to_vec();
    let mut tls = server.clone();
    tls.extend(
        [
            "--cert",
            &path("client.crt"),
            "--key",
            &path("client.key"),
            "--key-password",
            GuidePki::CLIENT_KEY_PASSWORD,
        ]
        .map(String::from),
    );

    let mut sub = example("sub")
        .args(&tls)
        .args([
            "--tls-engine",
            "native",
            "-t",
            "guide/#",
            "-C",
            "1",
            "-v",
            "-W",
            "30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WATCHDOG;
    while !m.log().contains("guide/#") {
        assert!(
            Instant::now() < deadline,
            "sub did not subscribe:\n{}",
            m.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // rustls reads no encrypted key: what is at stake is the server's
    // certificate, which fails first anyway.
    let rustls = example("pub")
        .args(&server)
        .args(["-t", "guide/rustls", "-m", "never", "-q", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&rustls.stderr);
    assert_eq!(rustls.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("X.509 version 1") && stderr.contains("TlsEngine::Native"),
        "{stderr}"
    );
    let native = example("pub")
        .args(&tls)
        .args([
            "--tls-engine",
            "native",
            "-t",
            "guide/native",
            "-m",
            "hello",
            "-q",
            "1",
        ])
        .output()
        .unwrap();
    assert!(
        native.status.success(),
        "{}",
        String::from_utf8_lossy(&native.stderr)
    );
    let mut lines = String::new();
    sub.stdout
        .take()
        .unwrap()
        .read_to_string(&mut lines)
        .unwrap();
    assert!(sub.wait().unwrap().success());
    assert_eq!(lines, "guide/native hello\n");

    let unknown = example("pub")
        .args(&tls)
        .args(["--tls-engine", "openssl", "-t", "t", "-m", "x"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success());
    assert!(
        stderr.contains("--tls-engine: unknown TLS engine \"openssl\": rustls or native"),
        "{stderr}"
    );
}

/// Issue 19: `pub -l` at QoS 1 with 100,000 lines piped in as fast as the
/// pipe takes them, more than the 65,535 message ids the client can hold
/// unacknowledged (where Paho's `publish` fails with ERR_QUEUE_SIZE and
/// `pub` used to exit 1): it waits for room, exits 0 once every message is
/// acknowledged, and a subscriber has received all 100,000, distinct.
#[test]
fn pub_lines_beyond_the_message_ids_all_arrive_and_exit_0() {
    use mqtt_tether::testing::{Mosquitto, MosquittoConfig};
    use std::collections::HashSet;
    const LINES: usize = 100_000;
    // No per-client queue limit: the subscriber must not be the one that
    // drops (Mosquitto's default keeps 1,000).
    let Some(m) =
        Mosquitto::start_or_skip(MosquittoConfig::default().line("max_queued_messages 0"))
    else {
        return;
    };
    let (_sub, rx) = common::clients::subscriber("lines-sub", m.port(), "many", 1);
    let mut publisher = Running(
        example("pub")
            .args(["-h", "127.0.0.1", "-p", &m.port().to_string()])
            .args(["-t", "many", "-l", "-q", "1", "-i", "manypub"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdin = publisher.0.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut text = String::with_capacity(LINES * 8);
        for n in 0..LINES {
            text.push_str(&format!("{n}\n"));
        }
        // A broken pipe shows as pub's exit status.
        let _ = stdin.write_all(text.as_bytes());
    });
    let mut seen = HashSet::with_capacity(LINES);
    let t = Instant::now();
    while seen.len() < LINES && t.elapsed() < WATCHDOG {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(m) => {
                seen.insert(m.payload.clone());
            }
            Err(_) => {
                if publisher.0.try_wait().unwrap().is_some() {
                    // Exited: what it delivered is all there is.
                    while let Ok(m) = rx.recv_timeout(Duration::from_millis(500)) {
                        seen.insert(m.payload.clone());
                    }
                    break;
                }
            }
        }
    }
    writer.join().unwrap();
    let status = publisher.wait("pub -l");
    assert_eq!(seen.len(), LINES, "distinct messages received");
    assert!(status.success(), "pub exited with {status}");
}

/// Standard error of a finished process.
fn stderr_of(child: &mut Child) -> String {
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

/// How long sub may take to give up: the failures below are known at once
/// (a refusal, a filter, a closed port), so this is the behaviour, with a
/// margin for a loaded machine; the old sub waited for ever on the first
/// two.
const GIVES_UP_WITHIN: Duration = Duration::from_secs(5);

/// `sub` with `args`, its stderr piped (for [`exits_1`]).
fn sub_with(args: &[&str]) -> Running {
    Running(
        example("sub")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Waits [`GIVES_UP_WITHIN`] for `sub` to exit, asserts status 1 and
/// returns its stderr.
fn exits_1(sub: &mut Running, what: &str) -> String {
    let status = sub.wait_within(what, GIVES_UP_WITHIN);
    let stderr = stderr_of(&mut sub.0);
    assert_eq!(status.code(), Some(1), "{what}: {stderr}");
    stderr
}

/// A CONNACK refusal ends sub at once with the reason on one line and
/// status 1, at MQTT 3.1.1 (return code 5) and at MQTT 5 (reason 0x87).
#[test]
fn sub_exits_at_once_with_one_line_when_the_connack_refuses() {
    for (version, code) in [("311", 5u8), ("5", 0x87)] {
        let broker = ScriptedBroker::bind()
            .unwrap()
            .with_timeout(Duration::from_secs(20));
        let port = broker.port().to_string();
        let mut sub = sub_with(&["-h", "127.0.0.1", "-p", &port, "-t", "t", "-V", version]);
        let mut conn = broker.accept().unwrap();
        conn.expect_connect().unwrap();
        conn.send_connack(false, code).unwrap();
        let stderr = exits_1(&mut sub, &format!("refused sub -V {version}"));
        assert_eq!(
            stderr, "sub: connection refused: Not authorized\n",
            "-V {version}"
        );
    }
}

/// An invalid filter is refused before connecting, naming it, on one line
/// with status 1 (the old sub connected, failed to subscribe, and waited
/// for ever).
#[test]
fn sub_exits_at_once_with_one_line_on_an_invalid_filter() {
    let broker = Broker::start().unwrap();
    let port = broker.port().to_string();
    let mut sub = sub_with(&[
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-t",
        "fine/+",
        "-t",
        "a/#/b",
    ]);
    let stderr = exits_1(&mut sub, "sub with an invalid filter");
    assert_eq!(stderr, "sub: invalid subscription filter \"a/#/b\"\n");
    assert!(
        !broker
            .events()
            .iter()
            .any(|e| matches!(e, mqtt_tether::testing::BrokerEvent::Accepted { .. })),
        "sub connected anyway"
    );
}

/// A broker that refuses every filter (SUBACK 0x80) ends sub with one
/// line and status 1: nothing would ever arrive.
#[test]
fn sub_exits_with_one_line_when_the_broker_refuses_every_filter() {
    let broker = ScriptedBroker::bind()
        .unwrap()
        .with_timeout(Duration::from_secs(20));
    let port = broker.port().to_string();
    let mut sub = sub_with(&["-h", "127.0.0.1", "-p", &port, "-t", "denied/#"]);
    let mut conn = broker.accept().unwrap();
    conn.expect_connect().unwrap();
    conn.send_connack(false, 0).unwrap();
    let Packet::Subscribe(subscribe) = conn.read_packet().unwrap() else {
        panic!("expected SUBSCRIBE");
    };
    conn.send_packet(&Packet::SubAck(mqtt_tether::packet::SubAck::new(
        subscribe.packet_id,
        vec![mqtt_tether::ReasonCode::from_value(PacketType::SubAck, 0x80).unwrap()],
    )))
    .unwrap();
    assert!(matches!(conn.read_packet().unwrap(), Packet::Disconnect(_)));
    let stderr = exits_1(&mut sub, "sub refused every filter");
    assert_eq!(
        stderr,
        "sub: cannot subscribe: the broker refused every filter (Unspecified error)\n"
    );
}

/// No broker: the reason on one line, status 1, and no usage text (the
/// command line was right).
#[test]
fn sub_exits_with_one_line_and_no_usage_when_the_broker_is_down() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut sub = sub_with(&["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "t"]);
    let stderr = exits_1(&mut sub, "sub without a broker");
    let prefix = format!("sub: cannot connect to 127.0.0.1:{port}: ");
    assert!(stderr.starts_with(&prefix), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.ends_with('\n'), "{stderr:?}");
}

/// The SUBACKs the broker has sent so far.
fn subacks(broker: &Broker) -> usize {
    broker
        .events()
        .iter()
        .filter(|e| {
            matches!(
                e,
                mqtt_tether::testing::BrokerEvent::PacketOut {
                    packet: Packet::SubAck(_),
                    ..
                }
            )
        })
        .count()
}

/// Waits until the broker has sent `n` SUBACKs in all (counted afresh each
/// time: `wait_for_event` may show its predicate an event more than once).
fn wait_for_subacks(broker: &Broker, n: usize) {
    let deadline = Instant::now() + WATCHDOG;
    while subacks(broker) < n {
        assert!(Instant::now() < deadline, "no SUBACK number {n}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// SIGINT and SIGTERM end sub with a DISCONNECT and status 0, so its will
/// does not fire: a second subscriber on the will topic sees nothing before
/// a marker published after sub is gone. SIGKILL first, the control: the
/// same setup does deliver the will when sub dies without a DISCONNECT.
#[test]
fn sub_ends_cleanly_on_sigint_and_sigterm_and_its_will_does_not_fire() {
    use mqtt_tether::testing::{BrokerEvent, CloseReason};
    let broker = Broker::start().unwrap();
    let port = broker.port().to_string();
    let mut watcher = Running(start_sub(&broker, &["-t", "will/#", "-v"]));
    let seen = lines_of(watcher.0.stdout.take().unwrap());
    let mut subacked = 1;
    for signal in ["KILL", "INT", "TERM"] {
        let id = format!("victim-{signal}");
        let mut victim = Running(
            example("sub")
                .args(["-h", "127.0.0.1", "-p", &port, "-i", &id, "-t", "quiet"])
                .args(["--will-topic", &format!("will/{signal}")])
                .args(["--will-payload", "gone"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        subacked += 1;
        wait_for_subacks(&broker, subacked);
        let sent = Command::new("kill")
            .args(["-s", signal, &victim.0.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = victim.wait_within(&format!("sub after SIG{signal}"), GIVES_UP_WITHIN);
        let closed = broker
            .wait_for_event(
                &format!("{id}'s close"),
                |e| matches!(e, BrokerEvent::Closed { client_id, .. } if *client_id == id),
            )
            .unwrap();
        let BrokerEvent::Closed { reason, .. } = closed else {
            unreachable!()
        };
        // Anything the will sent reaches the watcher before this marker.
        let marker = format!("will/marker-{signal}");
        let out = example("pub")
            .args(["-h", "127.0.0.1", "-p", &port, "-t", &marker, "-m", "done"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut got = vec![];
        while let Ok(line) = seen.recv_timeout(WATCHDOG) {
            let last = line.starts_with(&marker);
            got.push(line);
            if last {
                break;
            }
        }
        if signal == "KILL" {
            assert_eq!(status.code(), None, "killed");
            assert_eq!(reason, CloseReason::PeerClosed);
            assert_eq!(
                got,
                ["will/KILL gone".to_string(), format!("{marker} done")]
            );
        } else {
            assert_eq!(status.code(), Some(0), "SIG{signal}");
            assert_eq!(reason, CloseReason::ClientDisconnect, "SIG{signal}");
            assert_eq!(got, [format!("{marker} done")], "SIG{signal}");
        }
    }
}

/// The will flags and `-D` properties, as they go on the wire: pub and sub
/// put the same will in CONNECT (topic, payload, QoS 2, retain, a will
/// property), `-D connect` in CONNECT, `-D publish` in pub's PUBLISH and
/// `-D subscribe` in sub's SUBSCRIBE; `-D` alone makes the client MQTT 5.
#[test]
fn pub_and_sub_send_the_will_and_the_properties_they_are_given() {
    use mqtt_tether::packet::{Properties, Property};
    use mqtt_tether::ProtocolVersion;
    let will_and_connect = [
        "--will-topic",
        "w/t",
        "--will-payload",
        "bye",
        "--will-qos",
        "2",
        "--will-retain",
        "-D",
        "will",
        "user-property",
        "wk",
        "wv",
        "-D",
        "connect",
        "user-property",
        "ck",
        "cv",
    ];
    for tool in ["pub", "sub"] {
        let broker = ScriptedBroker::bind()
            .unwrap()
            .with_timeout(Duration::from_secs(20));
        let mut child = example(tool);
        child
            .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
            .args(will_and_connect);
        if tool == "pub" {
            child.args(["-t", "p", "-m", "x", "-q", "1"]).args([
                "-D",
                "publish",
                "user-property",
                "k",
                "v",
                "-D",
                "publish",
                "user-property",
                "k",
                "v2",
                "-D",
                "publish",
                "content-type",
                "text/plain",
            ]);
        } else {
            child.args(["-t", "s/#", "-C", "1"]).args([
                "-D",
                "subscribe",
                "user-property",
                "sk",
                "sv",
            ]);
        }
        let mut running = Running(child.stdout(Stdio::null()).spawn().unwrap());
        let mut conn = broker.accept().unwrap();
        let connect = conn.expect_connect().unwrap();
        assert_eq!(
            connect.protocol,
            ProtocolVersion::MQTTv5,
            "{tool}: -D implies 5"
        );
        let will = connect.will.expect("a will");
        assert_eq!(
            (
                will.topic.as_str(),
                &will.payload[..],
                will.qos,
                will.retain
            ),
            ("w/t", &b"bye"[..], QoS::ExactlyOnce, true),
            "{tool}"
        );
        // Property 0x26 (user property): two length-prefixed strings.
        assert_eq!(
            will.properties.as_bytes(),
            b"\x26\0\x02wk\0\x02wv",
            "{tool}"
        );
        let connect_user_properties: Vec<_> = connect.properties.user_properties().collect();
        assert_eq!(connect_user_properties, [("ck", "cv")], "{tool}");
        conn.send_connack(false, 0).unwrap();
        if tool == "pub" {
            let Packet::Publish(publish) = conn.read_packet().unwrap() else {
                panic!("expected the PUBLISH");
            };
            // Content type (0x03) first: properties go in identifier order,
            // user properties in the order given.
            assert_eq!(
                publish.properties.as_bytes(),
                b"\x03\0\x0atext/plain\x26\0\x01k\0\x01v\x26\0\x01k\0\x02v2"
            );
            conn.send_packet(&Packet::PubAck(Ack::new(
                PacketType::PubAck,
                publish.packet_id,
            )))
            .unwrap();
        } else {
            let Packet::Subscribe(subscribe) = conn.read_packet().unwrap() else {
                panic!("expected the SUBSCRIBE");
            };
            let mut want = Properties::new(PacketType::Subscribe);
            want.set(Property::UserProperty("sk".into(), "sv".into()))
                .unwrap();
            assert_eq!(subscribe.properties, want);
            conn.send_packet(&Packet::Publish(Publish::new(
                "s/x",
                b"one".to_vec(),
                QoS::AtMostOnce,
                0,
            )))
            .unwrap();
        }
        assert!(matches!(conn.read_packet().unwrap(), Packet::Disconnect(_)));
        assert!(running.wait(tool).success(), "{tool}");
    }
    // Properties exist only in MQTT 5: asked for with -V 311, a usage error.
    let out = example("pub")
        .args(["-p", "1", "-V", "311", "-t", "t", "-m", "x"])
        .args(["-D", "publish", "user-property", "k", "v"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "pub: -D: properties need MQTT 5 (-V 5)\n"
    );
}

/// `sub -F` prints mosquitto_sub's `%` sequences, `%r` the retain flag, and
/// `--retained-only` prints the retained messages and exits 0 at the first
/// fresh one (not printed); both print what mosquitto_sub prints with the
/// same arguments, where it is installed.
#[test]
fn sub_prints_the_retain_flag_and_can_print_only_retained_messages() {
    let broker = Broker::start().unwrap();
    let port = broker.port().to_string();
    let retained = example("pub")
        .args(["-h", "127.0.0.1", "-p", &port])
        .args(["-t", "r/a", "-m", "kept", "-q", "1", "-r"])
        .output()
        .unwrap();
    assert!(retained.status.success());
    let runs: [(&[&str], &str); 2] = [
        (
            &["-F", "%r|%t|%p|%q|%l|%%", "-C", "2"],
            "1|r/a|kept|0|4|%\n0|r/b|fresh|0|5|%\n",
        ),
        (&["-F", "%t %p", "--retained-only"], "r/a kept\n"),
    ];
    for (args, want) in runs {
        let mosquitto_sub = require_program("mosquitto_sub");
        let mut subs = vec![];
        let mut subacked = subacks(&broker);
        for program in [Some(example("sub")), mosquitto_sub.map(Command::new)]
            .into_iter()
            .flatten()
        {
            let mut program = program;
            let child = program
                .args(["-h", "127.0.0.1", "-p", &port, "-t", "r/#", "-W", "30"])
                .args(args)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            subacked += 1;
            wait_for_subacks(&broker, subacked);
            subs.push(Running(child));
        }
        let fresh = example("pub")
            .args(["-h", "127.0.0.1", "-p", &port, "-t", "r/b", "-m", "fresh"])
            .output()
            .unwrap();
        assert!(fresh.status.success());
        for (i, mut sub) in subs.into_iter().enumerate() {
            let who = if i == 0 { "sub" } else { "mosquitto_sub" };
            let status = sub.wait(who);
            let mut out = String::new();
            sub.0
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            assert_eq!(
                (status.code(), out.as_str()),
                (Some(0), want),
                "{who} {args:?}"
            );
        }
    }
}

/// `pub -l` waiting for input ends on SIGTERM and on SIGINT with a
/// DISCONNECT and status 0, after publishing what it had read: the broker
/// publishes no will.
#[test]
fn pub_ends_cleanly_on_sigterm_and_sigint_while_reading_lines() {
    use mqtt_tether::testing::{BrokerEvent, CloseReason};
    let broker = Broker::start().unwrap();
    let port = broker.port().to_string();
    for signal in ["TERM", "INT"] {
        let id = format!("pub-{signal}");
        let mut publisher = Running(
            example("pub")
                .args(["-h", "127.0.0.1", "-p", &port, "-i", &id])
                .args(["-t", "lines", "-l", "-q", "1"])
                .args(["--will-topic", "will/pub", "--will-payload", "gone"])
                .stdin(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut stdin = publisher.0.stdin.take().unwrap();
        stdin.write_all(b"one line\n").unwrap();
        stdin.flush().unwrap();
        broker
            .wait_for_event("the line's PUBACK", |e| {
                matches!(e, BrokerEvent::PacketOut { client_id, packet: Packet::PubAck(_), .. } if *client_id == id)
            })
            .unwrap();
        let sent = Command::new("kill")
            .args(["-s", signal, &publisher.0.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = publisher.wait_within(&format!("pub after SIG{signal}"), GIVES_UP_WITHIN);
        assert_eq!(status.code(), Some(0), "SIG{signal}");
        let closed = broker
            .wait_for_event(
                &format!("{id}'s close"),
                |e| matches!(e, BrokerEvent::Closed { client_id, .. } if *client_id == id),
            )
            .unwrap();
        assert!(
            matches!(
                closed,
                BrokerEvent::Closed {
                    reason: CloseReason::ClientDisconnect,
                    ..
                }
            ),
            "SIG{signal}: {closed:?}"
        );
        drop(stdin);
    }
    assert!(
        !broker
            .events()
            .iter()
            .any(|e| matches!(e, BrokerEvent::WillPublished { .. })),
        "a will fired"
    );
}
