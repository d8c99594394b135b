//! Sigma searches to Vigil expressions: field keys with modifiers, value lists (OR), maps
//! (AND), keywords, null, and the typed forms each schema field type needs.
//!
//! Input: one named search of `detection` and the log source's [`Source`]; output: an
//! [`ast::Expr`] that means exactly what the search means, or a [`Refusal`]. Never guesses: a
//! construct without an exact equivalent is refused with its reason.

use std::net::IpAddr;

use vigil_grammar::ast::{BinOp, Expr, Quantifier, StrOp};
use vigil_runtime::types::{Scalar, Ty};
use yaml_rust2::Yaml;

use super::build as b;
use super::error::{ErrorCode, Refusal, Result};
use super::logsource::{Field, Source};
use super::placeholder::Placeholders;
use super::rule::scalar_text;
use super::value::{self, Anchor, Pattern, SigmaStr, Utf16};

/// The most values one rule may hold after expansion (windash, base64offset).
pub const MAX_VALUES: usize = 4096;
/// The binder name used to test the items of a list field.
const ITEM: &str = "item";

/// Converts searches, counting values against [`MAX_VALUES`].
pub(crate) struct Converter<'a> {
    pub(crate) source: &'a Source,
    /// Values for `expand` placeholders.
    placeholders: &'a Placeholders,
    /// The log source's label, for messages.
    pub(crate) label: String,
    values: usize,
    /// Sigma fields the rule uses that have no mapping (all are reported, the first refuses).
    pub(crate) unmapped: Vec<String>,
}

/// The modifiers of one field key, classified.
#[derive(Default)]
struct Mods {
    anchor: Option<Anchor>,
    all: bool,
    cased: bool,
    re: bool,
    re_flags: String,
    cidr: bool,
    exists: bool,
    fieldref: bool,
    neq: bool,
    cmp: Option<BinOp>,
    /// `expand`: values name placeholders (`%name%`) to replace first.
    expand: bool,
    /// Value transformations in the order written.
    encodings: Vec<Enc>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Enc {
    Windash,
    Base64,
    Base64Offset,
    Utf16(Utf16),
}

/// A value on its way through the encodings.
enum Val {
    Str(SigmaStr),
    Bytes(Vec<u8>),
}

impl<'a> Converter<'a> {
    pub(crate) fn new(source: &'a Source, placeholders: &'a Placeholders, label: String) -> Self {
        Converter {
            source,
            placeholders,
            label,
            values: 0,
            unmapped: Vec::new(),
        }
    }

    fn count(&mut self, n: usize) -> Result<()> {
        self.values += n;
        if self.values > MAX_VALUES {
            return Err(Refusal::new(
                ErrorCode::TooManyValues,
                format!("the rule has more than {MAX_VALUES} values"),
            ));
        }
        Ok(())
    }

    /// One named search.
    pub(crate) fn search(&mut self, y: &Yaml) -> Result<Expr> {
        match y {
            Yaml::Hash(h) => {
                if h.is_empty() {
                    return Err(Refusal::new(
                        ErrorCode::InvalidRule,
                        "a search is an empty map",
                    ));
                }
                let mut parts = Vec::with_capacity(h.len());
                for (k, v) in h {
                    let key = scalar_text(k).ok_or_else(|| {
                        Refusal::new(ErrorCode::InvalidRule, "a field name is not a string")
                    })?;
                    parts.push(self.field_item(&key, v)?);
                }
                Ok(b::and(parts))
            }
            Yaml::Array(items) => {
                if items.is_empty() {
                    return Err(Refusal::new(
                        ErrorCode::InvalidRule,
                        "a search is an empty list",
                    ));
                }
                let mut alts = Vec::with_capacity(items.len());
                let mut keywords = Vec::new();
                for it in items {
                    match it {
                        Yaml::Hash(_) => alts.push(self.search(it)?),
                        Yaml::Array(_) => {
                            return Err(Refusal::new(
                                ErrorCode::InvalidRule,
                                "a search list holds a nested list",
                            ))
                        }
                        other => keywords.push(other.clone()),
                    }
                }
                if !keywords.is_empty() {
                    alts.push(self.keywords(&keywords)?);
                }
                Ok(b::or(alts))
            }
            Yaml::String(_) | Yaml::Integer(_) | Yaml::Real(_) | Yaml::Boolean(_) => {
                self.keywords(std::slice::from_ref(y))
            }
            _ => Err(Refusal::new(
                ErrorCode::InvalidRule,
                "a search is neither a map nor a list",
            )),
        }
    }

    /// Field-less values: each must occur in some string field of the event.
    fn keywords(&mut self, values: &[Yaml]) -> Result<Expr> {
        let mods = Mods {
            anchor: Some(Anchor::Contains),
            ..Mods::default()
        };
        self.keywords_with(&mods, values)
    }

    /// A keyword search with modifiers (`'|all': [...]`, `'|contains|cased': ...`): the
    /// modifiers that keep "occurs in some string field" exact: `contains` (the keyword
    /// default), `all` (every value occurs, each in some field), `cased` and the value
    /// encodings. Anchors, regexes and typed tests have no field to anchor to and are refused.
    fn keyword_item(&mut self, mut mods: Mods, v: &Yaml) -> Result<Expr> {
        let refused = if mods.anchor.is_some_and(|a| a != Anchor::Contains) {
            Some("`startswith`/`endswith`")
        } else if mods.re {
            Some("`re`")
        } else if mods.cidr {
            Some("`cidr`")
        } else if mods.exists || mods.fieldref || mods.neq || mods.cmp.is_some() {
            Some("a typed or field-reference modifier")
        } else {
            None
        };
        if let Some(what) = refused {
            return Err(Refusal::new(
                ErrorCode::UnsupportedModifier,
                format!("{what} on a keyword search (a key without a field name)"),
            ));
        }
        mods.anchor = Some(Anchor::Contains);
        let values = self.expand(&mods, v)?;
        if values.is_empty() {
            return Err(Refusal::new(
                ErrorCode::InvalidRule,
                "a keyword search has an empty value list",
            ));
        }
        if mods.all {
            mods.all = false;
            let mut parts = Vec::with_capacity(values.len());
            for v in &values {
                parts.push(self.keywords_with(&mods, std::slice::from_ref(v))?);
            }
            return Ok(b::and(parts));
        }
        self.keywords_with(&mods, &values)
    }

    /// Keyword values under the given modifiers: OR over the string fields.
    fn keywords_with(&mut self, mods: &Mods, values: &[Yaml]) -> Result<Expr> {
        let fields = self.source.string_fields.clone();
        if fields.is_empty() {
            return Err(Refusal::new(
                ErrorCode::UnsupportedCondition,
                format!(
                    "keyword search on `{}`, whose events have no string field",
                    self.label
                ),
            ));
        }
        let mut alts = Vec::with_capacity(fields.len());
        for f in &fields {
            alts.push(self.values(f, mods, values)?);
        }
        Ok(b::or(alts))
    }

    /// `Field|mod|mod: value(s)`.
    fn field_item(&mut self, key: &str, v: &Yaml) -> Result<Expr> {
        let mut parts = key.split('|');
        let sigma_name = parts.next().unwrap_or_default();
        let mods = modifiers(parts)?;
        if sigma_name.is_empty() {
            // `|contains: ...` without a field name: a keyword search with modifiers.
            return self.keyword_item(mods, v);
        }
        let field = self.field(sigma_name)?;
        let values = self.expand(&mods, v)?;
        if values.is_empty() {
            return Err(Refusal::new(
                ErrorCode::InvalidRule,
                format!("field `{sigma_name}` has an empty value list"),
            ));
        }
        self.values(&field, &mods, &values)
    }

    /// A value or value list as a list, placeholders expanded under `expand`.
    fn expand(&self, mods: &Mods, v: &Yaml) -> Result<Vec<Yaml>> {
        let values: Vec<Yaml> = match v {
            Yaml::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        if mods.expand {
            return self.placeholders.expand(&values, MAX_VALUES);
        }
        Ok(values)
    }

    fn field(&mut self, sigma_name: &str) -> Result<Field> {
        if let Some(f) = self.source.fields.get(sigma_name) {
            return Ok(f.clone());
        }
        if !self.unmapped.iter().any(|u| u == sigma_name) {
            self.unmapped.push(sigma_name.to_owned());
        }
        let detail = if self.source.partial.contains_key(sigma_name) {
            format!(
                " (only some of `{}` have it)",
                self.source.events.join("`, `")
            )
        } else if let Some(field) = self.source.missing.get(sigma_name) {
            format!(
                " (the schema has no `{field}` on `{}`)",
                self.source.events.join("`, `")
            )
        } else {
            String::new()
        };
        Err(Refusal::new(
            ErrorCode::UnmappedField,
            format!(
                "unmapped field `{sigma_name}` for logsource `{}`{detail}",
                self.label
            ),
        ))
    }

    /// The values of one field item: OR, or AND under `all`.
    fn values(&mut self, f: &Field, mods: &Mods, values: &[Yaml]) -> Result<Expr> {
        self.count(values.len())?;
        if mods.exists {
            let [Yaml::Boolean(want)] = values else {
                return Err(Refusal::new(
                    ErrorCode::SigmaTypeMismatch,
                    format!("`{}|exists` takes one `true` or `false`", f.name),
                ));
            };
            let e = b::exists(b::name(&f.name));
            return Ok(if *want { e } else { b::not(e) });
        }
        if mods.fieldref {
            return self.fieldref(f, mods, values);
        }
        if let Ty::List(Scalar::Str) = f.ty {
            // Any item matching: `any(item in data, ...)`. Under `all`, each value may match a
            // different item.
            let item = Field {
                name: ITEM.to_owned(),
                ty: Ty::STR,
            };
            let over = || b::name(&f.name);
            if mods.all {
                let mut parts = Vec::with_capacity(values.len());
                for v in values {
                    let body = self.scalar_values(&item, mods, std::slice::from_ref(v))?;
                    parts.push(b::quant_any(ITEM, over(), body));
                }
                return Ok(b::and(parts));
            }
            // Null means "no items": test the list, not an item.
            let (nulls, rest): (Vec<&Yaml>, Vec<&Yaml>) =
                values.iter().partition(|v| matches!(v, Yaml::Null));
            let mut alts = Vec::new();
            if !nulls.is_empty() {
                alts.push(b::bin(BinOp::Eq, b::call_len(over()), b::int(0)));
            }
            if !rest.is_empty() {
                let rest: Vec<Yaml> = rest.into_iter().cloned().collect();
                let body = self.scalar_values(&item, mods, &rest)?;
                alts.push(b::quant_any(ITEM, over(), body));
            }
            return Ok(b::or(alts));
        }
        if f.ty.is_list() {
            return Err(Refusal::new(
                ErrorCode::SigmaTypeMismatch,
                format!("field `{}` is a list of non-strings", f.name),
            ));
        }
        if mods.all {
            let mut parts = Vec::with_capacity(values.len());
            for v in values {
                parts.push(self.scalar_values(f, mods, std::slice::from_ref(v))?);
            }
            // Merge `f icontains "a" and f icontains "b"` into `f icontains all [...]`.
            return Ok(merge_all(parts));
        }
        self.scalar_values(f, mods, values)
    }

    /// OR over values on a scalar field (or the binder of a list field).
    fn scalar_values(&mut self, f: &Field, mods: &Mods, values: &[Yaml]) -> Result<Expr> {
        let lhs = || b::name(&f.name);
        let mut alts = Vec::with_capacity(values.len());
        for v in values {
            if matches!(v, Yaml::Null) {
                alts.push(if mods.neq {
                    b::exists(lhs())
                } else {
                    b::not(b::exists(lhs()))
                });
                continue;
            }
            let Some(text) = scalar_text(v) else {
                return Err(Refusal::new(
                    ErrorCode::InvalidRule,
                    format!("a value of `{}` is not a scalar", f.name),
                ));
            };
            let typed = matches!(f.ty, Ty::Scalar(Scalar::Int | Scalar::Bool | Scalar::Ip));
            if typed
                && (text.is_empty() || text == "-")
                && mods.anchor.is_none()
                && mods.cmp.is_none()
                && !mods.re
            {
                // The decoder reads `""` and `-` as absent for non-strings (the coercion
                // table), so these values are the absent field.
                alts.push(if mods.neq {
                    b::exists(lhs())
                } else {
                    b::not(b::exists(lhs()))
                });
                continue;
            }
            let e = match f.ty {
                Ty::Scalar(Scalar::Str) => self.string_value(f, mods, &text)?,
                Ty::Scalar(Scalar::Int) => int_value(f, mods, v, &text)?,
                Ty::Scalar(Scalar::Bool) => bool_value(f, mods, v, &text)?,
                Ty::Scalar(Scalar::Ip) => ip_value(f, mods, &text)?,
                _ => {
                    return Err(Refusal::new(
                        ErrorCode::SigmaTypeMismatch,
                        format!("field `{}` has a type Sigma values cannot name", f.name),
                    ))
                }
            };
            alts.push(e);
        }
        Ok(b::or(merge_regexes(alts)))
    }

    fn string_value(&mut self, f: &Field, mods: &Mods, text: &str) -> Result<Expr> {
        if mods.cmp.is_some() {
            return Err(Refusal::new(
                ErrorCode::SigmaTypeMismatch,
                format!("`lt`/`gt` on the string field `{}`", f.name),
            ));
        }
        if mods.cidr {
            return Err(Refusal::new(
                ErrorCode::SigmaTypeMismatch,
                format!("`cidr` on `{}`, which is a string, not an ip", f.name),
            ));
        }
        let lhs = || b::name(&f.name);
        if mods.re {
            let re = format!("{}{text}", mods.re_flags);
            check_regex(&re)?;
            let e = b::bin(BinOp::Matches, lhs(), b::string(&re));
            return Ok(if mods.neq { b::not(e) } else { e });
        }
        let patterns = self.patterns(mods, text)?;
        let dash = patterns.iter().any(|p| match p {
            Pattern::Eq(s) | Pattern::Contains(s) | Pattern::Start(s) | Pattern::End(s) => {
                s == "-" || s.is_empty() && !matches!(p, Pattern::Eq(_))
            }
            Pattern::Regex(_) | Pattern::Any => false,
        });
        let mut alts = Vec::with_capacity(patterns.len() + 1);
        for p in patterns {
            let (op_i, op_c) = match &p {
                Pattern::Eq(_) => (StrOp::Ieq, None),
                Pattern::Contains(_) => (StrOp::IContains, Some(StrOp::Contains)),
                Pattern::Start(_) => (StrOp::IStartsWith, Some(StrOp::StartsWith)),
                Pattern::End(_) => (StrOp::IEndsWith, Some(StrOp::EndsWith)),
                Pattern::Regex(_) | Pattern::Any => (StrOp::Ieq, None),
            };
            let e = match p {
                Pattern::Any => b::exists(lhs()),
                Pattern::Regex(re) => {
                    check_regex(&re)?;
                    b::bin(BinOp::Matches, lhs(), b::string(&re))
                }
                Pattern::Eq(s) if mods.cased || s.is_empty() || !has_case(&s) => {
                    b::bin(BinOp::Eq, lhs(), b::string(&s))
                }
                Pattern::Eq(s) => b::str_op(StrOp::Ieq, lhs(), b::string(&s)),
                Pattern::Contains(s) | Pattern::Start(s) | Pattern::End(s) => {
                    let op = match op_c {
                        Some(c) if mods.cased || !has_case(&s) => c,
                        _ => op_i,
                    };
                    b::str_op(op, lhs(), b::string(&s))
                }
            };
            alts.push(e);
        }
        if dash && f.name != ITEM && self.source.dash_is_absent {
            // The decoder reads Windows' "no value" placeholder `-` as absent (the coercion
            // table): a test the text `-` passes also passes an absent field.
            alts.push(b::not(b::exists(lhs())));
        }
        let e = b::or(alts);
        Ok(if mods.neq { b::not(e) } else { e })
    }

    /// The patterns one string value stands for, after the encodings.
    fn patterns(&mut self, mods: &Mods, text: &str) -> Result<Vec<Pattern>> {
        let mut vals = vec![Val::Str(SigmaStr::parse(text))];
        for enc in &mods.encodings {
            let mut next = Vec::with_capacity(vals.len());
            for v in vals {
                match (enc, v) {
                    (Enc::Windash, Val::Str(s)) => {
                        next.extend(value::windash(&s, MAX_VALUES)?.into_iter().map(Val::Str));
                    }
                    (Enc::Utf16(u), Val::Str(s)) => {
                        let lit = literal_for_encoding(&s)?;
                        next.push(Val::Bytes(value::utf16(&lit, *u)));
                    }
                    (Enc::Base64 | Enc::Base64Offset, v) => {
                        let bytes = match v {
                            Val::Str(s) => literal_for_encoding(&s)?.into_bytes(),
                            Val::Bytes(b) => b,
                        };
                        if *enc == Enc::Base64 {
                            next.push(Val::Str(SigmaStr::literal(&value::base64(&bytes))));
                        } else {
                            next.extend(
                                value::base64_offsets(&bytes)
                                    .iter()
                                    .map(|s| Val::Str(SigmaStr::literal(s))),
                            );
                        }
                    }
                    (_, Val::Bytes(_)) => {
                        return Err(Refusal::new(
                            ErrorCode::UnsupportedModifier,
                            "a modifier after a UTF-16 encoding that is not `base64`",
                        ))
                    }
                }
            }
            vals = next;
        }
        self.count(vals.len().saturating_sub(1))?;
        let anchor = mods.anchor.unwrap_or(Anchor::Whole);
        vals.into_iter()
            .map(|v| match v {
                Val::Str(s) => Ok(value::compile(&s, anchor, mods.cased)),
                Val::Bytes(_) => Err(Refusal::new(
                    ErrorCode::UnsupportedModifier,
                    "a UTF-16 encoding not followed by `base64`/`base64offset` has no text form",
                )),
            })
            .collect()
    }

    fn fieldref(&mut self, f: &Field, mods: &Mods, values: &[Yaml]) -> Result<Expr> {
        let mut alts = Vec::with_capacity(values.len());
        for v in values {
            let other = scalar_text(v).ok_or_else(|| {
                Refusal::new(
                    ErrorCode::InvalidRule,
                    "a `fieldref` value is not a field name",
                )
            })?;
            let g = self.field(&other)?;
            if g.ty != f.ty {
                return Err(Refusal::new(
                    ErrorCode::SigmaTypeMismatch,
                    format!(
                        "`fieldref` compares `{}` and `{}` of different types",
                        f.name, g.name
                    ),
                ));
            }
            let (l, r) = (b::name(&f.name), b::name(&g.name));
            let e = if f.ty == Ty::STR {
                let op = match (mods.anchor.unwrap_or(Anchor::Whole), mods.cased) {
                    (Anchor::Whole, false) => StrOp::Ieq,
                    (Anchor::Whole, true) => {
                        alts.push(b::bin(BinOp::Eq, l, r));
                        continue;
                    }
                    (Anchor::Contains, false) => StrOp::IContains,
                    (Anchor::Contains, true) => StrOp::Contains,
                    (Anchor::Start, false) => StrOp::IStartsWith,
                    (Anchor::Start, true) => StrOp::StartsWith,
                    (Anchor::End, false) => StrOp::IEndsWith,
                    (Anchor::End, true) => StrOp::EndsWith,
                };
                b::str_op(op, l, r)
            } else if mods.anchor.is_none() && !f.ty.is_list() {
                b::bin(BinOp::Eq, l, r)
            } else {
                return Err(Refusal::new(
                    ErrorCode::SigmaTypeMismatch,
                    format!(
                        "`fieldref` with a string modifier on the non-string `{}`",
                        f.name
                    ),
                ));
            };
            alts.push(e);
        }
        let e = if mods.all { b::and(alts) } else { b::or(alts) };
        Ok(if mods.neq { b::not(e) } else { e })
    }
}

/// Whether case folding can change the text (else `==` / `contains` are exact and cheaper).
fn has_case(s: &str) -> bool {
    s.chars().any(|c| {
        let mut lower = c.to_lowercase();
        let mut upper = c.to_uppercase();
        !(lower.next() == Some(c)
            && lower.next().is_none()
            && upper.next() == Some(c)
            && upper.next().is_none())
    })
}

/// A value that an encoding modifier reads must be a literal (wildcards cannot be encoded).
fn literal_for_encoding(s: &SigmaStr) -> Result<String> {
    s.as_literal().ok_or_else(|| {
        Refusal::new(
            ErrorCode::UnsupportedModifier,
            "wildcards in a value that is base64 or UTF-16 encoded",
        )
    })
}

/// Checks a regex the way the compiler will: Rust's syntax, no lookaround, no backreferences.
pub(crate) fn check_regex(re: &str) -> Result<()> {
    regex_syntax::ParserBuilder::new()
        .build()
        .parse(re)
        .map(|_| ())
        .map_err(|e| {
            let first = e.to_string().lines().last().unwrap_or_default().to_owned();
            Refusal::new(
                ErrorCode::UnsupportedRegex,
                format!(
                    "regex `{re}` is not accepted by the linear-time engine: {}",
                    first.trim()
                ),
            )
        })
}

fn modifiers<'s>(parts: impl Iterator<Item = &'s str>) -> Result<Mods> {
    let mut m = Mods::default();
    let mut re_mods = Vec::new();
    for p in parts {
        let set_anchor = |m: &mut Mods, a| {
            if m.anchor.is_some() {
                return Err(Refusal::new(
                    ErrorCode::UnsupportedModifier,
                    "two of `contains`, `startswith`, `endswith` on one field",
                ));
            }
            m.anchor = Some(a);
            Ok(())
        };
        match p {
            "contains" => set_anchor(&mut m, Anchor::Contains)?,
            "startswith" => set_anchor(&mut m, Anchor::Start)?,
            "endswith" => set_anchor(&mut m, Anchor::End)?,
            "all" => m.all = true,
            "cased" => m.cased = true,
            "re" => m.re = true,
            "i" | "ignorecase" => re_mods.push('i'),
            "m" | "multiline" => re_mods.push('m'),
            "s" | "dotall" => re_mods.push('s'),
            "cidr" => m.cidr = true,
            "exists" => m.exists = true,
            "fieldref" => m.fieldref = true,
            "neq" => m.neq = true,
            "lt" => m.cmp = Some(BinOp::Lt),
            "lte" => m.cmp = Some(BinOp::Le),
            "gt" => m.cmp = Some(BinOp::Gt),
            "gte" => m.cmp = Some(BinOp::Ge),
            "base64" => m.encodings.push(Enc::Base64),
            "base64offset" => m.encodings.push(Enc::Base64Offset),
            "utf16le" | "wide" => m.encodings.push(Enc::Utf16(Utf16::Le)),
            "utf16be" => m.encodings.push(Enc::Utf16(Utf16::Be)),
            "utf16" => m.encodings.push(Enc::Utf16(Utf16::LeBom)),
            "windash" => m.encodings.push(Enc::Windash),
            "expand" => m.expand = true,
            other => {
                return Err(Refusal::new(
                    ErrorCode::UnknownModifier,
                    format!("unknown modifier `{other}`"),
                ))
            }
        }
    }
    if !re_mods.is_empty() {
        if !m.re {
            return Err(Refusal::new(
                ErrorCode::UnsupportedModifier,
                "regex flags `i`, `m`, `s` without `re`",
            ));
        }
        m.re_flags = format!("(?{})", re_mods.iter().collect::<String>());
    }
    if m.re && (m.anchor.is_some() || !m.encodings.is_empty() || m.cidr) {
        return Err(Refusal::new(
            ErrorCode::UnsupportedModifier,
            "`re` combined with a string or encoding modifier",
        ));
    }
    if m.exists && (m.anchor.is_some() || m.re || m.all || !m.encodings.is_empty()) {
        return Err(Refusal::new(
            ErrorCode::UnsupportedModifier,
            "`exists` combined with another modifier",
        ));
    }
    if m.cmp.is_some() && (m.anchor.is_some() || m.re || !m.encodings.is_empty()) {
        return Err(Refusal::new(
            ErrorCode::UnsupportedModifier,
            "`lt`/`lte`/`gt`/`gte` combined with a string modifier",
        ));
    }
    Ok(m)
}

fn parse_int(v: &Yaml, text: &str) -> Option<i64> {
    if let Yaml::Integer(i) = v {
        return Some(*i);
    }
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    t.parse().ok()
}

fn int_value(f: &Field, mods: &Mods, v: &Yaml, text: &str) -> Result<Expr> {
    if mods.anchor.is_some() || mods.re || mods.cidr || !mods.encodings.is_empty() {
        return Err(Refusal::new(
            ErrorCode::SigmaTypeMismatch,
            format!("a string modifier on the int field `{}`", f.name),
        ));
    }
    let n = parse_int(v, text).ok_or_else(|| {
        Refusal::new(
            ErrorCode::SigmaTypeMismatch,
            format!(
                "`{text}` is not an integer, but `{}` is an int field",
                f.name
            ),
        )
    })?;
    let op = match (mods.cmp, mods.neq) {
        (Some(op), _) => op,
        (None, true) => BinOp::Ne,
        (None, false) => BinOp::Eq,
    };
    let e = b::bin(op, b::name(&f.name), b::int(n));
    // An absent int reads as 0; in Sigma a missing field matches no value.
    let zero_passes = match op {
        BinOp::Eq => n == 0,
        BinOp::Lt => 0 < n,
        BinOp::Le => 0 <= n,
        BinOp::Gt => 0 > n,
        BinOp::Ge => 0 >= n,
        _ => false,
    };
    Ok(guard_absent(f, zero_passes && !mods.neq, e))
}

/// `exists(f) and e` when `guard` holds and `f` is a field (not a list item): for tests that
/// the empty value an absent field reads as (`0`, `false`, `0.0.0.0`) would pass, where Sigma's
/// missing field matches nothing.
fn guard_absent(f: &Field, guard: bool, e: Expr) -> Expr {
    if guard && f.name != ITEM {
        b::and(vec![b::exists(b::name(&f.name)), e])
    } else {
        e
    }
}

fn bool_value(f: &Field, mods: &Mods, v: &Yaml, text: &str) -> Result<Expr> {
    if mods.anchor.is_some()
        || mods.re
        || mods.cidr
        || mods.cmp.is_some()
        || !mods.encodings.is_empty()
    {
        return Err(Refusal::new(
            ErrorCode::SigmaTypeMismatch,
            format!("a string modifier on the bool field `{}`", f.name),
        ));
    }
    let want = match v {
        Yaml::Boolean(x) => *x,
        _ if text.eq_ignore_ascii_case("true") => true,
        _ if text.eq_ignore_ascii_case("false") => false,
        _ => {
            return Err(Refusal::new(
                ErrorCode::SigmaTypeMismatch,
                format!(
                    "`{text}` is not a boolean, but `{}` is a bool field",
                    f.name
                ),
            ))
        }
    };
    let op = if mods.neq { BinOp::Ne } else { BinOp::Eq };
    let e = b::bin(
        op,
        b::name(&f.name),
        b::e(vigil_grammar::ast::ExprKind::Bool(want)),
    );
    Ok(guard_absent(f, !want && !mods.neq, e))
}

fn ip_value(f: &Field, mods: &Mods, text: &str) -> Result<Expr> {
    let lhs = || b::name(&f.name);
    let mismatch = |what: &str| {
        Refusal::new(
            ErrorCode::SigmaTypeMismatch,
            format!("{what} on the ip field `{}`", f.name),
        )
    };
    if mods.re || mods.cmp.is_some() || !mods.encodings.is_empty() || mods.cased {
        return Err(mismatch("a string modifier"));
    }
    let e = if mods.cidr {
        let zero =
            parse_cidr(text).ok_or_else(|| mismatch(&format!("the invalid prefix `{text}`")))?;
        let e = b::bin(BinOp::In, lhs(), b::list(vec![b::string(text)]));
        guard_absent(f, zero && !mods.neq, e)
    } else {
        let pat = value::compile(
            &SigmaStr::parse(text),
            mods.anchor.unwrap_or(Anchor::Whole),
            true,
        );
        match pat {
            Pattern::Eq(s) if s.parse::<IpAddr>().is_ok() => {
                let zero = s.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified());
                guard_absent(
                    f,
                    zero && !mods.neq,
                    b::bin(BinOp::Eq, lhs(), b::string(&s)),
                )
            }
            Pattern::Start(p) => {
                let cidrs = ipv4_prefix_cidrs(&p).ok_or_else(|| {
                    mismatch(&format!("`startswith \"{p}\"` (not a whole IPv4 prefix)"))
                })?;
                b::bin(
                    BinOp::In,
                    lhs(),
                    b::list(cidrs.iter().map(|c| b::string(c)).collect()),
                )
            }
            Pattern::Any => b::exists(lhs()),
            _ => return Err(mismatch(&format!("the value `{text}`"))),
        }
    };
    Ok(if mods.neq { b::not(e) } else { e })
}

/// Parses a network; `Some(true)` when it holds the unspecified address (`0.0.0.0`, `::`),
/// which an absent ip field reads as.
fn parse_cidr(text: &str) -> Option<bool> {
    let (addr, len) = text.split_once('/')?;
    let ip: IpAddr = addr.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    let (bits, max) = match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    };
    if len > max {
        return None;
    }
    // The address's top `len` bits (an IPv4 address sits in the top 32).
    let net = bits.checked_shr(128 - len).unwrap_or(0);
    Some(net == 0)
}

/// The IPv4 networks whose dotted-decimal text starts with `prefix` (`"10."` → `10.0.0.0/8`;
/// `"172.2"` → `172.2.0.0/16`, `172.20.0.0/16` .. `172.29.0.0/16`, `172.200.0.0/16` ..
/// `172.255.0.0/16`), or `None` when the prefix
/// is not IPv4 dotted decimal.
pub(crate) fn ipv4_prefix_cidrs(prefix: &str) -> Option<Vec<String>> {
    let parts: Vec<&str> = prefix.split('.').collect();
    if parts.len() > 4 || parts.is_empty() {
        return None;
    }
    let (whole, last) = parts.split_at(parts.len() - 1);
    let mut octets = Vec::with_capacity(4);
    for p in whole {
        let o: u8 = p.parse().ok()?;
        if p.len() > 1 && p.starts_with('0') {
            return None;
        }
        octets.push(o);
    }
    let last = last[0];
    if !last.chars().all(|c| c.is_ascii_digit()) || last.len() > 3 {
        return None;
    }
    let cidr = |mut o: Vec<u8>| {
        let len = o.len() * 8;
        o.resize(4, 0);
        format!("{}.{}.{}.{}/{len}", o[0], o[1], o[2], o[3])
    };
    if last.is_empty() {
        if octets.is_empty() {
            return None;
        }
        return Some(vec![cidr(octets)]);
    }
    if octets.len() == 3 {
        // The last octet's text is a prefix of the whole address's last octet: enumerate.
        let out: Vec<String> = (0u16..=255)
            .filter(|n| n.to_string().starts_with(last))
            .map(|n| {
                let mut o = octets.clone();
                o.push(u8::try_from(n).unwrap_or(0));
                format!("{}.{}.{}.{}/32", o[0], o[1], o[2], o[3])
            })
            .collect();
        return (!out.is_empty()).then_some(out);
    }
    let out: Vec<String> = (0u16..=255)
        .filter(|n| n.to_string().starts_with(last))
        .map(|n| {
            let mut o = octets.clone();
            o.push(u8::try_from(n).unwrap_or(0));
            cidr(o)
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

/// `f matches r1 or f matches r2` → `f matches "(?:r1)|(?:r2)"`: one search of the subject
/// instead of one per pattern (the same set of matches: inline flags stay inside their group).
/// Alternatives are merged in file order while the merged pattern stays under the compiled-size
/// limit; other operands are kept where they were.
fn merge_regexes(alts: Vec<Expr>) -> Vec<Expr> {
    use vigil_grammar::ast::ExprKind;
    let regex_of = |e: &Expr| -> Option<(String, String)> {
        if let ExprKind::Binary(BinOp::Matches, l, r) = &e.kind {
            if let (ExprKind::Name(n), ExprKind::Str(lit)) = (&l.kind, &r.kind) {
                return Some((n.name.clone(), lit.value.clone()));
            }
        }
        None
    };
    if alts.iter().filter(|e| regex_of(e).is_some()).count() < 2 {
        return alts;
    }
    let mut out: Vec<Expr> = Vec::with_capacity(alts.len());
    // (field, patterns, position in `out`)
    let mut open: Option<(String, Vec<String>, usize)> = None;
    let close = |out: &mut Vec<Expr>, g: (String, Vec<String>, usize)| {
        let (field, pats, at) = g;
        let re = if pats.len() == 1 {
            pats.into_iter().next().unwrap_or_default()
        } else {
            join_regexes(&pats)
        };
        if let Some(slot) = out.get_mut(at) {
            *slot = b::bin(BinOp::Matches, b::name(&field), b::string(&re));
        }
    };
    for e in alts {
        let Some((field, re)) = regex_of(&e) else {
            out.push(e);
            continue;
        };
        if let Some(g) = open.as_mut() {
            if g.0 == field {
                g.1.push(re.clone());
                if crate::typeck::regex::check_pattern(&join_regexes(&g.1)).is_ok() {
                    continue;
                }
                g.1.pop();
            }
        }
        if let Some(g) = open.take() {
            close(&mut out, g);
        }
        open = Some((field, vec![re], out.len()));
        out.push(e);
    }
    if let Some(g) = open.take() {
        close(&mut out, g);
    }
    out
}

fn join_regexes(pats: &[String]) -> String {
    pats.iter()
        .map(|p| format!("(?:{p})"))
        .collect::<Vec<_>>()
        .join("|")
}

/// `f icontains "a" and f icontains "b"` → `f icontains all ["a", "b"]`, keeping other operands.
fn merge_all(parts: Vec<Expr>) -> Expr {
    use vigil_grammar::ast::ExprKind;
    let mut out: Vec<Expr> = Vec::with_capacity(parts.len());
    let mut groups: Vec<(StrOp, String, Vec<Expr>, usize)> = Vec::new();
    for p in parts {
        if let ExprKind::Binary(BinOp::Str(op), l, r) = &p.kind {
            if let (ExprKind::Name(n), ExprKind::Str(_)) = (&l.kind, &r.kind) {
                if let Some(g) = groups.iter_mut().find(|g| g.0 == *op && g.1 == n.name) {
                    g.2.push((**r).clone());
                } else {
                    groups.push((*op, n.name.clone(), vec![(**r).clone()], out.len()));
                    out.push(b::e(ExprKind::Bool(true)));
                }
                continue;
            }
        }
        out.push(p);
    }
    for (op, name, vals, at) in groups {
        out[at] = if vals.len() == 1 {
            b::str_op(op, b::name(&name), vals.into_iter().next().expect("one"))
        } else {
            b::any_all(op, Quantifier::All, b::name(&name), vals)
        };
    }
    b::and(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_prefixes_become_networks() {
        assert_eq!(ipv4_prefix_cidrs("10.").unwrap(), vec!["10.0.0.0/8"]);
        assert_eq!(
            ipv4_prefix_cidrs("192.168.").unwrap(),
            vec!["192.168.0.0/16"]
        );
        let v = ipv4_prefix_cidrs("172.2").unwrap();
        // 2, 20..=29 and 200..=255.
        assert_eq!(v.len(), 67);
        assert!(v.contains(&"172.2.0.0/16".to_owned()));
        assert!(v.contains(&"172.29.0.0/16".to_owned()));
        assert!(v.contains(&"172.255.0.0/16".to_owned()));
        assert!(!v.contains(&"172.3.0.0/16".to_owned()));
        assert!(ipv4_prefix_cidrs("fe80:").is_none());
    }
}
