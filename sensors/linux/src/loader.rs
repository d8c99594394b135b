//! Loading the kernel side: the embedded BPF object relocated against the running kernel's
//! BTF (CO-RE, by aya), the agent's own pid written into its read-only data, the ring buffer
//! sized, each program loaded (the kernel's verifier checks it) and attached to its
//! tracepoint; then reading the ring buffer and the counters. Dropping [`Kernel`] detaches
//! every program and frees the maps (the kernel does the same if the process dies).
//!
//! Required probes (process start and exit) must attach or loading fails (E1004); optional ones
//! (files, network, modules) that the kernel lacks are reported in [`ProbeStatus`] and the
//! sensor runs without them, saying so.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::programs::TracePoint;
use aya::{Btf, Ebpf, EbpfLoader, Endianness};
use serde::Serialize;

use crate::error::{ErrorCode, SensorError};

/// The BPF object, aligned as ELF parsing wants it.
#[cfg(vigil_bpf)]
#[repr(C, align(32))]
struct Aligned<B: ?Sized> {
    bytes: B,
}

#[cfg(vigil_bpf)]
static OBJECT: &Aligned<[u8]> = &Aligned {
    bytes: *include_bytes!(concat!(env!("OUT_DIR"), "/sensor.bpf.o")),
};

/// The object, or why this build has none.
fn object() -> Result<&'static [u8], SensorError> {
    #[cfg(vigil_bpf)]
    {
        Ok(&OBJECT.bytes)
    }
    #[cfg(not(vigil_bpf))]
    {
        Err(SensorError::new(
            ErrorCode::SensorNotBuilt,
            format!(
                "this build has no eBPF programs: {}; install clang and bpftool and rebuild \
                 (docs/sensor-linux.md)",
                option_env!("VIGIL_BPF_MISSING").unwrap_or("they were not compiled")
            ),
        ))
    }
}

/// One program: its name in the object, its tracepoint, and whether the sensor needs it.
struct Probe {
    program: &'static str,
    category: &'static str,
    tracepoint: &'static str,
    required: bool,
    what: &'static str,
}

const fn probe(
    program: &'static str,
    category: &'static str,
    tracepoint: &'static str,
    required: bool,
    what: &'static str,
) -> Probe {
    Probe {
        program,
        category,
        tracepoint,
        required,
        what,
    }
}

/// Every program of `bpf/sensor.bpf.c` and where it attaches.
const PROBES: &[Probe] = &[
    probe(
        "vigil_exec",
        "sched",
        "sched_process_exec",
        true,
        "process start",
    ),
    probe(
        "vigil_exit",
        "sched",
        "sched_process_exit",
        true,
        "process exit",
    ),
    probe(
        "vigil_openat",
        "syscalls",
        "sys_enter_openat",
        false,
        "file open",
    ),
    probe(
        "vigil_openat_exit",
        "syscalls",
        "sys_exit_openat",
        false,
        "file open",
    ),
    probe(
        "vigil_open",
        "syscalls",
        "sys_enter_open",
        false,
        "file open",
    ),
    probe(
        "vigil_open_exit",
        "syscalls",
        "sys_exit_open",
        false,
        "file open",
    ),
    probe(
        "vigil_creat",
        "syscalls",
        "sys_enter_creat",
        false,
        "file open",
    ),
    probe(
        "vigil_creat_exit",
        "syscalls",
        "sys_exit_creat",
        false,
        "file open",
    ),
    probe(
        "vigil_openat2",
        "syscalls",
        "sys_enter_openat2",
        false,
        "file open",
    ),
    probe(
        "vigil_openat2_exit",
        "syscalls",
        "sys_exit_openat2",
        false,
        "file open",
    ),
    probe(
        "vigil_unlinkat",
        "syscalls",
        "sys_enter_unlinkat",
        false,
        "file delete",
    ),
    probe(
        "vigil_unlinkat_exit",
        "syscalls",
        "sys_exit_unlinkat",
        false,
        "file delete",
    ),
    probe(
        "vigil_unlink",
        "syscalls",
        "sys_enter_unlink",
        false,
        "file delete",
    ),
    probe(
        "vigil_unlink_exit",
        "syscalls",
        "sys_exit_unlink",
        false,
        "file delete",
    ),
    probe(
        "vigil_rmdir",
        "syscalls",
        "sys_enter_rmdir",
        false,
        "file delete",
    ),
    probe(
        "vigil_rmdir_exit",
        "syscalls",
        "sys_exit_rmdir",
        false,
        "file delete",
    ),
    probe(
        "vigil_renameat2",
        "syscalls",
        "sys_enter_renameat2",
        false,
        "file rename",
    ),
    probe(
        "vigil_renameat2_exit",
        "syscalls",
        "sys_exit_renameat2",
        false,
        "file rename",
    ),
    probe(
        "vigil_renameat",
        "syscalls",
        "sys_enter_renameat",
        false,
        "file rename",
    ),
    probe(
        "vigil_renameat_exit",
        "syscalls",
        "sys_exit_renameat",
        false,
        "file rename",
    ),
    probe(
        "vigil_rename",
        "syscalls",
        "sys_enter_rename",
        false,
        "file rename",
    ),
    probe(
        "vigil_rename_exit",
        "syscalls",
        "sys_exit_rename",
        false,
        "file rename",
    ),
    probe(
        "vigil_connect",
        "syscalls",
        "sys_enter_connect",
        false,
        "network connect",
    ),
    probe(
        "vigil_connect_exit",
        "syscalls",
        "sys_exit_connect",
        false,
        "network connect",
    ),
    probe(
        "vigil_accept_exit",
        "syscalls",
        "sys_exit_accept",
        false,
        "network accept",
    ),
    probe(
        "vigil_accept4_exit",
        "syscalls",
        "sys_exit_accept4",
        false,
        "network accept",
    ),
    probe(
        "vigil_module",
        "module",
        "module_load",
        false,
        "kernel module load",
    ),
];

/// How one program fared.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeStatus {
    /// The program's name.
    pub program: &'static str,
    /// `category:tracepoint`.
    pub attach: String,
    /// What it captures.
    pub captures: &'static str,
    /// Whether it is attached.
    pub attached: bool,
    /// Why not, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Counter indexes of `record.h`.
const CNT_PRODUCED: u32 = 0;
const CNT_LOST: u32 = 1;
const CNT_SELF: u32 = 2;
const CNT_UNTRACKED: u32 = 3;

/// What the kernel side counted, summed over the CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KernelCounts {
    /// Records the programs tried to write.
    pub produced: u64,
    /// Of those, the ones the ring buffer had no room for.
    pub lost: u64,
    /// Events of the agent's own process, filtered before any record.
    pub self_filtered: u64,
    /// Syscalls whose entry could not be remembered for their exit (more threads inside a
    /// tracked syscall at once than the pending map holds): their event was not recorded.
    pub untracked: u64,
}

/// The loaded programs, their ring buffer and counters.
pub struct Kernel {
    ring: RingBuf<MapData>,
    counters: PerCpuArray<MapData, u64>,
    probes: Vec<ProbeStatus>,
    detached: bool,
    /// Kept last: dropping it detaches the programs.
    ebpf: Ebpf,
}

/// Bytes waiting in the ring buffer before a record wakes the reader: a sixteenth of it (the
/// reader also looks every [`READ_INTERVAL`] on its own, so a quiet machine's records wait no
/// longer than that).
fn wakeup_bytes(ring_bytes: u32) -> u64 {
    u64::from(ring_bytes / 16)
}

/// How long the reader waits for a wake-up before it looks at the ring buffer anyway.
pub const READ_INTERVAL: Duration = Duration::from_millis(20);

/// Where tracefs is mounted by default.
const TRACEFS: &str = "/sys/kernel/tracing";
/// Where older systems mount it.
const TRACEFS_OLD: &str = "/sys/kernel/debug/tracing";

/// The mounted tracefs (the places aya looks at, in its order), if any.
fn tracefs() -> Option<&'static str> {
    [TRACEFS, TRACEFS_OLD].into_iter().find(|p| {
        std::fs::read_dir(p)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    })
}

/// Mounts tracefs when neither of its usual places has it (as root, on a fresh machine).
fn ensure_tracefs() -> Result<(), SensorError> {
    if tracefs().is_some() {
        return Ok(());
    }
    rustix::mount::mount(
        "tracefs",
        TRACEFS,
        "tracefs",
        rustix::mount::MountFlags::empty(),
        None,
    )
    .map_err(|e| {
        SensorError::new(
            ErrorCode::SensorProbeFailed,
            format!("tracefs is not mounted and mounting it at {TRACEFS} failed: {e}"),
        )
    })
}

/// Whether an aya error is the kernel refusing for want of privilege.
fn is_permission(text: &str) -> bool {
    text.contains("Operation not permitted") || text.contains("Permission denied")
}

impl Kernel {
    /// Loads and attaches the programs.
    ///
    /// # Errors
    /// E1001 without programs in this build, E1002 without privilege, E1003 without kernel
    /// BTF, E1004 when a required program or map cannot be loaded or attached.
    pub fn load(agent_tgid: u32, ring_bytes: u32) -> Result<Kernel, SensorError> {
        let object = object()?;
        // The test hook `VIGIL_SENSOR_BTF` points at another BTF file (a missing one, to see
        // E1003 on a kernel that has BTF).
        let btf_path = std::env::var("VIGIL_SENSOR_BTF")
            .unwrap_or_else(|_| "/sys/kernel/btf/vmlinux".to_owned());
        let btf = Btf::parse_file(&btf_path, Endianness::default()).map_err(|e| {
            SensorError::new(
                ErrorCode::SensorNoBtf,
                format!(
                    "the kernel's BTF `{btf_path}` cannot be read ({e}): CO-RE programs cannot be \
                     relocated; use a kernel built with CONFIG_DEBUG_INFO_BTF=y"
                ),
            )
        })?;
        let euid = rustix::process::geteuid();
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .override_global("agent_tgid", &agent_tgid, true)
            .override_global("wakeup_bytes", &wakeup_bytes(ring_bytes), true)
            .map_max_entries("events", ring_bytes)
            .load(object)
            .map_err(|e| {
                let text = chain(&e);
                if is_permission(&text) || !euid.is_root() && text.contains("EPERM") {
                    SensorError::new(
                        ErrorCode::SensorNotPrivileged,
                        format!(
                            "the kernel refused to create the sensor's maps ({text}): run as \
                             root (euid is {})",
                            euid.as_raw()
                        ),
                    )
                } else {
                    SensorError::new(
                        ErrorCode::SensorProbeFailed,
                        format!("loading the BPF object failed: {text}"),
                    )
                }
            })?;
        ensure_tracefs()?;
        let mut probes = Vec::new();
        for p in PROBES {
            let attach = format!("{}:{}", p.category, p.tracepoint);
            let result = attach_one(&mut ebpf, p);
            if let Err(e) = &result {
                if p.required {
                    let code = if is_permission(e) {
                        ErrorCode::SensorNotPrivileged
                    } else {
                        ErrorCode::SensorProbeFailed
                    };
                    return Err(SensorError::new(
                        code,
                        format!(
                            "the {} probe (tracepoint program `{}` on {attach}) failed: {e}",
                            p.what, p.program
                        ),
                    ));
                }
            }
            probes.push(ProbeStatus {
                program: p.program,
                attach,
                captures: p.what,
                attached: result.is_ok(),
                error: result.err(),
            });
        }
        let ring = ebpf
            .take_map("events")
            .ok_or_else(|| missing_map("events"))
            .and_then(|m| {
                RingBuf::try_from(m).map_err(|e| {
                    SensorError::new(ErrorCode::SensorProbeFailed, format!("ring buffer: {e}"))
                })
            })?;
        let counters = ebpf
            .take_map("counters")
            .ok_or_else(|| missing_map("counters"))
            .and_then(|m| {
                PerCpuArray::try_from(m).map_err(|e| {
                    SensorError::new(ErrorCode::SensorProbeFailed, format!("counters: {e}"))
                })
            })?;
        Ok(Kernel {
            ring,
            counters,
            probes,
            detached: false,
            ebpf,
        })
    }

    /// How each program fared.
    pub fn probes(&self) -> &[ProbeStatus] {
        &self.probes
    }

    /// Waits up to `timeout` (at most [`READ_INTERVAL`]: records below the wake-up threshold
    /// do not wake the reader) for the ring buffer to have records.
    pub fn wait(&self, timeout: Duration) {
        let timeout = timeout.min(READ_INTERVAL);
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let fd = self.ring.as_fd();
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        let ts = Timespec::try_from(timeout).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        // An interrupted or failed wait only means the caller looks at the ring again sooner.
        let _ = poll(&mut fds, Some(&ts));
    }

    /// Hands every record in the ring buffer to `each`, in order, up to `max`; returns how
    /// many were read.
    pub fn read(&mut self, max: usize, each: &mut dyn FnMut(&[u8])) -> usize {
        let mut n = 0;
        while n < max {
            let Some(item) = self.ring.next() else { break };
            each(&item);
            n += 1;
        }
        n
    }

    /// Detaches and unloads every program: no record is produced after this, so the ring
    /// buffer can be read to its end and the counters are final.
    pub fn detach(&mut self) {
        for p in PROBES {
            if let Some(program) = self.ebpf.program_mut(p.program) {
                let tp: Result<&mut TracePoint, _> = program.try_into();
                if let Ok(tp) = tp {
                    // A program that never loaded has nothing to unload.
                    let _ = tp.unload();
                }
            }
        }
        self.detached = true;
    }

    /// Whether [`Kernel::detach`] ran.
    pub fn detached(&self) -> bool {
        self.detached
    }

    /// The kernel side's counters, summed over the CPUs.
    pub fn counts(&self) -> KernelCounts {
        let sum = |i: u32| {
            self.counters
                .get(&i, 0)
                .map(|per_cpu| per_cpu.iter().copied().fold(0u64, u64::wrapping_add))
                .unwrap_or(0)
        };
        KernelCounts {
            produced: sum(CNT_PRODUCED),
            lost: sum(CNT_LOST),
            self_filtered: sum(CNT_SELF),
            untracked: sum(CNT_UNTRACKED),
        }
    }
}

/// An error and its sources, `a: b: c` (aya's errors put the OS error in the source).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn missing_map(name: &str) -> SensorError {
    SensorError::new(
        ErrorCode::SensorProbeFailed,
        format!("the BPF object has no map `{name}`"),
    )
}

/// Loads and attaches one program; the error as text.
fn attach_one(ebpf: &mut Ebpf, p: &Probe) -> Result<(), String> {
    let tracefs_has = Path::new(tracefs().unwrap_or(TRACEFS))
        .join("events")
        .join(p.category)
        .join(p.tracepoint)
        .exists();
    if !tracefs_has {
        return Err(format!(
            "the kernel has no tracepoint {}:{}",
            p.category, p.tracepoint
        ));
    }
    let program: &mut TracePoint = ebpf
        .program_mut(p.program)
        .ok_or_else(|| format!("the BPF object has no program `{}`", p.program))?
        .try_into()
        .map_err(|e| format!("`{}` is not a tracepoint program: {e}", p.program))?;
    program.load().map_err(|e| verifier_text(&e))?;
    program
        .attach(p.category, p.tracepoint)
        .map_err(|e| format!("attach: {}", chain(&e)))?;
    Ok(())
}

/// An aya program error, with the verifier's last lines when it has a log.
fn verifier_text(e: &aya::programs::ProgramError) -> String {
    match e {
        aya::programs::ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_log.to_string();
            let tail: Vec<&str> = log.lines().rev().take(12).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!(
                "the kernel refused it ({io_error}); verifier: {}",
                tail.join(" | ")
            )
        }
        other => chain(other),
    }
}
