//! How values print: in `{...}` interpolation of `emit` messages ([`write_interpolated`]) and
//! as JSON in alerts ([`value_to_json`]). The one definition both the engine (messages) and
//! [`crate::alert`] (fields) use; `docs/alerts.md` describes it.

use crate::value::{canonical_ip, Value};

/// How a value prints in `{...}` interpolation (`docs/alerts.md`): strings as they are, ints in
/// decimal, bools `true`/`false`, ips in their usual text (IPv4 dotted, IPv6 RFC 5952), lists
/// as a JSON array. Absent fields print their type's empty value.
pub fn write_interpolated(out: &mut String, v: &Value<'_>) {
    use std::fmt::Write as _;
    match v {
        Value::Str(s) => out.push_str(s),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Ip(ip) => {
            let _ = write!(out, "{}", canonical_ip(*ip));
        }
        Value::Cidr(c) => {
            let _ = write!(out, "{c}");
        }
        Value::List(_) => {
            let json = value_to_json(v);
            out.push_str(&json.to_string());
        }
    }
}

/// A value as JSON, for alerts: strings, numbers, bools; ips and prefixes as strings; lists as
/// arrays.
pub fn value_to_json(v: &Value<'_>) -> serde_json::Value {
    match v {
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Str(s) => serde_json::Value::String(s.to_string()),
        Value::Ip(ip) => serde_json::Value::String(canonical_ip(*ip).to_string()),
        Value::Cidr(c) => serde_json::Value::String(c.to_string()),
        Value::List(items) => serde_json::Value::Array(items.iter().map(value_to_json).collect()),
    }
}
