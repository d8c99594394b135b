//! `vigil fmt`: rewriting in place (atomically, permissions kept, unchanged files untouched),
//! `--check` (lists, changes nothing, exit 1), files with syntax errors (reported, left alone,
//! the others still formatted, exit 1), folders, and standard input to standard output.

use std::fs;
use std::path::Path;

use crate::support::{s, scratch, text, vigil, vigil_in};

const MESSY: &str = "// keep me\nrule r { on process_start when image == \"a\" // and me\n}\n";
const TIDY: &str =
    "// keep me\nrule r {\n    on process_start\n    when image == \"a\" // and me\n}\n";
const BROKEN: &str = "rule r { on process_start when image == }\n";

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).expect("folder");
    }
    fs::write(&p, text).expect("write");
    p
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).expect("read")
}

#[test]
fn fmt_rewrites_changed_files_in_place_and_exits_0() {
    let dir = scratch("fmt", "rewrite");
    let messy = write(&dir, "rules/a.vgl", MESSY);
    let tidy = write(&dir, "rules/sub/b.vgl", TIDY);
    write(&dir, "rules/notes.txt", MESSY);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&messy, fs::Permissions::from_mode(0o640)).expect("chmod");
    }
    let before = fs::metadata(&tidy)
        .expect("meta")
        .modified()
        .expect("mtime");
    let out = vigil(&["fmt", s(&dir.join("rules"))]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(read(&messy), TIDY);
    assert_eq!(read(&tidy), TIDY);
    assert_eq!(read(&dir.join("rules/notes.txt")), MESSY, "only .vgl files");
    assert_eq!(
        fs::metadata(&tidy)
            .expect("meta")
            .modified()
            .expect("mtime"),
        before,
        "an unchanged file is not rewritten"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&messy).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o640, "permissions kept");
    }
    let leftovers: Vec<_> = fs::read_dir(dir.join("rules"))
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    // Idempotent: a second run changes nothing.
    let again = vigil(&["fmt", "--check", s(&dir.join("rules"))]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stdout));
    assert_eq!(text(&again.stdout), "");
}

#[test]
fn fmt_check_lists_files_that_would_change_and_exits_1() {
    let dir = scratch("fmt", "check");
    let messy = write(&dir, "a.vgl", MESSY);
    let tidy = write(&dir, "b.vgl", TIDY);
    let out = vigil(&["fmt", "--check", s(&messy), s(&tidy)]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), format!("{}\n", messy.display()));
    assert_eq!(read(&messy), MESSY, "--check changes nothing");
    let clean = vigil(&["fmt", "--check", s(&tidy)]);
    assert_eq!(clean.status.code(), Some(0));
}

#[test]
fn fmt_reports_syntax_errors_leaves_that_file_and_formats_the_others() {
    let dir = scratch("fmt", "broken");
    let broken = write(&dir, "a_broken.vgl", BROKEN);
    let messy = write(&dir, "b.vgl", MESSY);
    let out = vigil(&["fmt", "--color", "never", s(&dir)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("error[E01"), "{err}");
    assert!(err.contains("a_broken.vgl:1:"), "{err}");
    assert!(err.contains("1 file with syntax errors"), "{err}");
    assert_eq!(read(&broken), BROKEN, "a file with errors is left as it is");
    assert_eq!(read(&messy), TIDY, "the other files are formatted");
}

#[test]
fn fmt_dash_reads_stdin_and_writes_stdout() {
    let out = vigil_in(&["fmt", "-"], MESSY.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), TIDY);
    let check = vigil_in(&["fmt", "--check", "-"], MESSY.as_bytes());
    assert_eq!(check.status.code(), Some(1));
    let tidy = vigil_in(&["fmt", "--check", "-"], TIDY.as_bytes());
    assert_eq!(tidy.status.code(), Some(0));
    let broken = vigil_in(&["fmt", "-", "--color", "never"], BROKEN.as_bytes());
    assert_eq!(broken.status.code(), Some(1));
    assert_eq!(text(&broken.stdout), "");
    assert!(
        text(&broken.stderr).contains("<stdin>:1:"),
        "{}",
        text(&broken.stderr)
    );
}

#[test]
fn fmt_refuses_a_missing_path_and_dash_with_others() {
    let out = vigil(&["fmt", "no/such/path.vgl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("does not exist"));
    let mixed = vigil(&["fmt", "-", "examples"]);
    assert_eq!(mixed.status.code(), Some(2));
}
