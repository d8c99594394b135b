//! The Vigil Linux sensor (being written).

mod error;
#[cfg(target_os = "linux")]
pub mod events;
#[cfg(target_os = "linux")]
pub mod loader;
#[cfg(target_os = "linux")]
pub mod procs;
pub mod record;
#[cfg(target_os = "linux")]
pub mod sensor;

pub use error::{ErrorCode, SensorError};
