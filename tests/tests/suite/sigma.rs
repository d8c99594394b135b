//! The Sigma importer, data-driven: every `tests/sigma/NAME.yml` is imported on its own and
//! compared with `NAME.vgl` (the formatted output) and/or `NAME.refused` (one line per refused
//! rule: `error[E09xx]: message`). `VIGIL_BLESS=1` rewrites the expected files; an expected
//! file without its input fails. A second test imports the shared corpus's
//! `sigma/rules/windows` tree and holds the conversion rate at the recorded level.

use std::fs;
use std::path::{Path, PathBuf};

use vigil_compiler::sigma::{self, report::Report, ErrorCode, InputFile, Options};
use vigil_grammar::span::FileId;
use vigil_test_support::golden::Golden;

/// The share of `rules/windows` that converts and compiles (docs/sigma.md); raise it when the
/// importer improves, never lower it silently. (Lowered from 98.0 when the importer began
/// checking each rule against the verifier's default budget: 10 rules over `Data` lists, which
/// converted but could not load, are now refused, E0913.)
const MIN_WINDOWS_PERCENT: f64 = 97.6;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sigma")
}

#[test]
fn sigma_cases_match_expected_output() {
    let mut suite = Golden::new(dir(), ".yml");
    let cases = suite.cases();
    for case in &cases {
        let stem = &case.name;
        let input = InputFile {
            rel: PathBuf::from(format!("{stem}.yml")),
            bytes: case.read(),
        };
        let import = sigma::import(&[input], Options::default()).expect("built-in table loads");
        let vgl = import.files.first().map(|f| f.text.clone());
        if let Some(text) = &vgl {
            let (_, errors) = vigil_grammar::parse(FileId(0), text);
            assert!(
                errors.is_empty(),
                "{stem}: output does not parse: {errors:?}\n{text}"
            );
        }
        let refused: String = import
            .rules
            .iter()
            .filter_map(|r| r.result.as_ref().err())
            .map(|e| format!("{e}\n"))
            .collect();
        suite.check(case, ".vgl", vgl.as_deref());
        let refused = (!refused.is_empty()).then_some(refused);
        suite.check(case, ".refused", refused.as_deref());
    }
    assert!(cases.len() >= 25, "only {} cases", cases.len());
    suite.finish(&[".vgl", ".refused"]);
}

#[test]
fn hostile_inputs_are_refused_per_rule_and_the_rest_converts() {
    let good = InputFile {
        rel: "good.yml".into(),
        bytes: b"title: ok\nlogsource: {product: windows, category: process_creation}\ndetection:\n  s:\n    Image|endswith: '\\\\x.exe'\n  condition: s\n".to_vec(),
    };
    let mut many = String::from("title: many\nlogsource: {product: windows, category: process_creation}\ndetection:\n  s:\n    CommandLine|contains:\n");
    for i in 0..10_000 {
        many.push_str(&format!("      - 'value{i}'\n"));
    }
    many.push_str("  condition: s\n");
    let huge = format!(
        "title: huge\ndescription: '{}'\n",
        "x".repeat(5 * 1024 * 1024)
    );
    let deep = format!(
        "title: deep\nx: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let inputs = vec![
        InputFile {
            rel: "many.yml".into(),
            bytes: many.into_bytes(),
        },
        InputFile {
            rel: "huge.yml".into(),
            bytes: huge.into_bytes(),
        },
        InputFile {
            rel: "deep.yml".into(),
            bytes: deep.into_bytes(),
        },
        InputFile {
            rel: "binary.yml".into(),
            bytes: vec![0xff, 0xfe, 0x00, 0x41],
        },
        good,
    ];
    let import = sigma::import(&inputs, Options::default()).expect("built-in table loads");
    let codes: Vec<Option<ErrorCode>> = import
        .rules
        .iter()
        .map(|r| r.result.as_ref().err().map(|e| e.code))
        .collect();
    assert_eq!(
        codes,
        vec![
            Some(ErrorCode::TooManyValues),
            Some(ErrorCode::TooLarge),
            Some(ErrorCode::TooLarge),
            Some(ErrorCode::MalformedYaml),
            None
        ]
    );
    assert_eq!(import.files.len(), 1);
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<InputFile>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(root, &p, out);
        } else if p.extension().is_some_and(|e| e == "yml") {
            out.push(InputFile {
                rel: p.strip_prefix(root).expect("under root").to_path_buf(),
                bytes: fs::read(&p).expect("read rule"),
            });
        }
    }
}

#[test]
fn corpus_windows_rules_convert_at_the_recorded_rate() {
    let Some(corpus) = vigil_tests::corpus_for(
        "corpus_windows_rules_convert_at_the_recorded_rate",
        &["sigma/rules/windows"],
    ) else {
        return;
    };
    let root = corpus.join("sigma/rules/windows");
    let mut inputs = Vec::new();
    walk(&root, &root, &mut inputs);
    let import = sigma::import(&inputs, Options::default()).expect("built-in table loads");
    for f in &import.files {
        let (_, errors) = vigil_grammar::parse(FileId(0), &f.text);
        assert!(
            errors.is_empty(),
            "{}: output does not parse: {errors:?}",
            f.rel.display()
        );
    }
    let report = Report::new(&import);
    eprint!("{}", report.summary());
    assert!(
        report.percent >= MIN_WINDOWS_PERCENT,
        "conversion rate fell to {:.2}% (recorded {MIN_WINDOWS_PERCENT}%)",
        report.percent
    );
}

#[test]
fn windows_mapping_is_a_superset_of_sysmon() {
    use vigil_runtime::decode::Mapping;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stdlib/mappings");
    let read = |n: &str| fs::read_to_string(root.join(n)).expect("mapping file");
    let sysmon = Mapping::from_toml("sysmon.toml", &read("sysmon.toml")).expect("sysmon parses");
    let windows =
        Mapping::from_toml("windows.toml", &read("windows.toml")).expect("windows parses");
    assert_eq!(windows.schema, sysmon.schema);
    assert_eq!(windows.defaults, sysmon.defaults);
    assert_eq!(&windows.routes[..sysmon.routes.len()], &sysmon.routes[..]);
}
