//! The tokens of Vigil source ([`Token`], derived with logos) and literal decoding.
//!
//! Owns what a token is: keywords, punctuation, names, integers, durations, strings and
//! comments, and turning literal text into values (escapes, raw strings, hex, duration units).
//! Problems inside a token (a bad escape, an unknown unit) are recorded in the lexer's extras
//! ([`LexState`]) and the token is still produced, so one bad literal does not derail the parser.
//! Long tokens (strings, comments) are scanned by hand in loops, never by recursion.

use logos::Logos;

use vigil_codes::ErrorCode;

use crate::error::{span, SyntaxError};
use crate::span::FileId;

/// State the logos lexer carries: the file (for error spans) and errors found inside tokens.
#[derive(Clone, Debug, Default)]
pub struct LexState {
    /// The file being lexed.
    pub file: FileId,
    /// Errors found inside tokens since the caller last drained them.
    pub errors: Vec<SyntaxError>,
}

/// At most this many errors are recorded from inside one token (a string full of bad escapes).
const MAX_ERRORS_PER_TOKEN: usize = 16;

impl LexState {
    fn push(&mut self, e: SyntaxError) {
        if self.errors.len() < MAX_ERRORS_PER_TOKEN {
            self.errors.push(e);
        }
    }
}

/// A decoded string literal, before the parser attaches its span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrToken {
    /// The decoded value.
    pub value: String,
    /// Bytes from the literal's start to its first content byte.
    pub content_offset: u32,
    /// The value equals the source bytes between the quotes.
    pub verbatim: bool,
}

/// One token. Whitespace is skipped; comments are tokens (the parser's adapter drops them, a
/// formatter keeps them).
#[derive(Logos, Clone, Debug, PartialEq)]
#[logos(extras = LexState)]
#[logos(skip r"[ \t\r\n\f]+")]
pub enum Token {
    /// `list`
    #[token("list")]
    List,
    /// `fn`
    #[token("fn")]
    Fn,
    /// `rule`
    #[token("rule")]
    Rule,
    /// `test`
    #[token("test")]
    Test,
    /// `meta`
    #[token("meta")]
    Meta,
    /// `on`
    #[token("on")]
    On,
    /// `sequence`
    #[token("sequence")]
    Sequence,
    /// `by`
    #[token("by")]
    By,
    /// `within`
    #[token("within")]
    Within,
    /// `when`
    #[token("when")]
    When,
    /// `threshold`
    #[token("threshold")]
    Threshold,
    /// `count`
    #[token("count")]
    Count,
    /// `distinct`
    #[token("distinct")]
    Distinct,
    /// `emit`
    #[token("emit")]
    Emit,
    /// `fields`
    #[token("fields")]
    Fields,
    /// `at`
    #[token("at")]
    At,
    /// `fires`
    #[token("fires")]
    Fires,
    /// `quiet`
    #[token("quiet")]
    Quiet,
    /// `and`
    #[token("and")]
    And,
    /// `or`
    #[token("or")]
    Or,
    /// `not`
    #[token("not")]
    Not,
    /// `in`
    #[token("in")]
    In,
    /// `iin`
    #[token("iin")]
    IIn,
    /// `matches`
    #[token("matches")]
    Matches,
    /// `any`
    #[token("any")]
    Any,
    /// `all`
    #[token("all")]
    All,
    /// `exists`
    #[token("exists")]
    Exists,
    /// `true`
    #[token("true")]
    True,
    /// `false`
    #[token("false")]
    False,
    /// `ieq`
    #[token("ieq")]
    Ieq,
    /// `contains`
    #[token("contains")]
    Contains,
    /// `startswith`
    #[token("startswith")]
    StartsWith,
    /// `endswith`
    #[token("endswith")]
    EndsWith,
    /// `icontains`
    #[token("icontains")]
    IContains,
    /// `istartswith`
    #[token("istartswith")]
    IStartsWith,
    /// `iendswith`
    #[token("iendswith")]
    IEndsWith,
    /// `{`
    #[token("{")]
    LBrace,
    /// `}`
    #[token("}")]
    RBrace,
    /// `(`
    #[token("(")]
    LParen,
    /// `)`
    #[token(")")]
    RParen,
    /// `[`
    #[token("[")]
    LBracket,
    /// `]`
    #[token("]")]
    RBracket,
    /// `,`
    #[token(",")]
    Comma,
    /// `;`
    #[token(";")]
    Semi,
    /// `:`
    #[token(":")]
    Colon,
    /// `.`
    #[token(".")]
    Dot,
    /// `->`
    #[token("->")]
    Arrow,
    /// `=>`
    #[token("=>")]
    FatArrow,
    /// `==`
    #[token("==")]
    EqEq,
    /// `!=`
    #[token("!=")]
    Ne,
    /// `<`
    #[token("<")]
    Lt,
    /// `<=`
    #[token("<=")]
    Le,
    /// `>`
    #[token(">")]
    Gt,
    /// `>=`
    #[token(">=")]
    Ge,
    /// `=`
    #[token("=")]
    Assign,
    /// `+`
    #[token("+")]
    Plus,
    /// `-`
    #[token("-")]
    Minus,
    /// `*`
    #[token("*")]
    Star,
    /// `/`
    #[token("/")]
    Slash,
    /// `%`
    #[token("%")]
    Percent,
    /// A plain identifier `[A-Za-z_][A-Za-z0-9_]*` that is not a keyword.
    #[regex("[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice().to_owned())]
    Ident(String),
    /// A backticked name `` `Threat Name` ``, holding the text between the backticks.
    #[token("`", lex_backtick)]
    Backtick(String),
    /// An unsigned integer literal, decimal or `0x` hex.
    #[regex("[0-9]+", lex_decimal)]
    #[regex("0[xX][0-9A-Za-z_]*", lex_hex, priority = 10)]
    Int(u64),
    /// A duration literal (`500ms 30s 5m 2h 1d`), in nanoseconds.
    #[regex("[0-9]+[A-Za-z_][A-Za-z0-9_]*", lex_duration)]
    Duration(u64),
    /// A string literal, plain or raw.
    #[token("\"", lex_string)]
    #[regex("r#*\"", lex_raw_string)]
    Str(StrToken),
    /// A `// line` or `/* block */` comment (block comments nest).
    #[regex("//[^\n]*")]
    #[token("/*", lex_block_comment)]
    Comment,
}

impl Token {
    /// How the token is named in messages: `` `when` ``, ``identifier `foo` ``, `a string`.
    pub fn describe(&self) -> String {
        match self {
            Token::Ident(name) => format!("identifier `{name}`"),
            Token::Backtick(name) => format!("name `` `{name}` ``"),
            Token::Int(n) => format!("integer `{n}`"),
            Token::Duration(_) => "a duration".to_owned(),
            Token::Str(_) => "a string".to_owned(),
            Token::Comment => "a comment".to_owned(),
            other => format!("`{}`", other.text().unwrap_or("?")),
        }
    }

    /// The fixed text of a keyword or punctuation token; `None` for tokens carrying data.
    pub fn text(&self) -> Option<&'static str> {
        Some(match self {
            Token::List => "list",
            Token::Fn => "fn",
            Token::Rule => "rule",
            Token::Test => "test",
            Token::Meta => "meta",
            Token::On => "on",
            Token::Sequence => "sequence",
            Token::By => "by",
            Token::Within => "within",
            Token::When => "when",
            Token::Threshold => "threshold",
            Token::Count => "count",
            Token::Distinct => "distinct",
            Token::Emit => "emit",
            Token::Fields => "fields",
            Token::At => "at",
            Token::Fires => "fires",
            Token::Quiet => "quiet",
            Token::And => "and",
            Token::Or => "or",
            Token::Not => "not",
            Token::In => "in",
            Token::IIn => "iin",
            Token::Matches => "matches",
            Token::Any => "any",
            Token::All => "all",
            Token::Exists => "exists",
            Token::True => "true",
            Token::False => "false",
            Token::Ieq => "ieq",
            Token::Contains => "contains",
            Token::StartsWith => "startswith",
            Token::EndsWith => "endswith",
            Token::IContains => "icontains",
            Token::IStartsWith => "istartswith",
            Token::IEndsWith => "iendswith",
            Token::LBrace => "{",
            Token::RBrace => "}",
            Token::LParen => "(",
            Token::RParen => ")",
            Token::LBracket => "[",
            Token::RBracket => "]",
            Token::Comma => ",",
            Token::Semi => ";",
            Token::Colon => ":",
            Token::Dot => ".",
            Token::Arrow => "->",
            Token::FatArrow => "=>",
            Token::EqEq => "==",
            Token::Ne => "!=",
            Token::Lt => "<",
            Token::Le => "<=",
            Token::Gt => ">",
            Token::Ge => ">=",
            Token::Assign => "=",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Star => "*",
            Token::Slash => "/",
            Token::Percent => "%",
            Token::Ident(_)
            | Token::Backtick(_)
            | Token::Int(_)
            | Token::Duration(_)
            | Token::Str(_)
            | Token::Comment => return None,
        })
    }

    /// True for keywords (which are accepted as meta and test field keys).
    pub fn is_keyword(&self) -> bool {
        self.text()
            .is_some_and(|t| t.bytes().all(|b| b.is_ascii_alphabetic()))
    }
}

const RAW_STRING_HELP: &str = "use a raw string: r\"...\"";

/// Decodes a decimal integer; too large is an error and reads as `u64::MAX`.
fn lex_decimal(lex: &mut logos::Lexer<'_, Token>) -> u64 {
    let text = lex.slice();
    if let Ok(n) = text.parse::<u64>() {
        return n;
    }
    let range = lex.span();
    let file = lex.extras.file;
    lex.extras.push(
        SyntaxError::new(
            ErrorCode::IntegerTooLarge,
            span(file, range.start, range.end),
            format!("integer literal `{text}` does not fit in 64 bits"),
            "too large",
        )
        .with_note(format!("the largest integer literal is {}", u64::MAX)),
    );
    u64::MAX
}

/// Decodes `0x...`; bad digits or overflow are errors.
fn lex_hex(lex: &mut logos::Lexer<'_, Token>) -> u64 {
    let text = lex.slice();
    let digits = &text[2..];
    let range = lex.span();
    let file = lex.extras.file;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        lex.extras.push(SyntaxError::new(
            ErrorCode::InvalidHexLiteral,
            span(file, range.start, range.end),
            format!("invalid hexadecimal literal `{text}`"),
            "expected hex digits after `0x`",
        ));
        return 0;
    }
    if let Ok(n) = u64::from_str_radix(digits, 16) {
        return n;
    }
    lex.extras.push(SyntaxError::new(
        ErrorCode::IntegerTooLarge,
        span(file, range.start, range.end),
        format!("integer literal `{text}` does not fit in 64 bits"),
        "too large",
    ));
    u64::MAX
}

/// Nanoseconds per unit, for the duration units the language knows.
fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        _ => return None,
    })
}

/// Parses a duration as the language writes it (`500ms`, `2s`, `5m`, `1h`, `1d`), for command
/// line flags: the same units as duration literals, in nanoseconds; `None` for anything else
/// (no digits, an unknown unit, a value that does not fit in 64 bits).
pub fn parse_duration(text: &str) -> Option<u64> {
    let split = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(unit_nanos(unit)?)
}

/// Decodes `30s`-style durations (saturating); an unknown unit is an error naming it.
fn lex_duration(lex: &mut logos::Lexer<'_, Token>) -> u64 {
    let text = lex.slice();
    let split = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let range = lex.span();
    let file = lex.extras.file;
    let Some(per_unit) = unit_nanos(unit) else {
        let unit_start = range.start + split;
        lex.extras.push(
            SyntaxError::new(
                ErrorCode::UnknownDurationUnit,
                span(file, unit_start, range.end),
                format!("unknown duration unit `{unit}`"),
                "unknown unit",
            )
            .with_help("duration units are `ms`, `s`, `m`, `h` and `d`, as in `30s`"),
        );
        return 0;
    };
    let Ok(n) = digits.parse::<u64>() else {
        lex.extras.push(SyntaxError::new(
            ErrorCode::IntegerTooLarge,
            span(file, range.start, range.start + split),
            format!("duration `{text}` does not fit in 64 bits"),
            "too large",
        ));
        return u64::MAX;
    };
    n.saturating_mul(per_unit)
}

/// Scans a backticked name after its opening backtick; it ends at the next backtick on the
/// same line.
fn lex_backtick(lex: &mut logos::Lexer<'_, Token>) -> String {
    let rest = lex.remainder();
    let start = lex.span().start;
    let file = lex.extras.file;
    let stop = rest.find(['`', '\n']);
    match stop {
        Some(i) if rest.as_bytes()[i] == b'`' => {
            let name = rest[..i].to_owned();
            lex.bump(i + 1);
            if name.is_empty() {
                lex.extras.push(SyntaxError::new(
                    ErrorCode::InvalidQuotedName,
                    span(file, start, start + 2),
                    "empty backticked name",
                    "empty name",
                ));
            }
            name
        }
        _ => {
            // Unterminated on this line: take the rest of the line as the name.
            let end = stop.unwrap_or(rest.len());
            let name = rest[..end].to_owned();
            lex.bump(end);
            lex.extras.push(
                SyntaxError::new(
                    ErrorCode::InvalidQuotedName,
                    span(file, start, start + 1),
                    "unterminated backticked name",
                    "this backtick is never closed",
                )
                .with_help("close the name with a backtick on the same line"),
            );
            name
        }
    }
}

/// Scans a `"..."` string after its opening quote, decoding escapes.
fn lex_string(lex: &mut logos::Lexer<'_, Token>) -> StrToken {
    let rest = lex.remainder();
    let start = lex.span().start;
    let file = lex.extras.file;
    // Offset of `rest` in the source.
    let base = start + 1;
    let mut value = String::new();
    let mut verbatim = true;
    let mut chars = rest.char_indices().peekable();
    let consumed = loop {
        let Some((i, c)) = chars.next() else {
            lex.extras.push(
                SyntaxError::new(
                    ErrorCode::UnterminatedString,
                    span(file, start, start + 1),
                    "unterminated string literal",
                    "this string is never closed",
                )
                .with_help("add the closing `\"`"),
            );
            break rest.len();
        };
        match c {
            '"' => break i + 1,
            '\\' => {
                verbatim = false;
                let Some(&(j, e)) = chars.peek() else {
                    continue;
                };
                chars.next();
                let escape_end = j + e.len_utf8();
                match e {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    'r' => value.push('\r'),
                    't' => value.push('\t'),
                    '0' => value.push('\0'),
                    'u' => {
                        let after = &rest[escape_end..];
                        match decode_unicode_escape(after) {
                            Ok((ch, len)) => {
                                value.push(ch);
                                // Skip the `{...}` part.
                                let stop = escape_end + len;
                                while chars.peek().is_some_and(|&(k, _)| k < stop) {
                                    chars.next();
                                }
                            }
                            Err((len, why)) => {
                                let stop = escape_end + len;
                                lex.extras.push(
                                    SyntaxError::new(
                                        ErrorCode::InvalidUnicodeEscape,
                                        span(file, base + i, base + stop),
                                        format!("invalid unicode escape: {why}"),
                                        "invalid escape",
                                    )
                                    .with_help(
                                        "write `\\u{...}` with 1 to 6 hex digits naming a \
                                         Unicode scalar value, as in `\\u{1F600}`",
                                    ),
                                );
                                value.push(char::REPLACEMENT_CHARACTER);
                                while chars.peek().is_some_and(|&(k, _)| k < stop) {
                                    chars.next();
                                }
                            }
                        }
                    }
                    '\n' | '\r' => {
                        // A backslash before a line break: keep both, report the escape.
                        lex.extras.push(
                            SyntaxError::new(
                                ErrorCode::InvalidEscape,
                                span(file, base + i, base + i + 1),
                                "invalid escape `\\` at the end of a line",
                                "invalid escape",
                            )
                            .with_help(RAW_STRING_HELP),
                        );
                        value.push('\\');
                        value.push(e);
                    }
                    other => {
                        lex.extras.push(
                            SyntaxError::new(
                                ErrorCode::InvalidEscape,
                                span(file, base + i, base + escape_end),
                                format!("invalid escape `\\{other}` in string literal"),
                                "invalid escape",
                            )
                            .with_help(RAW_STRING_HELP)
                            .with_note(
                                "escapes are `\\\\`, `\\\"`, `\\n`, `\\r`, `\\t`, `\\0` and \
                                 `\\u{...}`",
                            ),
                        );
                        value.push('\\');
                        value.push(other);
                    }
                }
            }
            c => value.push(c),
        }
    };
    lex.bump(consumed);
    StrToken {
        value,
        content_offset: 1,
        verbatim,
    }
}

/// Decodes the `{hex}` part of a `\u{...}` escape at the start of `s`: the character and the
/// bytes used, or the bytes to skip and why it is invalid.
fn decode_unicode_escape(s: &str) -> Result<(char, usize), (usize, &'static str)> {
    if !s.starts_with('{') {
        return Err((0, "expected `{` after `\\u`"));
    }
    let Some(close) = s[1..].find(['}', '"', '\n']) else {
        return Err((s.len(), "missing `}`"));
    };
    let close = close + 1;
    if s.as_bytes()[close] != b'}' {
        return Err((close, "missing `}`"));
    }
    let digits = &s[1..close];
    let used = close + 1;
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err((used, "expected 1 to 6 hex digits"));
    }
    let n = u32::from_str_radix(digits, 16).map_err(|_| (used, "expected 1 to 6 hex digits"))?;
    match char::from_u32(n) {
        Some(c) => Ok((c, used)),
        None => Err((used, "not a Unicode scalar value")),
    }
}

/// Scans a raw string after `r"`, `r#"`, ...: no escapes, ends at `"` plus as many `#`.
fn lex_raw_string(lex: &mut logos::Lexer<'_, Token>) -> StrToken {
    let opener = lex.slice().len();
    let hashes = opener - 2;
    let start = lex.span().start;
    let file = lex.extras.file;
    let rest = lex.remainder();
    let mut closing = String::with_capacity(hashes + 1);
    closing.push('"');
    closing.extend(std::iter::repeat_n('#', hashes));
    let content_offset = u32::try_from(opener).unwrap_or(u32::MAX);
    match rest.find(&closing) {
        Some(i) => {
            let value = rest[..i].to_owned();
            lex.bump(i + closing.len());
            StrToken {
                value,
                content_offset,
                verbatim: true,
            }
        }
        None => {
            let value = rest.to_owned();
            lex.bump(rest.len());
            lex.extras.push(
                SyntaxError::new(
                    ErrorCode::UnterminatedString,
                    span(file, start, start + opener),
                    "unterminated raw string literal",
                    "this string is never closed",
                )
                .with_help(format!("add the closing `{closing}`")),
            );
            StrToken {
                value,
                content_offset,
                verbatim: true,
            }
        }
    }
}

/// Scans a block comment after `/*`; comments nest.
fn lex_block_comment(lex: &mut logos::Lexer<'_, Token>) {
    let rest = lex.remainder().as_bytes();
    let start = lex.span().start;
    let mut depth = 1usize;
    let mut i = 0;
    while i < rest.len() {
        match (rest[i], rest.get(i + 1)) {
            (b'/', Some(b'*')) => {
                depth += 1;
                i += 2;
            }
            (b'*', Some(b'/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    lex.bump(i);
                    return;
                }
            }
            _ => i += 1,
        }
    }
    let file = lex.extras.file;
    lex.bump(rest.len());
    lex.extras.push(
        SyntaxError::new(
            ErrorCode::UnterminatedComment,
            span(file, start, start + 2),
            "unterminated block comment",
            "this comment is never closed",
        )
        .with_help("add the closing `*/` (block comments nest)"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(text: &str) -> (Vec<Token>, Vec<SyntaxError>) {
        let mut lexer = Token::lexer_with_extras(text, LexState::default());
        let mut tokens = Vec::new();
        for t in lexer.by_ref().flatten() {
            tokens.push(t);
        }
        (tokens, lexer.extras.errors)
    }

    fn one_str(text: &str) -> (StrToken, Vec<SyntaxError>) {
        let (tokens, errors) = lex(text);
        match tokens.as_slice() {
            [Token::Str(s)] => (s.clone(), errors),
            other => panic!("expected one string, got {other:?}"),
        }
    }

    #[test]
    fn keywords_and_identifiers() {
        let (t, e) = lex("rule rules _x iin in iendswith");
        assert!(e.is_empty());
        assert_eq!(
            t,
            vec![
                Token::Rule,
                Token::Ident("rules".into()),
                Token::Ident("_x".into()),
                Token::IIn,
                Token::In,
                Token::IEndsWith,
            ]
        );
    }

    #[test]
    fn escapes_decode() {
        let (s, e) = one_str(r#""a\\b\"c\n\r\t\0\u{1F600}\u{e9}""#);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(s.value, "a\\b\"c\n\r\t\0\u{1F600}\u{e9}");
        assert!(!s.verbatim);
        assert_eq!(s.content_offset, 1);
    }

    #[test]
    fn plain_string_is_verbatim() {
        let (s, e) = one_str(r#""hello world""#);
        assert!(e.is_empty());
        assert!(s.verbatim);
        assert_eq!(s.value, "hello world");
    }

    #[test]
    fn bad_escape_points_at_escape_and_suggests_raw_string() {
        let text = r#""C:\Windows""#;
        let (s, e) = one_str(text);
        assert_eq!(s.value, "C:\\Windows");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].code, ErrorCode::InvalidEscape);
        assert_eq!((e[0].span.start, e[0].span.end), (3, 5));
        assert_eq!(&text[3..5], "\\W");
        assert_eq!(e[0].help.as_deref(), Some("use a raw string: r\"...\""));
    }

    #[test]
    fn bad_unicode_escapes() {
        for text in [
            r#""\u{110000}""#,
            r#""\u{D800}""#,
            r#""\u{}""#,
            r#""\u41""#,
            r#""\u{1234567}""#,
            r#""\u{12""#,
        ] {
            let (_, e) = lex(text);
            assert!(
                e.iter().any(|e| e.code == ErrorCode::InvalidUnicodeEscape),
                "{text}: {e:?}"
            );
        }
    }

    #[test]
    fn raw_strings() {
        let (s, e) = one_str(r#"r"C:\Windows\System32""#);
        assert!(e.is_empty());
        assert_eq!(s.value, r"C:\Windows\System32");
        assert_eq!(s.content_offset, 2);
        assert!(s.verbatim);
        let (s, _) = one_str(r###"r#"say "hi""#"###);
        assert_eq!(s.value, r#"say "hi""#);
        assert_eq!(s.content_offset, 3);
        let (s, _) = one_str(r####"r##"a "# b"##"####);
        assert_eq!(s.value, r##"a "# b"##);
    }

    #[test]
    fn unterminated_strings() {
        let (_, e) = lex("\"abc");
        assert_eq!(e[0].code, ErrorCode::UnterminatedString);
        let (_, e) = lex("r#\"abc\"");
        assert_eq!(e[0].code, ErrorCode::UnterminatedString);
        let (_, e) = lex("\"abc\\");
        assert_eq!(e[0].code, ErrorCode::UnterminatedString);
    }

    #[test]
    fn integers() {
        assert_eq!(lex("0x1f").0, vec![Token::Int(31)]);
        assert_eq!(lex("0XFF").0, vec![Token::Int(255)]);
        assert_eq!(lex("18446744073709551615").0, vec![Token::Int(u64::MAX)]);
        let (t, e) = lex("18446744073709551616");
        assert_eq!(t, vec![Token::Int(u64::MAX)]);
        assert_eq!(e[0].code, ErrorCode::IntegerTooLarge);
        let (_, e) = lex("0x1_0000_0000_0000_0000");
        assert_eq!(e[0].code, ErrorCode::InvalidHexLiteral);
        let (_, e) = lex("0x10000000000000000");
        assert_eq!(e[0].code, ErrorCode::IntegerTooLarge);
        let (_, e) = lex("0x");
        assert_eq!(e[0].code, ErrorCode::InvalidHexLiteral);
        assert_eq!(lex("-7").0, vec![Token::Minus, Token::Int(7)]);
    }

    #[test]
    fn parse_duration_reads_flag_values() {
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("2s"), Some(2_000_000_000));
        assert_eq!(parse_duration("0s"), Some(0));
        assert_eq!(parse_duration("1d"), Some(86_400_000_000_000));
        for bad in ["", "s", "2", "2 s", "-1s", "2x", "99999999999999999999s"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        let s = 1_000_000_000;
        assert_eq!(lex("500ms").0, vec![Token::Duration(500_000_000)]);
        assert_eq!(lex("30s").0, vec![Token::Duration(30 * s)]);
        assert_eq!(lex("5m").0, vec![Token::Duration(300 * s)]);
        assert_eq!(lex("2h").0, vec![Token::Duration(7200 * s)]);
        assert_eq!(lex("1d").0, vec![Token::Duration(86400 * s)]);
        let (_, e) = lex("30sec");
        assert_eq!(e[0].code, ErrorCode::UnknownDurationUnit);
        assert!(e[0].message.contains("`sec`"));
        assert_eq!((e[0].span.start, e[0].span.end), (2, 5));
        assert_eq!(lex("99999999999d").0, vec![Token::Duration(u64::MAX)]);
    }

    #[test]
    fn comments() {
        let (t, e) = lex("a // x\n /* b /* nested */ c */ d");
        assert!(e.is_empty());
        assert_eq!(
            t,
            vec![
                Token::Ident("a".into()),
                Token::Comment,
                Token::Comment,
                Token::Ident("d".into())
            ]
        );
        let (_, e) = lex("/* never closed");
        assert_eq!(e[0].code, ErrorCode::UnterminatedComment);
    }

    #[test]
    fn backticked_names() {
        assert_eq!(
            lex("`Threat Name`").0,
            vec![Token::Backtick("Threat Name".into())]
        );
        let (_, e) = lex("`abc\nx");
        assert_eq!(e[0].code, ErrorCode::InvalidQuotedName);
    }
}
