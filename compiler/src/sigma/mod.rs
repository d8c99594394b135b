//! The Sigma importer: Sigma YAML rules in, formatted `.vgl` files and a coverage report out.
//!
//! Input: files of Sigma YAML ([`InputFile`], named by their path relative to the import
//! root); output: an [`Import`]: one `.vgl` text per input file that has a converted rule, and
//! one [`RuleOutcome`] per Sigma rule, converted or refused with an E09xx [`Refusal`]. One bad
//! rule never stops the others. The semantics (`docs/sigma.md`) are exact or refused: the
//! importer never guesses.
//!
//! Stages: [`rule`] reads YAML into plain data; [`logsource`] says which event types a log
//! source reads and what its fields are called (from `stdlib/sigma/logsources.toml` and the
//! runtime's mapping `stdlib/mappings/windows.toml`), over the target schema ([`import_on`]:
//! `endpoint` or a profile of it); `detection` and `condition` build the
//! rule's expression; `correlation` builds thresholds and sequences; the tree is printed by
//! [`crate::fmt`] and, unless told otherwise, checked by [`crate::check`] against the schema
//! so that every file written compiles.

mod build;
mod condition;
mod correlation;
mod detection;
pub mod error;
mod filter;
pub mod logsource;
pub mod placeholder;
pub mod report;
pub mod rule;
mod value;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use vigil_grammar::ast::{self, Item, Meta, RuleDecl, Trigger};
use vigil_grammar::span::Span;
use vigil_runtime::schema::Schema;

pub use detection::MAX_VALUES;
pub use error::{ErrorCode, Refusal};
pub use logsource::Table;
pub use placeholder::Placeholders;
pub use rule::{MAX_DEPTH, MAX_EXPANDED_NODES, MAX_FILE_BYTES};

use detection::Converter;

/// One input file.
#[derive(Clone, Debug)]
pub struct InputFile {
    /// The path relative to the import root (`process_creation/proc_x.yml`); the output keeps
    /// the same directories.
    pub rel: PathBuf,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// How to import.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Check every converted rule with the front end; rules that fail are refused (E0913).
    pub check: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { check: true }
    }
}

/// What became of one Sigma rule.
#[derive(Clone, Debug)]
pub struct RuleOutcome {
    /// The input file, relative to the import root.
    pub rel: PathBuf,
    /// The rule's `title`, when it has one.
    pub title: Option<String>,
    /// The rule's `id`, when it has one.
    pub id: Option<String>,
    /// The log source label (`windows/process_creation`), or `correlation` for correlations.
    pub logsource: String,
    /// The Vigil rule name, or why the rule was refused.
    pub result: Result<String, Refusal>,
    /// Sigma fields the rule uses that have no mapping for its log source.
    pub unmapped: Vec<String>,
}

/// One output file.
#[derive(Clone, Debug)]
pub struct OutputFile {
    /// `<relative dir>/<stem>.vgl`.
    pub rel: PathBuf,
    /// The formatted text.
    pub text: String,
}

/// The result of an import.
#[derive(Clone, Debug, Default)]
pub struct Import {
    /// The files to write, in input order.
    pub files: Vec<OutputFile>,
    /// Every rule's outcome, in input order.
    pub rules: Vec<RuleOutcome>,
}

/// A converted detection rule, kept for correlations that refer to it.
#[derive(Clone)]
pub(crate) struct Converted {
    pub(crate) events: Vec<String>,
    pub(crate) when: ast::Expr,
    pub(crate) source: logsource::Source,
    pub(crate) label: String,
}

/// Imports files with the built-in table over the built-in schema.
///
/// # Errors
/// Only when the shipped table or mapping is broken (caught by the test suite).
pub fn import(inputs: &[InputFile], opts: Options) -> Result<Import, logsource::TableError> {
    import_on(inputs, &Schema::endpoint(), opts)
}

/// Imports files with the built-in table onto a target schema: `endpoint`, or a profile of it
/// such as the Linux sensor's `linux-ebpf`. A rule reading a field the schema lacks is refused
/// naming it (E0905); a log source whose event types it lacks, with E0904; converted rules are
/// checked against it.
///
/// # Errors
/// Only when the shipped table or mapping is broken (caught by the test suite).
pub fn import_on(
    inputs: &[InputFile],
    schema: &Schema,
    opts: Options,
) -> Result<Import, logsource::TableError> {
    let table = Table::builtin(schema)?;
    Ok(import_with(inputs, &table, schema, opts))
}

/// Imports files with a given table and schema.
pub fn import_with(inputs: &[InputFile], table: &Table, schema: &Schema, opts: Options) -> Import {
    import_full(inputs, table, schema, opts, &Placeholders::default())
}

/// Imports files with a given table and schema, with values for `expand` placeholders (rules
/// naming a placeholder `placeholders` lacks are refused, naming it).
pub fn import_full(
    inputs: &[InputFile],
    table: &Table,
    schema: &Schema,
    opts: Options,
    placeholders: &Placeholders,
) -> Import {
    let mut out = Import::default();
    let mut names = Names::default();
    // Pass 1: read every file, convert every detection rule.
    let mut loaded: Vec<(usize, Result<Vec<rule::Doc>, Refusal>)> = Vec::new();
    for (i, f) in inputs.iter().enumerate() {
        loaded.push((i, rule::load(&f.bytes)));
    }
    // Filters apply across files: read them all first.
    let mut filters = Vec::new();
    for (i, docs) in &loaded {
        for d in docs.iter().flatten() {
            if let rule::Doc::Filter(info, y) = d {
                match filter::parse(info, y) {
                    Ok(f) => filters.push(f),
                    Err(r) => out.rules.push(RuleOutcome {
                        rel: inputs[*i].rel.clone(),
                        title: info.title.clone(),
                        id: info.id.clone(),
                        logsource: "filter".to_owned(),
                        result: Err(r),
                        unmapped: Vec::new(),
                    }),
                }
            }
        }
    }
    let mut by_ref: HashMap<String, Converted> = HashMap::new();
    let mut per_file: Vec<Vec<(usize, RuleDecl)>> = vec![Vec::new(); inputs.len()];
    let mut correlations = Vec::new();
    for (i, docs) in &loaded {
        let f = &inputs[*i];
        let docs = match docs {
            Ok(d) => d,
            Err(r) => {
                out.rules.push(RuleOutcome {
                    rel: f.rel.clone(),
                    title: None,
                    id: None,
                    logsource: String::new(),
                    result: Err(r.clone()),
                    unmapped: Vec::new(),
                });
                continue;
            }
        };
        for d in docs {
            match d {
                rule::Doc::Invalid(info, r) => out.rules.push(RuleOutcome {
                    rel: f.rel.clone(),
                    title: info.title.clone(),
                    id: info.id.clone(),
                    logsource: String::new(),
                    result: Err(r.clone()),
                    unmapped: Vec::new(),
                }),
                rule::Doc::Correlation(c) => correlations.push((*i, c.clone())),
                rule::Doc::Filter(..) => {}
                rule::Doc::Rule(r) => {
                    let label = r.logsource.label();
                    let mut unmapped = Vec::new();
                    let result = convert_rule(r, table, placeholders, &mut unmapped).and_then(
                        |(conv, parts)| filter::apply(&filters, r, placeholders, conv, parts),
                    );
                    let result = result.map(|(conv, decl_parts)| {
                        for key in [&r.info.id, &r.info.name].into_iter().flatten() {
                            by_ref.insert(key.clone(), conv.clone());
                        }
                        let name = names.fresh(&f.rel, r.info.name.as_deref());
                        let decl = rule_decl(&name, &r.info, decl_parts);
                        let idx = out.rules.len();
                        per_file[*i].push((idx, decl));
                        name
                    });
                    out.rules.push(RuleOutcome {
                        rel: f.rel.clone(),
                        title: r.info.title.clone(),
                        id: r.info.id.clone(),
                        logsource: label,
                        result,
                        unmapped,
                    });
                }
            }
        }
    }
    // Pass 2: correlations, which refer to rules by name or id.
    for (i, c) in correlations {
        let f = &inputs[i];
        let result = correlation::convert(&c, &by_ref).map(|parts| {
            let name = names.fresh(&f.rel, c.info.name.as_deref());
            let decl = rule_decl(&name, &c.info, parts);
            per_file[i].push((out.rules.len(), decl));
            name
        });
        out.rules.push(RuleOutcome {
            rel: f.rel.clone(),
            title: c.info.title.clone(),
            id: c.info.id.clone(),
            logsource: "correlation".to_owned(),
            result,
            unmapped: Vec::new(),
        });
    }
    // Print, check, and keep what compiles.
    for (i, decls) in per_file.into_iter().enumerate() {
        if decls.is_empty() {
            continue;
        }
        let mut items = Vec::with_capacity(decls.len());
        for (idx, decl) in decls {
            let file = ast::File {
                items: vec![Item::Rule(decl)],
            };
            if opts.check {
                if let Err(r) = check_one(&file, schema) {
                    out.rules[idx].result = Err(r);
                    continue;
                }
            }
            items.extend(file.items);
        }
        if items.is_empty() {
            continue;
        }
        let text = crate::fmt::format_file(&ast::File { items });
        out.files.push(OutputFile {
            rel: inputs[i].rel.with_extension("vgl"),
            text,
        });
    }
    out
}

/// The parts of a rule other than its name and meta.
pub(crate) struct DeclParts {
    pub(crate) trigger: Trigger,
    pub(crate) when: Option<ast::Expr>,
    pub(crate) threshold: Option<ast::Threshold>,
}

fn convert_rule(
    r: &rule::Rule,
    table: &Table,
    placeholders: &Placeholders,
    unmapped: &mut Vec<String>,
) -> Result<(Converted, DeclParts), Refusal> {
    let source = table.lookup(&r.logsource)?;
    let label = r.logsource.label();
    let mut conv = Converter::new(source, placeholders, label.clone());
    let mut searches = BTreeMap::new();
    let mut order = Vec::with_capacity(r.searches.len());
    let mut first_err = None;
    for (name, y) in &r.searches {
        match conv.search(y) {
            Ok(e) => {
                searches.insert(name.clone(), e);
            }
            // Keep going to find every unmapped field for the report.
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
        order.push(name.clone());
    }
    unmapped.extend(conv.unmapped.iter().cloned());
    if let Some(e) = first_err {
        return Err(e);
    }
    let mut alts = Vec::with_capacity(r.conditions.len());
    for c in &r.conditions {
        alts.push(condition::convert(c, &searches, &order)?);
    }
    let when = build::or(alts);
    let trigger = Trigger::On(
        source.events.iter().map(|e| build::ident(e)).collect(),
        Span::default(),
    );
    Ok((
        Converted {
            events: source.events.clone(),
            when: when.clone(),
            source: source.clone(),
            label,
        },
        DeclParts {
            trigger,
            when: Some(when),
            threshold: None,
        },
    ))
}

fn rule_decl(name: &str, info: &rule::Info, parts: DeclParts) -> RuleDecl {
    let mut entries = Vec::new();
    if let Some(id) = &info.id {
        entries.push(build::meta_str("id", id));
    }
    if let Some(t) = &info.title {
        entries.push(build::meta_str("title", t));
    }
    if let Some(l) = info.level.as_deref().and_then(severity) {
        entries.push(build::meta_word("severity", l));
    }
    if let Some(s) = &info.status {
        entries.push(build::meta_str("status", s));
    }
    if let Some(d) = &info.description {
        entries.push(build::meta_str("description", d.trim()));
    }
    if let Some(a) = &info.author {
        entries.push(build::meta_str("author", a));
    }
    if let Some(d) = &info.date {
        entries.push(build::meta_str("date", d));
    }
    if let Some(d) = &info.modified {
        entries.push(build::meta_str("modified", d));
    }
    if !info.tags.is_empty() {
        entries.push(build::meta_list("tags", &info.tags));
        let attack: Vec<String> = info
            .tags
            .iter()
            .filter_map(|t| t.strip_prefix("attack.t"))
            .filter(|t| t.starts_with(|c: char| c.is_ascii_digit()))
            .map(|t| format!("T{}", t.to_ascii_uppercase()))
            .collect();
        if !attack.is_empty() {
            entries.push(build::meta_list("attack", &attack));
        }
    }
    if !info.references.is_empty() {
        entries.push(build::meta_list("references", &info.references));
    }
    if !info.falsepositives.is_empty() {
        entries.push(build::meta_list("falsepositives", &info.falsepositives));
    }
    RuleDecl {
        name: build::ident(name),
        meta: Some(Meta {
            entries,
            span: Span::default(),
        }),
        trigger: Some(parts.trigger),
        when: parts.when,
        threshold: parts.threshold,
        emit: None,
        fields: None,
        span: Span::default(),
    }
}

/// Sigma `level` → Vigil severity.
fn severity(level: &str) -> Option<&'static str> {
    Some(match level.to_ascii_lowercase().as_str() {
        "informational" => "informational",
        "low" => "low",
        "medium" => "medium",
        "high" => "high",
        "critical" => "critical",
        _ => return None,
    })
}

/// Rule names: from the file stem (or the rule's `name`), snake_case, unique in the import.
#[derive(Default)]
struct Names {
    used: HashSet<String>,
}

impl Names {
    fn fresh(&mut self, rel: &Path, name: Option<&str>) -> String {
        let stem = rel
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = snake(name.unwrap_or(&stem));
        let mut candidate = base.clone();
        let mut n = 2;
        while !self.used.insert(candidate.clone()) {
            candidate = format!("{base}_{n}");
            n += 1;
        }
        candidate
    }
}

/// `Proc-Creation Win.X` → `proc_creation_win_x`; a valid, non-keyword identifier.
pub fn snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_us = true;
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower && !prev_us {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_us = false;
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else if !prev_us {
            out.push('_');
            prev_us = true;
            prev_lower = false;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty()
        || out.starts_with(|c: char| c.is_ascii_digit())
        || !crate::fmt::is_bare_name(&out)
    {
        out.insert_str(0, "rule_");
    }
    out
}

/// Checks one converted rule: the front end, then lowering, binding and the verifier under the
/// default budget ([`vigil_runtime::budget::Budget::default`]), so that every rule written also
/// loads into an engine with the default budget. The first error becomes an E0913 refusal.
fn check_one(file: &ast::File, schema: &Schema) -> Result<(), Refusal> {
    let text = crate::fmt::format_file(file);
    let mut sources = crate::Sources::with_stdlib();
    sources.add("imported.vgl", text.into_bytes());
    let budget = vigil_runtime::budget::Budget::default();
    let diags = match crate::compile::compile(&sources, schema, &crate::Options::default(), &budget)
    {
        Ok(_) => return Ok(()),
        Err(d) => d,
    };
    match diags.iter().find(|d| d.is_error()) {
        None => Ok(()),
        Some(d) => Err(Refusal::new(
            ErrorCode::DoesNotCompile,
            format!(
                "the converted rule does not compile: {}: {}",
                d.code, d.message
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_names() {
        assert_eq!(snake("proc_creation_win_x"), "proc_creation_win_x");
        assert_eq!(snake("Proc-Creation Win.X"), "proc_creation_win_x");
        assert_eq!(snake("123abc"), "rule_123abc");
        assert_eq!(snake("count"), "rule_count");
        assert_eq!(snake("CamelCase"), "camel_case");
    }
}
