//! The one error type of the test kit.

use std::fmt;
use std::io;
use std::time::Duration;

/// Why a test-kit step failed.
///
/// `Debug` prints the same text as `Display`, so that a test which calls
/// `.unwrap()` on a failed step shows the readable report (both sides of a
/// mismatch decoded as packets and as hex) rather than a struct dump.
#[non_exhaustive]
pub enum Error {
    /// Nothing (or not enough) arrived before the deadline.
    Timeout {
        /// What the step was waiting for.
        waiting_for: String,
        /// How long it waited.
        after: Duration,
        /// What had arrived by then, rendered (empty if nothing).
        received: String,
    },
    /// The peer sent something other than what the script expected.
    Mismatch {
        /// The expected bytes, rendered as packets and hex.
        expected: String,
        /// The bytes that arrived, rendered as packets and hex.
        actual: String,
    },
    /// The peer closed the connection while the step waited for bytes.
    Closed {
        /// What the step was waiting for.
        waiting_for: String,
        /// What had arrived before the close, rendered (empty if nothing).
        received: String,
    },
    /// Bytes arrived while the script expected silence or a close.
    UnexpectedData {
        /// What the step expected instead.
        expected: String,
        /// The bytes that arrived, rendered as packets and hex.
        received: String,
    },
    /// A program the kit needs (such as `mosquitto`) is not installed.
    NotInstalled {
        /// The program's name.
        program: String,
    },
    /// A helper process or server could not be started, configured or
    /// stopped as asked.
    Startup(String),
    /// A socket or file operation failed.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Timeout {
                waiting_for,
                after,
                received,
            } => {
                write!(f, "timed out after {after:?} waiting for {waiting_for}")?;
                if !received.is_empty() {
                    write!(f, "\nreceived so far:\n{received}")?;
                }
                Ok(())
            }
            Error::Mismatch { expected, actual } => {
                write!(
                    f,
                    "packet mismatch\nexpected:\n{expected}\nreceived:\n{actual}"
                )
            }
            Error::Closed {
                waiting_for,
                received,
            } => {
                write!(
                    f,
                    "peer closed the connection while waiting for {waiting_for}"
                )?;
                if !received.is_empty() {
                    write!(f, "\nreceived before the close:\n{received}")?;
                }
                Ok(())
            }
            Error::UnexpectedData { expected, received } => {
                write!(f, "expected {expected}, but received:\n{received}")
            }
            Error::NotInstalled { program } => write!(f, "`{program}` is not installed"),
            Error::Startup(text) => f.write_str(text),
            Error::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

/// The result of a test-kit step.
pub type Result<T> = std::result::Result<T, Error>;
