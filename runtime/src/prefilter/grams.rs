//! A multi-literal searcher for the prefilter's unanchored scans, in the manner of Wu-Manber
//! and Hyperscan's FDR: every pattern is filed under one of its substrings of a fixed length
//! (its *gram*: 4 bytes for patterns of at least 4, 2 for those of 2 or 3, 1 for single
//! bytes), chosen to be rare and to keep the buckets small; the search slides a window of each
//! gram length over the text, tests the window's hash in a bitmap small enough to stay in the
//! first-level cache, and only where the bit is set looks the gram up and compares the few
//! patterns filed under it.
//!
//! Why: an Aho-Corasick automaton over ~10,000 patterns (the converted SigmaHQ rules'
//! `command_line` literals) is megabytes of states, and its walk misses the cache at nearly
//! every byte; even a small automaton's walk is a chain of dependent table loads, one per
//! byte. Here the positions are independent and the per-byte work touches a bitmap of at most
//! 32 KiB; the tables are read only on a probable hit.
//!
//! Input: the patterns (bytes, already folded by the caller when folding applies); output:
//! every occurrence of every pattern (overlapping), as (pattern index, start, end), exactly
//! as an overlapping Aho-Corasick search reports them (order aside). The tests compare it with
//! a naive search on random sets.

use aho_corasick::automaton::Automaton;
use aho_corasick::{Anchored, MatchKind};

/// Gram lengths, longest first, and the shortest pattern each serves.
const GRAM_LENS: [(usize, usize); 3] = [(4, 4), (2, 2), (1, 1)];

/// A built searcher. See the module documentation.
#[derive(Clone, Debug)]
pub struct Grams {
    /// The patterns, by index.
    patterns: Vec<Box<[u8]>>,
    /// One table per gram length that has patterns.
    tables: Vec<Table>,
    /// Patterns whose every gram's bucket was full ([`MAX_BUCKET`]): an automaton and, per
    /// its pattern, the pattern index. Only sets built to collide get one.
    overflow: Option<(aho_corasick::nfa::contiguous::NFA, Vec<u32>)>,
}

/// At most this many patterns are filed under one gram, so that a position whose gram is
/// set costs at most this many comparisons (the worst case per byte stays a constant, as for
/// an automaton); a pattern whose grams are all full goes to the overflow automaton.
pub const MAX_BUCKET: usize = 8;

/// The patterns filed under grams of one length.
#[derive(Clone, Debug)]
struct Table {
    /// Gram length in bytes (1, 2 or 4).
    len: usize,
    /// One bit per hash value of a gram some pattern is filed under.
    filter: Vec<u64>,
    /// `32 - log2(filter bits)`: the hash's top bits index the filter.
    filter_shift: u32,
    /// Open-addressing table from gram to its bucket in `entries` (`from == to`: empty).
    slots: Vec<Slot>,
    /// `32 - log2(slots)`.
    slot_shift: u32,
    /// Per bucket: (pattern index, offset of the gram in the pattern).
    entries: Vec<(u32, u32)>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    gram: u32,
    from: u32,
    to: u32,
}

/// Fibonacci hashing multipliers (odd, well mixed).
const FILTER_MUL: u32 = 0x9E37_79B1;
const SLOT_MUL: u32 = 0x85EB_CA77;

impl Grams {
    /// Builds the searcher; `None` when there are more patterns or entries than `u32` can
    /// number. Empty patterns are never reported.
    pub fn new(patterns: &[Vec<u8>]) -> Option<Grams> {
        u32::try_from(patterns.len()).ok()?;
        let mut tables = Vec::new();
        let mut overflow: Vec<u32> = Vec::new();
        for (i, &(len, min)) in GRAM_LENS.iter().enumerate() {
            let max = i
                .checked_sub(1)
                .and_then(|j| GRAM_LENS.get(j))
                .map_or(usize::MAX, |&(_, m)| m - 1);
            let mine = patterns
                .iter()
                .enumerate()
                .filter(|(_, p)| (min..=max).contains(&p.len()));
            if let Some(t) = Table::new(len, mine, &mut overflow)? {
                tables.push(t);
            }
        }
        let overflow = if overflow.is_empty() {
            None
        } else {
            let automaton = aho_corasick::nfa::contiguous::Builder::new()
                .match_kind(MatchKind::Standard)
                .prefilter(false)
                .build(overflow.iter().filter_map(|&i| patterns.get(i as usize)))
                .ok()?;
            Some((automaton, overflow))
        };
        Some(Grams {
            patterns: patterns
                .iter()
                .map(|p| p.clone().into_boxed_slice())
                .collect(),
            tables,
            overflow,
        })
    }

    /// Calls `report(pattern, start, end)` for every occurrence of every pattern in `text`.
    #[inline]
    pub fn find(&self, text: &[u8], mut report: impl FnMut(usize, usize, usize)) {
        if let Some((automaton, ids)) = &self.overflow {
            find_overflow(automaton, ids, text, &mut report);
        }
        for t in &self.tables {
            for (i, w) in text.windows(t.len).enumerate() {
                let gram = gram_of(w);
                let h = (gram.wrapping_mul(FILTER_MUL) >> t.filter_shift) as usize;
                let set = t
                    .filter
                    .get(h >> 6)
                    .is_some_and(|word| word & (1 << (h & 63)) != 0);
                if set {
                    t.verify(&self.patterns, text, i, gram, &mut report);
                }
            }
        }
    }
}

impl Table {
    /// The table of gram length `len` over `patterns` (index, bytes), each at least `len`
    /// long; `Some(None)` when there is none.
    fn new<'p>(
        len: usize,
        patterns: impl Iterator<Item = (usize, &'p Vec<u8>)>,
        overflow: &mut Vec<u32>,
    ) -> Option<Option<Table>> {
        // gram -> (pattern, offset), chosen greedily: rare bytes first, then small buckets.
        let mut buckets: std::collections::HashMap<u32, Vec<(u32, u32)>> =
            std::collections::HashMap::new();
        for (i, p) in patterns {
            let id = u32::try_from(i).ok()?;
            let mut best: Option<(u32, u32, (u32, usize))> = None;
            for (off, w) in p.windows(len).enumerate() {
                let gram = gram_of(w);
                let filed = buckets.get(&gram).map_or(0, Vec::len);
                if filed >= MAX_BUCKET {
                    continue;
                }
                let score = (commonness(w), filed);
                let off = u32::try_from(off).ok()?;
                if best.is_none_or(|(_, _, s)| score < s) {
                    best = Some((gram, off, score));
                }
            }
            match best {
                Some((gram, off, _)) => buckets.entry(gram).or_default().push((id, off)),
                None => overflow.push(id),
            }
        }
        if buckets.is_empty() {
            return Some(None);
        }
        // The filter: at least 16 bits per gram, from 4 Ki to 256 Ki bits (32 KiB).
        let filter_bits = (buckets.len() * 16)
            .next_power_of_two()
            .clamp(1 << 12, 1 << 18);
        let filter_shift = 32 - filter_bits.trailing_zeros();
        let mut filter = vec![0u64; filter_bits / 64];
        let n_slots = (buckets.len() * 2).next_power_of_two().max(16);
        let slot_shift = 32 - n_slots.trailing_zeros();
        let mut slots = vec![Slot::default(); n_slots];
        let mut entries = Vec::new();
        let mut grams: Vec<(u32, Vec<(u32, u32)>)> = buckets.into_iter().collect();
        grams.sort_unstable_by_key(|(g, _)| *g);
        for (gram, list) in grams {
            let h = (gram.wrapping_mul(FILTER_MUL) >> filter_shift) as usize;
            if let Some(w) = filter.get_mut(h >> 6) {
                *w |= 1 << (h & 63);
            }
            let from = u32::try_from(entries.len()).ok()?;
            entries.extend(list);
            let to = u32::try_from(entries.len()).ok()?;
            let mut s = (gram.wrapping_mul(SLOT_MUL) >> slot_shift) as usize;
            // The table is at most half full: a free slot is always found.
            loop {
                let slot = slots.get_mut(s)?;
                if slot.from == slot.to {
                    *slot = Slot { gram, from, to };
                    break;
                }
                s = (s + 1) & (n_slots - 1);
            }
        }
        Some(Some(Table {
            len,
            filter,
            filter_shift,
            slots,
            slot_shift,
            entries,
        }))
    }

    /// The patterns filed under `gram`, which occurs at `at` in `text`: those that occur.
    #[inline]
    fn verify(
        &self,
        patterns: &[Box<[u8]>],
        text: &[u8],
        at: usize,
        gram: u32,
        report: &mut impl FnMut(usize, usize, usize),
    ) {
        let mask = self.slots.len() - 1;
        let mut s = (gram.wrapping_mul(SLOT_MUL) >> self.slot_shift) as usize;
        loop {
            let Some(slot) = self.slots.get(s) else {
                return;
            };
            if slot.from == slot.to {
                return;
            }
            if slot.gram == gram {
                let bucket = self
                    .entries
                    .get(slot.from as usize..slot.to as usize)
                    .unwrap_or_default();
                for &(id, off) in bucket {
                    let Some(start) = at.checked_sub(off as usize) else {
                        continue;
                    };
                    let Some(p) = patterns.get(id as usize) else {
                        continue;
                    };
                    let end = start + p.len();
                    // A pattern that is its gram matched with the gram.
                    if p.len() == self.len || text.get(start..end) == Some(&p[..]) {
                        report(id as usize, start, end);
                    }
                }
                return;
            }
            s = (s + 1) & mask;
        }
    }
}

/// Every occurrence of the overflow patterns.
#[cold]
fn find_overflow(
    automaton: &aho_corasick::nfa::contiguous::NFA,
    ids: &[u32],
    text: &[u8],
    report: &mut impl FnMut(usize, usize, usize),
) {
    let Ok(mut sid) = automaton.start_state(Anchored::No) else {
        return;
    };
    for (i, &byte) in text.iter().enumerate() {
        sid = automaton.next_state(Anchored::No, sid, byte);
        if !automaton.is_match(sid) {
            continue;
        }
        let end = i + 1;
        for k in 0..automaton.match_len(sid) {
            let pid = automaton.match_pattern(sid, k);
            let start = end.saturating_sub(automaton.pattern_len(pid));
            if let Some(&id) = ids.get(pid.as_usize()) {
                report(id as usize, start, end);
            }
        }
    }
}

/// The gram of a window of 1 to 4 bytes (little-endian).
#[inline(always)]
fn gram_of(w: &[u8]) -> u32 {
    match *w {
        [a, b, c, d, ..] => u32::from_le_bytes([a, b, c, d]),
        [a, b, ..] => u32::from(u16::from_le_bytes([a, b])),
        [a] => u32::from(a),
        [] => 0,
    }
}

/// How common a gram's bytes are in command lines and paths (lower is rarer): separators,
/// vowels and the letters of `windows`, `system32`, `.exe` count.
fn commonness(w: &[u8]) -> u32 {
    w.iter()
        .map(|b| match b {
            b' ' | b'\\' | b'/' | b'.' | b':' | b'-' | b'"' => 3,
            b'e' | b'a' | b'o' | b'i' | b's' | b't' | b'n' | b'r' | b'w' | b'x' | b'd' => 2,
            b'0'..=b'9' | b'c' | b'l' | b'm' | b'p' | b'h' | b'u' => 1,
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(patterns: &[Vec<u8>], text: &[u8]) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        for (id, p) in patterns.iter().enumerate() {
            if p.is_empty() || p.len() > text.len() {
                continue;
            }
            for start in 0..=text.len() - p.len() {
                if text[start..start + p.len()] == p[..] {
                    out.push((id, start, start + p.len()));
                }
            }
        }
        out.sort_unstable();
        out
    }

    fn search(g: &Grams, text: &[u8]) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        g.find(text, |id, s, e| out.push((id, s, e)));
        out.sort_unstable();
        out
    }

    #[test]
    fn finds_every_occurrence_of_long_and_short_patterns() {
        let pats: Vec<Vec<u8>> = [
            "-enc",
            "powershell",
            "ll",
            "she",
            "shell",
            "e",
            "c:\\windows\\",
            "dows",
        ]
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
        let g = Grams::new(&pats).expect("built");
        for text in [
            &b"c:\\windows\\system32\\windowspowershell\\v1.0\\powershell.exe -enc aaa"[..],
            b"",
            b"ll",
            b"shellshell",
        ] {
            assert_eq!(
                search(&g, text),
                naive(&pats, text),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn many_patterns_share_grams() {
        let pats: Vec<Vec<u8>> = (0..3000)
            .map(|i| format!("c:\\windows\\system32\\tool{i}.exe").into_bytes())
            .collect();
        let g = Grams::new(&pats).expect("built");
        let text = b"\"c:\\windows\\system32\\tool17.exe\" c:\\windows\\system32\\tool2999.exe";
        assert_eq!(search(&g, text), naive(&pats, text));
    }

    #[test]
    fn colliding_patterns_overflow_to_the_automaton() {
        // Every pattern's only gram is `aaaa`: all but MAX_BUCKET overflow.
        let pats: Vec<Vec<u8>> = (4..40).map(|n| vec![b'a'; n]).collect();
        let g = Grams::new(&pats).expect("built");
        assert!(g.overflow.is_some());
        let text = vec![b'a'; 64];
        assert_eq!(search(&g, &text), naive(&pats, &text));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn agrees_with_a_naive_search(
            pats in proptest::collection::vec(proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), Just(b'\\'), any::<u8>()], 1..9), 1..60),
            text in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), Just(b'\\'), any::<u8>()], 0..200),
        ) {
            let mut pats = pats;
            pats.sort();
            pats.dedup();
            let g = Grams::new(&pats).expect("built");
            prop_assert_eq!(search(&g, &text), naive(&pats, &text));
        }
    }
}
