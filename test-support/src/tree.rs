//! Walking the repository's own files, for the checks that read the whole tree (the tidy test,
//! the module-cycle check, the code-registry check): build output (`target/`), hidden folders
//! (`.git`) and fuzzing inputs (`corpus/`, `artifacts/`: arbitrary bytes, not sources) are
//! never entered.

use std::fs;
use std::path::{Path, PathBuf};

/// Folders never entered.
fn skipped(name: &str) -> bool {
    name.starts_with('.') || matches!(name, "target" | "corpus" | "artifacts")
}

/// Every file under `root` whose name ends in one of `suffixes` (`".rs"`, `"Cargo.toml"`),
/// sorted; an unreadable folder is passed over.
pub fn files(root: &Path, suffixes: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !skipped(&name) {
                    stack.push(entry.path());
                }
            } else if kind.is_file() && suffixes.iter().any(|s| name.ends_with(s)) {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_file_and_skips_build_output() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let found = files(root, &[".rs"]);
        assert!(found.contains(&root.join("src/tree.rs")));
        assert!(found
            .iter()
            .all(|p| !p.components().any(|c| c.as_os_str() == "target")));
    }
}
