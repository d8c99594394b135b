//! Which event types a Sigma `logsource` reads, and what its field names are called in the
//! schema.
//!
//! Input: the log source table (`stdlib/sigma/logsources.toml`), a field mapping in the
//! runtime's format (`stdlib/mappings/windows.toml`, parsed by the runtime's own
//! [`Mapping::from_toml`], so importer and decoder read one file the one way) and the schema;
//! output: a [`Table`] answering "logsource → event types and Sigma field → schema field".
//! Field names come only from the mapping's routes (Sigma's field names are the source's key
//! names): the table says which routes, by channel, speak for a log source.

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
    #[serde(rename = "logsource")]
    entries: Vec<EntryToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryToml {
    product: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    service: Option<String>,
    channel: String,
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
}

/// The whole table.
#[derive(Clone, Debug)]
pub struct Table {
    entries: Vec<(Key, Source)>,
}

#[derive(Clone, Debug)]
struct Key {
    product: String,
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
            let source = source(&e, mapping, schema)?;
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
        self.entries
            .iter()
            .find(|(e, _)| {
                ls.product.as_deref() == Some(e.product.as_str())
                    && ls.category == e.category
                    && ls.service == e.service
            })
            .map(|(_, s)| s)
            .ok_or_else(|| {
                Refusal::new(
                    ErrorCode::UnknownLogsource,
                    format!("no mapping for logsource `{}`", ls.label()),
                )
            })
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

fn source(
    e: &EntryToml,
    mapping: &Mapping,
    schema: &Schema,
) -> std::result::Result<Source, TableError> {
    // Per event type: Sigma name → schema field.
    let mut per_event: Vec<BTreeMap<String, Field>> = Vec::new();
    for ev in &e.events {
        let (_, ty) = schema
            .event(ev)
            .ok_or_else(|| TableError::Schema(format!("no event type `{ev}` in the schema")))?;
        let mut names: BTreeMap<String, Field> = BTreeMap::new();
        let routes = mapping.routes.iter().filter(|r| {
            &r.event == ev && channel_of(r).is_some_and(|c| c.eq_ignore_ascii_case(&e.channel))
        });
        let mut any = false;
        for r in routes {
            any = true;
            for (field, keys) in r.fields.iter().chain(&mapping.defaults) {
                let Some((_, def)) = ty.field(field) else {
                    continue;
                };
                for k in keys {
                    names.entry(k.clone()).or_insert_with(|| Field {
                        name: field.clone(),
                        ty: def.ty,
                    });
                }
            }
        }
        if !any {
            return Err(TableError::Schema(format!(
                "no route of mapping `{}` yields `{ev}` from channel `{}`",
                mapping.name, e.channel
            )));
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
    Ok(Source {
        events: e.events.clone(),
        fields,
        partial,
        string_fields,
    })
}
