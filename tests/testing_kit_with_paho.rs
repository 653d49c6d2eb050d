//! The kit driving a real, third-party client: Paho Python (when installed)
//! scripted to the byte by `ScriptedBroker` through one of Paho's own
//! reconnect scenarios, and reconnecting through a `FaultProxy` cut against
//! the in-process `Broker`. A missing Paho skips the tests with one line, and
//! fails them on CI (`.ci/run` installs it).
#![cfg(feature = "testing")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::hex;
use common::raw_client::RawClient;
use mqtt_tether::packet::{Connect, Packet, ProtocolVersion, QoS};
use mqtt_tether::testing::{require_paho_python, Broker, BrokerEvent, FaultProxy, ScriptedBroker};

const WAIT: Duration = Duration::from_secs(5);

/// A Python running `script` with the port as its argument, or `None` (and a
/// SKIP line; a failure on CI) when paho-mqtt is not installed.
fn paho(script: &str, port: u16) -> Option<PahoProcess> {
    let python = require_paho_python()?;
    let mut child = Command::new(python)
        .args(["-c", script, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start python3");
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stdin = child.stdin.take();
    Some(PahoProcess {
        child,
        stdin,
        lines,
    })
}

struct PahoProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl PahoProcess {
    fn expect_line(&self, want: &str) {
        let got = self
            .lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("Paho did not print {want:?} in time"));
        assert_eq!(got, want);
    }

    fn tell(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn wait_exit(mut self) {
        drop(self.stdin.take());
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "Paho script failed: {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the Paho script did not exit");
    }
}

impl Drop for PahoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reference §18.3 "03-publish-c2b-qos1-disconnect", with Paho's own
/// auto-reconnect (`loop_forever`) instead of a manual `reconnect()`.
const C2B_QOS1_DISCONNECT: &str = r#"
import sys
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
first = [True]
def on_connect(c, u, flags, rc, props):
    if first[0]:
        first[0] = False
        c.publish("pub/qos1/test", "message", qos=1)
def on_publish(c, u, mid, rc, props):
    c.disconnect()
c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="publish-qos1-test", clean_session=False)
c.on_connect = on_connect
c.on_publish = on_publish
c.reconnect_delay_set(min_delay=1, max_delay=1)
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_forever()
"#;

#[test]
fn scripted_broker_drives_paho_through_a_qos1_resend_after_a_close() {
    let broker = ScriptedBroker::bind().unwrap();
    let Some(paho) = paho(C2B_QOS1_DISCONNECT, broker.port()) else {
        return;
    };
    let mut connect = Connect::new(ProtocolVersion::MQTTv311, "publish-qos1-test");
    connect.clean_start = false;
    let publish =
        hex("32 18 00 0d 70 75 62 2f 71 6f 73 31 2f 74 65 73 74 00 01 6d 65 73 73 61 67 65");
    let mut dup = publish.clone();
    dup[0] = 0x3a;

    let mut conn = broker.accept().unwrap();
    conn.expect_packet(&Packet::Connect(connect.clone()))
        .unwrap();
    conn.send_bytes(&hex("20 02 00 00")).unwrap();
    conn.expect_bytes(&publish).unwrap();
    conn.close();

    // Paho waits its reconnect delay (1 s), then re-sends with DUP.
    let mut conn = broker.with_timeout(WAIT).accept().unwrap();
    conn.expect_packet(&Packet::Connect(connect)).unwrap();
    conn.send_bytes(&hex("20 02 00 00")).unwrap();
    conn.expect_bytes(&dup).unwrap();
    conn.send_bytes(&hex("40 02 00 01")).unwrap();
    conn.expect_bytes(&hex("e0 00")).unwrap();
    conn.expect_close().unwrap();
    paho.wait_exit();
}

/// A persistent Paho subscriber that prints what happens and quits when told.
const SUBSCRIBER: &str = r#"
import sys
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
count = [0]
def on_connect(c, u, flags, rc, props):
    count[0] += 1
    print("connected %d present=%d" % (count[0], flags.session_present), flush=True)
    if count[0] == 1:
        c.subscribe("tough/#", qos=1)
def on_subscribe(c, u, mid, rcs, props):
    print("subscribed", flush=True)
def on_message(c, u, msg):
    print("message %s" % msg.payload.decode(), flush=True)
c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tough", clean_session=False)
c.on_connect = on_connect
c.on_subscribe = on_subscribe
c.on_message = on_message
c.reconnect_delay_set(min_delay=1, max_delay=1)
c.connect("127.0.0.1", int(sys.argv[1]), keepalive=5)
c.loop_start()
sys.stdin.readline()
c.disconnect()
c.loop_stop()
"#;

#[test]
fn paho_reconnects_through_a_fault_proxy_cut_and_gets_what_it_missed() {
    let broker = Broker::start().unwrap();
    let proxy = FaultProxy::start(broker.addr().unwrap()).unwrap();
    let Some(mut paho) = paho(SUBSCRIBER, proxy.port()) else {
        return;
    };
    paho.expect_line("connected 1 present=0");
    paho.expect_line("subscribed");
    let (mut publisher, _) = RawClient::connect_simple(
        broker.addr().unwrap(),
        ProtocolVersion::MQTTv311,
        "pub",
        true,
    );
    publisher.publish("tough/a", b"before", QoS::AtLeastOnce, false, 1);
    paho.expect_line("message before");
    // Cut only once the broker holds Paho's PUBACK: otherwise it rightly
    // re-delivers "before" (with DUP) after the reconnect.
    broker
        .wait_for_event("tough's PUBACK", |e| {
            matches!(e, BrokerEvent::PacketIn { client_id, packet: Packet::PubAck(_), .. } if client_id == "tough")
        })
        .unwrap();

    assert_eq!(proxy.cut_all(), 1);
    broker
        .wait_for_event(
            "tough's connection closed",
            |e| matches!(e, BrokerEvent::Closed { client_id, .. } if client_id == "tough"),
        )
        .unwrap();
    // Published while Paho is away: the broker queues it in the session.
    publisher.publish("tough/a", b"while cut", QoS::AtLeastOnce, false, 2);
    paho.expect_line("connected 2 present=1");
    paho.expect_line("message while cut");
    assert_eq!(proxy.counters().cuts, 1);
    assert_eq!(proxy.counters().accepted, 2);
    paho.tell("quit");
    paho.wait_exit();
}
