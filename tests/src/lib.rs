//! Support code of the end-to-end tests: the cargo-fuzz targets' entry points ([`fuzz`],
//! [`capi_calls`]), shared by `fuzz/` and `tests/tests/suite/fuzz_regressions.rs`, where the
//! shared corpus is ([`corpus`]), and the Sigma files of a corpus tree ([`sigma_files`]).

pub mod capi_calls;
pub mod fuzz;

/// The shared corpus (`../shared/corpus` beside the repository, or `VIGIL_CORPUS`).
pub fn corpus() -> std::path::PathBuf {
    std::env::var_os("VIGIL_CORPUS").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"),
        std::path::PathBuf::from,
    )
}

/// The shared corpus, when every path of `needed` (relative to it) is there. Otherwise a test
/// skips with one line on stderr naming `test` and the missing path, except under
/// `VIGIL_REQUIRE_CORPUS=1` (`.ci/run` sets it): then it fails, so that a corpus test never
/// passes in CI without running.
pub fn corpus_for(test: &str, needed: &[&str]) -> Option<std::path::PathBuf> {
    let root = corpus();
    let Some(missing) = needed.iter().map(|n| root.join(n)).find(|p| !p.exists()) else {
        return Some(root);
    };
    let why = format!("{test}: no corpus at {}", missing.display());
    if std::env::var_os("VIGIL_REQUIRE_CORPUS").is_some_and(|v| v == "1") {
        panic!("{why} (VIGIL_REQUIRE_CORPUS=1)");
    }
    eprintln!("skipping {why}");
    None
}

/// Every Sigma file (`.yml`, `.yaml`) under `dir`, in sorted order, named relative to `root`
/// (the importer's [`vigil_compiler::sigma::InputFile`]s).
///
/// # Panics
/// A folder or file that cannot be read (a test's corpus is broken).
pub fn sigma_files(
    root: &std::path::Path,
    dir: &std::path::Path,
) -> Vec<vigil_compiler::sigma::InputFile> {
    let mut out = Vec::new();
    walk_sigma(root, dir, &mut out);
    out
}

fn walk_sigma(
    root: &std::path::Path,
    dir: &std::path::Path,
    out: &mut Vec<vigil_compiler::sigma::InputFile>,
) {
    let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .expect("list rules")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk_sigma(root, &p, out);
        } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(vigil_compiler::sigma::InputFile {
                rel: p.strip_prefix(root).expect("under root").to_path_buf(),
                bytes: std::fs::read(&p).expect("read rule"),
            });
        }
    }
}
