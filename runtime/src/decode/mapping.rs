//! Field mappings (`stdlib/mappings/*.toml`, format in `docs/mappings.md`): how a source's
//! flat records (Sysmon's `EventID`, `Image`, `CommandLine`, ...) become events of the host
//! schema. A [`Mapping`] is the parsed file, independent of any schema; the decoder resolves it
//! against the host schema ([`super::Decoder::with_mapping`]), refusing names the schema lacks.
//!
//! A mapping is a list of routes. Each route names an event type, the conditions a record must
//! meet (`when`: source key = value, or one of several values), and for each field the source
//! keys to read it from (the first key present wins). Every route whose conditions hold yields
//! one event, so one record may become several events, but never two of one event type: two
//! routes of the same type whose conditions can hold together are refused at load
//! ([`Mapping::check_overlaps`], E0715). `[defaults]` fields apply to every route that does not
//! map the field itself (and whose event type has it).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::casefold::eq_folded;
use crate::coerce::parse_int;
use crate::event::{DecodeError, ErrorCode};

/// The mappings shipped with the runtime, by name.
const BUILTIN: &[(&str, &str)] = &[
    (
        "sysmon",
        include_str!("../../../stdlib/mappings/sysmon.toml"),
    ),
    (
        "windows",
        include_str!("../../../stdlib/mappings/windows.toml"),
    ),
];

/// A value a `when` condition accepts.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum MatchValue {
    /// An integer: the record's value must read as this int (`1`, `"1"`, `"0x1"`).
    Int(i64),
    /// A string: the record's value as text, equal under case folding (an absent key reads
    /// as `""`).
    Str(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    name: String,
    schema: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    defaults: BTreeMap<String, OneOrMany<String>>,
    #[serde(default, rename = "route")]
    routes: Vec<RouteToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteToml {
    event: String,
    #[serde(default)]
    when: BTreeMap<String, OneOrMany<MatchValue>>,
    #[serde(default)]
    fields: BTreeMap<String, OneOrMany<String>>,
}

/// One route: records meeting `when` become an event of type `event`. Two routes are equal
/// when they say the same (the line they were read from aside).
#[derive(Clone, Debug)]
pub struct Route {
    /// The event type (a name of the host schema).
    pub event: String,
    /// Conditions, all of which must hold: source key and the values it may have.
    pub when: Vec<(String, Vec<MatchValue>)>,
    /// Field name and the source keys to read it from, first present wins.
    pub fields: Vec<(String, Vec<String>)>,
    /// The 1-based line of the route's `[[route]]` header in its file (0: not known, as for a
    /// mapping built in code).
    pub line: u32,
}

impl PartialEq for Route {
    fn eq(&self, other: &Route) -> bool {
        self.event == other.event && self.when == other.when && self.fields == other.fields
    }
}

impl Eq for Route {}

/// A parsed mapping file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The mapping's name (`sysmon`).
    pub name: String,
    /// The schema it maps onto (`endpoint`); checked against the host's name.
    pub schema: String,
    /// What the mapping reads.
    pub description: String,
    /// Fields set on every route's event that does not map them itself.
    pub defaults: Vec<(String, Vec<String>)>,
    /// The routes, in file order.
    pub routes: Vec<Route>,
}

impl Mapping {
    /// Parses a mapping file; `name` only locates errors.
    pub fn from_toml(name: &str, text: &str) -> Result<Mapping, DecodeError> {
        let file: FileToml = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| {
                text.get(..s.start)
                    .map_or(0, |t| t.bytes().filter(|&b| b == b'\n').count() + 1)
            });
            let msg = e.message().to_owned();
            DecodeError::new(
                ErrorCode::MappingSyntax,
                line as u64,
                format!("{name}: {msg}"),
            )
        })?;
        let fields = |m: BTreeMap<String, OneOrMany<String>>| -> Vec<(String, Vec<String>)> {
            m.into_iter().map(|(k, v)| (k, v.into_vec())).collect()
        };
        let headers = route_header_lines(text);
        let known_lines = headers.len() == file.routes.len();
        let mut routes = Vec::with_capacity(file.routes.len());
        for (i, r) in file.routes.into_iter().enumerate() {
            routes.push(Route {
                event: r.event,
                when: r.when.into_iter().map(|(k, v)| (k, v.into_vec())).collect(),
                fields: fields(r.fields),
                line: if known_lines {
                    headers.get(i).copied().unwrap_or(0)
                } else {
                    0
                },
            });
        }
        let defaults = fields(file.defaults);
        for (field, keys) in routes.iter().flat_map(|r| &r.fields).chain(&defaults) {
            if keys.is_empty() {
                return Err(DecodeError::new(
                    ErrorCode::MappingSyntax,
                    0,
                    format!("{name}: field `{field}` names no source key"),
                ));
            }
        }
        let mapping = Mapping {
            name: file.name,
            schema: file.schema,
            description: file.description,
            defaults,
            routes,
        };
        mapping.check_overlaps()?;
        Ok(mapping)
    }

    /// Refuses (E0715) two routes of the same event type whose `when` conditions can both hold
    /// for one record: such a record would become two events of the type. Routes are kept
    /// apart only by a key both constrain whose accepted values share none under the matcher's
    /// equality (`values_meet`); a key only one of them tests does not keep them apart.
    /// Sound: when two routes pass, no record can match both.
    pub fn check_overlaps(&self) -> Result<(), DecodeError> {
        for (i, a) in self.routes.iter().enumerate() {
            for (j, b) in self.routes.iter().enumerate().skip(i + 1) {
                if a.event != b.event {
                    continue;
                }
                let apart = a.when.iter().any(|(key, va)| {
                    b.when
                        .iter()
                        .find(|(k, _)| k == key)
                        .is_some_and(|(_, vb)| !sets_meet(va, vb))
                });
                if apart {
                    continue;
                }
                let witness = shared_record(a, b);
                return Err(DecodeError::new(
                    ErrorCode::RouteOverlap,
                    u64::from(b.line),
                    format!(
                        "mapping `{}`: routes {} ({}) and {} ({}) can take the same record into \
                         event type `{}`{}; merge them or make their `when` exclusive",
                        self.name,
                        i + 1,
                        describe_route(a),
                        j + 1,
                        describe_route(b),
                        a.event,
                        if witness.is_empty() {
                            " (any record)".to_owned()
                        } else {
                            format!(" (e.g. {witness})")
                        }
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A mapping shipped with the runtime: `sysmon` (`stdlib/mappings/sysmon.toml`) or `windows`
    /// (`stdlib/mappings/windows.toml`, a superset of `sysmon` with every Windows channel that
    /// SigmaHQ rules read).
    pub fn builtin(name: &str) -> Result<Mapping, DecodeError> {
        let (file, text) = BUILTIN.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            DecodeError::new(
                ErrorCode::MappingSyntax,
                0,
                format!("no built-in mapping `{name}` (there are: sysmon, windows)"),
            )
        })?;
        Mapping::from_toml(&format!("stdlib/mappings/{file}.toml"), text)
    }
}

/// The 1-based lines of the `[[route]]` headers of a mapping file, in order.
fn route_header_lines(text: &str) -> Vec<u32> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_start();
            l.strip_prefix("[[")
                .and_then(|r| r.trim_start().strip_prefix("route"))
                .is_some_and(|r| r.trim_start().starts_with("]]"))
        })
        .filter_map(|(i, _)| u32::try_from(i + 1).ok())
        .collect()
}

/// `line 12, when { Channel = "Security", EventID = 4688 }`.
fn describe_route(r: &Route) -> String {
    let mut s = String::new();
    if r.line > 0 {
        s.push_str(&format!("line {}, ", r.line));
    }
    if r.when.is_empty() {
        s.push_str("no `when`: every record");
        return s;
    }
    let conds: Vec<String> = r
        .when
        .iter()
        .map(|(k, vals)| {
            let v: Vec<String> = vals.iter().map(show_value).collect();
            if v.len() == 1 {
                format!("{k} = {}", v.join(""))
            } else {
                format!("{k} = [{}]", v.join(", "))
            }
        })
        .collect();
    s.push_str(&format!("when {{ {} }}", conds.join(", ")));
    s
}

fn show_value(v: &MatchValue) -> String {
    match v {
        MatchValue::Int(i) => i.to_string(),
        MatchValue::Str(s) => format!("{s:?}"),
    }
}

/// A record both routes take, as `key = value` pairs of the keys they constrain (for the
/// error message): for each key, a value one route accepts that the other accepts too.
fn shared_record(a: &Route, b: &Route) -> String {
    let mut parts = Vec::new();
    for (key, va) in &a.when {
        let other = b.when.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let pick = match other {
            None => va.first(),
            Some(vb) => va.iter().find(|x| vb.iter().any(|y| values_meet(x, y))),
        };
        if let Some(v) = pick {
            parts.push(format!("{key} = {}", show_value(v)));
        }
    }
    for (key, vb) in &b.when {
        if a.when.iter().all(|(k, _)| k != key) {
            if let Some(v) = vb.first() {
                parts.push(format!("{key} = {}", show_value(v)));
            }
        }
    }
    parts.join(", ")
}

/// Whether some record value is accepted by a value of `a` and by a value of `b`.
fn sets_meet(a: &[MatchValue], b: &[MatchValue]) -> bool {
    a.iter().any(|x| b.iter().any(|y| values_meet(x, y)))
}

/// Whether some record value satisfies both conditions, under the decoder's matcher
/// (`match_value` in `decode/mod.rs`): an int accepts an int record value equal to it and a
/// string that reads as it (`parse_int`); a string accepts text equal under case folding, an
/// int or unsigned record value it reads as, `true`/`false` for booleans, and (when empty) an
/// absent or null value. Errs towards "yes": a pair it cannot tell apart counts as meeting.
pub(crate) fn values_meet(a: &MatchValue, b: &MatchValue) -> bool {
    // The ints a string condition accepts (a record's int, or text reading as it): the
    // string read as an int, in any letter case (`0xFF` and `0xff` fold together).
    let int_of = |s: &str| parse_int(s).or_else(|| parse_int(&s.to_ascii_lowercase()));
    match (a, b) {
        (MatchValue::Int(x), MatchValue::Int(y)) => x == y,
        (MatchValue::Int(n), MatchValue::Str(s)) | (MatchValue::Str(s), MatchValue::Int(n)) => {
            int_of(s) == Some(*n)
        }
        (MatchValue::Str(s), MatchValue::Str(t)) => {
            eq_folded(s, t)
                || int_of(s).is_some_and(|i| int_of(t) == Some(i))
                || s.parse::<u64>()
                    .is_ok_and(|u| t.parse::<u64>().ok() == Some(u))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_mappings_parse_and_fit_the_endpoint_schema() {
        let schema = crate::schema::Schema::endpoint();
        for name in ["sysmon", "windows"] {
            let m = Mapping::builtin(name).expect("embedded mapping parses");
            assert_eq!(m.name, name);
            crate::decode::Decoder::with_mapping(&schema, &m).expect("mapping fits the schema");
        }
        assert!(Mapping::builtin("nope").is_err());
    }

    /// `testdata/routes/ok_*.toml` load; `bad_*.toml` are refused with E0715 and the message
    /// their first line gives (`# error: ...`), at load and again when built in code.
    #[test]
    fn overlapping_routes_are_refused_at_load() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/decode/testdata/routes");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("list testdata/routes")
            .map(|e| e.expect("dir entry").path())
            .collect();
        files.sort();
        let (mut ok, mut bad) = (0, 0);
        for path in files {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path).expect("read mapping");
            let result = Mapping::from_toml(&name, &text);
            if name.starts_with("ok_") {
                ok += 1;
                let m = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                let schema = crate::schema::Schema::endpoint();
                crate::decode::Decoder::with_mapping(&schema, &m)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
            } else if name.starts_with("bad_") {
                bad += 1;
                let want = text
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("# error: "))
                    .unwrap_or_else(|| panic!("{name}: first line is no `# error: `"));
                let err = result.expect_err(&name);
                assert_eq!(err.code, ErrorCode::RouteOverlap, "{name}: {err}");
                assert!(
                    err.message.contains(want),
                    "{name}: {}\nwant: {want}",
                    err.message
                );
                // Built in code (no lines known), the same pair is refused by the decoder.
                let mut m: Mapping = toml_without_check(&text);
                m.routes.iter_mut().for_each(|r| r.line = 0);
                let schema = crate::schema::Schema::endpoint();
                let err = crate::decode::Decoder::with_mapping(&schema, &m).expect_err(&name);
                assert_eq!(err.code, ErrorCode::RouteOverlap, "{name}");
            }
        }
        assert!(ok >= 4 && bad >= 7, "test data missing: {ok} ok, {bad} bad");
    }

    /// A mapping parsed without the overlap check (as a caller building one in code might).
    fn toml_without_check(text: &str) -> Mapping {
        let file: FileToml = toml::from_str(text).expect("test mapping parses");
        Mapping {
            name: file.name,
            schema: file.schema,
            description: file.description,
            defaults: Vec::new(),
            routes: file
                .routes
                .into_iter()
                .map(|r| Route {
                    event: r.event,
                    when: r.when.into_iter().map(|(k, v)| (k, v.into_vec())).collect(),
                    fields: r
                        .fields
                        .into_iter()
                        .map(|(k, v)| (k, v.into_vec()))
                        .collect(),
                    line: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn values_meet_as_the_matcher_compares() {
        use MatchValue::{Int, Str};
        let s = |x: &str| Str(x.to_owned());
        for (a, b, meet) in [
            (Int(1), Int(1), true),
            (Int(1), Int(2), false),
            (Int(16), s("0x10"), true),
            (Int(16), s("0X10"), true),
            (Int(16), s("16"), true),
            (Int(16), s("17"), false),
            (Int(1), s("true"), false),
            (s("Security"), s("SECURITY"), true),
            (s("Security"), s("System"), false),
            (s("16"), s("0x10"), true),
            (s(""), s(""), true),
            (s(""), s("a"), false),
            (s("18446744073709551615"), s("18446744073709551615"), true),
        ] {
            assert_eq!(values_meet(&a, &b), meet, "{a:?} {b:?}");
            assert_eq!(values_meet(&b, &a), meet, "{b:?} {a:?}");
        }
    }
}
