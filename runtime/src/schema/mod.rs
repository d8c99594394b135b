//! The event schema as data (LANGUAGE.md section 6): event types, their fields, each field's
//! type and the bounds the verifier relies on: per field `max_len`, `max_items` and, for lists
//! of strings, `max_total_len` (the bytes of all items together); per event type
//! `max_event_bytes` (the bytes of all its string and list values together: the sensor's
//! record limit). Every input path (decoders, the builder) cuts values to these bounds.
//!
//! Input: a schema TOML file (`stdlib/schema/*.toml`); output: a validated [`Schema`], or every
//! [`SchemaError`] found, located in the file. Loading never panics on any input. The standard
//! schema is embedded: [`Schema::endpoint`]. Binding a program to a host schema (E0620 and up)
//! is not here yet.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::types::Ty;

mod error;
mod load;

pub use error::{ErrorCode, SchemaError};

/// The largest `max_len` a schema may declare: 16 MiB.
pub const MAX_LEN_CAP_BYTES: u32 = 16 * 1024 * 1024;
/// The largest `max_items` a schema may declare.
pub const MAX_ITEMS_CAP: u32 = 65_536;
/// The largest `max_event_bytes` a schema may declare: 64 MiB.
pub const MAX_EVENT_BYTES_CAP: u32 = 64 * 1024 * 1024;
/// `max_event_bytes` of an event type whose schema sets none (neither on the event type nor
/// at the top of the file): 256 KiB.
pub const DEFAULT_MAX_EVENT_BYTES: u32 = 256 * 1024;

/// The text of the standard schema, `stdlib/schema/endpoint.toml`.
pub const ENDPOINT_TOML: &str = include_str!("../../../stdlib/schema/endpoint.toml");
/// The Linux eBPF sensor's profile of `endpoint`.
pub const LINUX_EBPF_TOML: &str = include_str!("../../../stdlib/schema/linux-ebpf.toml");

/// A validated event schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    /// The schema's name, e.g. `endpoint`.
    pub name: String,
    /// The schema's version.
    pub version: SchemaVersion,
    /// For a sensor's profile of a standard schema (a subset of its event types and fields,
    /// the ones that sensor fills), the sensor and its version: `linux-ebpf 0.1.0`.
    pub profile: Option<String>,
    /// The event types, in file order; an event type's [`EventTypeId`] is its index here.
    pub events: Vec<EventType>,
}

/// A schema version `MAJOR.MINOR`: a minor version only adds fields and event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SchemaVersion {
    /// Incompatible changes.
    pub major: u32,
    /// Additions only.
    pub minor: u32,
}

impl fmt::Display for SchemaVersion {
    /// `1.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// One event type and its fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventType {
    /// The name rules write after `on`: `process_start`.
    pub name: String,
    /// One sentence about what the event records.
    pub description: String,
    /// The fields, in file order; a field's [`FieldIndex`] is its index here.
    pub fields: Vec<FieldDef>,
    /// The most bytes all string and list-of-string values of one event may hold together
    /// (the sensor's record limit): longer events are cut, longest values first, and flagged.
    /// The verifier's cost bounds are `base + per_byte x n` with `n` at most this.
    pub max_event_bytes: u32,
}

/// One field of an event type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDef {
    /// The name rules write: `command_line`.
    pub name: String,
    /// The field's type.
    pub ty: Ty,
    /// The largest length in bytes of a string, or of each item of a `[string]`; 0 for fields
    /// that hold no strings.
    pub max_len: u32,
    /// The largest number of items of a list; 0 for scalars.
    pub max_items: u32,
    /// For a `[string]` field, the most bytes its items may hold together (`args` cannot hold
    /// more than the command line); 0 for other fields. Defaults to `max_len x max_items`,
    /// capped at the event type's `max_event_bytes`.
    pub max_total_len: u32,
    /// One short phrase about the field.
    pub description: String,
}

/// The index of an event type in [`Schema::events`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventTypeId(pub u16);

/// The index of a field in [`EventType::fields`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FieldIndex(pub u16);

impl Schema {
    /// Parses and validates a schema file. `file_name` is only used to locate errors. On
    /// failure, the error is the first one in file order (structure errors come first: a file
    /// that is not valid schema TOML is not checked further).
    pub fn from_toml(file_name: &str, text: &str) -> Result<Schema, SchemaError> {
        load::load(file_name, text).map_err(|errors| {
            // `load` never fails without an error; the fallback only keeps this panic-free.
            errors
                .into_iter()
                .min_by_key(|e| (e.line, e.column))
                .unwrap_or_else(|| SchemaError {
                    code: ErrorCode::SchemaSyntax,
                    message: "schema refused".to_owned(),
                    file: file_name.to_owned(),
                    line: 1,
                    column: 1,
                })
        })
    }

    /// Like [`Schema::from_toml`], but reports every error found, in file order (never an
    /// empty list).
    pub fn from_toml_all(file_name: &str, text: &str) -> Result<Schema, Vec<SchemaError>> {
        load::load(file_name, text).map_err(|mut errors| {
            errors.sort_by_key(|e| (e.line, e.column));
            errors
        })
    }

    /// The standard schema `endpoint`, embedded from `stdlib/schema/endpoint.toml`.
    pub fn endpoint() -> Schema {
        // The embedded file is fixed at build time, and `endpoint_schema_loads` tests it.
        Schema::from_toml("stdlib/schema/endpoint.toml", ENDPOINT_TOML)
            .expect("the embedded endpoint schema is valid")
    }

    /// The event type named `name`, with its id.
    pub fn event(&self, name: &str) -> Option<(EventTypeId, &EventType)> {
        let index = self.events.iter().position(|e| e.name == name)?;
        let id = u16::try_from(index).ok()?;
        Some((EventTypeId(id), self.events.get(index)?))
    }

    /// The event type with id `id`.
    pub fn event_by_id(&self, id: EventTypeId) -> Option<&EventType> {
        self.events.get(usize::from(id.0))
    }

    /// The event type names, in file order (for suggestions and listings).
    pub fn event_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.events.iter().map(|e| e.name.as_str())
    }

    /// `name version`, as diagnostics print it: `endpoint 1.1`, or with the profile
    /// `endpoint 1.1 (profile linux-ebpf 0.1.0)`.
    pub fn label(&self) -> String {
        match &self.profile {
            Some(p) => format!("{} {} (profile {p})", self.name, self.version),
            None => format!("{} {}", self.name, self.version),
        }
    }

    /// The Linux eBPF sensor's profile of `endpoint`, embedded from
    /// `stdlib/schema/linux-ebpf.toml`.
    pub fn linux_ebpf() -> Schema {
        // Fixed at build time; `linux_profile_is_a_subset_of_endpoint` tests it.
        Schema::from_toml("stdlib/schema/linux-ebpf.toml", LINUX_EBPF_TOML)
            .expect("the embedded linux-ebpf schema is valid")
    }

    /// A schema shipped with Vigil, by name: `endpoint` or `linux-ebpf`.
    pub fn shipped(name: &str) -> Option<Schema> {
        match name {
            "endpoint" => Some(Schema::endpoint()),
            "linux-ebpf" => Some(Schema::linux_ebpf()),
            _ => None,
        }
    }

    /// Checks that `self` is a profile of `base`: same name and major version, and every event
    /// type and field of `self` is in `base` with the same type and bounds no wider. Returns
    /// each difference found, as a sentence.
    pub fn profile_differences(&self, base: &Schema) -> Vec<String> {
        let mut out = Vec::new();
        if self.name != base.name || self.version.major != base.version.major {
            out.push(format!(
                "`{}` is not a version of `{}`",
                self.label(),
                base.label()
            ));
        }
        for ev in &self.events {
            let Some((_, bev)) = base.event(&ev.name) else {
                out.push(format!(
                    "event type `{}` is not in `{}`",
                    ev.name,
                    base.label()
                ));
                continue;
            };
            for f in &ev.fields {
                let Some((_, bf)) = bev.field(&f.name) else {
                    out.push(format!(
                        "field `{}.{}` is not in `{}`",
                        ev.name,
                        f.name,
                        base.label()
                    ));
                    continue;
                };
                if f.ty != bf.ty {
                    out.push(format!("field `{}.{}` has another type", ev.name, f.name));
                }
                if f.max_len > bf.max_len
                    || f.max_items > bf.max_items
                    || f.max_total_len > bf.max_total_len
                {
                    out.push(format!("field `{}.{}` has wider bounds", ev.name, f.name));
                }
            }
            if ev.max_event_bytes > bev.max_event_bytes {
                out.push(format!(
                    "event type `{}` has a wider max_event_bytes",
                    ev.name
                ));
            }
        }
        out
    }
}

impl EventType {
    /// The field named `name`, with its index.
    pub fn field(&self, name: &str) -> Option<(FieldIndex, &FieldDef)> {
        let index = self.fields.iter().position(|f| f.name == name)?;
        let id = u16::try_from(index).ok()?;
        Some((FieldIndex(id), self.fields.get(index)?))
    }

    /// The field at `index`.
    pub fn field_by_index(&self, index: FieldIndex) -> Option<&FieldDef> {
        self.fields.get(usize::from(index.0))
    }

    /// The field names, in file order.
    pub fn field_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.fields.iter().map(|f| f.name.as_str())
    }
}

#[cfg(test)]
mod tests;
