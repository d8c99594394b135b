//! The sensor's user-mode enrichment: what it knows of processes and users beyond what one
//! kernel record carries.
//!
//! - [`ProcessTable`] (`table.rs`): a bounded pid → [`ProcInfo`] map, fed by exec and exit
//!   records and seeded from `/proc` at start, so that an event can name its parent's image and
//!   command line, and a file or network record its process's image and user.
//! - [`Users`] (`users.rs`): uid → user name from an `/etc/passwd`-format file, re-read when it
//!   changes, bounded against a hostile file.
//! - `proc_fs.rs`: bounded, panic-free reads of `/proc/PID/{stat,status,cmdline,exe}`.
//! - Here: the pure helpers the event builder needs: [`split_argv`], [`container_id`],
//!   [`process_guid`] and its inputs ([`boot_id_prefix`], [`clk_tck`], [`boot_ns_to_ticks`]).
//!
//! Nothing here talks to the kernel's BPF side, builds events or blocks: every read is bounded,
//! every parse of a file another process controls returns `None` or an empty value instead of
//! panicking (a process can vanish, or rewrite its argv, while we read it).

mod proc_fs;
mod table;
mod users;

use std::path::Path;
use std::sync::Arc;

pub use proc_fs::read_process;
pub use table::{ProcessTable, SeedReport, TableStats, DEFAULT_GRACE_NS};
pub use users::{Users, UsersStats, MAX_PASSWD_BYTES, MAX_PASSWD_ENTRIES, MAX_USER_NAME_BYTES};

/// The sensor's argv bound in bytes, the same as the kernel side's `ARGV_BYTES`
/// (`bpf/record.h`) and the schema's `command_line` bound: `/proc/PID/cmdline` is read up to
/// this many bytes and flagged as cut beyond it.
pub const ARGV_BYTES: usize = 16384;

/// What the sensor knows of one process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcInfo {
    /// Process id (the thread group id).
    pub pid: u32,
    /// The parent's process id (its thread group id).
    pub ppid: u32,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22; the kernel's
    /// `start_boottime / (1e9 / CLK_TCK)`, see [`boot_ns_to_ticks`]).
    pub start_ticks: u64,
    /// Executable path as the kernel resolves it (`/proc/PID/exe`); empty when it cannot be
    /// read (kernel threads, another user's process when the sensor is not root). A deleted
    /// executable reads as the kernel gives it, `PATH (deleted)`.
    pub image: String,
    /// argv joined by single spaces (see [`split_argv`]).
    pub command_line: String,
    /// The command line was cut at [`ARGV_BYTES`] (or by the kernel side's bound).
    pub command_line_truncated: bool,
    /// Real user id.
    pub uid: u32,
    /// Name of the real user id (see [`Users::name`]).
    pub user: Arc<str>,
}

/// argv as the kernel stores it (NUL-separated, maybe without a final NUL, maybe cut
/// mid-argument) to (command line joined by single spaces, the arguments).
///
/// One final NUL ends the last argument; empty arguments are kept as empty items (`a\0\0b\0`
/// is `["a", "", "b"]`, command line `a  b`), so `\0` alone is one empty argument and an empty
/// input none. Each argument is decoded on its own and non-UTF-8 bytes are replaced by U+FFFD
/// (lossy): a multi-byte character cut by the bound becomes one replacement character. The
/// caller bounds the input (argv is at most [`ARGV_BYTES`] here) and the item count (the
/// schema keeps the first 64).
pub fn split_argv(raw: &[u8]) -> (String, Vec<String>) {
    if raw.is_empty() {
        return (String::new(), Vec::new());
    }
    let body = raw.strip_suffix(&[0]).unwrap_or(raw);
    let args: Vec<String> = body
        .split(|&b| b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    (args.join(" "), args)
}

/// The runtimes whose cgroup v2 leaf is `PREFIX<64 hex>.scope`.
const CONTAINER_SCOPE_PREFIXES: [&str; 4] = ["docker-", "cri-containerd-", "crio-", "libpod-"];

/// The container id in a cgroup v2 leaf name: `docker-<64 hex>.scope`,
/// `cri-containerd-<64 hex>.scope`, `crio-<64 hex>.scope`, `libpod-<64 hex>.scope`, or a bare
/// 64-hex name (cgroupfs driver, `/docker/<id>`); `None` otherwise (host processes,
/// `session-3.scope`, `user@1000.service`, `crio-conmon-<id>.scope`, which is the monitor, not
/// the container). The hex is lower case, as the runtimes write it. Given a path, only its last
/// component is read.
pub fn container_id(cgroup_leaf: &str) -> Option<&str> {
    let leaf = cgroup_leaf.rsplit('/').next().unwrap_or(cgroup_leaf);
    let id = match leaf.strip_suffix(".scope") {
        Some(scope) => CONTAINER_SCOPE_PREFIXES
            .iter()
            .find_map(|prefix| scope.strip_prefix(prefix))?,
        None => leaf,
    };
    let is_id = id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    is_id.then_some(id)
}

/// A process GUID as Sysmon writes it, `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}` (38 bytes,
/// lower-case hex), unique per boot, pid and start time.
///
/// The 128 bits hold the three inputs whole, so two processes share a GUID only if they share
/// all three (a pid reused within one clock tick of the same boot):
///
/// ```text
/// {BBBBBBBB-TTTT-TTTT-TTTT-TTTTPPPPPPPP}
///  boot     start_ticks (64 bits,  pid (32 bits)
///  (32 bits) big-endian)
/// ```
///
/// `boot` is [`boot_id_prefix`]; `start_ticks` is the [`ProcInfo::start_ticks`] of the
/// process, which the kernel side computes with [`boot_ns_to_ticks`] so that a process seeded
/// from `/proc` and the same process seen at exec get the same GUID.
pub fn process_guid(boot: u32, pid: u32, start_ticks: u64) -> String {
    ProcessGuid {
        boot,
        pid,
        start_ticks,
    }
    .to_string()
}

/// A process GUID as [`process_guid`] writes it, for writing straight into an event
/// (`EventBuilder::set_display`) without an intermediate `String`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessGuid {
    /// [`boot_id_prefix`].
    pub boot: u32,
    /// The process id.
    pub pid: u32,
    /// The start time in clock ticks ([`boot_ns_to_ticks`]).
    pub start_ticks: u64,
}

impl std::fmt::Display for ProcessGuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.start_ticks;
        write!(
            f,
            "{{{:08x}-{:04x}-{:04x}-{:04x}-{:04x}{:08x}}}",
            self.boot,
            (t >> 48) & 0xffff,
            (t >> 32) & 0xffff,
            (t >> 16) & 0xffff,
            t & 0xffff,
            self.pid
        )
    }
}

/// The first 32 bits of `/proc/sys/kernel/random/boot_id` (a UUID text such as
/// `6f1c0a52-...`), or 0 when it is unreadable or does not start with 8 hex digits.
pub fn boot_id_prefix(path: &Path) -> u32 {
    let Ok((text, _)) = proc_fs::read_bounded(path, 64) else {
        return 0;
    };
    let Some(head) = text.get(..8) else {
        return 0;
    };
    if !head.iter().all(u8::is_ascii_hexdigit) {
        return 0;
    }
    std::str::from_utf8(head)
        .ok()
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .unwrap_or(0)
}

/// Clock ticks per second (the kernel's `USER_HZ`, from the auxiliary vector), 100 when
/// unknown.
pub fn clk_tck() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let ticks = rustix::param::clock_ticks_per_second();
        if ticks > 0 {
            return ticks;
        }
    }
    100
}

/// A boot-based time in nanoseconds (the kernel's `start_boottime`, what the BPF side sends)
/// in clock ticks, exactly as `/proc/PID/stat` field 22 computes it (`nsec_to_clock_t`:
/// `ns / (1e9 / clk_tck)`). `clk_tck` outside 1..=1e9 is read as 100.
pub fn boot_ns_to_ticks(ns: u64, clk_tck: u64) -> u64 {
    let clk_tck = if (1..=1_000_000_000).contains(&clk_tck) {
        clk_tck
    } else {
        100
    };
    ns / (1_000_000_000 / clk_tck)
}

#[cfg(test)]
mod tests;
