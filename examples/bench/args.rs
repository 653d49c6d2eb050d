//! The command line.

use mqtt_tether::ProtocolVersion;

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

/// The command line as clap reads it; [`parse`] checks it and fills in
/// the defaults that depend on other flags.
#[derive(clap::Parser)]
#[command(
    name = "bench",
    about = "The benchmark suite: what the client costs and how fast it is"
)]
struct Cli {
    /// Scenarios to run (default: all but pub-lines and persist; with --sink, publish;
    /// with --compare alone, none but the comparison)
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = clap::builder::PossibleValuesParser::new(SCENARIOS.iter().chain(&OPT_IN)),
    )]
    scenario: Vec<String>,
    /// Shrink every count and duration about tenfold
    #[arg(long)]
    quick: bool,
    /// Publish to an in-process acking sink instead of a broker (the client
    /// alone is measured)
    #[arg(long)]
    sink: bool,
    /// Compare with libmosquitto and Paho Python
    #[arg(long)]
    compare: bool,
    /// A broker of one's own instead of the Mosquitto the bench starts
    #[arg(long)]
    host: Option<String>,
    /// Its port
    #[arg(long, default_value_t = 1883)]
    port: u16,
    /// Publish count for QoS 0 and 1 (default 100,000, quick 10,000; QoS 2
    /// a third of it); lines for pub-lines (default 300,000, quick 30,000)
    #[arg(long)]
    count: Option<usize>,
    /// Subscribe count (default 100,000, quick 10,000)
    #[arg(long = "sub-count")]
    sub_count: Option<usize>,
    /// QoS levels
    #[arg(long, value_delimiter = ',', default_value = "0,1,2",
          value_parser = clap::value_parser!(i32).range(0..=2))]
    qos: Vec<i32>,
    /// Payload sizes in bytes
    #[arg(long, value_delimiter = ',', default_value = "64,1024")]
    payload: Vec<usize>,
    /// In-flight windows for QoS > 0
    #[arg(long, value_delimiter = ',', default_value = "20,100")]
    inflight: Vec<usize>,
    /// Protocol versions: 3.1.1 (or 311, 4) and 5 (or 5.0)
    #[arg(long, value_delimiter = ',', default_value = "3.1.1,5", value_parser = protocol)]
    protocol: Vec<ProtocolVersion>,
    /// Transports for the publish scenario: tcp, tls, ws
    #[arg(long, value_delimiter = ',', default_value = "tcp")]
    transport: Vec<String>,
    /// Message rates of the latency scenario, msg/s
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    rates: Vec<u32>,
    /// Seconds per latency run (default 3, quick 0.5)
    #[arg(long = "latency-secs")]
    latency_secs: Option<f64>,
    /// Rounds of the reconnect scenario (default 5, quick 2)
    #[arg(long)]
    rounds: Option<usize>,
    /// The reconnect scenario's client backoff, MIN_MS,MAX_MS
    #[arg(
        long = "reconnect-delay",
        value_delimiter = ',',
        num_args = 1,
        default_value = "5,50"
    )]
    reconnect_delay: Vec<u64>,
    /// Seconds of the idle scenario (default 30, quick 3)
    #[arg(long = "idle-secs")]
    idle_secs: Option<f64>,
    /// QoS 1 messages queued while disconnected in the queued scenario
    #[arg(long, default_value_t = 60_000)]
    queued: usize,
    /// Internal: one queued-memory measurement in this (fresh) process,
    /// PROTOCOL:PAYLOAD
    #[arg(long = "queued-child", hide = true)]
    queued_child: Option<String>,
}

/// Reads the command line (`--help` and malformed flags end the process
/// with clap's text); an error is a combination that makes no sense.
pub fn parse() -> Result<Args, String> {
    let cli = <Cli as clap::Parser>::parse();
    let reconnect_delay = match cli.reconnect_delay[..] {
        [min, max] if min <= max => (min, max),
        _ => return Err("--reconnect-delay MIN_MS,MAX_MS".into()),
    };
    if cli.queued > MAX_QUEUED {
        return Err(format!(
            "--queued: at most {MAX_QUEUED} (16-bit message ids)"
        ));
    }
    let queued_child = match &cli.queued_child {
        Some(v) => {
            let (p, size) = v.split_once(':').ok_or("--queued-child PROTOCOL:PAYLOAD")?;
            let size = size
                .parse()
                .map_err(|e| format!("--queued-child {size}: {e}"))?;
            Some((protocol(p)?, size))
        }
        None => None,
    };
    let scenarios = if !cli.scenario.is_empty() {
        cli.scenario
    } else if cli.sink {
        // --sink measures the client alone, which only the publish
        // scenario can do (the others need a broker's routing).
        vec!["publish".into()]
    } else if cli.compare {
        Vec::new()
    } else {
        SCENARIOS.iter().map(|s| s.to_string()).collect()
    };
    Ok(Args {
        scenarios,
        quick: cli.quick,
        sink: cli.sink,
        compare: cli.compare,
        host: cli.host,
        port: cli.port,
        count: cli.count,
        sub_count: cli.sub_count,
        qos: cli.qos,
        payloads: cli.payload,
        inflights: cli.inflight,
        protocols: cli.protocol,
        transports: cli.transport,
        rates: cli.rates,
        latency_secs: cli.latency_secs,
        rounds: cli.rounds,
        reconnect_delay,
        idle_secs: cli.idle_secs,
        queued: cli.queued,
        queued_child,
    })
}
