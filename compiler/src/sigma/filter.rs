//! Sigma filters (Sigma 2.0 meta filters): documents with a `filter:` section that narrow other
//! rules without editing them.
//!
//! Input: a filter document ([`parse`]), then each converted detection rule of the import
//! ([`apply`]); output: the rule's condition with every applicable filter's condition joined by
//! `and`, or a [`Refusal`]. Semantics as pySigma's `SigmaFilter` (the reference
//! implementation of the specification):
//!
//! - a filter has a `logsource` and a `filter` map holding `rules` (a rule id or name, a list
//!   of them, or `any`/`all`; an empty list is `any`), named searches, and one `condition`
//!   string over them (usually `not selection`);
//! - it applies to a detection rule (never to a correlation) when each of the filter's
//!   `product`, `category` and `service` that is set equals the rule's, and `rules` is `any`
//!   or names the rule by `id` or `name`;
//! - the rule's condition `C` becomes `(C) and (F)`, `F` the filter's condition over its own
//!   searches, converted with the rule's log source (field names are mapped per rule). Several
//!   filters are joined in file order. Correlations see the filtered rules.
//!
//! Filters may sit in any file of the import. A filter that cannot be read is refused
//! (E0920) and applies to nothing; a filter whose searches cannot be converted for a rule's log
//! source (an unmapped field, say) refuses that rule, naming the filter.

use std::collections::BTreeMap;

use yaml_rust2::Yaml;

use super::build as b;
use super::condition;
use super::detection::Converter;
use super::error::{ErrorCode, Refusal, Result};
use super::placeholder::Placeholders;
use super::rule::{self, Info, Logsource};
use super::{Converted, DeclParts};

/// Which rules a filter names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Targets {
    /// `any` / `all` / `[]`: every rule of the log source.
    Any,
    /// Rule ids or names.
    Rules(Vec<String>),
}

/// One filter document, read.
#[derive(Clone, Debug)]
pub(crate) struct Filter {
    /// Descriptive keys (the title names the filter in refusals).
    pub(crate) info: Info,
    logsource: Logsource,
    targets: Targets,
    /// The named searches, in file order.
    searches: Vec<(String, Yaml)>,
    condition: String,
}

fn invalid(msg: impl Into<String>) -> Refusal {
    Refusal::new(ErrorCode::InvalidFilter, msg)
}

fn get<'a>(map: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    match map {
        Yaml::Hash(h) => h.get(&Yaml::String(key.to_owned())),
        _ => None,
    }
}

fn lower(map: &Yaml, key: &str) -> Option<String> {
    get(map, key)
        .and_then(rule::scalar_text)
        .map(|s| s.to_lowercase())
}

/// Reads a filter document (the whole YAML document, `filter:` included).
pub(crate) fn parse(info: &Info, doc: &Yaml) -> Result<Filter> {
    let ls = match get(doc, "logsource") {
        Some(ls @ Yaml::Hash(_)) => ls,
        Some(_) => return Err(invalid("the filter's `logsource` is not a mapping")),
        None => return Err(invalid("the filter has no `logsource`")),
    };
    let logsource = Logsource {
        product: lower(ls, "product"),
        category: lower(ls, "category"),
        service: lower(ls, "service"),
    };
    let Some(Yaml::Hash(f)) = get(doc, "filter") else {
        return Err(invalid("the `filter` section is not a mapping"));
    };
    let mut targets = None;
    let mut condition = None;
    let mut searches = Vec::new();
    for (k, v) in f {
        let Some(key) = rule::scalar_text(k) else {
            return Err(invalid("a `filter` key is not a string"));
        };
        match key.as_str() {
            "rules" => targets = Some(self::targets(v)?),
            "condition" => match v {
                Yaml::String(s) => condition = Some(s.clone()),
                _ => return Err(invalid("the filter's `condition` must be one string")),
            },
            _ => searches.push((key, v.clone())),
        }
    }
    let targets = targets.ok_or_else(|| {
        invalid("the filter has no `rules` (write `rules: any` to apply it to every rule of its log source)")
    })?;
    let condition = condition.ok_or_else(|| invalid("the filter has no `condition`"))?;
    Ok(Filter {
        info: info.clone(),
        logsource,
        targets,
        searches,
        condition,
    })
}

fn targets(v: &Yaml) -> Result<Targets> {
    match v {
        Yaml::Array(items) if items.is_empty() => Ok(Targets::Any),
        Yaml::Array(items) => items
            .iter()
            .map(|y| {
                rule::scalar_text(y)
                    .ok_or_else(|| invalid("a filter `rules` item is not a rule id or name"))
            })
            .collect::<Result<Vec<_>>>()
            .map(Targets::Rules),
        other => match rule::scalar_text(other) {
            Some(s) if s.eq_ignore_ascii_case("any") || s.eq_ignore_ascii_case("all") => {
                Ok(Targets::Any)
            }
            Some(s) => Ok(Targets::Rules(vec![s])),
            None => Err(invalid(
                "the filter's `rules` must be `any`, `all`, a rule id or name, or a list of them",
            )),
        },
    }
}

impl Filter {
    /// Whether the filter applies to `r`: its log source is within the filter's, and the
    /// filter names it (or any rule).
    fn applies_to(&self, r: &rule::Rule) -> bool {
        let within = |f: &Option<String>, x: &Option<String>| f.is_none() || f == x;
        if !(within(&self.logsource.product, &r.logsource.product)
            && within(&self.logsource.category, &r.logsource.category)
            && within(&self.logsource.service, &r.logsource.service))
        {
            return false;
        }
        match &self.targets {
            Targets::Any => true,
            Targets::Rules(refs) => refs.iter().any(|x| {
                r.info.id.as_deref() == Some(x.as_str())
                    || r.info.name.as_deref() == Some(x.as_str())
            }),
        }
    }

    fn label(&self) -> String {
        self.info
            .title
            .clone()
            .or_else(|| self.info.id.clone())
            .unwrap_or_else(|| "untitled".to_owned())
    }

    /// The filter's condition as an expression over `conv`'s log source.
    fn expr(
        &self,
        conv: &Converted,
        placeholders: &Placeholders,
    ) -> Result<vigil_grammar::ast::Expr> {
        let mut c = Converter::new(&conv.source, placeholders, conv.label.clone());
        let mut searches = BTreeMap::new();
        let mut order = Vec::with_capacity(self.searches.len());
        for (name, y) in &self.searches {
            searches.insert(name.clone(), c.search(y)?);
            order.push(name.clone());
        }
        condition::convert(&self.condition, &searches, &order)
    }
}

/// Applies every filter that applies to `r` to its converted form: `(C) and (F1) and ...`.
pub(crate) fn apply(
    filters: &[Filter],
    r: &rule::Rule,
    placeholders: &Placeholders,
    mut conv: Converted,
    mut parts: DeclParts,
) -> Result<(Converted, DeclParts)> {
    let mut extra = Vec::new();
    for f in filters.iter().filter(|f| f.applies_to(r)) {
        let e = f.expr(&conv, placeholders).map_err(|e| {
            Refusal::new(
                e.code,
                format!("filter `{}` does not apply: {}", f.label(), e.message),
            )
        })?;
        extra.push(e);
    }
    if extra.is_empty() {
        return Ok((conv, parts));
    }
    let mut all = vec![conv.when.clone()];
    all.extend(extra);
    conv.when = b::and(all);
    parts.when = Some(conv.when.clone());
    Ok((conv, parts))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::sigma::{import, InputFile, Options};

    fn file(rel: &str, text: &str) -> InputFile {
        InputFile {
            rel: PathBuf::from(rel),
            bytes: text.as_bytes().to_vec(),
        }
    }

    const RULE: &str = "title: Whoami\nid: r-1\nname: whoami\nlogsource:\n  product: windows\n  \
                        category: process_creation\ndetection:\n  sel:\n    Image|endswith: \
                        '\\whoami.exe'\n  condition: sel\n";

    #[test]
    fn a_filter_in_another_file_applies_by_name_and_not_to_other_log_sources() {
        let filter = "title: Not admins\nlogsource:\n  product: windows\nfilter:\n  rules:\n    \
                      - whoami\n  admin:\n    User: 'admin'\n  condition: not admin\n";
        let other = "title: Other\nid: r-2\nlogsource:\n  product: windows\n  category: \
                     file_event\ndetection:\n  sel:\n    TargetFilename|endswith: '.x'\n  \
                     condition: sel\n";
        let out = import(
            &[
                file("b_filter.yml", filter),
                file("a_rule.yml", RULE),
                file("c_other.yml", other),
            ],
            Options::default(),
        )
        .expect("table");
        let text: String = out.files.iter().map(|f| f.text.clone()).collect();
        assert!(
            text.contains(r#"when image iendswith r"\whoami.exe" and not (user ieq "admin")"#),
            "{text}"
        );
        assert_eq!(text.matches("admin").count(), 1, "{text}");
        assert!(out.rules.iter().all(|r| r.result.is_ok()));
    }

    #[test]
    fn a_filter_without_rules_is_refused_and_applies_to_nothing() {
        let filter = "title: Bad\nlogsource:\n  product: windows\nfilter:\n  admin:\n    User: \
                      'admin'\n  condition: not admin\n";
        let out = import(
            &[file("a.yml", RULE), file("f.yml", filter)],
            Options::default(),
        )
        .expect("table");
        let text: String = out.files.iter().map(|f| f.text.clone()).collect();
        assert!(!text.contains("admin"), "{text}");
        let refused: Vec<_> = out
            .rules
            .iter()
            .filter_map(|r| r.result.as_ref().err())
            .collect();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].code, crate::sigma::ErrorCode::InvalidFilter);
    }
}
