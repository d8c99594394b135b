//! Which event types a Sigma `logsource` reads, and what its field names are called in the
//! schema.
//!
//! Input: the log source table (`stdlib/sigma/logsources.toml`), a field mapping in the
//! runtime's format (`stdlib/mappings/windows.toml`, parsed by the runtime's own
//! [`Mapping::from_toml`], so importer and decoder read one file the one way) and the schema;
//! output: a [`Table`] answering "logsource → event types and Sigma field → schema field".
//! Field names come from the mapping's routes (Sigma's field names are the source's key names):
//! the table says which routes, by channel, speak for a log source. A source no decoder reads
//! (the Linux sensor fills events directly) names its fields in one of the table's field sets
//! instead (`[fieldsets.linux]`: Sigma name → schema field).
//!
//! The table is built over a target schema, which may be a profile (`linux-ebpf`): a field the
//! schema lacks is not mapped (a rule using it is refused, naming it, E0905), and a log source
//! whose event types the schema lacks is unavailable (E0904, saying which).

use std::collections::BTreeMap;

use serde::Deserialize;
use vigil_runtime::decode::{Mapping, MatchValue};
use vigil_runtime::schema::Schema;
use vigil_runtime::types::Ty;

use super::error::{ErrorCode, Refusal, Result};
use super::rule::Logsource;

/// The embedded log source table.
pub const LOGSOURCES_TOML: &str = include_str!("../../../stdlib/sigma/logsources.toml");
/// The embedded Windows mapping (a superset of `sysmon.toml`).
pub const WINDOWS_TOML: &str = include_str!("../../../stdlib/mappings/windows.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableToml {
    mapping: String,
    /// Named field sets: Sigma field name → schema field name.
    #[serde(default)]
    fieldsets: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(rename = "logsource")]
    entries: Vec<EntryToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryToml {
    /// Absent for Sigma's product-less categories (`webserver`, `proxy`, `dns`, ...).
    #[serde(default)]
    product: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    service: Option<String>,
    /// The mapping's channel whose routes name the fields (sources the decoder reads).
    #[serde(default)]
    channel: Option<String>,
    /// The field set naming the fields (sources filled directly, such as the Linux sensor).
    #[serde(default)]
    fields: Option<String>,
    events: Vec<String>,
}

/// A schema field as the importer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The schema name: `command_line`.
    pub name: String,
    /// Its type.
    pub ty: Ty,
}

/// What one log source reads.
#[derive(Clone, Debug)]
pub struct Source {
    /// The event types, in `on` order.
    pub events: Vec<String>,
    /// Sigma field name → schema field, only fields every event type has with one type.
    pub fields: BTreeMap<String, Field>,
    /// Sigma field names that some but not all event types have.
    pub partial: BTreeMap<String, String>,
    /// The string fields common to all event types, for keyword searches (schema order).
    pub string_fields: Vec<Field>,
    /// Sigma field names the source names but the target schema lacks (a profile that does
    /// not fill them): Sigma name → the schema field it would be.
    pub missing: BTreeMap<String, String>,
    /// Whether the decoder reads Windows' "no value" placeholder `-` as absent for this source
    /// (routes of the Windows mapping), so that a test the text `-` passes also passes an
    /// absent field. Sources filled directly have no placeholder.
    pub dash_is_absent: bool,
}

/// The whole table.
#[derive(Clone, Debug)]
pub struct Table {
    /// Each log source, or why the target schema cannot host it.
    entries: Vec<(Key, std::result::Result<Source, String>)>,
}

#[derive(Clone, Debug)]
struct Key {
    product: Option<String>,
    category: Option<String>,
    service: Option<String>,
}

/// Why the table could not be built (a defect of the shipped data, caught by tests).
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The TOML is malformed.
    #[error("{0}")]
    Toml(String),
    /// An event type or field the schema lacks.
    #[error("{0}")]
    Schema(String),
}

impl Table {
    /// The table shipped with the compiler, over the given schema.
    pub fn builtin(schema: &Schema) -> std::result::Result<Table, TableError> {
        let mapping = Mapping::from_toml("stdlib/mappings/windows.toml", WINDOWS_TOML)
            .map_err(|e| TableError::Toml(e.to_string()))?;
        Table::new(LOGSOURCES_TOML, &mapping, schema)
    }

    /// A table from its TOML text and a mapping.
    pub fn new(
        toml_text: &str,
        mapping: &Mapping,
        schema: &Schema,
    ) -> std::result::Result<Table, TableError> {
        let t: TableToml =
            toml::from_str(toml_text).map_err(|e| TableError::Toml(e.to_string()))?;
        if t.mapping != mapping.name {
            return Err(TableError::Toml(format!(
                "the table is for mapping `{}`, given `{}`",
                t.mapping, mapping.name
            )));
        }
        let mut entries = Vec::with_capacity(t.entries.len());
        for e in t.entries {
            let names =
                match (&e.channel, &e.fields) {
                    (Some(c), None) => Names::Channel(c),
                    (None, Some(f)) => Names::Set(t.fieldsets.get(f).ok_or_else(|| {
                        TableError::Toml(format!("no field set `{f}` in the table"))
                    })?),
                    _ => {
                        return Err(TableError::Toml(format!(
                            "log source `{}/{}` must give exactly one of `channel` and `fields`",
                            e.product.as_deref().unwrap_or("*"),
                            e.category.as_deref().or(e.service.as_deref()).unwrap_or("")
                        )))
                    }
                };
            let source = source(&e, &names, mapping, schema)?;
            entries.push((
                Key {
                    product: e.product,
                    category: e.category,
                    service: e.service,
                },
                source,
            ));
        }
        Ok(Table { entries })
    }

    /// The source a rule's logsource names.
    pub fn lookup(&self, ls: &Logsource) -> Result<&Source> {
        let found = self.entries.iter().find(|(e, _)| {
            ls.product == e.product && ls.category == e.category && ls.service == e.service
        });
        match found {
            Some((_, Ok(s))) => Ok(s),
            Some((_, Err(why))) => Err(Refusal::new(
                ErrorCode::UnknownLogsource,
                format!("logsource `{}` {why}", ls.label()),
            )),
            None => Err(Refusal::new(
                ErrorCode::UnknownLogsource,
                format!("no mapping for logsource `{}`", ls.label()),
            )),
        }
    }

    /// The log sources the target schema cannot host, with the reason (for tests and docs).
    pub fn unavailable(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .filter_map(|(k, s)| {
                let why = s.as_ref().err()?;
                let ls = Logsource {
                    product: k.product.clone(),
                    category: k.category.clone(),
                    service: k.service.clone(),
                };
                Some((ls.label(), why.clone()))
            })
            .collect()
    }
}

fn channel_of(route: &vigil_runtime::decode::Route) -> Option<&str> {
    route
        .when
        .iter()
        .find(|(k, _)| k == "Channel")
        .and_then(|(_, v)| match v.first() {
            Some(MatchValue::Str(s)) => Some(s.as_str()),
            _ => None,
        })
}

/// Where a log source's Sigma field names come from.
enum Names<'a> {
    /// The routes of the mapping for this channel.
    Channel(&'a str),
    /// A field set of the table.
    Set(&'a BTreeMap<String, String>),
}

/// One log source over the schema: `Ok(Err(why))` when the schema lacks an event type it
/// reads (a profile), `Err` when the table itself is broken.
fn source(
    e: &EntryToml,
    names_from: &Names<'_>,
    mapping: &Mapping,
    schema: &Schema,
) -> std::result::Result<std::result::Result<Source, String>, TableError> {
    let lacking: Vec<&str> = e
        .events
        .iter()
        .filter(|ev| schema.event(ev).is_none())
        .map(String::as_str)
        .collect();
    if !lacking.is_empty() {
        return Ok(Err(format!(
            "reads `{}`, which the schema `{}` does not have",
            lacking.join("`, `"),
            schema.label()
        )));
    }
    // Per event type: Sigma name → schema field.
    let mut per_event: Vec<BTreeMap<String, Field>> = Vec::new();
    let mut missing = BTreeMap::new();
    for ev in &e.events {
        let (_, ty) = schema
            .event(ev)
            .ok_or_else(|| TableError::Schema(format!("no event type `{ev}` in the schema")))?;
        let mut names: BTreeMap<String, Field> = BTreeMap::new();
        let mut pairs: Vec<(&String, &String)> = Vec::new();
        match names_from {
            Names::Channel(channel) => {
                let routes = mapping.routes.iter().filter(|r| {
                    &r.event == ev && channel_of(r).is_some_and(|c| c.eq_ignore_ascii_case(channel))
                });
                let mut any = false;
                for r in routes {
                    any = true;
                    for (field, keys) in r.fields.iter().chain(&mapping.defaults) {
                        pairs.extend(keys.iter().map(|k| (k, field)));
                    }
                }
                if !any {
                    return Err(TableError::Schema(format!(
                        "no route of mapping `{}` yields `{ev}` from channel `{channel}`",
                        mapping.name
                    )));
                }
            }
            Names::Set(set) => pairs.extend(set.iter()),
        }
        for (k, field) in pairs {
            match ty.field(field) {
                Some((_, def)) => {
                    names.entry(k.clone()).or_insert_with(|| Field {
                        name: field.clone(),
                        ty: def.ty,
                    });
                }
                None => {
                    missing.entry(k.clone()).or_insert_with(|| field.clone());
                }
            }
        }
        per_event.push(names);
    }
    // A field is usable when every event type has it with one type (an event whose source
    // lacks it reads it as absent, as Sigma reads a missing field).
    let mut fields = BTreeMap::new();
    let mut partial = BTreeMap::new();
    for names in &per_event {
        for (k, f) in names {
            if fields.contains_key(k) || partial.contains_key(k) {
                continue;
            }
            let common = e.events.iter().all(|n| {
                schema
                    .event(n)
                    .and_then(|(_, t)| t.field(&f.name))
                    .is_some_and(|(_, d)| d.ty == f.ty)
            });
            if common {
                fields.insert(k.clone(), f.clone());
            } else {
                partial.insert(k.clone(), f.name.clone());
            }
        }
    }
    let mut string_fields = Vec::new();
    if let Some((_, first)) = e.events.first().and_then(|n| schema.event(n)) {
        for def in &first.fields {
            let common = e.events.iter().all(|n| {
                schema
                    .event(n)
                    .and_then(|(_, t)| t.field(&def.name))
                    .is_some_and(|(_, d)| d.ty == def.ty)
            });
            let is_text =
                def.ty == Ty::STR || def.ty == Ty::List(vigil_runtime::types::Scalar::Str);
            if common && is_text && def.name != "host" {
                string_fields.push(Field {
                    name: def.name.clone(),
                    ty: def.ty,
                });
            }
        }
    }
    missing.retain(|k, _| !fields.contains_key(k) && !partial.contains_key(k));
    Ok(Ok(Source {
        events: e.events.clone(),
        fields,
        partial,
        string_fields,
        missing,
        dash_is_absent: matches!(names_from, Names::Channel(_)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(product: &str, category: &str) -> Logsource {
        Logsource {
            product: Some(product.to_owned()),
            category: Some(category.to_owned()),
            service: None,
        }
    }

    #[test]
    fn every_builtin_log_source_is_available_on_endpoint() {
        let table = Table::builtin(&Schema::endpoint()).expect("the shipped table loads");
        assert_eq!(table.unavailable(), Vec::new());
        let linux = table
            .lookup(&ls("linux", "network_connection"))
            .expect("linux network");
        assert_eq!(linux.fields["DestinationHostname"].name, "dest_hostname");
        assert!(!linux.dash_is_absent);
        let windows = table
            .lookup(&ls("windows", "process_creation"))
            .expect("sysmon 1");
        assert!(windows.dash_is_absent);
        assert!(windows.missing.is_empty(), "{:?}", windows.missing);
    }

    #[test]
    fn a_profile_drops_the_fields_and_event_types_it_lacks() {
        let table = Table::builtin(&Schema::linux_ebpf()).expect("the shipped table loads");
        // The sensor's three Sigma categories, with what it fills.
        let proc = table
            .lookup(&ls("linux", "process_creation"))
            .expect("linux process_creation");
        assert_eq!(proc.events, ["process_start"]);
        assert_eq!(proc.fields["Image"].name, "image");
        assert_eq!(proc.fields["ParentCommandLine"].name, "parent_command_line");
        assert_eq!(proc.missing["Hashes"], "hashes");
        let file = table
            .lookup(&ls("linux", "file_event"))
            .expect("linux file_event");
        assert_eq!(file.events, ["file_create"]);
        assert!(!file.fields.contains_key("CommandLine"));
        let net = table
            .lookup(&ls("linux", "network_connection"))
            .expect("linux network_connection");
        assert_eq!(net.fields["Initiated"].ty, Ty::BOOL);
        assert_eq!(net.missing["DestinationHostname"], "dest_hostname");
        // Windows fields the sensor does not fill are missing, not mapped.
        let win = table
            .lookup(&ls("windows", "process_creation"))
            .expect("sysmon 1 on the profile");
        assert_eq!(win.missing["IntegrityLevel"], "integrity_level");
        // A log source whose event type the profile lacks is refused, saying so.
        let err = table
            .lookup(&ls("windows", "image_load"))
            .expect_err("no image_load on the sensor");
        assert_eq!(err.code, ErrorCode::UnknownLogsource);
        assert!(err.message.contains("`image_load`"), "{}", err.message);
        assert!(table
            .unavailable()
            .iter()
            .any(|(l, _)| l == "windows/image_load"));
    }

    #[test]
    fn an_entry_needs_exactly_one_source_of_names() {
        let mapping =
            Mapping::from_toml("windows.toml", WINDOWS_TOML).expect("the windows mapping parses");
        let schema = Schema::endpoint();
        let both = "mapping = \"windows\"\n[fieldsets.x]\nImage = \"image\"\n[[logsource]]\nproduct = \"p\"\ncategory = \"c\"\nchannel = \"Microsoft-Windows-Sysmon/Operational\"\nfields = \"x\"\nevents = [\"process_start\"]\n";
        assert!(Table::new(both, &mapping, &schema).is_err());
        let unknown = "mapping = \"windows\"\n[[logsource]]\nproduct = \"p\"\nfields = \"nope\"\nevents = [\"process_start\"]\n";
        assert!(Table::new(unknown, &mapping, &schema).is_err());
    }
}
