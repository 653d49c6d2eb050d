//! The C client the bench compares with: `mosq_bench.c` (next to this
//! file) on the real libmosquitto, compiled here when its header and a C
//! compiler are there (Debian: `apt install libmosquitto-dev`). Unlike
//! `mosquitto_pub -l`, which disconnects at the end of its input with
//! messages still unacknowledged, it waits for every acknowledgement.

use std::path::PathBuf;
use std::time::SystemTime;

use mqtt_tether::testing::find_program;

const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/bench/mosq_bench.c");
const HEADERS: &[&str] = &["/usr/include/mosquitto.h", "/usr/local/include/mosquitto.h"];

/// The compiled `mosq_bench`, next to the bench's own executable; compiled
/// now when it is missing or older than its source. `Err` says what is
/// missing.
pub fn program() -> Result<PathBuf, String> {
    if !HEADERS.iter().any(|h| std::path::Path::new(h).exists()) {
        return Err("libmosquitto is not installed (apt install libmosquitto-dev)".into());
    }
    let dir = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .ok_or("the bench's directory")?
        .to_path_buf();
    let out = dir.join("mosq_bench");
    let modified = |p: &std::path::Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH)
    };
    if out.exists() && modified(&out) >= modified(std::path::Path::new(SOURCE)) {
        return Ok(out);
    }
    let cc = find_program("cc")
        .or_else(|| find_program("gcc"))
        .ok_or("no C compiler (cc) to build the libmosquitto client")?;
    let output = std::process::Command::new(cc)
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(SOURCE)
        .args(["-lmosquitto", "-lpthread"])
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "compiling mosq_bench.c failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(out)
}
