//! The entry points of the cargo-fuzz targets (`fuzz/fuzz_targets/`), one function per target.
//!
//! Each target is a two-line wrapper around one of these functions, and
//! `tests/tests/suite/fuzz_regressions.rs` replays every file of `fuzz/regressions/<target>/` through
//! the same function under `cargo test`, so a crash the fuzzer found once stays fixed. Every
//! function takes any bytes and must return; a panic (including a failed `assert!` here, which
//! states a property of the code under test) is a finding.
//!
//! What each target checks beyond "no panic":
//! - [`sigma_import`]: every `.vgl` file the importer writes parses without a syntax error.
//! - [`json_decode`]: a line that decodes without a projection decodes with one, into the same
//!   events, and the projected fields hold the same values.
//! - [`bundle_decode`]: a bundle that loads is one [`vigil_runtime::bundle::decode`] accepts,
//!   loads under a keyed trust store only when it is signed by that key, and its rules run on
//!   an event of every type they read.
//! - [`evtx_read`]: any bytes as an EVTX file give JSON lines that each hold the System keys in
//!   order, and coded input errors (E0720–E0729) only.
//! - [`state_restore`]: a restore activates only bundle bytes from the state directory that
//!   load on their own, every refusal carries a code, and a clean shutdown followed by a
//!   restart restores the same bundle.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use vigil_compiler::sigma;
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{self, Keypair, LoadError, Loaded, TrustStore};
use vigil_runtime::decode::{Decoder, FieldSet, Mapping};
use vigil_runtime::deploy::state::{StateDir, ACTIVE_FILE, LKG_FILE, STATE_FILE};
use vigil_runtime::deploy::{DeployOptions, Deployer};
use vigil_runtime::engine::{EngineKind, Evaluator};
use vigil_runtime::event::{Event, EventBuilder};
use vigil_runtime::ir::RuleId;
use vigil_runtime::schema::{EventTypeId, FieldIndex, Schema};

/// The secret key file of the key the fuzz targets trust, which signed the seeds
/// `fuzz/seeds/*/signed*.vglb` (a test key: it signs nothing but seeds).
pub const KEY_TEXT: &str = include_str!("../../fuzz/signing-key.txt");

/// The time the targets load bundles at (Unix seconds): 2027-01-15.
pub const NOW_UNIX: u64 = 1_800_000_000;

/// The largest input the Sigma target reads: a real Sigma rule is a few KiB.
pub const MAX_SIGMA_BYTES: usize = 64 * 1024;

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(Schema::endpoint)
}

/// The key pair of [`KEY_TEXT`].
pub fn keypair() -> Keypair {
    match Keypair::parse_secret_text(KEY_TEXT) {
        Ok(k) => k,
        Err(e) => panic!("fuzz/signing-key.txt: {e}"),
    }
}

/// A trust store that loads unsigned bundles and trusts nothing else.
pub fn trust_unsigned() -> TrustStore {
    TrustStore {
        allow_unsigned: true,
        ..TrustStore::default()
    }
}

/// A trust store that trusts [`keypair`] only (unsigned bundles refused).
pub fn trust_key() -> TrustStore {
    let mut t = TrustStore::new();
    t.trust(keypair().verifying_key());
    t
}

/// `parse`: any bytes through the parser.
pub fn parse(data: &[u8]) {
    let _ = vigil_grammar::parse_bytes(vigil_grammar::span::FileId(0), data);
}

/// `compile`: any text through the whole compile (check, lower, bind, verify).
pub fn compile(data: &[u8]) {
    let mut sources = vigil_compiler::Sources::with_stdlib();
    sources.add("fuzz.vgl", data.to_vec());
    let _ = vigil_compiler::compile::compile(
        &sources,
        schema(),
        &vigil_compiler::Options::default(),
        &Budget::default(),
    );
}

/// `load`: any bytes as a bundle, unsigned allowed: a coded error or a verified program.
pub fn load(data: &[u8]) -> Result<Loaded, LoadError> {
    bundle::load(data, schema(), &trust_unsigned(), &Budget::default(), 0)
}

/// The seed `jit_vs_interp` reads from its bytes: the first eight, little-endian, zero-padded.
pub fn seed_of(data: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    for (d, s) in b.iter_mut().zip(data) {
        *d = *s;
    }
    u64::from_le_bytes(b)
}

/// `jit_vs_interp`: the program generated from the seed in `data` gives the same answer in both
/// engines on an event of each type it runs on, with every field absent.
pub fn jit_vs_interp(data: &[u8]) {
    let schema = schema();
    let program = vigil_test_support::testgen::program_from_seed(seed_of(data), schema);
    let Ok(binding) = vigil_runtime::bind::bind(&program, schema) else {
        return;
    };
    let Ok(verified) = vigil_runtime::verify::verify(program, binding, &Budget::default()) else {
        return;
    };
    let Ok(interp) = vigil_runtime::interp::Interp::new(&verified) else {
        return;
    };
    let Ok(jit) = vigil_runtime::jit::compile(&verified) else {
        return;
    };
    for (i, rule) in verified.program().rules.iter().enumerate() {
        for ev in rule.event_types() {
            let Ok(builder) = EventBuilder::new(schema, ev) else {
                continue;
            };
            let event = builder.finish();
            let id = RuleId(i as u32);
            assert_eq!(
                interp.eval(id, &event).ok(),
                jit.eval(id, &event).ok(),
                "rule {i} on `{ev}`"
            );
        }
    }
}

/// `sigma_import`: YAML bytes through the Sigma importer (with the front-end check): outcomes
/// for every rule, never a panic; every file written parses. Inputs over [`MAX_SIGMA_BYTES`]
/// are cut there.
pub fn sigma_import(data: &[u8]) {
    static TABLE: OnceLock<Option<sigma::Table>> = OnceLock::new();
    let Some(table) = TABLE.get_or_init(|| sigma::Table::builtin(schema()).ok()) else {
        panic!("the shipped Sigma table does not load");
    };
    let bytes = data[..data.len().min(MAX_SIGMA_BYTES)].to_vec();
    let input = sigma::InputFile {
        rel: PathBuf::from("fuzz/rule.yml"),
        bytes,
    };
    let out = sigma::import_with(&[input], table, schema(), sigma::Options { check: true });
    for f in &out.files {
        let (_, errors) =
            vigil_grammar::parse_bytes(vigil_grammar::span::FileId(0), f.text.as_bytes());
        assert!(
            errors.is_empty(),
            "the importer wrote a file that does not parse ({:?}):\n{}",
            errors.first(),
            f.text
        );
    }
}

/// The decoders `json_decode` drives: native, `sysmon` and `windows`, each with and without a
/// projection.
struct Decoders {
    pairs: Vec<(Decoder, Decoder, FieldSet)>,
}

fn decoders() -> Decoders {
    let schema = schema();
    // Every other field of every event type (and always `time` and `host`).
    let mut half = FieldSet::new();
    for (t, et) in schema.events.iter().enumerate() {
        let Ok(t) = u16::try_from(t) else { break };
        for (f, def) in et.fields.iter().enumerate() {
            let Ok(f) = u16::try_from(f) else { break };
            if f % 2 == 0 || def.name == "time" || def.name == "host" {
                half.insert(EventTypeId(t), FieldIndex(f));
            }
        }
    }
    static MAPPINGS: OnceLock<Vec<Mapping>> = OnceLock::new();
    let mappings = MAPPINGS.get_or_init(|| {
        ["sysmon", "windows"]
            .iter()
            .map(|name| Mapping::builtin(name).unwrap_or_else(|e| panic!("mapping {name}: {e}")))
            .collect()
    });
    let make = |m: Option<&Mapping>| match m {
        None => Decoder::native(schema),
        Some(m) => {
            Decoder::with_mapping(schema, m).unwrap_or_else(|e| panic!("mapping {}: {e}", m.name))
        }
    };
    let sources: Vec<Option<&Mapping>> = std::iter::once(None)
        .chain(mappings.iter().map(Some))
        .collect();
    let pairs = sources
        .into_iter()
        .map(|m| {
            let mut projected = make(m);
            projected.project(&half);
            (make(m), projected, half.clone())
        })
        .collect();
    Decoders { pairs }
}

/// `json_decode`: bytes as JSON lines through the native decoder and the `sysmon` and `windows`
/// mappings, without and with a projection. A line the full decoder accepts, the projected one
/// accepts too, with the same events (type, and the value and flags of every projected field).
pub fn json_decode(data: &[u8]) {
    // Decoders are costly to make (the `windows` mapping has hundreds of routes): one set per
    // thread, kept across inputs (they keep only counters and spare events between lines).
    thread_local! {
        static DECODERS: std::cell::RefCell<Decoders> = std::cell::RefCell::new(decoders());
    }
    DECODERS.with(|ds| json_decode_with(&mut ds.borrow_mut(), data));
}

fn json_decode_with(ds: &mut Decoders, data: &[u8]) {
    for (full, projected, set) in &mut ds.pairs {
        full.take_stats();
        projected.take_stats();
        for (n, line) in data.split(|b| *b == b'\n').enumerate() {
            let line_no = n as u64 + 1;
            let mut a: Vec<Event<'_>> = Vec::new();
            let mut b: Vec<Event<'_>> = Vec::new();
            let ra = full.decode_line(line, line_no, &mut a);
            let rb = projected.decode_line(line, line_no, &mut b);
            if let Err(e) = &ra {
                assert!(e.code.code().starts_with("E07"), "{e:?}");
            }
            if let Err(e) = &rb {
                assert!(e.code.code().starts_with("E07"), "{e:?}");
            }
            if ra.is_err() {
                continue;
            }
            assert!(
                rb.is_ok(),
                "line {line_no}: decodes in full but not projected: {rb:?}"
            );
            assert_eq!(a.len(), b.len(), "line {line_no}: event counts differ");
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x.ty(), y.ty(), "line {line_no}: event types differ");
                for f in 0..x.field_count() {
                    let Ok(f) = u16::try_from(f) else { break };
                    let f = FieldIndex(f);
                    if !set.contains(x.ty(), f) {
                        continue;
                    }
                    assert_eq!(
                        (x.is_present(f), x.is_truncated(f), x.value(f)),
                        (y.is_present(f), y.is_truncated(f), y.value(f)),
                        "line {line_no}: field {} differs",
                        f.0
                    );
                }
            }
        }
    }
}

/// Runs every rule of a loaded bundle on an empty event of each type it reads (the verifier's
/// promise: a verified program runs).
fn run_rules(loaded: &Loaded) {
    let Ok(interp) = vigil_runtime::interp::Interp::new(&loaded.verified) else {
        return;
    };
    for (i, rule) in loaded.verified.program().rules.iter().enumerate() {
        for ev in rule.event_types() {
            let Ok(builder) = EventBuilder::new(schema(), ev) else {
                continue;
            };
            let event = builder.finish();
            let _ = interp.eval(RuleId(i as u32), &event);
        }
    }
}

/// `bundle_decode`: bytes through the bundle decoder and the whole load, with a trust store
/// that allows unsigned bundles and with one that trusts [`keypair`] only. What loads was
/// decodable; what loads under the key is signed by it; a loaded program's rules run.
pub fn bundle_decode(data: &[u8]) {
    let decoded = bundle::decode(data);
    let budget = Budget::default();
    let unsigned = bundle::load(data, schema(), &trust_unsigned(), &budget, NOW_UNIX);
    let keyed = bundle::load(data, schema(), &trust_key(), &budget, NOW_UNIX);
    for r in [&unsigned, &keyed] {
        match r {
            Ok(loaded) => {
                assert!(decoded.is_ok(), "loaded but does not decode: {decoded:?}");
                run_rules(loaded);
            }
            Err(e) => {
                let codes = e.codes();
                assert!(!codes.is_empty(), "a load error without a code: {e}");
            }
        }
    }
    if let Ok(loaded) = &keyed {
        assert_eq!(
            loaded.header.key_id,
            Some(keypair().key_id()),
            "loaded under a keyed trust store without that key's signature"
        );
    }
    if let Ok(loaded) = &unsigned {
        assert!(
            loaded.header.key_id.is_none(),
            "a bundle naming a key loaded although the store trusts none"
        );
    }
}

/// The files of a state directory that [`state_restore`] writes, by selector byte.
pub const STATE_FILES: [&str; 4] = [STATE_FILE, ACTIVE_FILE, LKG_FILE, "status.json"];

/// What separates the files in a [`state_restore`] input.
pub const STATE_SEPARATOR: &[u8] = b"\n\0--vigil-state-file--\0\n";

/// Splits a [`state_restore`] input into files: parts separated by [`STATE_SEPARATOR`], each
/// a selector byte (the file is `STATE_FILES[byte % 4]`) then the file's bytes. An empty part
/// writes nothing; a later part for the same file replaces an earlier one.
pub fn state_files(data: &[u8]) -> Vec<(&'static str, &[u8])> {
    let mut files: Vec<(&'static str, &[u8])> = Vec::new();
    let mut rest = data;
    loop {
        let (part, next) = match find(rest, STATE_SEPARATOR) {
            Some(at) => (&rest[..at], Some(&rest[at + STATE_SEPARATOR.len()..])),
            None => (rest, None),
        };
        if let Some((sel, bytes)) = part.split_first() {
            let name = STATE_FILES[usize::from(*sel) % STATE_FILES.len()];
            files.retain(|(n, _)| *n != name);
            files.push((name, bytes));
        }
        match next {
            Some(n) => rest = n,
            None => return files,
        }
    }
}

/// The inverse of [`state_files`]: one input holding `files` (for making seeds).
pub fn state_input(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (name, bytes)) in files.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(STATE_SEPARATOR);
        }
        let sel = STATE_FILES.iter().position(|n| n == name).unwrap_or(0);
        out.push(sel as u8);
        out.extend_from_slice(bytes);
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A fresh private directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("vigil-fuzz-state-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        if let Err(e) = std::fs::create_dir_all(&path) {
            panic!("cannot create {}: {e}", path.display());
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700));
        }
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn deployer() -> Deployer {
    let trust = {
        let mut t = trust_key();
        t.allow_unsigned = true;
        t
    };
    let options = DeployOptions {
        engine: EngineKind::Interp,
        ..DeployOptions::default()
    };
    let d = Deployer::new(schema().clone(), Budget::default(), trust, options);
    d.set_clock(|| NOW_UNIX);
    d
}

/// `state_restore`: `data` split into state-directory files ([`state_files`]), written to a
/// fresh directory, then restored by a [`Deployer`] (trusting [`keypair`] and unsigned bundles,
/// at [`NOW_UNIX`]). The restore never panics; every refusal carries a code; the bundle it
/// activates is one of the bundle files given that loads on its own; an event goes through;
/// after a clean shutdown a second start restores the same bundle. Returns the SHA-256 of the
/// bundle restored, if any.
pub fn state_restore(data: &[u8]) -> Option<String> {
    let files = state_files(data);
    let dir = TempDir::new();
    for (name, bytes) in &files {
        if let Err(e) = std::fs::write(dir.path().join(name), bytes) {
            panic!("cannot write {name}: {e}");
        }
    }
    let mut loadable: Vec<String> = Vec::new();
    let trust = {
        let mut t = trust_key();
        t.allow_unsigned = true;
        t
    };
    for (name, bytes) in &files {
        if *name == ACTIVE_FILE || *name == LKG_FILE {
            if let Ok(l) = bundle::load(bytes, schema(), &trust, &Budget::default(), NOW_UNIX) {
                loadable.push(vigil_runtime::hash::to_hex(&l.sha256));
            }
        }
    }
    let open = |what: &str| match StateDir::open(dir.path()) {
        Ok(s) => s,
        Err(e) => panic!("{what}: cannot open the state directory: {e}"),
    };
    let first = deployer();
    let restored = first.open_state(open("first start"));
    for e in &restored.refusals {
        let code = e.code();
        assert!(
            code.len() == 5 && code.starts_with('E'),
            "a refusal without a code: {code} {e}"
        );
    }
    let active = first.active().map(|r| r.sha256);
    assert_eq!(
        restored.active.as_ref().map(|r| r.sha256.clone()),
        active,
        "open_state reports one bundle, the deployer runs another"
    );
    if let Some(sha) = &active {
        assert!(
            loadable.contains(sha),
            "restored bundle {sha} is none of the loadable bundle files given"
        );
    }
    if let Ok(builder) = EventBuilder::new(schema(), "process_start") {
        let event = builder.finish();
        let _ = first.process(&event, &mut |_| {});
    }
    first.shutdown();
    drop(first);
    let second = deployer();
    let again = second.open_state(open("second start"));
    assert_eq!(
        again.active.map(|r| r.sha256),
        active.clone(),
        "a clean restart restored another bundle ({:?})",
        again.refusals
    );
    active
}

/// `evtx_read`: bytes as an EVTX file through the input layer's reader
/// ([`vigil_agent::inputs::evtx::EvtxLines`]): reading returns; each line is a JSON object
/// whose keys start with the twelve System keys, in order; every problem is reported with an
/// EVTX input code (E0720–E0729).
pub fn evtx_read(data: &[u8]) {
    use std::io::Read;
    use vigil_agent::inputs::evtx::{EvtxLines, SYSTEM_KEYS};
    use vigil_agent::inputs::Issues;

    let issues = Issues::quiet();
    let mut lines = EvtxLines::new(
        std::io::Cursor::new(data.to_vec()),
        "fuzz.evtx",
        issues.clone(),
    );
    let mut out = Vec::new();
    if let Err(e) = lines.read_to_end(&mut out) {
        panic!("reading an in-memory EVTX file failed: {e}");
    }
    for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let value: serde_json::Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => panic!("an EVTX line is not JSON: {e}"),
        };
        let Some(obj) = value.as_object() else {
            panic!("an EVTX line is not a JSON object");
        };
        let keys: Vec<&str> = obj
            .keys()
            .take(SYSTEM_KEYS.len())
            .map(String::as_str)
            .collect();
        assert_eq!(keys, SYSTEM_KEYS, "an EVTX line's first keys");
    }
    for (code, _) in issues.counts() {
        assert!(
            (720..=729).contains(&code.number()),
            "an EVTX problem reported as {code}"
        );
    }
}
