//! [`SensorError`]: what stops the sensor from starting, with its code (E10xx).

use std::fmt;

pub use vigil_runtime::ErrorCode;

/// Why the sensor could not start (or a record was refused): a code and a message naming what
/// failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SensorError {
    /// The code: E1001–E1006.
    pub code: ErrorCode,
    /// What failed, naming the program, map, tracepoint or file.
    pub message: String,
}

impl SensorError {
    /// An error with `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> SensorError {
        SensorError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for SensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}", self.code, self.message)
    }
}

impl std::error::Error for SensorError {}
