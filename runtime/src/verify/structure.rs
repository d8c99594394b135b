//! Per-rule expression checks, in three linear passes over the arena (no recursion):
//!
//! 1. ids: every operand id is below its node's id (E0403: the arena is a DAG in topological
//!    order, checked with one comparison per edge); every field, string, list, regex, builtin
//!    and capture index is in range (E0405, E0406); quantifier levels are below the limit
//!    (E0410); roots (conditions, `emit` parts, alert fields) are in the arena (E0407).
//! 2. bottom-up: each node's declared type against its kind and its operands' declared types
//!    (E0404, E0409); the height of the DAG (E0410); and quantifier scoping. For each node the
//!    pass keeps the set of quantifier variables free in it (with the type each is read at) and
//!    the lowest level any quantifier inside it binds. A quantifier at level `l` requires: its
//!    list has no free variable of level `>= l`; its body no free variable above `l`, and reads
//!    its own variable at the list's item type; every quantifier inside its body binds a
//!    level above `l` (so engines can keep variables in one array by level, never saving
//!    one). A root has no free variable (E0408).
//! 3. top-down: which roots reach each node (a bit per sequence step's condition, one for the
//!    alert's `emit` and `fields`, one for a single or threshold rule's condition), then each
//!    field read is checked to be of the event type every such root runs on (E0411) and each
//!    captured value to be read only after its step (E0412).

use super::{Cx, VerifyError};
use crate::budget::QUANT_LEVELS_CAP;
use crate::builtins::{self, ParamTy};
use crate::error::ErrorCode;
use crate::ir::{
    CallId, Capture, CmpOp, Expr, ExprId, ExprKind, FieldReq, Rule, RuleId, RuleKind, SequenceDef,
    TemplatePart,
};
use crate::types::{Scalar, Ty};

/// A scalar as a small nonzero code, for the per-node variable tables (0 is "not free").
fn code(s: Scalar) -> u8 {
    match s {
        Scalar::Bool => 1,
        Scalar::Int => 2,
        Scalar::Str => 3,
        Scalar::Ip => 4,
        Scalar::Cidr => 5,
    }
}

fn scalar_of(code: u8) -> &'static str {
    match code {
        1 => "bool",
        2 => "int",
        3 => "string",
        4 => "ip",
        5 => "cidr",
        _ => "?",
    }
}

const LEVELS: usize = QUANT_LEVELS_CAP as usize;
/// "No quantifier inside."
const NO_BIND: u8 = u8::MAX;
/// The context bit of the alert (`emit`, `fields`) of a sequence.
const OUTPUT_BIT: u32 = 1 << 31;
/// Steps whose contexts fit in a mask (the verifier refuses more than eight anyway).
const MASK_STEPS: usize = 30;

/// The rule's roots: `(node, context bits, must be bool)`.
fn roots(rule: &Rule) -> Vec<(ExprId, u32, bool)> {
    let mut out = Vec::new();
    let output = match &rule.kind {
        RuleKind::Single { cond, .. } => {
            out.extend(cond.map(|c| (c, 1, true)));
            1
        }
        RuleKind::Threshold(t) => {
            out.extend(t.cond.map(|c| (c, 1, true)));
            1
        }
        RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => {
            for (i, step) in seq.steps.iter().enumerate().take(MASK_STEPS) {
                out.extend(step.cond.map(|c| (c, 1u32 << i, true)));
            }
            OUTPUT_BIT
        }
    };
    for part in &rule.emit {
        if let TemplatePart::Expr(e) = part {
            out.push((*e, output, false));
        }
    }
    out.extend(rule.fields.iter().map(|(_, e)| (*e, output, false)));
    out
}

/// Checks one rule's expressions.
pub(super) fn check_rule(cx: &Cx<'_>, id: RuleId, rule: &Rule, errors: &mut Vec<VerifyError>) {
    let limits = &cx.budget.limits;
    let n = rule.exprs.len();
    if n > limits.max_nodes_per_rule as usize {
        errors.push(cx.err(
            ErrorCode::TooManyNodes,
            id,
            None,
            format!(
                "the rule has {n} expression nodes, the limit is {}",
                limits.max_nodes_per_rule
            ),
        ));
        return;
    }
    let before = errors.len();
    check_ids(cx, id, rule, errors);
    let roots = roots(rule);
    for &(root, _, _) in &roots {
        if root.0 as usize >= n {
            errors.push(cx.err(
                ErrorCode::ExprOutOfRange,
                id,
                None,
                format!("the rule names node {}, its arena has {n} nodes", root.0),
            ));
        }
    }
    if errors.len() > before {
        return; // the later passes index by these ids
    }
    check_types_and_scopes(cx, id, rule, &roots, errors);
    check_placement(cx, id, rule, &roots, errors);
}

fn captures(rule: &Rule) -> &[Capture] {
    match &rule.kind {
        RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => &seq.captures,
        _ => &[],
    }
}

/// Pass 1: operand order and index ranges.
fn check_ids(cx: &Cx<'_>, id: RuleId, rule: &Rule, errors: &mut Vec<VerifyError>) {
    let p = cx.program;
    let levels = usize::from(cx.budget.limits.max_quant_levels).min(LEVELS);
    let is_sequence = matches!(
        rule.kind,
        RuleKind::Sequence(_) | RuleKind::SequenceAnyOrder(_)
    );
    let captures = captures(rule);
    for (i, expr) in rule.exprs.iter().enumerate() {
        let eid = Some(ExprId(u32::try_from(i).unwrap_or(u32::MAX)));
        let mut late = None;
        expr.kind.for_each_operand(|o| {
            if o.0 as usize >= i && late.is_none() {
                late = Some(o);
            }
        });
        if let Some(o) = late {
            errors.push(cx.err(
                ErrorCode::OperandNotBefore,
                id,
                eid,
                format!("node {i} has operand {}, which does not precede it", o.0),
            ));
        }
        let range = |what: &str, index: u64, len: usize| -> Option<String> {
            (index >= len as u64)
                .then(|| format!("node {i} names {what} #{index}, the program has {len}"))
        };
        let fault = match &expr.kind {
            ExprKind::Field(f) | ExprKind::Exists(f) | ExprKind::Truncated(f) => {
                range("field", u64::from(f.0), p.fields.len())
                    .map(|m| (ErrorCode::FieldOutOfRange, m))
            }
            ExprKind::Str(s) => range("string", u64::from(s.0), p.strings.len())
                .map(|m| (ErrorCode::IndexOutOfRange, m)),
            ExprKind::List(l) | ExprKind::StrList { list: l, .. } => {
                range("constant list", u64::from(l.0), p.lists.len())
                    .map(|m| (ErrorCode::IndexOutOfRange, m))
            }
            ExprKind::Matches { regex, .. } => range("regex", u64::from(regex.0), p.regexes.len())
                .map(|m| (ErrorCode::IndexOutOfRange, m)),
            ExprKind::Call { builtin, .. } => {
                range("builtin", u64::from(builtin.0), p.builtins.len())
                    .map(|m| (ErrorCode::IndexOutOfRange, m))
            }
            ExprKind::Captured(c) => {
                if is_sequence {
                    range("capture", u64::from(c.0), captures.len())
                        .map(|m| (ErrorCode::IndexOutOfRange, m))
                } else {
                    Some((
                        ErrorCode::CapturedOutOfPlace,
                        format!("node {i} reads a captured value, but the rule is no sequence"),
                    ))
                }
            }
            ExprKind::Local(l) | ExprKind::Quant { local: l, .. } => (usize::from(l.0) >= levels)
                .then(|| {
                    (
                        ErrorCode::TooDeep,
                        format!(
                            "node {i} uses quantifier level {}, the limit is {levels} levels",
                            l.0
                        ),
                    )
                }),
            _ => None,
        };
        if let Some((code, message)) = fault {
            errors.push(cx.err(code, id, eid, message));
        }
    }
}

/// Pass 2: types, quantifier scopes, depth.
fn check_types_and_scopes(
    cx: &Cx<'_>,
    id: RuleId,
    rule: &Rule,
    roots: &[(ExprId, u32, bool)],
    errors: &mut Vec<VerifyError>,
) {
    let exprs = &rule.exprs;
    let max_depth = cx.budget.limits.max_depth;
    let mut scopes = Scopes::with_capacity(exprs.len());
    let mut depth_reported = false;

    for (i, expr) in exprs.iter().enumerate() {
        let eid = ExprId(u32::try_from(i).unwrap_or(u32::MAX));
        let mut fail = |code: ErrorCode, message: String| {
            errors.push(cx.err(code, id, Some(eid), message));
        };
        match node_type(cx, rule, expr) {
            Ok(t) if t != expr.ty => fail(
                ErrorCode::IllTyped,
                format!("node {i} is declared `{}`, but computes `{t}`", expr.ty),
            ),
            Ok(_) => {}
            Err((code, message)) => fail(code, message),
        }
        let h = scopes.push(exprs, expr, &mut fail);
        if h > max_depth && !depth_reported {
            depth_reported = true;
            fail(
                ErrorCode::TooDeep,
                format!("expressions nest {h} deep here, the limit is {max_depth}"),
            );
        }
    }

    for &(root, _, must_bool) in roots {
        let r = root.0 as usize;
        if let Some(level) = scopes
            .free
            .get(r)
            .and_then(|f| f.iter().position(|&c| c != 0))
        {
            errors.push(cx.err(
                ErrorCode::LocalOutOfScope,
                id,
                Some(root),
                format!("reads the quantifier variable of level {level} outside any quantifier"),
            ));
        }
        if must_bool {
            let t = declared(exprs, root);
            if t != Ty::BOOL {
                errors.push(cx.err(
                    ErrorCode::IllTyped,
                    id,
                    Some(root),
                    format!("the condition is `{t}`, it must be `bool`"),
                ));
            }
        }
    }
}

/// The declared type of node `e`. Ids were checked by pass 1: every operand is below its node,
/// so these reads are in range.
fn declared(exprs: &[Expr], e: ExprId) -> Ty {
    exprs.get(e.0 as usize).map_or(Ty::BOOL, |x| x.ty)
}

/// `Ok` when operand `e` is declared `want`; else the message, naming it as `what`.
fn need(exprs: &[Expr], e: ExprId, want: Ty, what: &str) -> Result<(), String> {
    let got = declared(exprs, e);
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{what} (node {}) is `{got}`, it must be `{want}`",
            e.0
        ))
    }
}

/// The type node `expr` computes from its kind and its operands' declared types, or the first
/// fault (E0404, E0409).
fn node_type(cx: &Cx<'_>, rule: &Rule, expr: &Expr) -> Result<Ty, (ErrorCode, String)> {
    use ExprKind as K;
    let p = cx.program;
    let exprs = &rule.exprs;
    let ty = |e: ExprId| declared(exprs, e);
    let need = |e: ExprId, want: Ty, what: &str| need(exprs, e, want, what);
    let ill = |m: String| (ErrorCode::IllTyped, m);
    Ok(match &expr.kind {
        K::Bool(_) | K::Exists(_) => Ty::BOOL,
        K::Int(_) => Ty::INT,
        K::Str(_) => Ty::STR,
        K::Ip(_) => Ty::IP,
        K::List(l) => Ty::List(p.lists.get(l.0 as usize).map_or(Scalar::Str, |l| l.elem)),
        K::Field(f) => p.fields.get(f.0 as usize).map_or(expr.ty, |r| r.ty),
        K::Truncated(f) => {
            let fty = p.fields.get(f.0 as usize).map_or(Ty::STR, |r| r.ty);
            if fty.scalar() != Scalar::Str {
                return Err(ill(format!("`truncated` of a field of type `{fty}`")));
            }
            Ty::BOOL
        }
        K::Captured(c) => captures(rule)
            .get(usize::from(c.0))
            .and_then(|cap| p.fields.get(cap.field.0 as usize))
            .map_or(expr.ty, |r| r.ty),
        K::Local(_) => {
            if expr.ty.is_list() {
                return Err(ill(format!(
                    "a quantifier variable is one item, not `{}`",
                    expr.ty
                )));
            }
            expr.ty
        }
        K::Not(e) => {
            need(*e, Ty::BOOL, "the operand of `not`").map_err(ill)?;
            Ty::BOOL
        }
        K::And(v) | K::Or(v) => {
            for e in v {
                need(*e, Ty::BOOL, "an operand of `and`/`or`").map_err(ill)?;
            }
            Ty::BOOL
        }
        K::Neg(e) => {
            need(*e, Ty::INT, "the operand of `-`").map_err(ill)?;
            Ty::INT
        }
        K::Arith(_, a, b) => {
            need(*a, Ty::INT, "the left operand of arithmetic").map_err(ill)?;
            need(*b, Ty::INT, "the right operand of arithmetic").map_err(ill)?;
            Ty::INT
        }
        K::Cmp(op, a, b) => {
            if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                let (ta, tb) = (ty(*a), ty(*b));
                if ta != tb || ta.is_list() {
                    return Err(ill(format!(
                        "`==`/`!=` compares two scalars of one type, not `{ta}` and `{tb}`"
                    )));
                }
            } else {
                need(*a, Ty::INT, "the left operand of an ordering").map_err(ill)?;
                need(*b, Ty::INT, "the right operand of an ordering").map_err(ill)?;
            }
            Ty::BOOL
        }
        K::StrTest { lhs, rhs, .. } => {
            need(*lhs, Ty::STR, "the subject of a string test").map_err(ill)?;
            need(*rhs, Ty::STR, "the pattern of a string test").map_err(ill)?;
            Ty::BOOL
        }
        K::StrList { lhs, list, .. } => {
            need(*lhs, Ty::STR, "the subject of a string test").map_err(ill)?;
            let elem = p.lists.get(list.0 as usize).map_or(Scalar::Str, |l| l.elem);
            if elem != Scalar::Str {
                return Err(ill(format!(
                    "a string test over a list of `{elem}` (list #{})",
                    list.0
                )));
            }
            Ty::BOOL
        }
        K::Member { lhs, list, fold } => member_type(ty(*lhs), ty(*list), *fold).map_err(ill)?,
        K::Matches { lhs, .. } => {
            need(*lhs, Ty::STR, "the subject of `matches`").map_err(ill)?;
            Ty::BOOL
        }
        K::Call { builtin, args } => call_type(cx, exprs, expr, *builtin, args).map_err(ill)?,
        K::Quant { list, body, .. } => {
            let tlist = ty(*list);
            if !tlist.is_list() {
                return Err((
                    ErrorCode::QuantOverNonList,
                    format!("the quantifier ranges over `{tlist}` (node {})", list.0),
                ));
            }
            need(*body, Ty::BOOL, "the body of a quantifier").map_err(ill)?;
            Ty::BOOL
        }
    })
}

/// The type of `lhs in list` (`iin` when `fold`), from the operands' types `tl` and `tlist`.
fn member_type(tl: Ty, tlist: Ty, fold: bool) -> Result<Ty, String> {
    let Ty::List(item) = tlist else {
        return Err(format!("`in` over `{tlist}`, which is no list"));
    };
    let Ty::Scalar(elem) = tl else {
        return Err(format!("`in` of a list `{tl}`"));
    };
    if !(elem == item || (elem == Scalar::Ip && item == Scalar::Cidr)) {
        return Err(format!("`{tl}` in `{tlist}`"));
    }
    if fold && item != Scalar::Str {
        return Err(format!("`iin` over `{tlist}`: only strings fold"));
    }
    Ok(Ty::BOOL)
}

/// The type of a call of `builtin` on `args`: the arguments against the program's signature,
/// and the builtin's field-only parameters against field reads.
fn call_type(
    cx: &Cx<'_>,
    exprs: &[Expr],
    expr: &Expr,
    builtin: CallId,
    args: &[ExprId],
) -> Result<Ty, String> {
    let Some(sig) = cx.program.builtins.get(usize::from(builtin.0)) else {
        return Ok(expr.ty); // reported by pass 1
    };
    if args.len() != sig.params.len() {
        return Err(format!(
            "`{}` takes {} argument(s), the call passes {}",
            sig.name,
            sig.params.len(),
            args.len()
        ));
    }
    let def = cx.binding.builtin(builtin).and_then(builtins::get);
    for (k, (arg, want)) in args.iter().zip(&sig.params).enumerate() {
        need(
            exprs,
            *arg,
            *want,
            &format!("argument {k} of `{}`", sig.name),
        )?;
        let field_only = def
            .and_then(|d| d.params.get(k))
            .is_some_and(|pt| matches!(pt, ParamTy::FieldRef(_)));
        let is_field = exprs
            .get(arg.0 as usize)
            .is_some_and(|a| matches!(a.kind, ExprKind::Field(_)));
        if field_only && !is_field {
            return Err(format!(
                "argument {k} of `{}` must be a field read",
                sig.name
            ));
        }
    }
    Ok(sig.ret)
}

/// Pass 2's tables, one row per node checked so far (indexed by node id): the quantifier
/// variables free in it (by level, the type code each is read at; 0 when not free), the
/// lowest level a quantifier inside it binds ([`NO_BIND`] when none), and its height.
struct Scopes {
    free: Vec<[u8; LEVELS]>,
    min_bind: Vec<u8>,
    height: Vec<u32>,
}

impl Scopes {
    fn with_capacity(n: usize) -> Scopes {
        Scopes {
            free: Vec::with_capacity(n),
            min_bind: Vec::with_capacity(n),
            height: Vec::with_capacity(n),
        }
    }

    fn free_of(&self, e: ExprId) -> [u8; LEVELS] {
        self.free.get(e.0 as usize).copied().unwrap_or([0; LEVELS])
    }

    fn bind_of(&self, e: ExprId) -> u8 {
        self.min_bind.get(e.0 as usize).copied().unwrap_or(NO_BIND)
    }

    fn height_of(&self, e: ExprId) -> u32 {
        self.height.get(e.0 as usize).copied().unwrap_or(0)
    }

    /// Adds the row of `expr` (the next node), reporting its scope faults through `fail`;
    /// returns its height.
    fn push(
        &mut self,
        exprs: &[Expr],
        expr: &Expr,
        fail: &mut dyn FnMut(ErrorCode, String),
    ) -> u32 {
        let mut acc = [0u8; LEVELS];
        let mut bind = NO_BIND;
        let mut h: u32 = 1;
        let mut conflicts = Vec::new();
        match &expr.kind {
            ExprKind::Quant {
                local, list, body, ..
            } => {
                let l = usize::from(local.0);
                let inner = self.check_quant(exprs, l, *list, *body, fail);
                let (fl, fb) = (self.free_of(*list), self.free_of(*body));
                conflicts.extend(merge(&mut acc, &fl, None));
                conflicts.extend(merge(&mut acc, &fb, Some(l)));
                let lb = u8::try_from(l).unwrap_or(NO_BIND);
                bind = lb.min(self.bind_of(*list)).min(inner);
                h = 1 + self.height_of(*list).max(self.height_of(*body));
            }
            kind => {
                if let ExprKind::Local(l) = kind {
                    if let (Ty::Scalar(s), Some(slot)) = (expr.ty, acc.get_mut(usize::from(l.0))) {
                        *slot = code(s);
                    }
                }
                kind.for_each_operand(|o| {
                    conflicts.extend(merge(&mut acc, &self.free_of(o), None));
                    bind = bind.min(self.bind_of(o));
                    h = h.max(1 + self.height_of(o));
                });
            }
        }
        if let Some((level, a, b)) = conflicts.first() {
            fail(
                ErrorCode::IllTyped,
                format!(
                    "the variable of level {level} is read both as `{}` and as `{}`",
                    scalar_of(*a),
                    scalar_of(*b)
                ),
            );
        }
        self.free.push(acc);
        self.min_bind.push(bind);
        self.height.push(h);
        h
    }

    /// The scoping rules of a quantifier at level `l` over `list` with `body`; returns the
    /// lowest level a quantifier inside its body binds.
    fn check_quant(
        &self,
        exprs: &[Expr],
        l: usize,
        list: ExprId,
        body: ExprId,
        fail: &mut dyn FnMut(ErrorCode, String),
    ) -> u8 {
        let (fl, fb) = (self.free_of(list), self.free_of(body));
        if let Some(k) = (l..LEVELS).find(|&k| fl[k] != 0) {
            fail(
                ErrorCode::LocalOutOfScope,
                format!(
                    "the list of the quantifier at level {l} reads the variable of level \
                     {k}, which it does not see"
                ),
            );
        }
        if let Some(k) = (l + 1..LEVELS).find(|&k| fb[k] != 0) {
            fail(
                ErrorCode::LocalOutOfScope,
                format!(
                    "the body of the quantifier at level {l} reads the variable of level \
                     {k}, which no enclosing quantifier binds"
                ),
            );
        }
        let inner = self.bind_of(body);
        if usize::from(inner) <= l {
            fail(
                ErrorCode::LocalOutOfScope,
                format!(
                    "a quantifier at level {inner} is nested in the body of the \
                     quantifier at level {l}; nested quantifiers take deeper levels"
                ),
            );
        }
        if let Ty::List(item) = declared(exprs, list) {
            if fb.get(l).is_some_and(|&c| c != 0 && c != code(item)) {
                fail(
                    ErrorCode::IllTyped,
                    format!(
                        "the variable of level {l} is read as `{}`, but the quantifier \
                         ranges over `[{item}]`",
                        scalar_of(fb.get(l).copied().unwrap_or(0))
                    ),
                );
            }
        }
        inner
    }
}

/// Merges the free-variable row `from` (but level `skip`) into `acc`; returns the first level
/// read at two types, with both.
fn merge(
    acc: &mut [u8; LEVELS],
    from: &[u8; LEVELS],
    skip: Option<usize>,
) -> Option<(usize, u8, u8)> {
    let mut conflict = None;
    for (level, (a, f)) in acc.iter_mut().zip(from).enumerate() {
        if *f == 0 || Some(level) == skip {
            continue;
        }
        if *a != 0 && *a != *f && conflict.is_none() {
            conflict = Some((level, *a, *f));
        }
        *a = *f;
    }
    conflict
}

/// Pass 3: which roots reach each node; field reads and captured values in their place.
fn check_placement(
    cx: &Cx<'_>,
    id: RuleId,
    rule: &Rule,
    roots: &[(ExprId, u32, bool)],
    errors: &mut Vec<VerifyError>,
) {
    let p = cx.program;
    let mask = reach(rule, roots);
    for (i, expr) in rule.exprs.iter().enumerate() {
        let m = mask.get(i).copied().unwrap_or(0);
        if m == 0 {
            continue;
        }
        let eid = Some(ExprId(u32::try_from(i).unwrap_or(u32::MAX)));
        let fault = match (&expr.kind, &rule.kind) {
            (ExprKind::Field(f) | ExprKind::Exists(f) | ExprKind::Truncated(f), kind) => p
                .fields
                .get(f.0 as usize)
                .and_then(|req| read_elsewhere(req, kind, m))
                .map(|m| (ErrorCode::FieldOfOtherEvent, m)),
            (ExprKind::Captured(c), RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq)) => {
                seq.captures
                    .get(usize::from(c.0))
                    .and_then(|cap| read_before_capture(seq, cap, m))
                    .map(|m| (ErrorCode::CapturedOutOfPlace, m))
            }
            _ => None,
        };
        if let Some((code, message)) = fault {
            errors.push(cx.err(code, id, eid, message));
        }
    }
}

/// The context bits of every node: the roots that reach it, top-down (operands precede their
/// nodes, so one pass from the last node does).
fn reach(rule: &Rule, roots: &[(ExprId, u32, bool)]) -> Vec<u32> {
    let n = rule.exprs.len();
    let mut mask = vec![0u32; n];
    for &(root, bits, _) in roots {
        if let Some(m) = mask.get_mut(root.0 as usize) {
            *m |= bits;
        }
    }
    for i in (0..n).rev() {
        let m = mask.get(i).copied().unwrap_or(0);
        if m == 0 {
            continue;
        }
        if let Some(expr) = rule.exprs.get(i) {
            expr.kind.for_each_operand(|o| {
                if let Some(slot) = mask.get_mut(o.0 as usize) {
                    *slot |= m;
                }
            });
        }
    }
    mask
}

/// Why a read of field `req`, reached from the contexts `m` of a rule of `kind`, reads an event
/// type that context does not run on (E0411); `None` when it is in its place.
fn read_elsewhere(req: &FieldReq, kind: &RuleKind, m: u32) -> Option<String> {
    let misplaced = |events: &[String]| {
        (!events.contains(&req.event)).then(|| {
            format!(
                "reads `{}.{}`, but the rule runs on {}",
                req.event,
                req.field,
                events.join(", ")
            )
        })
    };
    match kind {
        RuleKind::Single { events, .. } => misplaced(events),
        RuleKind::Threshold(t) => misplaced(&t.events),
        RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => {
            for (s, step) in seq.steps.iter().enumerate().take(MASK_STEPS) {
                if m & (1 << s) != 0 && step.event != req.event {
                    return Some(format!(
                        "step `{}` matches `{}`, but reads `{}.{}`",
                        step.name, step.event, req.event, req.field
                    ));
                }
            }
            if m & OUTPUT_BIT != 0 {
                if let Some(last) = seq.steps.last() {
                    if last.event != req.event {
                        return Some(format!(
                            "the alert reads `{}.{}` from the event, but the last step \
                             matches `{}` (earlier steps' fields must be captured)",
                            req.event, req.field, last.event
                        ));
                    }
                }
            }
            None
        }
    }
}

/// Why capture `cap`, read from the contexts `m`, is read at a step that has not matched it yet
/// (E0412); `None` when it is in its place.
fn read_before_capture(seq: &SequenceDef, cap: &Capture, m: u32) -> Option<String> {
    seq.steps
        .iter()
        .enumerate()
        .take(MASK_STEPS)
        .find(|(s, _)| m & (1 << s) != 0 && usize::from(cap.step) >= *s)
        .map(|(_, step)| {
            format!(
                "step `{}` reads a value captured at step {}, which has not matched yet",
                step.name, cap.step
            )
        })
}
