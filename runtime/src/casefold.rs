//! Unicode simple case folding (CaseFolding.txt, statuses C and S): the ONE folding table that
//! `ieq`, `icontains` and friends, `iin`, the interpreter, the JIT helpers, the prefilter and the
//! Sigma importer all use.
//!
//! Simple folding maps each character to exactly one character, so folding never changes the
//! number of characters; it can change their UTF-8 length (`Ⱥ` U+023A, 2 bytes, folds to `ⱥ`
//! U+2C65, 3 bytes), by at most [`MAX_FOLD_GROWTH_NUM`]/[`MAX_FOLD_GROWTH_DEN`]. It is not
//! lowercasing: `ß` stays `ß`, `ẞ` folds to `ß`, the Kelvin sign folds to `k`, final `ς` to `σ`,
//! Cherokee small letters to the capitals, and Turkish `İ` (which has only a full, F-status,
//! folding) is left unchanged. Regexes' `(?i)` uses regex-syntax's copy of the same data, and the
//! tests check that the two agree on every character.
//!
//! The table is generated data (see `casefold/table.rs`), Unicode
//! `table::UNICODE_VERSION`.

use std::borrow::Cow;

mod table;

/// Numerator of the bound on growth: `fold_str(s).len() <= s.len() * NUM / DEN`.
pub const MAX_FOLD_GROWTH_NUM: u64 = 3;
/// Denominator of the bound on growth: `fold_str(s).len() <= s.len() * NUM / DEN`.
pub const MAX_FOLD_GROWTH_DEN: u64 = 2;

/// The longest a string of `len_bytes` bytes can be once folded, in bytes; `u64::MAX` (no
/// bound) when that does not fit.
pub fn max_folded_len(len_bytes: u64) -> u64 {
    // Each character grows by at most 3/2, so the total is at most floor(3n/2).
    len_bytes
        .checked_mul(MAX_FOLD_GROWTH_NUM)
        .map_or(u64::MAX, |n| n / MAX_FOLD_GROWTH_DEN)
}

/// The Unicode version of the folding table, as `(major, minor, update)`.
pub fn unicode_version() -> (u8, u8, u8) {
    table::UNICODE_VERSION
}

/// The simple case fold of one character; the character itself when it has none.
pub fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    match table::FOLD.binary_search_by_key(&c, |&(from, _)| from) {
        Ok(i) => table::FOLD.get(i).map_or(c, |&(_, to)| to),
        Err(_) => c,
    }
}

/// `s` folded: borrowed when folding changes nothing (so the common, already-lower-case
/// case does not allocate), owned otherwise.
pub fn fold_str(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Cow::Owned(s.to_ascii_lowercase());
        }
        return Cow::Borrowed(s);
    }
    match s.char_indices().find(|&(_, c)| fold_char(c) != c) {
        None => Cow::Borrowed(s),
        Some((first, _)) => {
            let mut out = String::with_capacity(s.len() + s.len() / 2);
            out.push_str(s.get(..first).unwrap_or_default());
            out.extend(s.get(first..).unwrap_or_default().chars().map(fold_char));
            Cow::Owned(out)
        }
    }
}

/// Writes `s` folded into `out`, replacing what `out` held, so that a caller can reuse one
/// buffer across events.
pub fn fold_into(s: &str, out: &mut String) {
    out.clear();
    out.reserve(s.len());
    if s.is_ascii() {
        out.push_str(s);
        out.make_ascii_lowercase();
        return;
    }
    // Runs of ASCII are copied and lower-cased in bulk; only other characters go through the
    // folding table.
    let mut rest = s;
    while !rest.is_empty() {
        let ascii = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        let (run, tail) = rest.split_at(ascii);
        let from = out.len();
        out.push_str(run);
        if let Some(pushed) = out.get_mut(from..) {
            pushed.make_ascii_lowercase();
        }
        let mut chars = tail.chars();
        match chars.next() {
            Some(c) => out.push(fold_char(c)),
            None => break,
        }
        rest = chars.as_str();
    }
}

/// Whether `a` and `b` are equal under simple case folding (`ieq`), without allocating.
pub fn eq_folded(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars().map(fold_char).eq(b.chars().map(fold_char))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};

    use super::*;

    #[test]
    fn ascii_folds_to_lower_case() {
        assert_eq!(fold_str("CMD.exe"), "cmd.exe");
        assert!(matches!(fold_str("cmd.exe"), Cow::Borrowed(_)));
        assert!(matches!(fold_str(""), Cow::Borrowed(_)));
        assert!(eq_folded("PowerShell.EXE", "powershell.exe"));
        assert!(!eq_folded("powershell", "powershel"));
        for b in 0u8..128 {
            let c = char::from(b);
            assert_eq!(fold_char(c), c.to_ascii_lowercase());
        }
    }

    #[test]
    fn special_cases_follow_status_c_and_s() {
        assert_eq!(fold_char('ẞ'), 'ß'); // U+1E9E, status S
        assert_eq!(fold_char('ß'), 'ß'); // only a full (F) folding to "ss"
        assert_eq!(fold_char('\u{212A}'), 'k'); // Kelvin sign
        assert_eq!(fold_char('ς'), 'σ');
        assert_eq!(fold_char('Σ'), 'σ');
        assert_eq!(fold_char('\u{130}'), '\u{130}'); // İ: only F and T statuses
        assert_eq!(fold_char('ı'), 'ı');
        assert_eq!(fold_char('\u{AB70}'), '\u{13A0}'); // Cherokee small a → capital
        assert_eq!(fold_char('\u{13F8}'), '\u{13F0}');
        assert_eq!(fold_char('\u{13A0}'), '\u{13A0}');
        assert_eq!(fold_char('Ⱥ'), 'ⱥ');
        assert!(eq_folded("STRASSE", "strasse"));
        assert!(!eq_folded("straße", "strasse"));
        assert!(eq_folded("ΟΔΥΣΣΕΥΣ", "οδυσσευς"));
        assert!(eq_folded("\u{212A}elvin", "kELVIN"));
        assert!(!eq_folded("İstanbul", "istanbul"));
    }

    #[test]
    fn fold_str_and_fold_into_agree() {
        let mut buf = String::from("stale");
        for s in [
            "",
            "abc",
            "ABC",
            "ÀÉÎ",
            "xẞy",
            "日本語",
            "Ⱥ\u{212A}ς",
            "a\u{AB70}",
            "C:\\Users\\ÀNNA\\Über.EXE",
            "ÀB",
            "BÀ",
            "Ab\u{212A}cD",
        ] {
            fold_into(s, &mut buf);
            let folded = fold_str(s);
            assert_eq!(buf, folded);
            assert_eq!(folded.chars().count(), s.chars().count());
            let expected: String = s.chars().map(fold_char).collect();
            assert_eq!(folded, expected);
            assert_eq!(matches!(folded, Cow::Borrowed(_)), expected == s, "{s}");
            assert!(eq_folded(s, &folded));
        }
    }

    #[test]
    fn table_is_sorted_and_folds_are_idempotent() {
        assert!(table::FOLD.windows(2).all(|w| w[0].0 < w[1].0));
        for &(from, to) in table::FOLD {
            assert_ne!(from, to);
            assert_eq!(
                fold_char(to),
                to,
                "fold(fold({from:?})) must be fold({from:?})"
            );
        }
    }

    #[test]
    fn growth_bound_is_exactly_three_halves() {
        // Largest per-character ratio to/from, as a fraction compared by cross-multiplying.
        let (mut num, mut den) = (1usize, 1usize);
        for &(from, to) in table::FOLD {
            if to.len_utf8() * den > num * from.len_utf8() {
                (num, den) = (to.len_utf8(), from.len_utf8());
            }
        }
        assert_eq!(
            (num as u64) * MAX_FOLD_GROWTH_DEN,
            (den as u64) * MAX_FOLD_GROWTH_NUM
        );
        let s = "ȺȺȺ";
        assert_eq!(fold_str(s).len() as u64, max_folded_len(s.len() as u64));
        assert_eq!(max_folded_len(u64::MAX), u64::MAX);
    }

    /// Chars equal under our folding, grouped by their fold: each group is one equivalence class.
    fn our_classes() -> BTreeMap<char, BTreeSet<char>> {
        let mut classes: BTreeMap<char, BTreeSet<char>> = BTreeMap::new();
        for &(from, to) in table::FOLD {
            let class = classes.entry(to).or_default();
            class.insert(from);
            class.insert(to);
        }
        classes
    }

    fn regex_syntax_class(c: char) -> BTreeSet<char> {
        let mut class = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
        class.case_fold_simple();
        class.iter().flat_map(|r| r.start()..=r.end()).collect()
    }

    #[test]
    fn agrees_with_regex_syntax_on_every_folded_char() {
        let classes = our_classes();
        for class in classes.values() {
            for &c in class {
                assert_eq!(&regex_syntax_class(c), class, "class of {c:?}");
            }
        }
        // Every other char is alone in its class for regex-syntax too.
        let folded: Vec<ClassUnicodeRange> = classes
            .values()
            .flatten()
            .map(|&c| ClassUnicodeRange::new(c, c))
            .collect();
        let mut others = ClassUnicode::new(folded);
        others.negate();
        let before = others.clone();
        others.case_fold_simple();
        assert_eq!(others, before);
    }

    #[test]
    fn agrees_with_regex_automata_case_insensitive_matching() {
        use regex_automata::meta::Regex;
        let classes = our_classes();
        for (i, class) in classes.values().enumerate() {
            if i % 7 != 0 {
                continue;
            }
            for &c in class {
                let pattern = format!("(?i)^{}$", regex_syntax::escape(&c.to_string()));
                let re = Regex::new(&pattern).expect("escaped char is a valid regex");
                for &d in class {
                    assert!(
                        re.is_match(d.encode_utf8(&mut [0; 4]).as_bytes()),
                        "{c:?} ~ {d:?}"
                    );
                }
                for neighbour in [
                    char::from_u32(u32::from(c) + 1),
                    char::from_u32(u32::from(c).wrapping_sub(1)),
                ]
                .into_iter()
                .flatten()
                {
                    let expected = fold_char(neighbour) == fold_char(c);
                    let text = neighbour.to_string();
                    assert_eq!(re.is_match(&text), expected, "{c:?} vs {neighbour:?}");
                }
            }
        }
    }
}
