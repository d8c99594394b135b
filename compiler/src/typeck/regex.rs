//! `matches` patterns: compiled at check time with regex-automata's meta engine, under the
//! same compiled-size limit the runtime uses, so a pattern that checks here also loads there.

use regex_automata::meta::Regex;

/// The compiled-size limit of one regular expression, in bytes of its NFA. Shared by the
/// compiler and the runtime (the runtime's verifier must use the same constant).
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Why a pattern was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegexError {
    /// A syntax error: message and the byte range in the pattern, when known.
    Syntax(String, Option<(usize, usize)>),
    /// Over [`REGEX_SIZE_LIMIT`].
    TooLarge,
    /// Any other build failure.
    Other(String),
}

/// Compiles `pattern` as the engines will, reporting why it cannot be.
pub fn check_pattern(pattern: &str) -> Result<(), RegexError> {
    let config = Regex::config().nfa_size_limit(Some(REGEX_SIZE_LIMIT));
    match Regex::builder().configure(config).build(pattern) {
        Ok(_) => Ok(()),
        Err(e) => {
            if e.size_limit().is_some() {
                return Err(RegexError::TooLarge);
            }
            if let Some(syn) = e.syntax_error() {
                let (message, span) = match syn {
                    regex_syntax::Error::Parse(p) => (p.kind().to_string(), Some(p.span())),
                    regex_syntax::Error::Translate(t) => (t.kind().to_string(), Some(t.span())),
                    other => (other.to_string(), None),
                };
                return Err(RegexError::Syntax(
                    message,
                    span.map(|s| (s.start.offset, s.end.offset)),
                ));
            }
            Err(RegexError::Other(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile_or_say_why() {
        assert_eq!(check_pattern(r"-e(nc)?\s+[a-z0-9+/=]{40,}"), Ok(()));
        assert!(matches!(
            check_pattern("(ab"),
            Err(RegexError::Syntax(_, Some(_)))
        ));
        assert!(matches!(
            check_pattern(r"(?=x)"),
            Err(RegexError::Syntax(..))
        ));
        assert_eq!(check_pattern(r"\w{1000}{1000}"), Err(RegexError::TooLarge));
    }
}
