//! Text for people: control characters escaped before they reach a terminal ([`esc`],
//! [`esc_text`]) and numbers with thousands separators ([`group`]).

/// Whether `c` must not reach a terminal as it is: control characters (C0 but for newline
/// and tab, DEL, C1) and the bidirectional overrides and isolates that reorder what a
/// terminal shows.
fn hidden(c: char, keep_newlines: bool) -> bool {
    if keep_newlines && matches!(c, '\n' | '\t') {
        return false;
    }
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Escapes the control characters of `s` (ids, titles, messages, file names from the user) as
/// `\u{1b}` for human output; other text is unchanged.
pub fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    escape(s, false)
}

/// [`esc`] for whole human reports: newlines and tabs are kept.
pub fn esc_text(s: &str) -> std::borrow::Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, keep_newlines: bool) -> std::borrow::Cow<'_, str> {
    use std::fmt::Write as _;
    if !s.chars().any(|c| hidden(c, keep_newlines)) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if hidden(c, keep_newlines) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_inserts_thousands_separators() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
    }
}
