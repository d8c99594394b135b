//! IR → Cranelift IR: one native function per (rule, event type), or per (stateful rule, event
//! type, condition root), with the calling convention drawn in `jit/mod.rs`.
//!
//! Input: one rule's expression arena, the program's [`Binding`] (field → slot index) and the
//! program-wide [`Prepare`] tables (which this pass fills with the constants the helpers need);
//! output: the body of a Cranelift [`Function`]. It must not emit an instruction that can trap:
//! loads are of slots the binding proved to exist and of string bytes below a length just
//! compared, and division is guarded by selects that make its divisor never 0 nor -1 under
//! `i64::MIN`.
//!
//! Code generation is a walk from the condition down (recursive, bounded by the verifier's
//! depth limit), with short-circuit control flow for `and`/`or`/quantifiers. Nodes shared in
//! the arena are computed once per dominating region: a memo of values is kept per nesting
//! level of conditional code and dropped when that code's region ends. A budget on emitted
//! nodes refuses arenas whose sharing would blow up into huge code.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::immediates::Offset32;
use cranelift_codegen::ir::{
    types, AbiParam, Block, BlockArg, FuncRef, Function, InstBuilder, MemFlagsData, StackSlotData,
    StackSlotKind, Value,
};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Module};

use super::helpers::{encode_kinds, encode_test, ArgKind};
use super::prepare::Prepare;
use super::{JitError, STATUS_PANIC};
use crate::bind::Binding;
use crate::builtins::{self, JitLowering, ParamTy};
use crate::event::{FLAG_PRESENT, FLAG_TRUNCATED, SLOT_BYTES};
use crate::ir::{
    ArithOp, CmpOp, Expr, ExprId, ExprKind, ListId, Program, Quant, Rule, RuleId, StrTest,
};
use crate::prefilter::{require::at_of, Prefilter};
use crate::schema::EventTypeId;
use crate::types::{Scalar, Ty};

/// The helpers compiled code calls, as declared in the module.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HelperIds {
    pub(crate) str_test: FuncId,
    pub(crate) str_list: FuncId,
    pub(crate) member_const: FuncId,
    pub(crate) member_slots: FuncId,
    pub(crate) regex: FuncId,
    pub(crate) call: FuncId,
}

/// The helpers imported into one function.
#[derive(Clone, Copy)]
struct HelperRefs {
    str_test: FuncRef,
    str_list: FuncRef,
    member_const: FuncRef,
    member_slots: FuncRef,
    regex: FuncRef,
    call: FuncRef,
}

/// A computed value in SSA form.
#[derive(Clone, Copy, Debug)]
enum Val {
    /// An `i8`, 0 or 1.
    Bool(Value),
    /// An `i64`.
    Int(Value),
    /// Address and length (`i64` each).
    Str(Value, Value),
    /// High and low 64 bits of the IPv6 form (IPv4 mapped).
    Ip(Value, Value),
    /// A list laid out as slots: address of the first item and the item count.
    Slots(Value, Value, Scalar),
    /// A constant list of the program (materialised as slots only where needed).
    Const(ListId),
}

/// Deepest recursion of the translator (one level per level of the expression DAG): above the
/// verifier's default height limit (256) with room to spare, and low enough for the native
/// stack of any thread. A host that raises `Limits::max_depth` past it gets
/// [`JitError::TooLarge`] for such rules rather than a stack overflow.
const MAX_DEPTH: usize = 512;

/// Upper bound on emitted nodes, as a multiple of the arena's size (plus a constant): past it,
/// sharing in the arena is being duplicated into too much code and the rule is refused.
const EMIT_FACTOR: usize = 16;
const EMIT_SLACK: usize = 4096;

/// Where the five parameters of the compiled function live.
struct Params {
    slots: Value,
    flags: Value,
    ctx: Value,
    /// The captured values' slots (`Captured(i)` at `+ 16 * i`); null for single-event rules.
    captures: Value,
    /// The captured values' flag bytes; null for single-event rules.
    capture_flags: Value,
}

/// What to translate: one rule's condition, for one event type it runs on.
pub(crate) struct Unit<'a> {
    pub(crate) program: &'a Program,
    pub(crate) binding: &'a Binding,
    pub(crate) rule_id: RuleId,
    pub(crate) rule: &'a Rule,
    /// The condition; `None` holds on every event.
    pub(crate) cond: Option<ExprId>,
    pub(crate) event: EventTypeId,
    /// A sequence step's condition: the number of captures the rule has (`Captured(i)` is read
    /// only for `i` below it). `None`: the code reads no captures.
    pub(crate) captures: Option<usize>,
    /// The engine's prefilter: literal tests it scans for read its per-event bits (through
    /// [`super::EvalCtx`]'s `hits` word) when the call was given them.
    pub(crate) prefilter: Option<&'a Prefilter>,
}

/// What the code of a [`Unit`] reads, for the caller's checks before each call.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Reads {
    /// Largest field index read, plus one: the event must have that many slots.
    pub(crate) slots: usize,
    /// Largest capture index read, plus one: the capture view must have that many.
    pub(crate) captures: usize,
}

/// Translates `unit` into `func`; returns what the code reads.
pub(crate) fn translate(
    module: &mut JITModule,
    helper_ids: &HelperIds,
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    prep: &mut Prepare,
    unit: &Unit<'_>,
) -> Result<Reads, JitError> {
    let Unit {
        program,
        binding,
        rule_id,
        rule,
        cond,
        event,
        captures,
        prefilter,
    } = *unit;
    let mut b = FunctionBuilder::new(func, fctx);
    let helpers = HelperRefs {
        str_test: module.declare_func_in_func(helper_ids.str_test, b.func),
        str_list: module.declare_func_in_func(helper_ids.str_list, b.func),
        member_const: module.declare_func_in_func(helper_ids.member_const, b.func),
        member_slots: module.declare_func_in_func(helper_ids.member_slots, b.func),
        regex: module.declare_func_in_func(helper_ids.regex, b.func),
        call: module.declare_func_in_func(helper_ids.call, b.func),
    };
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    let status_block = b.create_block();
    let status = b.append_block_param(status_block, types::I32);
    b.set_cold_block(status_block);
    b.switch_to_block(entry);
    let &[slots, flags, ctx, capture_slots, capture_flags] = b.block_params(entry) else {
        return Err(JitError::Internal(
            "the rule signature has five parameters".into(),
        ));
    };
    let mut t = Translator {
        b,
        program,
        binding,
        prep,
        rule_id,
        rule,
        event,
        helpers,
        params: Params {
            slots,
            flags,
            ctx,
            captures: capture_slots,
            capture_flags,
        },
        capture_count: captures,
        min_captures: 0,
        prefilter,
        status_block,
        scopes: vec![HashMap::new()],
        locals: Vec::new(),
        emitted: 0,
        depth: 0,
        emit_budget: rule
            .exprs
            .len()
            .saturating_mul(EMIT_FACTOR)
            .saturating_add(EMIT_SLACK),
        min_slots: 0,
    };
    let result = match cond {
        None => t.b.ins().iconst(types::I32, 1),
        Some(root) => {
            let v = t.bool_of(root)?;
            t.b.ins().uextend(types::I32, v)
        }
    };
    t.b.ins().return_(&[result]);
    t.b.switch_to_block(status_block);
    t.b.ins().return_(&[status]);
    let reads = Reads {
        slots: t.min_slots,
        captures: t.min_captures,
    };
    t.b.seal_all_blocks();
    t.b.finalize(module.target_config());
    Ok(reads)
}

/// The signature of every helper, in [`HelperIds`] order: parameters (all `i64` but the
/// encoded test and flags, `i32`), returning `i32`.
pub(crate) fn helper_signatures(
    module: &JITModule,
) -> [(&'static str, cranelift_codegen::ir::Signature); 6] {
    let sig = |params: &[types::Type]| {
        let mut s = module.make_signature();
        s.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        s.returns.push(AbiParam::new(types::I32));
        s
    };
    use types::{I32, I64};
    [
        ("vigil_str_test", sig(&[I32, I64, I64, I64, I64])),
        ("vigil_str_list", sig(&[I64, I64, I32, I64, I64])),
        ("vigil_member_const", sig(&[I64, I64, I32, I64, I64])),
        ("vigil_member_slots", sig(&[I64, I64, I32, I32, I64, I64])),
        ("vigil_regex", sig(&[I64, I64, I64, I64])),
        ("vigil_call", sig(&[I64, I64, I64, I64, I64, I64])),
    ]
}

struct Translator<'a, 'f> {
    b: FunctionBuilder<'f>,
    program: &'a Program,
    binding: &'a Binding,
    prep: &'a mut Prepare,
    rule_id: RuleId,
    rule: &'a Rule,
    event: EventTypeId,
    helpers: HelperRefs,
    params: Params,
    status_block: Block,
    /// Memo of computed nodes, one map per nesting level of conditional code.
    scopes: Vec<HashMap<ExprId, Val>>,
    /// The current item of each enclosing quantifier, by level.
    locals: Vec<Val>,
    emitted: usize,
    emit_budget: usize,
    /// Current recursion depth of [`Translator::val`].
    depth: usize,
    /// Largest field index read plus one (the caller checks events have that many slots).
    min_slots: usize,
    /// The rule's number of captures, when the code may read them.
    capture_count: Option<usize>,
    /// Largest capture index read plus one (the caller checks the view has that many).
    min_captures: usize,
    prefilter: Option<&'a Prefilter>,
}

/// Memory flags for slot and flag-byte loads: aligned, cannot trap (the binding proved the
/// index is inside the event type's slots, and the caller checks the event's slot count).
fn slot_flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Memory flags for string byte loads: unaligned, cannot trap (only below a length just
/// compared).
fn bytes_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl Translator<'_, '_> {
    fn unsupported(&self, id: ExprId, what: &str) -> JitError {
        JitError::Unsupported {
            rule: self.rule.name.clone(),
            expr: id.0,
            what: what.to_string(),
        }
    }

    fn node(&self, id: ExprId) -> Result<&Expr, JitError> {
        self.rule.expr(id).ok_or_else(|| {
            JitError::Internal(format!(
                "rule #{}: node {} out of range",
                self.rule_id.0, id.0
            ))
        })
    }

    fn lookup(&self, id: ExprId) -> Option<Val> {
        self.scopes.iter().rev().find_map(|s| s.get(&id).copied())
    }

    fn enter(&mut self) {
        self.scopes.push(HashMap::new());
    }

    fn leave(&mut self) {
        self.scopes.pop();
    }

    /// The value of node `id`.
    fn val(&mut self, id: ExprId) -> Result<Val, JitError> {
        if let Some(v) = self.lookup(id) {
            return Ok(v);
        }
        self.emitted += 1;
        if self.emitted > self.emit_budget {
            return Err(JitError::TooLarge {
                rule: self.rule.name.clone(),
            });
        }
        let expr = self.node(id)?;
        let kind = expr.kind.clone();
        let ty = expr.ty;
        if self.depth >= MAX_DEPTH {
            return Err(JitError::TooLarge {
                rule: self.rule.name.clone(),
            });
        }
        self.depth += 1;
        let v = self.compute(id, ty, &kind);
        self.depth -= 1;
        let v = v?;
        // A value that depends on a quantifier's item must not outlive the loop body: the body
        // opens a scope of its own, so caching in the innermost scope is always right.
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(id, v);
        }
        Ok(v)
    }

    fn bool_of(&mut self, id: ExprId) -> Result<Value, JitError> {
        match self.val(id)? {
            Val::Bool(v) => Ok(v),
            _ => Err(JitError::Internal(format!("node {} is not a bool", id.0))),
        }
    }

    fn int_of(&mut self, id: ExprId) -> Result<Value, JitError> {
        match self.val(id)? {
            Val::Int(v) => Ok(v),
            _ => Err(JitError::Internal(format!("node {} is not an int", id.0))),
        }
    }

    fn str_of(&mut self, id: ExprId) -> Result<(Value, Value), JitError> {
        match self.val(id)? {
            Val::Str(p, l) => Ok((p, l)),
            _ => Err(JitError::Internal(format!("node {} is not a string", id.0))),
        }
    }

    fn iconst(&mut self, v: i64) -> Value {
        self.b.ins().iconst(types::I64, v)
    }

    fn iconst32(&mut self, v: u32) -> Value {
        self.b.ins().iconst(types::I32, i64::from(v))
    }

    /// An `i64` holding `v`'s bits.
    fn uconst(&mut self, v: u64) -> Value {
        self.b.ins().iconst(types::I64, v as i64)
    }

    /// Calls helper `f`; a result `>= 2` leaves the function with that status, else the
    /// result (0 or 1) continues as an `i8`.
    fn call_checked(&mut self, f: FuncRef, args: &[Value]) -> Value {
        let call = self.b.ins().call(f, args);
        let r = self.b.inst_results(call).first().copied();
        let r = match r {
            Some(r) => r,
            // Every helper signature returns one i32; unreachable, but stay total.
            None => self.b.ins().iconst(types::I32, i64::from(STATUS_PANIC)),
        };
        let failed = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, r, 2);
        let cont = self.b.create_block();
        self.b
            .ins()
            .brif(failed, self.status_block, &[BlockArg::Value(r)], cont, &[]);
        self.b.switch_to_block(cont);
        self.b.ins().ireduce(types::I8, r)
    }

    fn field_index(&mut self, f: crate::ir::FieldRef, id: ExprId) -> Result<(u16, Ty), JitError> {
        let bound = self.binding.field_on(f, self.event).ok_or_else(|| {
            self.unsupported(id, "a field the rule cannot read on this event type")
        })?;
        self.min_slots = self.min_slots.max(usize::from(bound.index.0) + 1);
        Ok((bound.index.0, bound.ty))
    }

    fn load_word(&mut self, index: u16, word: u32) -> Value {
        let offset = i32::from(index) * SLOT_BYTES as i32 + (word as i32) * 8;
        self.b.ins().load(
            types::I64,
            slot_flags(),
            self.params.slots,
            Offset32::new(offset),
        )
    }

    fn load_flag(&mut self, index: u16) -> Value {
        self.b.ins().load(
            types::I8,
            slot_flags(),
            self.params.flags,
            Offset32::new(i32::from(index)),
        )
    }

    fn flag_test(&mut self, index: u16, bit: u8) -> Value {
        let flag = self.load_flag(index);
        let masked = self.b.ins().band_imm_u(flag, i64::from(bit));
        self.b.ins().icmp_imm_s(IntCC::NotEqual, masked, 0)
    }

    /// Capture `i` (`< min_captures`, checked by the caller before each call) as a value of
    /// type `ty`: its slot's words as an event field's, an absent ip reading `0.0.0.0`.
    fn captured(&mut self, id: ExprId, i: usize, ty: Ty) -> Result<Val, JitError> {
        let off = i32::try_from(i * SLOT_BYTES as usize)
            .map_err(|_| self.unsupported(id, "a capture index this large"))?;
        let flag_off =
            i32::try_from(i).map_err(|_| self.unsupported(id, "a capture index this large"))?;
        let base = self.params.captures;
        let load = |t: &mut Self, o: i32| {
            t.b.ins()
                .load(types::I64, slot_flags(), base, Offset32::new(o))
        };
        Ok(match ty {
            Ty::Scalar(Scalar::Bool) => {
                let w0 = load(self, off);
                Val::Bool(self.b.ins().icmp_imm_s(IntCC::NotEqual, w0, 0))
            }
            Ty::Scalar(Scalar::Int) => Val::Int(load(self, off)),
            Ty::Scalar(Scalar::Str) => Val::Str(load(self, off), load(self, off + 8)),
            Ty::Scalar(Scalar::Ip) => {
                let hi = load(self, off);
                let lo = load(self, off + 8);
                let flag = self.b.ins().load(
                    types::I8,
                    slot_flags(),
                    self.params.capture_flags,
                    Offset32::new(flag_off),
                );
                let masked = self.b.ins().band_imm_u(flag, i64::from(FLAG_PRESENT));
                let present = self.b.ins().icmp_imm_s(IntCC::NotEqual, masked, 0);
                let empty = crate::event::Slot::from_ip(std::net::IpAddr::V4(
                    std::net::Ipv4Addr::UNSPECIFIED,
                ));
                let ehi = self.uconst(empty.w0);
                let elo = self.uconst(empty.w1);
                let hi = self.b.ins().select(present, hi, ehi);
                let lo = self.b.ins().select(present, lo, elo);
                Val::Ip(hi, lo)
            }
            _ => return Err(self.unsupported(id, "a captured value of this type")),
        })
    }

    /// Reads a slot's words as a value of scalar type `s` (item slots: always present).
    fn slot_val(&mut self, addr: Value, offset: i32, s: Scalar) -> Val {
        let w0 = self
            .b
            .ins()
            .load(types::I64, slot_flags(), addr, Offset32::new(offset));
        match s {
            Scalar::Bool => Val::Bool(self.b.ins().icmp_imm_s(IntCC::NotEqual, w0, 0)),
            Scalar::Int => Val::Int(w0),
            Scalar::Str | Scalar::Ip | Scalar::Cidr => {
                let w1 =
                    self.b
                        .ins()
                        .load(types::I64, slot_flags(), addr, Offset32::new(offset + 8));
                if s == Scalar::Str {
                    Val::Str(w0, w1)
                } else {
                    Val::Ip(w0, w1)
                }
            }
        }
    }

    fn compute(&mut self, id: ExprId, ty: Ty, kind: &ExprKind) -> Result<Val, JitError> {
        Ok(match kind {
            ExprKind::Bool(v) => Val::Bool(self.b.ins().iconst(types::I8, i64::from(*v))),
            ExprKind::Int(v) => Val::Int(self.iconst(*v)),
            ExprKind::Str(s) => {
                let (ptr, len) = self.prep.string(self.program, *s)?;
                Val::Str(self.uconst(ptr), self.uconst(len))
            }
            ExprKind::Ip(ip) => {
                let slot = crate::event::Slot::from_ip(*ip);
                Val::Ip(self.uconst(slot.w0), self.uconst(slot.w1))
            }
            ExprKind::List(l) => Val::Const(*l),
            ExprKind::Field(f) => {
                let (index, fty) = self.field_index(*f, id)?;
                if fty != ty {
                    return Err(JitError::Internal(format!(
                        "node {}: field type differs",
                        id.0
                    )));
                }
                match fty {
                    Ty::Scalar(Scalar::Bool) => {
                        let w0 = self.load_word(index, 0);
                        Val::Bool(self.b.ins().icmp_imm_s(IntCC::NotEqual, w0, 0))
                    }
                    Ty::Scalar(Scalar::Int) => Val::Int(self.load_word(index, 0)),
                    Ty::Scalar(Scalar::Str) => {
                        Val::Str(self.load_word(index, 0), self.load_word(index, 1))
                    }
                    Ty::Scalar(Scalar::Ip) => {
                        // An absent ip slot is all zero (`::`), but reads as 0.0.0.0: select
                        // the IPv4-mapped 0.0.0.0 unless the present flag is set.
                        let hi = self.load_word(index, 0);
                        let lo = self.load_word(index, 1);
                        let present = self.flag_test(index, FLAG_PRESENT);
                        let empty = crate::event::Slot::from_ip(std::net::IpAddr::V4(
                            std::net::Ipv4Addr::UNSPECIFIED,
                        ));
                        let ehi = self.uconst(empty.w0);
                        let elo = self.uconst(empty.w1);
                        let hi = self.b.ins().select(present, hi, ehi);
                        let lo = self.b.ins().select(present, lo, elo);
                        Val::Ip(hi, lo)
                    }
                    Ty::List(s) => {
                        Val::Slots(self.load_word(index, 0), self.load_word(index, 1), s)
                    }
                    Ty::Scalar(Scalar::Cidr) => return Err(self.unsupported(id, "a cidr field")),
                }
            }
            ExprKind::Exists(f) => {
                let (index, _) = self.field_index(*f, id)?;
                Val::Bool(self.flag_test(index, FLAG_PRESENT))
            }
            ExprKind::Truncated(f) => {
                let (index, _) = self.field_index(*f, id)?;
                Val::Bool(self.flag_test(index, FLAG_TRUNCATED))
            }
            ExprKind::Captured(c) => {
                let i = usize::from(c.0);
                if self.capture_count.is_none_or(|n| i >= n) {
                    return Err(self.unsupported(id, "a captured value outside a sequence step"));
                }
                self.min_captures = self.min_captures.max(i + 1);
                self.captured(id, i, ty)?
            }
            ExprKind::Local(l) => *self
                .locals
                .get(usize::from(l.0))
                .ok_or_else(|| JitError::Internal(format!("node {}: local out of scope", id.0)))?,
            ExprKind::Not(e) => {
                let v = self.bool_of(*e)?;
                Val::Bool(self.b.ins().bxor_imm_u(v, 1))
            }
            ExprKind::And(ops) => Val::Bool(self.short_circuit(ops, true)?),
            ExprKind::Or(ops) => Val::Bool(self.short_circuit(ops, false)?),
            ExprKind::Neg(e) => {
                let v = self.int_of(*e)?;
                Val::Int(self.b.ins().ineg(v))
            }
            ExprKind::Arith(op, a, c) => {
                let a = self.int_of(*a)?;
                let c = self.int_of(*c)?;
                Val::Int(self.arith(*op, a, c))
            }
            ExprKind::Cmp(op, a, c) => Val::Bool(self.cmp(id, *op, *a, *c)?),
            ExprKind::StrTest { op, fold, lhs, rhs } => {
                Val::Bool(self.str_test(*op, *fold, *lhs, *rhs)?)
            }
            ExprKind::StrList {
                op,
                fold,
                quant,
                lhs,
                list,
            } => Val::Bool(self.str_list(*op, *fold, *quant, *lhs, *list)?),
            ExprKind::Member { lhs, list, fold } => {
                Val::Bool(self.member_node(id, *lhs, *list, *fold)?)
            }
            ExprKind::Matches { lhs, regex } => {
                let (p, l) = self.str_of(*lhs)?;
                if regex.0 as usize >= self.program.regexes.len() {
                    return Err(JitError::Internal(format!(
                        "regex #{} out of range",
                        regex.0
                    )));
                }
                let args = [self.params.ctx, self.uconst(u64::from(regex.0)), p, l];
                Val::Bool(self.call_checked(self.helpers.regex, &args))
            }
            ExprKind::Call { builtin, args } => self.call(id, ty, *builtin, args)?,
            ExprKind::Quant {
                quant,
                local,
                list,
                body,
            } => Val::Bool(self.quant(id, *quant, *local, *list, *body)?),
        })
    }

    /// `lhs OP any|all list`: from the prefilter's bits when it scans for every item, else
    /// by the helper. (Out of line, as every arm with locals: `compute` recurses once per
    /// level of the DAG, and its frame size bounds the depth the native stack allows.)
    #[inline(never)]
    fn str_list(
        &mut self,
        op: StrTest,
        fold: bool,
        quant: Quant,
        lhs: ExprId,
        list: ListId,
    ) -> Result<Value, JitError> {
        if let Some(lits) = self.list_lits(lhs, fold, op, list) {
            return self.bits_or(&lits, quant == Quant::All, |t| {
                t.str_list_call(op, fold, quant, lhs, list)
            });
        }
        self.str_list_call(op, fold, quant, lhs, list)
    }

    /// Membership: of a `string` field in a constant list the prefilter scans for, from its
    /// bits; otherwise [`Translator::member`].
    #[inline(never)]
    fn member_node(
        &mut self,
        id: ExprId,
        lhs: ExprId,
        list: ExprId,
        fold: bool,
    ) -> Result<Value, JitError> {
        if let Some(ExprKind::List(l)) = self.rule.expr(list).map(|e| e.kind.clone()) {
            if let Some(lits) = self.list_lits(lhs, fold, StrTest::Eq, l) {
                return self.bits_or(&lits, false, |t| t.member(id, lhs, list, fold));
            }
        }
        self.member(id, lhs, list, fold)
    }

    /// Checks that constant list `l` exists: helpers read it by id from the interpreter's
    /// prepared lists.
    fn const_list(&self, l: ListId) -> Result<(), JitError> {
        if (l.0 as usize) < self.program.lists.len() {
            Ok(())
        } else {
            Err(JitError::Internal(format!("list #{} out of range", l.0)))
        }
    }

    /// `lhs OP any|all list` by the helper.
    fn str_list_call(
        &mut self,
        op: StrTest,
        fold: bool,
        quant: Quant,
        lhs: ExprId,
        list: ListId,
    ) -> Result<Value, JitError> {
        let (p, l) = self.str_of(lhs)?;
        self.const_list(list)?;
        let code = encode_test(op, fold, quant);
        let args = [
            self.params.ctx,
            self.uconst(u64::from(list.0)),
            self.iconst32(code),
            p,
            l,
        ];
        Ok(self.call_checked(self.helpers.str_list, &args))
    }

    /// The prefilter literals answering `lhs OP pattern` for each of `patterns`, when `lhs` is
    /// a `string` field of this event type and the prefilter scans for every pattern (so an
    /// empty pattern, which it never scans for, leaves the test to the helper).
    fn hit_lits(
        &self,
        lhs: ExprId,
        fold: bool,
        op: StrTest,
        patterns: &[&str],
    ) -> Option<Vec<(u32, u8)>> {
        let prefilter = self.prefilter?;
        let node = self.rule.expr(lhs)?;
        let ExprKind::Field(f) = node.kind else {
            return None;
        };
        let bound = self.binding.field_on(f, self.event)?;
        if bound.ty != Ty::STR || node.ty != Ty::STR || patterns.is_empty() {
            return None;
        }
        let at = at_of(op);
        patterns
            .iter()
            .map(|p| {
                prefilter
                    .literal(self.event, bound.index, fold, p, at)
                    .map(|l| (l, at))
            })
            .collect()
    }

    /// [`Translator::hit_lits`] for the items of constant string list `list`.
    fn list_lits(
        &self,
        lhs: ExprId,
        fold: bool,
        op: StrTest,
        list: ListId,
    ) -> Option<Vec<(u32, u8)>> {
        let items = self.program.lists.get(list.0 as usize)?;
        let patterns: Option<Vec<&str>> = items
            .items
            .iter()
            .map(|c| match c {
                crate::ir::Const::Str(s) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        self.hit_lits(lhs, fold, op, &patterns?)
    }

    /// A literal test answered from the prefilter's bits when the call has them (any of
    /// `lits`, or all when `all`), by `fallback` otherwise. The bits' address is the
    /// `EvalCtx`'s `hits` word, 0 when the call has none; `JitProgram::run_raw` sets it only
    /// to bits of this event's type, at least [`Prefilter::literal_count`] bytes long, so every
    /// literal number read here (all below that count) is inside them.
    fn bits_or(
        &mut self,
        lits: &[(u32, u8)],
        all: bool,
        fallback: impl FnOnce(&mut Self) -> Result<Value, JitError>,
    ) -> Result<Value, JitError> {
        let hits = self.b.ins().load(
            types::I64,
            slot_flags(),
            self.params.ctx,
            Offset32::new(super::HITS_OFFSET),
        );
        let bits_block = self.b.create_block();
        let fallback_block = self.b.create_block();
        let merge = self.b.create_block();
        let result = self.b.append_block_param(merge, types::I8);
        self.b
            .ins()
            .brif(hits, bits_block, &[], fallback_block, &[]);
        self.b.switch_to_block(bits_block);
        let mut acc: Option<Value> = None;
        for &(lit, at) in lits {
            let byte = match i32::try_from(lit) {
                Ok(off) => self
                    .b
                    .ins()
                    .load(types::I8, bytes_flags(), hits, Offset32::new(off)),
                Err(_) => {
                    let addr = self.b.ins().iadd_imm_s(hits, i64::from(lit));
                    self.b
                        .ins()
                        .load(types::I8, bytes_flags(), addr, Offset32::new(0))
                }
            };
            let masked = self.b.ins().band_imm_u(byte, i64::from(at));
            let hit = self.b.ins().icmp_imm_s(IntCC::NotEqual, masked, 0);
            acc = Some(match acc {
                None => hit,
                Some(prev) if all => self.b.ins().band(prev, hit),
                Some(prev) => self.b.ins().bor(prev, hit),
            });
        }
        let v = match acc {
            Some(v) => v,
            None => self.b.ins().iconst(types::I8, i64::from(all)),
        };
        self.b.ins().jump(merge, &[BlockArg::Value(v)]);
        self.b.switch_to_block(fallback_block);
        self.enter();
        let v = fallback(self);
        self.leave();
        let v = v?;
        self.b.ins().jump(merge, &[BlockArg::Value(v)]);
        self.b.switch_to_block(merge);
        Ok(result)
    }

    /// `and` (`is_and`) or `or` over `ops`, left to right, stopping at the first operand that
    /// decides.
    fn short_circuit(&mut self, ops: &[ExprId], is_and: bool) -> Result<Value, JitError> {
        let Some((first, rest)) = ops.split_first() else {
            return Ok(self.b.ins().iconst(types::I8, i64::from(is_and)));
        };
        let merge = self.b.create_block();
        let result = self.b.append_block_param(merge, types::I8);
        let mut v = self.bool_of(*first)?;
        // Each later operand runs only when the earlier ones did not decide: its code is
        // dominated by theirs, so one nested scope serves them all.
        self.enter();
        for op in rest {
            let next = self.b.create_block();
            let decided_here = self.b.ins().iconst(types::I8, i64::from(!is_and));
            if is_and {
                self.b
                    .ins()
                    .brif(v, next, &[], merge, &[BlockArg::Value(decided_here)]);
            } else {
                self.b
                    .ins()
                    .brif(v, merge, &[BlockArg::Value(decided_here)], next, &[]);
            }
            self.b.switch_to_block(next);
            v = match self.bool_of(*op) {
                Ok(v) => v,
                Err(e) => {
                    self.leave();
                    return Err(e);
                }
            };
        }
        self.leave();
        self.b.ins().jump(merge, &[BlockArg::Value(v)]);
        self.b.switch_to_block(merge);
        Ok(result)
    }

    /// Wrapping arithmetic that cannot trap: the divisor of `sdiv`/`srem` is replaced by 1
    /// when it is 0 or when the operation is `i64::MIN / -1`, and the result then selected.
    fn arith(&mut self, op: ArithOp, a: Value, c: Value) -> Value {
        match op {
            ArithOp::Add => self.b.ins().iadd(a, c),
            ArithOp::Sub => self.b.ins().isub(a, c),
            ArithOp::Mul => self.b.ins().imul(a, c),
            ArithOp::Div | ArithOp::Rem => {
                let zero = self.b.ins().icmp_imm_s(IntCC::Equal, c, 0);
                let minus_one = self.b.ins().icmp_imm_s(IntCC::Equal, c, -1);
                let min = self.b.ins().icmp_imm_s(IntCC::Equal, a, i64::MIN);
                let overflow = self.b.ins().band(minus_one, min);
                let unsafe_divisor = self.b.ins().bor(zero, overflow);
                let one = self.iconst(1);
                let divisor = self.b.ins().select(unsafe_divisor, one, c);
                let zero_v = self.iconst(0);
                if op == ArithOp::Div {
                    let q = self.b.ins().sdiv(a, divisor);
                    // i64::MIN / -1 wraps to i64::MIN, which is `a`; x / 0 is 0.
                    let q = self.b.ins().select(overflow, a, q);
                    self.b.ins().select(zero, zero_v, q)
                } else {
                    let r = self.b.ins().srem(a, divisor);
                    // i64::MIN % -1 is 0 (and x % 1 already is), x % 0 is 0.
                    self.b.ins().select(unsafe_divisor, zero_v, r)
                }
            }
        }
    }

    fn cmp(&mut self, id: ExprId, op: CmpOp, a: ExprId, c: ExprId) -> Result<Value, JitError> {
        let va = self.val(a)?;
        let vc = self.val(c)?;
        let eq = match (va, vc) {
            (Val::Int(x), Val::Int(y)) => {
                let cc = match op {
                    CmpOp::Eq => IntCC::Equal,
                    CmpOp::Ne => IntCC::NotEqual,
                    CmpOp::Lt => IntCC::SignedLessThan,
                    CmpOp::Le => IntCC::SignedLessThanOrEqual,
                    CmpOp::Gt => IntCC::SignedGreaterThan,
                    CmpOp::Ge => IntCC::SignedGreaterThanOrEqual,
                };
                return Ok(self.b.ins().icmp(cc, x, y));
            }
            (Val::Bool(x), Val::Bool(y)) => self.b.ins().icmp(IntCC::Equal, x, y),
            (Val::Ip(xh, xl), Val::Ip(yh, yl)) => {
                let h = self.b.ins().icmp(IntCC::Equal, xh, yh);
                let l = self.b.ins().icmp(IntCC::Equal, xl, yl);
                self.b.ins().band(h, l)
            }
            (Val::Str(..), Val::Str(..)) => self.str_test(StrTest::Eq, false, a, c)?,
            _ => return Err(self.unsupported(id, "a comparison of these types")),
        };
        match op {
            CmpOp::Eq => Ok(eq),
            CmpOp::Ne => Ok(self.b.ins().bxor_imm_u(eq, 1)),
            _ => Err(self.unsupported(id, "an ordering of non-integers")),
        }
    }

    /// The string constant node `id` refers to, if it is one.
    fn const_str(&self, id: ExprId) -> Option<&str> {
        match self.rule.expr(id)?.kind {
            ExprKind::Str(s) => self.program.strings.get(s.0 as usize).map(String::as_str),
            _ => None,
        }
    }

    fn str_test(
        &mut self,
        op: StrTest,
        fold: bool,
        lhs: ExprId,
        rhs: ExprId,
    ) -> Result<Value, JitError> {
        // A case-sensitive test against a short constant: inline length check + word compares.
        if !fold && op != StrTest::Contains {
            let (subject, pattern) = match (self.const_str(lhs), self.const_str(rhs)) {
                (_, Some(p)) => (lhs, Some(p.as_bytes().to_vec())),
                (Some(p), None) if op == StrTest::Eq => (rhs, Some(p.as_bytes().to_vec())),
                _ => (lhs, None),
            };
            if let Some(pattern) = pattern.filter(|p| p.len() <= INLINE_CONST_BYTES) {
                let (p, l) = self.str_of(subject)?;
                return Ok(self.const_compare(op, p, l, &pattern));
            }
        }
        if let Some(lits) = self
            .const_str(rhs)
            .and_then(|p| self.hit_lits(lhs, fold, op, &[p]))
        {
            return self.bits_or(&lits, false, |t| t.str_test_call(op, fold, lhs, rhs));
        }
        self.str_test_call(op, fold, lhs, rhs)
    }

    /// `lhs OP rhs` by the helper.
    fn str_test_call(
        &mut self,
        op: StrTest,
        fold: bool,
        lhs: ExprId,
        rhs: ExprId,
    ) -> Result<Value, JitError> {
        let (ap, al) = self.str_of(lhs)?;
        let (bp, bl) = self.str_of(rhs)?;
        let code = encode_test(op, fold, Quant::Any);
        let code = self.iconst32(code);
        Ok(self.call_checked(self.helpers.str_test, &[code, ap, al, bp, bl]))
    }

    /// `s == pattern`, `s startswith pattern` or `s endswith pattern`, inline.
    fn const_compare(&mut self, op: StrTest, ptr: Value, len: Value, pattern: &[u8]) -> Value {
        let n = pattern.len() as i64;
        let len_ok = match op {
            StrTest::Eq => self.b.ins().icmp_imm_s(IntCC::Equal, len, n),
            _ => self
                .b
                .ins()
                .icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, len, n),
        };
        if pattern.is_empty() {
            return len_ok;
        }
        let base = if op == StrTest::EndsWith {
            let start = self.b.ins().iadd_imm_s(len, -n);
            // Only dereferenced when len >= n (below), so `start` is then in bounds.
            self.b.ins().iadd(ptr, start)
        } else {
            ptr
        };
        let bytes_block = self.b.create_block();
        let merge = self.b.create_block();
        let result = self.b.append_block_param(merge, types::I8);
        let no = self.b.ins().iconst(types::I8, 0);
        self.b
            .ins()
            .brif(len_ok, bytes_block, &[], merge, &[BlockArg::Value(no)]);
        self.b.switch_to_block(bytes_block);
        // The length check passed: `pattern.len()` bytes at `base` are inside the string.
        let mut all = None;
        let mut offset = 0usize;
        while offset < pattern.len() {
            let rest = pattern.len() - offset;
            let (width, ty) = match rest {
                8.. => (8, types::I64),
                4..=7 => (4, types::I32),
                2..=3 => (2, types::I16),
                _ => (1, types::I8),
            };
            let chunk = pattern.get(offset..offset + width).unwrap_or_default();
            let mut buf = [0u8; 8];
            if let Some(dst) = buf.get_mut(..width) {
                dst.copy_from_slice(chunk);
            }
            let expected = match width {
                8 => u64::from_ne_bytes(buf) as i64,
                4 => i64::from(u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]])),
                2 => i64::from(u16::from_ne_bytes([buf[0], buf[1]])),
                _ => i64::from(buf[0]),
            };
            let word = self
                .b
                .ins()
                .load(ty, bytes_flags(), base, Offset32::new(offset as i32));
            let expected = self.b.ins().iconst(ty, expected);
            let same = self.b.ins().icmp(IntCC::Equal, word, expected);
            all = Some(match all {
                None => same,
                Some(prev) => self.b.ins().band(prev, same),
            });
            offset += width;
        }
        let all = all.unwrap_or(len_ok);
        self.b.ins().jump(merge, &[BlockArg::Value(all)]);
        self.b.switch_to_block(merge);
        result
    }

    /// The two words a scalar value would have in a slot.
    fn words(&mut self, v: Val) -> Option<(Value, Value)> {
        Some(match v {
            Val::Bool(x) => (self.b.ins().uextend(types::I64, x), self.iconst(0)),
            Val::Int(x) => (x, self.iconst(0)),
            Val::Str(p, l) | Val::Ip(p, l) => (p, l),
            Val::Slots(..) | Val::Const(_) => return None,
        })
    }

    fn member(
        &mut self,
        id: ExprId,
        lhs: ExprId,
        list: ExprId,
        fold: bool,
    ) -> Result<Value, JitError> {
        let elem = self.val(lhs)?;
        let list = self.val(list)?;
        let (a, b) = self
            .words(elem)
            .ok_or_else(|| self.unsupported(id, "membership of a list"))?;
        match list {
            Val::Const(l) => {
                self.const_list(l)?;
                let fold = self.iconst32(u32::from(fold));
                let args = [self.params.ctx, self.uconst(u64::from(l.0)), fold, a, b];
                Ok(self.call_checked(self.helpers.member_const, &args))
            }
            Val::Slots(ptr, count, s) => {
                let code = match s {
                    Scalar::Str => 0,
                    Scalar::Int => 1,
                    Scalar::Ip => 2,
                    _ => return Err(self.unsupported(id, "membership in a list of this type")),
                };
                let code = self.iconst32(code);
                let fold = self.iconst32(u32::from(fold));
                Ok(self.call_checked(self.helpers.member_slots, &[ptr, count, code, fold, a, b]))
            }
            _ => Err(self.unsupported(id, "membership in a non-list")),
        }
    }

    /// A list value as slots: list fields are already; constant lists are materialised once
    /// per program.
    fn as_slots(&mut self, id: ExprId, v: Val) -> Result<(Value, Value, Scalar), JitError> {
        match v {
            Val::Slots(p, c, s) => Ok((p, c, s)),
            Val::Const(l) => {
                let (ptr, count, elem) = self.prep.list_slots(self.program, l)?;
                Ok((self.uconst(ptr), self.uconst(count), elem))
            }
            _ => Err(self.unsupported(id, "a quantifier over a non-list")),
        }
    }

    fn quant(
        &mut self,
        id: ExprId,
        quant: Quant,
        local: crate::ir::LocalId,
        list: ExprId,
        body: ExprId,
    ) -> Result<Value, JitError> {
        let list_v = self.val(list)?;
        let (ptr, count, elem) = self.as_slots(id, list_v)?;
        if usize::from(local.0) != self.locals.len() {
            return Err(JitError::Internal(format!(
                "node {}: quantifier level {} out of order",
                id.0, local.0
            )));
        }
        let header = self.b.create_block();
        let i = self.b.append_block_param(header, types::I64);
        let body_block = self.b.create_block();
        let done = self.b.create_block();
        let result = self.b.append_block_param(done, types::I8);
        let zero = self.iconst(0);
        self.b.ins().jump(header, &[BlockArg::Value(zero)]);

        // header: i < count (count <= max_items: established by the event builder).
        self.b.switch_to_block(header);
        let exhausted = self
            .b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, i, count);
        let empty_result = self
            .b
            .ins()
            .iconst(types::I8, i64::from(quant == Quant::All));
        self.b.ins().brif(
            exhausted,
            done,
            &[BlockArg::Value(empty_result)],
            body_block,
            &[],
        );

        // body: item i, then the condition.
        self.b.switch_to_block(body_block);
        let offset = self.b.ins().imul_imm_s(i, i64::from(SLOT_BYTES));
        let addr = self.b.ins().iadd(ptr, offset);
        let item = self.slot_val(addr, 0, elem);
        self.locals.push(item);
        self.enter();
        let v = self.bool_of(body);
        self.leave();
        self.locals.pop();
        let v = v?;
        let next = self.b.ins().iadd_imm_s(i, 1);
        match quant {
            Quant::Any => {
                let yes = self.b.ins().iconst(types::I8, 1);
                self.b.ins().brif(
                    v,
                    done,
                    &[BlockArg::Value(yes)],
                    header,
                    &[BlockArg::Value(next)],
                );
            }
            Quant::All => {
                let no = self.b.ins().iconst(types::I8, 0);
                self.b.ins().brif(
                    v,
                    header,
                    &[BlockArg::Value(next)],
                    done,
                    &[BlockArg::Value(no)],
                );
            }
        }
        self.b.switch_to_block(done);
        Ok(result)
    }

    fn call(
        &mut self,
        id: ExprId,
        ty: Ty,
        call: crate::ir::CallId,
        args: &[ExprId],
    ) -> Result<Val, JitError> {
        let builtin_id = self
            .binding
            .builtin(call)
            .ok_or_else(|| self.unsupported(id, "an unbound builtin"))?;
        let builtin =
            builtins::get(builtin_id).ok_or_else(|| self.unsupported(id, "an unknown builtin"))?;
        if builtin.params.len() != args.len() {
            return Err(self.unsupported(id, "a builtin call with the wrong number of arguments"));
        }
        // Arguments: a `FieldRef` parameter receives the field's truncation flag, as a bool.
        let mut vals = Vec::with_capacity(args.len());
        for (&arg, param) in args.iter().zip(builtin.params) {
            let v = match param {
                ParamTy::FieldRef(_) => {
                    let f = match self.node(arg)?.kind {
                        ExprKind::Field(f) => f,
                        _ => {
                            return Err(self
                                .unsupported(id, "a field-reference argument that is not a field"))
                        }
                    };
                    let (index, _) = self.field_index(f, arg)?;
                    Val::Bool(self.flag_test(index, FLAG_TRUNCATED))
                }
                _ => self.val(arg)?,
            };
            vals.push(v);
        }
        // Inline what is a word of the slot already, as the registry row says (`len`,
        // `truncated`).
        match (builtin.jit, vals.as_slice()) {
            (JitLowering::SlotLength, [Val::Str(_, l)]) => return Ok(Val::Int(*l)),
            (JitLowering::SlotLength, [Val::Slots(_, c, _)]) => return Ok(Val::Int(*c)),
            (JitLowering::SlotLength, [Val::Const(l)]) => {
                let n = self
                    .program
                    .lists
                    .get(l.0 as usize)
                    .map(|l| l.items.len())
                    .ok_or_else(|| self.unsupported(id, "a list out of range"))?;
                return Ok(Val::Int(self.iconst(i64::try_from(n).unwrap_or(i64::MAX))));
            }
            (JitLowering::TruncatedFlag, [Val::Bool(b)]) => return Ok(Val::Bool(*b)),
            (JitLowering::Helper | JitLowering::SlotLength | JitLowering::TruncatedFlag, _) => {}
        }
        // Everything else: the registry's own `eval`, through the generic helper.
        let mut kinds = Vec::with_capacity(vals.len());
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            SLOT_BYTES * (vals.len() as u32 + 1),
            3,
        ));
        for (i, v) in vals.iter().enumerate() {
            let (w0, w1, kind) = match *v {
                Val::Bool(x) => (
                    self.b.ins().uextend(types::I64, x),
                    self.iconst(0),
                    ArgKind::Bool,
                ),
                Val::Int(x) => (x, self.iconst(0), ArgKind::Int),
                Val::Str(p, l) => (p, l, ArgKind::Str),
                Val::Ip(h, l) => (h, l, ArgKind::Ip),
                Val::Slots(..) | Val::Const(_) => {
                    let (p, c, s) = self.as_slots(id, *v)?;
                    (p, c, ArgKind::List(s))
                }
            };
            kinds.push(kind);
            let off = (i as u32 * SLOT_BYTES) as i32;
            self.b.ins().stack_store(types::I64, w0, slot, off);
            self.b.ins().stack_store(types::I64, w1, slot, off + 8);
        }
        let kinds = encode_kinds(&kinds)
            .ok_or_else(|| self.unsupported(id, "a builtin call with this many arguments"))?;
        let out_off = (vals.len() as u32 * SLOT_BYTES) as i32;
        let args_addr = self.b.ins().stack_addr(types::I64, slot, 0);
        let out_addr = self.b.ins().stack_addr(types::I64, slot, out_off);
        let nargs = self.iconst(vals.len() as i64);
        let call_id = self.uconst(u64::from(call.0));
        let kinds = self.uconst(kinds);
        let _ = self.call_checked(
            self.helpers.call,
            &[self.params.ctx, call_id, kinds, args_addr, nargs, out_addr],
        );
        let w0 = self
            .b
            .ins()
            .stack_load(types::I64, types::I64, slot, out_off);
        Ok(match ty {
            Ty::Scalar(Scalar::Bool) => Val::Bool(self.b.ins().icmp_imm_s(IntCC::NotEqual, w0, 0)),
            Ty::Scalar(Scalar::Int) => Val::Int(w0),
            Ty::Scalar(Scalar::Str) => Val::Str(
                w0,
                self.b
                    .ins()
                    .stack_load(types::I64, types::I64, slot, out_off + 8),
            ),
            Ty::Scalar(Scalar::Ip) => Val::Ip(
                w0,
                self.b
                    .ins()
                    .stack_load(types::I64, types::I64, slot, out_off + 8),
            ),
            _ => return Err(self.unsupported(id, "a builtin returning this type")),
        })
    }
}

/// Case-sensitive tests against constants up to this many bytes are compiled inline.
const INLINE_CONST_BYTES: usize = 32;
