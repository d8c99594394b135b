//! Reading Sigma YAML: bounded loading of a file's documents, and the shape of a Sigma rule or
//! correlation rule as plain data.
//!
//! Input: the bytes of one file; output: its documents as [`Doc`]s, or a [`Refusal`] for the
//! whole file (not YAML, too large, nested too deep). Knows nothing of Vigil, schemas or
//! mappings. Hostile input is bounded before the YAML parser sees it: size
//! ([`MAX_FILE_BYTES`]) and bracket nesting ([`MAX_DEPTH`]), so neither the parser nor the drop
//! of its tree can run away; and the nodes the tree would have once aliases are expanded
//! (`*a` copies the node anchored `&a`, so nine levels of ten aliases make 10⁹ nodes from a few
//! hundred bytes) are counted on the parser's events before any tree is built
//! ([`MAX_EXPANDED_NODES`]).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;
use yaml_rust2::{Yaml, YamlLoader};

use super::error::{ErrorCode, Refusal, Result};

/// The largest Sigma file the importer reads. SigmaHQ's largest rule is about 30 KB.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// The deepest bracket nesting accepted in a file (Sigma rules nest three or four levels).
pub const MAX_DEPTH: usize = 64;
/// The most YAML nodes a file may hold once its aliases are expanded. A file within
/// [`MAX_FILE_BYTES`] without aliases stays below it (every node takes at least two bytes);
/// SigmaHQ's largest rule has a few thousand.
pub const MAX_EXPANDED_NODES: u64 = 1 << 20;

/// Counts the nodes of a YAML stream with every alias expanded, from the parser's events
/// (an alias adds the expanded size of the node it names).
#[derive(Default)]
struct NodeCounter {
    /// Nodes so far, aliases expanded (saturating).
    total: u64,
    /// Aliases seen.
    aliases: u64,
    /// Open collections: (anchor id, `total` when it started).
    open: Vec<(usize, u64)>,
    /// Anchor id → the expanded size of its node.
    sizes: HashMap<usize, u64>,
}

impl MarkedEventReceiver for NodeCounter {
    fn on_event(&mut self, ev: Event, _mark: Marker) {
        match ev {
            Event::Scalar(_, _, anchor, _) => {
                self.total = self.total.saturating_add(1);
                if anchor > 0 {
                    self.sizes.insert(anchor, 1);
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.open.push((anchor, self.total));
                self.total = self.total.saturating_add(1);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, start)) = self.open.pop() {
                    if anchor > 0 {
                        self.sizes.insert(anchor, self.total.saturating_sub(start));
                    }
                }
            }
            Event::Alias(id) => {
                self.aliases += 1;
                let size = self.sizes.get(&id).copied().unwrap_or(1);
                self.total = self.total.saturating_add(size);
            }
            _ => {}
        }
    }
}

/// Refuses a text whose nodes, aliases expanded, exceed [`MAX_EXPANDED_NODES`] (E0902), before
/// the tree builder (which copies the aliased node for each alias) sees it.
fn check_expansion(text: &str) -> Result<()> {
    let mut counter = NodeCounter::default();
    Parser::new_from_str(text)
        .load(&mut counter, true)
        .map_err(|e| Refusal::new(ErrorCode::MalformedYaml, format!("invalid YAML: {e}")))?;
    if counter.total > MAX_EXPANDED_NODES {
        return Err(Refusal::new(
            ErrorCode::TooLarge,
            format!(
                "{} YAML aliases expand to {} nodes, over the importer's limit of {MAX_EXPANDED_NODES}",
                counter.aliases,
                if counter.total == u64::MAX {
                    "more than 2^64".to_owned()
                } else {
                    counter.total.to_string()
                }
            ),
        ));
    }
    Ok(())
}

/// The `logsource` of a rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Logsource {
    /// `product`, e.g. `windows`.
    pub product: Option<String>,
    /// `category`, e.g. `process_creation`.
    pub category: Option<String>,
    /// `service`, e.g. `security`.
    pub service: Option<String>,
}

impl Logsource {
    /// `windows/process_creation`, `windows/service=security`, for messages and the report.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        parts.push(self.product.clone().unwrap_or_else(|| "*".to_owned()));
        if let Some(c) = &self.category {
            parts.push(c.clone());
        }
        if let Some(s) = &self.service {
            parts.push(format!("service={s}"));
        }
        parts.join("/")
    }
}

/// The descriptive keys every rule kind shares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Info {
    /// `title`.
    pub title: Option<String>,
    /// `id`.
    pub id: Option<String>,
    /// `name` (how correlations refer to a rule).
    pub name: Option<String>,
    /// `status`.
    pub status: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `author`.
    pub author: Option<String>,
    /// `date`.
    pub date: Option<String>,
    /// `modified`.
    pub modified: Option<String>,
    /// `level`.
    pub level: Option<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `references`.
    pub references: Vec<String>,
    /// `falsepositives`.
    pub falsepositives: Vec<String>,
}

/// A detection rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Descriptive keys.
    pub info: Info,
    /// `logsource`.
    pub logsource: Logsource,
    /// The named searches of `detection`, in file order (`condition` and `timeframe` removed).
    pub searches: Vec<(String, Yaml)>,
    /// `detection.condition`: one or more condition strings (several are alternatives).
    pub conditions: Vec<String>,
}

/// A correlation rule (Sigma correlation specification).
#[derive(Clone, Debug)]
pub struct Correlation {
    /// Descriptive keys.
    pub info: Info,
    /// `correlation.type`: `event_count`, `value_count`, `temporal`, `temporal_ordered`, ...
    pub kind: String,
    /// `correlation.rules`: names or ids of the rules correlated, in order.
    pub rules: Vec<String>,
    /// `correlation.group-by`.
    pub group_by: Vec<String>,
    /// `correlation.timespan` (`timeframe` in older rules), as written.
    pub timespan: Option<String>,
    /// `correlation.condition`: operator and value pairs (`gte: 10`), and `field` for
    /// `value_count`.
    pub condition: Vec<(String, Yaml)>,
    /// Whether `correlation.aliases` is present (not supported).
    pub has_aliases: bool,
}

/// One YAML document of a Sigma file.
#[derive(Clone, Debug)]
pub enum Doc {
    /// A detection rule.
    Rule(Box<Rule>),
    /// A correlation rule.
    Correlation(Box<Correlation>),
    /// A filter (`filter:`), read by `filter.rs`: the whole document.
    Filter(Box<Info>, Box<Yaml>),
    /// A document that is not a rule, with the reason.
    Invalid(Box<Info>, Refusal),
}

/// Parses a file into its documents (empty documents are skipped).
pub fn load(bytes: &[u8]) -> Result<Vec<Doc>> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Refusal::new(
            ErrorCode::TooLarge,
            format!("file is over the importer's limit of {MAX_FILE_BYTES} bytes"),
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Refusal::new(ErrorCode::MalformedYaml, format!("not UTF-8: {e}")))?;
    let depth = bracket_depth(text);
    if depth > MAX_DEPTH {
        return Err(Refusal::new(
            ErrorCode::TooLarge,
            format!("brackets nest {depth} deep, over the importer's limit of {MAX_DEPTH}"),
        ));
    }
    check_expansion(text)?;
    let docs = YamlLoader::load_from_str(text)
        .map_err(|e| Refusal::new(ErrorCode::MalformedYaml, format!("invalid YAML: {e}")))?;
    Ok(docs
        .into_iter()
        .filter(|d| !matches!(d, Yaml::Null | Yaml::BadValue))
        .map(doc)
        .collect())
}

/// The deepest nesting of `[`/`{` outside quoted scalars and comments, an upper bound on what
/// flow collections can build (block nesting needs indentation, which the size limit bounds).
fn bracket_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for line in text.lines() {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for c in line.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '\'' | '"' if prev.is_whitespace() || "[{,:".contains(prev) => {
                        quote = Some(c);
                    }
                    '#' if prev.is_whitespace() => break,
                    '[' | '{' => {
                        depth += 1;
                        max = max.max(depth);
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                },
            }
            prev = c;
        }
    }
    max
}

/// A scalar as text (strings, numbers and booleans as written).
pub fn scalar_text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn get<'a>(map: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    match map {
        Yaml::Hash(h) => h.get(&Yaml::String(key.to_owned())),
        _ => None,
    }
}

fn text(map: &Yaml, key: &str) -> Option<String> {
    get(map, key).and_then(scalar_text)
}

/// A string or a list of strings, as a list.
fn texts(map: &Yaml, key: &str) -> Vec<String> {
    match get(map, key) {
        Some(Yaml::Array(v)) => v.iter().filter_map(scalar_text).collect(),
        Some(y) => scalar_text(y).into_iter().collect(),
        None => Vec::new(),
    }
}

fn info(y: &Yaml) -> Info {
    Info {
        title: text(y, "title"),
        id: text(y, "id"),
        name: text(y, "name"),
        status: text(y, "status"),
        description: text(y, "description"),
        author: text(y, "author"),
        date: text(y, "date"),
        modified: text(y, "modified"),
        level: text(y, "level"),
        tags: texts(y, "tags"),
        references: texts(y, "references"),
        falsepositives: texts(y, "falsepositives"),
    }
}

fn doc(y: Yaml) -> Doc {
    let info = info(&y);
    if !matches!(y, Yaml::Hash(_)) {
        return Doc::Invalid(
            Box::new(info),
            Refusal::new(ErrorCode::InvalidRule, "the document is not a mapping"),
        );
    }
    if let Some(c) = get(&y, "correlation") {
        return correlation(info, c);
    }
    if get(&y, "filter").is_some() {
        return Doc::Filter(Box::new(info), Box::new(y));
    }
    if get(&y, "action").is_some() {
        return Doc::Invalid(
            Box::new(info),
            Refusal::new(
                ErrorCode::InvalidRule,
                "rule collections (`action: global`) are not supported",
            ),
        );
    }
    match rule(&y) {
        Ok((logsource, searches, conditions)) => Doc::Rule(Box::new(Rule {
            info,
            logsource,
            searches,
            conditions,
        })),
        Err(r) => Doc::Invalid(Box::new(info), r),
    }
}

type RuleParts = (Logsource, Vec<(String, Yaml)>, Vec<String>);

fn rule(y: &Yaml) -> Result<RuleParts> {
    let ls = get(y, "logsource")
        .ok_or_else(|| Refusal::new(ErrorCode::InvalidRule, "the rule has no `logsource`"))?;
    let logsource = Logsource {
        product: text(ls, "product").map(|s| s.to_lowercase()),
        category: text(ls, "category").map(|s| s.to_lowercase()),
        service: text(ls, "service").map(|s| s.to_lowercase()),
    };
    let Some(Yaml::Hash(det)) = get(y, "detection") else {
        return Err(Refusal::new(
            ErrorCode::InvalidRule,
            "the rule has no `detection` mapping",
        ));
    };
    let mut searches = Vec::new();
    let mut conditions = Vec::new();
    for (k, v) in det {
        let Some(key) = scalar_text(k) else {
            return Err(Refusal::new(
                ErrorCode::InvalidRule,
                "a `detection` key is not a string",
            ));
        };
        match key.as_str() {
            "condition" => match v {
                Yaml::Array(items) => {
                    for c in items {
                        conditions.push(scalar_text(c).ok_or_else(|| {
                            Refusal::new(ErrorCode::InvalidRule, "a `condition` is not a string")
                        })?);
                    }
                }
                other => conditions.push(scalar_text(other).ok_or_else(|| {
                    Refusal::new(ErrorCode::InvalidRule, "the `condition` is not a string")
                })?),
            },
            // An aggregation's window; without an aggregation it has no meaning.
            "timeframe" => {}
            _ => searches.push((key, v.clone())),
        }
    }
    if conditions.is_empty() {
        return Err(Refusal::new(
            ErrorCode::InvalidRule,
            "the rule has no `detection.condition`",
        ));
    }
    Ok((logsource, searches, conditions))
}

fn correlation(info: Info, c: &Yaml) -> Doc {
    let kind = text(c, "type").unwrap_or_default();
    let condition = match get(c, "condition") {
        Some(Yaml::Hash(h)) => h
            .iter()
            .filter_map(|(k, v)| scalar_text(k).map(|k| (k, v.clone())))
            .collect(),
        _ => Vec::new(),
    };
    Doc::Correlation(Box::new(Correlation {
        info,
        kind,
        rules: texts(c, "rules"),
        group_by: texts(c, "group-by"),
        timespan: text(c, "timespan").or_else(|| text(c, "timeframe")),
        condition,
        has_aliases: get(c, "aliases").is_some(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_brackets_are_refused_before_parsing() {
        let text = format!("a: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = load(text.as_bytes()).unwrap_err();
        assert_eq!(err.code, ErrorCode::TooLarge);
    }

    #[test]
    fn alias_bombs_are_refused_before_the_tree_is_built() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = load(text.as_bytes()).unwrap_err();
        assert_eq!(err.code, ErrorCode::TooLarge, "{}", err.message);
        assert!(err.message.contains("aliases"), "{}", err.message);
        // A few aliases are fine.
        let ok = "title: t\nx: &v [a, b]\ny: *v\n";
        assert!(check_expansion(ok).is_ok());
    }

    #[test]
    fn quoted_brackets_do_not_count() {
        assert_eq!(bracket_depth("a: '[[[['\nb: [x, \"{{\"]"), 1);
    }
}
