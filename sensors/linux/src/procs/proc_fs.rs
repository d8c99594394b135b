//! Reading one process from a `/proc`-like folder: `PID/stat` (parent, start ticks),
//! `PID/status` (real uid), `PID/cmdline` (argv) and the `PID/exe` link (image), into a
//! [`ProcInfo`].
//!
//! Every read is bounded (a hostile process controls its argv, up to megabytes) and every parse
//! is total: a malformed or vanished file gives `None`, never a panic. The files belong to
//! processes that can exit, or rewrite their argv, between two reads; nothing here retries.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::{split_argv, ProcInfo, Users, ARGV_BYTES};

/// Bytes read of `PID/stat`: the line is under 1 KiB (the comm is at most 16 bytes in the
/// kernel, 64 for kernel threads' names); a longer file is malformed.
const STAT_BYTES: usize = 4096;

/// Bytes read of `PID/status`: the `Uid:` line comes in the first kilobyte; the `Groups:` line
/// after it can be long, and is not read.
const STATUS_BYTES: usize = 8192;

/// Reads at most `cap` bytes of a file: (the bytes, whether the file had more).
pub(super) fn read_bounded(path: &Path, cap: usize) -> io::Result<(Vec<u8>, bool)> {
    let file = File::open(path)?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    file.take(limit).read_to_end(&mut bytes)?;
    let cut = bytes.len() > cap;
    bytes.truncate(cap);
    Ok((bytes, cut))
}

/// The fields of `PID/stat` the table keeps.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Stat {
    pub(super) pid: u32,
    pub(super) ppid: u32,
    pub(super) start_ticks: u64,
}

/// Parses `PID/stat`: `pid (comm) state ppid ... starttime ...`. The comm is whatever the
/// process named itself (spaces, parentheses, any byte but NUL), so the fields after it start
/// after the *last* `)`; `ppid` is field 4 and `starttime` field 22 (proc(5)).
pub(super) fn parse_stat(raw: &[u8]) -> Option<Stat> {
    let open = raw.iter().position(|&b| b == b'(')?;
    let close = raw.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let pid = std::str::from_utf8(&raw[..open])
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let mut fields = std::str::from_utf8(&raw[close + 1..])
        .ok()?
        .split_ascii_whitespace();
    // After the comm: field 3 (state) is index 0, field 4 (ppid) index 1, field 22 index 19.
    let ppid = fields.nth(1)?.parse().ok()?;
    let start_ticks = fields.nth(22 - 5)?.parse().ok()?;
    Some(Stat {
        pid,
        ppid,
        start_ticks,
    })
}

/// The real uid in `PID/status` (`Uid:\treal\teffective\tsaved\tfs`). Only whole lines are
/// read, so a cut final line is not mistaken for a short number.
pub(super) fn parse_status_uid(raw: &[u8], cut: bool) -> Option<u32> {
    let whole = if cut {
        &raw[..raw.iter().rposition(|&b| b == b'\n')?]
    } else {
        raw
    };
    whole.split(|&b| b == b'\n').find_map(|line| {
        let rest = line.strip_prefix(b"Uid:")?;
        let real = std::str::from_utf8(rest)
            .ok()?
            .split_ascii_whitespace()
            .next()?;
        real.parse().ok()
    })
}

/// Reads process `pid` from `proc_root` (`/proc` in production). `None` when the process
/// vanished or its `stat`, `status` or `cmdline` cannot be read or parsed, or when `stat`
/// names another pid. An unreadable `exe` link is normal (kernel threads; another user's
/// process when not root) and leaves the image empty. The user name comes from `users`.
pub fn read_process(proc_root: &Path, pid: u32, users: &mut Users) -> Option<ProcInfo> {
    let dir = proc_root.join(pid.to_string());
    let (stat, _) = read_bounded(&dir.join("stat"), STAT_BYTES).ok()?;
    let stat = parse_stat(&stat)?;
    if stat.pid != pid {
        return None;
    }
    let (status, status_cut) = read_bounded(&dir.join("status"), STATUS_BYTES).ok()?;
    let uid = parse_status_uid(&status, status_cut)?;
    let (argv, command_line_truncated) = read_bounded(&dir.join("cmdline"), ARGV_BYTES).ok()?;
    let (command_line, _) = split_argv(&argv);
    let image = std::fs::read_link(dir.join("exe"))
        .map(|path| path.to_string_lossy().into_owned())
        .unwrap_or_default();
    Some(ProcInfo {
        pid,
        ppid: stat.ppid,
        start_ticks: stat.start_ticks,
        image,
        command_line,
        command_line_truncated,
        uid,
        user: users.name(uid),
    })
}
