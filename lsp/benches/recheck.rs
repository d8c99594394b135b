//! How long the language server takes to re-check after an edit, in a folder of 3,000 rules
//! (300 files of 10 rules, and one file of the lists and fns they share), generated here.
//!
//! - `full_check`: the whole folder through the compiler's pipeline (what `vigil check
//!   FOLDER` does; the server runs it on open and on save): the baseline.
//! - `edit_rule_file`: one `didChange` of a rules file handled end to end (the edit applied,
//!   the file re-read, the files it depends on checked with it, diagnostics published).
//! - `edit_shared_list`: one `didChange` of the shared file changing a list other files use:
//!   every file using it is checked again.
//!
//! `cargo bench -p vigil-lsp --bench recheck`.

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion};
use lsp_server::{Message, Notification, Request, RequestId};
use serde_json::json;
use vigil_lsp::{Config, Server};

const FILES: usize = 300;
const RULES_PER_FILE: usize = 10;
const LISTS: usize = 20;

const FIELDS: &[(&str, &[&str])] = &[
    (
        "process_start",
        &["command_line", "image", "parent_image", "user"],
    ),
    ("network_connect", &["image", "dest_hostname", "user"]),
    ("file_create", &["target_filename", "image"]),
];
const OPS: &[&str] = &["icontains", "contains", "startswith", "endswith", "ieq"];

fn shared(version: usize) -> String {
    let mut s = String::new();
    for i in 0..LISTS {
        s.push_str(&format!(
            "list shared_{i} = [\"a{i}.exe\", \"b{i}.exe\", \"v{version}.exe\"]\n\n"
        ));
    }
    s.push_str(
        "fn suspicious(p: process_start) -> bool {\n    basename(p.image) iin shared_0\n}\n",
    );
    s
}

fn rules_file(f: usize, variant: usize) -> String {
    let mut s = String::new();
    for j in 0..RULES_PER_FILE {
        let n = f * RULES_PER_FILE + j;
        let (event, fields) = FIELDS[n % FIELDS.len()];
        let field = fields[n % fields.len()];
        let op = OPS[n % OPS.len()];
        let mut cond = format!("{field} {op} \"tok{n}x{variant}\"");
        if event == "process_start" && n.is_multiple_of(3) {
            cond.push_str(&format!(" and basename(image) iin shared_{}", n % LISTS));
        }
        if event == "process_start" && n.is_multiple_of(7) {
            cond.push_str(" and suspicious(event)");
        }
        s.push_str(&format!(
            "rule r{n} {{\n    meta {{ id: \"id-{n}\", severity: medium }}\n    on {event}\n    when {cond}\n    emit \"r{n} {{image}}\"\n}}\n\n"
        ));
    }
    s
}

fn folder() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigil-lsp-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench folder");
    std::fs::write(dir.join("shared.vgl"), shared(0)).expect("write");
    for f in 0..FILES {
        std::fs::write(dir.join(format!("rules_{f:03}.vgl")), rules_file(f, 0)).expect("write");
    }
    dir
}

fn uri(p: &Path) -> String {
    format!("file://{}", p.display())
}

fn notification(method: &str, params: serde_json::Value) -> Message {
    Message::Notification(Notification {
        method: method.to_owned(),
        params,
    })
}

fn open(server: &mut Server, path: &Path, text: &str) {
    let mut out = Vec::new();
    server.handle(
        notification(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri(path), "languageId": "vigil", "version": 0, "text": text}}),
        ),
        &mut out,
    );
}

fn change(server: &mut Server, path: &Path, version: i32, text: &str) -> usize {
    let mut out = Vec::new();
    server.handle(
        notification(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri(path), "version": version}, "contentChanges": [{"text": text}]}),
        ),
        &mut out,
    );
    out.len()
}

fn bench(c: &mut Criterion) {
    let dir = folder();
    let mut server = Server::new(Config::default());
    let mut out = Vec::new();
    server.handle(
        Message::Request(Request {
            id: RequestId::from(1),
            method: "initialize".to_owned(),
            params: json!({"capabilities": {}}),
        }),
        &mut out,
    );
    let rules = dir.join("rules_150.vgl");
    let lists = dir.join("shared.vgl");
    open(&mut server, &rules, &rules_file(150, 0));
    open(&mut server, &lists, &shared(0));
    let rule_count: usize = server
        .workspace
        .files
        .values()
        .map(|f| f.summary.rules.len())
        .sum();
    assert_eq!(rule_count, FILES * RULES_PER_FILE);

    let mut g = c.benchmark_group("lsp_recheck_3000_rules");
    g.sample_size(20);
    g.bench_function("full_check", |b| {
        b.iter(|| server.workspace.check_folder(&dir, &rules).len());
    });
    let texts = [rules_file(150, 1), rules_file(150, 2)];
    let mut version = 1;
    g.bench_function("edit_rule_file", |b| {
        b.iter(|| {
            version += 1;
            change(&mut server, &rules, version, &texts[(version % 2) as usize])
        });
    });
    let lists_texts = [shared(1), shared(2)];
    g.bench_function("edit_shared_list", |b| {
        b.iter(|| {
            version += 1;
            change(
                &mut server,
                &lists,
                version,
                &lists_texts[(version % 2) as usize],
            )
        });
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
