//! The Vigil Linux sensor: a minimal kernel side that only collects, feeding Vigil events to a
//! user-mode agent where all detection runs (`vigil agent --source ebpf`; docs/sensor-linux.md).
//!
//! - The kernel side is CO-RE eBPF in C (`bpf/sensor.bpf.c`) on tracepoints: process exec and
//!   exit, file opens for writing or creation, deletes and renames, connects and accepts,
//!   module loads. `build.rs` compiles it with clang against a `vmlinux.h` that bpftool writes
//!   from the kernel's BTF; records reach user mode through a BPF ring buffer, and what does
//!   not fit is counted in the kernel, never waited for.
//! - It is loaded with **aya**, a pure-Rust loader that relocates the programs against the
//!   running kernel's BTF itself: the agent links no C library (no libbpf, libelf or zlib), and
//!   the workspace builds where clang is missing (the sensor is then left out and says so,
//!   E1001). libbpf-rs would have brought libbpf's C build and libelf into every build.
//! - User mode checks each record ([`record`]), keeps a bounded process table seeded from
//!   /proc ([`procs`]) and builds events of the host schema, by default the `linux-ebpf`
//!   profile of `endpoint`, through the runtime's event builder ([`events`]); [`sensor`] ties
//!   it together with the accounting `status.json` reports.
//!
//! Everything but the record format is Linux-only.

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
