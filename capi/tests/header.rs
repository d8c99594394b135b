//! The committed header, `include/vigil.h`, is what the pinned cbindgen generates from this
//! crate now. `VIGIL_BLESS=1 cargo test -p vigil-capi --test header` rewrites it.

use std::path::Path;

#[test]
fn the_committed_header_matches_a_fresh_generation() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut fresh);
    let fresh = String::from_utf8(fresh).expect("the header is UTF-8");
    let path = dir.join("include/vigil.h");
    if std::env::var_os("VIGIL_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write include/vigil.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "capi/include/vigil.h differs from what cbindgen generates from capi/src: run \
         `VIGIL_BLESS=1 cargo test -p vigil-capi --test header` and commit it\n--- fresh ---\n{fresh}"
    );
}
