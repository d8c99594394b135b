//! Field mappings (`stdlib/mappings/*.toml`, format in `docs/mappings.md`): how a source's
//! flat records (Sysmon's `EventID`, `Image`, `CommandLine`, ...) become events of the host
//! schema. A [`Mapping`] is the parsed file, independent of any schema; the decoder resolves it
//! against the host schema ([`super::Decoder::with_mapping`]), refusing names the schema lacks.
//!
//! A mapping is a list of routes. Each route names an event type, the conditions a record must
//! meet (`when`: source key = value, or one of several values), and for each field the source
//! keys to read it from (the first key present wins). Every route whose conditions hold yields
//! one event, so one record may become several events. `[defaults]` fields apply to every
//! route that does not map the field itself (and whose event type has it).

use std::collections::BTreeMap;

use serde::Deserialize;

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

/// One route: records meeting `when` become an event of type `event`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The event type (a name of the host schema).
    pub event: String,
    /// Conditions, all of which must hold: source key and the values it may have.
    pub when: Vec<(String, Vec<MatchValue>)>,
    /// Field name and the source keys to read it from, first present wins.
    pub fields: Vec<(String, Vec<String>)>,
}

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
        let mut routes = Vec::with_capacity(file.routes.len());
        for r in file.routes {
            routes.push(Route {
                event: r.event,
                when: r.when.into_iter().map(|(k, v)| (k, v.into_vec())).collect(),
                fields: fields(r.fields),
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
        Ok(Mapping {
            name: file.name,
            schema: file.schema,
            description: file.description,
            defaults,
            routes,
        })
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
}
