//! The command line.

use mqtt_tether::ProtocolVersion;

pub const USAGE: &str = "\
usage: bench [--scenario publish,subscribe,latency,reconnect,idle,queued,pub-lines,persist] [--quick]
             [--sink] [--compare] [--host HOST --port PORT]
             [--count N] [--sub-count N] [--qos 0,1,2] [--payload 64,1024]
             [--inflight 20,100] [--protocol 3.1.1,5] [--transport tcp,tls,ws]
             [--rates 1000,10000] [--latency-secs S] [--rounds N]
             [--reconnect-delay MIN_MS,MAX_MS] [--idle-secs S] [--queued N]";

pub const SCENARIOS: [&str; 6] = [
    "publish",
    "subscribe",
    "latency",
    "reconnect",
    "idle",
    "queued",
];

/// Scenarios run only when `--scenario` names them.
pub const OPT_IN: [&str; 2] = ["pub-lines", "persist"];

/// The most QoS 1 messages one client can hold unacknowledged: message ids
/// are 16-bit and 0 is not one.
pub const MAX_QUEUED: usize = 65_535;

pub struct Args {
    pub scenarios: Vec<String>,
    pub quick: bool,
    pub sink: bool,
    pub compare: bool,
    pub host: Option<String>,
    pub port: u16,
    /// Publish count for QoS 0 and 1 (`None`: 100,000, quick 10,000).
    count: Option<usize>,
    /// Subscribe count (`None`: 100,000, quick 10,000).
    sub_count: Option<usize>,
    pub qos: Vec<i32>,
    pub payloads: Vec<usize>,
    pub inflights: Vec<usize>,
    pub protocols: Vec<ProtocolVersion>,
    pub transports: Vec<String>,
    pub rates: Vec<u32>,
    latency_secs: Option<f64>,
    rounds: Option<usize>,
    /// The client's reconnect backoff in the reconnect scenario, ms.
    pub reconnect_delay: (u64, u64),
    idle_secs: Option<f64>,
    pub queued: usize,
    /// Internal: run one queued-memory measurement in this (fresh) process
    /// and print its lines: protocol, payload.
    pub queued_child: Option<(ProtocolVersion, usize)>,
}

impl Args {
    /// Messages per publish run at `qos`: QoS 2 costs two round trips per
    /// message, so it gets a third of the count by default.
    pub fn publish_count(&self, qos: i32) -> usize {
        let base = self
            .count
            .unwrap_or(if self.quick { 10_000 } else { 100_000 });
        if qos == 2 && self.count.is_none() {
            base / 3
        } else {
            base
        }
    }

    /// Lines for `pub-lines` (`--count`; default 300,000, quick 30,000).
    pub fn lines_count(&self) -> usize {
        self.count
            .unwrap_or(if self.quick { 30_000 } else { 300_000 })
    }

    pub fn sub_count(&self) -> usize {
        self.sub_count
            .unwrap_or(if self.quick { 10_000 } else { 100_000 })
    }

    pub fn latency_secs(&self) -> f64 {
        self.latency_secs
            .unwrap_or(if self.quick { 0.5 } else { 3.0 })
    }

    pub fn rounds(&self) -> usize {
        self.rounds.unwrap_or(if self.quick { 2 } else { 5 })
    }

    pub fn idle_secs(&self) -> f64 {
        self.idle_secs
            .unwrap_or(if self.quick { 3.0 } else { 30.0 })
    }

    pub fn wants(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }
}

pub fn protocol_name(p: ProtocolVersion) -> &'static str {
    match p {
        ProtocolVersion::MQTTv5 => "5",
        ProtocolVersion::MQTTv31 => "3.1",
        _ => "3.1.1",
    }
}

fn protocol(s: &str) -> Result<ProtocolVersion, String> {
    match s {
        "3.1.1" | "311" | "4" => Ok(ProtocolVersion::MQTTv311),
        "5" | "5.0" => Ok(ProtocolVersion::MQTTv5),
        other => Err(format!("--protocol: {other} (3.1.1 or 5)")),
    }
}

fn list<T: std::str::FromStr>(flag: &str, value: &str) -> Result<Vec<T>, String>
where
    T::Err: std::fmt::Display,
{
    value
        .split(',')
        .map(|v| v.trim().parse().map_err(|e| format!("{flag} {v}: {e}")))
        .collect()
}

fn one<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| format!("{flag} {value}: {e}"))
}

pub fn parse() -> Result<Args, String> {
    let mut a = Args {
        scenarios: Vec::new(),
        quick: false,
        sink: false,
        compare: false,
        host: None,
        port: 1883,
        count: None,
        sub_count: None,
        qos: vec![0, 1, 2],
        payloads: vec![64, 1024],
        inflights: vec![20, 100],
        protocols: vec![ProtocolVersion::MQTTv311, ProtocolVersion::MQTTv5],
        transports: vec!["tcp".into()],
        rates: vec![1_000, 10_000],
        latency_secs: None,
        rounds: None,
        reconnect_delay: (5, 50),
        idle_secs: None,
        queued: 60_000,
        queued_child: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--scenario" => {
                a.scenarios = value()?.split(',').map(String::from).collect();
                if let Some(bad) = a
                    .scenarios
                    .iter()
                    .find(|s| !SCENARIOS.contains(&s.as_str()) && !OPT_IN.contains(&s.as_str()))
                {
                    return Err(format!("--scenario: unknown {bad}"));
                }
            }
            "--quick" => a.quick = true,
            "--sink" => a.sink = true,
            "--compare" => a.compare = true,
            "--host" => a.host = Some(value()?),
            "--port" => a.port = one(&flag, &value()?)?,
            "--count" => a.count = Some(one(&flag, &value()?)?),
            "--sub-count" => a.sub_count = Some(one(&flag, &value()?)?),
            "--qos" => a.qos = list(&flag, &value()?)?,
            "--payload" => a.payloads = list(&flag, &value()?)?,
            "--inflight" => a.inflights = list(&flag, &value()?)?,
            "--protocol" => {
                a.protocols = value()?
                    .split(',')
                    .map(protocol)
                    .collect::<Result<_, _>>()?
            }
            "--transport" => a.transports = value()?.split(',').map(String::from).collect(),
            "--rates" => a.rates = list(&flag, &value()?)?,
            "--latency-secs" => a.latency_secs = Some(one(&flag, &value()?)?),
            "--rounds" => a.rounds = Some(one(&flag, &value()?)?),
            "--reconnect-delay" => {
                let v: Vec<u64> = list(&flag, &value()?)?;
                match v[..] {
                    [min, max] if min <= max => a.reconnect_delay = (min, max),
                    _ => return Err("--reconnect-delay MIN_MS,MAX_MS".into()),
                }
            }
            "--idle-secs" => a.idle_secs = Some(one(&flag, &value()?)?),
            "--queued" => {
                a.queued = one(&flag, &value()?)?;
                if a.queued > MAX_QUEUED {
                    return Err(format!(
                        "--queued: at most {MAX_QUEUED} (16-bit message ids)"
                    ));
                }
            }
            "--queued-child" => {
                let v = value()?;
                let (p, size) = v.split_once(':').ok_or("--queued-child PROTOCOL:PAYLOAD")?;
                a.queued_child = Some((protocol(p)?, one(&flag, size)?));
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.scenarios.is_empty() {
        // --sink measures the client alone, which only the publish
        // scenario can do (the others need a broker's routing).
        a.scenarios = if a.sink {
            vec!["publish".into()]
        } else if a.compare {
            Vec::new()
        } else {
            SCENARIOS.iter().map(|s| s.to_string()).collect()
        };
    }
    if a.qos.iter().any(|q| !(0..=2).contains(q)) {
        return Err("--qos: 0, 1 or 2".into());
    }
    Ok(a)
}
