//! Bundle loading benchmarks, group `load`, over a 3,000-rule bundle of generated single-event
//! `process_start` rules (`vigil_benches::generate_rules`), signed with a fixed key:
//!
//! - `load/full/rules=3000`: encode and sign the compiled program, then load it as an agent
//!   does (decode, check the signature, bind, verify: `bundle::load`) and JIT-compile it
//!   (`jit::compile`): from compiler output to runnable code.
//! - `load/load/rules=3000`: `bundle::load` alone (decode, signature, bind, verify).
//! - `load/jit/rules=3000`: `jit::compile` of the verified program alone.
//!
//! Run: `cargo bench -p vigil-benches --bench load`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use vigil_benches::{bench_budget, compile_text, generate_rules};
use vigil_runtime::bundle::{encode, load, HeaderInput, Keypair, TrustStore};
use vigil_runtime::jit;
use vigil_runtime::schema::Schema;

const RULES: usize = 3_000;
/// Any time before the bundle expires (it does not).
const NOW_UNIX: u64 = 1_700_000_000;

fn load_bench(c: &mut Criterion) {
    let schema = Schema::endpoint();
    let compiled = compile_text(&generate_rules(RULES), &schema);
    let program = compiled.program();
    let key = Keypair::from_seed(&[42; 32]);
    let mut trust = TrustStore::new();
    trust.trust(key.verifying_key());
    let budget = bench_budget();
    let header = HeaderInput {
        content_version: 1,
        bundle_id: "bench".into(),
        created_by: "vigil-benches".into(),
        ..HeaderInput::default()
    };
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
    g.finish();
}

criterion_group!(benches, load_bench);
criterion_main!(benches);
