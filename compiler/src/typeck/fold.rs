//! A small constant folder, used only to warn about conditions that are always true or
//! always false (W0302). It evaluates literals, `not`, `and`/`or` (a constant `false` in an
//! `and` makes it false whatever the rest is), arithmetic, comparisons, case-sensitive string
//! tests, membership in list literals, and builtin calls on constants (through the builtin's
//! own `eval`). Every operator means what it means at run time: arithmetic, comparison, string
//! tests and membership are the runtime's own ([`vigil_runtime::ops`], which the interpreter
//! and the JIT call too), never a copy. Lowering has its own folder; this one never changes
//! the program.

use std::collections::HashMap;

use vigil_runtime::builtins;
use vigil_runtime::ops;
use vigil_runtime::value::Value;

use super::Checker;
use crate::hir::{ExprId, ExprKind};

/// The constant value of the tree rooted at `root`, if it has one.
pub(crate) fn fold(c: &Checker<'_>, root: ExprId) -> Option<Value<'static>> {
    // Collect the nodes under the root, then evaluate them in id order (operands first).
    let mut nodes = Vec::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        nodes.push(id);
        c.module.expr(id).kind.for_each_operand(|o| stack.push(o));
    }
    nodes.sort_unstable();
    nodes.dedup();
    let mut values: HashMap<ExprId, Value<'static>> = HashMap::new();
    for id in nodes {
        if let Some(v) = eval(c, id, &values) {
            values.insert(id, v);
        }
    }
    values.remove(&root)
}

fn eval(
    c: &Checker<'_>,
    id: ExprId,
    values: &HashMap<ExprId, Value<'static>>,
) -> Option<Value<'static>> {
    let get = |x: &ExprId| values.get(x);
    Some(match &c.module.expr(id).kind {
        ExprKind::Bool(_)
        | ExprKind::Int(_)
        | ExprKind::Str(_)
        | ExprKind::Ip(_)
        | ExprKind::Cidr(..) => c.const_value(id)?,
        ExprKind::List(items) => Value::List(
            items
                .iter()
                .map(|i| get(i).cloned())
                .collect::<Option<Vec<_>>>()?,
        ),
        ExprKind::Not(a) => Value::Bool(!get(a)?.as_bool()?),
        ExprKind::Neg(a) => Value::Int(get(a)?.as_int()?.wrapping_neg()),
        ExprKind::And(v) => {
            let mut all = true;
            for x in v {
                match get(x).and_then(Value::as_bool) {
                    Some(false) => return Some(Value::Bool(false)),
                    Some(true) => {}
                    None => all = false,
                }
            }
            if !all {
                return None;
            }
            Value::Bool(true)
        }
        ExprKind::Or(v) => {
            let mut all = true;
            for x in v {
                match get(x).and_then(Value::as_bool) {
                    Some(true) => return Some(Value::Bool(true)),
                    Some(false) => {}
                    None => all = false,
                }
            }
            if !all {
                return None;
            }
            Value::Bool(false)
        }
        ExprKind::Arith(op, a, b) => {
            Value::Int(ops::arith(*op, get(a)?.as_int()?, get(b)?.as_int()?))
        }
        ExprKind::Cmp(op, a, b) => Value::Bool(ops::compare(*op, get(a)?, get(b)?)?),
        ExprKind::StrTest {
            op,
            fold: false,
            lhs,
            rhs,
        } => {
            let (a, b) = (get(lhs)?.as_str()?, get(rhs)?.as_str()?);
            Value::Bool(ops::str_test(*op, a, b))
        }
        ExprKind::Member {
            lhs,
            list,
            fold: false,
        } => {
            let a = get(lhs)?;
            let items = get(list)?.as_list()?;
            Value::Bool(items.iter().any(|item| ops::member_eq(a, item, false)))
        }
        ExprKind::CallBuiltin { builtin, args } => {
            let b = builtins::BUILTINS.get(builtin.0 as usize)?;
            if b.params
                .iter()
                .any(|p| matches!(p, builtins::ParamTy::FieldRef(_)))
            {
                return None;
            }
            let args: Vec<Value<'static>> = args
                .iter()
                .map(|a| get(a).cloned())
                .collect::<Option<Vec<_>>>()?;
            (b.eval)(&args)
        }
        _ => return None,
    })
}
