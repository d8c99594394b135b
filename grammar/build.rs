//! Build script: runs LALRPOP on `src/grammar.lalrpop`, writing the parser to `OUT_DIR`.

fn main() {
    if let Err(e) = lalrpop::Configuration::new()
        .use_cargo_dir_conventions()
        .emit_rerun_directives(true)
        .process_file("src/grammar.lalrpop")
    {
        // A build script reports failure by exiting non-zero; LALRPOP has printed the details.
        eprintln!("LALRPOP failed on src/grammar.lalrpop: {e}");
        std::process::exit(1);
    }
}
