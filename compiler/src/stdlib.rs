//! The standard library, embedded in the binary: `stdlib/lib/*.vgl` (lists and fns always in
//! scope) and the standard schema `stdlib/schema/endpoint.toml` (embedded by the runtime).
//! `vigil check --stdlib DIR` replaces the embedded `.vgl` files with a directory's.

use std::io;
use std::path::Path;

use vigil_runtime::schema::Schema;

/// The embedded library files: (name shown in diagnostics, text).
pub const FILES: &[(&str, &str)] = &[
    (
        "stdlib/lib/browsers.vgl",
        include_str!("../../stdlib/lib/browsers.vgl"),
    ),
    (
        "stdlib/lib/lolbins.vgl",
        include_str!("../../stdlib/lib/lolbins.vgl"),
    ),
    (
        "stdlib/lib/linux.vgl",
        include_str!("../../stdlib/lib/linux.vgl"),
    ),
    (
        "stdlib/lib/network.vgl",
        include_str!("../../stdlib/lib/network.vgl"),
    ),
    (
        "stdlib/lib/office.vgl",
        include_str!("../../stdlib/lib/office.vgl"),
    ),
    (
        "stdlib/lib/shells.vgl",
        include_str!("../../stdlib/lib/shells.vgl"),
    ),
];

/// The text of the standard schema.
pub const SCHEMA_TOML: &str = vigil_runtime::schema::ENDPOINT_TOML;

/// The standard schema, `endpoint`.
pub fn schema() -> Schema {
    Schema::endpoint()
}

/// Reads every `*.vgl` file directly in `dir`, sorted by name: (path as shown, text).
///
/// # Errors
/// When the directory or a file cannot be read, or a file is not UTF-8.
pub fn load_dir(dir: &Path) -> io::Result<Vec<(String, String)>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "vgl") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p)?;
        out.push((p.display().to_string(), text));
    }
    Ok(out)
}
