//! Diagnostics as one SARIF 2.1.0 log, for code-scanning services (`vigil check --format
//! sarif`).
//!
//! Input: the diagnostics of one check and the [`SourceMap`] they point into; output: one JSON
//! value, a log with one run. The run's `tool.driver.rules` are the codes used (id = the code,
//! `shortDescription` its registry title, `defaultConfiguration.level` its severity); each
//! result has `ruleId`, `level`, `message` (with the help and notes appended), one location (the
//! primary span), `relatedLocations` (the secondary labels) and `fixes` when the diagnostic
//! carries a machine-applicable edit. Regions are 1-based; columns count Unicode code points
//! (`columnKind: unicodeCodePoints`), end columns are exclusive, as SARIF defines them. File
//! names relative to the base directory become relative URIs under `uriBaseId` `SRCROOT`;
//! the others absolute `file:` URIs. This module knows nothing of how the log is printed.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde_json::{json, Map, Value};
use vigil_grammar::span::Span;

use super::{Diagnostic, ErrorCode, Fix, Severity};
use crate::source::SourceMap;

/// The `$schema` a log names.
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The URI base id of every relative artifact location.
pub const SRCROOT: &str = "SRCROOT";

/// The SARIF `level` of a severity.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Percent-encodes what may not stand in a URI path (RFC 3986 `pchar` and `/`).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path's parts joined with `/` (Windows separators too), without `.` parts.
fn slashed(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => parts.push("..".to_owned()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    parts.join("/")
}

/// The artifact location of a source file named `name`: relative to `base` under `SRCROOT`
/// when it is a relative path or lies under `base`; an absolute `file:` URI otherwise.
fn artifact(name: &str, base: &Path) -> Value {
    let path = Path::new(name);
    let relative = if path.is_absolute() {
        path.strip_prefix(base).ok()
    } else {
        Some(path)
    };
    match relative {
        Some(rel) => json!({ "uri": encode_path(&slashed(rel)), "uriBaseId": SRCROOT }),
        None => json!({ "uri": format!("file:///{}", encode_path(&slashed(path))) }),
    }
}

/// The region of a span: 1-based lines and code-point columns, the end exclusive.
fn region(map: &SourceMap, span: Span) -> Value {
    let start = map.start(span);
    let end = map.end(span);
    json!({
        "startLine": start.line,
        "startColumn": start.column,
        "endLine": end.line,
        "endColumn": end.column,
    })
}

fn physical(map: &SourceMap, span: Span, base: &Path) -> Value {
    json!({
        "artifactLocation": artifact(map.name(span.file), base),
        "region": region(map, span),
    })
}

/// The message shown for a result: the diagnostic's, then its help and notes.
fn message_text(d: &Diagnostic) -> String {
    let mut text = d.message.clone();
    if let Some(help) = &d.help {
        text.push_str("\nhelp: ");
        text.push_str(help);
    }
    for note in &d.notes {
        text.push_str("\nnote: ");
        text.push_str(note);
    }
    text
}

fn fix(map: &SourceMap, f: &Fix, base: &Path) -> Value {
    let what = if f.replacement.is_empty() {
        "remove this".to_owned()
    } else {
        format!("replace with `{}`", f.replacement)
    };
    json!({
        "description": { "text": what },
        "artifactChanges": [{
            "artifactLocation": artifact(map.name(f.span.file), base),
            "replacements": [{
                "deletedRegion": region(map, f.span),
                "insertedContent": { "text": f.replacement },
            }],
        }],
    })
}

/// The reporting descriptor of a code.
fn rule(code: ErrorCode) -> Value {
    json!({
        "id": code.as_str(),
        "name": code.name(),
        "shortDescription": { "text": code.title() },
        "help": {
            "text": format!(
                "{}: what it means and what to do about it is the `{}` section of docs/errors.md",
                code.title(),
                code.as_str()
            ),
        },
        "defaultConfiguration": { "level": level(code.severity()) },
    })
}

/// The whole log: one run of `vigil` with `diags` as its results. `base` is the directory
/// relative file names are relative to (the working directory of the check); it becomes
/// `originalUriBaseIds.SRCROOT` when absolute.
pub fn to_sarif(diags: &[Diagnostic], map: &SourceMap, base: &Path) -> Value {
    let codes: BTreeMap<ErrorCode, usize> = {
        let mut used: Vec<ErrorCode> = diags.iter().map(|d| d.code).collect();
        used.sort();
        used.dedup();
        used.into_iter().enumerate().map(|(i, c)| (c, i)).collect()
    };
    let rules: Vec<Value> = codes.keys().map(|c| rule(*c)).collect();
    let results: Vec<Value> = diags
        .iter()
        .map(|d| {
            let mut loc = Map::new();
            loc.insert(
                "physicalLocation".to_owned(),
                physical(map, d.primary.span, base),
            );
            if !d.primary.message.is_empty() {
                loc.insert("message".to_owned(), json!({ "text": d.primary.message }));
            }
            let mut result = json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": codes.get(&d.code).copied().unwrap_or(0),
                "level": level(d.severity),
                "message": { "text": message_text(d) },
                "locations": [Value::Object(loc)],
            });
            if !d.labels.is_empty() {
                let related: Vec<Value> = d
                    .labels
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        json!({
                            "id": i,
                            "physicalLocation": physical(map, l.span, base),
                            "message": { "text": l.message },
                        })
                    })
                    .collect();
                result["relatedLocations"] = Value::Array(related);
            }
            if let Some(f) = &d.fix {
                result["fixes"] = json!([fix(map, f, base)]);
            }
            result
        })
        .collect();
    let mut run = json!({
        "tool": {
            "driver": {
                "name": "vigil",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            },
        },
        "columnKind": "unicodeCodePoints",
        "results": results,
    });
    if base.is_absolute() {
        let mut uri = format!("file:///{}", encode_path(&slashed(base)));
        if !uri.ends_with('/') {
            uri.push('/');
        }
        run["originalUriBaseIds"] = json!({ SRCROOT: { "uri": uri } });
    }
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [run],
    })
}

#[cfg(test)]
mod tests {
    use vigil_runtime::budget::Budget;
    use vigil_runtime::schema::Schema;

    use super::*;
    use crate::compile::compile;
    use crate::{Options, Sources};

    /// The OASIS SARIF 2.1.0 schema, vendored (tests/sarif/README.md).
    const SCHEMA: &str = include_str!("../../../tests/sarif/sarif-schema-2.1.0.json");

    fn diags_of(files: &[(&str, &str)]) -> (Vec<Diagnostic>, Sources) {
        let mut sources = Sources::with_stdlib();
        for (name, text) in files {
            sources.add(*name, *text);
        }
        let diags = match compile(
            &sources,
            &Schema::endpoint(),
            &Options::default(),
            &Budget::default(),
        ) {
            Ok(c) => c.warnings,
            Err(d) => d,
        };
        (diags, sources)
    }

    /// The validator of a whole log. The vendored copy keeps the root object's definition
    /// under `definitions.Root` (README.md there), so the root refers to it.
    fn validator() -> jsonschema::Validator {
        let mut schema: Value = serde_json::from_str(SCHEMA).expect("the vendored schema is JSON");
        assert!(
            schema["definitions"]["Root"].is_object(),
            "the schema's root definition"
        );
        schema["$ref"] = json!("#/definitions/Root");
        jsonschema::draft7::new(&schema).expect("the schema compiles")
    }

    fn validate(log: &Value) {
        let validator = validator();
        let errors: Vec<String> = validator
            .iter_errors(log)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{}\n{log:#}", errors.join("\n"));
    }

    #[test]
    fn errors_with_fixes_and_labels_validate() {
        let (mut diags, sources) = diags_of(&[
            (
                "rules/a b.vgl",
                "rule r {\n    on process_start\n    when comand_line contains \"é\" \n}\n",
            ),
            ("rules/lists.vgl", "list l = [\"a\"]\nlist l = [\"b\"]\n"),
        ]);
        // The did-you-mean edit, as the producers of did-you-mean help attach it.
        let unknown = diags
            .iter_mut()
            .find(|d| d.code == ErrorCode::UnknownField)
            .expect("the unknown field");
        if unknown.fix.is_none() {
            *unknown = unknown
                .clone()
                .with_fix(unknown.primary.span, "command_line");
        }
        assert!(diags.iter().any(|d| !d.labels.is_empty()), "{diags:?}");
        let log = to_sarif(&diags, &sources.map, Path::new("/work/x"));
        validate(&log);
        let run = &log["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "vigil");
        assert_eq!(run["columnKind"], "unicodeCodePoints");
        assert_eq!(
            run["originalUriBaseIds"]["SRCROOT"]["uri"],
            "file:///work/x/"
        );
        let result = run["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["ruleId"] == "E0302")
            .expect("the unknown field");
        assert_eq!(result["level"], "error");
        let loc = &result["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "rules/a%20b.vgl");
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "SRCROOT");
        assert_eq!(loc["region"]["startLine"], 3);
        assert_eq!(loc["region"]["startColumn"], 10);
        assert_eq!(loc["region"]["endColumn"], 21);
        let change = &result["fixes"][0]["artifactChanges"][0]["replacements"][0];
        assert_eq!(change["insertedContent"]["text"], "command_line");
        assert_eq!(change["deletedRegion"]["startColumn"], 10);
        let index = result["ruleIndex"].as_u64().expect("index") as usize;
        assert_eq!(run["tool"]["driver"]["rules"][index]["id"], "E0302");
        assert_eq!(
            run["tool"]["driver"]["rules"][index]["shortDescription"]["text"],
            ErrorCode::UnknownField.title()
        );
    }

    #[test]
    fn warnings_with_related_locations_validate() {
        let (diags, sources) = diags_of(&[(
            "/elsewhere/w.vgl",
            "rule a { on process_start when image == \"x\" }\n\
             rule b { on process_start when image == \"x\" }\n",
        )]);
        let log = to_sarif(&diags, &sources.map, Path::new("relative/base"));
        validate(&log);
        let result = &log["runs"][0]["results"][0];
        assert_eq!(result["ruleId"], "W0304");
        assert_eq!(result["level"], "warning");
        assert_eq!(
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "file:///elsewhere/w.vgl"
        );
        let related = &result["relatedLocations"][0];
        assert_eq!(related["physicalLocation"]["region"]["startLine"], 1);
        assert_eq!(
            log["runs"][0]["tool"]["driver"]["rules"][0]["defaultConfiguration"]["level"],
            "warning"
        );
        assert!(log["runs"][0].get("originalUriBaseIds").is_none());
    }

    #[test]
    fn no_diagnostics_is_an_empty_run() {
        let log = to_sarif(&[], &SourceMap::new(), Path::new("/"));
        validate(&log);
        assert_eq!(log["runs"][0]["results"], json!([]));
        assert_eq!(
            log["runs"][0]["originalUriBaseIds"]["SRCROOT"]["uri"],
            "file:///"
        );
    }

    #[test]
    fn the_schema_refuses_a_malformed_log() {
        // The validation above can fail: a wrong level and a region line of 0 are refused.
        let mut map = SourceMap::new();
        let file = map.add("x.vgl", "rule r { on process_start }\n");
        let d = Diagnostic::error(ErrorCode::UnknownName, Span::new(file, 5, 6), "m", "l");
        let mut log = to_sarif(&[d], &map, Path::new("/"));
        log["runs"][0]["results"][0]["level"] = json!("fatal");
        log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
            json!(0);
        assert_eq!(validator().iter_errors(&log).count(), 2);
        // And an unknown property on the log itself.
        let mut log = to_sarif(&[], &map, Path::new("/"));
        log["extra"] = json!(1);
        assert_eq!(validator().iter_errors(&log).count(), 1);
    }

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(encode_path("a b/c%d#e?.vgl"), "a%20b/c%25d%23e%3F.vgl");
        assert_eq!(slashed(Path::new("./x/../y.vgl")), "x/../y.vgl");
        assert_eq!(
            artifact("/base/dir/r.vgl", Path::new("/base"))["uri"],
            "dir/r.vgl"
        );
    }
}
