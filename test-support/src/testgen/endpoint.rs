//! The endpoint generator: random, well-typed IR programs within the verifier's default limits
//! and budget, over a given schema (the standard `endpoint` one, or one with its event types;
//! for the differential tests of the interpreter and the JIT, the verifier's property tests and
//! the fuzz targets).
//!
//! [`program_from_seed`] is deterministic in its seed; [`arbitrary_program`] wraps it as a
//! proptest strategy over the standard `endpoint` schema. Programs mix single, sequence and
//! threshold rules; string, list, int, ip and bool reads; every string test, constant lists,
//! regexes, builtins (from the runtime's table), arithmetic, quantifiers (nested up to two
//! levels) and captures.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use proptest::prelude::*;

use vigil_runtime::builtins::{self, ParamTy};
use vigil_runtime::ir::{
    ArithOp, BuiltinRef, CallId, Capture, CaptureId, CmpOp, Const, ConstList, Counting, Expr,
    ExprId, ExprKind, FieldRef, FieldReq, ListId, LocalId, Program, Quant, RegexId, Rule, RuleKind,
    SchemaRef, SequenceDef, Severity, StateDecl, StepDef, StrId, StrTest, TemplatePart,
    ThresholdDef,
};
use vigil_runtime::schema::Schema;
use vigil_runtime::types::{Scalar, Ty};

use super::{choose, table};
use crate::rng::SplitMix64;

/// A proptest strategy: programs from [`program_from_seed`] over [`Schema::endpoint`].
pub fn arbitrary_program() -> impl Strategy<Value = Program> {
    any::<u64>().prop_map(|seed| program_from_seed(seed, endpoint_schema()))
}

/// The standard schema, parsed once.
pub fn endpoint_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(Schema::endpoint)
}

/// A random well-typed program over `schema`, deterministic in `seed`.
pub fn program_from_seed(seed: u64, schema: &Schema) -> Program {
    let mut g = Gen {
        rng: SplitMix64::new(seed),
        schema,
        program: Program {
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
        },
        field_ids: HashMap::new(),
        string_ids: HashMap::new(),
        call_ids: HashMap::new(),
    };
    let rules = 1 + g.below(4);
    for r in 0..rules {
        let rule = match g.below(6) {
            0 => g.sequence_rule(r),
            1 => g.threshold_rule(r),
            _ => g.single_rule(r),
        };
        g.program.rules.push(rule);
    }
    g.program
}

/// What the expression generator may read in the current position.
#[derive(Clone, Copy)]
struct Scope<'a> {
    /// The event type whose fields are in scope.
    event: &'a str,
    /// Quantifier variables in scope: level and item type.
    locals: &'a [(u16, Scalar)],
    /// Captures readable here (index, type).
    captures: &'a [(u16, Ty)],
    /// Inside a quantifier body: no heavy operations (keeps the cost within budget).
    light: bool,
}

struct Gen<'s> {
    rng: SplitMix64,
    schema: &'s Schema,
    program: Program,
    field_ids: HashMap<(String, String), FieldRef>,
    string_ids: HashMap<String, StrId>,
    call_ids: HashMap<&'static str, CallId>,
}

const WORDS: &[&str] = &[
    "",
    "a",
    "cmd.exe",
    "powershell",
    "-enc",
    "\\",
    "/",
    "é",
    "ΣΑΣ",
    "K",
    "İ",
    ".exe",
    "http",
    "C:\\Windows\\",
    "\u{0}",
    "ẞ",
    "日本",
];
const PATTERNS: &[&str] = &[
    r"a+b",
    r"(?i)cmd\.exe$",
    r"-e(nc)?\s+[a-z0-9+/=]{4,}",
    r"^$",
    r"\d{2,3}",
    r"[^\\]+\.dll",
];

impl<'s> Gen<'s> {
    fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.rng.chance(percent)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        self.rng.pick_ref(items)
    }

    fn word(&mut self) -> String {
        (*self.pick(WORDS)).to_string()
    }

    fn field(&mut self, event: &str, name: &str) -> FieldRef {
        if let Some(f) = self.field_ids.get(&(event.to_string(), name.to_string())) {
            return *f;
        }
        let def = self
            .schema
            .event(event)
            .and_then(|(_, e)| e.field(name))
            .map(|(_, d)| d.clone())
            .expect("generator picks fields from the schema");
        let id = FieldRef(self.program.fields.len() as u32);
        self.program.fields.push(FieldReq {
            event: event.to_string(),
            field: name.to_string(),
            ty: def.ty,
            max_len: def.max_len,
            max_items: def.max_items,
        });
        self.field_ids
            .insert((event.to_string(), name.to_string()), id);
        id
    }

    /// A random field of `event` with type `ty`, if it has one.
    fn field_of(&mut self, event: &str, ty: Ty) -> Option<FieldRef> {
        let names: Vec<String> = self
            .schema
            .event(event)?
            .1
            .fields
            .iter()
            .filter(|f| f.ty == ty)
            .map(|f| f.name.clone())
            .collect();
        if names.is_empty() {
            return None;
        }
        let name = self.pick(&names).clone();
        Some(self.field(event, &name))
    }

    fn string(&mut self, s: String) -> StrId {
        if let Some(id) = self.string_ids.get(&s) {
            return *id;
        }
        let id = StrId(self.program.strings.len() as u32);
        self.program.strings.push(s.clone());
        self.string_ids.insert(s, id);
        id
    }

    fn call(&mut self, name: &'static str) -> CallId {
        if let Some(c) = self.call_ids.get(name) {
            return *c;
        }
        let (_, def) = builtins::lookup(name).expect("generator calls registry builtins");
        let params = def
            .params
            .iter()
            .map(|p| match p {
                ParamTy::Exact(t) => *t,
                ParamTy::StrOrList | ParamTy::FieldRef(_) => Ty::STR,
            })
            .collect();
        let id = CallId(self.program.builtins.len() as u16);
        self.program.builtins.push(BuiltinRef {
            name: name.to_string(),
            params,
            ret: def.ret,
        });
        self.call_ids.insert(name, id);
        id
    }

    fn str_list(&mut self) -> ListId {
        let n = self.below(5);
        let items = (0..n).map(|_| Const::Str(self.word())).collect();
        self.push_list(Scalar::Str, items)
    }

    fn push_list(&mut self, elem: Scalar, items: Vec<Const>) -> ListId {
        let id = ListId(self.program.lists.len() as u32);
        self.program.lists.push(ConstList { elem, items });
        id
    }

    fn event_name(&mut self) -> String {
        let names: Vec<String> = self.schema.events.iter().map(|e| e.name.clone()).collect();
        self.pick(&names).clone()
    }
}

/// One rule's arena under construction.
struct Arena {
    exprs: Vec<Expr>,
}

impl Arena {
    fn push(&mut self, ty: Ty, kind: ExprKind) -> ExprId {
        self.exprs.push(Expr { ty, kind });
        ExprId(self.exprs.len() as u32 - 1)
    }
}

impl Gen<'_> {
    fn rule_shell(
        &mut self,
        r: u64,
        kind: RuleKind,
        exprs: Vec<Expr>,
        emit: Vec<TemplatePart>,
    ) -> Rule {
        Rule {
            id: format!("rule_{r}"),
            name: format!("rule_{r}"),
            title: format!("generated rule {r}"),
            severity: *self.pick(&[Severity::Low, Severity::Medium, Severity::High]),
            shadow: self.chance(10),
            meta: Vec::new(),
            exprs,
            kind,
            emit,
            fields: Vec::new(),
        }
    }

    fn single_rule(&mut self, r: u64) -> Rule {
        let event = self.event_name();
        let mut a = Arena { exprs: Vec::new() };
        let scope = Scope {
            event: &event,
            locals: &[],
            captures: &[],
            light: false,
        };
        let cond = if self.chance(95) {
            Some(self.bool_expr(&mut a, scope, 3))
        } else {
            None
        };
        let mut emit = vec![TemplatePart::Lit("hit: ".to_string())];
        if self.chance(50) {
            let e = self.str_expr(&mut a, scope, 1);
            emit.push(TemplatePart::Expr(e));
        }
        let mut rule = self.rule_shell(
            r,
            RuleKind::Single {
                events: vec![event.clone()],
                cond,
            },
            Vec::new(),
            emit,
        );
        if self.chance(30) {
            let e = self.int_expr(&mut a, scope, 1);
            rule.fields.push(("value".to_string(), e));
        }
        rule.exprs = a.exprs;
        rule
    }

    fn threshold_rule(&mut self, r: u64) -> Rule {
        let event = "process_start".to_string();
        let mut a = Arena { exprs: Vec::new() };
        let scope = Scope {
            event: &event,
            locals: &[],
            captures: &[],
            light: false,
        };
        let cond = Some(self.bool_expr(&mut a, scope, 2));
        let key = vec![self.field(&event, "user")];
        let counting = if self.chance(50) {
            Counting::Distinct(self.field(&event, "image"))
        } else {
            Counting::Count
        };
        let count = 1 + self.below(20);
        let mut rule = self.rule_shell(
            r,
            RuleKind::Threshold(ThresholdDef {
                events: vec![event],
                cond,
                counting,
                count,
                within_ns: 60_000_000_000,
                key: vec![key],
                state: StateDecl {
                    capacity: 1024,
                    per_key: count as u32,
                    capture_len: 0,
                },
            }),
            Vec::new(),
            Vec::new(),
        );
        rule.exprs = a.exprs;
        rule
    }

    fn sequence_rule(&mut self, r: u64) -> Rule {
        let first = "process_start".to_string();
        let second = "network_connect".to_string();
        let mut a = Arena { exprs: Vec::new() };
        let image = self.field(&first, "image");
        let captures = vec![Capture {
            step: 0,
            field: image,
        }];
        let s0 = Scope {
            event: &first,
            locals: &[],
            captures: &[],
            light: false,
        };
        let cond0 = Some(self.bool_expr(&mut a, s0, 2));
        let s1 = Scope {
            event: &second,
            locals: &[],
            captures: &[(0, Ty::STR)],
            light: false,
        };
        let cond1 = Some(self.bool_expr(&mut a, s1, 2));
        let cap = a.push(Ty::STR, ExprKind::Captured(CaptureId(0)));
        let port = self.field(&second, "dest_port");
        let port_read = a.push(Ty::INT, ExprKind::Field(port));
        let pid0 = self.field(&first, "pid");
        let pid1 = self.field(&second, "pid");
        let mut rule = self.rule_shell(
            r,
            RuleKind::Sequence(SequenceDef {
                steps: vec![
                    StepDef {
                        name: "spawn".to_string(),
                        event: first,
                        cond: cond0,
                        key: vec![pid0],
                    },
                    StepDef {
                        name: "connect".to_string(),
                        event: second,
                        cond: cond1,
                        key: vec![pid1],
                    },
                ],
                within_ns: 30_000_000_000,
                captures,
                state: StateDecl {
                    capacity: 4096,
                    per_key: 2,
                    capture_len: 256,
                },
            }),
            Vec::new(),
            vec![
                TemplatePart::Expr(cap),
                TemplatePart::Lit(" connected to port ".to_string()),
                TemplatePart::Expr(port_read),
            ],
        );
        rule.exprs = a.exprs;
        rule
    }

    fn bool_expr(&mut self, a: &mut Arena, s: Scope<'_>, depth: u32) -> ExprId {
        let choice = if depth == 0 {
            self.below(6)
        } else {
            self.below(13)
        };
        match choice {
            0 => a.push(Ty::BOOL, ExprKind::Bool(self.chance(50))),
            1 => {
                let lhs = self.str_expr(a, s, depth.saturating_sub(1));
                let rhs_text = self.word();
                let rhs = a.push(Ty::STR, ExprKind::Str(self.string(rhs_text)));
                let op = *self.pick(&[
                    StrTest::Eq,
                    StrTest::Contains,
                    StrTest::StartsWith,
                    StrTest::EndsWith,
                ]);
                if s.light && op == StrTest::Contains {
                    return a.push(Ty::BOOL, ExprKind::Bool(true));
                }
                let fold = self.chance(50);
                a.push(Ty::BOOL, ExprKind::StrTest { op, fold, lhs, rhs })
            }
            2 => {
                let lhs = self.str_expr(a, s, depth.saturating_sub(1));
                let list = self.str_list();
                let op = *self.pick(&[
                    StrTest::Eq,
                    StrTest::StartsWith,
                    StrTest::EndsWith,
                    StrTest::Contains,
                ]);
                let op = if s.light && op == StrTest::Contains {
                    StrTest::Eq
                } else {
                    op
                };
                let fold = self.chance(50);
                let quant = *self.pick(&[Quant::Any, Quant::All]);
                a.push(
                    Ty::BOOL,
                    ExprKind::StrList {
                        op,
                        fold,
                        quant,
                        lhs,
                        list,
                    },
                )
            }
            3 => {
                let x = self.int_expr(a, s, depth.saturating_sub(1));
                let y = self.int_expr(a, s, depth.saturating_sub(1));
                let op = *self.pick(&[
                    CmpOp::Eq,
                    CmpOp::Ne,
                    CmpOp::Lt,
                    CmpOp::Le,
                    CmpOp::Gt,
                    CmpOp::Ge,
                ]);
                a.push(Ty::BOOL, ExprKind::Cmp(op, x, y))
            }
            4 => match self.field_of(s.event, Ty::IP) {
                Some(f) => {
                    let lhs = a.push(Ty::IP, ExprKind::Field(f));
                    let items = vec![
                        Const::Cidr(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8),
                        Const::Cidr(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 0)), 16),
                        Const::Ip(IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8))),
                    ];
                    let l = self.push_list(Scalar::Cidr, items);
                    let list = a.push(Ty::List(Scalar::Cidr), ExprKind::List(l));
                    a.push(
                        Ty::BOOL,
                        ExprKind::Member {
                            lhs,
                            list,
                            fold: false,
                        },
                    )
                }
                None => {
                    let f = self.field(s.event, "host");
                    a.push(Ty::BOOL, ExprKind::Exists(f))
                }
            },
            5 => match self.field_of(s.event, Ty::STR) {
                Some(f) if self.chance(50) => a.push(Ty::BOOL, ExprKind::Truncated(f)),
                Some(f) => a.push(Ty::BOOL, ExprKind::Exists(f)),
                None => a.push(Ty::BOOL, ExprKind::Bool(false)),
            },
            6 => {
                let e = self.bool_expr(a, s, depth - 1);
                a.push(Ty::BOOL, ExprKind::Not(e))
            }
            7 | 8 => {
                let n = self.below(4);
                let ops: Vec<ExprId> = (0..n).map(|_| self.bool_expr(a, s, depth - 1)).collect();
                if choice == 7 {
                    a.push(Ty::BOOL, ExprKind::And(ops))
                } else {
                    a.push(Ty::BOOL, ExprKind::Or(ops))
                }
            }
            9 if !s.light => {
                let lhs = self.str_expr(a, s, depth - 1);
                let pattern = (*self.pick(PATTERNS)).to_string();
                let regex = RegexId(self.program.regexes.len() as u32);
                self.program.regexes.push(pattern);
                a.push(Ty::BOOL, ExprKind::Matches { lhs, regex })
            }
            10 if s.locals.len() < 2 => match self.field_of(s.event, Ty::List(Scalar::Str)) {
                Some(f) => {
                    let list = a.push(Ty::List(Scalar::Str), ExprKind::Field(f));
                    let level = s.locals.len() as u16;
                    let mut locals = s.locals.to_vec();
                    locals.push((level, Scalar::Str));
                    let inner = Scope {
                        locals: &locals,
                        light: true,
                        ..s
                    };
                    let body = self.bool_expr(a, inner, depth - 1);
                    let quant = *self.pick(&[Quant::Any, Quant::All]);
                    a.push(
                        Ty::BOOL,
                        ExprKind::Quant {
                            quant,
                            local: LocalId(level),
                            list,
                            body,
                        },
                    )
                }
                None => a.push(Ty::BOOL, ExprKind::Bool(true)),
            },
            11 => {
                let lhs = self.str_expr(a, s, depth - 1);
                let l = self.str_list();
                let list = a.push(Ty::List(Scalar::Str), ExprKind::List(l));
                let fold = self.chance(50);
                a.push(Ty::BOOL, ExprKind::Member { lhs, list, fold })
            }
            _ if s.light => {
                let x = self.str_expr(a, s, depth - 1);
                let w = self.word();
                let y = a.push(Ty::STR, ExprKind::Str(self.string(w)));
                a.push(Ty::BOOL, ExprKind::Cmp(CmpOp::Ne, x, y))
            }
            _ => {
                let x = self.str_expr(a, s, depth - 1);
                let y = self.str_expr(a, s, depth - 1);
                a.push(Ty::BOOL, ExprKind::Cmp(CmpOp::Eq, x, y))
            }
        }
    }

    fn str_expr(&mut self, a: &mut Arena, s: Scope<'_>, depth: u32) -> ExprId {
        // No builtin calls on strings inside quantifier bodies: 64 items of 98,304 bytes each
        // would exceed the rule budget.
        let choice = self.below(if depth == 0 || s.light { 4 } else { 6 });
        match choice {
            0 | 1 => match self.field_of(s.event, Ty::STR) {
                Some(f) => a.push(Ty::STR, ExprKind::Field(f)),
                None => {
                    let w = self.word();
                    a.push(Ty::STR, ExprKind::Str(self.string(w)))
                }
            },
            2 => {
                if let Some(&(level, Scalar::Str)) = s.locals.last() {
                    return a.push(Ty::STR, ExprKind::Local(LocalId(level)));
                }
                if let Some(&(c, ty)) = s.captures.first() {
                    return a.push(ty, ExprKind::Captured(CaptureId(c)));
                }
                let w = self.word();
                a.push(Ty::STR, ExprKind::Str(self.string(w)))
            }
            3 => {
                let w = self.word();
                a.push(Ty::STR, ExprKind::Str(self.string(w)))
            }
            4 => {
                let name = *self.pick(&table().str_to_str);
                let arg = self.str_expr(a, s, depth - 1);
                let call = self.call(name);
                a.push(
                    Ty::STR,
                    ExprKind::Call {
                        builtin: call,
                        args: vec![arg],
                    },
                )
            }
            _ => {
                let arg = self.str_expr(a, s, depth - 1);
                let start = self.int_expr(a, s, 0);
                let len = self.int_expr(a, s, 0);
                let name = choose(&mut self.rng, &table().slices);
                let call = self.call(name);
                a.push(
                    Ty::STR,
                    ExprKind::Call {
                        builtin: call,
                        args: vec![arg, start, len],
                    },
                )
            }
        }
    }

    fn int_expr(&mut self, a: &mut Arena, s: Scope<'_>, depth: u32) -> ExprId {
        let choice = self.below(if depth == 0 { 3 } else { 6 });
        match choice {
            0 => {
                let v = *self.pick(&[0i64, 1, -1, 7, i64::MIN, i64::MAX, 443, 1000]);
                a.push(Ty::INT, ExprKind::Int(v))
            }
            1 | 2 => match self.field_of(s.event, Ty::INT) {
                Some(f) => a.push(Ty::INT, ExprKind::Field(f)),
                None => a.push(Ty::INT, ExprKind::Int(3)),
            },
            3 => {
                let x = self.int_expr(a, s, depth - 1);
                let y = self.int_expr(a, s, depth - 1);
                let op = *self.pick(&[
                    ArithOp::Add,
                    ArithOp::Sub,
                    ArithOp::Mul,
                    ArithOp::Div,
                    ArithOp::Rem,
                ]);
                a.push(Ty::INT, ExprKind::Arith(op, x, y))
            }
            4 => {
                let x = self.int_expr(a, s, depth - 1);
                a.push(Ty::INT, ExprKind::Neg(x))
            }
            _ => {
                // Inside a quantifier body only builtins of constant cost (see `str_expr`).
                let name = if s.light {
                    choose(&mut self.rng, &table().cheap_str_to_int)
                } else {
                    *self.pick(&table().str_to_int)
                };
                let arg = self.str_expr(a, s, depth - 1);
                let call = self.call(name);
                a.push(
                    Ty::INT,
                    ExprKind::Call {
                        builtin: call,
                        args: vec![arg],
                    },
                )
            }
        }
    }
}
