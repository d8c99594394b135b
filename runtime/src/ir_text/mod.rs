//! The IR as text: a printer ([`print()`]) and a parser ([`parse`]) for the same form, lossless
//! (`parse(&print(p)) == Ok(p)` for every [`crate::ir::Program`], well-formed or not).
//! `vigil explain` prints its shape, node and root lines with it, and the verifier's corpus
//! (`tests/verify/*.vir`) is written in it. It must not depend on the schema or the builtin
//! registry: the text says everything the program holds.
//!
//! Modelled on Cranelift's CLIF: one item per line, nodes numbered `%N` in arena order, pool
//! entries `list#N`, `regex#N`, `field#N`, `builtin#N`; `;` starts a comment (outside strings).
//!
//! ```text
//! schema endpoint 1.1
//! field#0 = process_start.image : string, max_len 98304
//! field#1 = process_start.args : [string], max_len 98304, max_items 64
//!
//! rule encoded
//!   id: encoded
//!   title: encoded PowerShell
//!   severity: high
//!   meta attack = ["T1059.001"]
//!   on process_start
//!   %0 = field process_start.image : string
//!   %1 = const ".exe" : string
//!   %2 = str_test endswith fold %0, ".exe" : bool
//!   %3 = field process_start.args : [string]
//!   %4 = local $0 : string
//!   %5 = str_list eq fold any %4, list#0 ["-enc", "-e"] : bool
//!   %6 = quant any $0 in %3: %5 : bool
//!   %7 = and %2, %6 : bool
//!   when %7
//!   emit "{%0} ran encoded"
//!   field image = %0
//! ```
//!
//! - **Header** (before the first rule): `schema NAME MAJOR.MINOR`, then the field table
//!   (`field#N = EVENT.FIELD : TYPE[, max_len N][, max_items N]`), and, when they cannot be
//!   implied by the rules, the builtin table (`builtin#N = NAME(TYPE, ...) -> TYPE`), the string
//!   pool (`string#N = "..."`), constant lists (`list#N = [ITEMS]`) and regexes
//!   (`regex#N = "..."`). Declarations are numbered in order.
//! - **Rules**: `rule NAME`, then `id:`, `title:`, `severity: LEVEL [(shadow)]` (defaults: the
//!   name, the name, `medium`), `meta KEY = VALUE` lines, the shape (`on EVENTS`;
//!   `threshold COUNTING >= N within DURATION [by [KEYS] | ...] (STATE)`;
//!   `sequence within DURATION (STATE)`, `step NAME: EVENT by [KEYS]`,
//!   `capture #N = STEP.FIELD`), the nodes, then the roots (`when X`, `step NAME when X`,
//!   `emit "TEMPLATE"`, `field NAME = X`). `when (always)` is no condition.
//! - **Nodes**: `%N = OP OPERANDS : TYPE`, exactly as `vigil explain` prints them. An operand is
//!   `%N`, or a scalar constant written inline (`5`, `true`, `10.0.0.1`, `"x"`), which stands
//!   for the nearest earlier node holding that constant at its own type. A string constant is
//!   written by its text (interned on first use when the header does not declare it), `str#N`
//!   when the pool holds the text more than once; a field by `EVENT.FIELD` (`field#N` for a
//!   duplicate or an id out of range), a step's key or capture by the field's short name; a
//!   list `list#N [ITEMS]` (defines entry N when it is the next one, else must equal it; a bare
//!   `list#N` refers without checking; the item type is written before the brackets, as in
//!   `list#0 string []`, only when the items do not imply it); a regex `regex#N "PATTERN"`
//!   likewise; a builtin by name (declared on first use from its operands' and result's types
//!   when the header does not declare it), `builtin#N` for an id out of range.
//! - **Templates**: `{%N}` (or an inline constant) is a value, `{{` and `}}` are braces, `{}`
//!   ends a literal part (so adjacent or empty literal parts survive a round trip).
//! - Names are bare when they are identifiers, else quoted like strings (Rust escapes).
//!
//! [`parse`] never panics: any text gives a program or a [`ParseError`] with its line and
//! column. [`parse_lines`] also says what each line declares, which the verifier corpus uses to
//! check that an error is reported at the line annotated `; error: E04xx`.

mod parse;
mod print;

use std::fmt;

use crate::ir::{CallId, ExprId, FieldRef, RuleId};

pub use parse::{parse, parse_lines};
pub use print::{duration, print, root_lines, rule_node_lines, shape_lines, Style};

/// What one line of IR text declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LineItem {
    /// A blank or comment-only line.
    Blank,
    /// A header line other than a field or builtin: the schema, a pool entry.
    Header,
    /// A field table entry.
    Field(FieldRef),
    /// A builtin table entry.
    Builtin(CallId),
    /// A line of a rule other than a node: its name, meta, shape or roots.
    Rule(RuleId),
    /// A node of a rule.
    Node(RuleId, ExprId),
}

/// One line of parsed IR text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// What it declares.
    pub item: LineItem,
    /// Its comment, without the `;` and surrounding spaces (`error: E0404`).
    pub comment: Option<String>,
}

/// Text that is not IR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Lower case, no final period.
    pub message: String,
}

impl fmt::Display for ParseError {
    /// `LINE:COLUMN: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests;
