//! [`Sensor`]: the kernel side loaded ([`crate::loader`]), the process table seeded from
//! /proc, and the loop step that reads records from the ring buffer, builds events and hands
//! them on, with the accounting `status.json` reports ([`SensorStats`]):
//!
//! - `produced = received + lost (+ records still in the ring buffer)`: the kernel counts
//!   every record it tries to write and every one the full ring buffer refused; user mode
//!   counts every record it reads;
//! - `received = delivered + dropped`: every record read is either handed on as an event or
//!   dropped under a code (E1005 malformed, E1006 refused by the schema), never silently.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use vigil_runtime::{ErrorCode, Event, Schema};

use crate::error::SensorError;
use crate::events::{Builder, Flagged};
use crate::loader::{Kernel, KernelCounts, ProbeStatus};
use crate::procs::{boot_id_prefix, clk_tck, ProcessTable, Users};
use crate::record;

/// How the sensor runs.
#[derive(Clone, Debug)]
pub struct SensorOptions {
    /// Ring buffer bytes: a power of two, a multiple of the page size (default 32 MiB).
    pub ring_bytes: u32,
    /// Processes the table keeps (default 65,536).
    pub table_capacity: usize,
    /// Where /proc is (for the seed).
    pub proc_root: PathBuf,
    /// The passwd file user names come from.
    pub passwd: PathBuf,
    /// The process whose events are filtered in the kernel: the agent's own.
    pub agent_pid: u32,
}

impl Default for SensorOptions {
    fn default() -> SensorOptions {
        SensorOptions {
            ring_bytes: 32 << 20,
            table_capacity: 65_536,
            proc_root: PathBuf::from("/proc"),
            passwd: PathBuf::from("/etc/passwd"),
            agent_pid: std::process::id(),
        }
    }
}

/// What the sensor reports.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SensorStats {
    /// Records the kernel side tried to write.
    pub produced: u64,
    /// Of those, the ones lost because the ring buffer was full (counted in the kernel).
    pub lost: u64,
    /// Records read by user mode.
    pub received: u64,
    /// Records handed on as events.
    pub delivered: u64,
    /// Records dropped, by code.
    pub dropped: BTreeMap<String, u64>,
    /// Events of the agent's own process, filtered in the kernel (no record).
    pub self_filtered: u64,
    /// Syscalls not recorded because the kernel side's table of syscalls in progress was full.
    pub untracked: u64,
    /// What records could not carry completely (flagged on their events).
    pub flagged: Flagged,
    /// Processes in the table, and how many the /proc seed read and missed.
    pub processes: usize,
    /// Processes read from /proc at start.
    pub seeded: usize,
    /// Processes /proc listed but that could not be read (they exited meanwhile).
    pub seed_missed: usize,
    /// Ring buffer bytes.
    pub ring_bytes: u32,
    /// Each program and whether it attached at start.
    pub probes: Vec<ProbeStatus>,
    /// Whether the programs are detached (the sensor stopped): the counters are final.
    pub detached: bool,
}

/// The running sensor.
pub struct Sensor {
    kernel: Kernel,
    builder: Builder,
    stats: SensorStats,
}

/// The name of this machine.
fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Boot-clock nanoseconds now.
fn boot_now() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

impl Sensor {
    /// Loads and attaches the programs, then seeds the process table from /proc (after the
    /// attach, so that no process falls between the two). Events are built for `schema`.
    ///
    /// # Errors
    /// [`SensorError`] with E1001–E1004, naming what failed.
    pub fn start(schema: Arc<Schema>, options: &SensorOptions) -> Result<Sensor, SensorError> {
        if !options.ring_bytes.is_power_of_two() || options.ring_bytes < 4096 {
            return Err(SensorError::new(
                ErrorCode::SensorProbeFailed,
                format!(
                    "ring buffer of {} bytes: it must be a power of two of at least 4096",
                    options.ring_bytes
                ),
            ));
        }
        let kernel = Kernel::load(options.agent_pid, options.ring_bytes)?;
        let mut users = Users::new(options.passwd.clone());
        let mut procs = ProcessTable::new(options.table_capacity);
        let seed = procs.seed_from_proc(&options.proc_root, &mut users);
        let builder = Builder::new(
            schema,
            options.proc_root.clone(),
            host_name(),
            boot_id_prefix(&options.proc_root.join("sys/kernel/random/boot_id")),
            clk_tck(),
            procs,
            users,
        );
        let stats = SensorStats {
            probes: kernel.probes().to_vec(),
            ring_bytes: options.ring_bytes,
            seeded: seed.read,
            seed_missed: seed.failed,
            ..SensorStats::default()
        };
        Ok(Sensor {
            kernel,
            builder,
            stats,
        })
    }

    /// The probes that did not attach, as `what (program on tracepoint): why` lines.
    pub fn missing_probes(&self) -> Vec<String> {
        self.stats
            .probes
            .iter()
            .filter(|p| !p.attached)
            .map(|p| {
                format!(
                    "{} (`{}` on {}): {}",
                    p.captures,
                    p.program,
                    p.attach,
                    p.error.as_deref().unwrap_or("not attached")
                )
            })
            .collect()
    }

    /// Waits up to `timeout` for records, then reads up to `max` of them, handing each event
    /// to `emit`. `emit` returns false when its receiver is gone (the agent stopped): the
    /// records read after that are counted as dropped (`receiver_gone`), not delivered.
    /// Returns how many records were read.
    pub fn poll(
        &mut self,
        timeout: Duration,
        max: usize,
        emit: &mut dyn FnMut(Event<'static>) -> bool,
    ) -> usize {
        self.kernel.wait(timeout);
        self.builder.tick(boot_now());
        let Sensor {
            kernel,
            builder,
            stats,
        } = self;
        let mut open = true;
        let n = kernel.read(max, &mut |bytes| {
            stats.received += 1;
            let rec = match record::parse(bytes) {
                Ok(r) => r,
                Err(_) => {
                    *stats
                        .dropped
                        .entry(ErrorCode::SensorRecordMalformed.to_string())
                        .or_insert(0) += 1;
                    return;
                }
            };
            match builder.build(&rec) {
                Ok(ev) => {
                    if open {
                        open = emit(ev);
                    }
                    if open {
                        stats.delivered += 1;
                    } else {
                        *stats.dropped.entry("receiver_gone".to_owned()).or_insert(0) += 1;
                    }
                }
                Err((code, _)) => {
                    *stats.dropped.entry(code.to_string()).or_insert(0) += 1;
                }
            }
        });
        n
    }

    /// Stops the kernel side (detaches every program) and hands on every record still in the
    /// ring buffer: afterwards `produced = received + lost` and `received = delivered +
    /// dropped` hold exactly.
    pub fn drain(&mut self, emit: &mut dyn FnMut(Event<'static>) -> bool) {
        self.kernel.detach();
        while self.poll(Duration::ZERO, 4096, emit) > 0 {}
    }

    /// The counters now (the kernel's read at this call).
    pub fn stats(&self) -> SensorStats {
        let KernelCounts {
            produced,
            lost,
            self_filtered,
            untracked,
        } = self.kernel.counts();
        let mut s = self.stats.clone();
        s.produced = produced;
        s.lost = lost;
        s.self_filtered = self_filtered;
        s.untracked = untracked;
        s.flagged = self.builder.flagged();
        s.processes = self.builder.procs().len();
        s.detached = self.kernel.detached();
        s
    }
}
