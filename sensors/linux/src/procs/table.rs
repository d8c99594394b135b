//! The process table: pid → [`ProcInfo`], fixed capacity, fed by exec and exit records and
//! seeded from `/proc`.
//!
//! Layout: a `HashMap` of entries, each stamped with a sequence number at insertion, and two
//! queues of `(pid, seq)`: live entries in insertion order, exited entries in exit order. An
//! entry is *current* in exactly one queue (the live one until it exits, then the exit one);
//! queue items whose entry was replaced, evicted or has exited since are stale and skipped
//! when met, and the queues are compacted when stale items outnumber the capacity, so each
//! operation is O(1) amortized and memory stays within a constant factor of the capacity.
//!
//! Eviction: an exited entry is kept [`DEFAULT_GRACE_NS`] (a child's exec or a late file or
//! network record may still name it; records of different CPUs arrive slightly out of order),
//! then [`ProcessTable::expire`] drops it. When the table is full, inserting a new pid first
//! evicts the oldest exited entry, and only when none is left the oldest-inserted live one.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{proc_fs, ProcInfo, Users};

/// How long an exited process stays in the table: 10 s of boot-based time.
pub const DEFAULT_GRACE_NS: u64 = 10_000_000_000;

/// Headroom before a queue is compacted, so that a tiny table does not compact on every call.
const COMPACT_SLACK: usize = 64;

/// Counters of a [`ProcessTable`], since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Processes inserted from `/proc` ([`ProcessTable::seed_from_proc`],
    /// [`ProcessTable::fill_from_proc`]).
    pub seeded: u64,
    /// Processes inserted or replaced by [`ProcessTable::exec`].
    pub inserted: u64,
    /// Exited processes dropped after their grace period.
    pub evicted_exited: u64,
    /// Exited processes dropped before their grace period ended because the table was full.
    pub evicted_exited_early: u64,
    /// Live processes dropped because the table was full (their later events miss).
    pub evicted_full: u64,
    /// [`ProcessTable::get`] calls that found nothing.
    pub misses: u64,
}

/// What [`ProcessTable::seed_from_proc`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Processes read (inserted, or already known from an exec record and left as they were).
    pub read: usize,
    /// Of those, the ones already in the table.
    pub known: usize,
    /// Numeric entries that could not be read: vanished, unreadable or malformed.
    pub failed: usize,
}

#[derive(Debug)]
struct Entry {
    info: ProcInfo,
    seq: u64,
    exited_ns: Option<u64>,
}

/// What the sensor knows of the machine's processes, bounded. See the module doc.
#[derive(Debug)]
pub struct ProcessTable {
    capacity: usize,
    grace_ns: u64,
    entries: HashMap<u32, Entry>,
    /// Live entries, oldest insertion first: (pid, seq).
    live: VecDeque<(u32, u64)>,
    /// Exited entries, oldest exit first: (pid, seq, exited_ns).
    exits: VecDeque<(u32, u64, u64)>,
    next_seq: u64,
    stats: TableStats,
    /// Counted by `get`, which takes `&self` (atomic rather than a `Cell` so that the table
    /// stays `Sync`).
    misses: AtomicU64,
}

impl ProcessTable {
    /// An empty table holding at most `capacity` processes (at least 1), with the default
    /// grace period.
    pub fn new(capacity: usize) -> ProcessTable {
        ProcessTable::with_grace(capacity, DEFAULT_GRACE_NS)
    }

    /// An empty table holding at most `capacity` processes (at least 1), keeping exited ones
    /// `grace_ns` nanoseconds.
    pub fn with_grace(capacity: usize, grace_ns: u64) -> ProcessTable {
        let capacity = capacity.max(1);
        // Allocation grows with use; a large capacity is not paid for up front.
        let initial = capacity.min(4096);
        ProcessTable {
            capacity,
            grace_ns,
            entries: HashMap::with_capacity(initial),
            live: VecDeque::with_capacity(initial),
            exits: VecDeque::new(),
            next_seq: 0,
            stats: TableStats::default(),
            misses: AtomicU64::new(0),
        }
    }

    /// Seeds from a `/proc`-like folder (`/proc` in production; tests pass a temp dir laid
    /// out like `/proc`: `PID/stat`, `PID/cmdline`, `PID/status`, `PID/exe` symlink). Entries
    /// whose name is not a pid are skipped; a pid already in the table (an exec record came
    /// first) is left as it is. Returns how many processes were read and how many could not
    /// be (vanished, unreadable): never fails as a whole, an unreadable root reads nothing.
    /// More processes than the capacity evict the first ones read (counted as
    /// `evicted_full`).
    pub fn seed_from_proc(&mut self, proc_root: &Path, users: &mut Users) -> SeedReport {
        let mut report = SeedReport::default();
        let Ok(dir) = std::fs::read_dir(proc_root) else {
            return report;
        };
        for entry in dir {
            let Ok(entry) = entry else {
                report.failed += 1;
                continue;
            };
            let Some(pid) = entry.file_name().to_str().and_then(parse_pid) else {
                continue;
            };
            if self.entries.contains_key(&pid) {
                report.read += 1;
                report.known += 1;
                continue;
            }
            match proc_fs::read_process(proc_root, pid, users) {
                Some(info) => {
                    report.read += 1;
                    self.insert(info);
                    self.stats.seeded += 1;
                }
                None => report.failed += 1,
            }
        }
        report
    }

    /// Reads one process from a `/proc`-like folder and inserts it, for a record naming a pid
    /// the table does not know (a process that forked without exec, or one evicted). A pid
    /// already known is returned as it is; `None` when it is not known and cannot be read.
    pub fn fill_from_proc(
        &mut self,
        proc_root: &Path,
        pid: u32,
        users: &mut Users,
    ) -> Option<&ProcInfo> {
        if !self.entries.contains_key(&pid) {
            let info = proc_fs::read_process(proc_root, pid, users)?;
            self.insert(info);
            self.stats.seeded += 1;
        }
        self.entries.get(&pid).map(|entry| &entry.info)
    }

    /// A process executed a program: replaces what was known of `info.pid` (an exec in the
    /// same process, or a reused pid), which becomes live again and the newest insertion.
    pub fn exec(&mut self, info: ProcInfo) {
        self.insert(info);
        self.stats.inserted += 1;
    }

    /// A process a record names; `None` when unknown (the caller flags the event), counted as
    /// a miss. An exited process is found during its grace period.
    pub fn get(&self, pid: u32) -> Option<&ProcInfo> {
        let found = self.entries.get(&pid).map(|entry| &entry.info);
        if found.is_none() {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Whether `pid` is in the table, live or exited (not counted as a miss).
    pub fn contains(&self, pid: u32) -> bool {
        self.entries.contains_key(&pid)
    }

    /// A process exited at `now_ns` (boot-based ns): kept for the grace period, then evicted
    /// by [`ProcessTable::expire`]. An unknown pid, or a second exit, changes nothing.
    pub fn exited(&mut self, pid: u32, now_ns: u64) {
        let Some(entry) = self.entries.get_mut(&pid) else {
            return;
        };
        if entry.exited_ns.is_some() {
            return;
        }
        entry.exited_ns = Some(now_ns);
        self.exits.push_back((pid, entry.seq, now_ns));
        self.compact();
    }

    /// Evicts exited processes whose grace period has passed at `now_ns` (called every poll).
    /// Exits are taken in the order they were reported; one reported slightly out of time
    /// order waits for the ones before it.
    pub fn expire(&mut self, now_ns: u64) {
        while let Some(&(pid, seq, exited_ns)) = self.exits.front() {
            if self.is_current_exit(pid, seq) {
                if exited_ns.saturating_add(self.grace_ns) > now_ns {
                    break;
                }
                self.entries.remove(&pid);
                self.stats.evicted_exited += 1;
            }
            self.exits.pop_front();
        }
    }

    /// Processes in the table, live and exited.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table holds no process.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most processes the table holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Counters since the table was made.
    pub fn stats(&self) -> TableStats {
        TableStats {
            misses: self.misses.load(Ordering::Relaxed),
            ..self.stats
        }
    }

    /// Inserts or replaces `info.pid` as the newest live entry, evicting one entry first when
    /// a new pid finds the table full.
    fn insert(&mut self, info: ProcInfo) {
        let pid = info.pid;
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(entry) = self.entries.get_mut(&pid) {
            // The old entry's queue item goes stale: its seq no longer matches.
            *entry = Entry {
                info,
                seq,
                exited_ns: None,
            };
        } else {
            if self.entries.len() >= self.capacity {
                self.evict_one();
            }
            self.entries.insert(
                pid,
                Entry {
                    info,
                    seq,
                    exited_ns: None,
                },
            );
        }
        self.live.push_back((pid, seq));
        self.compact();
    }

    /// Drops the oldest exited entry, or when there is none the oldest-inserted live one.
    fn evict_one(&mut self) {
        while let Some((pid, seq, _)) = self.exits.pop_front() {
            if self.is_current_exit(pid, seq) {
                self.entries.remove(&pid);
                self.stats.evicted_exited_early += 1;
                return;
            }
        }
        while let Some((pid, seq)) = self.live.pop_front() {
            if self.is_current_live(pid, seq) {
                self.entries.remove(&pid);
                self.stats.evicted_full += 1;
                return;
            }
        }
    }

    fn is_current_live(&self, pid: u32, seq: u64) -> bool {
        self.entries
            .get(&pid)
            .is_some_and(|entry| entry.seq == seq && entry.exited_ns.is_none())
    }

    fn is_current_exit(&self, pid: u32, seq: u64) -> bool {
        self.entries
            .get(&pid)
            .is_some_and(|entry| entry.seq == seq && entry.exited_ns.is_some())
    }

    /// Drops stale queue items once they could outnumber the capacity: each entry is current
    /// in at most one item, so a compacted queue holds at most `capacity` items and the next
    /// compaction is at least `capacity + COMPACT_SLACK` pushes away.
    fn compact(&mut self) {
        let bound = self
            .capacity
            .saturating_mul(2)
            .saturating_add(COMPACT_SLACK);
        if self.live.len() > bound {
            let entries = &self.entries;
            self.live.retain(|&(pid, seq)| {
                entries
                    .get(&pid)
                    .is_some_and(|entry| entry.seq == seq && entry.exited_ns.is_none())
            });
        }
        if self.exits.len() > bound {
            let entries = &self.entries;
            self.exits.retain(|&(pid, seq, _)| {
                entries
                    .get(&pid)
                    .is_some_and(|entry| entry.seq == seq && entry.exited_ns.is_some())
            });
        }
    }

    #[cfg(test)]
    pub(super) fn queue_lens(&self) -> (usize, usize) {
        (self.live.len(), self.exits.len())
    }
}

/// A `/proc` entry name as a pid: decimal digits only (`self`, `sys`, `1x` are not pids).
fn parse_pid(name: &str) -> Option<u32> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}
