//! `vigil agent --source ebpf`: the Linux eBPF sensor ([`vigil_sensor_linux`]) started and
//! wrapped as the agent's [`LiveSource`]. Elsewhere than on Linux the option is refused with
//! E1001.

use vigil_agent::agent::LiveSource;
use vigil_runtime::Schema;

/// The live sources `--source` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SourceChoice {
    /// The Linux eBPF sensor.
    Ebpf,
}

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::Arc;
    use std::time::Duration;

    use vigil_agent::agent::{LiveSource, SourceReport};
    use vigil_runtime::{Event, Schema};
    use vigil_sensor_linux::sensor::{Sensor, SensorOptions};

    /// Records read per poll at most, so that the status keeps being written under a flood.
    const BATCH: usize = 4096;

    /// The sensor as a live source of the agent.
    pub(super) struct EbpfSource {
        pub(super) sensor: Sensor,
    }

    impl LiveSource for EbpfSource {
        fn name(&self) -> &str {
            "ebpf"
        }

        fn poll(&mut self, timeout: Duration, emit: &mut dyn FnMut(Event<'static>) -> bool) {
            self.sensor.poll(timeout, BATCH, emit);
        }

        fn drain(&mut self, emit: &mut dyn FnMut(Event<'static>) -> bool) {
            self.sensor.drain(emit);
        }

        fn report(&self) -> SourceReport {
            let s = self.sensor.stats();
            SourceReport {
                produced: s.produced,
                lost: s.lost,
                received: s.received,
                dropped: s.dropped.clone(),
                detail: serde_json::to_value(&s).unwrap_or_default(),
            }
        }
    }

    pub(super) fn start(
        schema: &Schema,
        ring_mb: u32,
        table: usize,
    ) -> Result<Box<dyn LiveSource>, String> {
        if !ring_mb.is_power_of_two() || ring_mb > 1024 {
            return Err(format!(
                "`--ring-mb {ring_mb}`: the ring buffer must be a power of two of at most 1024 MiB"
            ));
        }
        let options = SensorOptions {
            ring_bytes: ring_mb << 20,
            table_capacity: table.max(1),
            ..SensorOptions::default()
        };
        let sensor =
            Sensor::start(Arc::new(schema.clone()), &options).map_err(|e| e.to_string())?;
        let stats = sensor.stats();
        let attached = stats.probes.iter().filter(|p| p.attached).count();
        eprintln!(
            "vigil agent: ebpf sensor: {attached} of {} probes attached, ring buffer {ring_mb} MiB, \
             {} processes seeded from /proc",
            stats.probes.len(),
            stats.seeded
        );
        for missing in sensor.missing_probes() {
            eprintln!("vigil agent: warning: ebpf sensor: not captured: {missing}");
        }
        Ok(Box::new(EbpfSource { sensor }))
    }
}

/// Starts the sensor (loads and attaches its programs) for events of `schema`.
///
/// # Errors
/// The sensor's coded error (E1001–E1004), or a bad `--ring-mb`.
pub(crate) fn start(
    schema: &Schema,
    ring_mb: u32,
    table: usize,
) -> Result<Box<dyn LiveSource>, String> {
    #[cfg(target_os = "linux")]
    {
        linux::start(schema, ring_mb, table)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (schema, ring_mb, table);
        Err(format!(
            "error[{}]: the eBPF sensor runs on Linux only",
            vigil_runtime::ErrorCode::SensorNotBuilt
        ))
    }
}
