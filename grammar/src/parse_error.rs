//! LALRPOP's parse errors as friendly [`SyntaxError`]s: expected terminal names become
//! "expression", "operator", "one of `when`, `emit`".
//!
//! Input: a `ParseError` over [`Token`]s; output: a `SyntaxError` (E0101, E0107 or E0108, or
//! the user error the grammar raised). The lexer's [`Sink`](crate::lexer) calls it; it reports
//! nothing itself.

use lalrpop_util::ParseError;
use vigil_codes::ErrorCode;

use crate::error::{span, SyntaxError};
use crate::span::FileId;
use crate::token::Token;

/// How an expected terminal (as LALRPOP names it) is written, for messages.
fn describe_expected(terminal: &str) -> String {
    match terminal {
        "Ident" => "identifier".to_owned(),
        "Backtick" => "backticked name".to_owned(),
        "Int" => "integer".to_owned(),
        "Duration" => "duration".to_owned(),
        "Str" => "string".to_owned(),
        other => {
            let bare = other
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(other);
            format!("`{bare}`")
        }
    }
}

/// Tokens that can start an expression; when all of the key ones are expected, the list says
/// "expression" instead of naming each.
const EXPR_START: &[&str] = &[
    "Ident",
    "Backtick",
    "Int",
    "Str",
    "\"(\"",
    "\"[\"",
    "\"-\"",
    "\"not\"",
    "\"true\"",
    "\"false\"",
    "\"exists\"",
    "\"any\"",
    "\"all\"",
];

/// Binary operators; when all of the key ones are expected, the list says "operator".
const OPERATORS: &[&str] = &[
    "\"or\"",
    "\"and\"",
    "\"==\"",
    "\"!=\"",
    "\"<\"",
    "\"<=\"",
    "\">\"",
    "\">=\"",
    "\"+\"",
    "\"-\"",
    "\"*\"",
    "\"/\"",
    "\"%\"",
    "\".\"",
    "\"in\"",
    "\"iin\"",
    "\"matches\"",
    "\"ieq\"",
    "\"contains\"",
    "\"startswith\"",
    "\"endswith\"",
    "\"icontains\"",
    "\"istartswith\"",
    "\"iendswith\"",
];

/// Keywords accepted as keys before `:` (meta keys, test field keys); when all are expected
/// they are summarised as "key".
const KEY_KEYWORDS: &[&str] = &["\"list\"", "\"rule\"", "\"meta\"", "\"count\""];

/// The friendly list of expected things: `` `when`, `emit` ``, or "expression".
fn expected_list(expected: &[String]) -> String {
    let has = |t: &str| expected.iter().any(|e| e == t);
    let mut out: Vec<String> = Vec::new();
    let mut skip: Vec<&str> = Vec::new();
    if has("Int") && has("Str") && has("\"(\"") && has("Ident") {
        out.push("expression".to_owned());
        skip.extend_from_slice(EXPR_START);
    }
    if has("\"==\"") && has("\"+\"") && has("\"*\"") {
        out.push("operator".to_owned());
        skip.extend_from_slice(OPERATORS);
    }
    if KEY_KEYWORDS.iter().all(|k| has(k)) && has("Ident") {
        out.push("key".to_owned());
        return join_or(&out);
    }
    for e in expected {
        if !skip.contains(&e.as_str()) {
            out.push(describe_expected(e));
        }
    }
    join_or(&out)
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => "something else".to_owned(),
        [one] => one.clone(),
        many => format!("one of {}", many.join(", ")),
    }
}

/// Converts a LALRPOP parse error into a [`SyntaxError`].
pub(crate) fn from_parse_error(
    file: FileId,
    error: ParseError<usize, Token, SyntaxError>,
) -> SyntaxError {
    match error {
        ParseError::InvalidToken { location } => SyntaxError::new(
            ErrorCode::UnknownCharacter,
            span(file, location, location),
            "invalid token",
            "not a token",
        ),
        ParseError::UnrecognizedEof { location, expected } => SyntaxError::new(
            ErrorCode::UnexpectedEof,
            span(file, location, location),
            format!(
                "unexpected end of file, expected {}",
                expected_list(&expected)
            ),
            "the file ends here",
        ),
        ParseError::UnrecognizedToken {
            token: (start, token, end),
            expected,
        } => SyntaxError::new(
            ErrorCode::UnexpectedToken,
            span(file, start, end),
            format!(
                "expected {}, found {}",
                expected_list(&expected),
                token.describe()
            ),
            "unexpected here",
        ),
        ParseError::ExtraToken {
            token: (start, token, end),
        } => SyntaxError::new(
            ErrorCode::UnexpectedToken,
            span(file, start, end),
            format!("unexpected {}", token.describe()),
            "unexpected here",
        ),
        ParseError::User { error } => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_lists_are_friendly() {
        let e = vec!["\"when\"".to_owned(), "\"emit\"".to_owned()];
        assert_eq!(expected_list(&e), "one of `when`, `emit`");
        assert_eq!(expected_list(&["\"}\"".to_owned()]), "`}`");
    }
}
