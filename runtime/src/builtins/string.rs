//! String builtins: `lower`, `upper`, `len`, `substr`, `entropy`. Lengths and offsets are in
//! bytes of UTF-8, as the schema's `max_len` is.

use std::borrow::Cow;

/// `lower(s)`: Rust's `str::to_lowercase`, Unicode's default full lowercase mapping (with the
/// final-sigma rule: `ΣΑΣ` is `σας`; `İ` becomes `i` + U+0307). Not case folding: compare with
/// `ieq` and friends, not `lower(a) == lower(b)`. Borrowed when nothing changes.
pub fn lower(s: &str) -> Cow<'_, str> {
    if s.is_ascii() && !s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Cow::Borrowed(s);
    }
    let lowered = s.to_lowercase();
    if lowered == s {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(lowered)
    }
}

/// `upper(s)`: Rust's `str::to_uppercase`, Unicode's default full uppercase mapping (`ß` becomes
/// `SS`, `ΐ` three characters). Borrowed when nothing changes.
pub fn upper(s: &str) -> Cow<'_, str> {
    if s.is_ascii() && !s.bytes().any(|b| b.is_ascii_lowercase()) {
        return Cow::Borrowed(s);
    }
    let uppered = s.to_uppercase();
    if uppered == s {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(uppered)
    }
}

/// The largest byte index `<= i` (and `<= s.len()`) that is a char boundary.
fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1; // index 0 is always a boundary, so this stops
    }
    i
}

/// `substr(s, start, len)`: the bytes `start .. start + len`, clamped into `s` (a negative start
/// or length counts as 0), then each end moved back to a character boundary: a start inside a
/// character takes in the whole character, an end inside one leaves it out. So the result may
/// be up to 3 bytes longer than `len`, is never longer than `s`, and is always valid UTF-8.
pub fn substr(s: &str, start: i64, len: i64) -> &str {
    let start = usize::try_from(start.max(0))
        .unwrap_or(usize::MAX)
        .min(s.len());
    let len = usize::try_from(len.max(0)).unwrap_or(usize::MAX);
    let end = start.saturating_add(len).min(s.len());
    let (start, end) = (floor_boundary(s, start), floor_boundary(s, end));
    s.get(start..end).unwrap_or_default()
}

/// `entropy(s)`: Shannon entropy of the bytes of `s` in bits per byte, times 1000, rounded down
/// (0 to 8000); 0 for `""`. Computed in `f64` with a tolerance of 1e-9 before rounding down, so
/// that exact values (`"ab"` is 1000) are not lost to the last bit of a logarithm.
pub fn entropy_millibits(s: &[u8]) -> i64 {
    if s.is_empty() {
        return 0;
    }
    let mut counts = [0u64; 256];
    for &b in s {
        counts[usize::from(b)] += 1;
    }
    // Lengths are far below 2^53, so these conversions are exact.
    let n = s.len() as f64;
    let sum: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let c = c as f64;
            c * c.log2()
        })
        .sum();
    let bits = n.log2() - sum / n;
    let milli = (bits * 1000.0 + 1e-9).floor().clamp(0.0, 8000.0);
    // In 0..=8000 after the clamp, so the cast is exact.
    milli as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substr_clamps_and_respects_char_boundaries() {
        assert_eq!(substr("abcdef", 1, 3), "bcd");
        assert_eq!(substr("abc", -5, 2), "ab");
        assert_eq!(substr("abc", 1, -1), "");
        assert_eq!(substr("abc", 1, 100), "bc");
        assert_eq!(substr("abc", 10, 1), "");
        assert_eq!(substr("abc", i64::MAX, i64::MAX), "");
        assert_eq!(substr("abc", i64::MIN, i64::MAX), "abc");
        assert_eq!(substr("héllo", 2, 2), "él");
        assert_eq!(substr("héllo", 0, 2), "h");
        assert_eq!(substr("日本", 1, 1), "");
        assert_eq!(substr("日本", 1, 3), "日");
        assert_eq!(substr("", 0, 5), "");
    }

    #[test]
    fn entropy_of_known_strings() {
        assert_eq!(entropy_millibits(b""), 0);
        assert_eq!(entropy_millibits(b"aaaa"), 0);
        assert_eq!(entropy_millibits(b"ab"), 1000);
        assert_eq!(entropy_millibits(b"abcd"), 2000);
        assert_eq!(entropy_millibits(b"aab"), 918);
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(entropy_millibits(&all), 8000);
        let all_twice: Vec<u8> = all.iter().chain(&all).copied().collect();
        assert_eq!(entropy_millibits(&all_twice), 8000);
    }

    #[test]
    fn lower_and_upper_use_full_mappings() {
        assert_eq!(lower("CMD.EXE"), "cmd.exe");
        assert!(matches!(lower("cmd.exe"), Cow::Borrowed(_)));
        assert!(matches!(lower("日本"), Cow::Borrowed(_)));
        assert_eq!(lower("ΣΑΣ"), "σας");
        assert_eq!(lower("İ"), "i\u{307}");
        assert_eq!(upper("straße"), "STRASSE");
        assert!(matches!(upper("CMD"), Cow::Borrowed(_)));
    }
}
