//! The two outputs of every scenario: one aligned line for people and one
//! JSON line for programs.

use serde_json::Value;

/// One JSON object, built field by field; starts with `"scenario"`, and
/// keeps its fields in the order given (serde_json's own map sorts them).
pub struct Json(Vec<(String, Value)>);

impl Json {
    pub fn new(scenario: &str) -> Json {
        Json(vec![("scenario".into(), scenario.into())])
    }

    pub fn str(mut self, key: &str, value: &str) -> Json {
        self.0.push((key.into(), value.into()));
        self
    }

    pub fn int(mut self, key: &str, value: u64) -> Json {
        self.0.push((key.into(), value.into()));
        self
    }

    /// A number rounded to `decimals` digits after the point, an integer
    /// when `decimals` is 0 (`null` if not finite).
    pub fn num(mut self, key: &str, value: f64, decimals: i32) -> Json {
        let scale = 10f64.powi(decimals);
        let rounded = (value * scale).round() / scale;
        let value = if !rounded.is_finite() {
            Value::Null
        } else if decimals == 0 && rounded.abs() < 2f64.powi(53) {
            (rounded as i64).into()
        } else {
            rounded.into()
        };
        self.0.push((key.into(), value));
        self
    }

    pub fn finish(self) -> String {
        let fields: Vec<String> = self
            .0
            .iter()
            .map(|(key, value)| format!("{}:{value}", Value::from(key.as_str())))
            .collect();
        format!("{{{}}}", fields.join(","))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_is_json_with_its_fields_in_order() {
        let line = Json::new("pub\"lish")
            .str("client", "a\\b \"c\"\n\u{1}é")
            .int("count", 10_000)
            .num("msg_per_s", 78_491.4, 0)
            .num("cpu_us_per_msg", 5.3434, 3)
            .num("ratio", f64::NAN, 2)
            .finish();
        assert_eq!(
            line,
            r#"{"scenario":"pub\"lish","client":"a\\b \"c\"\n\u0001é","count":10000,"msg_per_s":78491,"cpu_us_per_msg":5.343,"ratio":null}"#
        );
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["client"], "a\\b \"c\"\n\u{1}é");
    }
}
