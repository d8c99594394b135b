//! The kernel's own account of the agent's BPF programs: with `kernel.bpf_stats_enabled` on,
//! every program keeps its run count and total run time, which `/proc/PID/fdinfo` shows for
//! each program descriptor the agent holds; its link descriptors name the tracepoint each
//! program is attached to. This is the probe cost the exec path pays, measured in the kernel.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

const STATS_SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// Turns the kernel's BPF run-time statistics on while it lives, then back to what they were.
pub(crate) struct StatsOn {
    before: String,
}

impl StatsOn {
    /// Turns them on; `None` (with the reason on stderr) when the sysctl cannot be written.
    pub(crate) fn enable() -> Option<StatsOn> {
        let before = match std::fs::read_to_string(STATS_SYSCTL) {
            Ok(s) => s.trim().to_owned(),
            Err(e) => {
                eprintln!("exec-storm: no BPF run-time statistics ({STATS_SYSCTL}: {e})");
                return None;
            }
        };
        if let Err(e) = std::fs::write(STATS_SYSCTL, "1") {
            eprintln!("exec-storm: no BPF run-time statistics (writing {STATS_SYSCTL}: {e})");
            return None;
        }
        Some(StatsOn { before })
    }
}

impl Drop for StatsOn {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(STATS_SYSCTL, &self.before) {
            eprintln!(
                "exec-storm: cannot restore {STATS_SYSCTL} to {}: {e}",
                self.before
            );
        }
    }
}

/// Run count and run time of one program.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProgRuns {
    pub(crate) runs: u64,
    pub(crate) ns: u64,
}

/// The programs process `pid` holds, by the tracepoint they are attached to (`prog N` for a
/// program without a link), with their counters now.
pub(crate) fn snapshot(pid: u32) -> Result<BTreeMap<String, ProgRuns>> {
    let dir = format!("/proc/{pid}/fdinfo");
    let mut progs: BTreeMap<u64, ProgRuns> = BTreeMap::new();
    let mut names: BTreeMap<u64, String> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        // A descriptor may close between the listing and the read: skip it.
        let Ok(text) = std::fs::read_to_string(entry?.path()) else {
            continue;
        };
        let field = |key: &str| {
            text.lines().find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|r| r.strip_prefix(':'))
                    .map(str::trim)
            })
        };
        let Some(id) = field("prog_id").and_then(|v| v.parse::<u64>().ok()) else {
            continue;
        };
        if let Some(tp) = field("tp_name") {
            names.insert(id, tp.to_owned());
        }
        if field("prog_type").is_some() {
            let n = |k: &str| field(k).and_then(|v| v.parse().ok()).unwrap_or(0);
            progs.insert(
                id,
                ProgRuns {
                    runs: n("run_cnt"),
                    ns: n("run_time_ns"),
                },
            );
        }
    }
    Ok(progs
        .into_iter()
        .map(|(id, r)| {
            let name = names.remove(&id).unwrap_or_else(|| format!("prog {id}"));
            (name, r)
        })
        .collect())
}

/// Per program, what ran between two snapshots; most expensive first.
pub(crate) fn delta(
    before: &BTreeMap<String, ProgRuns>,
    after: &BTreeMap<String, ProgRuns>,
) -> Vec<(String, ProgRuns)> {
    let mut out: Vec<(String, ProgRuns)> = after
        .iter()
        .map(|(name, a)| {
            let b = before.get(name).copied().unwrap_or_default();
            (
                name.clone(),
                ProgRuns {
                    runs: a.runs.saturating_sub(b.runs),
                    ns: a.ns.saturating_sub(b.ns),
                },
            )
        })
        .filter(|(_, r)| r.runs > 0)
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.1.ns));
    out
}
