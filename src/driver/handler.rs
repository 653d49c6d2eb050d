//! What the driver tells the layer above it: its events, and how that layer
//! answers.

/// Paho's `LogLevel` (`MQTT_LOG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `MQTT_LOG_DEBUG` (16).
    Debug = 16,
    /// `MQTT_LOG_INFO` (1).
    Info = 1,
    /// `MQTT_LOG_NOTICE` (2).
    Notice = 2,
    /// `MQTT_LOG_WARNING` (4).
    Warning = 4,
    /// `MQTT_LOG_ERR` (8).
    Err = 8,
}
