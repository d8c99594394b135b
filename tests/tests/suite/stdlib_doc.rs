//! `docs/stdlib.md` is generated: the builtins from the runtime's table
//! (`vigil_runtime::builtins::BUILTINS`: signature, cost, result length, doc, examples) and the
//! lists and fns of `stdlib/lib/*.vgl` (each with the comment above it). The test renders the
//! page and compares it with the committed one; `VIGIL_BLESS=1` rewrites it. A builtin or a
//! stdlib declaration is documented by writing its doc where it is declared, nowhere else.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use vigil_grammar::ast::Item;
use vigil_grammar::span::FileId;
use vigil_runtime::builtins::{Builtin, Cost, ParamTy, RetLen, BUILTINS};
use vigil_test_support::golden::bless;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn param(p: &ParamTy) -> String {
    match p {
        ParamTy::Exact(ty) => ty.to_string(),
        ParamTy::StrOrList => "string | [T]".to_owned(),
        ParamTy::FieldRef(s) => format!("field of {s}"),
    }
}

fn signature(b: &Builtin) -> String {
    let params: Vec<String> = b.params.iter().map(param).collect();
    format!("{}({}) -> {}", b.name, params.join(", "), b.ret)
}

fn cost(c: &Cost) -> String {
    let mut terms = vec![c.base.to_string()];
    for (arg, k) in c.per_byte {
        terms.push(format!("{k} per byte of argument {}", arg + 1));
    }
    for (arg, k) in c.per_item {
        terms.push(format!("{k} per item of argument {}", arg + 1));
    }
    terms.join(" + ")
}

fn ret_len(r: &RetLen) -> String {
    match r {
        RetLen::NotString => "not a string".to_owned(),
        RetLen::AtMostArg(arg) => format!("at most as long as argument {}", arg + 1),
        RetLen::Scaled { arg, num, den } => {
            format!("at most {num}/{den} of the length of argument {}", arg + 1)
        }
    }
}

/// The comment lines (`// ...`) right above byte `start` of `text`, without the slashes.
fn comment_above(text: &str, start: usize) -> String {
    let before = text.get(..start).unwrap_or("");
    let mut lines: Vec<&str> = Vec::new();
    for line in before.lines().rev().skip_while(|l| l.trim().is_empty()) {
        match line.trim().strip_prefix("//") {
            Some(c) => lines.push(c.trim()),
            None => break,
        }
    }
    lines.reverse();
    lines.join(" ")
}

fn builtins_section(out: &mut String) {
    out.push_str("## Builtins\n\n");
    out.push_str(
        "Pure functions of the runtime, callable in any condition. Cost is in verifier steps \
         (`docs/performance.md`); every argument is bounded by the schema, so every call is.\n\n",
    );
    out.push_str("| function | cost (steps) |\n| --- | --- |\n");
    for b in BUILTINS {
        let sig = signature(b).replace('|', "\\|");
        let _ = writeln!(out, "| `{sig}` | {} |", cost(&b.cost));
    }
    for b in BUILTINS {
        let _ = write!(
            out,
            "\n### `{}`\n\n{}\n\nResult: {}.\n",
            signature(b),
            b.doc,
            ret_len(&b.ret_len)
        );
        if !b.examples.is_empty() {
            out.push_str("\n| expression | value |\n| --- | --- |\n");
            for (expr, value) in b.examples {
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` |",
                    expr.replace('|', "\\|"),
                    value.replace('|', "\\|")
                );
            }
        }
    }
}

fn library_section(out: &mut String) {
    let dir = repo().join("stdlib/lib");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("stdlib/lib is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "vgl"))
        .collect();
    files.sort();
    out.push_str(
        "\n## Library (`stdlib/lib/`)\n\nLists and fns every rule file can use; the compiler \
         loads them with the rules (`--stdlib DIR` names another folder).\n",
    );
    for path in files {
        let text = fs::read_to_string(&path).expect("stdlib file is readable");
        let (file, errors) = vigil_grammar::parse(FileId(0), &text);
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let _ = writeln!(out, "\n### `{}`\n", name.unwrap_or_default());
        for item in &file.items {
            let (span, head) = match item {
                Item::List(l) => (l.span, format!("list {}", l.name.name)),
                Item::Fn(f) => {
                    let start = f.name.span.start as usize;
                    let head = text.get(start..).unwrap_or("");
                    let head = head.split('{').next().unwrap_or("").trim();
                    (f.span, format!("fn {head}"))
                }
                _ => continue,
            };
            let doc = comment_above(&text, span.start as usize);
            let _ = writeln!(out, "- `{head}`: {doc}");
        }
    }
}

fn render() -> String {
    let mut out = String::from(
        "# Standard library\n\n<!-- Generated by tests/tests/suite/stdlib_doc.rs from \
         runtime/src/builtins/table.rs and stdlib/lib/*.vgl; do not edit. Regenerate with \
         VIGIL_BLESS=1 cargo test -p vigil-tests --test suite stdlib_doc -->\n\n",
    );
    builtins_section(&mut out);
    library_section(&mut out);
    out
}

#[test]
fn docs_stdlib_md_is_generated_from_the_builtin_table_and_the_library() {
    let path = repo().join("docs/stdlib.md");
    let page = render();
    if bless() {
        fs::write(&path, &page).expect("docs/stdlib.md is writable");
        return;
    }
    let committed = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == page,
        "docs/stdlib.md is out of date with the builtin table or stdlib/lib; regenerate it with \
         VIGIL_BLESS=1 cargo test -p vigil-tests --test suite stdlib_doc"
    );
}
