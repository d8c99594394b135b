//! The whole-bundle literal prefilter (DESIGN.md, "Execution"): per event type, the literals
//! that single-event rules test on `string` fields, compiled into ONE scan per field (case-
//! sensitive and folded literals together, see `Scan` below) and run once per event; rules whose
//! required literals did not occur are skipped, and the literal tests of the rules that do run
//! are answered from the same scan.
//!
//! A field's scan has up to three parts: the literals some test wants anywhere, searched over
//! the whole value by the gram searcher ([`grams`]) when there are many (its cost per byte does
//! not grow with the set) or a small DFA; those only wanted at the start, by an automaton
//! anchored at offset 0; those only wanted at the end or as the whole value, by an automaton of
//! the reversed patterns anchored at the end (these two read only as far as some pattern still
//! matches, however long the value).
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

pub mod grams;
pub mod rarity;
pub mod require;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aho_corasick::automaton::Automaton;
use aho_corasick::{AhoCorasick, Anchored, MatchKind, StartKind};

use crate::bind::Binding;
use crate::casefold::{fold_into, fold_str};
use crate::event::Event;
use crate::ir::{FieldRef, Program, RuleId, RuleKind};
use crate::schema::{EventTypeId, FieldIndex};
use crate::types::Ty;

pub use require::{Literal, Req, AT_ANY, AT_END, AT_START, WHOLE};

/// One scan: every literal of one field on one event type, folded or not.
///
/// The literals are split by where the rules want them ([`Literals::wants`]): those some test
/// wants anywhere go into `full`, an unanchored searcher run over the whole value; those only
/// wanted at the start (`startswith`) into `prefix`, an automaton anchored at offset 0; those
/// only wanted at the end or as the whole value (`endswith`, `==`, `in`) into `suffix`, an
/// automaton of the reversed patterns anchored at the value's end. The anchored ones stop as
/// soon as no pattern can continue, so a long value costs them only its matching prefix or
/// suffix. A literal's bits are exact only where its part looks: see
/// [`Prefilter::literal`].
///
/// Each part's automaton holds the *folded* form of its literals (a case-sensitive literal's
/// folded form too) and matches ASCII case-insensitively, so that it runs directly over the raw
/// value when that is ASCII (where folding is ASCII lower-casing, offsets unchanged), and over
/// the folded value otherwise. A hit of a folded literal sets its bits; a hit of a
/// case-sensitive literal is confirmed against the raw bytes at the same offsets (ASCII
/// values only). On a value that is not ASCII, folding may change lengths, so the
/// case-sensitive literals are found by their own automaton over the raw value (`cased`).
#[derive(Clone, Debug)]
struct Scan {
    field: FieldIndex,
    full: Option<Part<Unanchored>>,
    prefix: Option<Part<AnchoredAut>>,
    suffix: Option<Part<AnchoredAut>>,
    /// The case-sensitive literals' own automaton over raw values (every occurrence), with
    /// per pattern its literal number: used on values that are not ASCII.
    cased: Option<(AhoCorasick, Vec<u32>)>,
}

/// One searcher of a [`Scan`] (`S`: [`Unanchored`] or [`AnchoredAut`]) and what its patterns
/// stand for.
#[derive(Clone, Debug)]
struct Part<S> {
    searcher: S,
    /// Per pattern of `searcher`: the range of its entries in `entries`.
    pattern_entries: Vec<(u32, u32)>,
    /// What a pattern's hit means.
    entries: Vec<Entry>,
    /// Whether some entry is a folded literal (else, on a value that is not ASCII, the part
    /// has nothing to report and is skipped).
    any_folded: bool,
}

/// What a pattern's hit stands for.
#[derive(Clone, Copy, Debug)]
struct Entry {
    lit: u32,
    /// A case-sensitive literal: its bytes must equal the raw value's at the hit.
    confirm: bool,
}

/// The searcher of an unanchored part: every occurrence over the whole value.
#[derive(Clone, Debug)]
enum Unanchored {
    /// Large sets: the gram searcher ([`grams`]), which reads folded text.
    Grams(Box<grams::Grams>),
    /// Small sets: the crate's searcher, whose own prefilter (memchr, Teddy) skips through the
    /// value between candidate positions.
    Ac(AhoCorasick),
}

/// The automaton of an anchored part: a DFA when small enough, a contiguous NFA otherwise.
#[derive(Clone, Debug)]
enum AnchoredAut {
    Dfa(aho_corasick::dfa::DFA),
    Nfa(aho_corasick::nfa::contiguous::NFA),
}

/// The prefilter of one event type.
#[derive(Clone, Debug, Default)]
struct PerType {
    scans: Vec<Scan>,
    /// The literals, by number.
    literals: require::Literals,
    /// Per literal: the bits ([`AT_ANY`], [`AT_START`], [`AT_END`], [`WHOLE`]) its scan
    /// answers exactly (see [`Scan`]).
    covers: Vec<u8>,
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
    /// Per single-event rule of the type (as `reqs`), one bit: triggered or always run. Zeroed
    /// by each [`Prefilter::candidates`] call, and each word again as it is read.
    cands: Vec<u64>,
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
        // How common each literal is, learned from all of the program's literals (every type).
        let rarity = rarity::Rarity::learn(types.iter().flat_map(|p| {
            let mut uses = vec![0u32; p.literals.list.len()];
            for req in p.reqs.iter().filter_map(|(_, r)| r.as_ref()) {
                count_uses(req, &mut uses);
            }
            p.literals
                .list
                .iter()
                .zip(uses)
                .map(|(l, n)| (l.bytes.as_slice(), n))
        }));
        let mut max = (0, 0, 0);
        for (t, per) in types.iter_mut().enumerate() {
            match build_scans(&per.literals) {
                Some((scans, covers)) => {
                    per.scans = scans;
                    per.covers = covers;
                }
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
            per.index(&cost, &rarity);
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
            cands: vec![0; self.max_rules.div_ceil(64)],
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

    /// Fields scanned on event type `ty` (one scan per field, of up to three automata).
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
    /// event type `ty`, when the prefilter scans for it where `at` asks ([`AT_ANY`],
    /// [`AT_START`], [`AT_END`], [`WHOLE`], or'ed): its `at` bits in a [`Hits`] of that type
    /// answer the test exactly, for a rule the engine runs after [`Prefilter::candidates`].
    /// `None` when the literal is not scanned for, or only elsewhere (a literal only ever
    /// tested with `endswith` is looked for at the value's end only).
    pub fn literal(
        &self,
        ty: EventTypeId,
        field: FieldIndex,
        folded: bool,
        pattern: &str,
        at: u8,
    ) -> Option<u32> {
        let lit = require::literal_of(field, folded, pattern)?;
        let per = self.types.get(usize::from(ty.0))?;
        let n = per.literals.find(&lit)?;
        let covers = per.covers.get(n as usize).copied().unwrap_or(0);
        (covers & at == at).then_some(n)
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
        let words = per.reqs.len().div_ceil(64);
        if cands.len() < words {
            cands.resize(words, 0);
        }
        let mut mark = |i: u32| {
            if let Some(w) = cands.get_mut(i as usize / 64) {
                *w |= 1 << (i % 64);
            }
        };
        for &lit in &hits.set {
            if let Some(t) = per.triggers.get(lit as usize) {
                t.iter().copied().for_each(&mut mark);
            }
        }
        per.always.iter().copied().for_each(&mut mark);
        // In program order: bit order. Each word is cleared as it is read.
        for (w, word) in cands.iter_mut().enumerate().take(words) {
            let mut bits = std::mem::take(word);
            while bits != 0 {
                let Ok(c) = u32::try_from(w * 64 + bits.trailing_zeros() as usize) else {
                    break;
                };
                bits &= bits - 1;
                let Some((rule, req)) = per.reqs.get(c as usize) else {
                    continue;
                };
                ensure(per, c, event, hits);
                if req.as_ref().is_some_and(|r| !r.holds(&|l| hits.at(l))) {
                    continue;
                }
                rules.push(*rule);
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

/// One literal test of a rule's prefilter requirement, as answered for one event
/// ([`Prefilter::answer`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiteralAnswer {
    /// The field's index on the event's type.
    pub field: FieldIndex,
    /// Looked for in the case-folded value.
    pub folded: bool,
    /// The literal (folded when `folded`), lossily as text.
    pub pattern: String,
    /// Where it must occur ([`AT_ANY`], [`AT_START`], [`AT_END`], [`WHOLE`], or'ed).
    pub at: u8,
    /// It occurred there.
    pub found: bool,
}

/// What the prefilter decided for one single-event rule on one event (read-only; for
/// `vigil why`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefilterAnswer {
    /// The rule has a literal requirement on the event's type (without one it always runs).
    pub filtered: bool,
    /// The requirement held: the engine evaluates the rule on this event.
    pub passes: bool,
    /// The literal tests of the requirement, in the requirement's order.
    pub literals: Vec<LiteralAnswer>,
}

impl Prefilter {
    /// Scans `event` afresh and answers for single-event rule `rule`: does it pass, and which
    /// required literals were found. Computed as the engine does ([`Prefilter::scan`],
    /// [`Prefilter::may_fire`]); nothing shared is changed.
    pub fn answer(&self, event: &Event<'_>, rule: RuleId) -> PrefilterAnswer {
        let mut hits = self.hits();
        self.scan(event, &mut hits);
        let passes = self.may_fire(event, rule, &mut hits);
        let mut literals = Vec::new();
        let req = self.requirement(event.ty(), rule);
        if let (Some(req), Some(per)) = (req, self.types.get(usize::from(event.ty().0))) {
            let mut stack = vec![req];
            while let Some(r) = stack.pop() {
                match r {
                    Req::Lit { lit, at } => {
                        if let Some(l) = per.literals.list.get(*lit as usize) {
                            literals.push(LiteralAnswer {
                                field: l.field,
                                folded: l.folded,
                                pattern: String::from_utf8_lossy(&l.bytes).into_owned(),
                                at: *at,
                                found: hits.at(*lit) & at != 0,
                            });
                        }
                    }
                    Req::And(v) | Req::Or(v) => stack.extend(v.iter().rev()),
                }
            }
        }
        PrefilterAnswer {
            filtered: req.is_some(),
            passes,
            literals,
        }
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
    let mut marks = Marks { bits, set };
    let lits = &per.literals.list;
    let raw = event.get_str(scan.field);
    if raw.is_ascii() {
        // Folding is ASCII lower-casing here: the case-insensitive automata run over the raw
        // bytes, offsets are the folded value's, and case-sensitive hits are confirmed.
        let text = raw.as_bytes();
        if let Some(part) = &scan.full {
            if matches!(part.searcher, Unanchored::Grams(_)) {
                // The gram searcher compares bytes: it reads the folded value.
                fold_into(raw, folded);
                part.run(folded.as_bytes(), Some(text), lits, &mut marks);
            } else {
                part.run(text, Some(text), lits, &mut marks);
            }
        }
        if let Some(part) = &scan.prefix {
            part.run(text, false, Some(text), lits, &mut marks);
        }
        if let Some(part) = &scan.suffix {
            part.run(text, true, Some(text), lits, &mut marks);
        }
        return;
    }
    let full = scan.full.as_ref().filter(|p| p.any_folded);
    let prefix = scan.prefix.as_ref().filter(|p| p.any_folded);
    let suffix = scan.suffix.as_ref().filter(|p| p.any_folded);
    if full.is_some() || prefix.is_some() || suffix.is_some() {
        fold_into(raw, folded);
        let text = folded.as_bytes();
        if let Some(part) = full {
            part.run(text, None, lits, &mut marks);
        }
        if let Some(part) = prefix {
            part.run(text, false, None, lits, &mut marks);
        }
        if let Some(part) = suffix {
            part.run(text, true, None, lits, &mut marks);
        }
    }
    if let Some((automaton, cased)) = &scan.cased {
        let len = raw.len();
        for m in automaton.find_overlapping_iter(raw) {
            if let Some(&lit) = cased.get(m.pattern().as_usize()) {
                marks.mark(lit, m.start(), m.end(), len);
            }
        }
    }
}

/// The literal bits being set for one event.
struct Marks<'h> {
    bits: &'h mut Vec<u8>,
    set: &'h mut Vec<u32>,
}

impl Marks<'_> {
    /// Literal `lit` occurred at `start..end` of a value of `len` bytes.
    #[inline]
    fn mark(&mut self, lit: u32, start: usize, end: usize, len: usize) {
        let mut at = AT_ANY;
        if start == 0 {
            at |= AT_START;
        }
        if end == len {
            at |= AT_END;
            if start == 0 {
                at |= WHOLE;
            }
        }
        if let Some(b) = self.bits.get_mut(lit as usize) {
            if *b == 0 {
                self.set.push(lit);
            }
            *b |= at;
        }
    }
}

impl<S> Part<S> {
    /// What marking this part's hits over `text` (`len` bytes) needs. `raw`: the raw value
    /// when `text` is it or its ASCII lower-casing (same offsets), against which case-sensitive
    /// entries are confirmed; `None` when `text` is a folded value that is not ASCII, where
    /// case-sensitive entries are skipped (the `cased` automaton finds them).
    fn hit<'p>(&'p self, raw: Option<&'p [u8]>, lits: &'p [Literal], len: usize) -> Hit<'p> {
        Hit {
            pattern_entries: &self.pattern_entries,
            entries: &self.entries,
            raw,
            lits,
            len,
        }
    }
}

impl Part<Unanchored> {
    /// Marks every occurrence of the part's patterns in `text` (see [`Part::hit`] for `raw`).
    fn run(&self, text: &[u8], raw: Option<&[u8]>, lits: &[Literal], marks: &mut Marks<'_>) {
        let hit = self.hit(raw, lits, text.len());
        match &self.searcher {
            Unanchored::Grams(g) => g.find(text, |pid, start, end| hit.at(pid, start, end, marks)),
            Unanchored::Ac(a) => {
                for m in a.find_overlapping_iter(text) {
                    hit.at(m.pattern().as_usize(), m.start(), m.end(), marks);
                }
            }
        }
    }
}

impl Part<AnchoredAut> {
    /// Marks the patterns `text` starts with (ends with, when `reversed`: the patterns are
    /// reversed). See [`Part::hit`] for `raw`.
    fn run(
        &self,
        text: &[u8],
        reversed: bool,
        raw: Option<&[u8]>,
        lits: &[Literal],
        marks: &mut Marks<'_>,
    ) {
        let hit = self.hit(raw, lits, text.len());
        match (&self.searcher, reversed) {
            (AnchoredAut::Dfa(a), false) => walk_anchored(a, text.iter(), false, &hit, marks),
            (AnchoredAut::Nfa(a), false) => walk_anchored(a, text.iter(), false, &hit, marks),
            (AnchoredAut::Dfa(a), true) => walk_anchored(a, text.iter().rev(), true, &hit, marks),
            (AnchoredAut::Nfa(a), true) => walk_anchored(a, text.iter().rev(), true, &hit, marks),
        }
    }
}

/// What marking a part's hits needs (see [`Part::hit`]).
struct Hit<'p> {
    pattern_entries: &'p [(u32, u32)],
    entries: &'p [Entry],
    raw: Option<&'p [u8]>,
    lits: &'p [Literal],
    len: usize,
}

impl Hit<'_> {
    /// Pattern `pid` matched at `start..end` of the value (in the value's own order).
    #[inline]
    fn at(&self, pid: usize, start: usize, end: usize, marks: &mut Marks<'_>) {
        let Some(&(from, to)) = self.pattern_entries.get(pid) else {
            return;
        };
        let entries = self
            .entries
            .get(from as usize..to as usize)
            .unwrap_or_default();
        for e in entries {
            if e.confirm {
                let exact = self.raw.and_then(|r| r.get(start..end)).is_some_and(|r| {
                    self.lits
                        .get(e.lit as usize)
                        .is_some_and(|l| l.bytes.as_slice() == r)
                });
                if !exact {
                    continue;
                }
            }
            marks.mark(e.lit, start, end, self.len);
        }
    }
}

/// Runs an anchored automaton over `bytes` (the value forwards, or backwards when `reversed`)
/// until it can match nothing more, marking each pattern that matches from the anchor.
#[inline]
fn walk_anchored<'t, A: Automaton>(
    automaton: &A,
    bytes: impl Iterator<Item = &'t u8>,
    reversed: bool,
    hit: &Hit<'_>,
    marks: &mut Marks<'_>,
) {
    let Ok(mut sid) = automaton.start_state(Anchored::Yes) else {
        return;
    };
    let len = hit.len;
    for (i, &byte) in bytes.enumerate() {
        sid = automaton.next_state(Anchored::Yes, sid, byte);
        if !automaton.is_special(sid) {
            continue;
        }
        if automaton.is_dead(sid) {
            return;
        }
        if !automaton.is_match(sid) {
            continue;
        }
        let n = i + 1;
        let (start, end) = if reversed { (len - n, len) } else { (0, n) };
        for k in 0..automaton.match_len(sid) {
            let pid = automaton.match_pattern(sid, k);
            // A state's matches include its proper suffixes' (copied for unanchored
            // searches): only the pattern spanning the whole path starts at the anchor.
            if automaton.pattern_len(pid) == n {
                hit.at(pid.as_usize(), start, end, marks);
            }
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

/// One scan per field over `literals` (see [`Scan`]), and per literal what its bits answer
/// exactly (`covers`); `None` when an automaton cannot be built.
fn build_scans(literals: &require::Literals) -> Option<(Vec<Scan>, Vec<u8>)> {
    let list = &literals.list;
    let mut groups: BTreeMap<FieldIndex, Vec<u32>> = BTreeMap::new();
    for (i, l) in list.iter().enumerate() {
        if let Ok(n) = u32::try_from(i) {
            groups.entry(l.field).or_default().push(n);
        }
    }
    let mut covers = vec![0u8; list.len()];
    let mut scans = Vec::with_capacity(groups.len());
    for (field, lits) in groups {
        let mut full = PartBuilder::default();
        let mut prefix = PartBuilder::default();
        let mut suffix = PartBuilder::default();
        let mut cased_patterns: Vec<&[u8]> = Vec::new();
        let mut cased_lits: Vec<u32> = Vec::new();
        for &n in &lits {
            let (Some(l), Some(&wants)) = (list.get(n as usize), literals.wants.get(n as usize))
            else {
                continue;
            };
            let folded = if l.folded {
                l.bytes.clone()
            } else {
                match std::str::from_utf8(&l.bytes) {
                    Ok(t) => fold_str(t).as_bytes().to_vec(),
                    // Literals come from strings; one that is not is never scanned for, and
                    // its bits answer nothing.
                    Err(_) => continue,
                }
            };
            if !l.folded {
                cased_patterns.push(&l.bytes);
                cased_lits.push(n);
            }
            let mut cover = 0u8;
            if wants & AT_ANY != 0 {
                full.add(folded.clone(), n, l.folded);
                cover = AT_ANY | AT_START | AT_END | WHOLE;
            } else {
                if wants & AT_START != 0 {
                    prefix.add(folded.clone(), n, l.folded);
                    cover |= AT_START | WHOLE;
                }
                if wants & (AT_END | WHOLE) != 0 {
                    let mut rev = folded.clone();
                    rev.reverse();
                    suffix.add(rev, n, l.folded);
                    cover |= AT_END | WHOLE;
                }
            }
            if let Some(c) = covers.get_mut(n as usize) {
                *c = cover;
            }
        }
        // An automaton that cannot be built (too large) would leave its literals unscanned:
        // the caller then drops every requirement of the type.
        let cased = if cased_patterns.is_empty() {
            None
        } else {
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&cased_patterns)
                .ok()?;
            Some((ac, cased_lits))
        };
        scans.push(Scan {
            field,
            full: full.build_unanchored()?,
            prefix: prefix.build_anchored()?,
            suffix: suffix.build_anchored()?,
            cased,
        });
    }
    Some((scans, covers))
}

/// Collects one [`Part`]'s patterns (deduplicated) and entries.
#[derive(Default)]
struct PartBuilder {
    patterns: Vec<Vec<u8>>,
    by_bytes: HashMap<Vec<u8>, usize>,
    per_pattern: Vec<Vec<Entry>>,
    any_folded: bool,
}

impl PartBuilder {
    fn add(&mut self, pattern: Vec<u8>, lit: u32, folded: bool) {
        let p = match self.by_bytes.get(&pattern) {
            Some(&p) => p,
            None => {
                let p = self.patterns.len();
                self.by_bytes.insert(pattern.clone(), p);
                self.patterns.push(pattern);
                self.per_pattern.push(Vec::new());
                p
            }
        };
        if let Some(v) = self.per_pattern.get_mut(p) {
            v.push(Entry {
                lit,
                confirm: !folded,
            });
        }
        self.any_folded |= folded;
    }

    /// The part of `searcher` (built over `self.patterns`), its entries flattened; `None`
    /// past `u32` entries.
    fn into_part<S>(self, searcher: S) -> Option<Part<S>> {
        let mut entries = Vec::new();
        let mut pattern_entries = Vec::with_capacity(self.per_pattern.len());
        for v in self.per_pattern {
            let from = u32::try_from(entries.len()).ok()?;
            entries.extend(v);
            let to = u32::try_from(entries.len()).ok()?;
            pattern_entries.push((from, to));
        }
        Some(Part {
            searcher,
            pattern_entries,
            entries,
            any_folded: self.any_folded,
        })
    }

    /// The unanchored part (`Some(None)` when it has no pattern); `None` when its searcher
    /// cannot be built.
    fn build_unanchored(self) -> Option<Option<Part<Unanchored>>> {
        if self.patterns.is_empty() {
            return Some(None);
        }
        let searcher = if self.patterns.len() > GRAMS_MIN_PATTERNS {
            Unanchored::Grams(Box::new(grams::Grams::new(&self.patterns)?))
        } else {
            Unanchored::Ac(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .ascii_case_insensitive(true)
                    .build(&self.patterns)
                    .ok()?,
            )
        };
        self.into_part(searcher).map(Some)
    }

    /// The anchored part (`Some(None)` when it has no pattern); `None` when its automaton
    /// cannot be built.
    fn build_anchored(self) -> Option<Option<Part<AnchoredAut>>> {
        if self.patterns.is_empty() {
            return Some(None);
        }
        let dfa = (self.patterns.len() <= DFA_MAX_PATTERNS)
            .then(|| {
                aho_corasick::dfa::Builder::new()
                    .match_kind(MatchKind::Standard)
                    .ascii_case_insensitive(true)
                    .prefilter(false)
                    .start_kind(StartKind::Anchored)
                    .build(&self.patterns)
                    .ok()
            })
            .flatten()
            .filter(|d| d.memory_usage() <= DFA_MAX_BYTES);
        let searcher = match dfa {
            Some(d) => AnchoredAut::Dfa(d),
            None => aho_corasick::nfa::contiguous::Builder::new()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(true)
                .prefilter(false)
                .build(&self.patterns)
                .map(AnchoredAut::Nfa)
                .ok()?,
        };
        self.into_part(searcher).map(Some)
    }
}

/// Unanchored parts with more patterns than this use the gram searcher ([`grams`]): its cost
/// per byte does not grow with the set, where an automaton's does once it outgrows the cache.
const GRAMS_MIN_PATTERNS: usize = 64;

/// Anchored parts with at most this many distinct patterns try a DFA (one table lookup per
/// byte)...
const DFA_MAX_PATTERNS: usize = 512;

/// ... and keep it when it is at most this large; larger parts get a contiguous NFA (a few
/// times smaller, a little slower per byte; a large DFA is slower still, its table missing
/// the cache at every byte).
const DFA_MAX_BYTES: usize = 32 * 1024;

/// Adds to `uses` (per literal) the tests of `req` that look for it.
fn count_uses(req: &Req, uses: &mut [u32]) {
    match req {
        Req::Lit { lit, .. } => {
            if let Some(n) = uses.get_mut(*lit as usize) {
                *n = n.saturating_add(1);
            }
        }
        Req::And(v) | Req::Or(v) => v.iter().for_each(|r| count_uses(r, uses)),
    }
}

/// The number of places a literal looked for anywhere may start, for its rarity estimate: a
/// typical field value's length, at most the field's `max_len`.
const TYPICAL_LEN: u64 = 64;

/// The cost of running one scan on every event, in firings (a firing: a rule triggered, its
/// other scans ensured and its requirement checked): a fixed part...
const SCAN_FIXED: f64 = 1.0;

/// ... plus one firing per this many bytes of a typical value read by its unanchored part...
const SCAN_BYTES_PER_FIRING: f64 = 8.0;

/// ... plus this much for its anchored parts (they stop where no pattern can continue).
const SCAN_ANCHORED: f64 = 1.0;

/// What a literal without a scan costs in a trigger set (none has one: every literal is
/// scanned; kept so that such a set would lose).
const UNSCANNED: f64 = 1e9;

/// The trigger choice is revised this many times at most (see [`PerType::index`]).
const CHOICE_ROUNDS: usize = 4;

/// What [`trigger_set`] weighs: per literal its expected firings, per scan its cost per event.
struct Choice {
    /// Per literal: the estimated probability that it occurs where its scan looks for it
    /// ([`rarity`]), i.e. how often it triggers each rule whose set holds it.
    lit_p: Vec<f64>,
    /// Per literal: its scan.
    lit_scan: Vec<Option<u16>>,
    /// Per literal: its length in bytes.
    lit_len: Vec<usize>,
    /// Per scan: what running it on every event costs, in firings.
    scan_w: Vec<f64>,
    /// Per scan: run on every event anyway (it holds the trigger literal of some rule), so a
    /// set using it costs nothing more.
    free: Vec<bool>,
}

impl Choice {
    /// The expected cost per event of a trigger set: its expected firings (the sum of its
    /// literals' probabilities) plus the cost of the scans it alone makes run on every event.
    fn score(&self, set: &[u32]) -> f64 {
        let mut cost = 0.0;
        let mut scans: Vec<u16> = Vec::new();
        for &l in set {
            let l = l as usize;
            cost += self.lit_p.get(l).copied().unwrap_or(1.0);
            match self.lit_scan.get(l).copied().flatten() {
                Some(s) if !scans.contains(&s) => scans.push(s),
                Some(_) => {}
                None => cost += UNSCANNED,
            }
        }
        for s in scans {
            let s = usize::from(s);
            if !self.free.get(s).copied().unwrap_or(false) {
                cost += self.scan_w.get(s).copied().unwrap_or(UNSCANNED);
            }
        }
        cost
    }
}

/// One choice of every rule's trigger set ([`Choice::choose`]).
struct Chosen {
    /// Per rule (as `PerType::reqs`): its trigger set, `None` without one.
    sets: Vec<Option<Vec<u32>>>,
    /// Per scan: some set holds one of its literals, so it runs on every event.
    eager: Vec<bool>,
    /// The expected cost per event: the firings of all the sets and the eager scans.
    cost: f64,
}

impl Choice {
    /// Every rule's trigger set, the scans in `free` costing nothing. With `prev` (a choice
    /// made with other free scans, `changed` the scans whose freedom differs), only the rules
    /// whose choice may differ are chosen again: those with an `and` whose literals touch a
    /// changed scan (`touch`, per rule: the scans of its literals, empty without an `and`).
    fn choose(
        &self,
        reqs: &[(RuleId, Option<Req>)],
        prev: Option<(&Chosen, &[bool])>,
        touch: &[Vec<u16>],
    ) -> Chosen {
        let sets: Vec<Option<Vec<u32>>> = reqs
            .iter()
            .enumerate()
            .map(|(i, (_, r))| {
                if let Some((prev, changed)) = prev {
                    let redo = touch.get(i).is_some_and(|t| {
                        t.iter()
                            .any(|&s| changed.get(usize::from(s)).copied().unwrap_or(true))
                    });
                    if !redo {
                        return prev.sets.get(i).cloned().flatten();
                    }
                }
                r.as_ref().and_then(|r| trigger_set(r, self))
            })
            .collect();
        let mut eager = vec![false; self.scan_w.len()];
        let mut cost = 0.0;
        for &l in sets.iter().flatten().flatten() {
            cost += self.lit_p.get(l as usize).copied().unwrap_or(UNSCANNED);
            if let Some(Some(s)) = self.lit_scan.get(l as usize) {
                if let Some(e) = eager.get_mut(usize::from(*s)) {
                    *e = true;
                }
            }
        }
        for (w, _) in self.scan_w.iter().zip(&eager).filter(|(_, e)| **e) {
            cost += w;
        }
        Chosen { sets, eager, cost }
    }
}

/// Whether `req` has an `and` (a choice of trigger set to make).
fn has_and(req: &Req) -> bool {
    match req {
        Req::Lit { .. } => false,
        Req::And(_) => true,
        Req::Or(v) => v.iter().any(has_and),
    }
}

/// Adds the scans of `req`'s literals to `out` (`lit_scan`: per literal, its scan).
fn scans_of(req: &Req, lit_scan: &[Option<u16>], out: &mut Vec<u16>) {
    match req {
        Req::Lit { lit, .. } => {
            if let Some(Some(s)) = lit_scan.get(*lit as usize) {
                out.push(*s);
            }
        }
        Req::And(v) | Req::Or(v) => v.iter().for_each(|r| scans_of(r, lit_scan, out)),
    }
}

/// What running `scan` on every event costs, in firings; `max_len`: its field's.
fn scan_weight(scan: &Scan, max_len: u64) -> f64 {
    let mut w = SCAN_FIXED;
    if scan.full.is_some() {
        // At most 64: exact as f64.
        w += max_len.min(TYPICAL_LEN) as f64 / SCAN_BYTES_PER_FIRING;
    }
    if scan.prefix.is_some() || scan.suffix.is_some() {
        w += SCAN_ANCHORED;
    }
    w
}

impl PerType {
    /// Fills `needs`, `triggers`, `always` and `eager` from `reqs` and `reads`; `cost` gives a
    /// field's `max_len` (how long its values may be), `rarity` how common each literal is.
    ///
    /// Each rule's trigger set is chosen ([`trigger_set`]) to cost least per event: the rules
    /// it wakes (literals that rarely occur) and the scans it makes run on every event. A scan
    /// another rule's set already makes eager costs nothing more, so the choice is made again
    /// knowing the eager scans of the previous round (the first round knows none), until they
    /// no longer change or after [`CHOICE_ROUNDS`] rounds. Then each eager scan, costliest
    /// first, is tried as not free: the choice is kept when its total cost (all the sets'
    /// expected firings plus the eager scans' weights) is lower, so that a scan only some
    /// rules' choices made eager is dropped when they have a cheap enough alternative. The
    /// eager scans are those of the sets kept. Deterministic: program order, no hashing.
    fn index(&mut self, cost: &impl Fn(FieldIndex) -> u64, rarity: &rarity::Rarity) {
        let scan_of = |field: FieldIndex| {
            self.scans
                .iter()
                .position(|s| s.field == field)
                .and_then(|p| u16::try_from(p).ok())
        };
        // Per literal: its scan.
        let lit_scan: Vec<Option<u16>> = self
            .literals
            .list
            .iter()
            .map(|l| scan_of(l.field))
            .collect();
        self.needs = self
            .reads
            .iter()
            .map(|reads| {
                let mut v: Vec<u16> = reads.iter().filter_map(|&(f, _)| scan_of(f)).collect();
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let scan_len: Vec<u64> = self.scans.iter().map(|s| cost(s.field)).collect();
        let scan_w: Vec<f64> = self
            .scans
            .iter()
            .zip(&scan_len)
            .map(|(s, &len)| scan_weight(s, len))
            .collect();
        // Per scan: how many distinct literals its field is tested against (case aside).
        let mut vocab: Vec<BTreeSet<Vec<u8>>> = vec![BTreeSet::new(); self.scans.len()];
        for (l, s) in self.literals.list.iter().zip(&lit_scan) {
            if let Some(v) = s.and_then(|s| vocab.get_mut(usize::from(s))) {
                v.insert(l.bytes.to_ascii_lowercase());
            }
        }
        let lit_p: Vec<f64> = self
            .literals
            .list
            .iter()
            .zip(&self.literals.wants)
            .zip(&lit_scan)
            .map(|((l, &wants), s)| {
                let len = s
                    .and_then(|s| scan_len.get(usize::from(s)).copied())
                    .unwrap_or(TYPICAL_LEN)
                    .min(TYPICAL_LEN);
                // Where its scan looks for it (see `build_scans`): anywhere, or at the start
                // and/or the end.
                let positions = if wants & AT_ANY != 0 {
                    len.saturating_sub(l.bytes.len() as u64).saturating_add(1)
                } else if wants & AT_START != 0 && wants & (AT_END | WHOLE) != 0 {
                    2
                } else {
                    1
                };
                let vocabulary = s
                    .and_then(|s| vocab.get(usize::from(s)))
                    .map_or(0, BTreeSet::len);
                rarity.probability(
                    &l.bytes,
                    usize::try_from(positions).unwrap_or(1),
                    vocabulary,
                )
            })
            .collect();
        let mut choice = Choice {
            lit_p,
            lit_scan,
            lit_len: self.literals.list.iter().map(|l| l.bytes.len()).collect(),
            scan_w,
            free: vec![false; self.scans.len()],
        };
        // Per rule: the scans its literals are on, when it has a choice to make (an `and`).
        let touch: Vec<Vec<u16>> = self
            .reqs
            .iter()
            .map(|(_, r)| {
                let mut v = Vec::new();
                if let Some(r) = r.as_ref().filter(|r| has_and(r)) {
                    scans_of(r, &choice.lit_scan, &mut v);
                }
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let mut best = choice.choose(&self.reqs, None, &touch);
        for _ in 1..CHOICE_ROUNDS {
            if best.eager == choice.free {
                break;
            }
            let changed: Vec<bool> = best
                .eager
                .iter()
                .zip(&choice.free)
                .map(|(a, b)| a != b)
                .collect();
            choice.free = best.eager.clone();
            best = choice.choose(&self.reqs, Some((&best, &changed)), &touch);
        }
        // A scan may be eager only because rules chose it when it was free: try each without
        // it (the costliest first), keeping what costs less in all.
        let mut best_free = choice.free.clone();
        let mut order: Vec<usize> = (0..self.scans.len())
            .filter(|&s| best.eager.get(s).copied().unwrap_or(false))
            .collect();
        order.sort_by(|&a, &b| {
            let w = |s: usize| choice.scan_w.get(s).copied().unwrap_or(0.0);
            w(b).total_cmp(&w(a)).then(a.cmp(&b))
        });
        for s in order {
            if !best.eager.get(s).copied().unwrap_or(false) {
                continue;
            }
            // Every set of `best` is the choice with `best_free` free: choose again the rules
            // whose scans' freedom differs.
            choice.free = best.eager.clone();
            if let Some(f) = choice.free.get_mut(s) {
                *f = false;
            }
            let changed: Vec<bool> = choice
                .free
                .iter()
                .zip(&best_free)
                .map(|(a, b)| a != b)
                .collect();
            let other = choice.choose(&self.reqs, Some((&best, &changed)), &touch);
            if other.cost < best.cost {
                best = other;
                best_free = choice.free.clone();
            }
        }
        let sets = best.sets;
        self.triggers = vec![Vec::new(); self.literals.list.len()];
        self.always.clear();
        let mut eager: Vec<u16> = Vec::new();
        for (i, ((_, req), set)) in self.reqs.iter_mut().zip(sets).enumerate() {
            let Ok(i) = u32::try_from(i) else { break };
            match set {
                Some(set) if !set.is_empty() => {
                    for lit in set {
                        if let Some(t) = self.triggers.get_mut(lit as usize) {
                            t.push(i);
                        }
                        if let Some(Some(s)) = choice.lit_scan.get(lit as usize) {
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
/// an `or`'s children's sets; for an `and`, the best child's set: the lowest expected cost per
/// event ([`Choice::score`]: the rules it wakes, the scans it makes eager), then the fewest
/// literals, then the longest shortest literal, then the first child.
fn trigger_set(req: &Req, choice: &Choice) -> Option<Vec<u32>> {
    match req {
        Req::Lit { lit, .. } => Some(vec![*lit]),
        Req::Or(v) => {
            let mut out = Vec::new();
            for r in v {
                out.extend(trigger_set(r, choice)?);
            }
            out.sort_unstable();
            out.dedup();
            Some(out)
        }
        Req::And(v) => {
            // (score, literals, shortest literal, set); the first of equals is kept.
            let mut best: Option<(f64, usize, usize, Vec<u32>)> = None;
            for set in v.iter().filter_map(|r| trigger_set(r, choice)) {
                let score = choice.score(&set);
                let shortest = set
                    .iter()
                    .map(|&l| choice.lit_len.get(l as usize).copied().unwrap_or(0))
                    .min()
                    .unwrap_or(0);
                let better = best.as_ref().is_none_or(|(s, n, short, _)| {
                    score
                        .total_cmp(s)
                        .then(set.len().cmp(n))
                        .then(short.cmp(&shortest))
                        .is_lt()
                });
                if better {
                    best = Some((score, set.len(), shortest, set));
                }
            }
            best.map(|(_, _, _, set)| set)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Literals `0..p.len()` with probabilities `p`, literal `i` on scan `scans[i]`.
    fn choice(p: &[f64], scans: &[u16], scan_w: &[f64], free: &[bool]) -> Choice {
        Choice {
            lit_p: p.to_vec(),
            lit_scan: scans.iter().map(|&s| Some(s)).collect(),
            lit_len: vec![4; p.len()],
            scan_w: scan_w.to_vec(),
            free: free.to_vec(),
        }
    }

    fn lit(lit: u32) -> Req {
        Req::Lit { lit, at: AT_ANY }
    }

    #[test]
    fn an_and_is_triggered_by_its_rarest_child() {
        // One scan, free: the child expected to fire least wins, whatever the literals'
        // lengths (all equal here) or counts.
        let c = choice(&[0.9, 0.001, 0.002, 0.3], &[0, 0, 0, 0], &[10.0], &[true]);
        let req = Req::And(vec![lit(0), Req::Or(vec![lit(1), lit(2)]), lit(3)]);
        assert_eq!(trigger_set(&req, &c), Some(vec![1, 2]));
        // Nested: an `or` of `and`s takes each `and`'s rarest child.
        let req = Req::Or(vec![
            Req::And(vec![lit(0), lit(1)]),
            Req::And(vec![lit(3), lit(2)]),
        ]);
        assert_eq!(trigger_set(&req, &c), Some(vec![1, 2]));
        // Equal scores: the fewest literals, then the first child.
        let c = choice(&[0.1, 0.05, 0.05, 0.1], &[0, 0, 0, 0], &[10.0], &[true]);
        let req = Req::And(vec![Req::Or(vec![lit(1), lit(2)]), lit(0), lit(3)]);
        assert_eq!(trigger_set(&req, &c), Some(vec![0]));
    }

    #[test]
    fn a_scan_not_run_anyway_costs_its_weight() {
        // Literal 0 on scan 0 (free), literal 1 on scan 1 (not run on every event): the rarer
        // literal 1 wins only when it saves more firings than its scan costs.
        let c = choice(&[0.5, 0.01], &[0, 1], &[10.0, 2.0], &[true, false]);
        let req = Req::And(vec![lit(0), lit(1)]);
        assert_eq!(trigger_set(&req, &c), Some(vec![0]));
        let c = choice(&[0.5, 0.01], &[0, 1], &[10.0, 2.0], &[true, true]);
        assert_eq!(trigger_set(&req, &c), Some(vec![1]));
        // A set's scan counts once however many of its literals it holds.
        let c = choice(&[0.1, 0.1, 3.0], &[1, 1, 0], &[1.0, 0.5], &[true, false]);
        assert!((c.score(&[0, 1]) - 0.7).abs() < 1e-9);
    }

    #[test]
    fn choosing_counts_each_eager_scan_once() {
        let c = choice(&[0.5, 0.01, 0.02], &[0, 1, 1], &[10.0, 2.0], &[true, true]);
        let reqs = vec![
            (RuleId(0), Some(Req::And(vec![lit(0), lit(1)]))),
            (RuleId(1), Some(Req::And(vec![lit(2), lit(0)]))),
            (RuleId(2), None),
        ];
        let touch = vec![vec![0, 1], vec![0, 1], vec![]];
        let chosen = c.choose(&reqs, None, &touch);
        assert_eq!(chosen.sets, vec![Some(vec![1]), Some(vec![2]), None]);
        assert_eq!(chosen.eager, vec![false, true]);
        assert!((chosen.cost - (0.03 + 2.0)).abs() < 1e-9);
        // Scan 1 no longer free: only rules touching it are chosen again, and both now pick
        // literal 0 (0.5 < 0.01 + 2.0).
        let mut c = c;
        c.free = vec![true, false];
        let again = c.choose(&reqs, Some((&chosen, &[false, true])), &touch);
        assert_eq!(again.sets, vec![Some(vec![0]), Some(vec![0]), None]);
        assert_eq!(again.eager, vec![true, false]);
        assert!((again.cost - (1.0 + 10.0)).abs() < 1e-9);
        // Nothing changed for a rule that touches no changed scan: its set is kept as is.
        let touch = vec![vec![0, 1], vec![], vec![]];
        let kept = c.choose(&reqs, Some((&chosen, &[false, true])), &touch);
        assert_eq!(kept.sets, vec![Some(vec![0]), Some(vec![2]), None]);
    }
}
