//! Sigma `condition` strings: `and`, `or`, `not`, parentheses, `1 of X*`, `all of X*`,
//! `any of them`, over named searches.
//!
//! Input: the condition text and the converted searches by name; output: one expression.
//! Aggregations (`| count() > 5`, the deprecated pre-correlation form) and `N of` with N > 1
//! are refused. The parser is a precedence climber over a token list whose nesting is
//! bounded ([`MAX_DEPTH`]).

use std::collections::BTreeMap;

use vigil_grammar::ast::Expr;

use super::build as b;
use super::error::{ErrorCode, Refusal, Result};

/// The deepest parenthesis / `not` nesting a condition may have.
pub(crate) const MAX_DEPTH: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Of(Quant),
    Word(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quant {
    One,
    All,
}

fn unsupported(msg: impl Into<String>) -> Refusal {
    Refusal::new(ErrorCode::UnsupportedCondition, msg)
}

fn lex(text: &str) -> Result<Vec<Tok>> {
    if text.contains('|') {
        return Err(unsupported(
            "aggregation in the condition (`| count() ...`); write a correlation rule instead",
        ));
    }
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    let words: Vec<&str> = spaced.split_whitespace().collect();
    let mut toks = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let lower = w.to_ascii_lowercase();
        let tok = match lower.as_str() {
            "(" => Tok::LParen,
            ")" => Tok::RParen,
            "and" => Tok::And,
            "or" => Tok::Or,
            "not" => Tok::Not,
            _ if words
                .get(i + 1)
                .is_some_and(|n| n.eq_ignore_ascii_case("of")) =>
            {
                let q = match lower.as_str() {
                    "1" | "any" => Quant::One,
                    "all" => Quant::All,
                    n => {
                        return Err(unsupported(format!(
                            "`{n} of`: only `1 of`/`any of` and `all of` have an exact equivalent"
                        )))
                    }
                };
                i += 1;
                Tok::Of(q)
            }
            _ => Tok::Word(w.to_owned()),
        };
        toks.push(tok);
        i += 1;
    }
    Ok(toks)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    searches: &'a BTreeMap<String, Expr>,
    /// Search names in file order, for `them` and patterns.
    order: &'a [String],
    depth: usize,
}

/// Converts a condition over the given searches.
pub(crate) fn convert(
    text: &str,
    searches: &BTreeMap<String, Expr>,
    order: &[String],
) -> Result<Expr> {
    let toks = lex(text)?;
    let mut p = Parser {
        toks,
        pos: 0,
        searches,
        order,
        depth: 0,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(unsupported(format!("cannot read the condition `{text}`")));
    }
    Ok(e)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn or(&mut self) -> Result<Expr> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(b::or(items))
    }

    fn and(&mut self) -> Result<Expr> {
        let mut items = vec![self.not()?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(b::and(items))
    }

    fn not(&mut self) -> Result<Expr> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            self.enter()?;
            let e = self.not()?;
            self.depth -= 1;
            return Ok(b::not(e));
        }
        self.atom()
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Refusal::new(
                ErrorCode::TooLarge,
                format!("the condition nests deeper than {MAX_DEPTH}"),
            ));
        }
        Ok(())
    }

    fn atom(&mut self) -> Result<Expr> {
        let tok = self.peek().cloned();
        self.pos += 1;
        match tok {
            Some(Tok::LParen) => {
                self.enter()?;
                let e = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(unsupported("unbalanced parentheses in the condition"));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Of(q)) => {
                let Some(Tok::Word(pat)) = self.peek().cloned() else {
                    return Err(unsupported("`of` without a search name or pattern"));
                };
                self.pos += 1;
                let names = self.matching(&pat)?;
                let items: Vec<Expr> = names.iter().map(|n| self.searches[n].clone()).collect();
                Ok(match q {
                    Quant::One => b::or(items),
                    Quant::All => b::and(items),
                })
            }
            Some(Tok::Word(w)) => self.searches.get(&w).cloned().ok_or_else(|| {
                unsupported(format!("the condition names `{w}`, which is no search"))
            }),
            _ => Err(unsupported("cannot read the condition")),
        }
    }

    /// The search names a pattern (`selection_*`, `them`) stands for.
    fn matching(&self, pat: &str) -> Result<Vec<String>> {
        let names: Vec<String> = if pat == "them" {
            // pySigma leaves out names that start with `_` from `them`.
            self.order
                .iter()
                .filter(|n| !n.starts_with('_'))
                .cloned()
                .collect()
        } else {
            self.order
                .iter()
                .filter(|n| glob(pat, n))
                .cloned()
                .collect()
        };
        if names.is_empty() {
            return Err(unsupported(format!("`{pat}` matches no search")));
        }
        Ok(names)
    }
}

/// `*` wildcard matching of search names.
fn glob(pat: &str, name: &str) -> bool {
    match pat.split_once('*') {
        None => pat == name,
        Some((head, rest)) => {
            if !name.starts_with(head) {
                return false;
            }
            let tail = &name[head.len()..];
            if rest.is_empty() {
                return true;
            }
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("sel*", "selection_a"));
        assert!(glob("*_a", "selection_a"));
        assert!(!glob("filter*", "selection"));
        assert!(glob("a*b*c", "aXbYc"));
    }
}
