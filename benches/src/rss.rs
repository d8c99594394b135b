//! Resident memory of the current process, read from `/proc/self/status` (Linux): the memory
//! figures the benches print (`load`: resident size with a bundle loaded; `stateful`: peak).
//!
//! Off Linux, or when the file cannot be read or parsed, every figure is `None`: a bench then
//! prints "n/a" instead of a number, never panics.

/// Resident memory now (`VmRSS`), in bytes.
pub fn rss_bytes() -> Option<u64> {
    status_bytes("VmRSS")
}

/// The peak resident memory of the process so far (`VmHWM`, the high-water mark), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    status_bytes("VmHWM")
}

/// `bytes` in MiB with one decimal, or `n/a`.
pub fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "n/a".to_owned(),
        |b| format!("{:.1} MiB", b as f64 / MIB),
    )
}

const MIB: f64 = 1024.0 * 1024.0;

#[cfg(target_os = "linux")]
fn status_bytes(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status(&text, key)
}

#[cfg(not(target_os = "linux"))]
fn status_bytes(_key: &str) -> Option<u64> {
    None
}

/// The value of `key` in a `/proc/<pid>/status` text (`VmRSS:\t  1234 kB`), in bytes.
fn parse_status(text: &str, key: &str) -> Option<u64> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?;
    let mut parts = line.split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => value.checked_mul(1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        let text = "Name:\tx\nVmHWM:\t   2048 kB\nVmRSS:\t    1024 kB\nVmRSSx:\t 1 kB\n";
        assert_eq!(parse_status(text, "VmRSS"), Some(1024 * 1024));
        assert_eq!(parse_status(text, "VmHWM"), Some(2048 * 1024));
        assert_eq!(parse_status(text, "VmSwap"), None);
        assert_eq!(parse_status("VmRSS:\t12 MB\n", "VmRSS"), None);
        assert_eq!(parse_status("VmRSS:\tlots kB\n", "VmRSS"), None);
    }

    #[test]
    fn reads_this_process_on_linux() {
        if cfg!(target_os = "linux") {
            let rss = rss_bytes().expect("VmRSS on Linux");
            let peak = peak_rss_bytes().expect("VmHWM on Linux");
            assert!(rss > 0 && peak >= rss, "rss {rss}, peak {peak}");
        } else {
            assert_eq!(rss_bytes(), None);
        }
        assert_eq!(mib(None), "n/a");
        assert_eq!(mib(Some(3 * 1024 * 1024 / 2)), "1.5 MiB");
    }
}
