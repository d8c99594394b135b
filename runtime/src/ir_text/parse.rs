//! The parser: IR text → [`Program`] (the format is described in the module above). A
//! hand-written reader over one line at a time; every failure is a [`ParseError`] at a line and
//! column, never a panic.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;

use super::print::implied_elem;
use super::{Line, LineItem, ParseError};
use crate::ir::{
    ArithOp, BuiltinRef, CallId, Capture, CaptureId, CmpOp, Const, ConstList, Counting, Expr,
    ExprId, ExprKind, FieldRef, FieldReq, ListId, LocalId, MetaValue, Program, Quant, RegexId,
    Rule, RuleId, RuleKind, SchemaRef, SequenceDef, Severity, StateDecl, StepDef, StrId, StrTest,
    TemplatePart, ThresholdDef,
};
use crate::types::{Scalar, Ty};

type Result<T> = std::result::Result<T, ParseError>;

/// Parses IR text.
pub fn parse(text: &str) -> Result<Program> {
    parse_lines(text).map(|(program, _)| program)
}

/// Parses IR text, and says what each line declares and what its comment is.
pub fn parse_lines(text: &str) -> Result<(Program, Vec<Line>)> {
    let mut p = Parser {
        program: Program {
            schema: SchemaRef {
                name: String::new(),
                major: 0,
                minor: 0,
            },
            fields: Vec::new(),
            builtins: Vec::new(),
            strings: Vec::new(),
            lists: Vec::new(),
            regexes: Vec::new(),
            rules: Vec::new(),
        },
        schema_seen: false,
        rule: None,
    };
    let mut lines = Vec::new();
    let mut last_line = 0;
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        last_line = i + 1;
        let (body, comment) = split_comment(raw);
        let mut c = Cursor {
            text: body,
            pos: 0,
            line: i + 1,
        };
        c.ws();
        let item = if c.at_end() {
            LineItem::Blank
        } else {
            p.line(&mut c)?
        };
        lines.push(Line { item, comment });
    }
    p.finish_rule(last_line)?;
    if !p.schema_seen {
        return Err(ParseError {
            line: 1,
            column: 1,
            message: "expected `schema NAME MAJOR.MINOR`".to_owned(),
        });
    }
    Ok((p.program, lines))
}

/// `(code, comment)`: the comment starts at the first `;` outside a string.
fn split_comment(line: &str) -> (&str, Option<String>) {
    let mut in_string = false;
    let mut escaped = false;
    for (i, ch) in line.char_indices() {
        if in_string {
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
        } else if ch == '"' {
            in_string = true;
        } else if ch == ';' {
            let comment = line.get(i + 1..).unwrap_or("").trim().to_owned();
            return (line.get(..i).unwrap_or(line), Some(comment));
        }
    }
    (line, None)
}

/// A position in one line.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Cursor<'_> {
    fn err<T>(&self, message: impl Into<String>) -> Result<T> {
        let column = self.text.get(..self.pos).map_or(0, |s| s.chars().count()) + 1;
        Err(ParseError {
            line: self.line,
            column,
            message: message.into(),
        })
    }

    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn at_end(&self) -> bool {
        self.rest().trim().is_empty()
    }

    fn end(&mut self) -> Result<()> {
        self.ws();
        if self.at_end() {
            Ok(())
        } else {
            self.err(format!("unexpected `{}`", self.rest().trim()))
        }
    }

    /// Skips `s` (after spaces) if it is next.
    fn eat(&mut self, s: &str) -> bool {
        self.ws();
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Skips the word `kw` if it is next (and not the start of a longer word).
    fn eat_kw(&mut self, kw: &str) -> bool {
        self.ws();
        let rest = self.rest();
        if rest.starts_with(kw) && !rest.get(kw.len()..).unwrap_or("").starts_with(ident_char) {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, s: &str) -> Result<()> {
        if self.eat(s) {
            Ok(())
        } else {
            self.err(format!("expected `{s}`"))
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<()> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            self.err(format!("expected `{kw}`"))
        }
    }

    /// A bare word of identifier characters.
    fn word(&mut self) -> Result<String> {
        self.ws();
        let start = self.pos;
        while self.peek().is_some_and(ident_char) {
            self.bump();
        }
        match self.text.get(start..self.pos) {
            Some(w) if !w.is_empty() => Ok(w.to_owned()),
            _ => self.err("expected a word"),
        }
    }

    /// A name: an identifier or a quoted string.
    fn name(&mut self) -> Result<String> {
        self.ws();
        if self.peek() == Some('"') {
            self.string()
        } else if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        {
            self.word()
        } else {
            self.err("expected a name")
        }
    }

    /// The rest of the line, or one quoted string.
    fn raw(&mut self) -> Result<String> {
        self.ws();
        if self.peek() == Some('"') {
            let s = self.string()?;
            self.end()?;
            Ok(s)
        } else {
            let s = self.rest().trim().to_owned();
            if s.is_empty() {
                return self.err("expected text");
            }
            self.pos = self.text.len();
            Ok(s)
        }
    }

    /// A quoted string with Rust escapes.
    fn string(&mut self) -> Result<String> {
        self.ws();
        if self.bump() != Some('"') {
            return self.err("expected a string");
        }
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return self.err("unterminated string"),
                Some('"') => return Ok(out),
                Some('\\') => {
                    let c = match self.bump() {
                        Some('n') => '\n',
                        Some('r') => '\r',
                        Some('t') => '\t',
                        Some('0') => '\0',
                        Some('\\') => '\\',
                        Some('"') => '"',
                        Some('\'') => '\'',
                        Some('u') => {
                            if self.bump() != Some('{') {
                                return self.err("expected `{` after `\\u`");
                            }
                            let start = self.pos;
                            while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                                self.bump();
                            }
                            let hex = self.text.get(start..self.pos).unwrap_or("");
                            let code = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                            if self.bump() != Some('}') {
                                return self.err("expected `}` after a `\\u{` escape");
                            }
                            match code {
                                Some(c) => c,
                                None => return self.err("not a character"),
                            }
                        }
                        _ => return self.err("unknown escape"),
                    };
                    out.push(c);
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// An unsigned number.
    fn number<T: FromStr>(&mut self) -> Result<T> {
        self.ws();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        match self.text.get(start..self.pos).map(str::parse) {
            Some(Ok(n)) => Ok(n),
            _ => {
                self.pos = start;
                self.err("expected a number (in range)")
            }
        }
    }

    /// `PREFIX#N`, when next.
    fn hash_id<T: FromStr>(&mut self, prefix: &str) -> Result<Option<T>> {
        self.ws();
        let tag = format!("{prefix}#");
        if !self.rest().starts_with(&tag) {
            return Ok(None);
        }
        self.pos += tag.len();
        self.number().map(Some)
    }

    /// A scalar constant: a string, `true`, `false`, an int, an address, a prefix.
    fn value(&mut self) -> Result<Const> {
        self.ws();
        if self.peek() == Some('"') {
            return self.string().map(Const::Str);
        }
        if self.eat_kw("true") {
            return Ok(Const::Bool(true));
        }
        if self.eat_kw("false") {
            return Ok(Const::Bool(false));
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '/' | '-'))
        {
            self.bump();
        }
        let run = self.text.get(start..self.pos).unwrap_or("");
        if let Some(c) = scalar(run) {
            return Ok(c);
        }
        // `%0: 5` and `::1:`: a trailing colon belongs to the syntax.
        if let Some(shorter) = run.strip_suffix(':') {
            if let Some(c) = scalar(shorter) {
                self.pos -= 1;
                return Ok(c);
            }
        }
        self.pos = start;
        self.err("expected a value")
    }

    /// `bool`, `int`, `string`, `ip`, `cidr`.
    fn scalar_ty(&mut self) -> Result<Scalar> {
        let at = self.pos;
        let w = self.word()?;
        match scalar_name(&w) {
            Some(s) => Ok(s),
            None => {
                self.pos = at;
                self.err(format!("`{w}` is no type"))
            }
        }
    }

    /// A type: a scalar or `[scalar]`.
    fn ty(&mut self) -> Result<Ty> {
        if self.eat("[") {
            let s = self.scalar_ty()?;
            self.expect("]")?;
            Ok(Ty::List(s))
        } else {
            self.scalar_ty().map(Ty::Scalar)
        }
    }

    /// `30s`, `5m`, `1500ms`.
    fn duration(&mut self) -> Result<u64> {
        let n: u64 = self.number()?;
        let at = self.pos;
        let unit = match self.word()?.as_str() {
            "d" => 86_400_000_000_000,
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" => 1_000,
            "ns" => 1,
            _ => {
                self.pos = at;
                return self.err("expected a unit: d, h, m, s, ms, us, ns");
            }
        };
        match n.checked_mul(unit) {
            Some(ns) => Ok(ns),
            None => self.err("duration out of range"),
        }
    }

    /// `(capacity N, per key N, capture_len N)`.
    fn state(&mut self) -> Result<StateDecl> {
        self.expect("(")?;
        self.expect_kw("capacity")?;
        let capacity = self.number()?;
        self.expect(",")?;
        self.expect_kw("per")?;
        self.expect_kw("key")?;
        let per_key = self.number()?;
        self.expect(",")?;
        self.expect_kw("capture_len")?;
        let capture_len = self.number()?;
        self.expect(")")?;
        Ok(StateDecl {
            capacity,
            per_key,
            capture_len,
        })
    }
}

fn scalar_name(w: &str) -> Option<Scalar> {
    Some(match w {
        "bool" => Scalar::Bool,
        "int" => Scalar::Int,
        "string" => Scalar::Str,
        "ip" => Scalar::Ip,
        "cidr" => Scalar::Cidr,
        _ => return None,
    })
}

/// An int, an address or a prefix, from its text.
fn scalar(run: &str) -> Option<Const> {
    if let Ok(i) = run.parse::<i64>() {
        return Some(Const::Int(i));
    }
    if let Some((ip, len)) = run.split_once('/') {
        let ip = IpAddr::from_str(ip).ok()?;
        if !len.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return Some(Const::Cidr(ip, len.parse().ok()?));
    }
    IpAddr::from_str(run).ok().map(Const::Ip)
}

/// The natural node of an inline constant.
fn const_expr(c: &Const, strings: &[String]) -> Option<Expr> {
    Some(match c {
        Const::Bool(b) => Expr {
            ty: Ty::BOOL,
            kind: ExprKind::Bool(*b),
        },
        Const::Int(i) => Expr {
            ty: Ty::INT,
            kind: ExprKind::Int(*i),
        },
        Const::Ip(ip) => Expr {
            ty: Ty::IP,
            kind: ExprKind::Ip(*ip),
        },
        Const::Str(s) => Expr {
            ty: Ty::STR,
            kind: ExprKind::Str(StrId(
                u32::try_from(strings.iter().position(|t| t == s)?).ok()?,
            )),
        },
        Const::Cidr(..) => return None,
    })
}

/// A rule being read.
struct RuleDraft {
    rule: Rule,
    id: RuleId,
    line: usize,
    events: Option<Vec<String>>,
    threshold: Option<ThresholdDef>,
    sequence: Option<SequenceDef>,
    /// `sequence any order`.
    any_order: bool,
    cond: Option<ExprId>,
    /// Conditions of `step NAME when X` lines, in order.
    step_conds: Vec<(String, Option<ExprId>, usize)>,
    /// The last node holding each inline-writable constant.
    last: HashMap<Expr, u32>,
}

struct Parser {
    program: Program,
    schema_seen: bool,
    rule: Option<RuleDraft>,
}

impl Parser {
    fn line(&mut self, c: &mut Cursor<'_>) -> Result<LineItem> {
        if !self.schema_seen {
            c.expect_kw("schema")?;
            let name = c.name()?;
            let major = c.number()?;
            c.expect(".")?;
            let minor = c.number()?;
            c.end()?;
            self.program.schema = SchemaRef { name, major, minor };
            self.schema_seen = true;
            return Ok(LineItem::Header);
        }
        if c.eat_kw("rule") {
            self.finish_rule(c.line)?;
            let name = c.raw()?;
            let Ok(id) = u32::try_from(self.program.rules.len()) else {
                return c.err("too many rules");
            };
            self.rule = Some(RuleDraft {
                rule: Rule {
                    id: name.clone(),
                    name: name.clone(),
                    title: name,
                    severity: Severity::Medium,
                    shadow: false,
                    meta: Vec::new(),
                    exprs: Vec::new(),
                    kind: RuleKind::Single {
                        events: Vec::new(),
                        cond: None,
                    },
                    emit: Vec::new(),
                    fields: Vec::new(),
                },
                id: RuleId(id),
                line: c.line,
                events: None,
                threshold: None,
                sequence: None,
                any_order: false,
                cond: None,
                step_conds: Vec::new(),
                last: HashMap::new(),
            });
            return Ok(LineItem::Rule(RuleId(id)));
        }
        if let Some(mut draft) = self.rule.take() {
            let item = self.rule_line(&mut draft, c);
            self.rule = Some(draft);
            return item;
        }
        self.header_line(c)
    }

    fn header_line(&mut self, c: &mut Cursor<'_>) -> Result<LineItem> {
        let p = &mut self.program;
        if let Some(n) = c.hash_id::<usize>("field")? {
            if n != p.fields.len() {
                return c.err(format!("expected field#{}", p.fields.len()));
            }
            c.expect("=")?;
            let event = c.name()?;
            c.expect(".")?;
            let field = c.name()?;
            c.expect(":")?;
            let ty = c.ty()?;
            let (mut max_len, mut max_items) = (0, 0);
            if c.eat(",") && c.eat_kw("max_len") {
                max_len = c.number()?;
                let _ = c.eat(",");
            }
            if c.eat_kw("max_items") {
                max_items = c.number()?;
            }
            c.end()?;
            let Ok(id) = u32::try_from(n) else {
                return c.err("too many fields");
            };
            p.fields.push(FieldReq {
                event,
                field,
                ty,
                max_len,
                max_items,
            });
            return Ok(LineItem::Field(FieldRef(id)));
        }
        if let Some(n) = c.hash_id::<usize>("builtin")? {
            if n != p.builtins.len() {
                return c.err(format!("expected builtin#{}", p.builtins.len()));
            }
            c.expect("=")?;
            let name = c.name()?;
            c.expect("(")?;
            let mut params = Vec::new();
            if !c.eat(")") {
                loop {
                    params.push(c.ty()?);
                    if c.eat(")") {
                        break;
                    }
                    c.expect(",")?;
                }
            }
            c.expect("->")?;
            let ret = c.ty()?;
            c.end()?;
            let Ok(id) = u16::try_from(n) else {
                return c.err("too many builtins");
            };
            p.builtins.push(BuiltinRef { name, params, ret });
            return Ok(LineItem::Builtin(CallId(id)));
        }
        if let Some(n) = c.hash_id::<usize>("string")? {
            if n != p.strings.len() {
                return c.err(format!("expected string#{}", p.strings.len()));
            }
            c.expect("=")?;
            let s = c.string()?;
            c.end()?;
            p.strings.push(s);
            return Ok(LineItem::Header);
        }
        if let Some(n) = c.hash_id::<u32>("list")? {
            c.expect("=")?;
            list_body(c, p, n)?;
            c.end()?;
            return Ok(LineItem::Header);
        }
        if let Some(n) = c.hash_id::<u32>("regex")? {
            c.expect("=")?;
            regex_body(c, p, n)?;
            c.end()?;
            return Ok(LineItem::Header);
        }
        c.err(
            "expected a header line (`field#N`, `builtin#N`, `string#N`, `list#N`, \
             `regex#N`) or `rule`",
        )
    }

    fn rule_line(&mut self, d: &mut RuleDraft, c: &mut Cursor<'_>) -> Result<LineItem> {
        let p = &mut self.program;
        let rule_item = LineItem::Rule(d.id);
        if c.peek() == Some('%') {
            return node_line(c, p, d);
        }
        let at = c.pos;
        let word = c.word()?;
        match word.as_str() {
            "id" => {
                c.expect(":")?;
                d.rule.id = c.raw()?;
            }
            "title" => {
                c.expect(":")?;
                d.rule.title = c.raw()?;
            }
            "severity" => {
                c.expect(":")?;
                let at = c.pos;
                let w = c.word()?;
                let Some(s) = Severity::parse(&w) else {
                    c.pos = at;
                    return c.err(format!("`{w}` is no severity"));
                };
                d.rule.severity = s;
                d.rule.shadow = c.eat("(");
                if d.rule.shadow {
                    c.expect_kw("shadow")?;
                    c.expect(")")?;
                }
                c.end()?;
            }
            "meta" => meta_line(c, d)?,
            "on" => {
                if d.events.is_some() || d.sequence.is_some() {
                    return c.err("a second `on` line");
                }
                let mut events = Vec::new();
                c.ws();
                if !c.at_end() {
                    loop {
                        events.push(c.name()?);
                        if !c.eat(",") {
                            break;
                        }
                    }
                }
                c.end()?;
                d.events = Some(events);
            }
            "threshold" => threshold_line(c, p, d)?,
            "sequence" => {
                if d.sequence.is_some() || d.events.is_some() {
                    return c.err("a sequence has no `on` line and one `sequence` line");
                }
                let any_order = c.eat_kw("any");
                if any_order {
                    c.expect_kw("order")?;
                }
                c.expect_kw("within")?;
                let within_ns = c.duration()?;
                let state = c.state()?;
                c.end()?;
                d.sequence = Some(SequenceDef {
                    steps: Vec::new(),
                    within_ns,
                    captures: Vec::new(),
                    state,
                });
                d.any_order = any_order;
            }
            "step" => step_line(c, p, d)?,
            "capture" => {
                let Some(seq) = d.sequence.as_mut() else {
                    return c.err("`capture` outside a sequence");
                };
                c.expect("#")?;
                let n: usize = c.number()?;
                if n != seq.captures.len() {
                    return c.err(format!("expected capture #{}", seq.captures.len()));
                }
                c.expect("=")?;
                let (step, field) = capture_ref(c, p, seq)?;
                c.end()?;
                seq.captures.push(Capture { step, field });
            }
            "when" => {
                if d.sequence.is_some() {
                    return c.err("a sequence's conditions are `step NAME when X`");
                }
                d.cond = cond(c, p, d)?;
                c.end()?;
            }
            "emit" => {
                c.ws();
                let col = c.pos;
                let text = c.string()?;
                c.end()?;
                c.pos = col;
                d.rule.emit = template(c, p, d, &text)?;
            }
            "field" => alert_field_line(c, p, d)?,
            _ => {
                c.pos = at;
                return c.err(format!("`{word}` starts no rule line"));
            }
        }
        Ok(rule_item)
    }

    /// Ends the rule being read (at `line`, for errors).
    fn finish_rule(&mut self, line: usize) -> Result<()> {
        let Some(d) = self.rule.take() else {
            return Ok(());
        };
        let at = |line: usize, message: String| ParseError {
            line,
            column: 1,
            message,
        };
        let mut rule = d.rule;
        rule.kind = if let Some(mut seq) = d.sequence {
            if d.step_conds.len() > seq.steps.len() {
                return Err(at(
                    line,
                    "more `step NAME when` lines than steps".to_owned(),
                ));
            }
            for (i, (name, cond, l)) in d.step_conds.into_iter().enumerate() {
                match seq.steps.get_mut(i) {
                    Some(step) if step.name == name => step.cond = cond,
                    _ => {
                        return Err(at(
                            l,
                            format!("step {} has no condition line in step order", i + 1),
                        ))
                    }
                }
            }
            if d.any_order {
                RuleKind::SequenceAnyOrder(seq)
            } else {
                RuleKind::Sequence(seq)
            }
        } else if let Some(mut t) = d.threshold {
            t.cond = d.cond;
            RuleKind::Threshold(t)
        } else if let Some(events) = d.events {
            RuleKind::Single {
                events,
                cond: d.cond,
            }
        } else {
            return Err(at(
                d.line,
                "the rule has no `on`, `threshold` or `sequence` line".to_owned(),
            ));
        };
        self.program.rules.push(rule);
        Ok(())
    }
}

/// `[ITEMS]` or `TYPE [ITEMS]` for `list#n`: defines it when next, else must equal it.
fn list_body(c: &mut Cursor<'_>, p: &mut Program, n: u32) -> Result<()> {
    c.ws();
    let at = c.pos;
    let elem = if c.peek() == Some('[') {
        None
    } else {
        Some(c.scalar_ty()?)
    };
    c.expect("[")?;
    let mut items = Vec::new();
    if !c.eat("]") {
        loop {
            items.push(c.value()?);
            if c.eat("]") {
                break;
            }
            c.expect(",")?;
        }
    }
    let Some(elem) = elem.or_else(|| implied_elem(&items)) else {
        c.pos = at;
        return c.err("an empty or mixed list names its item type: `list#N string []`");
    };
    define(c, &mut p.lists, n, ConstList { elem, items }, "list")
}

/// `"PATTERN"` for `regex#n`.
fn regex_body(c: &mut Cursor<'_>, p: &mut Program, n: u32) -> Result<()> {
    let pattern = c.string()?;
    define(c, &mut p.regexes, n, pattern, "regex")
}

/// Pool entry `n` is `value`: appended when it is the next one, else checked.
fn define<T: PartialEq>(
    c: &Cursor<'_>,
    pool: &mut Vec<T>,
    n: u32,
    value: T,
    what: &str,
) -> Result<()> {
    let n = n as usize;
    match pool.get(n) {
        Some(v) if *v == value => Ok(()),
        Some(_) => c.err(format!("{what}#{n} was defined otherwise")),
        None if n == pool.len() => {
            pool.push(value);
            Ok(())
        }
        None => c.err(format!(
            "{what}#{n} is defined before {what}#{}",
            pool.len()
        )),
    }
}

/// `list#N` with optional contents.
fn list_ref(c: &mut Cursor<'_>, p: &mut Program) -> Result<ListId> {
    let Some(n) = c.hash_id::<u32>("list")? else {
        return c.err("expected `list#N`");
    };
    c.ws();
    let typed = c
        .rest()
        .split_once(|ch: char| !ident_char(ch))
        .is_some_and(|(w, _)| scalar_name(w).is_some());
    if c.peek() == Some('[') || typed {
        list_body(c, p, n)?;
    }
    Ok(ListId(n))
}

/// `event.field` or `field#N`.
fn field_ref(c: &mut Cursor<'_>, p: &Program) -> Result<FieldRef> {
    if let Some(n) = c.hash_id::<u32>("field")? {
        return Ok(FieldRef(n));
    }
    c.ws();
    let at = c.pos;
    let event = c.name()?;
    c.expect(".")?;
    let field = c.name()?;
    find_field(c, p, &event, &field, at)
}

fn find_field(
    c: &mut Cursor<'_>,
    p: &Program,
    event: &str,
    field: &str,
    at: usize,
) -> Result<FieldRef> {
    match p
        .fields
        .iter()
        .position(|r| r.event == event && r.field == field)
        .and_then(|i| u32::try_from(i).ok())
    {
        Some(i) => Ok(FieldRef(i)),
        None => {
            c.pos = at;
            c.err(format!(
                "no field `{event}.{field}` in the field table \
                 (declare it: `field#N = {event}.{field} : TYPE`)"
            ))
        }
    }
}

/// A field by its short name on `event`, or [`field_ref`]'s forms.
fn field_short(c: &mut Cursor<'_>, p: &Program, event: Option<&str>) -> Result<FieldRef> {
    if let Some(n) = c.hash_id::<u32>("field")? {
        return Ok(FieldRef(n));
    }
    c.ws();
    let at = c.pos;
    let first = c.name()?;
    if c.rest().starts_with('.') {
        c.bump();
        let field = c.name()?;
        return find_field(c, p, &first, &field, at);
    }
    match event {
        Some(event) => find_field(c, p, event, &first, at),
        None => {
            c.pos = at;
            c.err("no event type to read this field on: write `event.field`")
        }
    }
}

/// `[KEYS]` on `event`.
fn keys(c: &mut Cursor<'_>, p: &Program, event: Option<&str>) -> Result<Vec<FieldRef>> {
    c.expect("[")?;
    let mut out = Vec::new();
    if !c.eat("]") {
        loop {
            out.push(field_short(c, p, event)?);
            if c.eat("]") {
                break;
            }
            c.expect(",")?;
        }
    }
    Ok(out)
}

/// `STEP.FIELD`: a step by name or `step#N`, a field on its event.
fn capture_ref(c: &mut Cursor<'_>, p: &Program, seq: &SequenceDef) -> Result<(u8, FieldRef)> {
    let step = if let Some(n) = c.hash_id::<u8>("step")? {
        n
    } else {
        c.ws();
        let at = c.pos;
        let name = c.name()?;
        match seq
            .steps
            .iter()
            .position(|s| s.name == name)
            .and_then(|i| u8::try_from(i).ok())
        {
            Some(i) => i,
            None => {
                c.pos = at;
                return c.err(format!("no step `{name}` declared before"));
            }
        }
    };
    c.expect(".")?;
    let event = seq.steps.get(usize::from(step)).map(|s| s.event.clone());
    let field = field_short(c, p, event.as_deref())?;
    Ok((step, field))
}

fn threshold_line(c: &mut Cursor<'_>, p: &Program, d: &mut RuleDraft) -> Result<()> {
    let Some(events) = d.events.clone() else {
        return c.err("`threshold` comes after the rule's `on` line");
    };
    if d.threshold.is_some() {
        return c.err("a second `threshold` line");
    }
    let counting = if c.eat_kw("count") {
        Counting::Count
    } else if let Some(kw) = ["distinct", "sum", "avg"].into_iter().find(|k| c.eat_kw(k)) {
        c.expect("(")?;
        let f = field_short(c, p, events.first().map(String::as_str))?;
        c.expect(")")?;
        match kw {
            "sum" => Counting::Sum(f),
            "avg" => Counting::Avg(f),
            _ => Counting::Distinct(f),
        }
    } else {
        return c.err("expected `count`, `distinct(FIELD)`, `sum(FIELD)` or `avg(FIELD)`");
    };
    c.expect(">=")?;
    let count = c.number()?;
    c.expect_kw("within")?;
    let within_ns = c.duration()?;
    let mut key = Vec::new();
    if c.eat_kw("by") {
        loop {
            let event = events.get(key.len()).map(String::as_str);
            key.push(keys(c, p, event)?);
            if !c.eat("|") {
                break;
            }
        }
    }
    let state = c.state()?;
    c.end()?;
    d.threshold = Some(ThresholdDef {
        events,
        cond: None,
        counting,
        count,
        within_ns,
        key,
        state,
    });
    Ok(())
}

/// `step NAME: EVENT by [KEYS]` or `step NAME when X`.
fn step_line(c: &mut Cursor<'_>, p: &Program, d: &mut RuleDraft) -> Result<()> {
    if d.sequence.is_none() {
        return c.err("`step` outside a sequence");
    }
    let name = c.name()?;
    if c.eat_kw("when") {
        let cond = cond(c, p, d)?;
        c.end()?;
        d.step_conds.push((name, cond, c.line));
        return Ok(());
    }
    c.expect(":")?;
    let event = c.name()?;
    c.expect_kw("by")?;
    let key = keys(c, p, Some(&event))?;
    c.end()?;
    if let Some(seq) = d.sequence.as_mut() {
        seq.steps.push(StepDef {
            name,
            event,
            cond: None,
            key,
        });
    }
    Ok(())
}

/// `(always)` or an operand.
fn cond(c: &mut Cursor<'_>, p: &Program, d: &RuleDraft) -> Result<Option<ExprId>> {
    if c.eat("(") {
        c.expect_kw("always")?;
        c.expect(")")?;
        return Ok(None);
    }
    operand(c, p, d).map(Some)
}

/// `%N`, or an inline constant: the last node so far that holds it at its own type.
fn operand(c: &mut Cursor<'_>, p: &Program, d: &RuleDraft) -> Result<ExprId> {
    c.ws();
    if c.eat("%") {
        return c.number().map(ExprId);
    }
    let at = c.pos;
    let value = c.value()?;
    match const_expr(&value, &p.strings).and_then(|e| d.last.get(&e)) {
        Some(id) => Ok(ExprId(*id)),
        None => {
            c.pos = at;
            c.err("no earlier node holds this constant: write its `%N`")
        }
    }
}

/// Operands separated by commas, up to `close` (not consumed).
fn operands(c: &mut Cursor<'_>, p: &Program, d: &RuleDraft, close: char) -> Result<Vec<ExprId>> {
    let mut out = Vec::new();
    c.ws();
    if c.peek() == Some(close) {
        return Ok(out);
    }
    loop {
        out.push(operand(c, p, d)?);
        if !c.eat(",") {
            return Ok(out);
        }
    }
}

/// An `emit` template (already unescaped); errors point at the string's start.
fn template(
    c: &mut Cursor<'_>,
    p: &Program,
    d: &RuleDraft,
    text: &str,
) -> Result<Vec<TemplatePart>> {
    let mut parts = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '{' if chars.peek().is_some_and(|(_, n)| *n == '{') => {
                chars.next();
                cur.get_or_insert_with(String::new).push('{');
            }
            '{' if chars.peek().is_some_and(|(_, n)| *n == '}') => {
                chars.next();
                parts.push(TemplatePart::Lit(cur.take().unwrap_or_default()));
            }
            '{' => {
                let inner_start = i + 1;
                let mut end = None;
                for (j, n) in chars.by_ref() {
                    if n == '}' {
                        end = Some(j);
                        break;
                    }
                }
                let Some(inner) = end.and_then(|e| text.get(inner_start..e)) else {
                    return c.err("a `{` without its `}` in the template");
                };
                let mut sub = Cursor {
                    text: inner,
                    pos: 0,
                    line: c.line,
                };
                let e = operand(&mut sub, p, d).or_else(|_| {
                    c.err(format!(
                        "`{{{inner}}}`: expected `{{%N}}` or an inline constant"
                    ))
                })?;
                if !sub.at_end() {
                    return c.err(format!("`{{{inner}}}`: expected `{{%N}}`"));
                }
                if let Some(s) = cur.take() {
                    parts.push(TemplatePart::Lit(s));
                }
                parts.push(TemplatePart::Expr(e));
            }
            '}' if chars.peek().is_some_and(|(_, n)| *n == '}') => {
                chars.next();
                cur.get_or_insert_with(String::new).push('}');
            }
            '}' => return c.err("a lone `}` in the template: write `}}`"),
            ch => cur.get_or_insert_with(String::new).push(ch),
        }
    }
    if let Some(s) = cur.take() {
        parts.push(TemplatePart::Lit(s));
    }
    Ok(parts)
}

fn str_test(c: &mut Cursor<'_>) -> Result<StrTest> {
    let at = c.pos;
    Ok(match c.word()?.as_str() {
        "eq" => StrTest::Eq,
        "contains" => StrTest::Contains,
        "startswith" => StrTest::StartsWith,
        "endswith" => StrTest::EndsWith,
        w => {
            c.pos = at;
            return c.err(format!("`{w}` is no string test"));
        }
    })
}

fn quant(c: &mut Cursor<'_>) -> Result<Quant> {
    if c.eat_kw("any") {
        Ok(Quant::Any)
    } else if c.eat_kw("all") {
        Ok(Quant::All)
    } else {
        c.err("expected `any` or `all`")
    }
}

/// `%N = OP OPERANDS : TYPE`.
fn node_line(c: &mut Cursor<'_>, p: &mut Program, d: &mut RuleDraft) -> Result<LineItem> {
    let start = c.pos;
    c.expect("%")?;
    let n: usize = c.number()?;
    if n != d.rule.exprs.len() {
        c.pos = start;
        return c.err(format!("expected %{}", d.rule.exprs.len()));
    }
    let Ok(id) = u32::try_from(n) else {
        return c.err("too many nodes");
    };
    c.expect("=")?;
    let at = c.pos;
    let op = c.word()?;
    let mut call: Option<(String, usize)> = None;
    let kind = match op.as_str() {
        "const" => const_kind(c, p)?,
        "field" => ExprKind::Field(field_ref(c, p)?),
        "exists" => ExprKind::Exists(field_ref(c, p)?),
        "truncated" => ExprKind::Truncated(field_ref(c, p)?),
        "captured" => captured_kind(c, p, d)?,
        "local" => {
            c.expect("$")?;
            ExprKind::Local(LocalId(c.number()?))
        }
        "not" => ExprKind::Not(operand(c, p, d)?),
        "neg" => ExprKind::Neg(operand(c, p, d)?),
        "and" => ExprKind::And(operands(c, p, d, ':')?),
        "or" => ExprKind::Or(operands(c, p, d, ':')?),
        "add" | "sub" | "mul" | "div" | "rem" => {
            let op = match op.as_str() {
                "add" => ArithOp::Add,
                "sub" => ArithOp::Sub,
                "mul" => ArithOp::Mul,
                "div" => ArithOp::Div,
                _ => ArithOp::Rem,
            };
            let x = operand(c, p, d)?;
            c.expect(",")?;
            ExprKind::Arith(op, x, operand(c, p, d)?)
        }
        "cmp" => {
            let at = c.pos;
            let op = match c.word()?.as_str() {
                "eq" => CmpOp::Eq,
                "ne" => CmpOp::Ne,
                "lt" => CmpOp::Lt,
                "le" => CmpOp::Le,
                "gt" => CmpOp::Gt,
                "ge" => CmpOp::Ge,
                w => {
                    c.pos = at;
                    return c.err(format!("`{w}` is no comparison"));
                }
            };
            let x = operand(c, p, d)?;
            c.expect(",")?;
            ExprKind::Cmp(op, x, operand(c, p, d)?)
        }
        "str_test" => {
            let op = str_test(c)?;
            let fold = c.eat_kw("fold");
            let lhs = operand(c, p, d)?;
            c.expect(",")?;
            let rhs = operand(c, p, d)?;
            ExprKind::StrTest { op, fold, lhs, rhs }
        }
        "str_list" => {
            let op = str_test(c)?;
            let fold = c.eat_kw("fold");
            let quant = quant(c)?;
            let lhs = operand(c, p, d)?;
            c.expect(",")?;
            let list = list_ref(c, p)?;
            ExprKind::StrList {
                op,
                fold,
                quant,
                lhs,
                list,
            }
        }
        "member" => {
            let fold = c.eat_kw("fold");
            let lhs = operand(c, p, d)?;
            c.expect(",")?;
            let list = operand(c, p, d)?;
            ExprKind::Member { lhs, list, fold }
        }
        "matches" => {
            let lhs = operand(c, p, d)?;
            c.expect(",")?;
            let Some(r) = c.hash_id::<u32>("regex")? else {
                return c.err("expected `regex#N`");
            };
            c.ws();
            if c.peek() == Some('"') {
                regex_body(c, p, r)?;
            }
            ExprKind::Matches {
                lhs,
                regex: RegexId(r),
            }
        }
        "call" => {
            let (kind, first_use) = call_kind(c, p, d)?;
            call = first_use;
            kind
        }
        "quant" => {
            let quant = quant(c)?;
            c.expect("$")?;
            let local = LocalId(c.number()?);
            c.expect_kw("in")?;
            let list = operand(c, p, d)?;
            c.expect(":")?;
            let body = operand(c, p, d)?;
            ExprKind::Quant {
                quant,
                local,
                list,
                body,
            }
        }
        w => {
            c.pos = at;
            return c.err(format!("`{w}` is no node"));
        }
    };
    c.expect(":")?;
    let ty = c.ty()?;
    c.end()?;
    if let (Some((name, pos)), ExprKind::Call { args, .. }) = (call, &kind) {
        declare_called(c, p, d, name, pos, args, ty)?;
    }
    let expr = Expr { ty, kind };
    if const_expr_of(&expr) {
        d.last.insert(expr.clone(), id);
    }
    d.rule.exprs.push(expr);
    Ok(LineItem::Node(d.id, ExprId(id)))
}

/// Whether `expr` is a scalar constant at its own type (an inline operand may name it).
fn const_expr_of(expr: &Expr) -> bool {
    matches!(
        (&expr.kind, expr.ty),
        (ExprKind::Bool(_), Ty::BOOL)
            | (ExprKind::Int(_), Ty::INT)
            | (ExprKind::Ip(_), Ty::IP)
            | (ExprKind::Str(_), Ty::STR)
    )
}

/// `const VALUE`, `const str#N`, `const list#N [...]`; a string is interned on first use.
fn const_kind(c: &mut Cursor<'_>, p: &mut Program) -> Result<ExprKind> {
    if let Some(s) = c.hash_id::<u32>("str")? {
        return Ok(ExprKind::Str(StrId(s)));
    }
    if c.rest().trim_start().starts_with("list#") {
        return list_ref(c, p).map(ExprKind::List);
    }
    Ok(match c.value()? {
        Const::Bool(b) => ExprKind::Bool(b),
        Const::Int(i) => ExprKind::Int(i),
        Const::Ip(ip) => ExprKind::Ip(ip),
        Const::Str(s) => {
            let i = match p.strings.iter().position(|t| *t == s) {
                Some(i) => i,
                None => {
                    p.strings.push(s);
                    p.strings.len() - 1
                }
            };
            let Ok(i) = u32::try_from(i) else {
                return c.err("too many strings");
            };
            ExprKind::Str(StrId(i))
        }
        Const::Cidr(..) => return c.err("a prefix is only a list item"),
    })
}

/// `captured #N [STEP.FIELD]`: the description, when written, must be the declared capture's.
fn captured_kind(c: &mut Cursor<'_>, p: &Program, d: &RuleDraft) -> Result<ExprKind> {
    c.expect("#")?;
    let k: u16 = c.number()?;
    c.ws();
    if c.peek() != Some(':') {
        let at = c.pos;
        let Some(seq) = &d.sequence else {
            return c.err("a capture's step and field are known in sequences only");
        };
        let got = capture_ref(c, p, seq)?;
        let declared = seq.captures.get(usize::from(k)).map(|c| (c.step, c.field));
        if declared != Some(got) {
            c.pos = at;
            return c.err(format!("capture #{k} is not this step and field"));
        }
    }
    Ok(ExprKind::Captured(CaptureId(k)))
}

/// `call NAME(OPERANDS)` or `call builtin#N(...)`; also the name and position of a builtin the
/// table does not hold yet (declared once the node's type is read).
fn call_kind(
    c: &mut Cursor<'_>,
    p: &Program,
    d: &RuleDraft,
) -> Result<(ExprKind, Option<(String, usize)>)> {
    let mut first_use = None;
    let builtin = if let Some(b) = c.hash_id::<u16>("builtin")? {
        CallId(b)
    } else {
        let name = c.name()?;
        let known = p.builtins.iter().position(|b| b.name == name);
        if known.is_none() {
            first_use = Some((name, c.pos));
        }
        match u16::try_from(known.unwrap_or(p.builtins.len())) {
            Ok(i) => CallId(i),
            Err(_) => return c.err("too many builtins"),
        }
    };
    c.expect("(")?;
    let args = operands(c, p, d, ')')?;
    c.expect(")")?;
    Ok((ExprKind::Call { builtin, args }, first_use))
}

/// Declares builtin `name`, first called here, from the call's operand and result types.
fn declare_called(
    c: &mut Cursor<'_>,
    p: &mut Program,
    d: &RuleDraft,
    name: String,
    pos: usize,
    args: &[ExprId],
    ret: Ty,
) -> Result<()> {
    let mut params = Vec::with_capacity(args.len());
    for a in args {
        match d.rule.exprs.get(a.0 as usize) {
            Some(e) => params.push(e.ty),
            None => {
                c.pos = pos;
                return c.err(format!(
                    "cannot tell `{name}`'s signature from its operands: declare it \
                     (`builtin#N = {name}(...) -> TYPE`)"
                ));
            }
        }
    }
    p.builtins.push(BuiltinRef { name, params, ret });
    Ok(())
}

/// `meta KEY = VALUE`.
fn meta_line(c: &mut Cursor<'_>, d: &mut RuleDraft) -> Result<()> {
    let key = c.name()?;
    c.expect("=")?;
    let value = if c.eat("[") {
        let mut items = Vec::new();
        if !c.eat("]") {
            loop {
                items.push(c.string()?);
                if c.eat("]") {
                    break;
                }
                c.expect(",")?;
            }
        }
        MetaValue::List(items)
    } else {
        match c.value()? {
            Const::Str(s) => MetaValue::Str(s),
            Const::Int(i) => MetaValue::Int(i),
            Const::Bool(b) => MetaValue::Bool(b),
            _ => return c.err("expected a string, an int, a bool or a list"),
        }
    };
    c.end()?;
    d.rule.meta.push((key, value));
    Ok(())
}

/// `field NAME = X`: an alert field (`NAME` may be dotted).
fn alert_field_line(c: &mut Cursor<'_>, p: &Program, d: &mut RuleDraft) -> Result<()> {
    c.ws();
    let name = if c.peek() == Some('"') {
        c.string()?
    } else {
        let mut parts = vec![c.word()?];
        while c.rest().starts_with('.') {
            c.bump();
            parts.push(c.word()?);
        }
        parts.join(".")
    };
    c.expect("=")?;
    let e = operand(c, p, d)?;
    c.end()?;
    d.rule.fields.push((name, e));
    Ok(())
}
