//! Tests of the adversarial generators: the lines decode (or are refused) as intended, through
//! the real decoder and mappings.

use super::*;

use vigil_runtime::decode::Decoder;
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::event::Event;

use crate::compile_text;

fn sysmon() -> (Schema, Mapping, Vec<Template>) {
    let schema = Schema::endpoint();
    let mapping = Mapping::builtin("sysmon").expect("sysmon mapping");
    let t = templates(&schema, &mapping);
    (schema, mapping, t)
}

/// The first event of `line`'s type `event`, with the decoder's result.
fn decode_one<'a>(
    decoder: &mut Decoder,
    line: &'a [u8],
    event: &str,
) -> (
    Result<(), vigil_runtime::decode::DecodeError>,
    Option<Event<'a>>,
) {
    let mut out = Vec::new();
    let r = decoder.decode_line(line, 1, &mut out);
    let ty = decoder.schema().event(event).map(|(id, _)| id);
    let ev = out.into_iter().find(|e| Some(e.ty()) == ty);
    (r, ev)
}

fn field_index(schema: &Schema, event: &str, field: &str) -> vigil_runtime::schema::FieldIndex {
    let (_, et) = schema.event(event).expect("event type");
    et.field(field).expect("field").0
}

#[test]
fn filler_is_exact_deterministic_and_varied() {
    for len in [0, 1, 2, 5, 255, 4096, 98_304] {
        let a = filler(len, 7);
        assert_eq!(a.len(), len);
        assert_eq!(a, filler(len, 7));
    }
    assert_ne!(filler(4096, 1), filler(4096, 2));
    let long = filler(98_304, 3);
    assert!(long.contains('\\') && long.contains(' '));
    assert!(!long.is_ascii(), "some non-ASCII text");
    assert!(long.chars().any(char::is_uppercase) && long.chars().any(char::is_lowercase));
    assert!(!long.contains('#'), "calibration literals rely on no `#`");
}

#[test]
fn literal_text_is_exact_and_made_of_the_literals() {
    let lits = vec!["ab".to_owned(), "\\cmd.exe".to_owned(), "é".to_owned()];
    let t = literal_text(&lits, 100, 1);
    assert_eq!(t.len(), 100);
    assert!(t.starts_with("\\cmd.exeéab\\cmd.exe"));
    assert_eq!(literal_text(&[], 10, 3).len(), 10);
}

#[test]
fn templates_match_their_routes() {
    let (schema, mapping, ts) = sysmon();
    assert_eq!(ts.len(), mapping.routes.len());
    let ps = ts
        .iter()
        .find(|t| t.event == "process_start")
        .expect("process_start");
    assert!(ps
        .when
        .iter()
        .any(|(k, v)| k == "EventID" && *v == Json::Int(1)));
    let cl = ps
        .fields
        .iter()
        .find(|f| f.key == "CommandLine")
        .expect("CommandLine");
    assert_eq!((cl.field.as_str(), cl.max_len), ("command_line", 98_304));
    assert!(ps
        .fields
        .iter()
        .any(|f| f.key == "TimeCreated" && f.field == "time"));
    assert!(ps
        .fields
        .iter()
        .any(|f| f.key == "Computer" && f.field == "host"));
    // Every line routes to its template's event type.
    let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("decoder");
    for (t, line) in ts.iter().zip(
        deep_nesting_lines(&ts)
            .iter()
            .filter(|(k, _)| *k == Nesting::ShallowUnread),
    ) {
        let (r, ev) = decode_one(&mut decoder, &line.1, &t.event);
        assert!(r.is_ok(), "{}: {r:?}", t.event);
        assert!(ev.is_some(), "{}: no event of its type", t.event);
    }
}

/// Every string field is as long as the event's bounds allow ([`allocate`]: its `max_len`,
/// unless the event's `max_event_bytes` cut the longest ones to a common level), and the
/// decoder cuts nothing more.
#[test]
fn max_len_fields_are_at_max_len_after_decode() {
    let (schema, mapping, ts) = sysmon();
    let lines = max_len_lines(&ts);
    assert_eq!(lines, max_len_lines(&ts), "deterministic");
    let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("decoder");
    let mut checked = 0;
    let mut at_max = 0;
    for (t, line) in ts.iter().zip(&lines) {
        let (r, ev) = decode_one(&mut decoder, line, &t.event);
        assert!(r.is_ok(), "{}: {r:?}", t.event);
        let ev = ev.expect("an event of the route's type");
        let lens = allocate(t, None);
        let total: usize = lens.values().flatten().sum();
        assert!(total <= t.max_event_bytes as usize, "{}", t.event);
        for f in t.fields.iter().filter(|f| f.ty == Ty::Scalar(Scalar::Str)) {
            let ix = field_index(&schema, &t.event, &f.field);
            assert!(ev.is_present(ix), "{}.{} absent", t.event, f.field);
            let want = lens.get(&f.key).and_then(|v| v.first()).copied();
            assert_eq!(Some(ev.get_str(ix).len()), want, "{}.{}", t.event, f.field);
            if want == Some(f.max_len as usize) {
                at_max += 1;
            }
            assert!(!ev.is_truncated(ix), "{}.{} cut", t.event, f.field);
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} string fields checked");
    assert!(at_max > 50, "only {at_max} string fields at their max_len");
    assert_eq!(decoder.stats().truncated_values, 0);
}

#[test]
fn max_len_lists_are_full_after_decode() {
    let schema = Schema::endpoint();
    let mapping = Mapping::builtin("windows").expect("windows mapping");
    let ts = templates(&schema, &mapping);
    let t = ts
        .iter()
        .find(|t| t.fields.iter().any(|f| f.ty == Ty::List(Scalar::Str)))
        .expect("a route with a string list");
    let f = t
        .fields
        .iter()
        .find(|f| f.ty == Ty::List(Scalar::Str))
        .expect("list field");
    let line = max_len_lines(std::slice::from_ref(t)).remove(0);
    let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("decoder");
    let (r, ev) = decode_one(&mut decoder, &line, &t.event);
    assert!(r.is_ok(), "{r:?}");
    let ev = ev.expect("event");
    let ix = field_index(&schema, &t.event, &f.field);
    assert_eq!(ev.list_len(ix), f.max_items as usize);
    let lens = allocate(t, None);
    let want = lens.get(&f.key).expect("the list's lengths");
    let mut total = 0;
    for i in 0..ev.list_len(ix) {
        let got = ev.list_item_str(ix, i).len();
        assert_eq!(Some(&got), want.get(i));
        total += got;
    }
    // The items hold the list's whole `max_total_len`, or what the event leaves them.
    assert!(total <= f.max_total_len as usize);
    assert!(total > 0);
    assert_eq!(ev.dropped_items(), 0);
    assert!(!ev.is_truncated(ix));
}

#[test]
fn field_literals_reads_tests_lists_and_membership() {
    let compiled = compile_text(
        r#"
rule a {
    meta { title: "a", severity: low }
    on process_start
    when command_line icontains any ["-enc", "downloadstring", ""] and image endswith "\\powershell.exe"
        and user iin ["SYSTEM", "x"] and not (command_line contains "-enc")
    emit "a"
}
"#,
        &Schema::endpoint(),
    );
    let lits = field_literals(compiled.program());
    assert_eq!(lits["command_line"], ["-enc", "downloadstring"]);
    assert_eq!(lits["image"], ["\\powershell.exe"]);
    assert_eq!(lits["user"], ["x", "SYSTEM"]);
    assert_eq!(lits.len(), 3);
}

/// The length [`allocate`] gives the string field `field` of template `t`.
fn lens_of(t: &Template, field: &str) -> usize {
    let key = t
        .fields
        .iter()
        .find(|f| f.field == field)
        .map(|f| f.key.clone())
        .unwrap_or_default();
    allocate(t, None)
        .get(&key)
        .and_then(|v| v.first())
        .copied()
        .unwrap_or(0)
}

#[test]
fn literal_lines_are_made_of_each_fields_literals() {
    let (schema, mapping, ts) = sysmon();
    let mut lits = BTreeMap::new();
    lits.insert(
        "command_line".to_owned(),
        vec![
            "-enc".to_owned(),
            "DownloadString".to_owned(),
            "\"q\"".to_owned(),
        ],
    );
    lits.insert("image".to_owned(), vec!["\\powershell.exe".to_owned()]);
    let lines = literal_lines(&ts, &lits);
    let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("decoder");
    let pos = ts
        .iter()
        .position(|t| t.event == "process_start")
        .expect("process_start");
    let (r, ev) = decode_one(&mut decoder, &lines[pos], "process_start");
    assert!(r.is_ok(), "{r:?}");
    let ev = ev.expect("event");
    let cl = ev.get_str(field_index(&schema, "process_start", "command_line"));
    assert_eq!(cl.len(), lens_of(&ts[pos], "command_line"));
    assert!(cl.len() >= 8_192, "{}", cl.len());
    assert!(cl.matches("DownloadString").count() * 20 > cl.len() / 2);
    assert!(cl.contains("\"q\"-enc"));
    let user = ev.get_str(field_index(&schema, "process_start", "user"));
    assert_eq!(user.len(), 816.min(lens_of(&ts[pos], "user")));
    assert!(
        user.contains(r#"DownloadString\powershell.exe"q"-enc"#),
        "fields without tests get every literal"
    );
}

#[test]
fn invalid_utf8_lines_are_repaired_and_cut() {
    let (schema, mapping, ts) = sysmon();
    let lines = invalid_utf8_lines(&ts);
    assert!(lines.iter().all(|l| std::str::from_utf8(l).is_err()));
    let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("decoder");
    for (t, line) in ts.iter().zip(&lines) {
        let (r, ev) = decode_one(&mut decoder, line, &t.event);
        assert!(r.is_ok(), "{}: {r:?}", t.event);
        let ev = ev.expect("event");
        for f in t.fields.iter().filter(|f| f.ty == Ty::Scalar(Scalar::Str)) {
            let ix = field_index(&schema, &t.event, &f.field);
            let s = ev.get_str(ix);
            assert!(s.len() <= f.max_len as usize, "{}.{}", t.event, f.field);
            if f.max_len as usize > INVALID_EVERY {
                assert!(
                    s.contains('\u{fffd}'),
                    "{}.{} not repaired",
                    t.event,
                    f.field
                );
                assert!(ev.is_truncated(ix), "{}.{} not flagged", t.event, f.field);
            }
        }
    }
    assert_eq!(decoder.stats().invalid_utf8_lines, lines.len() as u64);
    assert_eq!(decoder.stats().bad_lines, 0);
}

/// The decoder keeps only the top level of a record and skips deeper values without recursing
/// (`serde_json`'s skipper is iterative): any nesting depth decodes; a nested value under a key
/// a field reads is no value of the field's type, so the field is absent.
#[test]
fn nested_lines_decode_at_any_depth_and_nested_fields_are_absent() {
    let (schema, mapping, ts) = sysmon();
    let lines = deep_nesting_lines(&ts);
    assert_eq!(lines.len(), ts.len() * Nesting::ALL.len());
    assert!(lines.iter().any(|(_, l)| l.len() > 2 * DEEP));
    let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("decoder");
    for (t, group) in ts.iter().zip(lines.chunks(Nesting::ALL.len())) {
        let read = first_string_key(t).expect("a string field");
        let ix = field_index(&schema, &t.event, &read.field);
        for (kind, line) in group {
            let (r, ev) = decode_one(&mut decoder, line, &t.event);
            assert!(r.is_ok(), "{}: {kind:?}: {r:?}", t.event);
            let ev = ev.expect("an event of the route's type");
            let read_nested = matches!(kind, Nesting::DeepReadArrays | Nesting::ShallowRead);
            assert_eq!(ev.is_present(ix), !read_nested, "{}: {kind:?}", t.event);
        }
    }
    assert_eq!(decoder.stats().bad_lines, 0);
    assert_eq!(decoder.stats().uncoercible_values, 2 * ts.len() as u64);
}

#[test]
fn calibration_rules_compile_and_fire_only_on_their_own_literals() {
    let (schema, mapping, ts) = sysmon();
    let t = ts
        .iter()
        .find(|t| t.event == "process_start")
        .expect("process_start");
    let ix = field_index(&schema, "process_start", "command_line");
    for c in CALIBRATION {
        let line = calibration_line(t, c);
        let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("decoder");
        let (r, ev) = decode_one(&mut decoder, &line, "process_start");
        assert!(r.is_ok(), "{r:?}");
        let ev = ev.expect("event");
        assert_eq!(ev.get_str(ix).len(), 98_304);
        let compiled = compile_text(&calibration_rule(c), &schema);
        let cost = compiled.verified.cost();
        let steps = cost
            .events
            .iter()
            .find(|e| e.name == "process_start")
            .map_or(0, |e| e.total_steps);
        assert!(steps >= 98_304, "{}: bound {steps}", c.name);
        let fires = usize::from(c.text == CalText::DenseLiterals);
        for kind in [EngineKind::Interp, EngineKind::Jit] {
            let engine = Engine::new(
                &compiled.verified,
                EngineOptions {
                    engine: kind,
                    ..EngineOptions::default()
                },
            )
            .expect("engine");
            assert_eq!(engine.process(&ev, &mut |_| {}), Ok(fires), "{}", c.name);
        }
    }
}

#[test]
fn calibration_literals_are_rare_or_dense_in_filler_text() {
    let text = filler(98_304, 11);
    let rare = rare_literals();
    let dense = dense_literals();
    assert_eq!((rare.len(), dense.len()), (CAL_LITERALS, CAL_LITERALS));
    assert!(rare
        .iter()
        .all(|l| l.contains('#') && !text.contains(l.as_str())));
    assert!(dense
        .iter()
        .all(|l| l.starts_with('\\') && l.ends_with(".exe")));
    assert!(
        text.matches('\\').count() > 98_304 / 100,
        "`\\` is frequent"
    );
    let hits = literal_text(&dense, 98_304, 0);
    assert!(hits.matches(".exe").count() > 98_304 / 20);
}

#[test]
fn fixed_cost_programs_fire_as_intended_on_a_short_event() {
    let (schema, mapping, ts) = sysmon();
    let t = ts
        .iter()
        .find(|t| t.event == "process_start")
        .expect("process_start");
    let line = short_line(t);
    let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("decoder");
    let (r, ev) = decode_one(&mut decoder, &line, "process_start");
    assert!(r.is_ok(), "{r:?}");
    let ev = ev.expect("event");
    let cl = ev.get_str(field_index(&schema, "process_start", "command_line"));
    assert_eq!(cl.len(), 32);
    for (kind, rules, fired) in [
        (FixedCost::Frame, 0, 0),
        (FixedCost::Rules, FIXED_RULES, 0),
        (FixedCost::Alerts, FIXED_RULES, FIXED_RULES),
    ] {
        let compiled = compile_text(&fixed_cost_rules(kind), &schema);
        let on_start = compiled
            .verified
            .cost()
            .events
            .iter()
            .find(|e| e.name == "process_start")
            .map_or(0, |e| e.rules.len());
        assert_eq!(on_start, rules, "{kind:?}");
        let engine = Engine::new(
            &compiled.verified,
            EngineOptions {
                engine: EngineKind::Jit,
                ..EngineOptions::default()
            },
        )
        .expect("engine");
        assert_eq!(engine.process(&ev, &mut |_| {}), Ok(fired), "{kind:?}");
    }
}

#[test]
fn vgl_strings_and_scan_rules_round_trip_through_the_compiler() {
    let odd = vec![
        "a\\b\"c".to_owned(),
        "tab\there\nnl".to_owned(),
        "ctl\u{1}é".to_owned(),
        "\\temp\\".to_owned(),
    ];
    let schema = Schema::endpoint();
    for folded in [true, false] {
        let compiled = compile_text(&scan_rule(&odd, folded), &schema);
        let lits = field_literals(compiled.program());
        let mut want = odd.clone();
        want.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        assert_eq!(lits["command_line"], want);
    }
    let (schema, mapping, ts) = sysmon();
    let t = ts
        .iter()
        .find(|t| t.event == "process_start")
        .expect("process_start");
    let line = literal_command_line(t, &odd);
    let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("decoder");
    let (r, ev) = decode_one(&mut decoder, &line, "process_start");
    assert!(r.is_ok(), "{r:?}");
    let ev = ev.expect("event");
    let cl = ev.get_str(field_index(&schema, "process_start", "command_line"));
    assert_eq!(cl.len(), 98_304);
    assert!(cl.contains("a\\b\"c"));
    let compiled = compile_text(&scan_rule(&odd[..1], false), &schema);
    let engine = Engine::new(
        &compiled.verified,
        EngineOptions {
            engine: EngineKind::Jit,
            ..EngineOptions::default()
        },
    )
    .expect("engine");
    assert_eq!(engine.process(&ev, &mut |_| {}), Ok(1));
}
