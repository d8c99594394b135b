//! Shared support of the JIT tests: a small test schema with every field type and tight bounds
//! (so that max-length strings, truncation and full lists are cheap to reach), a tiny IR
//! builder, and the differential check "JIT result == interpreter result".

#![allow(dead_code, unreachable_pub)]

use std::net::IpAddr;

use vigil_runtime::bind::bind;
use vigil_runtime::budget::Budget;
use vigil_runtime::builtins::{self, ParamTy};
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions, Evaluator};
use vigil_runtime::event::Event;
use vigil_runtime::interp::Interp;
use vigil_runtime::ir::{
    BuiltinRef, CallId, Const, ConstList, Expr, ExprId, ExprKind, FieldRef, FieldReq, ListId,
    Program, RegexId, Rule, RuleId, RuleKind, SchemaRef, Severity, StrId,
};
use vigil_runtime::jit;
use vigil_runtime::schema::Schema;
use vigil_runtime::types::{Scalar, Ty};
use vigil_runtime::verify::{verify, Verified};

/// Two event types with every field type. Strings are at most 8 bytes and lists at most 3
/// items, so generated values reach the bounds often.
pub const TEST_SCHEMA: &str = r#"
name = "jittest"
version = "1.0"

[events.ev]
description = "every field type"
fields = [
  { name = "time",  type = "int", description = "t" },
  { name = "host",  type = "string", max_len = 8, description = "h" },
  { name = "s1",    type = "string", max_len = 8, description = "a string" },
  { name = "s2",    type = "string", max_len = 8, description = "a string" },
  { name = "n1",    type = "int", description = "an int" },
  { name = "n2",    type = "int", description = "an int" },
  { name = "b1",    type = "bool", description = "a bool" },
  { name = "ip1",   type = "ip", description = "an ip" },
  { name = "ip2",   type = "ip", description = "an ip" },
  { name = "args",  type = "[string]", max_items = 3, max_len = 8, description = "strings" },
  { name = "ports", type = "[int]", max_items = 3, description = "ints" },
  { name = "addrs", type = "[ip]", max_items = 3, description = "ips" },
]

[events.ev2]
description = "the same names at other indexes"
fields = [
  { name = "b1",    type = "bool", description = "a bool" },
  { name = "time",  type = "int", description = "t" },
  { name = "n2",    type = "int", description = "an int" },
  { name = "s2",    type = "string", max_len = 8, description = "a string" },
  { name = "host",  type = "string", max_len = 8, description = "h" },
  { name = "n1",    type = "int", description = "an int" },
  { name = "s1",    type = "string", max_len = 8, description = "a string" },
  { name = "ip1",   type = "ip", description = "an ip" },
  { name = "ip2",   type = "ip", description = "an ip" },
  { name = "args",  type = "[string]", max_items = 3, max_len = 8, description = "strings" },
  { name = "ports", type = "[int]", max_items = 3, description = "ints" },
  { name = "addrs", type = "[ip]", max_items = 3, description = "ips" },
]
"#;

/// The test schema.
pub fn schema() -> Schema {
    Schema::from_toml("jittest.toml", TEST_SCHEMA).expect("the test schema is valid")
}

/// A program under construction.
pub struct Prog {
    pub p: Program,
    pub schema: Schema,
}

/// One rule's expression arena under construction.
#[derive(Default)]
pub struct Rb {
    pub exprs: Vec<Expr>,
}

impl Rb {
    pub fn e(&mut self, ty: Ty, kind: ExprKind) -> ExprId {
        self.exprs.push(Expr { ty, kind });
        ExprId(self.exprs.len() as u32 - 1)
    }
    pub fn bool(&mut self, b: bool) -> ExprId {
        self.e(Ty::BOOL, ExprKind::Bool(b))
    }
    pub fn int(&mut self, i: i64) -> ExprId {
        self.e(Ty::INT, ExprKind::Int(i))
    }
    pub fn ip(&mut self, ip: &str) -> ExprId {
        let ip: IpAddr = ip.parse().expect("test ip");
        self.e(Ty::IP, ExprKind::Ip(ip))
    }
}

impl Prog {
    pub fn new(schema: Schema) -> Prog {
        let p = Program {
            schema: SchemaRef {
                name: schema.name.clone(),
                major: schema.version.major,
                minor: schema.version.minor,
            },
            fields: Vec::new(),
            builtins: Vec::new(),
            strings: Vec::new(),
            lists: Vec::new(),
            regexes: Vec::new(),
            rules: Vec::new(),
        };
        Prog { p, schema }
    }

    /// A field requirement with the host's bounds.
    pub fn field(&mut self, event: &str, name: &str) -> (FieldRef, Ty) {
        let (_, et) = self.schema.event(event).expect("test event type");
        let (_, def) = et.field(name).expect("test field");
        let req = FieldReq {
            event: event.into(),
            field: name.into(),
            ty: def.ty,
            max_len: def.max_len,
            max_items: def.max_items,
        };
        if let Some(i) = self.p.fields.iter().position(|f| *f == req) {
            return (FieldRef(i as u32), def.ty);
        }
        self.p.fields.push(req);
        (FieldRef(self.p.fields.len() as u32 - 1), def.ty)
    }

    pub fn string(&mut self, s: &str) -> StrId {
        if let Some(i) = self.p.strings.iter().position(|x| x == s) {
            return StrId(i as u32);
        }
        self.p.strings.push(s.into());
        StrId(self.p.strings.len() as u32 - 1)
    }

    pub fn list(&mut self, elem: Scalar, items: Vec<Const>) -> ListId {
        self.p.lists.push(ConstList { elem, items });
        ListId(self.p.lists.len() as u32 - 1)
    }

    pub fn str_list(&mut self, items: &[&str]) -> ListId {
        self.list(
            Scalar::Str,
            items.iter().map(|s| Const::Str((*s).into())).collect(),
        )
    }

    pub fn regex(&mut self, pattern: &str) -> RegexId {
        self.p.regexes.push(pattern.into());
        RegexId(self.p.regexes.len() as u32 - 1)
    }

    /// The program's call-table entry for builtin `name`, with `args` as its argument types.
    pub fn builtin(&mut self, name: &str, args: &[Ty]) -> CallId {
        let (_, b) = builtins::lookup(name).expect("test builtin");
        let params: Vec<Ty> = b
            .params
            .iter()
            .zip(args)
            .map(|(p, a)| match p {
                ParamTy::Exact(t) => *t,
                _ => *a,
            })
            .collect();
        let r = BuiltinRef {
            name: name.into(),
            params,
            ret: b.ret,
        };
        if let Some(i) = self.p.builtins.iter().position(|x| *x == r) {
            return CallId(i as u16);
        }
        self.p.builtins.push(r);
        CallId(self.p.builtins.len() as u16 - 1)
    }

    /// Adds a single-event rule on `events`; `build` returns its condition.
    pub fn rule(
        &mut self,
        name: &str,
        events: &[&str],
        build: impl FnOnce(&mut Prog, &mut Rb) -> Option<ExprId>,
    ) -> RuleId {
        let mut rb = Rb::default();
        let cond = build(self, &mut rb);
        self.p.rules.push(Rule {
            id: name.into(),
            name: name.into(),
            title: format!("title of {name}"),
            severity: Severity::High,
            shadow: false,
            meta: Vec::new(),
            exprs: rb.exprs,
            kind: RuleKind::Single {
                events: events.iter().map(|e| (*e).into()).collect(),
                cond,
            },
            emit: Vec::new(),
            fields: Vec::new(),
        });
        RuleId(self.p.rules.len() as u32 - 1)
    }

    /// Binds and verifies; `Err` carries the verifier's messages.
    pub fn try_verify(self) -> Result<Verified, String> {
        let binding = bind(&self.p, &self.schema).map_err(|e| format!("bind: {e:?}"))?;
        verify(self.p, binding, &Budget::default()).map_err(|e| {
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    pub fn verify(self) -> Verified {
        self.try_verify().unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A field read.
pub fn field(p: &mut Prog, rb: &mut Rb, event: &str, name: &str) -> ExprId {
    let (f, ty) = p.field(event, name);
    rb.e(ty, ExprKind::Field(f))
}

/// A string constant.
pub fn str_const(p: &mut Prog, rb: &mut Rb, s: &str) -> ExprId {
    let id = p.string(s);
    rb.e(Ty::STR, ExprKind::Str(id))
}

/// Evaluates every rule of `verified` on every event of a type it runs on with both engines;
/// panics naming the rule and event on the first disagreement. Returns (evaluations, trues).
pub fn assert_agree(verified: &Verified, events: &[Event<'_>]) -> (usize, usize) {
    let interp = Interp::new(verified).expect("interp");
    let jit = jit::compile(verified).unwrap_or_else(|e| panic!("jit compile: {e}"));
    let mut n = 0;
    let mut trues = 0;
    for (r, rule) in verified.program().rules.iter().enumerate() {
        let id = RuleId(r as u32);
        let types = verified.binding().rule_events(id);
        for (e, event) in events.iter().enumerate() {
            if !types.contains(&event.ty()) {
                continue;
            }
            let want = interp.eval_cond(id, event);
            let got = jit.eval(id, event);
            assert_eq!(
                got,
                want,
                "rule {} ({}) on event {e}: jit {got:?}, interp {want:?}\nrule: {:#?}\nevent: {event:#?}",
                r,
                rule.name,
                rule.exprs
            );
            n += 1;
            if want == Ok(true) {
                trues += 1;
            }
        }
    }
    assert_engines_agree(verified, events);
    (n, trues)
}

/// The engines end to end: the JIT with the whole-bundle prefilter (rules skipped, literal
/// tests answered from its bits) against the interpreter without it, rule by rule; the same
/// rules must fire on every event, in the same order.
pub fn assert_engines_agree(verified: &Verified, events: &[Event<'_>]) {
    let oracle = Engine::new(
        verified,
        EngineOptions {
            engine: EngineKind::Interp,
            prefilter: false,
            ..EngineOptions::default()
        },
    )
    .expect("interp engine");
    let jit = Engine::new(
        verified,
        EngineOptions {
            engine: EngineKind::Jit,
            prefilter: true,
            ..EngineOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("jit engine: {e}"));
    for (e, event) in events.iter().enumerate() {
        let mut want = Vec::new();
        let mut got = Vec::new();
        let w = oracle.process(event, &mut |a| want.push(a.rule.clone()));
        let g = jit.process(event, &mut |a| got.push(a.rule.clone()));
        assert_eq!(
            (g.is_ok(), &got),
            (w.is_ok(), &want),
            "event {e}: jit+prefilter fired {got:?}, interp fired {want:?}\nprogram: {:#?}\nevent: {event:#?}",
            verified.program().rules
        );
    }
    assert_eq!(jit.stats().eval_errors, oracle.stats().eval_errors);
    assert_eq!(jit.stats().internal_errors, 0);
}
