//! Differential test: proptest generates well-typed IR programs over the test schema (every
//! node kind: arithmetic with zero divisors and `i64::MIN`, comparisons of every scalar type,
//! string tests folded and not, string lists any/all including empty ones, membership of
//! strings, ints, ips and ips in cidrs, regexes, every builtin, quantifiers (nested) over list
//! fields and constant lists, `exists`/`truncated`, nested `and`/`or`/`not`) and events within
//! the schema's bounds (empty, max-length and over-long strings, case folds that change
//! length, missing fields, truncated flags, lists with 0 and max items), and asserts that the
//! JIT and the interpreter agree on every (program, event).
//!
//! Each case compiles one program of several rules and runs it on a batch of events, so many
//! evaluations cost one compile. `VIGIL_DIFF_CASES` sets the number of cases.

mod jit_common;

use std::net::IpAddr;

use jit_common::{assert_agree, schema, Prog, Rb};
use proptest::prelude::*;
use vigil_runtime::event::{Event, EventBuilder};
use vigil_runtime::ir::{ArithOp, CmpOp, Const, ExprId, ExprKind, ListId, LocalId, Quant, StrTest};
use vigil_runtime::schema::Schema;
use vigil_runtime::types::{Scalar, Ty};

/// Cases per run: `VIGIL_DIFF_CASES`, default 2048 (each compiles 1 to 5 rules and runs them on
/// 24 events: about 50,000 (program, event) pairs, a few seconds in a debug build).
fn cases() -> u32 {
    std::env::var("VIGIL_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048)
}

/// SplitMix64, for programs deterministic in a seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Strings that exercise the edges: empty, exactly 8 bytes (the bound), folds that change
/// length (`ẞ` 3 bytes folds to `ß` 2, Kelvin sign 3 bytes folds to `k` 1), no simple fold
/// (`İ`), final sigma, separators, NUL.
const WORDS: &[&str] = &[
    "", "a", "A", "cmd.exe", "CMD.EXE", "abcdefgh", "ẞ", "ß", "ss", "\u{212A}", "k", "K", "İ", "i̇",
    "ΣΑΣ", "σας", "é", "É", "\\", "/", ".", "a/b.c", "C:\\W\\", "\u{0}", "日本", "-enc", "x.",
];
const PATTERNS: &[&str] = &[
    r"a+b",
    r"(?i)cmd\.exe$",
    r"^$",
    r"\d{2,3}",
    r"(?i)ß",
    r"[^\\]+\.c",
    r"(?i)k",
    r"^.{8}$",
    r"é|ẞ",
];
const INTS: &[i64] = &[
    0,
    1,
    -1,
    2,
    3,
    7,
    8,
    -7,
    i64::MIN,
    i64::MAX,
    i64::MIN + 1,
    1000,
    443,
];
const IPS: &[&str] = &[
    "10.1.2.3",
    "::ffff:10.1.2.3",
    "0.0.0.0",
    "::",
    "8.8.8.8",
    "fe80::1",
    "192.168.1.1",
    "::1",
    "::ffff:192.168.7.7",
];
const CIDRS: &[(&str, u8)] = &[
    ("10.0.0.0", 8),
    ("192.168.0.0", 16),
    ("::ffff:192.168.0.0", 112),
    ("fe80::", 10),
    ("0.0.0.0", 0),
    ("8.8.8.8", 32),
    ("::", 0),
    ("::", 128),
];

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test ip")
}

/// Which fields a position may read, and the quantifier variables in scope.
#[derive(Clone)]
struct Scope {
    locals: Vec<Scalar>,
}

struct Gen {
    rng: SplitMix,
    p: Prog,
    /// The event type field requirements name (the rule's first).
    event: &'static str,
}

impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.rng.next() % n
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn field(&mut self, rb: &mut Rb, name: &str) -> ExprId {
        let (f, ty) = self.p.field(self.event, name);
        rb.e(ty, ExprKind::Field(f))
    }

    fn str_list(&mut self) -> ListId {
        let n = self.below(4);
        let items = (0..n)
            .map(|_| Const::Str(self.pick(WORDS).to_string()))
            .collect();
        self.p.list(Scalar::Str, items)
    }

    fn local(&mut self, rb: &mut Rb, s: &Scope, want: Scalar) -> Option<ExprId> {
        let levels: Vec<usize> = (0..s.locals.len())
            .filter(|&i| s.locals[i] == want)
            .collect();
        if levels.is_empty() {
            return None;
        }
        let level = self.pick(&levels);
        Some(rb.e(Ty::Scalar(want), ExprKind::Local(LocalId(level as u16))))
    }

    fn call(
        &mut self,
        rb: &mut Rb,
        name: &str,
        args: Vec<ExprId>,
        arg_tys: &[Ty],
        ret: Ty,
    ) -> ExprId {
        let builtin = self.p.builtin(name, arg_tys);
        rb.e(ret, ExprKind::Call { builtin, args })
    }

    fn bool_expr(&mut self, rb: &mut Rb, s: &Scope, depth: u32) -> ExprId {
        let choice = if depth == 0 {
            self.below(5)
        } else {
            self.below(22)
        };
        match choice {
            0 => rb.bool(self.chance(50)),
            1 => self.field(rb, "b1"),
            2 => {
                let name = self.pick(&[
                    "s1", "s2", "n1", "b1", "ip1", "ip2", "args", "ports", "addrs", "host",
                ]);
                let (f, _) = self.p.field(self.event, name);
                rb.e(Ty::BOOL, ExprKind::Exists(f))
            }
            3 => {
                let name = self.pick(&["s1", "s2", "args"]);
                let (f, ty) = self.p.field(self.event, name);
                if self.chance(50) {
                    rb.e(Ty::BOOL, ExprKind::Truncated(f))
                } else {
                    let arg = rb.e(ty, ExprKind::Field(f));
                    self.call(rb, "truncated", vec![arg], &[ty], Ty::BOOL)
                }
            }
            4 => {
                let x = self.int_expr(rb, s, depth.saturating_sub(1));
                let y = self.int_expr(rb, s, depth.saturating_sub(1));
                let op = self.pick(&[
                    CmpOp::Eq,
                    CmpOp::Ne,
                    CmpOp::Lt,
                    CmpOp::Le,
                    CmpOp::Gt,
                    CmpOp::Ge,
                ]);
                rb.e(Ty::BOOL, ExprKind::Cmp(op, x, y))
            }
            5 => {
                let e = self.bool_expr(rb, s, depth - 1);
                rb.e(Ty::BOOL, ExprKind::Not(e))
            }
            6 | 7 => {
                let n = self.below(4);
                let ops: Vec<ExprId> = (0..n).map(|_| self.bool_expr(rb, s, depth - 1)).collect();
                if choice == 6 {
                    rb.e(Ty::BOOL, ExprKind::And(ops))
                } else {
                    rb.e(Ty::BOOL, ExprKind::Or(ops))
                }
            }
            8 => {
                let x = self.str_expr(rb, s, depth - 1);
                let y = self.str_expr(rb, s, depth - 1);
                let op = self.pick(&[CmpOp::Eq, CmpOp::Ne]);
                rb.e(Ty::BOOL, ExprKind::Cmp(op, x, y))
            }
            9 => {
                let x = self.bool_expr(rb, s, depth - 1);
                let y = self.bool_expr(rb, s, depth - 1);
                let op = self.pick(&[CmpOp::Eq, CmpOp::Ne]);
                rb.e(Ty::BOOL, ExprKind::Cmp(op, x, y))
            }
            10 => {
                let x = self.ip_expr(rb, s);
                let y = self.ip_expr(rb, s);
                let op = self.pick(&[CmpOp::Eq, CmpOp::Ne]);
                rb.e(Ty::BOOL, ExprKind::Cmp(op, x, y))
            }
            11 | 12 => {
                let lhs = self.str_expr(rb, s, depth - 1);
                let rhs = self.str_expr(rb, s, depth - 1);
                let op = self.pick(&[
                    StrTest::Eq,
                    StrTest::Contains,
                    StrTest::StartsWith,
                    StrTest::EndsWith,
                ]);
                let fold = self.chance(50);
                rb.e(Ty::BOOL, ExprKind::StrTest { op, fold, lhs, rhs })
            }
            13 => {
                let lhs = self.str_expr(rb, s, depth - 1);
                let list = self.str_list();
                let op = self.pick(&[
                    StrTest::Eq,
                    StrTest::Contains,
                    StrTest::StartsWith,
                    StrTest::EndsWith,
                ]);
                let fold = self.chance(50);
                let quant = self.pick(&[Quant::Any, Quant::All]);
                rb.e(
                    Ty::BOOL,
                    ExprKind::StrList {
                        op,
                        fold,
                        quant,
                        lhs,
                        list,
                    },
                )
            }
            14 => {
                let lhs = self.str_expr(rb, s, depth - 1);
                let fold = self.chance(50);
                let list = if self.chance(50) {
                    let l = self.str_list();
                    rb.e(Ty::List(Scalar::Str), ExprKind::List(l))
                } else {
                    self.field(rb, "args")
                };
                rb.e(Ty::BOOL, ExprKind::Member { lhs, list, fold })
            }
            15 => {
                let lhs = self.int_expr(rb, s, depth - 1);
                let list = if self.chance(50) {
                    let n = self.below(4);
                    let items = (0..n).map(|_| Const::Int(self.pick(INTS))).collect();
                    let l = self.p.list(Scalar::Int, items);
                    rb.e(Ty::List(Scalar::Int), ExprKind::List(l))
                } else {
                    self.field(rb, "ports")
                };
                rb.e(
                    Ty::BOOL,
                    ExprKind::Member {
                        lhs,
                        list,
                        fold: false,
                    },
                )
            }
            16 => {
                let lhs = self.ip_expr(rb, s);
                let list = match self.below(3) {
                    0 => {
                        let n = self.below(4);
                        let items = (0..n).map(|_| Const::Ip(ip(self.pick(IPS)))).collect();
                        let l = self.p.list(Scalar::Ip, items);
                        rb.e(Ty::List(Scalar::Ip), ExprKind::List(l))
                    }
                    1 => {
                        let n = self.below(4);
                        let items = (0..n)
                            .map(|_| {
                                let (a, len) = self.pick(CIDRS);
                                Const::Cidr(ip(a), len)
                            })
                            .collect();
                        let l = self.p.list(Scalar::Cidr, items);
                        rb.e(Ty::List(Scalar::Cidr), ExprKind::List(l))
                    }
                    _ => self.field(rb, "addrs"),
                };
                rb.e(
                    Ty::BOOL,
                    ExprKind::Member {
                        lhs,
                        list,
                        fold: false,
                    },
                )
            }
            17 => {
                let lhs = self.str_expr(rb, s, depth - 1);
                let pattern = self.pick(PATTERNS);
                let regex = self.p.regex(pattern);
                rb.e(Ty::BOOL, ExprKind::Matches { lhs, regex })
            }
            18 | 19 if s.locals.len() < 2 => {
                let (list, elem) = match self.below(5) {
                    0 => (self.field(rb, "args"), Scalar::Str),
                    1 => (self.field(rb, "ports"), Scalar::Int),
                    2 => (self.field(rb, "addrs"), Scalar::Ip),
                    3 => {
                        let l = self.str_list();
                        (rb.e(Ty::List(Scalar::Str), ExprKind::List(l)), Scalar::Str)
                    }
                    _ => {
                        let n = self.below(4);
                        let items = (0..n).map(|_| Const::Int(self.pick(INTS))).collect();
                        let l = self.p.list(Scalar::Int, items);
                        (rb.e(Ty::List(Scalar::Int), ExprKind::List(l)), Scalar::Int)
                    }
                };
                let level = s.locals.len() as u16;
                let mut inner = s.clone();
                inner.locals.push(elem);
                let body = self.bool_expr(rb, &inner, depth - 1);
                let quant = self.pick(&[Quant::Any, Quant::All]);
                rb.e(
                    Ty::BOOL,
                    ExprKind::Quant {
                        quant,
                        local: LocalId(level),
                        list,
                        body,
                    },
                )
            }
            _ => {
                let lhs = self.str_expr(rb, s, depth - 1);
                let w = self.pick(WORDS);
                let id = self.p.string(w);
                let rhs = rb.e(Ty::STR, ExprKind::Str(id));
                let op = self.pick(&[
                    StrTest::Eq,
                    StrTest::Contains,
                    StrTest::StartsWith,
                    StrTest::EndsWith,
                ]);
                let fold = self.chance(40);
                rb.e(Ty::BOOL, ExprKind::StrTest { op, fold, lhs, rhs })
            }
        }
    }

    fn str_expr(&mut self, rb: &mut Rb, s: &Scope, depth: u32) -> ExprId {
        let choice = if depth == 0 {
            self.below(4)
        } else {
            self.below(7)
        };
        match choice {
            0 => {
                let name = self.pick(&["s1", "s2", "host"]);
                self.field(rb, name)
            }
            1 => match self.local(rb, s, Scalar::Str) {
                Some(e) => e,
                None => self.field(rb, "s1"),
            },
            2 | 3 => {
                let w = self.pick(WORDS);
                let id = self.p.string(w);
                rb.e(Ty::STR, ExprKind::Str(id))
            }
            4 | 5 => {
                let name = self.pick(&["basename", "dirname", "extension", "lower", "upper"]);
                let arg = self.str_expr(rb, s, depth - 1);
                self.call(rb, name, vec![arg], &[Ty::STR], Ty::STR)
            }
            _ => {
                let arg = self.str_expr(rb, s, depth - 1);
                let start = self.int_expr(rb, s, 0);
                let len = self.int_expr(rb, s, 0);
                self.call(
                    rb,
                    "substr",
                    vec![arg, start, len],
                    &[Ty::STR, Ty::INT, Ty::INT],
                    Ty::STR,
                )
            }
        }
    }

    fn int_expr(&mut self, rb: &mut Rb, s: &Scope, depth: u32) -> ExprId {
        let choice = if depth == 0 {
            self.below(3)
        } else {
            self.below(9)
        };
        match choice {
            0 => rb.int(self.pick(INTS)),
            1 => {
                let name = self.pick(&["n1", "n2", "time"]);
                self.field(rb, name)
            }
            2 => match self.local(rb, s, Scalar::Int) {
                Some(e) => e,
                None => self.field(rb, "n1"),
            },
            3 | 4 => {
                let x = self.int_expr(rb, s, depth - 1);
                let y = self.int_expr(rb, s, depth - 1);
                let op = self.pick(&[
                    ArithOp::Add,
                    ArithOp::Sub,
                    ArithOp::Mul,
                    ArithOp::Div,
                    ArithOp::Rem,
                ]);
                rb.e(Ty::INT, ExprKind::Arith(op, x, y))
            }
            5 => {
                let x = self.int_expr(rb, s, depth - 1);
                rb.e(Ty::INT, ExprKind::Neg(x))
            }
            6 => {
                let arg = self.str_expr(rb, s, depth - 1);
                let name = self.pick(&["len", "entropy"]);
                self.call(rb, name, vec![arg], &[Ty::STR], Ty::INT)
            }
            _ => {
                let (arg, ty) = match self.below(3) {
                    0 => (self.field(rb, "args"), Ty::List(Scalar::Str)),
                    1 => (self.field(rb, "ports"), Ty::List(Scalar::Int)),
                    _ => {
                        let l = self.str_list();
                        (
                            rb.e(Ty::List(Scalar::Str), ExprKind::List(l)),
                            Ty::List(Scalar::Str),
                        )
                    }
                };
                self.call(rb, "len", vec![arg], &[ty], Ty::INT)
            }
        }
    }

    fn ip_expr(&mut self, rb: &mut Rb, s: &Scope) -> ExprId {
        match self.below(3) {
            0 => rb.ip(self.pick(IPS)),
            1 => match self.local(rb, s, Scalar::Ip) {
                Some(e) => e,
                None => self.field(rb, "ip2"),
            },
            _ => {
                let name = self.pick(&["ip1", "ip2"]);
                self.field(rb, name)
            }
        }
    }
}

/// A random program of 1 to 5 single-event rules over the test schema.
fn program(seed: u64, schema: Schema) -> Prog {
    program_of(seed, schema, None)
}

/// A random program of `rules` rules (1 to 5 when `None`) over the test schema.
fn program_of(seed: u64, schema: Schema, rules: Option<u64>) -> Prog {
    let mut g = Gen {
        rng: SplitMix(seed),
        p: Prog::with_schema(schema),
        event: "ev",
    };
    let rules = rules.unwrap_or_else(|| 1 + g.below(5));
    for r in 0..rules {
        let events: &[&str] = match g.below(3) {
            0 => &["ev"],
            1 => &["ev2"],
            _ => &["ev", "ev2"],
        };
        g.event = events[0];
        let depth = 1 + g.below(4) as u32;
        let mut rb = Rb::default();
        let cond = if g.chance(97) {
            Some(g.bool_expr(&mut rb, &Scope { locals: Vec::new() }, depth))
        } else {
            None
        };
        let exprs = std::mem::take(&mut rb.exprs);
        g.p.rule(&format!("r{r}"), events, move |_, rb| {
            rb.exprs = exprs;
            cond
        });
    }
    g.p
}

/// One event's values, as proptest generates them (and shrinks them).
#[derive(Clone, Debug)]
struct EventSpec {
    second_type: bool,
    s1: Option<String>,
    s2: Option<String>,
    host: Option<String>,
    n1: Option<i64>,
    n2: Option<i64>,
    time: Option<i64>,
    b1: Option<bool>,
    ip1: Option<IpAddr>,
    ip2: Option<IpAddr>,
    args: Option<Vec<String>>,
    ports: Option<Vec<i64>>,
    addrs: Option<Vec<IpAddr>>,
    truncated: Option<&'static str>,
}

fn string_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(str::to_string),
        // Over-long values: the builder cuts them at a character boundary and flags them.
        2 => "[a-cA-CẞßKkİé.\\\\/ ]{0,12}",
        1 => Just("abcdefgh".to_string()),
        1 => Just("ẞẞẞ".to_string()),
        1 => Just("\u{212A}\u{212A}\u{212A}".to_string()),
    ]
}

fn int_value() -> impl Strategy<Value = i64> {
    prop_oneof![3 => proptest::sample::select(INTS), 1 => any::<i64>(), 1 => -10i64..10]
}

fn ip_value() -> impl Strategy<Value = IpAddr> {
    prop_oneof![3 => proptest::sample::select(IPS).prop_map(ip), 1 => any::<IpAddr>()]
}

fn event_spec() -> impl Strategy<Value = EventSpec> {
    let strings = (
        proptest::option::weighted(0.8, string_value()),
        proptest::option::weighted(0.8, string_value()),
        proptest::option::weighted(0.5, string_value()),
    );
    let ints = (
        proptest::option::weighted(0.8, int_value()),
        proptest::option::weighted(0.8, int_value()),
        proptest::option::weighted(0.5, int_value()),
        proptest::option::weighted(0.8, any::<bool>()),
    );
    let ips = (
        proptest::option::weighted(0.8, ip_value()),
        proptest::option::weighted(0.6, ip_value()),
    );
    let lists = (
        proptest::option::weighted(0.8, proptest::collection::vec(string_value(), 0..5)),
        proptest::option::weighted(0.8, proptest::collection::vec(int_value(), 0..5)),
        proptest::option::weighted(0.8, proptest::collection::vec(ip_value(), 0..5)),
    );
    let extra = (
        any::<bool>(),
        proptest::option::weighted(
            0.2,
            proptest::sample::select(&["s1", "s2", "args", "n1"][..]),
        ),
    );
    (strings, ints, ips, lists, extra).prop_map(
        |(
            (s1, s2, host),
            (n1, n2, time, b1),
            (ip1, ip2),
            (args, ports, addrs),
            (second_type, truncated),
        )| {
            EventSpec {
                second_type,
                s1,
                s2,
                host,
                n1,
                n2,
                time,
                b1,
                ip1,
                ip2,
                args,
                ports,
                addrs,
                truncated,
            }
        },
    )
}

fn build<'a>(schema: &Schema, spec: &'a EventSpec) -> Event<'a> {
    let ty = if spec.second_type { "ev2" } else { "ev" };
    let mut b = EventBuilder::new(schema, ty).expect("test event type");
    let ok = "test field";
    if let Some(v) = &spec.s1 {
        b.set_str("s1", v).expect(ok);
    }
    if let Some(v) = &spec.s2 {
        b.set_str("s2", v).expect(ok);
    }
    if let Some(v) = &spec.host {
        b.set_str("host", v).expect(ok);
    }
    for (name, v) in [("n1", spec.n1), ("n2", spec.n2), ("time", spec.time)] {
        if let Some(v) = v {
            b.set_int(name, v).expect(ok);
        }
    }
    if let Some(v) = spec.b1 {
        b.set_bool("b1", v).expect(ok);
    }
    for (name, v) in [("ip1", spec.ip1), ("ip2", spec.ip2)] {
        if let Some(v) = v {
            b.set_ip(name, v).expect(ok);
        }
    }
    if let Some(items) = &spec.args {
        b.start_list("args").expect(ok);
        for v in items {
            b.push_item("args", v).expect(ok);
        }
    }
    if let Some(items) = &spec.ports {
        b.start_list("ports").expect(ok);
        for v in items {
            b.push_int_item("ports", *v).expect(ok);
        }
    }
    if let Some(items) = &spec.addrs {
        b.start_list("addrs").expect(ok);
        for v in items {
            b.push_ip_item("addrs", *v).expect(ok);
        }
    }
    if let Some(name) = spec.truncated {
        b.mark_truncated(name).expect(ok);
    }
    b.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn jit_agrees_with_interpreter(seed in any::<u64>(), specs in proptest::collection::vec(event_spec(), 24)) {
        let schema = schema();
        let events: Vec<Event<'_>> = specs.iter().map(|s| build(&schema, s)).collect();
        let verified = program(seed, schema.clone()).try_verify();
        // Every generated program is within the verifier's limits; a refusal is a generator bug.
        let verified = verified.map_err(|e| TestCaseError::fail(format!("seed {seed}: {e}")))?;
        assert_agree(&verified, &events);
    }
}

#[test]
fn many_rules_compile_into_one_program() {
    // The size knob of the scaling run: `VIGIL_TEST_SCALE` rules (default 300).
    let n: u64 = std::env::var("VIGIL_TEST_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let schema = schema();
    let verified = program_of(7, schema.clone(), Some(n)).verify();
    let compiled = vigil_runtime::jit::compile(&verified).expect("compiles");
    let stats = compiled.stats();
    assert_eq!(stats.rules as u64, n);
    assert!(stats.functions >= stats.rules);
    eprintln!(
        "{} rules, {} functions, {} bytes of code, compiled in {:?}",
        stats.rules, stats.functions, stats.code_bytes, stats.compile_time
    );
    let events: Vec<Event<'_>> = ["ev", "ev2"]
        .iter()
        .map(|ty| EventBuilder::new(&schema, *ty).expect("type").finish())
        .collect();
    assert_agree(&verified, &events);
}
