//! The canonical hash (SHA-256) of a rule and of a program, over the IR alone.
//!
//! No spans (the debug section is not hashed) and no interning order: each rule's arena is
//! walked in id order and every reference into a program-wide table (strings, lists, regexes,
//! field requirements, builtins) is replaced by the value it names. Two programs that differ
//! only in the order of their tables, or in unused table entries, hash equal; "is this rule
//! unchanged?" (state carried over a reload, `vigil diff`, replay detection) has one answer.
//!
//! The program hash covers the schema it was built for, the set of its field requirements and
//! builtins (sorted by value: a requirement binds even when no rule reads it) and each rule's
//! hash in program order. The encoding fed to SHA-256 is private to this module: tags and
//! length-prefixed values, so that no two distinct IRs encode alike. It never fails or panics,
//! on any IR (an id out of range hashes as a marker and its raw value).

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::ir::{
    CallId, Const, ConstList, Counting, ExprId, ExprKind, FieldRef, ListId, MetaValue, Program,
    Quant, RegexId, Rule, RuleKind, StateDecl, StrId, TemplatePart,
};
use crate::types::{Scalar, Ty};

/// A SHA-256 digest.
pub type Digest32 = [u8; 32];

/// The canonical hash of one rule of `program` (the program supplies the tables its ids name).
pub fn rule_hash(program: &Program, rule: &Rule) -> Digest32 {
    let mut c = Canon::new(program);
    c.rule(rule);
    c.finish()
}

/// The canonical hash of a whole program.
pub fn program_hash(program: &Program) -> Digest32 {
    let mut c = Canon::new(program);
    c.tag(b'P');
    c.str(&program.schema.name);
    c.u64(u64::from(program.schema.major));
    c.u64(u64::from(program.schema.minor));

    let mut fields: Vec<Vec<u8>> = program
        .fields
        .iter()
        .map(|f| {
            let mut sub = Canon::new(program);
            sub.field_req(f);
            sub.out
        })
        .collect();
    fields.sort();
    fields.dedup();
    c.u64(fields.len() as u64);
    fields.iter().for_each(|f| c.bytes(f));

    let mut builtins: Vec<Vec<u8>> = program
        .builtins
        .iter()
        .map(|b| {
            let mut sub = Canon::new(program);
            sub.str(&b.name);
            sub.u64(b.params.len() as u64);
            b.params.iter().for_each(|t| sub.ty(*t));
            sub.ty(b.ret);
            sub.out
        })
        .collect();
    builtins.sort();
    builtins.dedup();
    c.u64(builtins.len() as u64);
    builtins.iter().for_each(|b| c.bytes(b));

    c.u64(program.rules.len() as u64);
    for rule in &program.rules {
        c.bytes(&rule_hash(program, rule));
    }
    c.finish()
}

/// Lower-case hex of a digest (or any bytes).
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// The canonical encoder: appends a self-delimiting encoding to a buffer, then hashes it.
struct Canon<'p> {
    program: &'p Program,
    out: Vec<u8>,
}

impl<'p> Canon<'p> {
    fn new(program: &'p Program) -> Canon<'p> {
        Canon {
            program,
            out: Vec::new(),
        }
    }

    fn finish(self) -> Digest32 {
        Sha256::digest(&self.out).into()
    }

    fn tag(&mut self, t: u8) {
        self.out.push(t);
    }

    fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    fn i64(&mut self, v: i64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    fn bool(&mut self, v: bool) {
        self.out.push(u8::from(v));
    }

    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.out.extend_from_slice(b);
    }

    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn scalar(&mut self, s: Scalar) {
        self.tag(match s {
            Scalar::Bool => 1,
            Scalar::Int => 2,
            Scalar::Str => 3,
            Scalar::Ip => 4,
            Scalar::Cidr => 5,
        });
    }

    fn ty(&mut self, t: Ty) {
        match t {
            Ty::Scalar(s) => {
                self.tag(b's');
                self.scalar(s);
            }
            Ty::List(s) => {
                self.tag(b'l');
                self.scalar(s);
            }
        }
    }

    fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => {
                self.tag(4);
                self.out.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                self.tag(6);
                self.out.extend_from_slice(&v6.octets());
            }
        }
    }

    /// A reference that is out of range: a marker and the raw index, so that it still hashes
    /// deterministically (the verifier refuses such programs anyway).
    fn dangling(&mut self, kind: u8, raw: u64) {
        self.tag(0xEE);
        self.tag(kind);
        self.u64(raw);
    }

    fn field_req(&mut self, f: &crate::ir::FieldReq) {
        self.str(&f.event);
        self.str(&f.field);
        self.ty(f.ty);
        self.u64(u64::from(f.max_len));
        self.u64(u64::from(f.max_items));
    }

    fn field_ref(&mut self, r: FieldRef) {
        let program = self.program;
        match program.fields.get(r.0 as usize) {
            Some(f) => {
                self.tag(b'F');
                self.field_req(f);
            }
            None => self.dangling(b'F', u64::from(r.0)),
        }
    }

    fn string(&mut self, s: StrId) {
        let program = self.program;
        match program.strings.get(s.0 as usize) {
            Some(text) => {
                self.tag(b'S');
                self.str(text);
            }
            None => self.dangling(b'S', u64::from(s.0)),
        }
    }

    fn constant(&mut self, k: &Const) {
        match k {
            Const::Bool(b) => {
                self.tag(1);
                self.bool(*b);
            }
            Const::Int(i) => {
                self.tag(2);
                self.i64(*i);
            }
            Const::Str(s) => {
                self.tag(3);
                self.str(s);
            }
            Const::Ip(ip) => {
                self.tag(4);
                self.ip(*ip);
            }
            Const::Cidr(ip, prefix) => {
                self.tag(5);
                self.ip(*ip);
                self.tag(*prefix);
            }
        }
    }

    fn list(&mut self, l: ListId) {
        let program = self.program;
        match program.lists.get(l.0 as usize) {
            Some(ConstList { elem, items }) => {
                self.tag(b'L');
                self.scalar(*elem);
                self.u64(items.len() as u64);
                items.iter().for_each(|k| self.constant(k));
            }
            None => self.dangling(b'L', u64::from(l.0)),
        }
    }

    fn regex(&mut self, r: RegexId) {
        let program = self.program;
        match program.regexes.get(r.0 as usize) {
            Some(p) => {
                self.tag(b'R');
                self.str(p);
            }
            None => self.dangling(b'R', u64::from(r.0)),
        }
    }

    fn call(&mut self, c: CallId) {
        let program = self.program;
        match program.builtins.get(usize::from(c.0)) {
            Some(b) => {
                self.tag(b'B');
                self.str(&b.name);
                self.u64(b.params.len() as u64);
                b.params.iter().for_each(|t| self.ty(*t));
                self.ty(b.ret);
            }
            None => self.dangling(b'B', u64::from(c.0)),
        }
    }

    fn expr_id(&mut self, e: ExprId) {
        self.u64(u64::from(e.0));
    }

    fn quant(&mut self, q: Quant) {
        self.tag(match q {
            Quant::Any => 1,
            Quant::All => 2,
        });
    }

    fn state(&mut self, s: &StateDecl) {
        self.u64(u64::from(s.capacity));
        self.u64(u64::from(s.per_key));
        self.u64(u64::from(s.capture_len));
    }

    fn rule(&mut self, rule: &Rule) {
        self.tag(b'r');
        self.str(&rule.id);
        self.str(&rule.name);
        self.str(&rule.title);
        self.tag(rule.severity as u8);
        self.bool(rule.shadow);
        self.u64(rule.meta.len() as u64);
        for (key, value) in &rule.meta {
            self.str(key);
            match value {
                MetaValue::Str(s) => {
                    self.tag(1);
                    self.str(s);
                }
                MetaValue::Int(i) => {
                    self.tag(2);
                    self.i64(*i);
                }
                MetaValue::Bool(b) => {
                    self.tag(3);
                    self.bool(*b);
                }
                MetaValue::List(items) => {
                    self.tag(4);
                    self.u64(items.len() as u64);
                    items.iter().for_each(|s| self.str(s));
                }
            }
        }
        self.u64(rule.exprs.len() as u64);
        for expr in &rule.exprs {
            self.ty(expr.ty);
            self.expr_kind(&expr.kind);
        }
        match &rule.kind {
            RuleKind::Single { events, cond } => {
                self.tag(b'1');
                self.u64(events.len() as u64);
                events.iter().for_each(|e| self.str(e));
                self.opt_expr(*cond);
            }
            RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => {
                // `any order` gets its own tag; ordered sequences hash as before.
                self.tag(if matches!(rule.kind, RuleKind::SequenceAnyOrder(_)) {
                    b'U'
                } else {
                    b'Q'
                });
                self.u64(seq.steps.len() as u64);
                for step in &seq.steps {
                    self.str(&step.name);
                    self.str(&step.event);
                    self.opt_expr(step.cond);
                    self.u64(step.key.len() as u64);
                    step.key.iter().for_each(|k| self.field_ref(*k));
                }
                self.u64(seq.within_ns);
                self.u64(seq.captures.len() as u64);
                for cap in &seq.captures {
                    self.tag(cap.step);
                    self.field_ref(cap.field);
                }
                self.state(&seq.state);
            }
            RuleKind::Threshold(t) => {
                self.tag(b'T');
                self.u64(t.events.len() as u64);
                t.events.iter().for_each(|e| self.str(e));
                self.opt_expr(t.cond);
                match t.counting {
                    Counting::Count => self.tag(1),
                    Counting::Distinct(f) => {
                        self.tag(2);
                        self.field_ref(f);
                    }
                    Counting::Sum(f) => {
                        self.tag(3);
                        self.field_ref(f);
                    }
                    Counting::Avg(f) => {
                        self.tag(4);
                        self.field_ref(f);
                    }
                }
                self.u64(t.count);
                self.u64(t.within_ns);
                self.u64(t.key.len() as u64);
                for key in &t.key {
                    self.u64(key.len() as u64);
                    key.iter().for_each(|k| self.field_ref(*k));
                }
                self.state(&t.state);
            }
        }
        self.u64(rule.emit.len() as u64);
        for part in &rule.emit {
            match part {
                TemplatePart::Lit(s) => {
                    self.tag(1);
                    self.str(s);
                }
                TemplatePart::Expr(e) => {
                    self.tag(2);
                    self.expr_id(*e);
                }
            }
        }
        self.u64(rule.fields.len() as u64);
        for (name, e) in &rule.fields {
            self.str(name);
            self.expr_id(*e);
        }
    }

    fn opt_expr(&mut self, e: Option<ExprId>) {
        match e {
            None => self.tag(0),
            Some(e) => {
                self.tag(1);
                self.expr_id(e);
            }
        }
    }

    fn expr_kind(&mut self, kind: &ExprKind) {
        match kind {
            ExprKind::Bool(b) => {
                self.tag(1);
                self.bool(*b);
            }
            ExprKind::Int(i) => {
                self.tag(2);
                self.i64(*i);
            }
            ExprKind::Str(s) => {
                self.tag(3);
                self.string(*s);
            }
            ExprKind::Ip(ip) => {
                self.tag(4);
                self.ip(*ip);
            }
            ExprKind::List(l) => {
                self.tag(5);
                self.list(*l);
            }
            ExprKind::Field(f) => {
                self.tag(6);
                self.field_ref(*f);
            }
            ExprKind::Exists(f) => {
                self.tag(7);
                self.field_ref(*f);
            }
            ExprKind::Truncated(f) => {
                self.tag(8);
                self.field_ref(*f);
            }
            ExprKind::Captured(c) => {
                self.tag(9);
                self.u64(u64::from(c.0));
            }
            ExprKind::Local(l) => {
                self.tag(10);
                self.u64(u64::from(l.0));
            }
            ExprKind::Not(e) => {
                self.tag(11);
                self.expr_id(*e);
            }
            ExprKind::And(v) => {
                self.tag(12);
                self.u64(v.len() as u64);
                v.iter().for_each(|e| self.expr_id(*e));
            }
            ExprKind::Or(v) => {
                self.tag(13);
                self.u64(v.len() as u64);
                v.iter().for_each(|e| self.expr_id(*e));
            }
            ExprKind::Neg(e) => {
                self.tag(14);
                self.expr_id(*e);
            }
            ExprKind::Arith(op, a, b) => {
                self.tag(15);
                self.tag(*op as u8);
                self.expr_id(*a);
                self.expr_id(*b);
            }
            ExprKind::Cmp(op, a, b) => {
                self.tag(16);
                self.tag(*op as u8);
                self.expr_id(*a);
                self.expr_id(*b);
            }
            ExprKind::StrTest { op, fold, lhs, rhs } => {
                self.tag(17);
                self.tag(*op as u8);
                self.bool(*fold);
                self.expr_id(*lhs);
                self.expr_id(*rhs);
            }
            ExprKind::StrList {
                op,
                fold,
                quant,
                lhs,
                list,
            } => {
                self.tag(18);
                self.tag(*op as u8);
                self.bool(*fold);
                self.quant(*quant);
                self.expr_id(*lhs);
                self.list(*list);
            }
            ExprKind::Member { lhs, list, fold } => {
                self.tag(19);
                self.expr_id(*lhs);
                self.expr_id(*list);
                self.bool(*fold);
            }
            ExprKind::Matches { lhs, regex } => {
                self.tag(20);
                self.expr_id(*lhs);
                self.regex(*regex);
            }
            ExprKind::Call { builtin, args } => {
                self.tag(21);
                self.call(*builtin);
                self.u64(args.len() as u64);
                args.iter().for_each(|e| self.expr_id(*e));
            }
            ExprKind::Quant {
                quant,
                local,
                list,
                body,
            } => {
                self.tag(22);
                self.quant(*quant);
                self.u64(u64::from(local.0));
                self.expr_id(*list);
                self.expr_id(*body);
            }
        }
    }
}
