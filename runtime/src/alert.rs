//! Alerts: what a rule that fires produces, and its one JSON form (`docs/alerts.md` is the
//! definition; this module implements it).
//!
//! An [`Alert`] is plain owned data, so a host may keep it after the event is gone. It prints
//! as one JSON object per line ([`Alert::to_json_line`]) with its keys always present and always
//! in the documented order: `rule`, `title`, `severity`, `time`, `host`, `event_type`,
//! `message`, `fields`, `meta`, `bundle`, `source`, `shadow`.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::event::Source;
use crate::ir::{MetaValue, Severity};
use crate::ops::value_to_json;
use crate::value::Value;

/// The bundle an alert's rule came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BundleInfo {
    /// The bundle's id.
    pub id: String,
    /// Its content version.
    pub content_version: u64,
    /// SHA-256 of the bundle's bytes, lower-case hex.
    pub sha256: String,
}

/// One alert. See `docs/alerts.md` for each key's meaning.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// The rule's id (meta `id`, default its name).
    pub rule: String,
    /// The rule's title.
    pub title: String,
    /// The rule's severity.
    pub severity: Severity,
    /// The event's `time`, nanoseconds since the Unix epoch (0 when the event had none).
    pub time: i64,
    /// The event's `host` (`""` when it had none).
    pub host: String,
    /// The event's type name.
    pub event_type: String,
    /// The interpolated `emit` message, or the title when the rule has no `emit`.
    pub message: String,
    /// The rule's `fields`, by output name, in the rule's order.
    pub fields: Vec<(String, Value<'static>)>,
    /// The rule's other meta entries, in source order.
    pub meta: Vec<(String, MetaValue)>,
    /// The bundle the rule came from, when run from one.
    pub bundle: Option<BundleInfo>,
    /// Where the event came from, when known.
    pub source: Option<Source>,
    /// Whether the rule (or the whole bundle) runs in shadow mode.
    pub shadow: bool,
}

struct Fields<'a>(&'a [(String, Value<'static>)]);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, &value_to_json(v))?;
        }
        m.end()
    }
}

struct Meta<'a>(&'a [(String, MetaValue)]);

impl Serialize for Meta<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            match v {
                MetaValue::Str(x) => m.serialize_entry(k, x)?,
                MetaValue::Int(x) => m.serialize_entry(k, x)?,
                MetaValue::Bool(x) => m.serialize_entry(k, x)?,
                MetaValue::List(x) => m.serialize_entry(k, x)?,
            }
        }
        m.end()
    }
}

struct BundleJson<'a>(&'a BundleInfo);

impl Serialize for BundleJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("id", &self.0.id)?;
        m.serialize_entry("content_version", &self.0.content_version)?;
        m.serialize_entry("sha256", &self.0.sha256)?;
        m.end()
    }
}

struct SourceJson<'a>(&'a Source);

impl Serialize for SourceJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Source::Line { file, line } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("file", &file.as_deref())?;
                m.serialize_entry("line", line)?;
                m.end()
            }
            Source::Record { id } => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("record_id", id)?;
                m.end()
            }
        }
    }
}

impl Serialize for Alert {
    /// The documented object, keys in the documented order.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(12))?;
        m.serialize_entry("rule", &self.rule)?;
        m.serialize_entry("title", &self.title)?;
        m.serialize_entry("severity", self.severity.as_str())?;
        m.serialize_entry("time", &self.time)?;
        m.serialize_entry("host", &self.host)?;
        m.serialize_entry("event_type", &self.event_type)?;
        m.serialize_entry("message", &self.message)?;
        m.serialize_entry("fields", &Fields(&self.fields))?;
        m.serialize_entry("meta", &Meta(&self.meta))?;
        m.serialize_entry("bundle", &self.bundle.as_ref().map(BundleJson))?;
        m.serialize_entry("source", &self.source.as_ref().map(SourceJson))?;
        m.serialize_entry("shadow", &self.shadow)?;
        m.end()
    }
}

impl Alert {
    /// The alert as one line of JSON, without the final newline.
    pub fn to_json_line(&self) -> String {
        // Serialising owned strings, numbers and maps with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The alert as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
