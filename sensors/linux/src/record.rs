//! The records of the kernel side (`bpf/record.h`) as user mode reads them: [`parse`] checks a
//! ring buffer item against its header (size, string count, every string inside the record)
//! and borrows its strings. Nothing here trusts the kernel side's lengths: a record that does
//! not add up is refused ([`Malformed`]) and counted by the caller, never read past.

use std::fmt;

/// Bytes of `struct rec_hdr`.
pub const HEADER_BYTES: usize = 104;
/// Bytes of one `struct rec_str`.
const STR_BYTES: usize = 8;
/// The most strings a record has (exec).
const MAX_STRS: usize = 5;

/// String flag: cut at its region's size.
const STR_TRUNCATED: u16 = 1;
/// String flag: the kernel could not read it.
const STR_UNREADABLE: u16 = 2;
/// String flag: a walked path, one component per [`NAME_BYTES`] slot, leaf first.
const STR_COMPONENTS: u16 = 4;
/// Bytes of one path component slot (`NAME_MAX + 1`).
pub const NAME_BYTES: usize = 256;

/// What a record reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A process executed a program: image, filename, argv, cwd, cgroup.
    Exec,
    /// A process ended.
    Exit,
    /// A socket connected.
    Connect,
    /// A connection was accepted.
    Accept,
    /// A regular file was opened for writing or created: path.
    Open,
    /// A file was deleted: path, base directory.
    Unlink,
    /// A file was renamed: old path, old base, new path, new base.
    Rename,
    /// A kernel module was loaded: name.
    Module,
}

impl Kind {
    fn from_u16(k: u16) -> Option<Kind> {
        Some(match k {
            1 => Kind::Exec,
            2 => Kind::Exit,
            3 => Kind::Connect,
            4 => Kind::Accept,
            5 => Kind::Open,
            6 => Kind::Unlink,
            7 => Kind::Rename,
            8 => Kind::Module,
            _ => return None,
        })
    }

    /// How many strings a record of this kind carries.
    fn strings(self) -> usize {
        match self {
            Kind::Exec => 5,
            Kind::Exit | Kind::Connect | Kind::Accept => 0,
            Kind::Open | Kind::Module => 1,
            Kind::Unlink => 2,
            Kind::Rename => 4,
        }
    }
}

/// The fixed part of a record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// When, CLOCK_BOOTTIME nanoseconds.
    pub time_ns: u64,
    /// Thread group id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// The real parent's thread group id.
    pub ppid: u32,
    /// Real user id.
    pub uid: u32,
    /// Effective user id.
    pub euid: u32,
    /// Real group id.
    pub gid: u32,
    /// The process's start, CLOCK_BOOTTIME nanoseconds.
    pub start_ns: u64,
    /// The cgroup v2 id.
    pub cgroup_id: u64,
    /// Exit: the wait status; open: `f_mode`; network: the address family.
    pub a: u32,
    /// Open: the open flags; network: the IP protocol.
    pub b: u32,
    /// Local port.
    pub sport: u16,
    /// Remote port.
    pub dport: u16,
    /// Local address (IPv4 in the first 4 bytes).
    pub saddr: [u8; 16],
    /// Remote address.
    pub daddr: [u8; 16],
}

/// One string of a record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Str<'a> {
    /// Its bytes (no NUL; not necessarily UTF-8).
    pub bytes: &'a [u8],
    /// Cut at the sensor's bound.
    pub truncated: bool,
    /// The kernel could not read it (then `bytes` is empty).
    pub unreadable: bool,
    /// A walked path in component slots (see [`Str::text`]).
    pub components: bool,
}

impl Str<'_> {
    /// The string as text: a walked path assembled root first (`/` when it has no component;
    /// a path cut for depth starts at the deepest component the walk reached, and is flagged
    /// `truncated`); any other string as its bytes. Bytes that are not UTF-8 are replaced with
    /// U+FFFD (Linux paths and arguments are bytes; rules match text).
    pub fn text(&self) -> String {
        if !self.components {
            return String::from_utf8_lossy(self.bytes).into_owned();
        }
        let names: Vec<&[u8]> = self
            .bytes
            .chunks(NAME_BYTES)
            .map(|slot| slot.split(|&b| b == 0).next().unwrap_or_default())
            .filter(|name| !name.is_empty())
            .collect();
        let mut out = Vec::with_capacity(names.iter().map(|n| n.len() + 1).sum::<usize>() + 1);
        for name in names.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(name);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A record, checked.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// What it reports.
    pub kind: Kind,
    /// The fixed part.
    pub header: Header,
    strs: [Str<'a>; MAX_STRS],
}

impl<'a> Record<'a> {
    /// String `i` (see [`Kind`] for the order); empty when the kind has fewer.
    pub fn str(&self, i: usize) -> Str<'a> {
        self.strs.get(i).copied().unwrap_or_default()
    }
}

/// Why a record was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `N` bytes of `b` at `at` (zeros past its end: callers check lengths first).
fn at<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut x = [0u8; N];
    if let Some(s) = b.get(at..at + N) {
        x.copy_from_slice(s);
    }
    x
}

fn u16_at(b: &[u8], offset: usize) -> u16 {
    u16::from_le_bytes(at(b, offset))
}

fn u32_at(b: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(at(b, offset))
}

fn u64_at(b: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(at(b, offset))
}

/// Checks and reads one ring buffer item.
///
/// # Errors
/// [`Malformed`] when the item is shorter than a header or than its header says, of an unknown
/// kind, with another number of strings than its kind has, or with a string outside it.
pub fn parse(buf: &[u8]) -> Result<Record<'_>, Malformed> {
    if buf.len() < HEADER_BYTES {
        return Err(Malformed(format!(
            "record of {} bytes, shorter than a header ({HEADER_BYTES})",
            buf.len()
        )));
    }
    let raw_kind = u16_at(buf, 0);
    let kind = Kind::from_u16(raw_kind)
        .ok_or_else(|| Malformed(format!("record of unknown kind {raw_kind}")))?;
    let nstr = usize::from(u16_at(buf, 2));
    let size = u32_at(buf, 4) as usize;
    if size > buf.len() || size < HEADER_BYTES {
        return Err(Malformed(format!(
            "record says {size} bytes, the item has {}",
            buf.len()
        )));
    }
    if nstr != kind.strings() {
        return Err(Malformed(format!(
            "{kind:?} record with {nstr} strings instead of {}",
            kind.strings()
        )));
    }
    let rec = buf.get(..size).unwrap_or_default();
    let header = Header {
        time_ns: u64_at(rec, 8),
        pid: u32_at(rec, 16),
        tid: u32_at(rec, 20),
        ppid: u32_at(rec, 24),
        uid: u32_at(rec, 28),
        euid: u32_at(rec, 32),
        gid: u32_at(rec, 36),
        start_ns: u64_at(rec, 40),
        cgroup_id: u64_at(rec, 48),
        a: u32_at(rec, 56),
        b: u32_at(rec, 60),
        sport: u16_at(rec, 64),
        dport: u16_at(rec, 66),
        saddr: at(rec, 72),
        daddr: at(rec, 88),
    };
    let mut strs = [Str::default(); MAX_STRS];
    for (i, slot) in strs.iter_mut().enumerate().take(nstr) {
        let at = HEADER_BYTES + i * STR_BYTES;
        if at + STR_BYTES > size {
            return Err(Malformed(format!("string {i} descriptor past the record")));
        }
        let off = u32_at(rec, at) as usize;
        let len = usize::from(u16_at(rec, at + 4));
        let flags = u16_at(rec, at + 6);
        let bytes = off
            .checked_add(len)
            .and_then(|end| rec.get(off..end))
            .ok_or_else(|| {
                Malformed(format!(
                    "string {i} at {off}..{} is outside the record of {size} bytes",
                    off.saturating_add(len)
                ))
            })?;
        *slot = Str {
            bytes,
            truncated: flags & STR_TRUNCATED != 0,
            unreadable: flags & STR_UNREADABLE != 0,
            components: flags & STR_COMPONENTS != 0,
        };
    }
    Ok(Record { kind, header, strs })
}

/// Builds record bytes the way the kernel side lays them out (for tests of this crate and of
/// the event builder).
#[cfg(test)]
pub(crate) fn encode(kind: u16, header: &Header, strs: &[(&[u8], u16)]) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_BYTES + strs.len() * STR_BYTES];
    let put = |out: &mut Vec<u8>, at: usize, b: &[u8]| {
        if let Some(dst) = out.get_mut(at..at + b.len()) {
            dst.copy_from_slice(b);
        }
    };
    put(&mut out, 0, &kind.to_le_bytes());
    put(&mut out, 2, &(strs.len() as u16).to_le_bytes());
    put(&mut out, 8, &header.time_ns.to_le_bytes());
    put(&mut out, 16, &header.pid.to_le_bytes());
    put(&mut out, 20, &header.tid.to_le_bytes());
    put(&mut out, 24, &header.ppid.to_le_bytes());
    put(&mut out, 28, &header.uid.to_le_bytes());
    put(&mut out, 32, &header.euid.to_le_bytes());
    put(&mut out, 36, &header.gid.to_le_bytes());
    put(&mut out, 40, &header.start_ns.to_le_bytes());
    put(&mut out, 48, &header.cgroup_id.to_le_bytes());
    put(&mut out, 56, &header.a.to_le_bytes());
    put(&mut out, 60, &header.b.to_le_bytes());
    put(&mut out, 64, &header.sport.to_le_bytes());
    put(&mut out, 66, &header.dport.to_le_bytes());
    put(&mut out, 72, &header.saddr);
    put(&mut out, 88, &header.daddr);
    for (i, (bytes, flags)) in strs.iter().enumerate() {
        let off = out.len() as u32;
        out.extend_from_slice(bytes);
        // Padding between regions, as the kernel's fixed regions leave.
        out.extend_from_slice(&[0xAA; 3]);
        let at = HEADER_BYTES + i * STR_BYTES;
        put(&mut out, at, &off.to_le_bytes());
        put(&mut out, at + 4, &(bytes.len() as u16).to_le_bytes());
        put(&mut out, at + 6, &flags.to_le_bytes());
    }
    let size = out.len() as u32;
    put(&mut out, 4, &size.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            time_ns: 5,
            pid: 10,
            tid: 11,
            ppid: 1,
            uid: 1000,
            euid: 0,
            gid: 100,
            start_ns: 77,
            cgroup_id: 9,
            a: 2,
            b: 6,
            sport: 4444,
            dport: 80,
            saddr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            daddr: [1; 16],
        }
    }

    #[test]
    fn a_record_reads_back_what_was_written() {
        let bytes = encode(
            7,
            &header(),
            &[
                (b"a", 0),
                (b"/tmp", 0),
                (b"b", STR_TRUNCATED),
                (b"", STR_UNREADABLE),
            ],
        );
        let r = parse(&bytes).expect("valid");
        assert_eq!(r.kind, Kind::Rename);
        assert_eq!(r.header, header());
        assert_eq!(r.str(0).bytes, b"a");
        assert_eq!(r.str(1).bytes, b"/tmp");
        assert!(r.str(2).truncated && !r.str(2).unreadable);
        assert!(r.str(3).unreadable && r.str(3).bytes.is_empty());
        assert_eq!(r.str(4), Str::default());
    }

    /// A walked path as the kernel writes it: slots of NAME_BYTES, leaf first.
    fn slots(names: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for n in names {
            let mut slot = vec![0x55u8; NAME_BYTES];
            slot[..n.len()].copy_from_slice(n.as_bytes());
            slot[n.len()] = 0;
            out.extend_from_slice(&slot);
        }
        out
    }

    #[test]
    fn walked_paths_are_assembled_root_first() {
        let path = slots(&["true", "bin", "", "usr"]);
        let root = slots(&[]);
        let bytes = encode(5, &header(), &[(&path, STR_COMPONENTS)]);
        let r = parse(&bytes).expect("valid");
        assert_eq!(r.str(0).text(), "/usr/bin/true");
        let bytes = encode(5, &header(), &[(&root, STR_COMPONENTS)]);
        assert_eq!(parse(&bytes).expect("valid").str(0).text(), "/");
        let odd = slots(&["caf\u{e9}", "t\u{fc}r"]);
        let bytes = encode(5, &header(), &[(&odd, STR_COMPONENTS)]);
        assert_eq!(
            parse(&bytes).expect("valid").str(0).text(),
            "/t\u{fc}r/caf\u{e9}"
        );
        let plain = encode(5, &header(), &[(b"a\xffb", 0)]);
        assert_eq!(parse(&plain).expect("valid").str(0).text(), "a\u{fffd}b");
    }

    #[test]
    fn records_that_do_not_add_up_are_refused() {
        let good = encode(5, &header(), &[(b"/etc/passwd", 0)]);
        assert!(parse(&good).is_ok());
        // Shorter than a header.
        assert!(parse(&good[..50]).is_err());
        // Cut short of its size.
        assert!(parse(&good[..good.len() - 1]).is_err());
        // Unknown kind.
        let mut bad = good.clone();
        bad[0] = 99;
        assert!(parse(&bad).unwrap_err().0.contains("unknown kind 99"));
        // Wrong string count for the kind.
        let mut bad = good.clone();
        bad[2] = 2;
        assert!(parse(&bad).is_err());
        // A string pointing past the record.
        let mut bad = good.clone();
        bad[HEADER_BYTES..HEADER_BYTES + 4].copy_from_slice(&60_000u32.to_le_bytes());
        assert!(parse(&bad).unwrap_err().0.contains("outside the record"));
        // A size below the header.
        let mut bad = good;
        bad[4..8].copy_from_slice(&3u32.to_le_bytes());
        assert!(parse(&bad).is_err());
    }

    #[test]
    fn every_prefix_and_every_byte_flip_is_refused_or_read_without_panic() {
        let good = encode(
            1,
            &header(),
            &[
                (b"/bin/sh", 0),
                (b"sh", 0),
                (b"sh\0-c\0id", 0),
                (b"/", 0),
                (b"x", 0),
            ],
        );
        for n in 0..good.len() {
            let _ = parse(&good[..n]);
        }
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut b = good.clone();
                b[i] ^= 1 << bit;
                if let Ok(r) = parse(&b) {
                    for s in 0..5 {
                        let _ = r.str(s);
                    }
                }
            }
        }
    }
}
