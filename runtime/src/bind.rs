//! Schema binding: resolves a program's field requirements, event types and builtins against
//! the HOST's schema and builtin registry (E0620–E0699).
//!
//! Input: an [`ir::Program`] and the host [`Schema`]; output: a [`Binding`] (for each
//! [`FieldRef`], the host's event type id, field index, type and the HOST's bounds; for each
//! [`CallId`], this runtime's [`BuiltinId`]; the event type ids each rule runs on), or every
//! [`BindError`] found. The verifier ([`crate::verify::verify`]) then proves the program under
//! the host's bounds, so a host that bounds a field more loosely than the bundle assumed is
//! accepted exactly when the proofs still hold (and refused with
//! [`ErrorCode::HostBoundsBreakProof`] when they do not).
//!
//! Rules: the schema name and major version must be equal (the minor may differ either way:
//! minors only add fields, and each field the program reads is checked one by one); each
//! requirement's event type and field must exist in the host with the same type; each event
//! type a rule runs on must exist; a rule that runs on several event types (`on a, b`) reads a
//! field by the name of its requirement on each of them, so each must supply it with the same
//! type; each builtin must exist in this runtime's registry with the same signature.
//!
//! Binding does not check the program's ids or types (the verifier does): it never indexes
//! with an unchecked id, and never panics.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::builtins::{self, BuiltinId, ParamTy};
use crate::error::ErrorCode;
use crate::ir::{self, CallId, ExprKind, FieldRef, Program, RuleId, RuleKind};
use crate::schema::{EventTypeId, FieldIndex, Schema};
use crate::types::Ty;

/// A field requirement resolved to the host: where the field lives and the host's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BoundField {
    /// The host event type.
    pub event: EventTypeId,
    /// The field's index in that event type.
    pub index: FieldIndex,
    /// Its type (equal to the requirement's).
    pub ty: Ty,
    /// The host's maximum bytes of a string (or of each list item).
    pub max_len: u32,
    /// The host's maximum items of a list.
    pub max_items: u32,
    /// The host's maximum bytes of all items of a `[string]` list together (0 for others).
    pub max_total_len: u32,
}

/// A program bound to a host schema and this runtime's builtins. Built only by [`bind`].
#[derive(Clone, Debug)]
pub struct Binding {
    host_name: String,
    host_label: String,
    event_names: Vec<String>,
    /// Per host event type, its `max_event_bytes`.
    event_bytes: Vec<u32>,
    /// Per host event type, per field: `(max_len, max_total_len)`.
    event_fields: Vec<Vec<(u32, u32)>>,
    fields: Vec<BoundField>,
    /// The same-named field on the other event types of rules that run on several types.
    alternates: BTreeMap<(FieldRef, EventTypeId), BoundField>,
    builtins: Vec<BuiltinId>,
    rule_events: Vec<Vec<EventTypeId>>,
    step_events: Vec<Vec<EventTypeId>>,
}

impl Binding {
    /// The host-bound field of requirement `f` (on the requirement's own event type); `None`
    /// if `f` is out of range (the verifier refuses such programs).
    pub fn field(&self, f: FieldRef) -> Option<BoundField> {
        self.fields.get(f.0 as usize).copied()
    }

    /// The field a read of requirement `f` reaches on an event of type `event`: the
    /// requirement's own field on its own event type, and for a rule that runs on several event
    /// types, the field of the same name on the others. `None` when the rule cannot read `f`
    /// on such events.
    pub fn field_on(&self, f: FieldRef, event: EventTypeId) -> Option<BoundField> {
        let own = self.field(f)?;
        if own.event == event {
            Some(own)
        } else {
            self.alternates.get(&(f, event)).copied()
        }
    }

    /// Every host field the program can read, as `(event type, field index)`: each field
    /// requirement's own field (conditions, `emit` templates, `fields [..]`, state keys,
    /// captures all read through requirements) and, for rules that run on several event types,
    /// the same-named field on the others. A field may come more than once; no order is
    /// promised. What a decoder must produce for the program ([`crate::decode::FieldSet`]).
    pub fn fields_read(&self) -> impl Iterator<Item = (EventTypeId, FieldIndex)> + '_ {
        self.fields
            .iter()
            .chain(self.alternates.values())
            .map(|b| (b.event, b.index))
    }

    /// This runtime's builtin for the program's call table entry `c`.
    pub fn builtin(&self, c: CallId) -> Option<BuiltinId> {
        self.builtins.get(usize::from(c.0)).copied()
    }

    /// The event types rule `rule` runs on, each once, in first-use order (for a sequence, the
    /// steps' types).
    pub fn rule_events(&self, rule: RuleId) -> &[EventTypeId] {
        self.rule_events
            .get(rule.0 as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// The event type of each step of sequence rule `rule`, in step order; empty for other
    /// rules.
    pub fn step_events(&self, rule: RuleId) -> &[EventTypeId] {
        self.step_events
            .get(rule.0 as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// The host event type's `max_event_bytes` (`u32::MAX` for an id out of range).
    pub fn max_event_bytes(&self, event: EventTypeId) -> u32 {
        self.event_bytes
            .get(usize::from(event.0))
            .copied()
            .unwrap_or(u32::MAX)
    }

    /// The host's `(max_len, max_total_len)` of field `index` of event type `event`.
    pub fn field_def(&self, event: EventTypeId, index: FieldIndex) -> Option<(u32, u32)> {
        self.event_fields
            .get(usize::from(event.0))?
            .get(usize::from(index.0))
            .copied()
    }

    /// The host event type's name (`?` for an id out of range).
    pub fn event_name(&self, event: EventTypeId) -> &str {
        self.event_names
            .get(usize::from(event.0))
            .map_or("?", String::as_str)
    }

    /// The host schema's name and version, as diagnostics print it: `endpoint 1.1`.
    pub fn host_label(&self) -> &str {
        &self.host_label
    }

    /// The host schema's name.
    pub fn host_name(&self) -> &str {
        &self.host_name
    }

    /// Number of bound field requirements (equals the program's).
    pub(crate) fn field_count(&self) -> usize {
        self.fields.len()
    }

    /// Number of bound builtins (equals the program's).
    pub(crate) fn builtin_count(&self) -> usize {
        self.builtins.len()
    }

    /// Number of rules bound (equals the program's).
    pub(crate) fn rule_count(&self) -> usize {
        self.rule_events.len()
    }
}

/// A binding failure: what the host lacks, and which rules need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindError {
    /// The E06xx code.
    pub code: ErrorCode,
    /// The names of the rules that read the field, run on the event type or call the builtin
    /// (empty when no rule does: the requirement alone refuses the load).
    pub rules: Vec<String>,
    /// The field as `event.field`, when a field is at fault.
    pub field: Option<String>,
    /// Lower case, names in backticks, no final period.
    pub message: String,
}

impl fmt::Display for BindError {
    /// `error[E0623]: rule `x`: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: ", self.code)?;
        match self.rules.as_slice() {
            [] => {}
            [one] => write!(f, "rule `{one}`: ")?,
            many => write!(f, "rules {}: ", name_list(many))?,
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for BindError {}

/// `` `a`, `b`, `c` and 4 more ``.
fn name_list(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut out = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    out
}

/// Whether registry parameter `param` accepts the program's declared parameter type `ty`.
fn param_matches(param: ParamTy, ty: Ty) -> bool {
    match param {
        ParamTy::Exact(t) => t == ty,
        ParamTy::StrOrList => ty == Ty::STR || ty.is_list(),
        ParamTy::FieldRef(s) => ty.scalar() == s,
    }
}

/// Binds `program` to the host schema `host` and this runtime's builtin registry.
pub fn bind(program: &Program, host: &Schema) -> Result<Binding, Vec<BindError>> {
    let label = host.label();
    check_schema(program, host, &label).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let fields = bind_fields(program, host, &label, &mut errors);
    let (builtins, bad_builtins) = bind_builtins(program, &mut errors);

    // Event types per rule; alternates for rules on several event types.
    let mut rule_events = Vec::with_capacity(program.rules.len());
    let mut step_events = Vec::with_capacity(program.rules.len());
    let mut alternates = BTreeMap::new();
    for rule in &program.rules {
        let mut ids = Vec::new();
        for name in rule.event_types() {
            match host.event(name) {
                Some((id, _)) => ids.push(id),
                None => errors.push(BindError {
                    code: ErrorCode::BindUnknownEventType,
                    rules: vec![rule.name.clone()],
                    field: None,
                    message: format!("runs on event type `{name}`, which `{label}` does not have"),
                }),
            }
        }
        let steps = match &rule.kind {
            RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => seq
                .steps
                .iter()
                .filter_map(|s| host.event(&s.event).map(|(id, _)| id))
                .collect(),
            _ => Vec::new(),
        };
        if ids.len() > 1
            && !matches!(
                rule.kind,
                RuleKind::Sequence(_) | RuleKind::SequenceAnyOrder(_)
            )
        {
            let found = bind_alternates(program, rule, host, &label, &ids, &fields, &mut errors);
            alternates.extend(found);
        }
        rule_events.push(ids);
        step_events.push(steps);
    }

    if !fields.bad.is_empty() || !bad_builtins.is_empty() {
        report_failed(program, &fields.bad, &bad_builtins, &mut errors);
    }

    if errors.is_empty() {
        Ok(Binding {
            host_name: host.name.clone(),
            host_label: label,
            event_names: host.events.iter().map(|e| e.name.clone()).collect(),
            event_bytes: host.events.iter().map(|e| e.max_event_bytes).collect(),
            event_fields: host
                .events
                .iter()
                .map(|e| {
                    e.fields
                        .iter()
                        .map(|f| (f.max_len, f.max_total_len))
                        .collect()
                })
                .collect(),
            fields: fields.bound,
            alternates,
            builtins,
            rule_events,
            step_events,
        })
    } else {
        Err(errors)
    }
}

/// The refusals that stop binding at once: another schema, another major version, or more
/// rules than ids.
fn check_schema(program: &Program, host: &Schema, label: &str) -> Result<(), BindError> {
    let wanted = format!(
        "{} {}.{}",
        program.schema.name, program.schema.major, program.schema.minor
    );
    if program.schema.name != host.name {
        return Err(BindError {
            code: ErrorCode::SchemaNameMismatch,
            rules: Vec::new(),
            field: None,
            message: format!(
                "the bundle was built for schema `{wanted}`, the host supplies `{label}`"
            ),
        });
    }
    if program.schema.major != host.version.major {
        return Err(BindError {
            code: ErrorCode::SchemaMajorMismatch,
            rules: Vec::new(),
            field: None,
            message: format!(
                "the bundle was built for schema `{wanted}`, the host supplies `{label}` \
                 (another major version)"
            ),
        });
    }
    if program.rules.len() > u32::MAX as usize {
        return Err(BindError {
            code: ErrorCode::BindingTooLarge,
            rules: Vec::new(),
            field: None,
            message: format!("{} rules cannot be numbered", program.rules.len()),
        });
    }
    Ok(())
}

/// The program's field requirements bound on their own event types.
struct Fields {
    /// One per requirement; a placeholder where binding failed (the binding is not returned
    /// then), so that indexes stay aligned.
    bound: Vec<BoundField>,
    /// The requirements that failed, with the code and message (rules are named later).
    bad: BTreeMap<FieldRef, (ErrorCode, String)>,
}

/// Binds each field requirement on its own event type.
fn bind_fields(
    program: &Program,
    host: &Schema,
    label: &str,
    errors: &mut Vec<BindError>,
) -> Fields {
    let mut fields = Fields {
        bound: Vec::with_capacity(program.fields.len()),
        bad: BTreeMap::new(),
    };
    for (i, req) in program.fields.iter().enumerate() {
        let Ok(index) = u32::try_from(i) else {
            errors.push(BindError {
                code: ErrorCode::BindingTooLarge,
                rules: Vec::new(),
                field: None,
                message: format!(
                    "{} field requirements cannot be numbered",
                    program.fields.len()
                ),
            });
            break;
        };
        let fref = FieldRef(index);
        match resolve_field(host, &req.event, &req.field, req.ty, label) {
            Ok(bound) => fields.bound.push(bound),
            Err(fault) => {
                fields.bad.insert(fref, fault);
                fields.bound.push(BoundField {
                    event: EventTypeId(0),
                    index: FieldIndex(0),
                    ty: req.ty,
                    max_len: 0,
                    max_items: 0,
                    max_total_len: 0,
                });
            }
        }
    }
    fields
}

/// Binds each builtin of the program's call table to this runtime's registry, by name and
/// signature. Returns the ids (a placeholder where the name is unknown) and the failures.
fn bind_builtins(
    program: &Program,
    errors: &mut Vec<BindError>,
) -> (Vec<BuiltinId>, BTreeMap<u16, (ErrorCode, String)>) {
    let mut builtins = Vec::with_capacity(program.builtins.len());
    let mut bad_builtins: BTreeMap<u16, (ErrorCode, String)> = BTreeMap::new();
    for (i, b) in program.builtins.iter().enumerate() {
        let Ok(call) = u16::try_from(i) else {
            errors.push(BindError {
                code: ErrorCode::BindingTooLarge,
                rules: Vec::new(),
                field: None,
                message: format!("{} builtins cannot be numbered", program.builtins.len()),
            });
            break;
        };
        let signature = format!(
            "{}({}) -> {}",
            b.name,
            b.params
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            b.ret
        );
        match builtins::lookup(&b.name) {
            None => {
                bad_builtins.insert(
                    call,
                    (
                        ErrorCode::UnknownBuiltin,
                        format!("the bundle calls `{signature}`, which this runtime does not have"),
                    ),
                );
                builtins.push(BuiltinId(0));
            }
            Some((id, def)) => {
                let same = def.params.len() == b.params.len()
                    && def
                        .params
                        .iter()
                        .zip(&b.params)
                        .all(|(p, t)| param_matches(*p, *t))
                    && def.ret == b.ret;
                if !same {
                    bad_builtins.insert(
                        call,
                        (
                            ErrorCode::BuiltinSignatureMismatch,
                            format!(
                                "the bundle calls `{signature}`, but this runtime's `{}` takes \
                                 {} argument(s) and returns `{}`",
                                def.name,
                                def.params.len(),
                                def.ret
                            ),
                        ),
                    );
                }
                builtins.push(id);
            }
        }
    }
    (builtins, bad_builtins)
}

/// For a rule that runs on the event types `ids` (several, not a sequence): the same-named
/// field on each other type, for every requirement it reads by value; each that a type lacks
/// is an error.
fn bind_alternates(
    program: &Program,
    rule: &ir::Rule,
    host: &Schema,
    label: &str,
    ids: &[EventTypeId],
    fields: &Fields,
    errors: &mut Vec<BindError>,
) -> Vec<((FieldRef, EventTypeId), BoundField)> {
    let mut alternates = Vec::new();
    for fref in fields_read_by_value(rule) {
        let (Some(req), Some(own)) = (
            program.fields.get(fref.0 as usize),
            fields.bound.get(fref.0 as usize),
        ) else {
            continue; // out of range: the verifier reports it
        };
        if fields.bad.contains_key(&fref) {
            continue;
        }
        for &ev in ids {
            if ev == own.event {
                continue;
            }
            let ev_name = host.event_by_id(ev).map_or("?", |e| e.name.as_str());
            match resolve_field(host, ev_name, &req.field, req.ty, label) {
                Ok(bound) => alternates.push(((fref, ev), bound)),
                Err((code, message)) => errors.push(BindError {
                    code,
                    rules: vec![rule.name.clone()],
                    field: Some(format!("{ev_name}.{}", req.field)),
                    message: format!("runs on `{ev_name}` and reads `{}`: {message}", req.field),
                }),
            }
        }
    }
    alternates
}

/// Reports each failed requirement and builtin, naming the rules behind it (one pass over the
/// rules).
fn report_failed(
    program: &Program,
    bad_fields: &BTreeMap<FieldRef, (ErrorCode, String)>,
    bad_builtins: &BTreeMap<u16, (ErrorCode, String)>,
    errors: &mut Vec<BindError>,
) {
    let mut field_readers: BTreeMap<FieldRef, BTreeSet<usize>> = BTreeMap::new();
    let mut builtin_callers: BTreeMap<u16, BTreeSet<usize>> = BTreeMap::new();
    for (r, rule) in program.rules.iter().enumerate() {
        for_each_field_ref(rule, |f| {
            if bad_fields.contains_key(&f) {
                field_readers.entry(f).or_default().insert(r);
            }
        });
        for expr in &rule.exprs {
            if let ExprKind::Call { builtin, .. } = &expr.kind {
                if bad_builtins.contains_key(&builtin.0) {
                    builtin_callers.entry(builtin.0).or_default().insert(r);
                }
            }
        }
    }
    let names = |set: Option<&BTreeSet<usize>>| -> Vec<String> {
        set.map(|s| {
            s.iter()
                .filter_map(|&r| program.rules.get(r).map(|rule| rule.name.clone()))
                .collect()
        })
        .unwrap_or_default()
    };
    for (fref, (code, message)) in bad_fields {
        let req = program.fields.get(fref.0 as usize);
        errors.push(BindError {
            code: *code,
            rules: names(field_readers.get(fref)),
            field: req.map(|r| format!("{}.{}", r.event, r.field)),
            message: message.clone(),
        });
    }
    for (call, (code, message)) in bad_builtins {
        errors.push(BindError {
            code: *code,
            rules: names(builtin_callers.get(call)),
            field: None,
            message: message.clone(),
        });
    }
}

/// The host field `event.field`, which must have type `ty`.
fn resolve_field(
    host: &Schema,
    event: &str,
    field: &str,
    ty: Ty,
    label: &str,
) -> Result<BoundField, (ErrorCode, String)> {
    let Some((event_id, event_type)) = host.event(event) else {
        return Err((
            ErrorCode::BindUnknownEventType,
            format!("reads `{event}.{field}`, but `{label}` has no event type `{event}`"),
        ));
    };
    let Some((index, def)) = event_type.field(field) else {
        return Err((
            ErrorCode::MissingField,
            format!("reads field `{event}.{field}`, which host schema `{label}` does not supply"),
        ));
    };
    if def.ty != ty {
        return Err((
            ErrorCode::FieldTypeMismatch,
            format!(
                "reads field `{event}.{field}` as `{ty}`, but host schema `{label}` supplies it \
                 as `{}`",
                def.ty
            ),
        ));
    }
    Ok(BoundField {
        event: event_id,
        index,
        ty,
        max_len: def.max_len,
        max_items: def.max_items,
        max_total_len: def.max_total_len,
    })
}

/// The requirements a rule reads *by name on its event* (expression reads and a threshold's
/// counted field), each once: the ones that must exist on each of a multi-type rule's events.
fn fields_read_by_value(rule: &ir::Rule) -> BTreeSet<FieldRef> {
    let mut out = BTreeSet::new();
    for expr in &rule.exprs {
        if let ExprKind::Field(f) | ExprKind::Exists(f) | ExprKind::Truncated(f) = expr.kind {
            out.insert(f);
        }
    }
    if let RuleKind::Threshold(t) = &rule.kind {
        if let Some(f) = t.counting.field() {
            out.insert(f);
        }
    }
    out
}

/// Calls `f` on every field requirement a rule refers to: expression reads, keys, captures,
/// a threshold's distinct field.
pub(crate) fn for_each_field_ref(rule: &ir::Rule, mut f: impl FnMut(FieldRef)) {
    for expr in &rule.exprs {
        if let ExprKind::Field(r) | ExprKind::Exists(r) | ExprKind::Truncated(r) = expr.kind {
            f(r);
        }
    }
    match &rule.kind {
        RuleKind::Single { .. } => {}
        RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => {
            seq.steps.iter().flat_map(|s| &s.key).for_each(|r| f(*r));
            seq.captures.iter().for_each(|c| f(c.field));
        }
        RuleKind::Threshold(t) => {
            t.key.iter().flatten().for_each(|r| f(*r));
            if let Some(r) = t.counting.field() {
                f(r);
            }
        }
    }
}
