//! The front end on hostile input: arbitrary bytes and token soups go through parse, resolve,
//! type checking and both renderers without panicking. Case counts are bounded so the suite
//! stays fast; `PROPTEST_CASES` raises them for a longer run.

use std::sync::OnceLock;

use proptest::prelude::*;
use vigil_compiler::diag::{json, render};
use vigil_compiler::{check, Options, Sources};
use vigil_runtime::schema::Schema;

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(Schema::endpoint)
}

/// Checks `bytes` as one user file and renders every diagnostic both ways; returns whether
/// the check succeeded.
fn run(bytes: &[u8]) -> bool {
    let mut sources = Sources::with_stdlib();
    sources.add("fuzz.vgl", bytes.to_vec());
    let (typed, diags) = check(&sources, schema(), &Options::default());
    for d in &diags {
        let text = render::render(d, &sources.map, false);
        assert!(
            text.starts_with("error[") || text.starts_with("warning["),
            "{text}"
        );
        let line = json::to_line(d, &sources.map);
        assert!(!line.contains('\n'));
    }
    if typed.is_some() {
        assert!(diags.iter().all(|d| !d.is_error()));
    }
    typed.is_some()
}

const TOKENS: &[&str] = &[
    "rule",
    "r",
    "test",
    "list",
    "fn",
    "l",
    "f",
    "on",
    "when",
    "emit",
    "fields",
    "meta",
    "sequence",
    "by",
    "within",
    "threshold",
    "count",
    "distinct",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    ";",
    ".",
    "->",
    "=>",
    "fires",
    "quiet",
    "at",
    "and",
    "or",
    "not",
    "==",
    "!=",
    "<",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "in",
    "iin",
    "matches",
    "ieq",
    "contains",
    "icontains",
    "startswith",
    "iendswith",
    "any",
    "all",
    "exists",
    "event",
    "true",
    "false",
    "0",
    "1",
    "9223372036854775808",
    "0x1f",
    "30s",
    "5m",
    "\"a\"",
    "\"{image}\"",
    "\"10.0.0.0/8\"",
    "\"8.8.8.8\"",
    "r\"(a\"",
    "r\"x+\"",
    "image",
    "pid",
    "args",
    "dest_ip",
    "command_line",
    "process_start",
    "network_connect",
    "logon_failure",
    "basename",
    "len",
    "lower",
    "truncated",
    "substr",
    "shells",
    "private_nets",
    "is_lolbin",
    "bool",
    "int",
    "string",
    "ip",
    "cidr",
    "[cidr]",
    "a",
    "b",
    "spawn",
    "severity",
    "high",
    "id",
    "capacity",
];

fn soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(TOKENS), 0..60).prop_map(|t| t.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = run(&bytes);
    }

    #[test]
    fn token_soups_never_panic(text in soup()) {
        let _ = run(text.as_bytes());
    }

    #[test]
    fn soups_inside_a_rule_never_panic(cond in soup(), emit in soup()) {
        let text = format!(
            "list l = [\"a\"]\nfn f(p: process_start, n: int) -> bool {{ {cond} }}\n\
             rule r {{ on process_start when {cond} emit \"{{image}}\" }}\n\
             rule s {{ sequence by pid within 1m {{ a: process_start when {cond}\n b: network_connect when {emit} }} }}\n\
             test r {{ process_start {{ image: {emit} }} => fires }}\n"
        );
        let _ = run(text.as_bytes());
    }
}

#[test]
fn long_or_chains_and_deep_nesting_check_without_recursion() {
    let mut cond = String::from("pid == 0");
    for i in 1..100_000 {
        cond.push_str(&format!(" or pid == {i}"));
    }
    let text = format!("rule r {{ on process_start when {cond} }}\n");
    assert!(run(text.as_bytes()));
    let deep = format!(
        "rule r {{ on process_start when {}pid == 1{} }}\n",
        "not (".repeat(120),
        ")".repeat(120)
    );
    assert!(run(deep.as_bytes()));
}
