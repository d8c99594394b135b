//! Unit tests of the verifier over hand-built and generated programs. The must-reject corpus
//! (`tests/verify/`) is run by `runtime/tests/runtime/verify_corpus.rs`.

use super::*;
use crate::bind::bind;
use crate::ir::{
    BuiltinRef, CmpOp, Const, ConstList, Expr, ExprKind, FieldRef, FieldReq, ListId, LocalId,
    Quant, RegexId, Rule, RuleKind, SchemaRef, Severity, StrId, StrTest,
};
use crate::schema::Schema;
use crate::types::{Scalar, Ty};

/// The standard schema, parsed once.
fn endpoint() -> &'static Schema {
    static SCHEMA: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(Schema::endpoint)
}

fn empty_program() -> Program {
    Program {
        schema: SchemaRef {
            name: "endpoint".to_string(),
            major: 1,
            minor: 0,
        },
        fields: Vec::new(),
        builtins: Vec::new(),
        strings: Vec::new(),
        lists: Vec::new(),
        regexes: Vec::new(),
        rules: Vec::new(),
    }
}

fn req(schema: &Schema, event: &str, field: &str) -> FieldReq {
    let def = schema
        .event(event)
        .and_then(|(_, e)| e.field(field))
        .map(|(_, d)| d.clone())
        .expect("test field exists");
    FieldReq {
        event: event.to_string(),
        field: field.to_string(),
        ty: def.ty,
        max_len: def.max_len,
        max_items: def.max_items,
    }
}

fn single(name: &str, events: &[&str], exprs: Vec<Expr>, cond: Option<u32>) -> Rule {
    Rule {
        id: name.to_string(),
        name: name.to_string(),
        title: name.to_string(),
        severity: Severity::Medium,
        shadow: false,
        meta: Vec::new(),
        exprs,
        kind: RuleKind::Single {
            events: events.iter().map(ToString::to_string).collect(),
            cond: cond.map(ExprId),
        },
        emit: Vec::new(),
        fields: Vec::new(),
    }
}

fn e(ty: Ty, kind: ExprKind) -> Expr {
    Expr { ty, kind }
}

fn check(program: Program, schema: &Schema, budget: &Budget) -> Result<Verified, Vec<ErrorCode>> {
    let binding =
        bind(&program, schema).map_err(|v| v.iter().map(|e| e.code).collect::<Vec<_>>())?;
    verify(program, binding, budget).map_err(|v| v.iter().map(|e| e.code).collect())
}

#[test]
fn ten_thousand_small_rules_verify() {
    let schema = endpoint();
    let mut p = empty_program();
    p.fields.push(req(schema, "process_start", "image"));
    p.fields.push(req(schema, "process_start", "command_line"));
    for i in 0..10_000u32 {
        p.strings.push(format!("tool{i}.exe"));
        p.lists.push(ConstList {
            elem: Scalar::Str,
            items: vec![
                Const::Str(format!("-flag{i}")),
                Const::Str(format!("/x{i}")),
            ],
        });
        let exprs = vec![
            e(Ty::STR, ExprKind::Field(FieldRef(0))),
            e(Ty::STR, ExprKind::Str(StrId(i))),
            e(
                Ty::BOOL,
                ExprKind::StrTest {
                    op: StrTest::EndsWith,
                    fold: true,
                    lhs: ExprId(0),
                    rhs: ExprId(1),
                },
            ),
            e(Ty::STR, ExprKind::Field(FieldRef(1))),
            e(
                Ty::BOOL,
                ExprKind::StrList {
                    op: StrTest::Contains,
                    fold: true,
                    quant: Quant::Any,
                    lhs: ExprId(3),
                    list: ListId(i),
                },
            ),
            e(Ty::BOOL, ExprKind::And(vec![ExprId(2), ExprId(4)])),
        ];
        p.rules
            .push(single(&format!("r{i}"), &["process_start"], exprs, Some(5)));
    }
    let verified = check(p, schema, &Budget::default()).expect("10,000 small rules verify");
    let report = verified.cost();
    assert_eq!(report.rules.len(), 10_000);
    let event = report.events.first().expect("one event type");
    assert_eq!(event.rules.len(), 10_000);
    // Both fields are scanned once, folded, whatever the number of rules: by the gram
    // searcher (10,000 literals each), charged per byte of each field.
    assert_eq!(event.prefilter.len(), 2);
    let per_byte = cost::folded(super::PREFILTER_GRAM_BYTE_STEPS);
    assert_eq!(event.prefilter_steps, 2 * per_byte * 98_304);
    // The two fields share the event's bytes: the slope is one field's, not their sum.
    assert!(
        event.bound.steps_per_byte < 2 * per_byte,
        "{:?}",
        event.bound
    );
}

/// About 1,500 Sigma-like `process_start` rules: literal tests on long fields, some builtins,
/// some regexes on the command line, some quantifiers over `args`: within the default budget.
#[test]
fn sigma_sized_rule_set_fits_the_default_budget() {
    let schema = endpoint();
    let mut p = empty_program();
    for f in [
        "image",
        "command_line",
        "parent_image",
        "parent_command_line",
        "original_file_name",
        "user",
        "args",
    ] {
        p.fields.push(req(schema, "process_start", f));
    }
    p.builtins.push(BuiltinRef {
        name: "basename".to_string(),
        params: vec![Ty::STR],
        ret: Ty::STR,
    });
    p.regexes.push(r"-e(nc)?\s+[a-z0-9+/=]{40,}".to_string());
    p.strings.push("-e".to_string());
    for i in 0..1_500u32 {
        p.lists.push(ConstList {
            elem: Scalar::Str,
            items: (0..12)
                .map(|k| Const::Str(format!("pattern-{i}-{k}")))
                .collect(),
        });
        let field = FieldRef(i % 5);
        let mut exprs = vec![
            e(Ty::STR, ExprKind::Field(field)),
            e(
                Ty::BOOL,
                ExprKind::StrList {
                    op: if i % 2 == 0 {
                        StrTest::Contains
                    } else {
                        StrTest::EndsWith
                    },
                    fold: i % 3 != 0,
                    quant: Quant::Any,
                    lhs: ExprId(0),
                    list: ListId(i),
                },
            ),
        ];
        let extra = match i % 30 {
            // 50 rules with a regex over the command line
            0 => vec![
                e(Ty::STR, ExprKind::Field(FieldRef(1))),
                e(
                    Ty::BOOL,
                    ExprKind::Matches {
                        lhs: ExprId(2),
                        regex: RegexId(0),
                    },
                ),
            ],
            // 50 rules with a quantifier over args
            1 => vec![
                e(Ty::List(Scalar::Str), ExprKind::Field(FieldRef(6))),
                e(Ty::STR, ExprKind::Local(LocalId(0))),
                e(Ty::STR, ExprKind::Str(StrId(0))),
                e(
                    Ty::BOOL,
                    ExprKind::StrTest {
                        op: StrTest::StartsWith,
                        fold: true,
                        lhs: ExprId(3),
                        rhs: ExprId(4),
                    },
                ),
                e(
                    Ty::BOOL,
                    ExprKind::Quant {
                        quant: Quant::Any,
                        local: LocalId(0),
                        list: ExprId(2),
                        body: ExprId(5),
                    },
                ),
            ],
            // 200 rules with basename(image) iin [...]
            2..=5 => vec![
                e(Ty::STR, ExprKind::Field(FieldRef(0))),
                e(
                    Ty::STR,
                    ExprKind::Call {
                        builtin: crate::ir::CallId(0),
                        args: vec![ExprId(2)],
                    },
                ),
                e(
                    Ty::BOOL,
                    ExprKind::StrList {
                        op: StrTest::Eq,
                        fold: true,
                        quant: Quant::Any,
                        lhs: ExprId(3),
                        list: ListId(i),
                    },
                ),
            ],
            _ => vec![e(Ty::BOOL, ExprKind::Bool(true))],
        };
        exprs.extend(extra);
        let last = u32::try_from(exprs.len()).expect("small") - 1;
        exprs.push(e(Ty::BOOL, ExprKind::And(vec![ExprId(1), ExprId(last)])));
        p.rules.push(single(
            &format!("sigma_{i}"),
            &["process_start"],
            exprs,
            Some(last + 1),
        ));
    }
    let budget = Budget::default();
    let verified = match check(p, schema, &budget) {
        Ok(v) => v,
        Err(codes) => panic!("the Sigma-sized set is refused: {codes:?}"),
    };
    let event = verified.cost().events.first().expect("process_start");
    assert_eq!(event.rules.len(), 1_500);
    assert!(event.total_steps <= budget.max_event_cost);
}

fn quantified_regex_program(max_len: u32, max_items: u32) -> (Program, Schema) {
    let toml = format!(
        "name = \"endpoint\"\nversion = \"1.0\"\n\n[events.process_start]\nfields = [\n  {{ name = \"time\", type = \"int\" }},\n  {{ name = \"host\", type = \"string\", max_len = 255 }},\n  {{ name = \"args\", type = \"[string]\", max_items = {max_items}, max_len = {max_len} }},\n]\n"
    );
    let schema = Schema::from_toml("test.toml", &toml).expect("test schema");
    let mut p = empty_program();
    p.fields.push(req(&schema, "process_start", "args"));
    p.regexes.push(r"[a-z]+\d+".to_string());
    let exprs = vec![
        e(Ty::List(Scalar::Str), ExprKind::Field(FieldRef(0))),
        e(Ty::STR, ExprKind::Local(LocalId(0))),
        e(
            Ty::BOOL,
            ExprKind::Matches {
                lhs: ExprId(1),
                regex: RegexId(0),
            },
        ),
        e(
            Ty::BOOL,
            ExprKind::Quant {
                quant: Quant::Any,
                local: LocalId(0),
                list: ExprId(0),
                body: ExprId(2),
            },
        ),
    ];
    p.rules.push(single(
        "regex_over_args",
        &["process_start"],
        exprs,
        Some(3),
    ));
    (p, schema)
}

/// A quantifier is charged per item plus per byte of its items (the list's `max_total_len`),
/// never items x the longest possible item: a regex over every item of a 64-item list of
/// 32 KiB strings verifies, with a slope of a DFA search.
#[test]
fn quantified_regex_is_charged_per_byte_of_the_items() {
    let (p, schema) = quantified_regex_program(32 * 1024, 64);
    let verified = match check(p, &schema, &Budget::default()) {
        Ok(v) => v,
        Err(codes) => panic!("refused: {codes:?}"),
    };
    let rule = verified.cost().rules.first().expect("one rule");
    assert_eq!(rule.bound.steps_per_byte, crate::matcher::DFA_BYTE_STEPS);
    // 64 items, each: the item's read, the regex's base, the node, the quantifier's own step.
    assert!(rule.bound.base_steps < 64 * 100, "{:?}", rule.bound);
}

/// One rule `name`: `command_line matches pattern` on `process_start`.
fn command_line_regex_program(name: &str, pattern: &str) -> Program {
    let mut p = empty_program();
    p.fields
        .push(req(endpoint(), "process_start", "command_line"));
    p.regexes.push(pattern.to_string());
    let exprs = vec![
        e(Ty::STR, ExprKind::Field(FieldRef(0))),
        e(
            Ty::BOOL,
            ExprKind::Matches {
                lhs: ExprId(0),
                regex: RegexId(0),
            },
        ),
    ];
    p.rules
        .push(single(name, &["process_start"], exprs, Some(1)));
    p
}

/// A pattern that does not determinize within the DFA size limit runs on a PikeVM and is
/// charged per NFA state per byte: `[ab]*a[ab]{900}c` over the command line is refused, at
/// its node, with the pattern and its size named.
#[test]
fn pikevm_regex_over_budget_is_refused_naming_the_pattern() {
    let schema = endpoint();
    let p = command_line_regex_program("blowup", "[ab]*a[ab]{900}c");
    let binding = bind(&p, schema).expect("binds");
    let errors = verify(p, binding, &Budget::default()).expect_err("refused");
    // The rule at its regex, and the event type it alone puts over budget.
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].code, ErrorCode::RegexCostOverBudget);
    assert_eq!(errors[1].code, ErrorCode::EventCostOverBudget);
    assert_eq!(errors[0].expr, Some(ExprId(1)));
    let text = errors[0].to_string();
    assert!(text.contains("`[ab]*a[ab]{900}c`"), "{text}");
    assert!(text.contains("PikeVM over"), "{text}");
}

/// The bound has the form `base + per_byte x n`: a regex over the command line costs a DFA
/// transition per byte, and the total is that at `max_event_bytes`.
#[test]
fn bounds_are_linear_in_the_event_size() {
    let schema = endpoint();
    let p = command_line_regex_program("enc", r"(?i)-enc\s+[a-z0-9+/=]{40,}");
    let verified = check(p, schema, &Budget::default()).expect("verifies");
    let rule = verified.cost().rules.first().expect("one rule");
    assert_eq!(rule.bound.steps_per_byte, crate::matcher::DFA_BYTE_STEPS);
    assert_eq!(rule.bound.max_event_bytes, 262_144);
    assert_eq!(rule.steps, rule.bound.max());
    // The command line holds at most 98,304 of the event's 262,144 bytes.
    assert_eq!(
        rule.bound.max(),
        rule.bound.base_steps + crate::matcher::DFA_BYTE_STEPS * 98_304
    );
    assert_eq!(rule.bound.at(1024), rule.bound.base_steps + 2 * 1024);
    let event = verified.cost().events.first().expect("one event type");
    // The prefilter scans the command line (folded) for the regex's prefix, `-enc`: one
    // literal of period 4, so at most a hit every 4 bytes.
    let scan = event
        .prefilter
        .first()
        .expect("the prefilter scans the field");
    assert!(scan.folded);
    assert_eq!(
        scan.steps_per_byte,
        cost::folded(super::PREFILTER_AC_BYTE_STEPS + super::PREFILTER_HIT_STEPS.div_ceil(4))
    );
    assert_eq!(
        event.bound.steps_per_byte,
        crate::matcher::DFA_BYTE_STEPS + scan.steps_per_byte
    );
    assert!(event.bound.base_steps >= rule.bound.base_steps + super::EVENT_FRAME_STEPS);
}

#[test]
fn looser_host_bounds_are_named_when_they_break_the_proof() {
    // Built against args of 64 x 32 bytes (2 KiB in all: charged in the base); the host has
    // 128 x 32 KiB, charged per byte, over a budget of 1 step per byte.
    let budget = Budget {
        max_rule_steps_per_byte: 1,
        ..Budget::default()
    };
    let (mut p, _) = quantified_regex_program(32, 64);
    let (_, host) = quantified_regex_program(32 * 1024, 128);
    p.rules[0].name = "args_regex".to_string();
    let binding = bind(&p, &host).expect("binds");
    let errors = verify(p, binding, &budget).expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].code,
        ErrorCode::HostBoundsBreakProof,
        "{errors:?}"
    );
    let text = errors[0].to_string();
    assert!(
        text.starts_with("error[E0627]: rule args_regex: host bounds "),
        "{text}"
    );
    assert!(
        text.contains("`process_start.args` at 128 items, the bundle assumed 64"),
        "{text}"
    );
    assert!(text.contains("the cost proof fails"), "{text}");
    // Looser bounds under which the proof holds are accepted.
    let (mut p, _) = quantified_regex_program(64, 4);
    p.rules[0].name = "short".to_string();
    let (_, host) = quantified_regex_program(128, 8);
    let binding = bind(&p, &host).expect("binds");
    assert!(verify(p, binding, &budget).is_ok());
}

#[test]
fn doubling_dag_saturates_instead_of_overflowing() {
    let schema = endpoint();
    let mut p = empty_program();
    p.fields.push(req(schema, "process_start", "command_line"));
    p.regexes.push("a".to_string());
    let mut exprs = vec![
        e(Ty::STR, ExprKind::Field(FieldRef(0))),
        e(
            Ty::BOOL,
            ExprKind::Matches {
                lhs: ExprId(0),
                regex: RegexId(0),
            },
        ),
    ];
    for i in 1..200u32 {
        exprs.push(e(Ty::BOOL, ExprKind::And(vec![ExprId(i), ExprId(i)])));
    }
    p.rules
        .push(single("doubling", &["process_start"], exprs, Some(200)));
    let codes = check(p, schema, &Budget::default()).expect_err("refused");
    assert!(codes.contains(&ErrorCode::RuleCostOverBudget), "{codes:?}");
}

#[test]
fn long_chains_are_refused_without_recursion() {
    let schema = endpoint();
    let mut p = empty_program();
    let mut exprs = vec![e(Ty::BOOL, ExprKind::Bool(true))];
    for i in 0..60_000u32 {
        exprs.push(e(Ty::BOOL, ExprKind::Not(ExprId(i))));
    }
    p.rules
        .push(single("chain", &["process_start"], exprs, Some(60_000)));
    assert_eq!(
        check(p, schema, &Budget::default()).err(),
        Some(vec![ErrorCode::TooDeep])
    );
}

#[test]
fn multi_event_rules_read_fields_by_name_on_each_type() {
    let schema = endpoint();
    let mut p = empty_program();
    p.fields.push(req(schema, "process_start", "image"));
    p.strings.push("x".to_string());
    let exprs = vec![
        e(Ty::STR, ExprKind::Field(FieldRef(0))),
        e(Ty::STR, ExprKind::Str(StrId(0))),
        e(
            Ty::BOOL,
            ExprKind::StrTest {
                op: StrTest::Contains,
                fold: false,
                lhs: ExprId(0),
                rhs: ExprId(1),
            },
        ),
    ];
    p.rules.push(single(
        "both",
        &["process_start", "process_end"],
        exprs.clone(),
        Some(2),
    ));
    let verified = check(p.clone(), schema, &Budget::default()).expect("image is on both");
    let binding = verified.binding();
    let (end, _) = schema.event("process_end").expect("event");
    let on_end = binding.field_on(FieldRef(0), end).expect("alternate");
    assert_eq!(on_end.event, end);
    assert_eq!(verified.cost().events.len(), 2);
    assert!(verified
        .cost()
        .events
        .iter()
        .all(|ev| ev.prefilter.len() == 1));

    p.rules[0].kind = RuleKind::Single {
        events: vec!["process_start".to_string(), "logon_failure".to_string()],
        cond: Some(ExprId(2)),
    };
    p.fields[0] = req(schema, "process_start", "command_line");
    assert_eq!(
        check(p, schema, &Budget::default()).err(),
        Some(vec![ErrorCode::MissingField])
    );
}

#[test]
fn errors_print_code_rule_and_node() {
    let schema = endpoint();
    let mut p = empty_program();
    let exprs = vec![
        e(Ty::INT, ExprKind::Int(1)),
        e(Ty::BOOL, ExprKind::Cmp(CmpOp::Lt, ExprId(0), ExprId(2))),
        e(Ty::INT, ExprKind::Int(2)),
    ];
    p.rules.push(single(
        "encoded_powershell",
        &["process_start"],
        exprs,
        Some(1),
    ));
    let binding = bind(&p, schema).expect("binds");
    let errors = verify(p, binding, &Budget::default()).expect_err("refused");
    assert_eq!(
        errors[0].to_string(),
        "error[E0403]: rule encoded_powershell: node 1 has operand 2, which does not precede it \
         (node 1)"
    );
}

#[test]
fn missing_field_names_rules_and_field() {
    let schema = endpoint();
    let mut p = empty_program();
    p.fields.push(FieldReq {
        event: "process_start".to_string(),
        field: "comand_line".to_string(),
        ty: Ty::STR,
        max_len: 98_304,
        max_items: 0,
    });
    let exprs = vec![e(Ty::BOOL, ExprKind::Exists(FieldRef(0)))];
    p.rules
        .push(single("a", &["process_start"], exprs.clone(), Some(0)));
    p.rules
        .push(single("b", &["process_start"], exprs, Some(0)));
    let errors = bind(&p, schema).expect_err("refused");
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        "error[E0623]: rules `a`, `b`: reads field `process_start.comand_line`, which host schema \
         `endpoint 1.1` does not supply"
    );
    assert_eq!(
        errors[0].field.as_deref(),
        Some("process_start.comand_line")
    );
}

#[test]
fn binding_of_another_program_is_refused() {
    let schema = endpoint();
    let mut p = empty_program();
    let binding = bind(&p, schema).expect("binds");
    p.fields.push(req(schema, "process_start", "image"));
    let errors = verify(p, binding, &Budget::default()).expect_err("refused");
    assert_eq!(errors[0].code, ErrorCode::FieldOutOfRange);
}

#[test]
fn fold_bound_is_three_halves_rounded_up() {
    assert_eq!(cost::folded(0), 0);
    assert_eq!(cost::folded(1), 2);
    assert_eq!(cost::folded(2), 3);
    assert_eq!(cost::folded(98_304), 147_456);
    assert_eq!(cost::folded(u64::MAX), u64::MAX);
}

/// A constant over the size limit is reported at the node that uses it (so the compiler
/// shows the literal in the source), not for the whole program.
#[test]
fn an_oversized_constant_is_reported_at_its_use() {
    let schema = endpoint();
    let mut p = empty_program();
    p.fields.push(req(schema, "process_start", "command_line"));
    p.strings.push("x".repeat(70 * 1024));
    let exprs = vec![
        e(Ty::STR, ExprKind::Field(FieldRef(0))),
        e(Ty::STR, ExprKind::Str(StrId(0))),
        e(
            Ty::BOOL,
            ExprKind::StrTest {
                op: StrTest::Contains,
                fold: false,
                lhs: ExprId(0),
                rhs: ExprId(1),
            },
        ),
    ];
    p.rules
        .push(single("big", &["process_start"], exprs, Some(2)));
    let binding = bind(&p, schema).expect("binds");
    let errors = verify(p, binding, &Budget::default()).expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].code, ErrorCode::ConstantTooLarge);
    assert_eq!(errors[0].rule, Some(RuleId(0)));
    assert_eq!(errors[0].expr, Some(ExprId(1)));
}
