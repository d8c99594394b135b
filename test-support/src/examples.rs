//! The builtin table's examples (`vigil_runtime::builtins::Builtin::examples`) as values: a tiny
//! parser for `name(arg, ...)`, whose arguments are literals (strings with the language's
//! escapes and raw strings, integers, booleans, lists) or field names, and for the expected
//! values. The runtime's table tests, the interpreter's and the JIT's example tests read the
//! examples through it.

use std::borrow::Cow;

use vigil_runtime::value::Value;

/// One argument of an example call.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// A literal value.
    Lit(Value<'static>),
    /// A field of the event (`truncated(command_line)`).
    Field(String),
}

/// `name(arg, ...)` with nothing after it; `None` when the text is not such a call.
pub fn parse_call(text: &str) -> Option<(&str, Vec<Arg>)> {
    let mut cursor = Cursor { rest: text };
    let call = cursor.call()?;
    cursor.skip_ws();
    cursor.rest.is_empty().then_some(call)
}

/// A literal with nothing after it; `None` for anything else (a field name, say).
pub fn parse_literal(text: &str) -> Option<Value<'static>> {
    let mut cursor = Cursor { rest: text };
    let value = cursor.literal()?;
    cursor.skip_ws();
    cursor.rest.is_empty().then_some(value)
}

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, prefix: &str) -> bool {
        self.skip_ws();
        match self.rest.strip_prefix(prefix) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn ident(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (id, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(id)
    }

    /// A literal; `None` for anything else (a field name, say).
    fn literal(&mut self) -> Option<Value<'static>> {
        self.skip_ws();
        if self.eat("[") {
            let mut items = Vec::new();
            if !self.eat("]") {
                loop {
                    items.push(self.literal()?);
                    if self.eat("]") {
                        break;
                    }
                    if !self.eat(",") {
                        return None;
                    }
                }
            }
            return Some(Value::List(items));
        }
        if self.rest.starts_with("r\"") || self.rest.starts_with("r#") {
            let hashes = self.rest[1..].chars().take_while(|&c| c == '#').count();
            let open = 1 + hashes + 1;
            let close = format!("\"{}", "#".repeat(hashes));
            let body_end = self.rest[open..].find(&close)? + open;
            let body = self.rest[open..body_end].to_owned();
            self.rest = &self.rest[body_end + close.len()..];
            return Some(Value::Str(Cow::Owned(body)));
        }
        if self.eat("\"") {
            let mut out = String::new();
            let mut chars = self.rest.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        self.rest = &self.rest[i + 1..];
                        return Some(Value::Str(Cow::Owned(out)));
                    }
                    '\\' => match chars.next()?.1 {
                        '\\' => out.push('\\'),
                        '"' => out.push('"'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        '0' => out.push('\0'),
                        'u' => {
                            let (j, _) = chars.next().filter(|&(_, c)| c == '{')?;
                            let len = self.rest[j..].find('}')?;
                            let hex = &self.rest[j + 1..j + len];
                            out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                            for _ in 0..len {
                                chars.next();
                            }
                        }
                        _ => return None,
                    },
                    c => out.push(c),
                }
            }
            return None;
        }
        let negative = self.eat("-");
        let word = self.ident()?;
        let value = match word {
            "true" => return Some(Value::Bool(true)),
            "false" => return Some(Value::Bool(false)),
            w => match w.strip_prefix("0x") {
                Some(hex) => i64::from_str_radix(hex, 16).ok()?,
                None => w.parse::<i64>().ok()?,
            },
        };
        Some(Value::Int(if negative {
            value.wrapping_neg()
        } else {
            value
        }))
    }

    /// `name(arg, ...)`, each argument a literal or a field name.
    fn call(&mut self) -> Option<(&'a str, Vec<Arg>)> {
        let name = self.ident()?;
        if !self.eat("(") {
            return None;
        }
        let mut args = Vec::new();
        if !self.eat(")") {
            loop {
                let save = self.rest;
                match self.literal() {
                    Some(v) => args.push(Arg::Lit(v)),
                    None => {
                        self.rest = save;
                        args.push(Arg::Field(self.ident()?.to_owned()));
                    }
                }
                if self.eat(")") {
                    break;
                }
                if !self.eat(",") {
                    return None;
                }
            }
        }
        Some((name, args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(
            parse_literal(r#""a\\b\"\n\u{e9}""#),
            Some(Value::Str("a\\b\"\né".into()))
        );
        assert_eq!(
            parse_literal(r#"r"C:\x""#),
            Some(Value::Str(r"C:\x".into()))
        );
        assert_eq!(
            parse_literal(r##"r#"say "hi""#"##),
            Some(Value::Str(r#"say "hi""#.into()))
        );
        assert_eq!(parse_literal("-7"), Some(Value::Int(-7)));
        assert_eq!(parse_literal("0x1f"), Some(Value::Int(31)));
        assert_eq!(
            parse_literal(r#"["a", 1]"#),
            Some(Value::List(vec![Value::Str("a".into()), Value::Int(1)]))
        );
        assert_eq!(parse_literal("command_line"), None);
    }

    #[test]
    fn calls() {
        assert_eq!(
            parse_call(r#"substr("abc", 1, 2)"#),
            Some((
                "substr",
                vec![
                    Arg::Lit(Value::Str("abc".into())),
                    Arg::Lit(Value::Int(1)),
                    Arg::Lit(Value::Int(2))
                ]
            ))
        );
        assert_eq!(
            parse_call("truncated(command_line)"),
            Some(("truncated", vec![Arg::Field("command_line".into())]))
        );
        assert_eq!(parse_call("len(\"a\") x"), None);
    }
}
