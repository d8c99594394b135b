//! The regex engine the runtime runs `matches` with, chosen per pattern so that its worst case
//! per subject byte is known, and charged exactly that by the verifier's cost model.
//!
//! A pattern compiles to one of two engines (both from regex-automata, both linear in the
//! subject, neither backtracking):
//! - a **fully compiled DFA** (`dfa::dense`, unanchored, no Unicode word boundary), when it
//!   determinizes within [`DFA_SIZE_LIMIT`] bytes of table (and [`DETERMINIZE_SIZE_LIMIT`] of
//!   working memory, so a pattern that blows up determinization fails fast; a program's
//!   patterns share [`PROGRAM_DFA_BYTES`]). A search is one
//!   table transition per subject byte, whatever the subject: [`DFA_BYTE_STEPS`] per byte;
//! - otherwise a **PikeVM** over the Thompson NFA (at most
//!   [`REGEX_SIZE_LIMIT`] bytes), whose work per subject byte is at most one
//!   visit of every NFA state: [`PIKE_STATE_STEPS`] x states per byte.
//!
//! A lazy DFA is deliberately not used: when its cache thrashes it falls back to work
//! proportional to the NFA per byte, so its worst case is the PikeVM's while its typical case
//! hides it (the unsound bound of the first cost model). The choice is made once, when the
//! verifier compiles the program's patterns (and hands them to the engines); both
//! engines (the interpreter and the JIT's helper) run the same [`Matcher`].

use std::fmt;
use std::sync::Arc;

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::nfa::thompson::{self, pikevm};
use regex_automata::util::pool::Pool;
use regex_automata::Input;

/// The compiled-size limit of one regular expression, in bytes of its NFA
/// (`regex_automata::nfa::thompson::Config::nfa_size_limit`): 1 MiB. The compiler checks
/// patterns with the same constant.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// The most bytes of transition table a pattern's DFA may take: 1 MiB (Unicode classes such
/// as `\w` and `\W` in a pattern of a few dozen characters reach 350-800 KiB). Past it the
/// pattern runs on the PikeVM (and is charged per NFA state).
pub const DFA_SIZE_LIMIT: usize = 1 << 20;
/// The most working memory determinizing one pattern may take: 2 MiB (bounds the time and
/// memory of compiling a hostile pattern: about 30 ms on the reference machine).
pub const DETERMINIZE_SIZE_LIMIT: usize = 2 << 20;
/// The most DFA table bytes one program's patterns may take together: 64 MiB. Patterns
/// compiled after the program reached it run on the PikeVM (so thousands of hostile patterns
/// cost bounded time and memory to load, and are charged, and refused, as PikeVMs).
pub const PROGRAM_DFA_BYTES: usize = 64 << 20;
/// Verifier steps per subject byte of a DFA search (one transition).
pub const DFA_BYTE_STEPS: u64 = 2;
/// Verifier steps per subject byte per NFA state of a PikeVM search: with every state active
/// (`[ab]*a[ab]{900}c` over `a`/`b` text) the PikeVM takes 7-9 ns per state per byte on the
/// reference machine when it has a core to itself (`cargo bench -p vigil-benches --bench
/// cost_bound`), and up to 2.5 x that with both cores busy.
pub const PIKE_STATE_STEPS: u64 = 16;
/// Verifier steps per subject byte of a PikeVM search beyond its states.
pub const PIKE_BYTE_STEPS: u64 = 64;
/// Verifier steps of starting any search (input set-up, start state).
pub const REGEX_BASE_STEPS: u64 = 32;

/// Which engine a pattern runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatcherKind {
    /// A fully compiled DFA: constant work per byte.
    Dfa,
    /// A PikeVM: work per byte proportional to the NFA's states.
    PikeVm,
}

impl fmt::Display for MatcherKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatcherKind::Dfa => "DFA",
            MatcherKind::PikeVm => "PikeVM",
        })
    }
}

type CacheFn = Box<
    dyn Fn() -> pikevm::Cache + Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe,
>;

enum Engine {
    Dfa(Box<dense::DFA<Vec<u32>>>),
    /// A top-level alternation `A|B|..` whose DFA would not fit, one DFA per alternative: a
    /// match of the pattern is a match of one alternative (searches are unanchored and only
    /// ask whether there is a match), and each alternative determinizes without the product
    /// of the others' states.
    Dfas(Vec<dense::DFA<Vec<u32>>>),
    Pike {
        vm: pikevm::PikeVM,
        /// Caches for callers without their own ([`Matcher::is_match`]: the interpreter).
        pool: Pool<pikevm::Cache, CacheFn>,
    },
}

struct Inner {
    engine: Engine,
    nfa_states: usize,
    dfa_bytes: usize,
}

/// A compiled pattern: cheap to clone (shared), safe to share between threads.
#[derive(Clone)]
pub struct Matcher(Arc<Inner>);

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Matcher")
            .field("kind", &self.kind())
            .field("nfa_states", &self.0.nfa_states)
            .field("dfa_bytes", &self.0.dfa_bytes)
            .finish()
    }
}

/// A search's scratch space: empty for a DFA, the PikeVM's cache otherwise. One per thread
/// (the JIT keeps one per regex in each evaluation context).
#[derive(Debug, Clone)]
pub struct MatcherCache(Option<pikevm::Cache>);

/// Why a pattern does not compile at all (it has no engine).
pub type MatcherError = Box<thompson::BuildError>;

impl Matcher {
    /// Compiles `pattern`: a DFA within [`DFA_SIZE_LIMIT`] when it determinizes, otherwise a
    /// PikeVM. Fails only when the pattern does not parse or its NFA is over
    /// [`REGEX_SIZE_LIMIT`].
    pub fn new(pattern: &str) -> Result<Matcher, MatcherError> {
        Matcher::with_dfa_limit(pattern, DFA_SIZE_LIMIT)
    }

    /// Like [`Matcher::new`], with at most `dfa_limit` bytes of DFA table (0: always a PikeVM).
    pub fn with_dfa_limit(pattern: &str, dfa_limit: usize) -> Result<Matcher, MatcherError> {
        let thompson_config = thompson::Config::new().nfa_size_limit(Some(REGEX_SIZE_LIMIT));
        let nfa = thompson::Compiler::new()
            .configure(thompson_config.clone())
            .build(pattern)
            .map_err(Box::new)?;
        let nfa_states = nfa.states().len();
        let limit = dfa_limit.min(DFA_SIZE_LIMIT);
        let dfa = (limit > 0)
            .then(|| {
                dense::Builder::new()
                    .configure(
                        dense::Config::new()
                            .start_kind(StartKind::Unanchored)
                            .dfa_size_limit(Some(limit))
                            .determinize_size_limit(Some(DETERMINIZE_SIZE_LIMIT)),
                    )
                    .build_from_nfa(&nfa)
                    .ok()
            })
            .flatten();
        let split = match dfa {
            Some(_) => None,
            None => split_dfas(pattern, thompson_config.clone(), limit),
        };
        let (engine, dfa_bytes) = match (dfa, split) {
            (Some(dfa), _) => {
                let bytes = dfa.memory_usage();
                (Engine::Dfa(Box::new(dfa)), bytes)
            }
            (None, Some(dfas)) => {
                let bytes = dfas.iter().map(|d| d.memory_usage()).sum();
                (Engine::Dfas(dfas), bytes)
            }
            (None, None) => {
                let vm = pikevm::PikeVM::new_from_nfa(nfa).map_err(Box::new)?;
                let for_pool = vm.clone();
                let create: CacheFn = Box::new(move || for_pool.create_cache());
                (
                    Engine::Pike {
                        vm,
                        pool: Pool::new(create),
                    },
                    0,
                )
            }
        };
        Ok(Matcher(Arc::new(Inner {
            engine,
            nfa_states,
            dfa_bytes,
        })))
    }

    /// The engine this pattern runs on.
    pub fn kind(&self) -> MatcherKind {
        match self.0.engine {
            Engine::Dfa(_) | Engine::Dfas(_) => MatcherKind::Dfa,
            Engine::Pike { .. } => MatcherKind::PikeVm,
        }
    }

    /// States of the pattern's Thompson NFA.
    pub fn nfa_states(&self) -> usize {
        self.0.nfa_states
    }

    /// Bytes of the DFA's tables (0 on the PikeVM).
    pub fn dfa_bytes(&self) -> usize {
        self.0.dfa_bytes
    }

    /// The verifier's charge per subject byte: [`DFA_BYTE_STEPS`], or [`PIKE_STATE_STEPS`] x
    /// NFA states + [`PIKE_BYTE_STEPS`].
    pub fn steps_per_byte(&self) -> u64 {
        match &self.0.engine {
            Engine::Dfa(_) => DFA_BYTE_STEPS,
            Engine::Dfas(dfas) => DFA_BYTE_STEPS.saturating_mul(dfas.len() as u64),
            Engine::Pike { .. } => PIKE_STATE_STEPS
                .saturating_mul(self.0.nfa_states as u64)
                .saturating_add(PIKE_BYTE_STEPS),
        }
    }

    /// A fresh cache for [`Matcher::is_match_with`].
    pub fn create_cache(&self) -> MatcherCache {
        match &self.0.engine {
            Engine::Dfa(_) | Engine::Dfas(_) => MatcherCache(None),
            Engine::Pike { vm, .. } => MatcherCache(Some(vm.create_cache())),
        }
    }

    /// Whether the pattern matches anywhere in `hay`, with the caller's cache (one made by
    /// this matcher's [`Matcher::create_cache`]; any other is replaced).
    pub fn is_match_with(&self, cache: &mut MatcherCache, hay: &str) -> bool {
        match &self.0.engine {
            Engine::Dfa(dfa) => dfa_is_match(dfa, hay),
            Engine::Dfas(dfas) => dfas.iter().any(|d| dfa_is_match(d, hay)),
            Engine::Pike { vm, .. } => {
                let c = cache.0.get_or_insert_with(|| vm.create_cache());
                vm.is_match(c, Input::new(hay))
            }
        }
    }

    /// Whether the pattern matches anywhere in `hay` (a PikeVM takes a cache from its pool).
    pub fn is_match(&self, hay: &str) -> bool {
        match &self.0.engine {
            Engine::Dfa(dfa) => dfa_is_match(dfa, hay),
            Engine::Dfas(dfas) => dfas.iter().any(|d| dfa_is_match(d, hay)),
            Engine::Pike { vm, pool } => vm.is_match(&mut pool.get(), Input::new(hay)),
        }
    }

    /// Resets a cache after a search stopped half-way (a caught panic).
    pub fn reset_cache(&self, cache: &mut MatcherCache) {
        *cache = self.create_cache();
    }
}

/// At most this many alternatives are split into DFAs of their own.
const MAX_SPLIT: usize = 16;

/// One DFA per alternative of a top-level alternation (`None` when the pattern is no such
/// alternation, has more than [`MAX_SPLIT`] alternatives, or an alternative does not fit; all
/// together within `limit`).
fn split_dfas(
    pattern: &str,
    thompson_config: thompson::Config,
    limit: usize,
) -> Option<Vec<dense::DFA<Vec<u32>>>> {
    use regex_syntax::hir::HirKind;
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    // Through non-capturing groups: `(?:a|b)` parses to the alternation itself; a capture
    // group around the whole is looked through too (nothing reads captures).
    let mut top = &hir;
    while let HirKind::Capture(c) = top.kind() {
        top = &c.sub;
    }
    let HirKind::Alternation(alts) = top.kind() else {
        return None;
    };
    if alts.len() > MAX_SPLIT {
        return None;
    }
    let mut left = limit;
    let mut out = Vec::with_capacity(alts.len());
    for alt in alts {
        let nfa = thompson::Compiler::new()
            .configure(thompson_config.clone())
            .build_from_hir(alt)
            .ok()?;
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Unanchored)
                    .dfa_size_limit(Some(left))
                    .determinize_size_limit(Some(DETERMINIZE_SIZE_LIMIT)),
            )
            .build_from_nfa(&nfa)
            .ok()?;
        left = left.checked_sub(dfa.memory_usage())?;
        out.push(dfa);
    }
    Some(out)
}

/// One forward pass, stopping at the first match state. The DFA is built without Unicode word
/// boundaries (a pattern with one runs on the PikeVM), so it has no quit bytes and the search
/// cannot fail; were it to, the answer would be "no match".
fn dfa_is_match(dfa: &dense::DFA<Vec<u32>>, hay: &str) -> bool {
    matches!(
        dfa.try_search_fwd(&Input::new(hay).earliest(true)),
        Ok(Some(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_patterns_get_a_dfa_and_blowups_a_pikevm() {
        let m = Matcher::new(r"(?i)-e(nc)?\s+[a-z0-9+/=]{40,}").expect("compiles");
        assert_eq!(m.kind(), MatcherKind::Dfa);
        assert_eq!(m.steps_per_byte(), DFA_BYTE_STEPS);
        let m = Matcher::new(r"[ab]*a[ab]{900}c").expect("compiles");
        assert_eq!(m.kind(), MatcherKind::PikeVm);
        assert!(m.steps_per_byte() >= 900 * PIKE_STATE_STEPS);
        assert!(m.nfa_states() > 900);
    }

    #[test]
    fn an_alternation_too_large_for_one_dfa_runs_on_one_dfa_per_alternative() {
        let pattern =
            "(?:(?is)ipconfig.*\\|.*find)|(?:(?is)net.*\\|.*find)|(?:(?is)netstat.*\\|.*find)\
                       |(?:(?is)ping.*\\|.*find)|(?:(?is)systeminfo.*\\|.*find)\
                       |(?:(?is)tasklist.*\\|.*find)|(?:(?is)whoami.*\\|.*find)";
        let m = Matcher::new(pattern).expect("compiles");
        assert_eq!(m.kind(), MatcherKind::Dfa);
        assert_eq!(m.steps_per_byte(), 7 * DFA_BYTE_STEPS);
        let meta = regex_automata::meta::Regex::new(pattern).expect("compiles");
        for hay in [
            "whoami | find x",
            "WHOAMI\n|\nFIND",
            "who | find",
            "ping 1 | fin",
            "",
        ] {
            assert_eq!(m.is_match(hay), meta.is_match(hay), "{hay:?}");
        }
    }

    #[test]
    fn both_engines_answer_like_the_meta_engine() {
        let cases: &[(&str, &[&str])] = &[
            (r"^[A-Za-z0-9+/=]+$", &["abc=", "a b", "", "ÿ"]),
            (
                r"(?i)powershell.*-enc",
                &["POWERSHELL x -ENC", "pwsh -enc", "é"],
            ),
            (r"\bcmd\b", &["run cmd now", "cmdx", "é cmd é"]),
            (r"a*", &["", "b", "é"]),
            (r"[ab]*a[ab]{20}c", &["aaaaaaaaaaaaaaaaaaaaaaaac", "abc"]),
        ];
        for (pattern, hays) in cases {
            let ours = Matcher::new(pattern).expect("compiles");
            let meta = regex_automata::meta::Regex::new(pattern).expect("compiles");
            let mut cache = ours.create_cache();
            for hay in *hays {
                assert_eq!(
                    ours.is_match(hay),
                    meta.is_match(hay),
                    "{pattern} on {hay:?}"
                );
                assert_eq!(
                    ours.is_match_with(&mut cache, hay),
                    meta.is_match(hay),
                    "{pattern} on {hay:?}"
                );
            }
        }
    }
}
