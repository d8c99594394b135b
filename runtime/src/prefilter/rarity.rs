//! How often a literal is expected to occur in one field value of an event, estimated from the
//! literals themselves (no event data): the prefilter's trigger sets (`PerType` in `prefilter`) are
//! chosen to wake as few rules as possible, so a rule whose condition needs both
//! `image endswith "\\cmd.exe"` and `command_line contains " -"` is triggered by the first.
//!
//! Three signals, the largest one wins:
//! - **the program**: the literal tests of all the rules are a sample of the text rules look
//!   at. A literal that many tests look for, itself or inside a longer literal (`.exe`,
//!   `\windows\`, ` -`, `/`, `\cmd.exe`), is a common fragment of that text, whatever the
//!   rule that tests it; one that a single test looks for and no other literal contains is
//!   specific. Learned once per program ([`Rarity::learn`]): one Aho-Corasick automaton over
//!   the distinct literals, run over each of them.
//! - **the field's vocabulary**: a field the program tests against few distinct literals
//!   (`integrity_level == "high"`, `user contains "authori"`, `company == "..."`) is one whose
//!   values come from a small set, and each of those literals is a likely value: at least
//!   one in that many. A field tested against thousands (`command_line`, `image`) says little.
//! - **the bytes**: a fixed model of the bytes of event text (paths and command lines, folded):
//!   letters by their usual frequency, `\`, `.`, space and digits common, other punctuation
//!   rare, control and non-ASCII bytes rarer still; a literal's chance at one position is the
//!   product over its bytes, and a literal looked for anywhere has many positions. This is what
//!   makes a one-byte literal (`-`, `/`) common and a long one rare when the program says
//!   nothing about them.
//!
//! The figures are rough and only their order matters: they rank the candidate trigger sets of
//! one rule (sums of probabilities: the expected number of firings). Everything here is
//! deterministic (same program, same estimates). Nothing depends on a particular rule or event:
//! the only learned data is the program's own literals.

use std::collections::{BTreeMap, HashMap};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

/// A literal that this fraction of the program's literal tests (or more) would see, itself or
/// inside their literal, is taken to occur in (nearly) every value:
/// `p = min(1, SHARE_SCALE * seen / uses)`.
const SHARE_SCALE: f64 = 8.0;

/// Literals longer than this are not looked for inside the others (see [`Rarity::learn`]).
const MAX_CONTAINED: usize = 32;

/// Past this many distinct literals the program is not learned from (the byte model alone
/// answers): the automaton and its run grow with the set.
const MAX_LEARNED: usize = 1 << 20;

/// What a program's literals say about how common each of them is. See the module
/// documentation.
#[derive(Clone, Debug, Default)]
pub struct Rarity {
    /// Per distinct literal (ASCII lower-cased): the uses of the literals that contain it,
    /// itself included.
    seen: HashMap<Vec<u8>, u64>,
    /// All uses learned from.
    uses: u64,
}

impl Rarity {
    /// Learns from the literal tests of a program: each literal with how many tests use it
    /// (any order; repeats add up; compared ASCII case-insensitively).
    pub fn learn<I, B>(literals: I) -> Rarity
    where
        I: IntoIterator<Item = (B, u32)>,
        B: AsRef<[u8]>,
    {
        let mut uses: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for (l, n) in literals {
            let l = l.as_ref();
            if !l.is_empty() {
                *uses.entry(l.to_ascii_lowercase()).or_default() += u64::from(n);
            }
        }
        let total: u64 = uses.values().sum();
        if uses.is_empty() || uses.len() > MAX_LEARNED || total == 0 {
            return Rarity::default();
        }
        let (list, counts): (Vec<Vec<u8>>, Vec<u64>) = uses.into_iter().unzip();
        // Only literals of at most `MAX_CONTAINED` bytes are looked for inside the others (a
        // longer one is seldom inside another, and long ones make most of the automaton).
        let short: Vec<usize> = (0..list.len())
            .filter(|&i| list.get(i).is_some_and(|l| l.len() <= MAX_CONTAINED))
            .collect();
        let patterns = short.iter().filter_map(|&i| list.get(i));
        // Built once (the build is part of the load) and run over short texts: the NFA as
        // built, without conversion or prefilter.
        let Ok(ac) = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::NoncontiguousNFA))
            .prefilter(false)
            .build(patterns)
        else {
            return Rarity::default();
        };
        let mut seen = counts.clone();
        // Per pattern: the last text counted for it (each text counts once per pattern).
        let mut last = vec![usize::MAX; short.len()];
        for (t, (text, &n)) in list.iter().zip(&counts).enumerate() {
            for m in ac.find_overlapping_iter(text) {
                let p = m.pattern().as_usize();
                let Some(&lit) = short.get(p) else { continue };
                if lit == t {
                    continue;
                }
                if let (Some(l), Some(c)) = (last.get_mut(p), seen.get_mut(lit)) {
                    if *l != t {
                        *l = t;
                        *c = c.saturating_add(n);
                    }
                }
            }
        }
        Rarity {
            seen: list.into_iter().zip(seen).collect(),
            uses: total,
        }
    }

    /// How many of the program's literal tests look for `lit` or for a literal containing it
    /// (0 when `lit` was not learned; for a literal longer than 32 bytes, only its own tests).
    pub fn seen(&self, lit: &[u8]) -> u64 {
        self.seen
            .get(&lit.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// The estimated probability that `lit` occurs in one field value, at one of `positions`
    /// places (1 for a literal only looked for at the start or the end; about the value's
    /// length for one looked for anywhere), when the program looks for `vocabulary` distinct
    /// literals in that field (0: unknown). In `[0, 1]`.
    pub fn probability(&self, lit: &[u8], positions: usize, vocabulary: usize) -> f64 {
        let learned = if self.uses == 0 {
            0.0
        } else {
            // Counts far below 2^53: exact as f64.
            SHARE_SCALE * self.seen(lit) as f64 / self.uses as f64
        };
        let vocabulary = if vocabulary == 0 {
            0.0
        } else {
            1.0 / vocabulary as f64
        };
        learned
            .max(vocabulary)
            .max(text_probability(lit, positions))
            .min(1.0)
    }
}

/// The byte model's probability that `lit` occurs at one of `positions` places of a value:
/// `1 - (1 - q)^positions` where `q` is the product of [`byte_frequency`] over its bytes.
pub fn text_probability(lit: &[u8], positions: usize) -> f64 {
    let q: f64 = lit.iter().map(|&b| byte_frequency(b)).product();
    let n = i32::try_from(positions.max(1)).unwrap_or(i32::MAX);
    (1.0 - (1.0 - q).powi(n)).clamp(0.0, 1.0)
}

/// The fixed frequency of byte `b` in folded event text (paths, command lines): letters by
/// their usual English frequency (about 60% of the text in all), `\` 5%, space 4%, `.` 2.5%,
/// each digit 1%, common separators (`-`, `/`, `:`, `"`, `_`, `=`) under 1%, other punctuation
/// 0.2%, control and non-ASCII bytes 0.05%.
pub fn byte_frequency(b: u8) -> f64 {
    // Per mille of English letters, a..z.
    const LETTERS: [f64; 26] = [
        82.0, 15.0, 28.0, 43.0, 127.0, 22.0, 20.0, 61.0, 70.0, 1.5, 7.7, 40.0, 24.0, 67.0, 75.0,
        19.0, 1.0, 60.0, 63.0, 91.0, 28.0, 9.8, 24.0, 1.5, 20.0, 0.7,
    ];
    let b = b.to_ascii_lowercase();
    match b {
        b'a'..=b'z' => LETTERS
            .get(usize::from(b - b'a'))
            .map_or(0.002, |f| f * 0.6 / 1000.0),
        b'0'..=b'9' => 0.01,
        b'\\' => 0.05,
        b' ' => 0.04,
        b'.' => 0.025,
        b'-' | b'/' => 0.01,
        b':' | b'"' => 0.008,
        b'_' => 0.005,
        b'=' => 0.004,
        0x21..=0x7e => 0.002,
        _ => 0.0005,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn once<'a>(lits: &[&'a str]) -> Vec<(&'a str, u32)> {
        lits.iter().map(|&l| (l, 1)).collect()
    }

    #[test]
    fn counts_the_tests_that_see_a_literal() {
        let r = Rarity::learn(once(&[
            "\\cmd.exe",
            "\\windows\\system32\\cmd.exe",
            "\\powershell.exe",
            ".exe",
            ".EXE", // the same, case aside: two uses
            "-enc",
        ]));
        assert_eq!(r.seen(b".exe"), 5);
        assert_eq!(r.seen(b".Exe"), 5);
        assert_eq!(r.seen(b"\\cmd.exe"), 2);
        assert_eq!(r.seen(b"-enc"), 1);
        assert_eq!(r.seen(b"unknown"), 0);
        // A text counts once however often it holds the literal; uses add up.
        let r = Rarity::learn([("e", 1), ("eee", 3), ("abc", 1), ("abc", 2)]);
        assert_eq!(r.seen(b"e"), 4);
        assert_eq!(r.seen(b"abc"), 3);
        // A literal longer than 32 bytes counts its own tests only.
        let long = "x".repeat(40);
        let r = Rarity::learn([(long.clone(), 2), (format!("a{long}"), 1)]);
        assert_eq!(r.seen(long.as_bytes()), 2);
    }

    #[test]
    fn common_fragments_of_the_program_are_likely() {
        let mut lits: Vec<(String, u32)> = (0..200)
            .map(|i| (format!("\\windows\\system32\\tool{i}.exe"), 1))
            .collect();
        lits.push(("-encodedcommand".into(), 1));
        lits.push(("\\windows\\".into(), 1));
        // Shared by many rules.
        lits.push(("\\popular.exe".into(), 20));
        let r = Rarity::learn(lits);
        let p_windows = r.probability(b"\\windows\\", 64, 0);
        let p_enc = r.probability(b"-encodedcommand", 64, 0);
        assert!(p_windows > 0.9, "{p_windows}");
        assert!(p_enc < 0.2, "{p_enc}");
        assert!(r.probability(b"\\popular.exe", 1, 0) > 10.0 * p_enc);
        // A literal the program does not look for: the byte model alone.
        assert_eq!(
            r.probability(b"tool1", 64, 0),
            text_probability(b"tool1", 64)
        );
    }

    #[test]
    fn the_byte_model_ranks_by_length_bytes_and_positions() {
        // One byte anywhere in a value is common, anchored much less so.
        assert!(text_probability(b"-", 64) > 0.3);
        assert!(text_probability(b"-", 1) < 0.02);
        // Longer is rarer; rare bytes are rarer than common ones.
        assert!(text_probability(b"\\cmd", 64) > text_probability(b"\\cmd.exe", 64));
        assert!(text_probability(b"ee", 64) > text_probability(b"zq", 64));
        assert!(text_probability(b"ab", 64) > text_probability(b"a{", 64));
        // Case does not matter (the text is folded).
        assert_eq!(byte_frequency(b'E'), byte_frequency(b'e'));
        // Always a probability.
        assert!((0.0..=1.0).contains(&text_probability(b"", 1_000_000)));
        assert!((0.0..=1.0).contains(&Rarity::default().probability(b"x", usize::MAX, 1)));
    }

    #[test]
    fn empty_programs_learn_nothing() {
        let r = Rarity::learn(Vec::<(Vec<u8>, u32)>::new());
        assert_eq!(r.seen(b"a"), 0);
        assert_eq!(r.probability(b"zzzz", 1, 0), text_probability(b"zzzz", 1));
    }

    #[test]
    fn a_small_vocabulary_makes_each_literal_likely() {
        let mut lits = once(&["high", "system"]);
        lits.extend((0..100).map(|_| ("\\cmd.exe", 1)));
        let r = Rarity::learn(lits);
        // Few tests see `high`, and its bytes are unremarkable at one position...
        assert!(r.probability(b"high", 1, 0) < 0.1);
        // ... but a field tested against 4 values likely holds one of them.
        assert!((r.probability(b"high", 1, 4) - 0.25).abs() < 1e-9);
        // A large vocabulary says little.
        assert!(r.probability(b"zzzz", 1, 5000) < 1e-3);
    }
}
