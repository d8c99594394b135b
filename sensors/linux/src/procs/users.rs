//! uid → user name, from an `/etc/passwd`-format file, re-read when it changes.
//!
//! Bounded against a hostile or broken file: at most [`MAX_PASSWD_BYTES`] bytes are read and
//! at most [`MAX_PASSWD_ENTRIES`] uids kept, names longer than [`MAX_USER_NAME_BYTES`] (the
//! schema's `user` bound) are skipped, so the map stays within a few megabytes whatever the
//! file holds. Lines that are not `name:password:uid:...` with a decimal uid (comments, NIS
//! `+`/`-` lines, garbage) are skipped and counted. A uid listed twice keeps its first name,
//! as `getpwuid` does. Names are read lossily (non-UTF-8 bytes become U+FFFD).
//!
//! This reads the file only, not NSS (LDAP, systemd-userdb): a uid it does not list resolves
//! to its decimal number, as `ls -l` shows it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Bytes of the passwd file read; the rest is ignored (and counted in
/// [`UsersStats::cut`]).
pub const MAX_PASSWD_BYTES: usize = 4 << 20;

/// Users kept from the passwd file; further lines are ignored.
pub const MAX_PASSWD_ENTRIES: usize = 65536;

/// Longest user name kept (the schema's `user` bound); longer names are skipped.
pub const MAX_USER_NAME_BYTES: usize = 256;

/// How often the file's metadata is checked for a change, at most.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Counters of a [`Users`] map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsersStats {
    /// Times the file was read.
    pub loads: u64,
    /// Users in the map now.
    pub entries: usize,
    /// Lines skipped in the last read (malformed, too long a name, a duplicate uid).
    pub skipped_lines: usize,
    /// The last read stopped at a bound ([`MAX_PASSWD_BYTES`] or [`MAX_PASSWD_ENTRIES`]).
    pub cut: bool,
}

/// What identifies one version of the file: a change of any part means a re-read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    dev_ino: (u64, u64),
}

/// uid → user name. See the module doc.
#[derive(Debug)]
pub struct Users {
    path: PathBuf,
    names: HashMap<u32, Arc<str>>,
    stamp: Option<Stamp>,
    checked: Option<Instant>,
    interval: Duration,
    max_bytes: usize,
    max_entries: usize,
    stats: UsersStats,
}

impl Users {
    /// Reads an `/etc/passwd`-format file now, and re-reads it when its modification time
    /// (or size, or inode: an editor's rename) changes, checked at most once per second. A
    /// missing or unreadable file gives an empty map (every uid resolves to its number) and
    /// is looked for again at the next check; a file that vanishes keeps the names last read.
    /// Bounded: see the module doc.
    pub fn new(passwd: PathBuf) -> Users {
        Users::with_limits(passwd, CHECK_INTERVAL, MAX_PASSWD_BYTES, MAX_PASSWD_ENTRIES)
    }

    fn with_limits(
        passwd: PathBuf,
        interval: Duration,
        max_bytes: usize,
        max_entries: usize,
    ) -> Users {
        let mut users = Users {
            path: passwd,
            names: HashMap::new(),
            stamp: None,
            checked: None,
            interval,
            max_bytes,
            max_entries,
            stats: UsersStats::default(),
        };
        users.refresh(Instant::now());
        users
    }

    /// The name of `uid`, or its decimal number when the file does not list it.
    pub fn name(&mut self, uid: u32) -> Arc<str> {
        self.refresh(Instant::now());
        match self.names.get(&uid) {
            Some(name) => Arc::clone(name),
            None => Arc::from(uid.to_string()),
        }
    }

    /// Counters: reads, users held, what the last read skipped.
    pub fn stats(&self) -> UsersStats {
        UsersStats {
            entries: self.names.len(),
            ..self.stats
        }
    }

    /// Re-reads the file if the check interval has passed and its stamp changed.
    fn refresh(&mut self, now: Instant) {
        if self
            .checked
            .is_some_and(|last| now.saturating_duration_since(last) < self.interval)
        {
            return;
        }
        self.checked = Some(now);
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return;
        };
        let stamp = Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            dev_ino: dev_ino(&meta),
        };
        if self.stamp == Some(stamp) {
            return;
        }
        let Ok(file) = File::open(&self.path) else {
            return;
        };
        let limit = u64::try_from(self.max_bytes).unwrap_or(u64::MAX);
        let cut = meta.len() > limit;
        let parsed = parse_passwd(BufReader::new(file.take(limit)), self.max_entries, cut);
        self.names = parsed.names;
        self.stamp = Some(stamp);
        self.stats.loads += 1;
        self.stats.skipped_lines = parsed.skipped_lines;
        self.stats.cut = parsed.full || cut;
    }

    #[cfg(test)]
    pub(super) fn for_test(
        passwd: PathBuf,
        interval: Duration,
        max_bytes: usize,
        max_entries: usize,
    ) -> Users {
        Users::with_limits(passwd, interval, max_bytes, max_entries)
    }
}

#[cfg(unix)]
fn dev_ino(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn dev_ino(_: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

struct Parsed {
    names: HashMap<u32, Arc<str>>,
    skipped_lines: usize,
    /// Stopped at `max_entries`.
    full: bool,
}

/// Parses passwd lines from an already bounded reader, keeping at most `max_entries` users.
/// When the reader was `cut` at the byte bound, a last line without its newline is a piece of
/// a line (`alice:x:1000` cut to `alice:x:10`) and is skipped.
fn parse_passwd(mut reader: impl BufRead, max_entries: usize, cut: bool) -> Parsed {
    let mut parsed = Parsed {
        names: HashMap::new(),
        skipped_lines: 0,
        full: false,
    };
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Some(text) = line.strip_suffix(b"\n").or((!cut).then_some(&line[..])) else {
            parsed.skipped_lines += 1;
            break;
        };
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            continue;
        }
        let Some((uid, name)) = parse_line(text) else {
            parsed.skipped_lines += 1;
            continue;
        };
        if parsed.names.contains_key(&uid) {
            parsed.skipped_lines += 1;
            continue;
        }
        if parsed.names.len() >= max_entries {
            parsed.full = true;
            break;
        }
        parsed
            .names
            .insert(uid, Arc::from(String::from_utf8_lossy(name).as_ref()));
    }
    parsed
}

/// `name:password:uid:gid:gecos:home:shell` → (uid, name); `None` for anything else.
fn parse_line(line: &[u8]) -> Option<(u32, &[u8])> {
    let mut fields = line.split(|&b| b == b':');
    let name = fields.next()?;
    let _password = fields.next()?;
    let uid = fields.next()?;
    let bad_name = name.is_empty()
        || name.len() > MAX_USER_NAME_BYTES
        || matches!(name[0], b'#' | b'+' | b'-')
        || name.iter().any(|b| b.is_ascii_control());
    if bad_name || uid.is_empty() || !uid.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let uid = std::str::from_utf8(uid).ok()?.parse().ok()?;
    Some((uid, name))
}
