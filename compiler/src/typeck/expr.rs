//! The typing rule of each node kind, and literal coercion (`"8.8.8.8"` read as an `ip`,
//! `["10.0.0.0/8"]` read as `[cidr]`, `[]` given its element type by context).

use vigil_runtime::builtins::{self, ParamTy};
use vigil_runtime::ir::{CmpOp, Quant, StrTest};
use vigil_runtime::types::{Scalar, Ty};
use vigil_runtime::value::{parse_ip, Cidr};

use super::regex::{check_pattern, RegexError, REGEX_SIZE_LIMIT};
use super::{Checker, Type};
use crate::diag::{Diagnostic, ErrorCode};
use crate::hir::{ExprId, ExprKind, ParamType};

fn str_op_name(op: StrTest, fold: bool) -> &'static str {
    match (op, fold) {
        (StrTest::Eq, true) => "ieq",
        (StrTest::Eq, false) => "==",
        (StrTest::Contains, false) => "contains",
        (StrTest::Contains, true) => "icontains",
        (StrTest::StartsWith, false) => "startswith",
        (StrTest::StartsWith, true) => "istartswith",
        (StrTest::EndsWith, false) => "endswith",
        (StrTest::EndsWith, true) => "iendswith",
    }
}

fn cmp_name(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

impl Checker<'_> {
    fn t(&self, id: ExprId) -> Type {
        self.types
            .get(id.0 as usize)
            .cloned()
            .unwrap_or(Type::Error)
    }

    fn span(&self, id: ExprId) -> vigil_grammar::span::Span {
        self.module.expr(id).span
    }

    /// Rewrites a literal so that it has type `want` where it can: a string literal as an
    /// `ip` or `cidr` (reporting one that does not parse), a list literal item by item, `[]`
    /// as `[T]`. Other nodes are left alone; the caller compares types afterwards.
    pub(crate) fn coerce(&mut self, id: ExprId, want: Ty) {
        let i = id.0 as usize;
        let kind = self.module.expr(id).kind.clone();
        match (kind, want) {
            (ExprKind::Str(s), Ty::Scalar(Scalar::Ip)) => match parse_ip(&s.value) {
                Some(ip) => {
                    self.module.exprs[i].kind = ExprKind::Ip(ip);
                    self.types[i] = Type::Value(Ty::IP);
                }
                None => {
                    let help = if s.value.contains('/') {
                        "a network prefix matches only in a list: `x in [\"10.0.0.0/8\"]`"
                    } else {
                        "write an IPv4 or IPv6 address, such as `10.0.0.1` or `fe80::1`"
                    };
                    let d = Diagnostic::error(
                        ErrorCode::InvalidIp,
                        self.span(id),
                        format!("`{}` is not an IP address", s.value),
                        "expected an `ip`",
                    )
                    .with_help(help);
                    self.push(d);
                    self.module.exprs[i].kind = ExprKind::Error;
                    self.types[i] = Type::Error;
                }
            },
            (ExprKind::Str(s), Ty::Scalar(Scalar::Cidr)) => match Cidr::parse(&s.value) {
                Some(c) => {
                    self.module.exprs[i].kind = ExprKind::Cidr(c.addr, c.prefix);
                    self.types[i] = Type::Value(Ty::CIDR);
                }
                None => {
                    let d = Diagnostic::error(
                        ErrorCode::InvalidCidr,
                        self.span(id),
                        format!("`{}` is not a network prefix", s.value),
                        "expected a `cidr`",
                    )
                    .with_help("write `address/length`, such as `10.0.0.0/8` or `fe80::/10`, or a plain address");
                    self.push(d);
                    self.module.exprs[i].kind = ExprKind::Error;
                    self.types[i] = Type::Error;
                }
            },
            (ExprKind::List(items), Ty::List(s)) => {
                for &item in &items {
                    self.coerce(item, Ty::Scalar(s));
                }
                if items.is_empty() {
                    self.types[i] = Type::Value(want);
                } else if !items.iter().any(|x| self.t(*x).is_error()) {
                    self.types[i] = self.list_literal_type(&items, false);
                } else {
                    self.types[i] = Type::Error;
                }
            }
            _ => {}
        }
    }

    /// The type of a list literal from its (typed) items; reports mixed items when `report`.
    fn list_literal_type(&mut self, items: &[ExprId], report: bool) -> Type {
        let mut first: Option<(Ty, ExprId)> = None;
        for &item in items {
            match self.t(item) {
                Type::Value(t @ Ty::Scalar(_)) => match first {
                    None => first = Some((t, item)),
                    Some((f, fi)) if f != t => {
                        if !report {
                            return Type::Error;
                        }
                        let d = Diagnostic::error(
                            ErrorCode::MixedListTypes,
                            self.span(item),
                            format!("list mixes `{f}` and `{t}` items"),
                            super::a_type(t.scalar()),
                        )
                        .with_label(self.span(fi), format!("the list is `[{f}]` from here"))
                        .with_help("every item of a list has one type");
                        self.push(d);
                        return Type::Error;
                    }
                    Some(_) => {}
                },
                _ => return Type::Error,
            }
        }
        match first {
            Some((t, _)) => Type::Value(Ty::List(t.scalar())),
            None => Type::EmptyList,
        }
    }

    fn mismatch(&mut self, at: ExprId, message: String, label: String) {
        let d = Diagnostic::error(ErrorCode::TypeMismatch, self.span(at), message, label);
        self.push(d);
    }

    /// Requires `id` to have type `want` (after coercion); reports with `code` otherwise.
    fn expect(&mut self, id: ExprId, want: Ty, code: ErrorCode, what: &str) -> bool {
        self.coerce(id, want);
        let t = self.t(id);
        if t.is_error() || t == Type::Value(want) || (t == Type::EmptyList && want.is_list()) {
            return !t.is_error();
        }
        let d = Diagnostic::error(
            code,
            self.span(id),
            format!("{what} must be `{want}`, but this is {}", self.describe(&t)),
            format!("expected `{want}`"),
        );
        self.push(d);
        false
    }

    /// Types node `id` from its operands.
    pub(crate) fn node(&mut self, id: ExprId) -> Type {
        let kind = self.module.expr(id).kind.clone();
        match kind {
            ExprKind::Bool(_) => Type::BOOL,
            ExprKind::Int(_) => Type::INT,
            ExprKind::Str(_) => Type::STR,
            ExprKind::Ip(_) => Type::Value(Ty::IP),
            ExprKind::Cidr(..) => Type::Value(Ty::CIDR),
            ExprKind::Error => Type::Error,
            ExprKind::List(items) => {
                if items.iter().any(|x| self.t(*x).is_error()) {
                    Type::Error
                } else {
                    // Named lists' items were checked (and reported) with the list.
                    let report = !self.list_roots.contains(&id);
                    self.list_literal_type(&items, report)
                }
            }
            ExprKind::ListRef(l) => match self.module.list(l).elem {
                Some(s) => Type::Value(Ty::List(s)),
                None => Type::Error,
            },
            ExprKind::Field { field, .. } => Type::Value(field.ty),
            ExprKind::Event { events } => Type::Event(events),
            ExprKind::Step { event, .. } => Type::Event(vec![event]),
            ExprKind::Param { func, index } => {
                match &self.module.func(func).params[index as usize].ty {
                    ParamType::Value(t) => Type::Value(*t),
                    ParamType::Event(e) => Type::Event(vec![e.id]),
                    ParamType::Unknown => Type::Error,
                }
            }
            ExprKind::Binder(b) => match self.t(self.module.binder(b).list) {
                Type::Value(Ty::List(s)) => Type::Value(Ty::Scalar(s)),
                _ => Type::Error,
            },
            ExprKind::Exists(c) => {
                if !matches!(
                    self.module.expr(c).kind,
                    ExprKind::Field { .. } | ExprKind::Error
                ) {
                    let d = Diagnostic::error(
                        ErrorCode::NotAField,
                        self.span(c),
                        "`exists` takes a field",
                        "not a field",
                    )
                    .with_help("write `exists(field)` or `exists(step.field)`");
                    self.push(d);
                }
                Type::BOOL
            }
            ExprKind::Not(c) => {
                self.expect(c, Ty::BOOL, ErrorCode::TypeMismatch, "the operand of `not`");
                Type::BOOL
            }
            ExprKind::Neg(c) => {
                self.expect(c, Ty::INT, ErrorCode::TypeMismatch, "the operand of `-`");
                Type::INT
            }
            ExprKind::And(v) | ExprKind::Or(v) => {
                let word = if matches!(self.module.expr(id).kind, ExprKind::And(_)) {
                    "and"
                } else {
                    "or"
                };
                for c in v {
                    self.expect(
                        c,
                        Ty::BOOL,
                        ErrorCode::TypeMismatch,
                        &format!("an operand of `{word}`"),
                    );
                }
                Type::BOOL
            }
            ExprKind::Arith(_, a, b) => {
                self.expect(a, Ty::INT, ErrorCode::TypeMismatch, "an arithmetic operand");
                self.expect(b, Ty::INT, ErrorCode::TypeMismatch, "an arithmetic operand");
                Type::INT
            }
            ExprKind::Cmp(op, a, b) => {
                self.cmp(id, op, a, b);
                Type::BOOL
            }
            ExprKind::StrTest { op, fold, lhs, rhs } => {
                self.str_test(op, fold, lhs, rhs);
                Type::BOOL
            }
            ExprKind::StrList {
                op,
                fold,
                quant,
                lhs,
                list,
            } => {
                self.str_list(op, fold, quant, lhs, list);
                Type::BOOL
            }
            ExprKind::Member { lhs, list, fold } => {
                self.member(lhs, list, fold);
                Type::BOOL
            }
            ExprKind::Matches { lhs, pattern } => {
                self.expect(
                    lhs,
                    Ty::STR,
                    ErrorCode::TypeMismatch,
                    "the subject of `matches`",
                );
                self.pattern(pattern);
                Type::BOOL
            }
            ExprKind::CallFn { func, args } => self.call_fn(id, func, &args),
            ExprKind::CallBuiltin { builtin, args } => self.call_builtin(id, builtin, &args),
            ExprKind::Quant {
                quant, list, body, ..
            } => {
                match self.t(list) {
                    Type::Value(Ty::List(_)) | Type::Error => {}
                    Type::EmptyList => self.empty_list_warning(list, quant),
                    other => {
                        let d = Diagnostic::error(
                            ErrorCode::NotAList,
                            self.span(list),
                            format!(
                                "a quantifier ranges over a list, but this is `{}`",
                                self.show(&other)
                            ),
                            "not a list",
                        )
                        .with_help("quantify over a list field such as `args`, or a list");
                        self.push(d);
                    }
                }
                let bt = self.t(body);
                if !bt.is_error() && bt != Type::BOOL {
                    let d = Diagnostic::error(
                        ErrorCode::ConditionNotBool,
                        self.span(body),
                        format!(
                            "the condition of a quantifier is `{}`, not `bool`",
                            self.show(&bt)
                        ),
                        "not a bool",
                    );
                    self.push(d);
                }
                Type::BOOL
            }
        }
    }

    fn empty_list_warning(&mut self, list: ExprId, quant: Quant) {
        let (q, b) = match quant {
            Quant::Any => ("any", "false"),
            Quant::All => ("all", "true"),
        };
        let d = Diagnostic::warning(
            ErrorCode::EmptyAnyAll,
            self.span(list),
            format!("`{q}` over an empty list is always {b}"),
            "empty list",
        )
        .with_help("add items to the list, or remove the test");
        self.push(d);
    }

    fn cmp(&mut self, _id: ExprId, op: CmpOp, a: ExprId, b: ExprId) {
        if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            let what = format!("an operand of `{}`", cmp_name(op));
            self.expect(a, Ty::INT, ErrorCode::TypeMismatch, &what);
            self.expect(b, Ty::INT, ErrorCode::TypeMismatch, &what);
            return;
        }
        // A string literal on one side is read as the other side's scalar type (an `ip`).
        if let Type::Value(t @ Ty::Scalar(Scalar::Ip)) = self.t(a) {
            self.coerce(b, t);
        }
        if let Type::Value(t @ Ty::Scalar(Scalar::Ip)) = self.t(b) {
            self.coerce(a, t);
        }
        let (ta, tb) = (self.t(a), self.t(b));
        if ta.is_error() || tb.is_error() {
            return;
        }
        for (side, t) in [(a, &ta), (b, &tb)] {
            match t {
                Type::Value(Ty::List(_)) | Type::EmptyList => {
                    let d = Diagnostic::error(
                        ErrorCode::TypeMismatch,
                        self.span(side),
                        format!("lists cannot be compared with `{}`", cmp_name(op)),
                        format!("this is `{}`", self.show(t)),
                    )
                    .with_help("test membership with `in`, or quantify with `any(x in list, ...)`");
                    self.push(d);
                    return;
                }
                Type::Event(_) => {
                    let d = Diagnostic::error(
                        ErrorCode::TypeMismatch,
                        self.span(side),
                        format!("events cannot be compared with `{}`", cmp_name(op)),
                        format!("this is a `{}`", self.show(t)),
                    )
                    .with_help("compare their fields instead");
                    self.push(d);
                    return;
                }
                _ => {}
            }
        }
        if ta != tb {
            let d = Diagnostic::error(
                ErrorCode::TypeMismatch,
                self.span(b),
                format!(
                    "`{}` compares values of one type, but these are `{}` and `{}`",
                    cmp_name(op),
                    self.show(&ta),
                    self.show(&tb)
                ),
                format!("this is `{}`", self.show(&tb)),
            )
            .with_label(self.span(a), format!("this is `{}`", self.show(&ta)));
            self.push(d);
        }
    }

    fn fold_on_non_string(&mut self, at: ExprId, op: &str, t: &Type, help: &str) {
        let d = Diagnostic::error(
            ErrorCode::CaseFoldOnNonString,
            self.span(at),
            format!("`{op}` compares strings, but this is `{}`", self.show(t)),
            "not a string",
        )
        .with_help(help.to_owned())
        .with_note("case folding only means something for strings");
        self.push(d);
    }

    fn str_test(&mut self, op: StrTest, fold: bool, lhs: ExprId, rhs: ExprId) {
        let name = str_op_name(op, fold);
        for side in [lhs, rhs] {
            let t = self.t(side);
            if t.is_error() || t == Type::STR {
                continue;
            }
            if op == StrTest::Eq && fold {
                self.fold_on_non_string(side, name, &t, "use `==`");
            } else {
                self.mismatch(
                    side,
                    format!("`{name}` takes strings, but this is `{}`", self.show(&t)),
                    "expected `string`".to_owned(),
                );
            }
        }
    }

    fn is_constant_list(&self, id: ExprId) -> bool {
        matches!(
            self.module.expr(id).kind,
            ExprKind::List(_) | ExprKind::ListRef(_) | ExprKind::Error
        )
    }

    fn str_list(&mut self, op: StrTest, fold: bool, quant: Quant, lhs: ExprId, list: ExprId) {
        let name = str_op_name(op, fold);
        let t = self.t(lhs);
        if !t.is_error() && t != Type::STR {
            if op == StrTest::Eq && fold {
                self.fold_on_non_string(lhs, name, &t, "use `in` to test membership");
            } else {
                self.mismatch(
                    lhs,
                    format!("`{name}` takes strings, but this is `{}`", self.show(&t)),
                    "expected `string`".to_owned(),
                );
            }
        }
        if !self.is_constant_list(list) {
            let d = Diagnostic::error(
                ErrorCode::NotConstant,
                self.span(list),
                format!(
                    "`{name} {}` takes a constant list",
                    if quant == Quant::Any { "any" } else { "all" }
                ),
                "not a list literal or a named list",
            )
            .with_help("for a list field, quantify: `any(x in field, x contains \"...\")`");
            self.push(d);
            return;
        }
        self.coerce(list, Ty::List(Scalar::Str));
        let empty = match &self.module.expr(list).kind {
            ExprKind::List(items) => items.is_empty(),
            ExprKind::ListRef(l) => {
                self.module.list(*l).values.is_empty() && self.module.list(*l).elem.is_some()
            }
            _ => false,
        };
        if empty {
            self.empty_list_warning(list, quant);
        }
        let lt = self.t(list);
        if !lt.is_error() && lt != Type::Value(Ty::List(Scalar::Str)) {
            self.mismatch(
                list,
                format!(
                    "`{name}` takes a list of strings, but this is `{}`",
                    self.show(&lt)
                ),
                "expected `[string]`".to_owned(),
            );
        }
    }

    fn member(&mut self, lhs: ExprId, list: ExprId, fold: bool) {
        let op = if fold { "iin" } else { "in" };
        // Context: an `ip` subject reads a list literal as `[cidr]`; an `[ip]`/`[cidr]` list
        // reads a string literal subject as an `ip`.
        if self.t(lhs) == Type::Value(Ty::IP) {
            if matches!(self.module.expr(list).kind, ExprKind::List(_)) {
                self.coerce(list, Ty::List(Scalar::Cidr));
            }
        } else if let Type::Value(Ty::List(Scalar::Ip | Scalar::Cidr)) = self.t(list) {
            self.coerce(lhs, Ty::IP);
        } else if let Type::Value(Ty::Scalar(s)) = self.t(lhs) {
            if matches!(self.module.expr(list).kind, ExprKind::List(_)) {
                self.coerce(list, Ty::List(s));
            }
        }
        let (tl, tr) = (self.t(lhs), self.t(list));
        if tl.is_error() || tr.is_error() {
            return;
        }
        let elem = match &tr {
            Type::Value(Ty::List(s)) => *s,
            Type::EmptyList => {
                let d = Diagnostic::warning(
                    ErrorCode::EmptyAnyAll,
                    self.span(list),
                    format!("`{op} []` is always false"),
                    "empty list",
                )
                .with_help("add items to the list, or remove the test");
                self.push(d);
                return;
            }
            other => {
                let d = Diagnostic::error(
                    ErrorCode::NotAList,
                    self.span(list),
                    format!(
                        "`{op}` tests membership in a list, but this is `{}`",
                        self.show(other)
                    ),
                    "not a list",
                )
                .with_help("write a list literal `[...]`, a list's name, or a list field");
                self.push(d);
                return;
            }
        };
        let Type::Value(Ty::Scalar(s)) = tl else {
            self.mismatch(
                lhs,
                format!("`{op}` tests one value, but this is `{}`", self.show(&tl)),
                "not a single value".to_owned(),
            );
            return;
        };
        if fold && (s != Scalar::Str || elem != Scalar::Str) {
            let (at, t) = if s != Scalar::Str {
                (lhs, tl.clone())
            } else {
                (list, tr.clone())
            };
            self.fold_on_non_string(at, "iin", &t, "use `in`");
            return;
        }
        if s == elem || (s == Scalar::Ip && elem == Scalar::Cidr) {
            return;
        }
        let mut d = Diagnostic::error(
            ErrorCode::TypeMismatch,
            self.span(list),
            format!("`{op}` needs a list of `{s}`, but this is `[{elem}]`"),
            format!("this is `[{elem}]`"),
        )
        .with_label(self.span(lhs), format!("this is `{s}`"));
        if s == Scalar::Ip && elem == Scalar::Str {
            if let ExprKind::ListRef(l) = self.module.expr(list).kind {
                let name = self.module.list(l).name.clone();
                d = d
                    .with_help(format!(
                        "declare the list as networks: `list {name}: [cidr] = [...]`"
                    ))
                    .with_note("a list's type is what it declares, or `[string]` for strings");
            }
        }
        self.push(d);
    }

    fn pattern(&mut self, pattern: ExprId) {
        let expr = self.module.expr(pattern).clone();
        let ExprKind::Str(lit) = &expr.kind else {
            if !matches!(expr.kind, ExprKind::Error) {
                let d = Diagnostic::error(
                    ErrorCode::NotConstant,
                    expr.span,
                    "the pattern of `matches` must be a string literal",
                    "not a string literal",
                )
                .with_help(
                    "write the regular expression as a literal, raw strings read best: `r\"...\"`",
                );
                self.push(d);
            }
            return;
        };
        match check_pattern(&lit.value) {
            Ok(()) => {}
            Err(RegexError::TooLarge) => {
                let d = Diagnostic::error(
                    ErrorCode::RegexTooLarge,
                    expr.span,
                    "regular expression is too large once compiled",
                    "over the size limit",
                )
                .with_note(format!(
                    "the compiled-size limit is {REGEX_SIZE_LIMIT} bytes"
                ))
                .with_help("lower the repetition counts, or split the pattern");
                self.push(d);
            }
            Err(RegexError::Syntax(message, range)) => {
                let span = match range {
                    Some((s, e)) => {
                        lit.span_of(expr.span, s, e.max(s + 1).min(lit.value.len().max(s)))
                    }
                    None => expr.span,
                };
                let d = Diagnostic::error(
                    ErrorCode::InvalidRegex,
                    span,
                    "invalid regular expression",
                    message,
                )
                .with_note("patterns use regex syntax without backreferences or look-around");
                self.push(d);
            }
            Err(RegexError::Other(message)) => {
                let d = Diagnostic::error(
                    ErrorCode::InvalidRegex,
                    expr.span,
                    "invalid regular expression",
                    message,
                );
                self.push(d);
            }
        }
    }

    fn arity(
        &mut self,
        call: ExprId,
        name: &str,
        want: usize,
        got: usize,
        decl: Option<vigil_grammar::span::Span>,
    ) -> bool {
        if want == got {
            return true;
        }
        let s = if want == 1 { "" } else { "s" };
        let mut d = Diagnostic::error(
            ErrorCode::WrongArgCount,
            self.span(call),
            format!("`{name}` takes {want} argument{s}, but {got} were given"),
            format!("{got} given"),
        );
        if let Some(decl) = decl {
            d = d.with_label(decl, "defined here");
        }
        self.push(d);
        false
    }

    fn call_fn(&mut self, call: ExprId, func: crate::hir::FnId, args: &[ExprId]) -> Type {
        let f = self.module.func(func).clone();
        let ret = if f.ret_known {
            Type::Value(f.ret)
        } else {
            Type::Error
        };
        if !self.arity(call, &f.name, f.params.len(), args.len(), Some(f.span)) {
            return ret;
        }
        for (p, &a) in f.params.iter().zip(args) {
            match &p.ty {
                ParamType::Unknown => {}
                ParamType::Value(t) => {
                    self.expect(
                        a,
                        *t,
                        ErrorCode::ArgTypeMismatch,
                        &format!("argument `{}` of `{}`", p.name, f.name),
                    );
                }
                ParamType::Event(e) => {
                    let t = self.t(a);
                    if t.is_error() || t == Type::Event(vec![e.id]) {
                        continue;
                    }
                    let d = Diagnostic::error(
                        ErrorCode::ArgTypeMismatch,
                        self.span(a),
                        format!(
                            "argument `{}` of `{}` must be a `{}` event, but this is {}",
                            p.name,
                            f.name,
                            e.name,
                            self.describe(&t)
                        ),
                        format!("expected a `{}` event", e.name),
                    )
                    .with_label(p.span, "parameter declared here")
                    .with_help("pass `event` in a rule on that event type, or a step of that type");
                    self.push(d);
                }
            }
        }
        ret
    }

    fn call_builtin(
        &mut self,
        call: ExprId,
        builtin: builtins::BuiltinId,
        args: &[ExprId],
    ) -> Type {
        let Some(b) = builtins::BUILTINS.get(builtin.0 as usize) else {
            return Type::Error;
        };
        let ret = Type::Value(b.ret);
        if !self.arity(call, b.name, b.params.len(), args.len(), None) {
            return ret;
        }
        for (i, (p, &a)) in b.params.iter().zip(args).enumerate() {
            let what = format!("argument {} of `{}`", i + 1, b.name);
            match p {
                ParamTy::Exact(t) => {
                    self.expect(a, *t, ErrorCode::ArgTypeMismatch, &what);
                }
                ParamTy::StrOrList => {
                    let t = self.t(a);
                    if !(t.is_error()
                        || t == Type::STR
                        || t == Type::EmptyList
                        || matches!(t, Type::Value(Ty::List(_))))
                    {
                        let d = Diagnostic::error(
                            ErrorCode::ArgTypeMismatch,
                            self.span(a),
                            format!(
                                "{what} must be a string or a list, but this is `{}`",
                                self.show(&t)
                            ),
                            "expected a string or a list",
                        );
                        self.push(d);
                    }
                }
                ParamTy::FieldRef(s) => {
                    let e = self.module.expr(a).clone();
                    match &e.kind {
                        ExprKind::Error => {}
                        ExprKind::Field { field, .. } if field.ty == Ty::Scalar(*s) => {}
                        ExprKind::Field { field, .. } => {
                            let d = Diagnostic::error(
                                ErrorCode::ArgTypeMismatch,
                                e.span,
                                format!(
                                    "{what} must be a `{s}` field, but `{}` is `{}`",
                                    field.name, field.ty
                                ),
                                format!("expected a `{s}` field"),
                            );
                            self.push(d);
                        }
                        _ => {
                            let d = Diagnostic::error(
                                ErrorCode::NotAField,
                                e.span,
                                format!("`{}` takes a field", b.name),
                                "not a field",
                            )
                            .with_help(format!(
                                "write `{}(field)` or `{}(step.field)`",
                                b.name, b.name
                            ));
                            self.push(d);
                        }
                    }
                }
            }
        }
        ret
    }
}
