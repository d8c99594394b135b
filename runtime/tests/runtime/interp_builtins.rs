//! Every builtin's own examples (the registry's `examples`), run through the interpreter as
//! tiny IR programs: `CALL == EXPECTED` as a rule's condition, and the call's value.

use std::borrow::Cow;

use vigil_runtime::builtins::BUILTINS;
use vigil_runtime::event::EventBuilder;
use vigil_runtime::interp::Interp;
use vigil_runtime::ir::{CmpOp, Const, ExprId, ExprKind, RuleId};
use vigil_runtime::schema::Schema;
use vigil_runtime::types::{Scalar, Ty};
use vigil_runtime::value::Value;
use vigil_test_support::builder::{Prog, Rb};

// ---- the example parser of builtins/tests.rs: `name(arg, ...)`, literal arguments ----

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

    /// `name(literal, ...)`; `None` when an argument is not a literal.
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

enum Arg {
    Lit(Value<'static>),
    /// A field of `process_start`.
    Field(String),
}

fn parse_literal(text: &str) -> Option<Value<'static>> {
    let mut cursor = Cursor { rest: text };
    let value = cursor.literal()?;
    cursor.skip_ws();
    cursor.rest.is_empty().then_some(value)
}

fn ty_of(v: &Value<'_>) -> Ty {
    match v {
        Value::List(_) => Ty::List(Scalar::Str),
        v => v.ty().expect("scalar"),
    }
}

fn lit(p: &mut Prog, rb: &mut Rb, v: &Value<'_>) -> ExprId {
    match v {
        Value::Bool(b) => rb.bool(*b),
        Value::Int(i) => rb.int(*i),
        Value::Str(s) => {
            let id = p.string(s);
            rb.e(Ty::STR, ExprKind::Str(id))
        }
        Value::List(items) => {
            let items = items
                .iter()
                .map(|i| Const::Str(i.as_str().expect("string item").to_owned()))
                .collect();
            let l = p.list(Scalar::Str, items);
            rb.e(Ty::List(Scalar::Str), ExprKind::List(l))
        }
        v => panic!("no literal for {v:?}"),
    }
}

#[test]
fn every_builtin_example_holds_in_the_interpreter() {
    let schema = Schema::endpoint();
    let mut ran = 0;
    for b in BUILTINS {
        for (expr, expected) in b.examples {
            let (name, args) = Cursor { rest: expr }
                .call()
                .unwrap_or_else(|| panic!("parse {expr}"));
            assert_eq!(name, b.name);
            let expected = parse_literal(expected).unwrap_or_else(|| panic!("parse {expected}"));
            let mut p = Prog::new();
            let mut call_id = ExprId(0);
            p.rule("r", &["process_start"], |p, rb| {
                let mut ids = Vec::new();
                let mut tys = Vec::new();
                for a in &args {
                    match a {
                        Arg::Lit(v) => {
                            ids.push(lit(p, rb, v));
                            tys.push(ty_of(v));
                        }
                        Arg::Field(f) => {
                            let (fr, ty) = p.field("process_start", f);
                            ids.push(rb.e(ty, ExprKind::Field(fr)));
                            tys.push(ty);
                        }
                    }
                }
                let builtin = p.builtin(b.name, &tys);
                call_id = rb.e(b.ret, ExprKind::Call { builtin, args: ids });
                let want = lit(p, rb, &expected);
                Some(rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Eq, call_id, want)))
            });
            let interp = Interp::new(&p.verify()).expect("interp");
            let mut eb = EventBuilder::new(&schema, "process_start").expect("type");
            eb.set_str("command_line", "powershell -enc AAAA")
                .expect("set");
            let ev = eb.finish();
            let got = interp.eval_value(RuleId(0), call_id, &ev).expect("eval");
            assert_eq!(got, expected, "{expr}");
            assert!(
                interp.eval_cond(RuleId(0), &ev).expect("eval"),
                "{expr} == {expected:?}"
            );
            ran += 1;
        }
    }
    assert!(ran >= 40, "only {ran} examples");
}

#[test]
fn truncated_builtin_reads_the_flag() {
    let schema = Schema::endpoint();
    let mut p = Prog::new();
    p.rule("r", &["process_start"], |p, rb| {
        let (f, ty) = p.field("process_start", "integrity_level");
        let arg = rb.e(ty, ExprKind::Field(f));
        let builtin = p.builtin("truncated", &[ty]);
        Some(rb.e(
            Ty::BOOL,
            ExprKind::Call {
                builtin,
                args: vec![arg],
            },
        ))
    });
    let interp = Interp::new(&p.verify()).expect("interp");
    let mut eb = EventBuilder::new(&schema, "process_start").expect("type");
    eb.set_string("integrity_level", "H".repeat(40))
        .expect("set");
    assert!(interp.eval_cond(RuleId(0), &eb.finish()).expect("eval"));
    let mut eb = EventBuilder::new(&schema, "process_start").expect("type");
    eb.set_str("integrity_level", "High").expect("set");
    assert!(!interp.eval_cond(RuleId(0), &eb.finish()).expect("eval"));
}
