//! The two outputs of every scenario: one aligned line for people and one
//! JSON line for programs (formatted by hand: the example takes no serde).

use std::fmt::Write;

/// One JSON object, built field by field; starts with `"scenario"`.
pub struct Json(String);

impl Json {
    pub fn new(scenario: &str) -> Json {
        Json(format!("{{\"scenario\":\"{}\"", escape(scenario)))
    }

    pub fn str(mut self, key: &str, value: &str) -> Json {
        let _ = write!(self.0, ",\"{key}\":\"{}\"", escape(value));
        self
    }

    pub fn int(mut self, key: &str, value: u64) -> Json {
        let _ = write!(self.0, ",\"{key}\":{value}");
        self
    }

    /// A number with `decimals` digits after the point (`null` if not finite).
    pub fn num(mut self, key: &str, value: f64, decimals: usize) -> Json {
        if value.is_finite() {
            let _ = write!(self.0, ",\"{key}\":{value:.decimals$}");
        } else {
            let _ = write!(self.0, ",\"{key}\":null");
        }
        self
    }

    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Prints a scenario's result: `scenario  what-was-run  figures`, the first
/// two columns padded so that the figures of all scenarios line up, then
/// the JSON line.
pub fn emit(scenario: &str, what: &str, figures: &str, json: Json) {
    println!("{scenario:<10} {what:<58} {figures}");
    println!("{}", json.finish());
}

/// A line that is not a result (a skipped scenario, a note).
pub fn note(scenario: &str, text: &str) {
    println!("{scenario:<10} {text}");
}

/// `64 B`, `1 KiB`.
pub fn size(bytes: usize) -> String {
    if bytes >= 1024 && bytes % 1024 == 0 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}
