//! The `paho_*` examples (ports of Paho's examples folder) run as
//! processes with their default arguments, each against the in-process
//! broker it starts itself (no fixed port), plus a few runs against a broker
//! given with `-h`/`-p`.
#![cfg(feature = "testing")]

mod common;

use std::time::{Duration, Instant};

use common::examples::{example, run, WATCHDOG};
use mqtt_tether::testing::Broker;

/// Runs an example with `args` and returns its standard output.
fn run_example(name: &str, args: &[&str]) -> String {
    let mut command = example(name);
    command.args(args);
    run(command, name)
}

/// Asserts that every one of `lines` is a line of `out`.
#[track_caller]
fn assert_lines(out: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            out.lines().any(|l| l == *line),
            "missing line {line:?} in:\n{out}"
        );
    }
}

/// `-h 127.0.0.1 -p PORT` for `broker`.
fn at(broker: &Broker) -> [String; 4] {
    [
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        broker.port().to_string(),
    ]
}

#[test]
fn paho_sub_prints_the_messages_its_second_client_publishes() {
    let out = run_example("paho_sub", &[]);
    assert_lines(
        &out,
        &[
            "reason_code: Success",
            "Subscribed: 1 [Granted QoS 1]",
            "paho/test/1 1 hello 1",
            "paho/test/2 1 hello 2",
            "paho/test/3 1 hello 3",
            "received 3 messages, disconnecting",
            "done: 3 messages received",
        ],
    );
    assert!(out.starts_with("no -h given: started the in-process test broker on 127.0.0.1:"));
}

#[test]
fn paho_sub_with_a_host_and_count_stops_after_count_messages() {
    let broker = Broker::start().unwrap();
    let mut command = example("paho_sub");
    command
        .args(at(&broker))
        .args(["-t", "given/#", "-q", "0", "--count", "2"]);
    let child = std::thread::spawn(move || run(command, "paho_sub -h"));
    // Publish until the subscriber is there; it stops after two.
    let publisher = mqtt_tether::Client::new(mqtt_tether::CallbackAPIVersion::VERSION2).unwrap();
    assert_eq!(
        publisher.connect("127.0.0.1", broker.port(), 60).unwrap(),
        mqtt_tether::MQTT_ERR_SUCCESS
    );
    assert_eq!(publisher.loop_start(), mqtt_tether::MQTT_ERR_SUCCESS);
    let deadline = Instant::now() + WATCHDOG;
    while !child.is_finished() && Instant::now() < deadline {
        let info = publisher.publish("given/x", "ping", 0, false).unwrap();
        let _ = info.wait_for_publish(Some(Duration::from_secs(1)));
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = publisher.disconnect();
    let _ = publisher.loop_stop();
    let out = child.join().unwrap();
    assert!(!out.contains("in-process"), "{out}");
    assert_lines(
        &out,
        &[
            "Subscribed: 1 [Granted QoS 0]",
            "given/x 0 ping",
            "received 2 messages, disconnecting",
            "done: 2 messages received",
        ],
    );
}

#[test]
fn paho_pub_wait_waits_for_every_message() {
    let out = run_example("paho_pub_wait", &[]);
    for mid in 1..=5 {
        assert_lines(
            &out,
            &[
                &format!("publish mid {mid}: rc Success, is_published() = false"),
                &format!("on_publish: mid {mid} (Success)"),
            ],
        );
        assert!(
            out.lines().any(
                |l| l.starts_with(&format!("wait_for_publish mid {mid}: done in "))
                    && l.ends_with("is_published() = true")
            ),
            "{out}"
        );
    }
    assert_lines(&out, &["published 5 messages at QoS 2, each waited for"]);
}

#[test]
fn paho_pub_wait_against_a_given_broker_with_count_and_qos() {
    let broker = Broker::start().unwrap();
    let mut args: Vec<String> = at(&broker).into();
    args.extend(["--count", "2", "-q", "1", "-t", "a/b"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_example("paho_pub_wait", &args);
    assert_lines(&out, &["published 2 messages at QoS 1, each waited for"]);
    assert!(!out.contains("publish mid 3"), "{out}");
}

#[test]
fn paho_multiple_callbacks_routes_by_filter() {
    let out = run_example("paho_multiple_callbacks", &[]);
    assert_lines(
        &out,
        &[
            "MESSAGES: paho/multi/messages/received 0 12",
            "BYTES: paho/multi/bytes/received 0 3456",
            "ON_MESSAGE: paho/multi/clients/connected 0 2",
            "done: 3 messages received",
        ],
    );
}

#[test]
fn paho_session_present_reports_the_kept_session() {
    let out = run_example("paho_session_present", &[]);
    let flags: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("Session present:"))
        .map(str::trim)
        .collect();
    assert_eq!(
        flags,
        [
            "Session present: false",
            "Session present: true",
            "Session present: false"
        ],
        "{out}"
    );
    assert_lines(
        &out,
        &[
            "First connection:",
            "Second connection:",
            "Third connection (with clean session=True):",
            "    Received while away: paho/session-present \"published while away\"",
            "done: the kept session delivered the message published while away",
        ],
    );
}

#[test]
fn paho_logger_prints_the_log_lines_twice() {
    let out = run_example("paho_logger", &[]);
    assert_lines(
        &out,
        &[
            "== stopping the in-process broker for 0.5 s ==",
            "on_log: Info: Waiting 0.100 s before reconnecting",
            "on_message: paho/logger hello, log",
            "done",
        ],
    );
    // enable_logger: the same line through the log crate.
    assert!(
        out.lines().any(|l| l.starts_with("log: INFO mqtt_tether")
            && l.ends_with(": Waiting 0.100 s before reconnecting")),
        "{out}"
    );
    assert!(
        out.contains("on_log: Info: Connection failed, retrying"),
        "{out}"
    );
    assert_eq!(out.matches("on_connect: Success").count(), 2, "{out}");
}

#[test]
fn paho_manual_ack_acks_after_processing() {
    let out = run_example("paho_manual_ack", &[]);
    assert_lines(
        &out,
        &[
            "received mid 1 at QoS 1 on paho/ack/one, not acknowledged yet",
            "received mid 2 at QoS 2 on paho/ack/two, not acknowledged yet",
            "ack(1, 1) -> Success",
            "ack(2, 2) -> Success",
            "done: 2 messages processed and acknowledged",
        ],
    );
    // Each ack comes after its message was processed.
    let pos = |s: &str| out.find(s).unwrap_or_else(|| panic!("{s:?} in {out}"));
    assert!(pos("processing mid 1:") < pos("ack(1, 1)"), "{out}");
    assert!(pos("processing mid 2:") < pos("ack(2, 2)"), "{out}");
}

#[test]
fn paho_mqtt5_round_trips_properties_and_prints_reason_codes() {
    let out = run_example("paho_mqtt5", &[]);
    assert_lines(
        &out,
        &[
            "responder: SUBACK Granted QoS 1",
            "requester: correlation data matches the request: true",
            "requester: UNSUBACK mid 3: Success",
            "requester: disconnected: Normal disconnection (value 0), from the server: false, []",
            "done: 2 + 3 = 5 came back with the request's correlation data",
        ],
    );
    assert!(
        out.contains("requester: CONNACK Success (value 0), session present false"),
        "{out}"
    );
    assert!(
        out.contains("requester: PUBACK mid 2: Success (value 0)"),
        "{out}"
    );
    let request = out
        .lines()
        .find(|l| l.starts_with("responder: request \"2 3\" with"))
        .unwrap_or_else(|| panic!("no request line in {out}"));
    for property in [
        "UserProperty=(\"operation\", \"add\")",
        "MessageExpiryInterval(",
        "ResponseTopic(\"paho/rpc/reply/",
        "CorrelationData=\"request-1\"",
    ] {
        assert!(request.contains(property), "{property} missing: {request}");
    }
    let reply = out
        .lines()
        .find(|l| l.starts_with("requester: reply \"5\""))
        .unwrap_or_else(|| panic!("no reply line in {out}"));
    assert!(reply.contains("CorrelationData=\"request-1\""), "{reply}");
    assert!(
        reply.contains("UserProperty=(\"served-by\", \"responder\")"),
        "{reply}"
    );
}

#[test]
fn paho_loop_select_runs_on_the_callers_loop() {
    let out = run_example("paho_loop_select", &[]);
    assert_lines(
        &out,
        &[
            "on_socket_open: watching the socket",
            "on_connect: Success",
            "on_subscribe: mid 1 [Granted QoS 1]",
            "on_message: paho/select message 5",
            "on_disconnect: Normal disconnection",
            "on_socket_close: the loop ends",
            "done: 5 messages through the external loop",
        ],
    );
    let counts = out
        .lines()
        .find(|l| l.starts_with("loop calls: "))
        .unwrap_or_else(|| panic!("no counts in {out}"));
    // Write interest comes and goes in pairs, and was used.
    let number_after = |key: &str| -> usize {
        let rest = &counts[counts.find(key).unwrap() + key.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let registered = number_after("registered ");
    assert!(registered > 0, "{counts}");
    assert_eq!(registered, number_after("unregistered "), "{counts}");
    assert!(number_after("loop_read ") > 0, "{counts}");
}

#[test]
fn paho_loop_select_against_a_given_broker_with_count() {
    let broker = Broker::start().unwrap();
    let mut args: Vec<String> = at(&broker).into();
    args.extend(["--count", "2"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_example("paho_loop_select", &args);
    assert_lines(&out, &["done: 2 messages through the external loop"]);
}

#[test]
fn every_paho_example_prints_its_usage_for_help() {
    for name in [
        "paho_sub",
        "paho_pub_wait",
        "paho_multiple_callbacks",
        "paho_session_present",
        "paho_logger",
        "paho_manual_ack",
        "paho_mqtt5",
        "paho_loop_select",
    ] {
        let out = run_example(name, &["--help"]);
        assert!(out.starts_with(&format!("usage: {name} ")), "{name}: {out}");
    }
}
