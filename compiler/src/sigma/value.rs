//! Sigma values and modifiers: wildcards, escapes, the encodings (`base64`, `base64offset`,
//! `utf16le`, `utf16be`, `utf16`, `wide`, `windash`), and what each value finally tests.
//!
//! Input: a field key's modifier list and one YAML value; output: the alternatives the value
//! stands for, each a [`Pattern`] (a literal with the positions where it must be anchored, or
//! a regular expression). No field types here: `detection.rs` turns patterns into expressions.

use super::error::{ErrorCode, Refusal, Result};

/// One piece of a Sigma string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// A literal character.
    Char(char),
    /// `*`: any run of characters.
    Star,
    /// `?`: exactly one character.
    Quest,
}

/// A Sigma string with its wildcards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SigmaStr(pub(crate) Vec<Piece>);

impl SigmaStr {
    /// Reads a value as Sigma writes it: `*` and `?` are wildcards, `\*`, `\?` and `\\` are the
    /// literal characters, any other backslash is itself.
    pub(crate) fn parse(s: &str) -> SigmaStr {
        let mut out = Vec::with_capacity(s.len());
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&n @ ('*' | '?' | '\\')) => {
                        chars.next();
                        out.push(Piece::Char(n));
                    }
                    _ => out.push(Piece::Char('\\')),
                },
                '*' => out.push(Piece::Star),
                '?' => out.push(Piece::Quest),
                c => out.push(Piece::Char(c)),
            }
        }
        SigmaStr(out)
    }

    /// A string of literal characters only.
    pub(crate) fn literal(s: &str) -> SigmaStr {
        SigmaStr(s.chars().map(Piece::Char).collect())
    }

    /// The text, when there are no wildcards.
    pub(crate) fn as_literal(&self) -> Option<String> {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Char(c) => Some(*c),
                _ => None,
            })
            .collect()
    }
}

/// How a value is compared, from the modifiers `contains`, `startswith`, `endswith`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// The whole value (no modifier).
    Whole,
    /// `contains`.
    Contains,
    /// `startswith`.
    Start,
    /// `endswith`.
    End,
}

/// What one alternative of a value finally tests on a string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// Equal to the literal.
    Eq(String),
    /// Contains the literal.
    Contains(String),
    /// Starts with the literal.
    Start(String),
    /// Ends with the literal.
    End(String),
    /// Matches the regular expression (search semantics, flags included in the text).
    Regex(String),
    /// Any value at all (a lone `*`): the field is present.
    Any,
}

/// Compiles a wildcard string under an anchor to its cheapest exact pattern.
pub(crate) fn compile(s: &SigmaStr, anchor: Anchor, cased: bool) -> Pattern {
    let mut pieces = s.0.clone();
    let (mut start, mut end) = match anchor {
        Anchor::Whole => (true, true),
        Anchor::Contains => (false, false),
        Anchor::Start => (true, false),
        Anchor::End => (false, true),
    };
    while pieces.first() == Some(&Piece::Star) {
        pieces.remove(0);
        start = false;
    }
    while pieces.last() == Some(&Piece::Star) {
        pieces.pop();
        end = false;
    }
    if let Some(lit) = SigmaStr(pieces.clone()).as_literal() {
        if lit.is_empty() && !(start && end) {
            return Pattern::Any;
        }
        return match (start, end) {
            (true, true) => Pattern::Eq(lit),
            (true, false) => Pattern::Start(lit),
            (false, true) => Pattern::End(lit),
            (false, false) => Pattern::Contains(lit),
        };
    }
    // Inner wildcards: a linear-time regex. `(?s)` so that `*` and `?` cross newlines as
    // Sigma's wildcards do.
    let mut re = String::from(if cased { "(?s)" } else { "(?is)" });
    if start {
        re.push('^');
    }
    let mut lit = String::new();
    for p in &pieces {
        match p {
            Piece::Char(c) => lit.push(*c),
            Piece::Star | Piece::Quest => {
                re.push_str(&regex_syntax::escape(&lit));
                lit.clear();
                re.push_str(if *p == Piece::Star { ".*" } else { "." });
            }
        }
    }
    re.push_str(&regex_syntax::escape(&lit));
    if end {
        re.push('$');
    }
    Pattern::Regex(re)
}

/// The dash characters `windash` puts in place of a leading `-` or `/` (pySigma's list).
const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// `windash`: every option dash (a `-` or `/` at the start of a word, not after a word
/// character) in each of its five forms; `limit` bounds the number of variants.
pub(crate) fn windash(s: &SigmaStr, limit: usize) -> Result<Vec<SigmaStr>> {
    let mut out = vec![Vec::with_capacity(s.0.len())];
    let p = &s.0;
    for (i, piece) in p.iter().enumerate() {
        let is_dash = matches!(piece, Piece::Char('-' | '/'));
        let prev_word =
            i > 0 && matches!(p[i - 1], Piece::Char(c) if c.is_alphanumeric() || c == '_');
        let next_word =
            matches!(p.get(i + 1), Some(Piece::Char(c)) if c.is_alphanumeric() || *c == '_');
        if is_dash && !prev_word && next_word {
            if out.len() * DASHES.len() > limit {
                return Err(Refusal::new(
                    ErrorCode::TooManyValues,
                    format!("`windash` expands a value to more than {limit} variants"),
                ));
            }
            out = out
                .into_iter()
                .flat_map(|v| {
                    DASHES.iter().map(move |d| {
                        let mut v = v.clone();
                        v.push(Piece::Char(*d));
                        v
                    })
                })
                .collect();
        } else {
            for v in &mut out {
                v.push(*piece);
            }
        }
    }
    Ok(out.into_iter().map(SigmaStr).collect())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `base64offset`: the three forms the bytes take inside a longer base64 text, depending on
/// their offset modulo 3 (the algorithm of the Sigma specification and pySigma).
pub(crate) fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    let mut out = Vec::with_capacity(3);
    for (i, start) in START.iter().enumerate() {
        let mut padded = vec![b' '; i];
        padded.extend_from_slice(bytes);
        let enc = base64(&padded);
        // Drop the characters that depend on bytes before or after the value.
        let cut_end = match (bytes.len() + i) % 3 {
            0 => 0,
            1 => 3,
            _ => 2,
        };
        let end = enc.len().saturating_sub(cut_end);
        let start = (*start).min(end);
        out.push(enc[start..end].to_owned());
    }
    out
}

/// UTF-16 encodings of a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Utf16 {
    /// `utf16le` / `wide`.
    Le,
    /// `utf16be`.
    Be,
    /// `utf16`: little-endian with a byte order mark.
    LeBom,
}

pub(crate) fn utf16(text: &str, enc: Utf16) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2 + 2);
    if enc == Utf16::LeBom {
        out.extend_from_slice(&[0xFF, 0xFE]);
    }
    for u in text.encode_utf16() {
        match enc {
            Utf16::Be => out.extend_from_slice(&u.to_be_bytes()),
            Utf16::Le | Utf16::LeBom => out.extend_from_slice(&u.to_le_bytes()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_wildcards() {
        let s = SigmaStr::parse(r"a\*b\\c\d*?");
        assert_eq!(
            s.0,
            vec![
                Piece::Char('a'),
                Piece::Char('*'),
                Piece::Char('b'),
                Piece::Char('\\'),
                Piece::Char('c'),
                Piece::Char('\\'),
                Piece::Char('d'),
                Piece::Star,
                Piece::Quest,
            ]
        );
    }

    #[test]
    fn cheapest_exact_form() {
        let c = |v: &str, a| compile(&SigmaStr::parse(v), a, false);
        assert_eq!(
            c(r"*\cmd.exe", Anchor::Whole),
            Pattern::End(r"\cmd.exe".into())
        );
        assert_eq!(c("abc*", Anchor::Whole), Pattern::Start("abc".into()));
        assert_eq!(c("*abc*", Anchor::Whole), Pattern::Contains("abc".into()));
        assert_eq!(c("abc", Anchor::End), Pattern::End("abc".into()));
        assert_eq!(
            c("a*b", Anchor::Contains),
            Pattern::Regex("(?is)a.*b".into())
        );
        assert_eq!(
            c("a?b.", Anchor::Whole),
            Pattern::Regex(r"(?is)^a.b\.$".into())
        );
        assert_eq!(c("*", Anchor::Whole), Pattern::Any);
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn base64offset_matches_pysigma() {
        // pySigma's documented example for `/bin/bash`.
        assert_eq!(
            base64_offsets(b"/bin/bash"),
            vec!["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
    }

    #[test]
    fn windash_expands_option_dashes_only() {
        let v = windash(&SigmaStr::parse("a-b -c"), 100).unwrap();
        assert_eq!(v.len(), 5);
        assert_eq!(v[1].as_literal().unwrap(), "a-b /c");
    }
}
