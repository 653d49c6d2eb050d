//! The test broker checked by clients nobody here wrote: Mosquitto's
//! `mosquitto_pub` and `mosquitto_sub`, and the Paho Python client. Each scenario runs against the in-process broker and against
//! the `broker` example running as its own process.
#![cfg(feature = "testing")]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mqtt_tether::testing::{require_paho_python, require_program, Broker};

const WAIT: Duration = Duration::from_secs(5);

/// The broker example as a child process on a free port, killed on drop.
struct ExampleBroker {
    child: Child,
    port: u16,
}

impl ExampleBroker {
    fn start() -> ExampleBroker {
        // `cargo test` builds the examples next to the test binaries' folder.
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap().parent().unwrap();
        let program: PathBuf = dir.join(format!("examples/broker{}", std::env::consts::EXE_SUFFIX));
        assert!(
            program.exists(),
            "{} is missing: run the tests with `cargo test --all-features`",
            program.display()
        );
        // Port 0 is not an option for a separate process whose port we must
        // know, so take a free one and hand it over; if another process grabs
        // it in between, the broker exits and we try another.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new(&program)
                .args(["-p", &port.to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the broker example");
            let mut first = String::new();
            let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut first);
            if first.contains("listening on 127.0.0.1:") {
                return ExampleBroker { child, port };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("the broker example did not start on any of 5 free ports");
    }
}

impl Drop for ExampleBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `scenario` against the in-process broker and the example process.
fn for_each_broker(scenario: impl Fn(u16, &Tools)) {
    let Some(tools) = Tools::find() else { return };
    let broker = Broker::start().unwrap();
    scenario(broker.port(), &tools);
    drop(broker);
    let example = ExampleBroker::start();
    scenario(example.port, &tools);
}

struct Tools {
    publisher: PathBuf,
    subscriber: PathBuf,
}

impl Tools {
    fn find() -> Option<Tools> {
        Some(Tools {
            publisher: require_program("mosquitto_pub")?,
            subscriber: require_program("mosquitto_sub")?,
        })
    }

    /// Runs mosquitto_pub to completion and checks it succeeded.
    fn publish(&self, port: u16, args: &[&str]) {
        let out = Command::new(&self.publisher)
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mosquitto_pub {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs mosquitto_sub to completion (it must exit by itself, e.g. with
    /// -C or -E, and -W bounds it) and returns its output lines.
    fn subscribe_once(&self, port: u16, args: &[&str]) -> Vec<String> {
        let out = Command::new(&self.subscriber)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-W", "10"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mosquitto_sub {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Starts a long-running mosquitto_sub whose lines arrive on a channel.
    /// It also subscribes to `ready/<id>` so `wait_ready` can tell when its
    /// subscriptions are in place.
    fn subscriber(&self, port: u16, id: &str, args: &[&str]) -> Subscriber {
        let ready = format!("ready/{id}");
        let mut child = Command::new(&self.subscriber)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-i", id])
            .args(["-t", &ready])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Subscriber {
            child,
            lines: rx,
            ready,
        }
    }
}

struct Subscriber {
    child: Child,
    lines: mpsc::Receiver<String>,
    ready: String,
}

impl Subscriber {
    /// Publishes to the ready topic until the subscriber prints it.
    fn wait_ready(&self, tools: &Tools, port: u16) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            tools.publish(port, &["-t", &self.ready, "-m", "ready"]);
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                assert!(
                    line.contains("ready"),
                    "unexpected line before ready: {line}"
                );
                // Drain the other ready echoes that may still arrive.
                while self.lines.recv_timeout(Duration::from_millis(50)).is_ok() {}
                return;
            }
        }
        panic!("mosquitto_sub never got ready");
    }

    /// The next line that is not a late echo of the ready probe (every
    /// format used here starts with the topic).
    fn next_line(&self) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(WAIT)
                .expect("mosquitto_sub printed nothing in time");
            if !line.starts_with(&self.ready) {
                return line;
            }
        }
    }

    /// Kills the client without DISCONNECT (its will should fire).
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn mosquitto_clients_publish_and_receive_at_qos_0_1_2() {
    for_each_broker(|port, tools| {
        for version in ["mqttv311", "mqttv5"] {
            let sub = tools.subscriber(
                port,
                &format!("qos-{version}"),
                &["-V", version, "-t", "q/#", "-q", "2", "-F", "%t %q %p"],
            );
            sub.wait_ready(tools, port);
            for qos in ["0", "1", "2"] {
                tools.publish(
                    port,
                    &[
                        "-V",
                        version,
                        "-t",
                        "q/t",
                        "-q",
                        qos,
                        "-m",
                        &format!("m{qos}"),
                    ],
                );
                assert_eq!(sub.next_line(), format!("q/t {qos} m{qos}"));
            }
        }
    });
}

#[test]
fn mosquitto_clients_see_retained_messages_set_and_cleared() {
    for_each_broker(|port, tools| {
        tools.publish(port, &["-t", "r/t", "-m", "kept", "-r", "-q", "1"]);
        let lines = tools.subscribe_once(port, &["-t", "r/#", "-C", "1", "-F", "%t %r %p"]);
        assert_eq!(lines, ["r/t 1 kept"]);
        tools.publish(port, &["-t", "r/t", "-n", "-r"]);
        // Nothing retained any more: --retained-only exits at the first
        // non-retained message, so publish one after subscribing.
        let sub = tools.subscriber(port, "retain-check", &["-t", "r/#", "-F", "%t %r %p"]);
        sub.wait_ready(tools, port);
        tools.publish(port, &["-t", "r/t", "-m", "live"]);
        assert_eq!(sub.next_line(), "r/t 0 live");
    });
}

#[test]
fn mosquitto_client_will_is_published_when_it_dies() {
    for_each_broker(|port, tools| {
        let watcher = tools.subscriber(port, "will-watcher", &["-t", "will/#", "-v"]);
        watcher.wait_ready(tools, port);
        let victim = tools.subscriber(
            port,
            "will-victim",
            &[
                "--will-topic",
                "will/victim",
                "--will-payload",
                "died",
                "--will-qos",
                "1",
            ],
        );
        victim.wait_ready(tools, port);
        victim.kill();
        assert_eq!(watcher.next_line(), "will/victim died");
    });
}

#[test]
fn mosquitto_client_persistent_session_receives_what_came_while_away() {
    for_each_broker(|port, tools| {
        for version in ["mqttv311", "mqttv5"] {
            let id = format!("persist-{version}");
            let mut args = vec!["-V", version, "-c", "-i", &id, "-q", "1", "-t", "away/t"];
            if version == "mqttv5" {
                // MQTT 5 sessions end at disconnect unless given an expiry.
                args.extend(["-x", "60"]);
            }
            let mut first = args.clone();
            first.push("-E");
            assert!(tools.subscribe_once(port, &first).is_empty());
            tools.publish(
                port,
                &["-V", version, "-t", "away/t", "-q", "1", "-m", "while away"],
            );
            let mut second = args.clone();
            second.extend(["-C", "1"]);
            assert_eq!(tools.subscribe_once(port, &second), ["while away"]);
        }
    });
}

#[test]
fn mosquitto_clients_carry_v5_user_properties() {
    for_each_broker(|port, tools| {
        let sub = tools.subscriber(port, "props", &["-V", "5", "-t", "u/t", "-F", "%t %P %p"]);
        sub.wait_ready(tools, port);
        tools.publish(
            port,
            &[
                "-V",
                "5",
                "-t",
                "u/t",
                "-m",
                "x",
                "-D",
                "publish",
                "user-property",
                "color",
                "blue",
            ],
        );
        assert_eq!(sub.next_line(), "u/t color:blue x");
    });
}

const PAHO_SCRIPT: &str = r#"
import sys, time, threading
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

port = int(sys.argv[1])
for proto in (mqtt.MQTTv311, mqtt.MQTTv5):
    got = []
    done = threading.Event()
    subscribed = threading.Event()
    def on_message(c, u, msg):
        props = getattr(msg.properties, "UserProperty", None) if msg.properties else None
        got.append((msg.topic, msg.qos, msg.payload.decode(), msg.retain, props))
        if len(got) == 4:
            done.set()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="paho-sub-%d" % proto, protocol=proto)
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="paho-pub-%d" % proto, protocol=proto)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    pub.publish("paho/retained", "kept", qos=1, retain=True).wait_for_publish(5)
    sub.subscribe("paho/#", qos=2)
    assert subscribed.wait(5), "no SUBACK"
    for q in (0, 1, 2):
        props = None
        if proto == mqtt.MQTTv5:
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = ("q", str(q))
        pub.publish("paho/q%d" % q, "m%d" % q, qos=q, properties=props).wait_for_publish(5)
    assert done.wait(5), "got only %r" % got
    got.sort()
    want_props = (lambda q: [("q", str(q))]) if proto == mqtt.MQTTv5 else (lambda q: None)
    assert got == [("paho/q0", 0, "m0", False, want_props(0)), ("paho/q1", 1, "m1", False, want_props(1)),
                   ("paho/q2", 2, "m2", False, want_props(2)), ("paho/retained", 1, "kept", True, None)], got
    pub.publish("paho/retained", "", qos=1, retain=True).wait_for_publish(5)
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
print("paho ok")
"#;

#[test]
fn paho_python_client_works_against_the_broker() {
    let Some(python) = require_paho_python() else {
        return;
    };
    let broker = Broker::start().unwrap();
    let out = Command::new(python)
        .args(["-c", PAHO_SCRIPT, &broker.port().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("paho ok"),
        "Paho script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
