//! Small constructors for the syntax tree the importer emits. Every node gets the default
//! span: the tree is printed by [`crate::fmt`] and parsed again, never checked directly.

use vigil_grammar::ast::{
    BinOp, Expr, ExprKind, Ident, MetaEntry, MetaValue, Quantifier, StrLit, StrOp, UnOp,
};
use vigil_grammar::span::Span;

pub(crate) fn ident(name: &str) -> Ident {
    Ident {
        name: name.to_owned(),
        span: Span::default(),
        quoted: !crate::fmt::is_bare_name(name),
    }
}

pub(crate) fn e(kind: ExprKind) -> Expr {
    Expr::new(kind, Span::default())
}

pub(crate) fn str_lit(value: &str) -> StrLit {
    StrLit {
        value: value.to_owned(),
        span: Span::default(),
        content_offset: 0,
        verbatim: false,
    }
}

pub(crate) fn string(value: &str) -> Expr {
    e(ExprKind::Str(str_lit(value)))
}

pub(crate) fn int(v: i64) -> Expr {
    if v < 0 {
        e(ExprKind::Unary(
            UnOp::Neg,
            Box::new(e(ExprKind::Int(v.unsigned_abs()))),
        ))
    } else {
        e(ExprKind::Int(v.unsigned_abs()))
    }
}

pub(crate) fn name(n: &str) -> Expr {
    e(ExprKind::Name(ident(n)))
}

pub(crate) fn list(items: Vec<Expr>) -> Expr {
    e(ExprKind::List(items))
}

pub(crate) fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
    e(ExprKind::Binary(op, Box::new(a), Box::new(b)))
}

pub(crate) fn str_op(op: StrOp, a: Expr, b: Expr) -> Expr {
    bin(BinOp::Str(op), a, b)
}

pub(crate) fn any_all(op: StrOp, quant: Quantifier, lhs: Expr, items: Vec<Expr>) -> Expr {
    e(ExprKind::StrAnyAll {
        op,
        quant,
        lhs: Box::new(lhs),
        list: Box::new(list(items)),
    })
}

pub(crate) fn exists(field: Expr) -> Expr {
    e(ExprKind::Exists(Box::new(field)))
}

pub(crate) fn quant_any(binder: &str, over: Expr, body: Expr) -> Expr {
    e(ExprKind::Quant {
        quant: Quantifier::Any,
        binder: ident(binder),
        list: Box::new(over),
        body: Box::new(body),
    })
}

/// `not x`, with `not not x` folded.
pub(crate) fn not(x: Expr) -> Expr {
    match x.kind {
        ExprKind::Unary(UnOp::Not, ref inner) => (**inner).clone(),
        _ => e(ExprKind::Unary(UnOp::Not, Box::new(x))),
    }
}

/// `a and b and ...`, flattening nested `and`s; one operand is itself; none is `true`.
pub(crate) fn and(items: Vec<Expr>) -> Expr {
    nary(items, true)
}

/// `a or b or ...`, flattening nested `or`s; one operand is itself; none is `false`.
pub(crate) fn or(items: Vec<Expr>) -> Expr {
    nary(items, false)
}

fn nary(items: Vec<Expr>, is_and: bool) -> Expr {
    let mut flat = Vec::with_capacity(items.len());
    for mut x in items {
        match (&mut x.kind, is_and) {
            (ExprKind::And(v), true) | (ExprKind::Or(v), false) => flat.append(v),
            _ => flat.push(x),
        }
    }
    if !is_and {
        flat = merge_or(flat);
    }
    match flat.len() {
        0 => e(ExprKind::Bool(is_and)),
        1 => flat.pop().expect("one item"),
        _ if is_and => e(ExprKind::And(flat)),
        _ => e(ExprKind::Or(flat)),
    }
}

/// Merges the operands of an `or` that test one field with one operator into one test:
/// `f ieq "a" or f ieq "b"` → `f iin ["a", "b"]`, `f iendswith "a" or f iendswith any ["b"]` →
/// `f iendswith any ["a", "b"]`. Order is kept (at the first operand of each group).
fn merge_or(items: Vec<Expr>) -> Vec<Expr> {
    #[derive(PartialEq, Eq, Clone)]
    enum Key {
        Str(StrOp, String),
        In(BinOp, String),
    }
    fn key(x: &Expr) -> Option<(Key, Vec<Expr>)> {
        match &x.kind {
            ExprKind::Binary(BinOp::Str(StrOp::Ieq), l, r) => {
                let ExprKind::Name(n) = &l.kind else {
                    return None;
                };
                matches!(r.kind, ExprKind::Str(_))
                    .then(|| (Key::In(BinOp::IIn, n.name.clone()), vec![(**r).clone()]))
            }
            ExprKind::Binary(BinOp::Eq, l, r) => {
                let ExprKind::Name(n) = &l.kind else {
                    return None;
                };
                matches!(r.kind, ExprKind::Str(_) | ExprKind::Int(_))
                    .then(|| (Key::In(BinOp::In, n.name.clone()), vec![(**r).clone()]))
            }
            ExprKind::Binary(op @ (BinOp::In | BinOp::IIn), l, r) => {
                let ExprKind::Name(n) = &l.kind else {
                    return None;
                };
                let ExprKind::List(items) = &r.kind else {
                    return None;
                };
                Some((Key::In(*op, n.name.clone()), items.clone()))
            }
            ExprKind::Binary(BinOp::Str(op), l, r) => {
                let ExprKind::Name(n) = &l.kind else {
                    return None;
                };
                matches!(r.kind, ExprKind::Str(_))
                    .then(|| (Key::Str(*op, n.name.clone()), vec![(**r).clone()]))
            }
            ExprKind::StrAnyAll {
                op,
                quant: Quantifier::Any,
                lhs,
                list,
            } => {
                let ExprKind::Name(n) = &lhs.kind else {
                    return None;
                };
                let ExprKind::List(items) = &list.kind else {
                    return None;
                };
                Some((Key::Str(*op, n.name.clone()), items.clone()))
            }
            _ => None,
        }
    }
    let mut groups: Vec<(Option<Key>, Vec<Expr>, Option<Expr>)> = Vec::new();
    for x in items {
        match key(&x) {
            Some((k, vals)) => {
                if let Some(g) = groups.iter_mut().find(|g| g.0.as_ref() == Some(&k)) {
                    g.1.extend(vals);
                } else {
                    groups.push((Some(k), vals, None));
                }
            }
            None => groups.push((None, Vec::new(), Some(x))),
        }
    }
    groups
        .into_iter()
        .map(|(k, vals, x)| match (k, x) {
            (_, Some(x)) => x,
            (Some(Key::In(op, f)), None) => in_list(op, name(&f), vals),
            (Some(Key::Str(op, f)), None) => {
                if vals.len() == 1 {
                    str_op(op, name(&f), vals.into_iter().next().expect("one"))
                } else {
                    any_all(op, Quantifier::Any, name(&f), vals)
                }
            }
            (None, None) => e(ExprKind::Bool(false)),
        })
        .collect()
}

/// `f in [..]` / `f iin [..]`, or `==` / `ieq` for one value.
pub(crate) fn in_list(op: BinOp, lhs: Expr, mut vals: Vec<Expr>) -> Expr {
    // A network prefix (`"10.0.0.0/8"`) is only a prefix inside a list: `ip == "10.0.0.0/8"`
    // does not compile, so one prefix stays `ip in ["10.0.0.0/8"]` (for a string the two
    // forms mean the same).
    let prefix = matches!(vals.as_slice(), [v] if matches!(&v.kind, ExprKind::Str(s) if s.value.contains('/')));
    if vals.len() == 1 && !prefix {
        let v = vals.pop().expect("one");
        let eq = if op == BinOp::IIn {
            BinOp::Str(StrOp::Ieq)
        } else {
            BinOp::Eq
        };
        bin(eq, lhs, v)
    } else {
        bin(op, lhs, list(vals))
    }
}

pub(crate) fn meta_str(key: &str, v: &str) -> MetaEntry {
    MetaEntry {
        key: ident(key),
        value: MetaValue::Str(str_lit(v)),
    }
}

pub(crate) fn meta_word(key: &str, v: &str) -> MetaEntry {
    MetaEntry {
        key: ident(key),
        value: MetaValue::Word(ident(v)),
    }
}

pub(crate) fn meta_list(key: &str, v: &[String]) -> MetaEntry {
    MetaEntry {
        key: ident(key),
        value: MetaValue::List(
            v.iter().map(|s| MetaValue::Str(str_lit(s))).collect(),
            Span::default(),
        ),
    }
}

/// `len(x)`.
pub(crate) fn call_len(x: Expr) -> Expr {
    e(ExprKind::Call(ident("len"), vec![x]))
}
