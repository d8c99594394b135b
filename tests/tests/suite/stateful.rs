//! Correlation end to end: sequence and threshold rules compiled by the compiler library and run
//! by the runtime's engine, in both evaluators.
//!
//! - every `test` block of the example rules and of `tests/run_stateful/NAME.vgl` (one file per
//!   form of LANGUAGE.md section 5) passes, none skipped, with the interpreter and the JIT;
//! - memory: each stateful example rule, with `capacity: 64`, driven with 4x its capacity
//!   distinct keys (`VIGIL_TEST_SCALE=full`: 1,000,000) and maximal-length strings in its key
//!   and captured fields, never holds more bytes than the verifier's bound nor more keys than
//!   its capacity, checked after every batch;
//! - hostile input: times jumping back by years, missing times, absent keys, maximal keys: no
//!   panic, bounded memory, counters that say what happened.

use std::path::{Path, PathBuf};

use vigil_compiler::compile::{compile, Compiled};
use vigil_compiler::testing::{self, Status};
use vigil_compiler::{Options, Sources};
use vigil_runtime::budget::Budget;
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::event::{Event, EventBuilder};
use vigil_runtime::ir::RuleKind;
use vigil_runtime::schema::Schema;

const KINDS: [EngineKind; 2] = [EngineKind::Interp, EngineKind::Jit];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn compile_texts(files: &[(String, String)], schema: &Schema) -> (Compiled, Sources) {
    let mut sources = Sources::with_stdlib();
    for (name, text) in files {
        sources.add(name.clone(), text.clone());
    }
    match compile(&sources, schema, &Options::default(), &Budget::default()) {
        Ok(c) => (c, sources),
        Err(diags) => {
            let shown: Vec<String> = diags
                .iter()
                .map(|d| vigil_compiler::diag::render::render(d, &sources.map, false))
                .collect();
            panic!("does not compile:\n{}", shown.join("\n"));
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn vgl_files(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "vgl"))
        .collect();
    paths.sort();
    paths
}

/// Runs every test block of `compiled` whose rule is stateful in both engines; returns the
/// number of cases and the failures, described.
fn run_blocks(compiled: &Compiled, sources: &Sources, schema: &Schema) -> (usize, Vec<String>) {
    let stateful: Vec<&str> = compiled
        .program()
        .rules
        .iter()
        .filter(|r| !matches!(r.kind, RuleKind::Single { .. }))
        .map(|r| r.id.as_str())
        .collect();
    let mut failures = Vec::new();
    let mut cases = 0;
    for kind in KINDS {
        let results = testing::run(compiled, schema, &sources.map, kind)
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        for r in results
            .iter()
            .filter(|r| stateful.contains(&r.rule_id.as_str()))
        {
            cases += 1;
            if r.status != Status::Passed {
                failures.push(format!(
                    "{kind:?} {}:{} rule `{}` case {}: {:?} (alerts: {:?})",
                    r.file,
                    r.line,
                    r.rule,
                    r.case,
                    r.status,
                    r.alerts.iter().map(|a| &a.message).collect::<Vec<_>>()
                ));
            }
        }
    }
    (cases, failures)
}

/// The stateful example rules' test blocks (the single-event ones are the other suites').
#[test]
fn example_stateful_test_blocks_pass_through_the_engine_in_both_evaluators() {
    let schema = Schema::endpoint();
    let files: Vec<(String, String)> = vgl_files(&root().join("examples/rules"))
        .into_iter()
        .map(|p| (p.display().to_string(), read(&p)))
        .collect();
    let (compiled, sources) = compile_texts(&files, &schema);
    let (cases, failures) = run_blocks(&compiled, &sources, &schema);
    assert!(cases >= 2 * 9, "the correlation examples' cases: {cases}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn run_stateful_cases_pass_in_both_evaluators() {
    let schema = Schema::endpoint();
    let paths = vgl_files(&root().join("tests/run_stateful"));
    assert!(paths.len() >= 11, "one case per form: {paths:?}");
    let mut all = Vec::new();
    for p in paths {
        let files = vec![(p.display().to_string(), read(&p))];
        let (compiled, sources) = compile_texts(&files, &schema);
        let (cases, failures) = run_blocks(&compiled, &sources, &schema);
        assert!(cases > 0, "{}: no expectations", p.display());
        all.extend(failures);
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
}

// ---- memory bound ----

/// Keys driven per rule: 4x the capacity (64), or `VIGIL_TEST_SCALE=full`: 1,000,000.
fn key_count() -> u64 {
    match std::env::var("VIGIL_TEST_SCALE").as_deref() {
        Ok("full") => 1_000_000,
        _ => 4 * 64,
    }
}

/// The example file with `capacity: 64` in every rule's meta (replacing a capacity it has).
fn with_capacity_64(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("meta {") {
            let indent = &line[..line.len() - t.len()];
            // Drop an existing `capacity: N,` entry.
            let mut rest = rest.to_owned();
            if let Some(at) = rest.find("capacity:") {
                let end = rest[at..].find([',', '}']).map_or(rest.len(), |e| at + e);
                let end = if rest[end..].starts_with(',') {
                    end + 1
                } else {
                    end
                };
                rest.replace_range(at..end, "");
            }
            out.push_str(&format!("{indent}meta {{ capacity: 64,{rest}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A string of exactly `len` bytes: `prefix`, filler with multi-byte characters, `suffix`.
fn max_string(len: usize, prefix: &str, suffix: &str) -> String {
    let mut s = String::with_capacity(len);
    s.push_str(prefix);
    while s.len() + suffix.len() + 3 <= len {
        s.push('é');
        s.push('x');
    }
    while s.len() + suffix.len() < len {
        s.push('y');
    }
    s.push_str(suffix);
    s
}

struct Gen<'s> {
    schema: &'s Schema,
    host: String,
}

impl<'s> Gen<'s> {
    fn max_len(&self, ty: &str, field: &str) -> usize {
        let (_, et) = self.schema.event(ty).expect("event type");
        et.field(field).expect("field").1.max_len as usize
    }

    fn builder(&self, ty: &str, time: i64) -> EventBuilder<'s, 'static> {
        let mut b = EventBuilder::new(self.schema, ty).expect("event type");
        b.set_int("time", time).expect("time");
        b.set_string("host", self.host.clone()).expect("host");
        b
    }

    /// Events of rule `rule` (an example) that create state for key number `k`: its first
    /// step, or a counted event, with maximal strings in key and captured fields.
    fn events(&self, rule: &str, k: u64, time: i64) -> Vec<Event<'static>> {
        let tag = format!("{k:08}");
        let ip = std::net::IpAddr::V6(std::net::Ipv6Addr::from(u128::from(k) | (1 << 100)));
        let mut out = Vec::new();
        match rule {
            "office_child_beacons" => {
                let mut b = self.builder("process_start", time);
                b.set_int("pid", k as i64).expect("pid");
                let l = self.max_len("process_start", "image");
                b.set_string("image", max_string(l, &tag, ".exe"))
                    .expect("image");
                let l = self.max_len("process_start", "parent_image");
                b.set_string("parent_image", max_string(l, &tag, "\\WINWORD.EXE"))
                    .expect("parent");
                out.push(b.finish());
            }
            "password_spray" => {
                let mut b = self.builder("logon_failure", time);
                b.set_int("logon_type", 3).expect("type");
                b.set_ip("source_ip", ip).expect("ip");
                out.push(b.finish());
            }
            "spray_many_accounts" => {
                for u in 0..3 {
                    let mut b = self.builder("logon_failure", time);
                    b.set_ip("source_ip", ip).expect("ip");
                    let l = self.max_len("logon_failure", "target_user");
                    b.set_string("target_user", max_string(l, &format!("{tag}{u}"), ""))
                        .expect("user");
                    out.push(b.finish());
                }
            }
            "dropper_then_run_key" => {
                let mut b = self.builder("file_create", time);
                let l = self.max_len("file_create", "image");
                b.set_string("image", max_string(l, &tag, ""))
                    .expect("image");
                let l = self.max_len("file_create", "target_filename");
                b.set_string("target_filename", max_string(l, &tag, ".exe"))
                    .expect("target");
                out.push(b.finish());
            }
            "dns_burst" => {
                let mut b = self.builder("dns_query", time);
                b.set_int("pid", k as i64).expect("pid");
                let l = self.max_len("dns_query", "image");
                b.set_string("image", max_string(l, &tag, ""))
                    .expect("image");
                out.push(b.finish());
            }
            "recon_burst" => {
                let mut b = self.builder("process_start", time);
                let l = self.max_len("process_start", "user");
                b.set_string("user", max_string(l, &tag, "")).expect("user");
                b.set_string("image", "C:\\Windows\\System32\\whoami.exe".to_owned())
                    .expect("image");
                out.push(b.finish());
                // Its second step too, so level-1 partials exist.
                let mut b = self.builder("process_start", time + 1);
                let l = self.max_len("process_start", "user");
                b.set_string("user", max_string(l, &tag, "")).expect("user");
                b.set_string("image", "net.exe".to_owned()).expect("image");
                b.set_string("command_line", "net group x".to_owned())
                    .expect("cmd");
                out.push(b.finish());
            }
            other => panic!("no generator for stateful example rule `{other}`"),
        }
        out
    }
}

#[test]
fn stateful_example_rules_stay_within_the_verifiers_bound() {
    let schema = Schema::endpoint();
    let path = root().join("examples/rules/correlation.vgl");
    let text = with_capacity_64(&read(&path));
    let (compiled, _) = compile_texts(&[("correlation_cap64.vgl".into(), text)], &schema);
    let program = compiled.program();
    let stateful: Vec<usize> = program
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| !matches!(r.kind, RuleKind::Single { .. }))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(stateful.len(), 6, "the examples' stateful rules");
    let gen = Gen {
        schema: &schema,
        host: max_string(
            Gen {
                schema: &schema,
                host: String::new(),
            }
            .max_len("process_start", "host"),
            "h",
            "",
        ),
    };
    let keys = key_count();
    for &ri in &stateful {
        let rule = &program.rules[ri];
        let bound = compiled.verified.cost().rules[ri].state_bytes;
        let engine = Engine::new(&compiled.verified, EngineOptions::default()).expect("engine");
        let mut time = 1_700_000_000_000_000_000i64;
        let mut k = 0u64;
        while k < keys {
            for _ in 0..64 {
                for ev in gen.events(&rule.name, k, time) {
                    engine.process(&ev, &mut |_| {}).expect("process");
                }
                time += 2;
                k += 1;
            }
            let per_rule = engine.rule_state_stats();
            let st = per_rule
                .iter()
                .find(|s| s.rule.0 as usize == ri)
                .expect("stats of the rule");
            assert_eq!(
                st.bound_bytes, bound,
                "engine and verifier agree on the bound"
            );
            assert!(
                st.bytes <= bound,
                "rule `{}` after {k} keys: {} bytes > bound {bound}",
                rule.name,
                st.bytes
            );
            assert!(
                st.keys <= 64 && st.capacity == 64,
                "{}: {} keys",
                rule.name,
                st.keys
            );
            let total = engine.stats();
            assert!(total.state_bytes <= engine.state_bound_bytes());
        }
        let st = engine
            .rule_state_stats()
            .into_iter()
            .find(|s| s.rule.0 as usize == ri)
            .expect("stats");
        assert!(
            st.counters.evicted > 0,
            "{}: capacity was reached",
            rule.name
        );
        assert_eq!(
            engine.stats().internal_errors + engine.stats().eval_errors,
            0
        );
    }
}

// ---- hostile input ----

const HOSTILE: &str = r#"
rule seq {
    meta { capacity: 16 }
    sequence by pid within 1m {
        a: process_start
        b: process_end when a.user != "x"
    }
    emit "{a.user}"
}
rule thr {
    meta { capacity: 16 }
    on process_start
    threshold distinct(user) >= 3 within 1m by image
}
"#;

/// Images: four that repeat (thresholds fire), and every third event a new one (many
/// distinct keys: the table evicts).
fn image_tag(i: i64) -> String {
    if i % 3 == 0 {
        format!("u{i}")
    } else {
        format!("{}", i % 4)
    }
}

#[test]
fn hostile_streams_are_bounded_and_counted() {
    let schema = Schema::endpoint();
    let (compiled, _) = compile_texts(&[("hostile.vgl".into(), HOSTILE.into())], &schema);
    for kind in KINDS {
        let engine = Engine::new(
            &compiled.verified,
            EngineOptions {
                engine: kind,
                ..EngineOptions::default()
            },
        )
        .expect("engine");
        let year: i64 = 365 * 24 * 3600 * 1_000_000_000;
        let user_len = schema
            .event("process_start")
            .and_then(|(_, e)| e.field("user"))
            .map(|(_, f)| f.max_len as usize)
            .expect("user");
        let image_len = schema
            .event("process_start")
            .and_then(|(_, e)| e.field("image"))
            .map(|(_, f)| f.max_len as usize)
            .expect("image");
        let mut alerts = 0usize;
        for i in 0..2000i64 {
            // Times: mostly increasing; every 100th jumps back ten years (a clock reset), every
            // 13th back one second (late), every 7th missing.
            let time = if i % 100 == 50 {
                i - 10 * year
            } else if i % 13 == 6 {
                1_000_000 * i - 1_000_000_000
            } else {
                1_000_000 * i
            };
            let mut b = EventBuilder::new(&schema, "process_start").expect("type");
            if i % 7 != 3 {
                b.set_int("time", time).expect("time");
            }
            if i % 11 != 5 {
                b.set_int("pid", i % 8).expect("pid");
            }
            b.set_string("user", max_string(user_len, &format!("{i}"), ""))
                .expect("user");
            b.set_string("image", max_string(image_len, &image_tag(i), ""))
                .expect("image");
            let ev = b.finish();
            engine.process(&ev, &mut |_| alerts += 1).expect("process");
            let mut b = EventBuilder::new(&schema, "process_end").expect("type");
            b.set_int("time", time + 1).expect("time");
            b.set_int("pid", (i + 5) % 8).expect("pid");
            let ev = b.finish();
            engine.process(&ev, &mut |_| alerts += 1).expect("process");
            let s = engine.stats();
            assert!(s.state_bytes <= engine.state_bound_bytes());
        }
        let s = engine.stats();
        assert!(
            alerts > 0,
            "{kind:?}: something fired: {s:?} {:?}",
            engine.rule_state_stats()
        );
        assert!(s.state_clock_resets > 0, "{kind:?}: {s:?}");
        assert!(s.state_missing_time > 0, "{kind:?}: {s:?}");
        assert!(s.state_absent_key > 0, "{kind:?}: {s:?}");
        assert!(s.state_late > 0, "{kind:?}: {s:?}");
        assert!(s.state_evicted > 0, "{kind:?}: {s:?}");
        assert_eq!(s.internal_errors + s.eval_errors, 0, "{kind:?}: {s:?}");
        for r in engine.rule_state_stats() {
            assert!(r.keys <= 16 && r.bytes <= r.bound_bytes, "{r:?}");
        }
    }
}

// ---- engine API: reload hand-over, lateness, the ordered stage ----

const RELOAD_A: &str = r#"
rule seq { sequence by pid within 1m { a: process_start  b: process_end } }
rule thr { on process_start threshold count >= 3 within 1m by pid }
"#;
const RELOAD_B: &str = r#"
rule seq { sequence by pid within 1m { a: process_start  b: process_end } }
rule thr { on process_start threshold count >= 4 within 1m by pid }
rule new { on process_end threshold count >= 2 within 1m }
"#;

fn event(schema: &Schema, ty: &str, pid: i64, time_s: i64) -> Event<'static> {
    let mut b = EventBuilder::new(schema, ty).expect("type");
    b.set_int("time", time_s * 1_000_000_000).expect("time");
    b.set_int("pid", pid).expect("pid");
    b.finish()
}

fn fired(engine: &Engine, ev: &Event<'_>) -> Vec<String> {
    let mut out = Vec::new();
    engine
        .process(ev, &mut |a| out.push(a.rule.clone()))
        .expect("process");
    out
}

#[test]
fn reload_keeps_the_state_of_unchanged_rules_only() {
    let schema = Schema::endpoint();
    let (a, _) = compile_texts(&[("a.vgl".into(), RELOAD_A.into())], &schema);
    let (b, _) = compile_texts(&[("b.vgl".into(), RELOAD_B.into())], &schema);
    for kind in KINDS {
        let opts = EngineOptions {
            engine: kind,
            ..EngineOptions::default()
        };
        let old = Engine::new(&a.verified, opts.clone()).expect("engine");
        assert!(fired(&old, &event(&schema, "process_start", 7, 1)).is_empty());
        assert!(fired(&old, &event(&schema, "process_start", 7, 2)).is_empty());
        let new = Engine::new(&b.verified, opts).expect("engine");
        let report = new.adopt_state(&old);
        assert_eq!(report.kept, vec!["seq".to_owned()]);
        assert_eq!(report.dropped, vec!["thr".to_owned()]);
        assert_eq!(report.fresh, vec!["thr".to_owned(), "new".to_owned()]);
        // The sequence's partial match carried over; the changed threshold starts afresh.
        assert_eq!(
            fired(&new, &event(&schema, "process_end", 7, 3)),
            vec!["seq"]
        );
        assert!(fired(&new, &event(&schema, "process_start", 7, 4)).is_empty());
        let stats = new.rule_state_stats();
        assert_eq!(
            stats[0].counters.events, 4,
            "counters travel with the state"
        );
        assert_eq!(stats[1].counters.events, 1);
    }
}

#[test]
fn lateness_lets_older_events_count() {
    let schema = Schema::endpoint();
    let text = "rule thr { on process_start threshold count >= 3 within 1m by pid }\n\
                rule one { on process_start when pid == 7 }";
    let (c, _) = compile_texts(&[("l.vgl".into(), text.into())], &schema);
    for (lateness_ns, want) in [(0, 0), (10_000_000_000, 1)] {
        let engine = Engine::new(
            &c.verified,
            EngineOptions {
                lateness_ns,
                ..EngineOptions::default()
            },
        )
        .expect("engine");
        fired(&engine, &event(&schema, "process_start", 7, 100));
        let late = fired(&engine, &event(&schema, "process_start", 7, 95));
        assert!(
            late.contains(&"one".to_owned()),
            "single-event rules see late events"
        );
        assert_eq!(engine.stats().state_late, 1 - want as u64);
        // Within the allowance the older event counted: 95, 100, 101 reach 3.
        let third = fired(&engine, &event(&schema, "process_start", 7, 101));
        assert_eq!(third.iter().filter(|r| *r == "thr").count(), want);
    }
}

#[test]
fn stateless_and_stateful_stages_split_the_work() {
    let schema = Schema::endpoint();
    let text = "rule thr { on process_start threshold count >= 2 within 1m by pid }\n\
                rule one { on process_start when pid == 7 }";
    let (c, _) = compile_texts(&[("s.vgl".into(), text.into())], &schema);
    let engine = Engine::new(&c.verified, EngineOptions::default()).expect("engine");
    let events: Vec<Event<'static>> = (0..4)
        .map(|i| event(&schema, "process_start", 7, i))
        .collect();
    // Stateless work on several threads, the ordered stage on this one.
    let stateless: usize = std::thread::scope(|s| {
        let handles: Vec<_> = events
            .iter()
            .map(|ev| {
                let engine = &engine;
                s.spawn(move || engine.process_stateless(ev, &mut |_| {}).expect("process"))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).sum()
    });
    assert_eq!(stateless, 4);
    assert_eq!(engine.stats().stateful_rules_skipped, 4);
    let mut stateful = Vec::new();
    for ev in &events {
        engine
            .process_stateful(ev, &mut |a| stateful.push(a.time))
            .expect("process");
    }
    assert_eq!(stateful, vec![1_000_000_000, 3_000_000_000]);
}
