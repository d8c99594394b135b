//! The registry against the workspace: `docs/errors.md` has one section per registered code, in
//! the registry's order, with its title and stable name (and no section for anything else), and
//! every code written in the workspace's Rust and Markdown files is a registered one.
//!
//! Reads files only; a failure lists every problem at once.

use std::fs;
use std::path::{Path, PathBuf};

use vigil_codes::ErrorCode;
use vigil_test_support::tree;

/// The workspace root (this crate lives in `codes/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The sections of `docs/errors.md`: heading line, then the lines up to the next heading.
fn sections(doc: &str) -> Vec<(&str, Vec<&str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in doc.lines() {
        if line.starts_with("## ") {
            out.push((line, Vec::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push(line);
        }
    }
    out
}

#[test]
fn the_error_index_has_a_section_for_every_code_and_only_those() {
    let doc = read(&root().join("docs/errors.md"));
    let sections = sections(&doc);
    let mut problems = Vec::new();
    let mut at = 0;
    for code in ErrorCode::ALL {
        let heading = format!("## {code}: {}", code.title());
        let Some(offset) = sections[at..].iter().position(|(h, _)| *h == heading) else {
            problems.push(format!(
                "no `{heading}` (after the previous code's section)"
            ));
            continue;
        };
        for (h, _) in &sections[at..at + offset] {
            problems.push(format!(
                "`{h}` is no registered code's heading, or out of order"
            ));
        }
        at += offset + 1;
        let body = &sections[at - 1].1;
        let mut paragraphs = body.iter().filter(|l| !l.trim().is_empty());
        let name = format!("Name: `{}`.", code.name());
        if paragraphs.next() != Some(&name.as_str()) {
            problems.push(format!("{code}: the section does not open with `{name}`"));
        }
        if paragraphs.next().is_none() {
            problems.push(format!("{code}: the section says nothing about the code"));
        }
    }
    for (h, _) in &sections[at..] {
        problems.push(format!(
            "`{h}` is no registered code's heading, or out of order"
        ));
    }
    assert!(
        problems.is_empty(),
        "docs/errors.md:\n{}",
        problems.join("\n")
    );
}

/// The code-like words of `line` (`E0302`, `W0201`: a letter, `0` and three digits, not part
/// of a longer word), each with whether it closes a range (`E0601–E0619`, `E0601-E0619`) and
/// the code that opens that range.
fn code_literals(line: &str) -> Vec<(&str, Option<&str>)> {
    let bytes = line.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out: Vec<(&str, Option<&str>)> = Vec::new();
    let mut i = 0;
    while i + 5 <= bytes.len() {
        let candidate = &bytes[i..i + 5];
        let is_code = matches!(candidate[0], b'E' | b'W')
            && candidate[1] == b'0'
            && candidate[2..].iter().all(u8::is_ascii_digit)
            && (i == 0 || !word(bytes[i - 1]))
            && bytes.get(i + 5).is_none_or(|b| !word(*b));
        if is_code {
            let text = &line[i..i + 5];
            let before = line[..i]
                .strip_suffix('–')
                .or_else(|| line[..i].strip_suffix('-'));
            let opens = before
                .filter(|b| b.len() >= 5)
                .map(|b| &b[b.len() - 5..])
                .filter(|b| out.last().is_some_and(|(last, _)| last == b));
            out.push((text, opens));
            i += 5;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn code_literals_are_found_with_their_ranges() {
    assert_eq!(
        code_literals("error[E0302]: x (E0620–E0628, W0201-W0204) XE0101 E01012"),
        vec![
            ("E0302", None),
            ("E0620", None),
            ("E0628", Some("E0620")),
            ("W0201", None),
            ("W0204", Some("W0201")),
        ]
    );
}

#[test]
fn every_code_written_in_the_workspace_is_registered() {
    // Build output, hidden folders and fuzzing inputs (arbitrary bytes) are not walked.
    let files = tree::files(&root(), &[".rs", ".md"]);
    assert!(
        files.len() > 50,
        "the walk found only {} files",
        files.len()
    );
    let mut problems = Vec::new();
    for path in &files {
        let text = read(path);
        for (n, line) in text.lines().enumerate() {
            for (literal, opens) in code_literals(line) {
                let known = match opens {
                    // A range's end bounds a stage's numbers: it must follow its start within
                    // the same hundred, and need not be a code itself.
                    Some(start) => ErrorCode::parse(start).is_some_and(|s| {
                        let end: u16 = literal[1..].parse().unwrap_or(0);
                        literal[..1] == start[..1]
                            && end > s.number()
                            && end / 100 == s.number() / 100
                    }),
                    None => ErrorCode::parse(literal).is_some(),
                };
                if !known {
                    let rel = path.strip_prefix(root()).unwrap_or(path);
                    problems.push(format!(
                        "{}:{}: `{literal}` is no registered code",
                        rel.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
