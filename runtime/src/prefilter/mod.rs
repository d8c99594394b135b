//! The whole-bundle literal prefilter (DESIGN.md, "Execution"): per event type, the literals
//! that single-event rules test on `string` fields, compiled into ONE Aho-Corasick automaton per
//! (field, folded) pair and run once per event; rules whose required literals did not occur are
//! skipped, and the literal tests of the rules that do run are answered from the same scan.
//!
//! Input: a program and its binding ([`Prefilter::new`]); per event, a reused [`Hits`] buffer
//! filled by [`Prefilter::scan`]: for every literal, where it occurred (`AT_ANY`, `AT_START`,
//! `AT_END`, `WHOLE` bits, exact: a folded literal is matched over the field's value folded
//! once per event into the buffer's own string). [`Prefilter::may_fire`] then says whether a
//! rule's requirement ([`require`]) holds. What this module must not do: skip a rule that
//! could fire. Requirements are necessary conditions only (see [`require`]), and the
//! soundness tests (`runtime/tests/prefilter_*.rs`) check JIT-with-prefilter against the
//! interpreter without it on random rules and events.
//!
//! Per event, nothing is allocated once the buffer has warmed up: the bits live in one byte
//! per literal, reset through the list of the ones set, and the folded buffer keeps its
//! capacity.

pub mod require;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::bind::Binding;
use crate::casefold::fold_into;
use crate::event::Event;
use crate::ir::{FieldRef, Program, RuleId, RuleKind};
use crate::schema::{EventTypeId, FieldIndex};
use crate::types::Ty;

pub use require::{Literal, Req, AT_ANY, AT_END, AT_START, WHOLE};

/// One automaton: the literals of one (field, folded) pair on one event type.
#[derive(Clone, Debug)]
struct Scan {
    field: FieldIndex,
    folded: bool,
    automaton: AhoCorasick,
    /// Per pattern of the automaton: its literal number on the event type.
    lits: Vec<u32>,
}

/// The prefilter of one event type.
#[derive(Clone, Debug, Default)]
struct PerType {
    scans: Vec<Scan>,
    /// The literals, by number.
    literals: require::Literals,
    /// Per single-event rule of the type, in program order: its requirement.
    reqs: Vec<(RuleId, Option<Req>)>,
    /// Per rule (as `reqs`): the (field, folded) pairs its literal tests read.
    reads: Vec<Vec<(FieldIndex, bool)>>,
    /// Per rule (as `reqs`): the scans to run before its requirement is checked or its code
    /// reads literal bits (indexes into `scans`).
    needs: Vec<Vec<u16>>,
    /// The scans run on every event: those holding a trigger literal.
    eager: Vec<u16>,
    /// Per literal: the rules (indexes into `reqs`) it triggers, i.e. whose trigger set (a
    /// set of literals one of which must occur for the requirement to hold) contains it.
    triggers: Vec<Vec<u32>>,
    /// The single-event rules without a requirement (indexes into `reqs`), in program order:
    /// they always run.
    always: Vec<u32>,
}

/// The prefilter of a whole program. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Prefilter {
    types: Vec<PerType>,
    max_literals: usize,
    max_rules: usize,
    max_scans: usize,
}

/// Per-event results of [`Prefilter::scan`], reused across events (one per thread).
#[derive(Clone, Debug, Default)]
pub struct Hits {
    /// Per literal of the event's type: its occurrence bits.
    bits: Vec<u8>,
    /// The literals whose bits are set (to reset them).
    set: Vec<u32>,
    /// Per scan of the event's type: whether it ran on this event.
    scanned: Vec<bool>,
    /// The folded field value.
    folded: String,
    /// The event type scanned last, when the bits are valid.
    ty: Option<EventTypeId>,
    /// Indexes of triggered rules.
    cands: Vec<u32>,
    /// The candidate rules of the last [`Prefilter::candidates`] call, in program order.
    rules: Vec<RuleId>,
}

impl Hits {
    /// The occurrence bits of literal `lit` (0 when it did not occur, or when its field was
    /// not scanned: the prefilter scans a field only for the rules that need it).
    pub fn at(&self, lit: u32) -> u8 {
        self.bits.get(lit as usize).copied().unwrap_or(0)
    }

    /// The bits, one byte per literal of the last scanned event's type (compiled code reads
    /// them by literal number; only literals of fields scanned for the rule it runs).
    pub fn bits(&self) -> &[u8] {
        &self.bits
    }

    /// The event type whose bits these are.
    pub fn event_type(&self) -> Option<EventTypeId> {
        self.ty
    }

    /// The rules [`Prefilter::candidates`] found, in program order.
    pub fn candidates(&self) -> &[RuleId] {
        &self.rules
    }

    fn clear(&mut self) {
        for &l in &self.set {
            if let Some(b) = self.bits.get_mut(l as usize) {
                *b = 0;
            }
        }
        self.set.clear();
        self.scanned.iter_mut().for_each(|s| *s = false);
        self.ty = None;
        self.cands.clear();
        self.rules.clear();
    }
}

/// Reads fields of one event type for the analysis.
struct TypeFields<'a> {
    binding: &'a Binding,
    ty: EventTypeId,
}

impl require::Fields for TypeFields<'_> {
    fn str_field(&self, f: FieldRef) -> Option<FieldIndex> {
        let b = self.binding.field_on(f, self.ty)?;
        (b.ty == Ty::STR).then_some(b.index)
    }
}

impl Prefilter {
    /// Builds the automata and the requirements of every single-event rule of `program`.
    /// Stateful rules get none (they always run).
    pub fn new(program: &Program, binding: &Binding) -> Prefilter {
        let mut types: Vec<PerType> = Vec::new();
        for (i, rule) in program.rules.iter().enumerate() {
            let Ok(id) = u32::try_from(i) else { break };
            let rid = RuleId(id);
            let RuleKind::Single { cond, .. } = &rule.kind else {
                continue;
            };
            for &ty in binding.rule_events(rid) {
                let t = usize::from(ty.0);
                if types.len() <= t {
                    types.resize_with(t + 1, PerType::default);
                }
                let Some(per) = types.get_mut(t) else {
                    continue;
                };
                let fields = TypeFields { binding, ty };
                let mut reads = Vec::new();
                let req = cond.and_then(|c| {
                    require::analyse(program, rule, c, &fields, &mut per.literals, &mut reads)
                });
                per.reqs.push((rid, req));
                per.reads.push(reads);
            }
        }
        let mut max = (0, 0, 0);
        for (t, per) in types.iter_mut().enumerate() {
            match build_scans(&per.literals.list) {
                Some(scans) => per.scans = scans,
                None => {
                    // Nothing scanned: no requirement and no literal may be relied on.
                    per.reqs.iter_mut().for_each(|(_, r)| *r = None);
                    per.literals = require::Literals::default();
                }
            }
            let cost = |f: FieldIndex| {
                u16::try_from(t).ok().map_or(u64::MAX, |t| {
                    field_cost(binding, program, EventTypeId(t), f)
                })
            };
            per.index(&cost);
            max.0 = max.0.max(per.literals.list.len());
            max.1 = max.1.max(per.reqs.len());
            max.2 = max.2.max(per.scans.len());
        }
        Prefilter {
            types,
            max_literals: max.0,
            max_rules: max.1,
            max_scans: max.2,
        }
    }

    /// A fresh per-event buffer, sized so that scanning never grows it (but for a folded value
    /// longer than any seen before).
    pub fn hits(&self) -> Hits {
        Hits {
            bits: vec![0; self.max_literals],
            set: Vec::with_capacity(self.max_literals),
            scanned: vec![false; self.max_scans],
            folded: String::with_capacity(4096),
            ty: None,
            cands: Vec::with_capacity(self.max_rules),
            rules: Vec::with_capacity(self.max_rules),
        }
    }

    /// Event types the prefilter knows (ids `0..type_count()`; others have no literals).
    pub fn type_count(&self) -> usize {
        self.types.len()
    }

    /// Literals (automaton patterns) on event type `ty`.
    pub fn literal_count(&self, ty: EventTypeId) -> usize {
        self.types
            .get(usize::from(ty.0))
            .map_or(0, |p| p.literals.list.len())
    }

    /// Automata on event type `ty` (one per scanned (field, folded) pair).
    pub fn automaton_count(&self, ty: EventTypeId) -> usize {
        self.types
            .get(usize::from(ty.0))
            .map_or(0, |p| p.scans.len())
    }

    /// Automata on event type `ty` run on every event (the others run only for the rules that
    /// need them).
    pub fn eager_count(&self, ty: EventTypeId) -> usize {
        self.types
            .get(usize::from(ty.0))
            .map_or(0, |p| p.eager.len())
    }

    /// Single-event rules of `ty` that have a requirement (the others always run).
    pub fn filtered_rules(&self, ty: EventTypeId) -> usize {
        self.types
            .get(usize::from(ty.0))
            .map_or(0, |p| p.reqs.iter().filter(|(_, r)| r.is_some()).count())
    }

    /// The number of the literal `pattern` (unfolded; folded here when `folded`) on `field` of
    /// event type `ty`, when the prefilter scans for it: its bits in a [`Hits`] of that type
    /// answer the test exactly, for a rule the engine runs after [`Prefilter::candidates`].
    pub fn literal(
        &self,
        ty: EventTypeId,
        field: FieldIndex,
        folded: bool,
        pattern: &str,
    ) -> Option<u32> {
        let lit = require::literal_of(field, folded, pattern)?;
        self.types.get(usize::from(ty.0))?.literals.find(&lit)
    }

    /// The requirement of single-event rule `rule` on `ty` (`None`: it always runs).
    pub fn requirement(&self, ty: EventTypeId, rule: RuleId) -> Option<&Req> {
        let per = self.types.get(usize::from(ty.0))?;
        let i = per.reqs.binary_search_by_key(&rule, |(r, _)| *r).ok()?;
        per.reqs.get(i)?.1.as_ref()
    }

    /// Starts `event`: resets `hits` and runs the automata every event of its type needs (those
    /// of the trigger literals), once each over its field.
    pub fn scan(&self, event: &Event<'_>, hits: &mut Hits) {
        hits.clear();
        let ty = event.ty();
        hits.ty = Some(ty);
        let Some(per) = self.types.get(usize::from(ty.0)) else {
            return;
        };
        if hits.bits.len() < per.literals.list.len() {
            hits.bits.resize(per.literals.list.len(), 0);
        }
        if hits.scanned.len() < per.scans.len() {
            hits.scanned.resize(per.scans.len(), false);
        }
        for &s in &per.eager {
            run_scan(per, s, event, hits);
        }
    }

    /// The single-event rules of `event`'s type that may fire, given `hits` started on it
    /// ([`Prefilter::scan`]): those whose requirement holds, and those without one, in
    /// program order; left in [`Hits::candidates`]. Each has had every automaton its literal
    /// tests read run over the event, so that its requirement and its literal bits are exact.
    pub fn candidates(&self, event: &Event<'_>, hits: &mut Hits) {
        hits.cands.clear();
        hits.rules.clear();
        if hits.ty != Some(event.ty()) {
            return;
        }
        let Some(per) = self.types.get(usize::from(event.ty().0)) else {
            return;
        };
        let mut cands = std::mem::take(&mut hits.cands);
        let mut rules = std::mem::take(&mut hits.rules);
        for &lit in &hits.set {
            if let Some(t) = per.triggers.get(lit as usize) {
                cands.extend_from_slice(t);
            }
        }
        cands.sort_unstable();
        cands.dedup();
        let mut always = per.always.iter().copied().peekable();
        for &c in &cands {
            let Some((rule, req)) = per.reqs.get(c as usize) else {
                continue;
            };
            while let Some(a) = always.next_if(|a| *a < c) {
                ensure(per, a, event, hits);
                if let Some((r, _)) = per.reqs.get(a as usize) {
                    rules.push(*r);
                }
            }
            ensure(per, c, event, hits);
            if req.as_ref().is_some_and(|r| !r.holds(&|l| hits.at(l))) {
                continue;
            }
            rules.push(*rule);
        }
        for a in always {
            ensure(per, a, event, hits);
            if let Some((r, _)) = per.reqs.get(a as usize) {
                rules.push(*r);
            }
        }
        hits.cands = cands;
        hits.rules = rules;
    }

    /// Whether single-event rule `rule` may fire on `event`, `hits` started on it: false only
    /// when its requirement is false (then its condition is false too).
    pub fn may_fire(&self, event: &Event<'_>, rule: RuleId, hits: &mut Hits) -> bool {
        let ty = event.ty();
        if hits.ty != Some(ty) {
            return true;
        }
        let Some(per) = self.types.get(usize::from(ty.0)) else {
            return true;
        };
        let Ok(i) = per.reqs.binary_search_by_key(&rule, |(r, _)| *r) else {
            return true;
        };
        let Some(Some(req)) = per.reqs.get(i).map(|(_, r)| r.as_ref()) else {
            return true;
        };
        if let Ok(i) = u32::try_from(i) {
            ensure(per, i, event, hits);
        }
        req.holds(&|l| hits.at(l))
    }
}

/// Runs the scans rule `i` (index into `reqs`) needs that have not run on this event yet.
fn ensure(per: &PerType, i: u32, event: &Event<'_>, hits: &mut Hits) {
    if let Some(needs) = per.needs.get(i as usize) {
        for &s in needs {
            if !hits.scanned.get(usize::from(s)).copied().unwrap_or(true) {
                run_scan(per, s, event, hits);
            }
        }
    }
}

/// Runs scan `s` over its field of `event`, setting the bits of the literals that occur.
fn run_scan(per: &PerType, s: u16, event: &Event<'_>, hits: &mut Hits) {
    let Some(scan) = per.scans.get(usize::from(s)) else {
        return;
    };
    if let Some(done) = hits.scanned.get_mut(usize::from(s)) {
        *done = true;
    }
    let Hits {
        bits, set, folded, ..
    } = hits;
    let raw = event.get_str(scan.field);
    let text: &str = if scan.folded {
        fold_into(raw, folded);
        folded.as_str()
    } else {
        raw
    };
    let len = text.len();
    for m in scan.automaton.find_overlapping_iter(text) {
        let Some(&lit) = scan.lits.get(m.pattern().as_usize()) else {
            continue;
        };
        let mut at = AT_ANY;
        if m.start() == 0 {
            at |= AT_START;
        }
        if m.end() == len {
            at |= AT_END;
            if m.start() == 0 {
                at |= WHOLE;
            }
        }
        if let Some(b) = bits.get_mut(lit as usize) {
            if *b == 0 {
                set.push(lit);
            }
            *b |= at;
        }
    }
}

/// The cost of scanning field `f` of `ty`: its maximum length (folded scans cost the same
/// order), the proxy for how long its values are.
fn field_cost(binding: &Binding, program: &Program, ty: EventTypeId, f: FieldIndex) -> u64 {
    program
        .fields
        .iter()
        .enumerate()
        .filter_map(|(i, _)| u32::try_from(i).ok())
        .filter_map(|i| binding.field_on(FieldRef(i), ty))
        .find(|b| b.index == f)
        .map_or(u64::MAX, |b| u64::from(b.max_len).max(1))
}

/// One automaton per (field, folded) pair over `literals`.
fn build_scans(literals: &[Literal]) -> Option<Vec<Scan>> {
    let mut groups: std::collections::BTreeMap<(FieldIndex, bool), Vec<u32>> =
        std::collections::BTreeMap::new();
    for (i, l) in literals.iter().enumerate() {
        if let Ok(n) = u32::try_from(i) {
            groups.entry((l.field, l.folded)).or_default().push(n);
        }
    }
    let mut scans = Vec::with_capacity(groups.len());
    for ((field, folded), lits) in groups {
        let patterns = lits
            .iter()
            .filter_map(|&l| literals.get(l as usize).map(|x| x.bytes.as_slice()));
        // A DFA for small sets (fastest), a contiguous NFA otherwise (the crate's choice).
        let kind = (lits.len() <= SMALL_SET).then_some(AhoCorasickKind::DFA);
        let built = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(kind)
            .build(patterns);
        // An automaton that cannot be built (too large) would leave its literals unscanned:
        // the caller then drops every requirement of the type.
        let Ok(automaton) = built else {
            return None;
        };
        scans.push(Scan {
            field,
            folded,
            automaton,
            lits,
        });
    }
    Some(scans)
}

/// Literal sets up to this size get a DFA.
const SMALL_SET: usize = 256;

impl PerType {
    /// Fills `needs`, `triggers`, `always` and `eager` from `reqs` and `reads`; `cost` says
    /// how expensive scanning a field is (trigger sets prefer cheap fields).
    fn index(&mut self, cost: &impl Fn(FieldIndex) -> u64) {
        let scan_of = |field: FieldIndex, folded: bool| {
            self.scans
                .iter()
                .position(|s| s.field == field && s.folded == folded)
                .and_then(|p| u16::try_from(p).ok())
        };
        // Per literal: its scan.
        let lit_scan: Vec<Option<u16>> = self
            .literals
            .list
            .iter()
            .map(|l| scan_of(l.field, l.folded))
            .collect();
        self.needs = self
            .reads
            .iter()
            .map(|reads| {
                let mut v: Vec<u16> = reads.iter().filter_map(|&(f, fo)| scan_of(f, fo)).collect();
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let scan_cost: Vec<u64> = self.scans.iter().map(|s| cost(s.field)).collect();
        let lit_cost = |l: u32| {
            lit_scan
                .get(l as usize)
                .copied()
                .flatten()
                .and_then(|s| scan_cost.get(usize::from(s)).copied())
                .unwrap_or(u64::MAX)
        };
        self.triggers = vec![Vec::new(); self.literals.list.len()];
        self.always.clear();
        let mut eager: Vec<u16> = Vec::new();
        for (i, (_, req)) in self.reqs.iter_mut().enumerate() {
            let Ok(i) = u32::try_from(i) else { break };
            let set = req
                .as_ref()
                .and_then(|r| trigger_set(r, &self.literals.list, &lit_cost));
            match set {
                Some(set) if !set.is_empty() => {
                    for lit in set {
                        if let Some(t) = self.triggers.get_mut(lit as usize) {
                            t.push(i);
                        }
                        if let Some(Some(s)) = lit_scan.get(lit as usize) {
                            if !eager.contains(s) {
                                eager.push(*s);
                            }
                        }
                    }
                }
                // No requirement, or none the index can use: always run (sound).
                _ => {
                    *req = None;
                    self.always.push(i);
                }
            }
        }
        eager.sort_unstable();
        self.eager = eager;
    }
}

/// A set of literals one of which occurs whenever `req` holds: a literal itself; the union of
/// an `or`'s children's sets; for an `and`, the best child's set: the cheapest fields to scan
/// (`lit_cost`, summed over the set's distinct fields), then the longest shortest literal
/// (long literals are rarer), then the fewest literals.
fn trigger_set(
    req: &Req,
    literals: &[Literal],
    lit_cost: &impl Fn(u32) -> u64,
) -> Option<Vec<u32>> {
    match req {
        Req::Lit { lit, .. } => Some(vec![*lit]),
        Req::Or(v) => {
            let mut out = Vec::new();
            for r in v {
                out.extend(trigger_set(r, literals, lit_cost)?);
            }
            out.sort_unstable();
            out.dedup();
            Some(out)
        }
        Req::And(v) => {
            let score = |set: &Vec<u32>| {
                let mut fields: Vec<(FieldIndex, bool)> = Vec::new();
                let mut cost = 0u64;
                let mut shortest = usize::MAX;
                for &l in set {
                    if let Some(x) = literals.get(l as usize) {
                        shortest = shortest.min(x.bytes.len());
                        if !fields.contains(&(x.field, x.folded)) {
                            fields.push((x.field, x.folded));
                            cost = cost.saturating_add(lit_cost(l));
                        }
                    }
                }
                (
                    std::cmp::Reverse(cost),
                    shortest,
                    std::cmp::Reverse(set.len()),
                )
            };
            v.iter()
                .filter_map(|r| trigger_set(r, literals, lit_cost))
                .max_by_key(score)
        }
    }
}
