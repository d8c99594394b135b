//! Shared helpers for Vigil's criterion benchmarks: deterministic generators of rule sets and
//! events, so every bench measures the same inputs run after run; adversarial event streams
//! ([`adversarial`]); reading the shared corpus ([`corpus`]) and the process's resident memory
//! ([`rss`]).

pub mod adversarial;
pub mod corpus;
pub mod events;
pub mod per_event;
pub mod rss;

use vigil_compiler::compile::{compile, Compiled};
use vigil_compiler::{Options, Sources};
use vigil_runtime::budget::Budget;
use vigil_runtime::schema::Schema;

pub use events::generate_events;

/// The budget the benches verify under: the default limits, with no cap on the summed cost of
/// an event type. The default cap (2^30 worst-case steps) admits about 1,500 Sigma-like rules
/// over 98,304-byte fields; the benches load up to 10,000.
pub fn bench_budget() -> Budget {
    Budget {
        max_event_cost: u64::MAX,
        max_event_base_steps: u64::MAX,
        max_event_steps_per_byte: u64::MAX,
        ..Budget::default()
    }
}

/// The standard library plus `text` as one user file.
pub fn sources(text: &str) -> Sources {
    let mut s = Sources::with_stdlib();
    s.add("bench.vgl", text);
    s
}

/// Compiles `text` (with the standard library) for `schema` under [`bench_budget`].
///
/// # Panics
///
/// When the text does not compile: the benches' inputs are fixed and must.
pub fn compile_text(text: &str, schema: &Schema) -> Compiled {
    match compile(&sources(text), schema, &Options::default(), &bench_budget()) {
        Ok(c) => c,
        Err(diags) => panic!(
            "bench rules do not compile: {}",
            diags
                .iter()
                .map(|d| format!("{d:?}"))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// Generates `n` realistic, varied single-event rules over the endpoint schema as one `.vgl`
/// text. Deterministic: the same `n` gives the same text.
pub fn generate_rules(n: usize) -> String {
    const IMAGES: &[&str] = &[
        "powershell.exe",
        "cmd.exe",
        "rundll32.exe",
        "regsvr32.exe",
        "mshta.exe",
        "certutil.exe",
        "bitsadmin.exe",
        "wmic.exe",
        "schtasks.exe",
        "msiexec.exe",
        "cscript.exe",
        "wscript.exe",
    ];
    const NEEDLES: &[&str] = &[
        "-enc",
        "downloadstring",
        "urlcache",
        "/transfer",
        "javascript:",
        "scrobj.dll",
        "/create",
        "shadowcopy",
        "-nop",
        "bypass",
        "invoke-",
        "frombase64string",
        "/s /q",
        "\\\\temp\\\\",
    ];
    let mut out = String::with_capacity(n * 260);
    out.push_str("list gen_shells = [\"cmd.exe\", \"powershell.exe\", \"pwsh.exe\"]\n\n");
    for i in 0..n {
        let image = IMAGES[i % IMAGES.len()];
        let a = NEEDLES[i % NEEDLES.len()];
        let b = NEEDLES[(i * 7 + 3) % NEEDLES.len()];
        let body = match i % 5 {
            0 => format!(
                "basename(image) ieq \"{image}\" and command_line icontains any [\"{a}\", \"{b}\"]"
            ),
            1 => format!(
                "image iendswith \"\\\\{image}\" and not (parent_image iendswith \"\\\\explorer.exe\") and command_line icontains \"{a}\""
            ),
            2 => format!(
                "basename(parent_image) iin gen_shells and command_line icontains all [\"{a}\", \"{b}\"] and pid > {i}"
            ),
            3 => format!(
                "original_file_name ieq \"{image}\" or (command_line contains \"{a}\" and len(command_line) > {})",
                i % 500
            ),
            _ => format!(
                "command_line matches r\"(?i){}\\s+\\S+\" and user != \"SYSTEM\"",
                a.replace('\\', "").replace(['.', '/', '-', '*', '+', '?', '(', ')', '[', ']'], "")
            ),
        };
        out.push_str(&format!(
            "rule gen_rule_{i} {{\n    meta {{ title: \"generated rule {i}\", severity: medium }}\n    on process_start\n    when {body}\n    emit \"{{image}}: {{command_line}}\"\n}}\n\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};

    #[test]
    fn generator_is_deterministic_and_sized() {
        assert_eq!(generate_rules(20), generate_rules(20));
        assert_eq!(generate_rules(20).matches("rule gen_rule_").count(), 20);
    }

    #[test]
    fn generated_rules_compile() {
        let compiled = compile_text(&generate_rules(50), &Schema::endpoint());
        assert_eq!(compiled.program().rules.len(), 50);
    }

    #[test]
    fn per_event_rule_sets_have_one_and_ten_rules() {
        assert_eq!(per_event::rules(1).matches("\nrule ").count(), 1);
        assert_eq!(per_event::rules(10).matches("\nrule ").count(), 10);
    }

    /// The baselines agree with the engines, event by event, and some events fire.
    #[test]
    fn baselines_agree_with_the_engines() {
        let schema = Schema::endpoint();
        let events = generate_events(&schema, 240);
        assert_eq!(events.len(), 240);
        for (n, baseline) in [
            (
                1,
                Box::new(per_event::baseline_1(&schema)) as Box<dyn Fn(&_) -> usize>,
            ),
            (10, Box::new(per_event::baseline_10(&schema))),
        ] {
            let compiled = compile_text(&per_event::rules(n), &schema);
            let mut total = 0;
            for kind in [EngineKind::Interp, EngineKind::Jit] {
                let engine = Engine::new(
                    &compiled.verified,
                    EngineOptions {
                        engine: kind,
                        ..EngineOptions::default()
                    },
                )
                .expect("engine");
                total = 0;
                for (i, event) in events.iter().enumerate() {
                    let fired = engine.process(event, &mut |_| {}).expect("event fits");
                    assert_eq!(fired, baseline(event), "{n} rules, {kind:?}, event {i}");
                    total += fired;
                }
            }
            assert!(total > 0, "{n} rules: nothing fired");
            assert!(
                total < events.len() / 4,
                "{n} rules: too much fired ({total})"
            );
        }
    }
}
