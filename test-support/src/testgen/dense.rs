//! The dense generator: random programs over a small test schema with every field type and
//! tight bounds ([`schema`]: strings of at most 8 bytes, lists of at most 3 items), so that
//! generated events reach every bound often. Programs have 1 to 5 single-event rules whose
//! conditions use every node kind: arithmetic with zero divisors and `i64::MIN`, comparisons of
//! every scalar type, string tests folded and not, string lists any/all including empty ones,
//! membership of strings, ints, ips and ips in cidrs, regexes, every builtin the table offers
//! for a position, quantifiers (nested) over list fields and constant lists, `exists` and
//! `truncated`, nested `and`/`or`/`not`. The JIT's differential tests use it; the events are
//! theirs to generate ([`WORDS`], [`INTS`], [`IPS`] are the values worth reaching).

use std::net::IpAddr;

use vigil_runtime::ir::{ArithOp, CmpOp, Const, ExprId, ExprKind, ListId, LocalId, Quant, StrTest};
use vigil_runtime::schema::Schema;
use vigil_runtime::types::{Scalar, Ty};

use super::{choose, table};
use crate::builder::{Prog, Rb};
use crate::rng::SplitMix64;

/// Two event types with every field type. Strings are at most 8 bytes and lists at most 3
/// items, so generated values reach the bounds often.
pub const TEST_SCHEMA: &str = r#"
name = "jittest"
version = "1.0"

[events.ev]
description = "every field type"
fields = [
  { name = "time",  type = "int", description = "t" },
  { name = "host",  type = "string", max_len = 8, description = "h" },
  { name = "s1",    type = "string", max_len = 8, description = "a string" },
  { name = "s2",    type = "string", max_len = 8, description = "a string" },
  { name = "n1",    type = "int", description = "an int" },
  { name = "n2",    type = "int", description = "an int" },
  { name = "b1",    type = "bool", description = "a bool" },
  { name = "ip1",   type = "ip", description = "an ip" },
  { name = "ip2",   type = "ip", description = "an ip" },
  { name = "args",  type = "[string]", max_items = 3, max_len = 8, description = "strings" },
  { name = "ports", type = "[int]", max_items = 3, description = "ints" },
  { name = "addrs", type = "[ip]", max_items = 3, description = "ips" },
]

[events.ev2]
description = "the same names at other indexes"
fields = [
  { name = "b1",    type = "bool", description = "a bool" },
  { name = "time",  type = "int", description = "t" },
  { name = "n2",    type = "int", description = "an int" },
  { name = "s2",    type = "string", max_len = 8, description = "a string" },
  { name = "host",  type = "string", max_len = 8, description = "h" },
  { name = "n1",    type = "int", description = "an int" },
  { name = "s1",    type = "string", max_len = 8, description = "a string" },
  { name = "ip1",   type = "ip", description = "an ip" },
  { name = "ip2",   type = "ip", description = "an ip" },
  { name = "args",  type = "[string]", max_items = 3, max_len = 8, description = "strings" },
  { name = "ports", type = "[int]", max_items = 3, description = "ints" },
  { name = "addrs", type = "[ip]", max_items = 3, description = "ips" },
]
"#;

/// The test schema, parsed.
///
/// # Panics
/// Never: the schema is a constant checked by the tests.
pub fn schema() -> Schema {
    Schema::from_toml("jittest.toml", TEST_SCHEMA).expect("the test schema is valid")
}

/// Strings that exercise the edges: empty, exactly 8 bytes (the bound), folds that change
/// length (`ẞ` 3 bytes folds to `ß` 2, Kelvin sign 3 bytes folds to `k` 1), no simple fold
/// (`İ`), final sigma, separators, NUL.
pub const WORDS: &[&str] = &[
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
pub const INTS: &[i64] = &[
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
pub const IPS: &[&str] = &[
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

/// An address of [`IPS`].
///
/// # Panics
/// When `s` is not an address: a test bug.
pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test ip")
}

/// Which fields a position may read, and the quantifier variables in scope.
#[derive(Clone)]
struct Scope {
    locals: Vec<Scalar>,
}

struct Gen {
    rng: SplitMix64,
    p: Prog,
    /// The event type field requirements name (the rule's first).
    event: &'static str,
}

impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        self.rng.pick(items)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.rng.chance(percent)
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
                    let name = choose(&mut self.rng, &table().field_flags);
                    self.call(rb, name, vec![arg], &[ty], Ty::BOOL)
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
                let name = self.pick(&table().str_to_str);
                let arg = self.str_expr(rb, s, depth - 1);
                self.call(rb, name, vec![arg], &[Ty::STR], Ty::STR)
            }
            _ => {
                let arg = self.str_expr(rb, s, depth - 1);
                let start = self.int_expr(rb, s, 0);
                let len = self.int_expr(rb, s, 0);
                let name = choose(&mut self.rng, &table().slices);
                self.call(
                    rb,
                    name,
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
                let name = self.pick(&table().str_to_int);
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
                let name = choose(&mut self.rng, &table().lengths);
                self.call(rb, name, vec![arg], &[ty], Ty::INT)
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

/// A random program of 1 to 5 single-event rules over `schema` (the [`schema`] of this
/// module, or one with the same fields), deterministic in `seed`.
pub fn program(seed: u64, schema: Schema) -> Prog {
    program_of(seed, schema, None)
}

/// A random program of `rules` rules (1 to 5 when `None`) over `schema` (see [`program`]).
pub fn program_of(seed: u64, schema: Schema, rules: Option<u64>) -> Prog {
    let mut g = Gen {
        rng: SplitMix64::new(seed),
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
