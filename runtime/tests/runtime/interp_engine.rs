//! The engine end to end: native JSON lines decoded, dispatched by event type, evaluated, and
//! alerts printed as `docs/alerts.md` defines them.

use std::sync::Arc;

use vigil_runtime::alert::{Alert, BundleInfo};
use vigil_runtime::decode::Decoder;
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions, EvalError, Evaluator};
use vigil_runtime::event::{Event, EventBuilder};
use vigil_runtime::ir::{Const, ExprKind, MetaValue, RuleId, StrTest, TemplatePart};
use vigil_runtime::schema::Schema;
use vigil_runtime::types::{Scalar, Ty};
use vigil_test_support::builder::{field, str_const, Prog};

/// `encoded_powershell` on process_start, and a rule on network_connect.
fn program() -> Prog {
    let mut p = Prog::new();
    let r = p.rule("encoded_powershell", &["process_start"], |p, rb| {
        let cl = field(p, rb, "process_start", "command_line");
        let l = p.str_list(&["-enc ", "-encodedcommand"]);
        Some(rb.e(
            Ty::BOOL,
            ExprKind::StrList {
                op: StrTest::Contains,
                fold: true,
                quant: vigil_runtime::ir::Quant::Any,
                lhs: cl,
                list: l,
            },
        ))
    });
    p.emit(r, |p, rb| {
        let user = field(p, rb, "process_start", "user");
        let cl = field(p, rb, "process_start", "command_line");
        let pid = field(p, rb, "process_start", "pid");
        let args = field(p, rb, "process_start", "args");
        let l = p.str_list(&["a", "b\"c"]);
        let tags = rb.e(Ty::List(Scalar::Str), ExprKind::List(l));
        (
            vec![
                TemplatePart::Lit("encoded PowerShell run by ".into()),
                TemplatePart::Expr(user),
                TemplatePart::Lit(" (pid ".into()),
                TemplatePart::Expr(pid),
                TemplatePart::Lit("): ".into()),
                TemplatePart::Expr(cl),
                TemplatePart::Lit(" ".into()),
                TemplatePart::Expr(tags),
            ],
            vec![
                ("image".into(), cl),
                ("pid".into(), pid),
                ("args".into(), args),
            ],
        )
    });
    p.p.rules[0].meta = vec![
        ("attack".into(), MetaValue::List(vec!["T1059.001".into()])),
        ("author".into(), MetaValue::Str("detection team".into())),
    ];
    p.rule("to_private", &["network_connect"], |p, rb| {
        let ip = field(p, rb, "network_connect", "dest_ip");
        let l = p.list(
            Scalar::Cidr,
            vec![Const::Cidr("10.0.0.0".parse().expect("ip"), 8)],
        );
        let list = rb.e(Ty::List(Scalar::Cidr), ExprKind::List(l));
        Some(rb.e(
            Ty::BOOL,
            ExprKind::Member {
                lhs: ip,
                list,
                fold: false,
            },
        ))
    });
    p
}

const LINES: &str = r#"{"event": "process_start", "time": "2024-01-02T03:04:05.5Z", "host": "pc1", "pid": 42, "user": "alice", "command_line": "powershell -ENC SQBFAFgA", "args": ["powershell", "-ENC", "SQBFAFgA"]}
{"event": "process_start", "time": 1, "host": "pc1", "command_line": "notepad.exe"}
{"event": "network_connect", "time": 2, "host": "pc2", "dest_ip": "10.1.2.3", "dest_port": 445}
not json
{"event": "network_connect", "time": 3, "dest_ip": "8.8.8.8"}
"#;

#[test]
fn decoded_lines_fire_rules_and_alerts_print_as_documented() {
    let schema = Schema::endpoint();
    let verified = program().verify();
    let engine = Engine::new(&verified, EngineOptions::default())
        .expect("engine")
        .with_bundle(BundleInfo {
            id: "b1".into(),
            content_version: 7,
            sha256: "ab".repeat(32),
        });
    let mut decoder = Decoder::native(&schema);
    decoder.set_file(Some("events.jsonl"));
    let mut alerts: Vec<Alert> = Vec::new();
    decoder
        .decode_reader(LINES.as_bytes(), |ev| {
            engine
                .process(ev, &mut |a| alerts.push(a.clone()))
                .expect("process");
        })
        .expect("decode");
    assert_eq!(decoder.stats().bad_lines, 1);
    assert_eq!(decoder.stats().first_errors[0].line, 4);
    assert_eq!(alerts.len(), 2);
    let a = &alerts[0];
    assert_eq!(a.rule, "encoded_powershell");
    assert_eq!(
        a.message,
        r#"encoded PowerShell run by alice (pid 42): powershell -ENC SQBFAFgA ["a","b\"c"]"#
    );
    let line = a.to_json_line();
    let expected = concat!(
        r#"{"rule":"encoded_powershell","title":"title of encoded_powershell","severity":"high","#,
        r#""time":1704164645500000000,"host":"pc1","event_type":"process_start","#,
        r#""message":"encoded PowerShell run by alice (pid 42): powershell -ENC SQBFAFgA [\"a\",\"b\\\"c\"]","#,
        r#""fields":{"image":"powershell -ENC SQBFAFgA","pid":42,"args":["powershell","-ENC","SQBFAFgA"]},"#,
        r#""meta":{"attack":["T1059.001"],"author":"detection team"},"#,
        r#""bundle":{"id":"b1","content_version":7,"sha256":"abababababababababababababababababababababababababababababababab"},"#,
        r#""source":{"file":"events.jsonl","line":1},"shadow":false}"#
    );
    assert_eq!(line, expected);
    let b = &alerts[1];
    assert_eq!(b.rule, "to_private");
    assert_eq!(b.message, "title of to_private", "no emit: the title");
    assert_eq!(b.host, "pc2");
    assert_eq!(b.event_type, "network_connect");

    let stats = engine.stats();
    assert_eq!(stats.events, 4);
    assert_eq!(
        stats.evaluations + stats.prefilter_skipped,
        4,
        "each event runs only its type's rule (or the prefilter skips it)"
    );
    assert_eq!(stats.alerts, 2);
    assert_eq!(stats.internal_errors, 0);
}

#[test]
fn shadow_mode_marks_alerts() {
    let schema = Schema::endpoint();
    let verified = program().verify();
    let engine = Engine::new(
        &verified,
        EngineOptions {
            shadow: true,
            ..EngineOptions::default()
        },
    )
    .expect("engine");
    let mut b = EventBuilder::new(&schema, "network_connect").expect("type");
    b.set_ip("dest_ip", "10.0.0.1".parse().expect("ip"))
        .expect("set");
    let ev = b.finish();
    let mut shadow = None;
    let n = engine
        .process(&ev, &mut |a| shadow = Some(a.shadow))
        .expect("process");
    assert_eq!(n, 1);
    assert_eq!(shadow, Some(true));
    let json = {
        let mut line = String::new();
        engine
            .process(&ev, &mut |a| line = a.to_json_line())
            .expect("process");
        line
    };
    assert!(
        json.contains(r#""bundle":null,"source":null,"shadow":true"#),
        "{json}"
    );
}

struct Panics;
impl Evaluator for Panics {
    fn eval(&self, rule: RuleId, _: &Event<'_>) -> Result<bool, EvalError> {
        if rule.0 == 0 {
            panic!("a bug in an evaluator");
        }
        Err(EvalError::Internal("nope".into()))
    }
}

#[test]
fn evaluator_panics_and_errors_are_counted_not_propagated() {
    let schema = Schema::endpoint();
    let verified = program().verify();
    let engine = Engine::with_evaluator(
        &verified,
        Arc::new(Panics),
        EngineKind::Jit,
        EngineOptions::default(),
    )
    .expect("engine");
    let ev = EventBuilder::new(&schema, "process_start")
        .expect("type")
        .finish();
    assert_eq!(engine.process(&ev, &mut |_| {}).expect("process"), 0);
    let ev = EventBuilder::new(&schema, "network_connect")
        .expect("type")
        .finish();
    assert_eq!(engine.process(&ev, &mut |_| {}).expect("process"), 0);
    let s = engine.stats();
    assert_eq!((s.internal_errors, s.eval_errors), (1, 1));
}

#[cfg(feature = "jit")]
#[test]
fn jit_and_interpreter_agree_end_to_end() {
    let schema = Schema::endpoint();
    let verified = program().verify();
    let interp = Engine::new(&verified, EngineOptions::default()).expect("engine");
    let jit = match Engine::new(
        &verified,
        EngineOptions {
            engine: EngineKind::Jit,
            ..EngineOptions::default()
        },
    ) {
        Ok(e) => e,
        // A host the JIT does not support reports it; nothing more to compare here.
        Err(vigil_runtime::engine::EngineError::Jit(_)) => return,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(jit.kind(), EngineKind::Jit);
    let mut decoder = Decoder::native(&schema);
    let mut a = Vec::new();
    let mut b = Vec::new();
    decoder
        .decode_reader(LINES.as_bytes(), |ev| {
            interp
                .process(ev, &mut |x| a.push(x.to_json_line()))
                .expect("interp");
            jit.process(ev, &mut |x| b.push(x.to_json_line()))
                .expect("jit");
        })
        .expect("decode");
    assert_eq!(a, b);
    assert_eq!(a.len(), 2);
}

#[test]
fn events_of_another_schema_are_refused() {
    // A host schema where process_start's `command_line` is an int: an event built against it
    // must not reach rules bound to the endpoint schema.
    let text = vigil_runtime::schema::ENDPOINT_TOML.replacen(
        r#"{ name = "command_line",        type = "string",   max_len = 98304,"#,
        r#"{ name = "command_line",        type = "int","#,
        1,
    );
    assert_ne!(text, vigil_runtime::schema::ENDPOINT_TOML);
    let other = Schema::from_toml("other.toml", &text).expect("schema");
    let verified = program().verify();
    let engine = Engine::new(&verified, EngineOptions::default()).expect("engine");
    let mut b = EventBuilder::new(&other, "process_start").expect("type");
    b.set_int("command_line", 12345).expect("set");
    let ev = b.finish();
    assert!(engine.process(&ev, &mut |_| {}).is_err());
    assert_eq!(engine.stats().refused_events, 1);
}

#[test]
fn engine_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Engine>();
    check::<Decoder>();
    check::<Event<'static>>();
}

#[test]
fn strings_in_emit_are_printed_verbatim() {
    let schema = Schema::endpoint();
    let mut p = Prog::new();
    let r = p.rule("r", &["process_start"], |_, _| None);
    p.emit(r, |p, rb| {
        let img = field(p, rb, "process_start", "image");
        let q = str_const(p, rb, "unused");
        let _ = q;
        (
            vec![
                TemplatePart::Lit("[".into()),
                TemplatePart::Expr(img),
                TemplatePart::Lit("]".into()),
            ],
            vec![],
        )
    });
    let verified = p.verify();
    let engine = Engine::new(&verified, EngineOptions::default()).expect("engine");
    let mut b = EventBuilder::new(&schema, "process_start").expect("type");
    b.set_str("image", "C:\\a \"b\"\n").expect("set");
    let ev = b.finish();
    let mut msg = String::new();
    engine
        .process(&ev, &mut |a| msg = a.message.clone())
        .expect("process");
    assert_eq!(msg, "[C:\\a \"b\"\n]");
}
