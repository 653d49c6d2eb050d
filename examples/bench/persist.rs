//! QoS 1 publish throughput with persistence (issue 19): the publish
//! scenario's run (`publish::run`: publish as fast as `publish` returns,
//! clock stopped at the last PUBACK) with no persistence, with
//! `Durability::Every(100 ms)` and with `Durability::Sync`, in that order,
//! in one process against the same broker, each with a fresh directory
//! under the system's temporary directory (its file system is what the
//! fsyncs cost on).

use std::collections::HashSet;
use std::time::Duration;

use mqtt_tether::testing::TempDir;
use mqtt_tether::{CallbackAPIVersion, Client, Durability};

use crate::args::protocol_name;
use crate::publish::{self, Spec};
use crate::report::{self, Json};

pub fn scenario(args: &crate::args::Args, target: &crate::target::Target) {
    let settings: [(&str, Option<Durability>); 3] = [
        ("off", None),
        (
            "every 100 ms",
            Some(Durability::Every(Duration::from_millis(100))),
        ),
        ("sync", Some(Durability::Sync)),
    ];
    for &protocol in &args.protocols {
        for &payload in &args.payloads {
            for &inflight in &args.inflights {
                for (name, durability) in settings {
                    let spec = Spec {
                        protocol,
                        qos: 1,
                        payload,
                        inflight,
                        count: args.publish_count(1),
                    };
                    let what = format!(
                        "{} v{} QoS 1 inflight {inflight} {} x{} persistence {name}",
                        target.label,
                        protocol_name(protocol),
                        report::size(payload),
                        spec.count
                    );
                    match one(target, &spec, durability) {
                        Ok(o) => report::emit(
                            "persist",
                            &what,
                            &format!(
                                "{:>9.0} msg/s  {:>6.2} us/msg CPU  ({:.2} s)",
                                o.msg_per_s, o.cpu_us_per_msg, o.seconds
                            ),
                            Json::new("persist")
                                .str("protocol", protocol_name(protocol))
                                .int("payload", payload as u64)
                                .int("inflight", inflight as u64)
                                .int("count", spec.count as u64)
                                .str("persistence", name)
                                .num("msg_per_s", o.msg_per_s, 0)
                                .num("cpu_us_per_msg", o.cpu_us_per_msg, 3)
                                .num("seconds", o.seconds, 3),
                        ),
                        Err(e) => report::note("persist", &format!("{what}: failed: {e}")),
                    }
                }
            }
        }
    }
}

fn one(
    target: &crate::target::Target,
    spec: &Spec,
    durability: Option<Durability>,
) -> Result<publish::Outcome, String> {
    let client = Client::with_options(
        CallbackAPIVersion::VERSION2,
        mqtt_tether::ClientOptions {
            protocol: spec.protocol,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let dir = TempDir::new("bench-persist").map_err(|e| e.to_string())?;
    if let Some(durability) = durability {
        client
            .persistence_set(dir.path(), durability)
            .map_err(|e| e.to_string())?;
    }
    publish::run(&client, &target.host, target.port, spec, &HashSet::new)
}
