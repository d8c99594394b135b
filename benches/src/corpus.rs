//! The shared corpus (`../shared/corpus`, or `VIGIL_CORPUS`) as the benches read it: where it
//! is, the SigmaHQ rules of a tree converted to Vigil text (`vigil_compiler::sigma::import`),
//! and the JSON lines of an event set, decompressed into memory.
//!
//! The corpus is optional: [`root`] is `None` when it is absent, and a bench then prints a note
//! and measures nothing.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use vigil_compiler::compile::{compile, Compiled};
use vigil_compiler::sigma::{self, InputFile, Options as ImportOptions};
use vigil_compiler::{Options, Sources};
use vigil_runtime::budget::Budget;
use vigil_runtime::schema::Schema;

/// The corpus root: `VIGIL_CORPUS`, else `../shared/corpus` from the workspace; `None` when it
/// has no `events` folder.
pub fn root() -> Option<PathBuf> {
    let root = std::env::var_os("VIGIL_CORPUS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"),
        PathBuf::from,
    );
    root.join("events").is_dir().then_some(root)
}

/// Every `*.yml` file under `dir`, in path order, named relative to `base`.
pub fn sigma_files(base: &Path, dir: &Path) -> Vec<InputFile> {
    let mut out = Vec::new();
    walk(base, dir, &mut out);
    out
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<InputFile>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(base, &p, out);
        } else if p.extension().is_some_and(|e| e == "yml") {
            if let (Ok(rel), Ok(bytes)) = (p.strip_prefix(base), fs::read(&p)) {
                out.push(InputFile {
                    rel: rel.to_path_buf(),
                    bytes,
                });
            }
        }
    }
}

/// The SigmaHQ rules under `sigma/<tree>` of the corpus, converted: `(file name, .vgl text)`,
/// in file order (the rules the importer refuses are left out).
///
/// # Panics
///
/// When the importer's built-in tables do not load (a build defect, not an input problem).
pub fn sigma_rules(root: &Path, tree: &str) -> Vec<(String, String)> {
    let base = root.join("sigma");
    let inputs = sigma_files(&base, &base.join(tree));
    let import = sigma::import(&inputs, ImportOptions::default()).expect("built-in table");
    import
        .files
        .into_iter()
        .map(|f| (f.rel.display().to_string(), f.text))
        .collect()
}

/// Compiles converted rules (with the standard library) for `schema` under `budget`.
///
/// # Panics
///
/// When they do not compile: the corpus is fixed and its converted rules must.
pub fn compile_rules(rules: &[(String, String)], schema: &Schema, budget: &Budget) -> Compiled {
    let mut sources = Sources::with_stdlib();
    for (name, text) in rules {
        sources.add(name.clone(), text.clone().into_bytes());
    }
    compile(&sources, schema, &Options::default(), budget).unwrap_or_else(|d| {
        panic!(
            "the converted rules do not compile: {} errors, first: {:?}",
            d.len(),
            d.first()
        )
    })
}

/// Every non-empty line of the `*.jsonl.gz` files of `events/<set>`, in file order.
///
/// # Panics
///
/// When the set cannot be read or a file is not gzip.
pub fn event_lines(root: &Path, set: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = fs::read_dir(root.join("events").join(set))
        .expect("event set")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(fs::File::open(&f).expect("open sample"))
            .read_to_end(&mut text)
            .expect("gunzip");
        out.extend(
            text.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_files_walks_yml_files_in_order() {
        let dir = std::env::temp_dir().join(format!("vigil-benches-walk-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("b/c")).expect("temp dir");
        for (p, text) in [
            ("b/c/z.yml", "z"),
            ("a.yml", "a"),
            ("b/skip.txt", "t"),
            ("b/m.yml", "m"),
        ] {
            fs::write(dir.join(p), text).expect("temp file");
        }
        let files = sigma_files(&dir, &dir);
        let names: Vec<String> = files.iter().map(|f| f.rel.display().to_string()).collect();
        assert_eq!(names, ["a.yml", "b/c/z.yml", "b/m.yml"]);
        assert_eq!(files[0].bytes, b"a");
        let _ = fs::remove_dir_all(&dir);
    }
}
