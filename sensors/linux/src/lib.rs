//! The Vigil Linux sensor (being written).

mod error;
#[cfg(target_os = "linux")]
pub mod loader;
pub mod record;

pub use error::{ErrorCode, SensorError};
