//! EVTX input against the corpus: the original `.evtx` files of `corpus/evtx/` read through
//! the input layer (`vigil_agent::inputs`, the `evtx` crate) give, record for record, the JSON
//! lines of `corpus/events/` (same sample ids), and the corpus's SigmaHQ Windows rules raise the
//! same alerts over both, as (sample, rule, EventRecordID) with their counts. Damaged files
//! (flipped bytes, cut short, garbage, a huge sparse file) give coded errors naming the place
//! and keep the good records.
//!
//! **Known differences** between the lines, all from the parser's version (the corpus's lines
//! were written with the `evtx` 0.14 Python bindings, an older `evtx` crate; `docs/inputs.md`
//! lists them), allowed here and counted, nothing else:
//! - GUID values: `{0cce9215-69ae-11d9-bed3-505054503030}` (braces, lower case, as Windows'
//!   XML gives them) where the corpus has `0CCE9215-69AE-11D9-BED3-505054503030`;
//! - FILETIME values (`TimeCreated`, Sysmon `StartTime`, ...): 7 fraction digits (100 ns), the
//!   corpus 6;
//! - an `EventData` `Binary` element holding NULL: absent, the corpus `null` (the decoder reads
//!   both as an absent field).

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use flate2::read::MultiGzDecoder;
use serde_json::Value;
use vigil_agent::inputs::{open_events_with, Issues};
use vigil_compiler::compile::compile;
use vigil_compiler::sigma::{self, Options as ImportOptions};
use vigil_compiler::{Options, Sources};
use vigil_runtime::budget::Budget;
use vigil_runtime::decode::{Decoder, ErrorCode, Mapping};
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::schema::Schema;

/// The sets whose `.evtx` files the corpus holds.
const SETS: &[&str] = &["evtx-attack-samples", "sigma-regression"];
/// The rule trees imported, relative to `corpus/sigma` (as the conformance test does).
const RULE_TREES: &[&str] = &[
    "rules/windows",
    "rules-emerging-threats",
    "rules-threat-hunting/windows",
];
/// EVTX sizes.
const HEADER: u64 = 4096;
const CHUNK: u64 = 65536;

/// One sample: (set, sample id, its `.evtx`, its `.jsonl.gz`).
type Sample = (String, String, PathBuf, PathBuf);

fn samples(root: &Path) -> Vec<Sample> {
    let mut out = Vec::new();
    for set in SETS {
        let mut files: Vec<PathBuf> = fs::read_dir(root.join("evtx").join(set))
            .expect("list evtx")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "evtx"))
            .collect();
        files.sort();
        for evtx in files {
            let id = evtx
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .expect("sample id");
            let json = root.join("events").join(set).join(format!("{id}.jsonl.gz"));
            out.push((set.to_string(), id, evtx, json));
        }
    }
    out
}

/// The JSON lines an input gives through the input layer, and what it reported.
fn read_input(path: &Path) -> (Vec<String>, Issues) {
    let issues = Issues::quiet();
    let mut text = String::new();
    open_events_with(Some(path), Default::default(), &issues)
        .expect("opens")
        .read_to_string(&mut text)
        .expect("reads");
    (text.lines().map(str::to_owned).collect(), issues)
}

fn corpus_lines(path: &Path) -> Vec<String> {
    let f = fs::File::open(path).expect("open sample");
    BufReader::new(MultiGzDecoder::new(f))
        .lines()
        .map(|l| l.expect("read sample"))
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// Why `mine` may differ from the corpus's `theirs` (see the module docs), or `None`.
fn allowed(mine: Option<&Value>, theirs: Option<&Value>) -> Option<&'static str> {
    match (mine, theirs) {
        (None, Some(Value::Null)) => Some("null Binary absent"),
        (Some(Value::String(m)), Some(Value::String(t))) => {
            let guid = m.len() == 38
                && m.starts_with('{')
                && m.ends_with('}')
                && m.get(1..37).is_some_and(|g| g.to_uppercase() == *t);
            // `...:22.9080865Z` against `...:22.908086Z`.
            let filetime = m.len() == t.len() + 1
                && m.ends_with('Z')
                && m.get(..m.len() - 2)
                    .is_some_and(|head| t.get(..t.len() - 1) == Some(head));
            if guid {
                Some("GUID braced, lower case")
            } else if filetime {
                Some("FILETIME to 100 ns")
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Compares one record's lines; differences beyond [`allowed`] are returned.
fn compare(mine: &str, theirs: &str, allowances: &mut BTreeMap<&'static str, u64>) -> Vec<String> {
    let m: serde_json::Map<String, Value> = serde_json::from_str(mine).expect("EVTX line is JSON");
    let t: serde_json::Map<String, Value> =
        serde_json::from_str(theirs).expect("corpus line is JSON");
    let mut diffs = Vec::new();
    let keys_m: Vec<&String> = m.keys().collect();
    let keys_t: Vec<&String> = t
        .keys()
        .filter(|k| m.contains_key(*k) || t[*k] != Value::Null)
        .collect();
    if keys_m != keys_t {
        diffs.push(format!("keys {keys_m:?} vs {keys_t:?}"));
    }
    for k in m.keys().chain(t.keys().filter(|k| !m.contains_key(*k))) {
        let (a, b) = (m.get(k), t.get(k));
        if a == b {
            continue;
        }
        match allowed(a, b) {
            Some(why) => *allowances.entry(why).or_default() += 1,
            None => diffs.push(format!("{k}: {a:?} vs {b:?}")),
        }
    }
    diffs
}

#[test]
fn evtx_records_read_as_the_corpus_json_lines() {
    let Some(root) = vigil_tests::corpus_for(
        "evtx_records_read_as_the_corpus_json_lines",
        &[
            "evtx/evtx-attack-samples",
            "evtx/sigma-regression",
            "events",
        ],
    ) else {
        return;
    };
    let t0 = Instant::now();
    let mut records = 0usize;
    let mut allowances: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut failures = Vec::new();
    let all = samples(&root);
    for (set, id, evtx, json) in &all {
        let (mine, issues) = read_input(evtx);
        let theirs = corpus_lines(json);
        if issues.count() > 0 {
            failures.push(format!("{set}/{id}: input errors {:?}", issues.first()));
        }
        if mine.len() != theirs.len() {
            failures.push(format!(
                "{set}/{id}: {} records from the .evtx, {} lines in the corpus",
                mine.len(),
                theirs.len()
            ));
        }
        for (i, (m, t)) in mine.iter().zip(&theirs).enumerate() {
            for d in compare(m, t, &mut allowances) {
                failures.push(format!("{set}/{id}:{}: {d}", i + 1));
            }
        }
        records += mine.len();
    }
    eprintln!(
        "evtx: {} files, {records} records, every line equal to the corpus's but for {allowances:?} ({:.1?})",
        all.len(),
        t0.elapsed()
    );
    assert_eq!(all.len(), 384, "the corpus has 222 + 162 .evtx files");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Alerts as (set, sample, rule id, EventRecordID) → how many.
type Alerts = BTreeMap<(String, String, String, u64), u64>;

/// Runs `engine` over `lines` (decoded through `decoder`), counting alerts by record.
fn run_lines(
    engine: &Engine,
    decoder: &mut Decoder,
    set: &str,
    sample: &str,
    lines: &[String],
    out: &mut Alerts,
) -> u64 {
    let mut events = 0u64;
    for (i, line) in lines.iter().enumerate() {
        let record: Value = serde_json::from_str(line).expect("line is JSON");
        let id = record["EventRecordID"].as_u64().unwrap_or(0);
        let mut evs = Vec::new();
        let _ = decoder.decode_line(line.as_bytes(), i as u64 + 1, &mut evs);
        for ev in &evs {
            events += 1;
            engine
                .process(ev, &mut |a| {
                    *out.entry((set.to_owned(), sample.to_owned(), a.rule.clone(), id))
                        .or_default() += 1;
                })
                .expect("event fits the program");
        }
    }
    events
}

#[test]
fn sigma_rules_alert_the_same_on_evtx_files_as_on_their_json_lines() {
    let Some(root) = vigil_tests::corpus_for(
        "sigma_rules_alert_the_same_on_evtx_files_as_on_their_json_lines",
        &[
            "evtx/evtx-attack-samples",
            "evtx/sigma-regression",
            "events",
            "sigma",
        ],
    ) else {
        return;
    };
    let t0 = Instant::now();
    let mut inputs = Vec::new();
    let base = root.join("sigma");
    for tree in RULE_TREES {
        let dir = base.join(tree);
        if dir.is_dir() {
            inputs.extend(vigil_tests::sigma_files(&base, &dir));
        }
    }
    let import = sigma::import(&inputs, ImportOptions::default()).expect("built-in table loads");
    let mut sources = Sources::with_stdlib();
    for f in &import.files {
        sources.add(f.rel.display().to_string(), f.text.clone().into_bytes());
    }
    let schema = Schema::endpoint();
    let compiled = compile(&sources, &schema, &Options::default(), &Budget::default())
        .unwrap_or_else(|d| panic!("the converted rules compile: {} errors", d.len()));
    let engine = Engine::new(
        &compiled.verified,
        EngineOptions {
            engine: EngineKind::Interp,
            ..EngineOptions::default()
        },
    )
    .expect("engine builds");
    let t_compile = t0.elapsed();
    let mapping = Mapping::builtin("windows").expect("embedded windows mapping");
    let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("mapping fits the schema");
    let (mut from_evtx, mut from_json) = (Alerts::new(), Alerts::new());
    let (mut events_evtx, mut events_json) = (0u64, 0u64);
    for (set, id, evtx, json) in samples(&root) {
        let (lines, issues) = read_input(&evtx);
        assert_eq!(issues.count(), 0, "{set}/{id}: {:?}", issues.first());
        events_evtx += run_lines(&engine, &mut decoder, &set, &id, &lines, &mut from_evtx);
        let lines = corpus_lines(&json);
        events_json += run_lines(&engine, &mut decoder, &set, &id, &lines, &mut from_json);
    }
    let total = |a: &Alerts| a.values().sum::<u64>();
    eprintln!(
        "evtx vs json: {} rules converted; {events_evtx} events from the .evtx files, {events_json} from the JSON lines; \
         alerts {} ({} distinct) vs {} ({} distinct); compile {:.1?}, run {:.1?}",
        import.rules.iter().filter(|r| r.result.is_ok()).count(),
        total(&from_evtx),
        from_evtx.len(),
        total(&from_json),
        from_json.len(),
        t_compile,
        t0.elapsed() - t_compile
    );
    let mut diffs = Vec::new();
    for (k, n) in &from_evtx {
        let m = from_json.get(k).copied().unwrap_or(0);
        if *n != m {
            diffs.push(format!(
                "{k:?}: {n} from the .evtx, {m} from the JSON lines"
            ));
        }
    }
    for (k, m) in &from_json {
        if !from_evtx.contains_key(k) {
            diffs.push(format!("{k:?}: 0 from the .evtx, {m} from the JSON lines"));
        }
    }
    assert!(total(&from_json) > 1000, "the rules fire on the corpus");
    assert_eq!(events_evtx, events_json, "as many events from both");
    assert!(
        diffs.is_empty(),
        "{} alert differences:\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The largest `.evtx` of the corpus (ties by name): several chunks of records.
fn large_sample(root: &Path) -> PathBuf {
    let mut all: Vec<(u64, PathBuf)> = samples(root)
        .into_iter()
        .map(|(_, _, p, _)| (fs::metadata(&p).map_or(0, |m| m.len()), p))
        .collect();
    all.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    all.into_iter().next().map(|(_, p)| p).expect("a sample")
}

/// The record ids of chunk `n` (from its header), read from the file's bytes. (The ids of
/// the record headers: an exported log renumbers them, its `EventRecordID`s keep the original
/// numbers.)
fn chunk_ids(bytes: &[u8], n: u64) -> (u64, u64) {
    let at = (HEADER + n * CHUNK) as usize;
    let u64_at = |o: usize| {
        let b: [u8; 8] = bytes[at + o..at + o + 8].try_into().expect("8 bytes");
        u64::from_le_bytes(b)
    };
    (u64_at(24), u64_at(32))
}

/// The records of each chunk, in file order (a log that has not wrapped around; an unused
/// chunk, all zeros, has none).
fn records_per_chunk(bytes: &[u8], chunks: u64) -> Vec<usize> {
    (0..chunks)
        .map(|n| {
            let at = (HEADER + n * CHUNK) as usize;
            if bytes.get(at..at + 8) != Some(b"ElfChnk\0".as_slice()) {
                return 0;
            }
            let (first, last) = chunk_ids(bytes, n);
            (last + 1 - first) as usize
        })
        .collect()
}

/// The scratch folder of one test.
fn scratch_dir(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("vigil_evtx_{test}_{}", std::process::id()))
}

/// A scratch file of test `test` (`test/name`) with `bytes`.
fn scratch(test_name: &str, bytes: &[u8]) -> PathBuf {
    let (test, name) = test_name.split_once('/').expect("test/name");
    let dir = scratch_dir(test);
    fs::create_dir_all(&dir).expect("scratch dir");
    let p = dir.join(name);
    fs::write(&p, bytes).expect("scratch file");
    p
}

fn codes(issues: &Issues) -> Vec<ErrorCode> {
    issues.counts().into_iter().map(|(c, _)| c).collect()
}

#[test]
fn damaged_evtx_files_give_coded_errors_and_keep_the_good_records() {
    let Some(root) = vigil_tests::corpus_for(
        "damaged_evtx_files_give_coded_errors_and_keep_the_good_records",
        &["evtx/evtx-attack-samples"],
    ) else {
        return;
    };
    let path = large_sample(&root);
    let clean = fs::read(&path).expect("read sample");
    let chunks = (clean.len() as u64 - HEADER) / CHUNK;
    assert!(chunks >= 3, "{} has {chunks} chunks", path.display());
    let (good, issues) = read_input(&path);
    assert_eq!(issues.count(), 0);
    let per = records_per_chunk(&clean, chunks);
    assert_eq!(
        per.iter().sum::<usize>(),
        good.len(),
        "every record of every chunk read"
    );
    let known: BTreeMap<&String, usize> = good.iter().enumerate().map(|(i, l)| (l, i)).collect();
    let chunk1 = per[0]..per[0] + per[1];
    let (first1, last1) = chunk_ids(&clean, 1);
    let outside1: Vec<&String> = good
        .iter()
        .enumerate()
        .filter(|(i, _)| !chunk1.contains(i))
        .map(|(_, l)| l)
        .collect();

    // Bytes flipped inside chunk 1's records: E0721 naming chunk 1; every other record read
    // as it is in the whole file.
    let mut flipped = clean.clone();
    let at = (HEADER + CHUNK + 20_000) as usize;
    for b in &mut flipped[at..at + 64] {
        *b ^= 0x5a;
    }
    let (lines, issues) = read_input(&scratch("damaged/flipped.evtx", &flipped));
    let first = issues.first();
    assert!(
        first.iter().any(|i| i.code == ErrorCode::EvtxChecksum
            && i.message.contains("chunk 1 ")
            && i.message.contains(&format!("records {first1}..={last1}"))),
        "{first:?}"
    );
    let read: std::collections::BTreeSet<&String> = lines.iter().collect();
    for l in &outside1 {
        assert!(
            read.contains(l),
            "a record outside chunk 1 is read as it was: {l}"
        );
    }
    assert!(lines.len() <= good.len());

    // Cut 30,000 bytes into chunk 2: E0724 naming it; chunks 0 and 1 whole, and the records of
    // chunk 2 wholly before the cut, each the same as in the whole file, in order.
    let cut = (HEADER + 2 * CHUNK + 30_000) as usize;
    let (lines, issues) = read_input(&scratch("damaged/cut.evtx", &clean[..cut]));
    assert_eq!(
        codes(&issues),
        vec![ErrorCode::EvtxTruncated],
        "{:?}",
        issues.first()
    );
    assert!(issues
        .first()
        .iter()
        .any(|i| i.message.contains("chunk 2 ")));
    assert!(
        lines.len() > per[0] + per[1],
        "records of chunk 2 before the cut are read"
    );
    assert!(lines.len() < per[0] + per[1] + per[2]);
    assert_eq!(
        lines[..],
        good[..lines.len()],
        "the records read are whole and in order"
    );

    // The second record's size made impossible: E0723 naming it (chunk 0, its offset, its
    // record number); every other record read as it was.
    let mut bad_size = clean.clone();
    let first = (HEADER + 512) as usize;
    let size = u32::from_le_bytes(bad_size[first + 4..first + 8].try_into().expect("4 bytes"));
    let second = first + size as usize;
    assert_eq!(
        &bad_size[second..second + 4],
        b"**\0\0",
        "a record starts there"
    );
    bad_size[second + 4..second + 8].copy_from_slice(&0x000f_ffffu32.to_le_bytes());
    let (lines, issues) = read_input(&scratch("damaged/size.evtx", &bad_size));
    assert!(
        issues
            .first()
            .iter()
            .any(|i| i.code == ErrorCode::EvtxRecordUnreadable
                && i.message.contains("chunk 0")
                && i.message
                    .contains(&format!("offset {:#x}", second - HEADER as usize))
                && i.message.contains("record number 2")),
        "{:?}",
        issues.first()
    );
    let mut expected = good.clone();
    expected.remove(1);
    assert_eq!(lines, expected, "every record but the second");

    // Chunk 1's magic overwritten: E0722 naming it; the other chunks read.
    let mut no_magic = clean.clone();
    let at = (HEADER + CHUNK) as usize;
    no_magic[at..at + 8].copy_from_slice(b"garbage!");
    let (lines, issues) = read_input(&scratch("damaged/magic.evtx", &no_magic));
    assert_eq!(
        codes(&issues),
        vec![ErrorCode::EvtxChunkUnreadable],
        "{:?}",
        issues.first()
    );
    assert_eq!(lines.iter().collect::<Vec<_>>(), outside1);

    // Garbage after a good file header (which names more chunks than follow): one E0722 per
    // chunk and one E0724, no line, no panic.
    let mut garbage = clean[..HEADER as usize].to_vec();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..(3 * CHUNK) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        garbage.push(x as u8);
    }
    let (lines, issues) = read_input(&scratch("damaged/garbage.evtx", &garbage));
    assert!(lines.is_empty());
    assert_eq!(
        issues.counts(),
        vec![
            (ErrorCode::EvtxChunkUnreadable, 3),
            (ErrorCode::EvtxTruncated, 1)
        ],
        "{:?}",
        issues.first()
    );

    // No file header at all, named .evtx: E0720, nothing read.
    let (lines, issues) = read_input(&scratch("damaged/header.evtx", &clean[HEADER as usize..]));
    assert!(lines.is_empty());
    assert_eq!(codes(&issues), vec![ErrorCode::EvtxHeader]);

    // Every cut of the first 8 KiB, by 512 bytes: no panic, only coded errors, whole records.
    for end in (0..2 * HEADER as usize + 8192).step_by(512) {
        let (lines, issues) = read_input(&scratch("damaged/short.evtx", &clean[..end]));
        for l in &lines {
            assert!(
                known.contains_key(l),
                "cut at {end}: a record not in the whole file"
            );
        }
        assert!(
            end >= clean.len() || issues.count() > 0,
            "cut at {end}: no error"
        );
    }
    let _ = fs::remove_dir_all(scratch_dir("damaged"));
}

#[test]
fn a_huge_sparse_evtx_file_reads_the_same_records_as_its_chunks() {
    let Some(root) = vigil_tests::corpus_for(
        "a_huge_sparse_evtx_file_reads_the_same_records_as_its_chunks",
        &["evtx/evtx-attack-samples"],
    ) else {
        return;
    };
    let path = large_sample(&root);
    let clean = fs::read(&path).expect("read sample");
    let (good, _) = read_input(&path);
    // The sample's chunks, then zeros up to 1 GiB and a bit (sparse: no disk used): the
    // empty chunks are skipped and the records are those of the sample. This test checks the
    // records, not the memory: the reader holds one chunk at a time by construction (a 4 GiB
    // file through `vigil run` peaked at 26 MB resident, measured by hand; docs/inputs.md).
    let huge = scratch("huge/huge.evtx", &clean);
    let f = fs::OpenOptions::new()
        .write(true)
        .open(&huge)
        .expect("open");
    f.set_len((1 << 30) + HEADER).expect("sparse file");
    drop(f);
    let t0 = Instant::now();
    let (lines, issues) = read_input(&huge);
    let _ = fs::remove_dir_all(scratch_dir("huge"));
    eprintln!("evtx: 1 GiB sparse file read in {:.1?}", t0.elapsed());
    assert_eq!(issues.count(), 0, "{:?}", issues.first());
    assert_eq!(lines, good);
}
