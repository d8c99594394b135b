//! Bundle loading benchmarks, group `load`, over a 3,000-rule bundle of generated single-event
//! `process_start` rules (`vigil_benches::generate_rules`), signed with a fixed key:
//!
//! - `load/full/rules=3000`: encode and sign the compiled program, then load it as an agent
//!   does (decode, check the signature, bind, verify: `bundle::load`) and JIT-compile it
//!   (`jit::compile`): from compiler output to runnable code.
//! - `load/load/rules=3000`: `bundle::load` alone (decode, signature, bind, verify).
//! - `load/jit/rules=3000`: `jit::compile` of the verified program alone.
//! - `load/ready_lazy/rules=3000`, `load/ready_eager/rules=3000`: `bundle::load`, then
//!   `Engine::from_loaded_owned` with the JIT and the prefilter, code generated on first use
//!   (the default) or every rule at once (`EngineOptions::jit_eager`): what `vigil run BUNDLE`
//!   pays before its first event.
//!
//! Before criterion runs, the memory figure: resident memory with the rules loaded as an agent
//! loads them (`bundle::load`, then `Engine::from_loaded` with the JIT and the prefilter), for
//! the 3,000-rule bundle and, when the corpus is there, for a bundle of every converted SigmaHQ
//! `rules/windows` rule. Each is measured in a fresh process: this bench writes the bundle to a
//! temporary file and runs itself again (`VIGIL_LOAD_RSS_CHILD=<file>`), so that the figure
//! holds no compiler memory and no allocator leftovers of the parent; the child reads
//! `VmRSS` before and after loading and `VmHWM` (the peak; the JIT generates code on first use,
//! so none is generated here) from
//! `/proc/self/status` (Linux; "n/a" elsewhere). The goal: at most 64 MB with 3,000 rules.
//!
//! Run: `cargo bench -p vigil-benches --bench load`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion, SamplingMode};
use vigil_benches::rss::{mib, peak_rss_bytes, rss_bytes};
use vigil_benches::{bench_budget, compile_text, corpus, generate_rules};
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{encode, load, HeaderInput, Keypair, TrustStore};
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::ir::{DebugInfo, Program};
use vigil_runtime::jit;
use vigil_runtime::schema::Schema;

const RULES: usize = 3_000;
/// Any time before the bundle expires (it does not).
const NOW_UNIX: u64 = 1_700_000_000;
/// Set in the child process: the bundle file to load and measure.
const CHILD_ENV: &str = "VIGIL_LOAD_RSS_CHILD";
/// The bundles' signing key.
const SEED: [u8; 32] = [42; 32];

fn trust() -> TrustStore {
    let mut trust = TrustStore::new();
    trust.trust(Keypair::from_seed(&SEED).verifying_key());
    trust
}

fn header() -> HeaderInput {
    HeaderInput {
        content_version: 1,
        bundle_id: "bench".into(),
        created_by: "vigil-benches".into(),
        ..HeaderInput::default()
    }
}

/// The child: loads the bundle at `path` as an agent does and prints one line,
/// `rss_before=B rss_after=B peak=B rules=N` (bytes, or `none`).
fn child(path: &Path) {
    let before = rss_bytes();
    let bytes = std::fs::read(path).expect("the bundle file");
    let loaded = load(
        &bytes,
        &Schema::endpoint(),
        &trust(),
        &bench_budget(),
        NOW_UNIX,
    )
    .expect("the bundle loads");
    drop(bytes);
    let engine = Engine::from_loaded(
        &loaded,
        EngineOptions {
            engine: EngineKind::Jit,
            ..EngineOptions::default()
        },
    )
    .expect("the engine builds");
    let (after, peak) = (rss_bytes(), peak_rss_bytes());
    let show = |b: Option<u64>| b.map_or_else(|| "none".to_owned(), |b| b.to_string());
    println!(
        "rss_before={} rss_after={} peak={} rules={}",
        show(before),
        show(after),
        show(peak),
        loaded.verified.program().rules.len()
    );
    drop(engine);
}

/// Encodes and signs `program`, loads it in a child process, prints the child's figures.
fn measure(label: &str, program: &Program, debug: &DebugInfo) {
    let key = Keypair::from_seed(&SEED);
    let bytes = encode(program, Some(debug), &header(), Some(key.signing_key()))
        .expect("the bundle encodes");
    let slug: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let path: PathBuf = std::env::temp_dir().join(format!(
        "vigil-bench-load-{}-{slug}.vglb",
        std::process::id()
    ));
    std::fs::write(&path, &bytes).expect("a temporary bundle file");
    let out =
        std::env::current_exe().and_then(|exe| Command::new(exe).env(CHILD_ENV, &path).output());
    let _ = std::fs::remove_file(&path);
    let out = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            eprintln!(
                "load: memory, {label}: the child failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            );
            return;
        }
        Err(e) => {
            eprintln!("load: memory, {label}: cannot run the child: {e}");
            return;
        }
    };
    let field = |name: &str| -> Option<u64> {
        out.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
    };
    let (before, after, peak) = (field("rss_before"), field("rss_after"), field("peak"));
    let delta = after.zip(before).map(|(a, b)| a.saturating_sub(b));
    println!(
        "load: memory, {label}: {} rules, {}-byte bundle, loaded in a fresh process (bundle::load, JIT, prefilter): resident {} before, {} after (+{}), peak {}",
        field("rules").unwrap_or(0),
        bytes.len(),
        mib(before),
        mib(after),
        mib(delta),
        mib(peak)
    );
}

/// The memory figures: the generated 3,000-rule bundle, and the converted SigmaHQ Windows
/// rules when the corpus is there.
fn memory() {
    let schema = Schema::endpoint();
    let compiled = compile_text(&generate_rules(RULES), &schema);
    measure(
        &format!("{RULES} generated rules"),
        compiled.program(),
        &compiled.debug,
    );
    drop(compiled);
    match corpus::root() {
        Some(root) => {
            let rules = corpus::sigma_rules(&root, "rules/windows");
            let compiled = corpus::compile_rules(&rules, &schema, &Budget::default());
            measure("SigmaHQ rules/windows", compiled.program(), &compiled.debug);
        }
        None => eprintln!("load: memory, SigmaHQ rules: no corpus (set VIGIL_CORPUS); skipped"),
    }
}

fn load_bench(c: &mut Criterion) {
    let schema = Schema::endpoint();
    let compiled = compile_text(&generate_rules(RULES), &schema);
    let program = compiled.program();
    let key = Keypair::from_seed(&SEED);
    let trust = trust();
    let budget = bench_budget();
    let header = header();
    let bytes = encode(
        program,
        Some(&compiled.debug),
        &header,
        Some(key.signing_key()),
    )
    .expect("the bundle encodes");
    eprintln!("load: a {RULES}-rule bundle is {} bytes", bytes.len());
    let id = |name: &str| BenchmarkId::new(name, format!("rules={RULES}"));

    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    // Flat: each iteration takes long; ten samples of a few iterations each.
    g.sampling_mode(SamplingMode::Flat);
    g.measurement_time(Duration::from_secs(10));
    g.warm_up_time(Duration::from_secs(2));

    g.bench_function(id("full"), |b| {
        b.iter(|| {
            let bytes = encode(
                program,
                Some(&compiled.debug),
                &header,
                Some(key.signing_key()),
            )
            .expect("the bundle encodes");
            let loaded = load(&bytes, &schema, &trust, &budget, NOW_UNIX).expect("it loads");
            jit::compile(&loaded.verified).expect("it JIT-compiles")
        });
    });
    g.bench_function(id("load"), |b| {
        b.iter(|| load(&bytes, &schema, &trust, &budget, NOW_UNIX).expect("it loads"));
    });
    g.bench_function(id("jit"), |b| {
        b.iter(|| jit::compile(&compiled.verified).expect("it JIT-compiles"));
    });
    for (name, jit_eager) in [("ready_lazy", false), ("ready_eager", true)] {
        g.bench_function(id(name), |b| {
            b.iter(|| {
                let loaded = load(&bytes, &schema, &trust, &budget, NOW_UNIX).expect("it loads");
                let options = EngineOptions {
                    engine: EngineKind::Jit,
                    jit_eager,
                    ..EngineOptions::default()
                };
                Engine::from_loaded_owned(loaded, options).expect("the engine builds")
            });
        });
    }
    g.finish();
}

criterion_group!(benches, load_bench);

fn main() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&path));
        return;
    }
    memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
