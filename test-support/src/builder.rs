//! A tiny IR builder for tests (the runtime's interpreter, engine, JIT, prefilter and deploy
//! tests, and the [`crate::testgen::dense`] generator): programs over a schema (the endpoint
//! schema by default), bound and verified exactly as a bundle would be.

use std::net::IpAddr;

use vigil_runtime::bind::bind;
use vigil_runtime::budget::Budget;
use vigil_runtime::builtins::{self, ParamTy};
use vigil_runtime::ir::{
    BuiltinRef, CallId, Const, ConstList, Expr, ExprId, ExprKind, FieldRef, FieldReq, ListId,
    Program, RegexId, Rule, RuleId, RuleKind, SchemaRef, Severity, StrId, TemplatePart,
};
use vigil_runtime::schema::Schema;
use vigil_runtime::types::{Scalar, Ty};
use vigil_runtime::verify::{verify, Verified};

/// A program under construction.
pub struct Prog {
    /// The program so far.
    pub p: Program,
    /// The schema it is written against (and bound to by [`Prog::verify`]).
    pub schema: Schema,
}

/// One rule's expression arena under construction.
#[derive(Default)]
pub struct Rb {
    /// The rule's nodes so far.
    pub exprs: Vec<Expr>,
}

impl Rb {
    /// Appends a node; its id.
    pub fn e(&mut self, ty: Ty, kind: ExprKind) -> ExprId {
        self.exprs.push(Expr { ty, kind });
        ExprId(self.exprs.len() as u32 - 1)
    }
    /// A `bool` constant.
    pub fn bool(&mut self, b: bool) -> ExprId {
        self.e(Ty::BOOL, ExprKind::Bool(b))
    }
    /// An `int` constant.
    pub fn int(&mut self, i: i64) -> ExprId {
        self.e(Ty::INT, ExprKind::Int(i))
    }
    /// An `ip` constant, parsed from `ip` (panics on a bad address: a test bug).
    pub fn ip(&mut self, ip: &str) -> ExprId {
        let ip: IpAddr = ip.parse().expect("test ip");
        self.e(Ty::IP, ExprKind::Ip(ip))
    }
}

impl Default for Prog {
    fn default() -> Self {
        Prog::new()
    }
}

impl Prog {
    /// A program over the endpoint schema.
    pub fn new() -> Prog {
        Prog::with_schema(Schema::endpoint())
    }

    /// A program over `schema`.
    pub fn with_schema(schema: Schema) -> Prog {
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

    /// The id of string constant `s`, interned.
    pub fn string(&mut self, s: &str) -> StrId {
        if let Some(i) = self.p.strings.iter().position(|x| x == s) {
            return StrId(i as u32);
        }
        self.p.strings.push(s.into());
        StrId(self.p.strings.len() as u32 - 1)
    }

    /// A new constant list.
    pub fn list(&mut self, elem: Scalar, items: Vec<Const>) -> ListId {
        self.p.lists.push(ConstList { elem, items });
        ListId(self.p.lists.len() as u32 - 1)
    }

    /// A new constant list of strings.
    pub fn str_list(&mut self, items: &[&str]) -> ListId {
        self.list(
            Scalar::Str,
            items.iter().map(|s| Const::Str((*s).into())).collect(),
        )
    }

    /// A new regex constant.
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

    /// Sets the emit template and fields of the last rule: `build` adds nodes to its arena.
    pub fn emit(
        &mut self,
        rule: RuleId,
        build: impl FnOnce(&mut Prog, &mut Rb) -> (Vec<TemplatePart>, Vec<(String, ExprId)>),
    ) {
        let mut r = self.p.rules.remove(rule.0 as usize);
        let mut rb = Rb {
            exprs: std::mem::take(&mut r.exprs),
        };
        let (emit, fields) = build(self, &mut rb);
        r.exprs = rb.exprs;
        r.emit = emit;
        r.fields = fields;
        self.p.rules.insert(rule.0 as usize, r);
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

    /// Binds and verifies; panics with the verifier's messages (a test bug).
    pub fn verify(self) -> Verified {
        self.try_verify().unwrap_or_else(|e| panic!("verify: {e}"))
    }
}

/// Node helpers that need both the program and the arena: a read of `event`'s field `name`.
pub fn field(p: &mut Prog, rb: &mut Rb, event: &str, name: &str) -> ExprId {
    let (f, ty) = p.field(event, name);
    rb.e(ty, ExprKind::Field(f))
}

/// A string constant node.
pub fn str_const(p: &mut Prog, rb: &mut Rb, s: &str) -> ExprId {
    let id = p.string(s);
    rb.e(Ty::STR, ExprKind::Str(id))
}
