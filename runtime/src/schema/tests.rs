//! Tests of schema loading: the embedded standard schema, and each E06xx loading error.

use super::*;
use crate::types::Scalar;

fn error_of(text: &str) -> SchemaError {
    match Schema::from_toml("test.toml", text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e,
    }
}

const HEAD: &str = "name = \"t\"\nversion = \"1.0\"\n";

fn with_fields(fields: &str) -> String {
    format!(
        "{HEAD}[events.e]\nfields = [\n  {{ name = \"time\", type = \"int\" }},\n  \
         {{ name = \"host\", type = \"string\", max_len = 255 }},\n{fields}]\n"
    )
}

#[test]
fn endpoint_schema_loads() {
    let schema = Schema::endpoint();
    assert_eq!(schema.name, "endpoint");
    assert_eq!(schema.version.to_string(), "1.1");
    assert_eq!(schema.label(), "endpoint 1.1");
    assert_eq!(schema.event_names().next(), Some("process_start"));
}

/// The Linux sensor's schema is a profile of `endpoint`: same name and major version, a subset
/// of its event types and fields, same types, bounds no wider.
#[test]
fn linux_profile_is_a_subset_of_endpoint() {
    let linux = Schema::linux_ebpf();
    assert_eq!(linux.profile.as_deref(), Some("linux-ebpf 0.1.0"));
    assert_eq!(linux.label(), "endpoint 1.1 (profile linux-ebpf 0.1.0)");
    assert_eq!(
        linux.profile_differences(&Schema::endpoint()),
        Vec::<String>::new()
    );
    // The fields the 2024 outage is about are not in the profile.
    let (_, ps) = linux.event("process_start").expect("process_start");
    assert!(ps.field("integrity_level").is_none() && ps.field("hashes").is_none());
    assert_eq!(Schema::shipped("linux-ebpf"), Some(linux));
}

/// A profile with a field `endpoint` lacks, another type or wider bounds is told apart.
#[test]
fn profile_differences_name_each_difference() {
    let text = r#"
name = "endpoint"
version = "1.1"
[events.process_start]
fields = [
  { name = "time", type = "int" },
  { name = "host", type = "string", max_len = 255 },
  { name = "image", type = "int" },
  { name = "command_line", type = "string", max_len = 999999 },
  { name = "shoe_size", type = "int" },
]
[events.teleport]
fields = [{ name = "time", type = "int" }, { name = "host", type = "string", max_len = 64 }]
"#;
    let s = Schema::from_toml("p.toml", text).expect("valid");
    let d = s.profile_differences(&Schema::endpoint());
    assert_eq!(
        d,
        vec![
            "field `process_start.image` has another type".to_owned(),
            "field `process_start.command_line` has wider bounds".to_owned(),
            "field `process_start.shoe_size` is not in `endpoint 1.1`".to_owned(),
            "event type `teleport` is not in `endpoint 1.1`".to_owned(),
        ]
    );
}

/// The event types and fields LANGUAGE.md section 6 names: rules written elsewhere rely on them.
#[test]
fn endpoint_schema_has_the_language_fields() {
    use crate::types::Ty;
    let s = Ty::STR;
    let i = Ty::INT;
    let b = Ty::BOOL;
    let ip = Ty::IP;
    let file = &[
        ("pid", i),
        ("image", s),
        ("target_filename", s),
        ("user", s),
    ][..];
    let registry = &[
        ("pid", i),
        ("image", s),
        ("target_object", s),
        ("details", s),
        ("user", s),
    ][..];
    let logon = &[
        ("target_user", s),
        ("target_domain", s),
        ("logon_type", i),
        ("source_ip", ip),
        ("workstation", s),
        ("status", s),
    ][..];
    let expected: &[(&str, &[(&str, Ty)])] = &[
        (
            "process_start",
            &[
                ("pid", i),
                ("ppid", i),
                ("process_guid", s),
                ("parent_process_guid", s),
                ("image", s),
                ("original_file_name", s),
                ("command_line", s),
                ("args", Ty::List(Scalar::Str)),
                ("parent_image", s),
                ("parent_command_line", s),
                ("user", s),
                ("integrity_level", s),
                ("current_directory", s),
                ("hashes", s),
            ],
        ),
        ("process_end", &[("pid", i), ("image", s), ("user", s)]),
        ("file_create", file),
        ("file_modify", file),
        ("file_delete", file),
        (
            "file_rename",
            &[
                ("pid", i),
                ("image", s),
                ("source_filename", s),
                ("target_filename", s),
                ("user", s),
            ],
        ),
        (
            "network_connect",
            &[
                ("pid", i),
                ("image", s),
                ("user", s),
                ("protocol", s),
                ("initiated", b),
                ("source_ip", ip),
                ("source_port", i),
                ("dest_ip", ip),
                ("dest_port", i),
                ("dest_hostname", s),
            ],
        ),
        (
            "dns_query",
            &[
                ("pid", i),
                ("image", s),
                ("query_name", s),
                ("query_status", i),
                ("query_results", s),
            ],
        ),
        ("registry_create", registry),
        ("registry_set", registry),
        ("registry_delete", registry),
        (
            "image_load",
            &[
                ("pid", i),
                ("image", s),
                ("image_loaded", s),
                ("signed", b),
                ("signature", s),
                ("hashes", s),
            ],
        ),
        ("logon_success", logon),
        ("logon_failure", logon),
        (
            "process_access",
            &[
                ("source_pid", i),
                ("source_image", s),
                ("target_pid", i),
                ("target_image", s),
                ("granted_access", s),
                ("call_trace", s),
                ("source_user", s),
                ("target_user", s),
            ],
        ),
        (
            "create_remote_thread",
            &[
                ("source_pid", i),
                ("source_image", s),
                ("target_pid", i),
                ("target_image", s),
                ("start_address", s),
                ("start_module", s),
                ("start_function", s),
            ],
        ),
        (
            "pipe_created",
            &[("pipe_name", s), ("image", s), ("pid", i)],
        ),
        (
            "pipe_connected",
            &[("pipe_name", s), ("image", s), ("pid", i)],
        ),
        (
            "driver_load",
            &[
                ("image_loaded", s),
                ("hashes", s),
                ("signed", b),
                ("signature", s),
                ("signature_status", s),
            ],
        ),
        (
            "wmi_event",
            &[
                ("operation", s),
                ("user", s),
                ("event_namespace", s),
                ("name", s),
                ("query", s),
                ("type", s),
                ("destination", s),
                ("consumer", s),
                ("filter", s),
            ],
        ),
        (
            "raw_access_read",
            &[("pid", i), ("image", s), ("device", s)],
        ),
        (
            "file_stream_hash",
            &[
                ("pid", i),
                ("image", s),
                ("target_filename", s),
                ("hash", s),
            ],
        ),
        (
            "process_tampering",
            &[("pid", i), ("image", s), ("type", s)],
        ),
        ("file_access", file),
    ];
    let schema = Schema::endpoint();
    for (event_name, fields) in expected {
        let Some((id, event)) = schema.event(event_name) else {
            panic!("endpoint schema lacks event type `{event_name}`");
        };
        assert_eq!(schema.event_by_id(id).map(|e| &e.name), Some(&event.name));
        for (field, ty) in fields.iter().chain(&[("time", Ty::INT), ("host", Ty::STR)]) {
            let Some((index, def)) = event.field(field) else {
                panic!("`{event_name}` lacks field `{field}`");
            };
            assert_eq!(def.ty, *ty, "{event_name}.{field}");
            assert_eq!(event.field_by_index(index), Some(def));
        }
    }
}

#[test]
fn endpoint_schema_bounds_and_docs() {
    let schema = Schema::endpoint();
    for event in &schema.events {
        assert!(!event.description.is_empty(), "{}", event.name);
        for field in &event.fields {
            assert!(
                !field.description.is_empty(),
                "{}.{}",
                event.name,
                field.name
            );
        }
    }
    let (_, ps) = schema.event("process_start").expect("process_start");
    let field = |name: &str| ps.field(name).map(|(_, f)| f.clone()).expect("field");
    // 32,767 UTF-16 units of command line, as UTF-8.
    assert_eq!(field("command_line").max_len, 98_304);
    assert_eq!(field("args").max_items, 64);
    assert_eq!(field("pid").max_len, 0);
    assert_eq!(field("pid").max_items, 0);
    assert_eq!(field("host").max_len, 255);
    assert!(schema.event("no_such_event").is_none());
    assert!(ps.field("comand_line").is_none());
}

#[test]
fn minimal_schema_loads_in_file_order() {
    let text = format!(
        "{HEAD}[events.zeta]\nfields = [{{ name = \"time\", type = \"int\" }}, \
         {{ name = \"host\", type = \"string\", max_len = 9 }}]\n\
         [events.alpha]\ndescription = \"A\"\nfields = [{{ name = \"host\", type = \"string\", \
         max_len = 9 }}, {{ name = \"time\", type = \"int\" }}, \
         {{ name = \"ips\", type = \"[ip]\", max_items = 4 }}]\n"
    );
    let schema = Schema::from_toml("t.toml", &text).expect("valid");
    assert_eq!(schema.event_names().collect::<Vec<_>>(), ["zeta", "alpha"]);
    let (id, alpha) = schema.event("alpha").expect("alpha");
    assert_eq!(id, EventTypeId(1));
    let (index, ips) = alpha.field("ips").expect("ips");
    assert_eq!(index, FieldIndex(2));
    assert_eq!((ips.max_items, ips.max_len), (4, 0));
}

#[test]
fn toml_syntax_error_is_located() {
    let e = error_of("name = \"t\"\nversion = \"1.0\"\n[events.e\n");
    assert_eq!(e.code, ErrorCode::SchemaSyntax);
    assert_eq!((e.file.as_str(), e.line), ("test.toml", 3));
    assert!(e.to_string().starts_with("error[E0601]: "), "{e}");
    assert!(e.to_string().contains("test.toml:3:"), "{e}");
}

#[test]
fn unknown_key_is_a_structure_error() {
    let e = error_of(&with_fields(
        "  { name = \"x\", type = \"string\", max_length = 5 },\n",
    ));
    assert_eq!(e.code, ErrorCode::SchemaSyntax);
    assert!(e.message.contains("max_length"), "{}", e.message);
    assert_eq!(e.line, 7);
}

#[test]
fn missing_events_is_a_structure_error() {
    assert_eq!(error_of(HEAD).code, ErrorCode::SchemaSyntax);
}

#[test]
fn unknown_type_names_the_type() {
    let e = error_of(&with_fields("  { name = \"x\", type = \"str\" },\n"));
    assert_eq!(e.code, ErrorCode::SchemaUnknownType);
    assert!(e.message.contains("`str`"), "{}", e.message);
    assert_eq!((e.line, e.column), (7, 24));
}

#[test]
fn string_field_without_max_len() {
    let e = error_of(&with_fields("  { name = \"x\", type = \"string\" },\n"));
    assert_eq!(e.code, ErrorCode::MissingMaxLen);
    assert_eq!((e.line, e.column), (7, 3));
    let e = error_of(&with_fields(
        "  { name = \"x\", type = \"[string]\", max_items = 3 },\n",
    ));
    assert_eq!(e.code, ErrorCode::MissingMaxLen);
}

#[test]
fn list_field_without_max_items() {
    let e = error_of(&with_fields("  { name = \"x\", type = \"[int]\" },\n"));
    assert_eq!(e.code, ErrorCode::MissingMaxItems);
}

#[test]
fn duplicate_field_is_refused() {
    let e = error_of(&with_fields("  { name = \"time\", type = \"int\" },\n"));
    assert_eq!(e.code, ErrorCode::DuplicateField);
    assert_eq!(e.line, 7);
}

#[test]
fn duplicate_event_is_refused() {
    let text = format!("{}[events.e]\nfields = []\n", with_fields(""));
    let e = error_of(&text);
    assert_eq!(e.code, ErrorCode::DuplicateEvent);
    assert_eq!(e.line, 8);
}

#[test]
fn names_must_be_snake_case() {
    let e = error_of(&with_fields(
        "  { name = \"CommandLine\", type = \"string\", max_len = 5 },\n",
    ));
    assert_eq!(e.code, ErrorCode::NotSnakeCase);
    assert!(e.message.contains("`CommandLine`"));
    let text = with_fields("").replace("[events.e]", "[events.ProcessStart]");
    assert_eq!(error_of(&text).code, ErrorCode::NotSnakeCase);
    let text = with_fields("").replace("name = \"t\"", "name = \"end-point\"");
    assert_eq!(error_of(&text).code, ErrorCode::NotSnakeCase);
    for good in ["a", "pid", "dest_ip", "sha256", "a1_b2"] {
        assert!(load::is_snake_case(good), "{good}");
    }
    for bad in ["", "_a", "a_", "a__b", "1a", "aB", "a-b", "a b", "é"] {
        assert!(!load::is_snake_case(bad), "{bad}");
    }
}

#[test]
fn time_and_host_are_required() {
    let text = format!("{HEAD}[events.e]\nfields = [{{ name = \"time\", type = \"int\" }}]\n");
    let e = error_of(&text);
    assert_eq!(e.code, ErrorCode::RequiredField);
    assert!(e.message.contains("`host`"), "{}", e.message);
    let text = format!(
        "{HEAD}[events.e]\nfields = [{{ name = \"time\", type = \"string\", max_len = 3 }}, \
         {{ name = \"host\", type = \"string\", max_len = 3 }}]\n"
    );
    let e = error_of(&text);
    assert_eq!(e.code, ErrorCode::RequiredField);
    assert!(e.message.contains("must be `int`"), "{}", e.message);
}

#[test]
fn bad_versions_are_refused() {
    for bad in [
        "1",
        "1.0.0",
        "v1.0",
        "1.x",
        "",
        "+1.0",
        "1.-0",
        "99999999999.0",
    ] {
        let text = with_fields("").replace("\"1.0\"", &format!("\"{bad}\""));
        let e = error_of(&text);
        assert_eq!(e.code, ErrorCode::BadVersion, "{bad}");
        assert_eq!((e.line, e.column), (2, 11));
    }
    let text = with_fields("").replace("\"1.0\"", "\"2.13\"");
    let schema = Schema::from_toml("t", &text).expect("valid");
    assert_eq!(
        schema.version,
        SchemaVersion {
            major: 2,
            minor: 13
        }
    );
}

#[test]
fn bounds_must_be_in_range() {
    for len in ["0", "-1", "16777217", "99999999999"] {
        let e = error_of(&with_fields(&format!(
            "  {{ name = \"x\", type = \"string\", max_len = {len} }},\n"
        )));
        assert_eq!(e.code, ErrorCode::MaxLenOutOfRange, "{len}");
    }
    let ok = with_fields("  { name = \"x\", type = \"string\", max_len = 16777216 },\n");
    assert!(Schema::from_toml("t", &ok).is_ok());
    let e = error_of(&with_fields(
        "  { name = \"x\", type = \"[int]\", max_items = 0 },\n",
    ));
    assert_eq!(e.code, ErrorCode::MaxItemsOutOfRange);
}

#[test]
fn bounds_on_the_wrong_type_are_refused() {
    let e = error_of(&with_fields(
        "  { name = \"x\", type = \"int\", max_len = 4 },\n",
    ));
    assert_eq!(e.code, ErrorCode::BoundOnWrongType);
    let e = error_of(&with_fields(
        "  { name = \"x\", type = \"string\", max_len = 4, max_items = 2 },\n",
    ));
    assert_eq!(e.code, ErrorCode::BoundOnWrongType);
}

#[test]
fn every_error_is_reported_in_file_order() {
    let text =
        with_fields("  { name = \"X\", type = \"int\" },\n  { name = \"y\", type = \"nope\" },\n");
    let errors = Schema::from_toml_all("t", &text).expect_err("two errors");
    let codes: Vec<_> = errors.iter().map(|e| e.code).collect();
    assert_eq!(
        codes,
        [ErrorCode::NotSnakeCase, ErrorCode::SchemaUnknownType]
    );
}

#[test]
fn columns_count_characters() {
    let text = with_fields("  { name = \"é\", type = \"nope\" },\n");
    let errors = Schema::from_toml_all("t", &text).expect_err("errors");
    let unknown = errors
        .iter()
        .find(|e| e.code == ErrorCode::SchemaUnknownType)
        .expect("unknown type");
    assert_eq!((unknown.line, unknown.column), (7, 24));
}

#[test]
fn hostile_input_never_panics() {
    for text in [
        "",
        "\u{0}",
        "[events]",
        "events = 3",
        "name = 1",
        "\u{feff}name = \"é",
        "[[[[",
    ] {
        assert!(Schema::from_toml("t", text).is_err());
    }
    // Deep nesting is refused by the TOML parser's own depth limit, not by the stack.
    let deep = format!("name = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(error_of(&deep).code, ErrorCode::SchemaSyntax);
    let deep = format!("name = {}", "{ a = ".repeat(100_000));
    assert_eq!(error_of(&deep).code, ErrorCode::SchemaSyntax);
}
