//! Vigil compiler: the language front end (parse → resolve → typeck), diagnostics, and the
//! `vigil` command line.
//!
//! The library entry is [`check`]: sources and a schema in, a [`typeck::Typed`] program (what
//! lowering takes) and every diagnostic out. Stages hand over one type each (STYLE.md section
//! 2): the grammar gives `ast::File`s, [`resolve`] a [`hir::Module`], [`typeck`] a
//! [`typeck::Typed`]. Diagnostics are values ([`diag::Diagnostic`]) rendered in one place
//! ([`diag::render`], [`diag::json`]).

#![forbid(unsafe_code)]

pub mod bundle;
pub mod compile;
pub mod diag;
pub mod explain;
pub mod fmt;
pub mod hir;
pub mod lower;
pub mod overlap;
pub mod resolve;
pub mod schema_doc;
pub mod sigma;
pub mod source;
pub mod stdlib;
pub mod testing;
pub mod typeck;
pub mod why;

use vigil_grammar::span::FileId;
use vigil_runtime::schema::Schema;

use diag::Diagnostic;
use source::SourceMap;

/// One source file to compile.
#[derive(Clone, Debug)]
struct SourceInput {
    id: FileId,
    bytes: Vec<u8>,
    stdlib: bool,
}

/// The files compiled together: the user's and the standard library's, with their names and
/// texts in a [`SourceMap`] for rendering.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// Names and texts, for rendering diagnostics.
    pub map: SourceMap,
    files: Vec<SourceInput>,
}

impl Sources {
    /// No files at all (not even the standard library).
    pub fn new() -> Self {
        Sources::default()
    }

    /// The embedded standard library (`stdlib/lib/*.vgl`), and no user files yet.
    pub fn with_stdlib() -> Self {
        let mut s = Sources::new();
        for (name, text) in stdlib::FILES {
            s.add_stdlib(*name, (*text).to_owned());
        }
        s
    }

    /// Adds a user file (any bytes: invalid UTF-8 is reported as a diagnostic).
    pub fn add(&mut self, name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> FileId {
        let bytes = bytes.into();
        let id = self
            .map
            .add(name, String::from_utf8_lossy(&bytes).into_owned());
        self.files.push(SourceInput {
            id,
            bytes,
            stdlib: false,
        });
        id
    }

    /// Adds a standard library file.
    pub fn add_stdlib(&mut self, name: impl Into<String>, text: String) -> FileId {
        let id = self.map.add(name, text.clone());
        self.files.push(SourceInput {
            id,
            bytes: text.into_bytes(),
            stdlib: true,
        });
        id
    }

    /// The first user file, if any (where findings about the whole bundle are reported).
    pub fn first_user_file(&self) -> Option<FileId> {
        self.files.iter().find(|f| !f.stdlib).map(|f| f.id)
    }

    /// The number of user files.
    pub fn user_file_count(&self) -> usize {
        self.files.iter().filter(|f| !f.stdlib).count()
    }
}

/// How to check.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Treat warnings as errors: no [`typeck::Typed`] is returned when there are warnings.
    pub deny_warnings: bool,
}

/// Checks the sources against the schema: parses every file, resolves names and checks types.
///
/// Returns the typed program, or `None` when there are errors (or warnings under
/// `deny_warnings`), and every diagnostic found, in file and position order. Syntax errors stop
/// the check after parsing (names and types of a half-parsed file would mostly be noise).
pub fn check(
    sources: &Sources,
    schema: &Schema,
    opts: &Options,
) -> (Option<typeck::Typed>, Vec<Diagnostic>) {
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut parsed = Vec::with_capacity(sources.files.len());
    for f in &sources.files {
        let (file, errors) = vigil_grammar::parse_bytes(f.id, &f.bytes);
        diags.extend(errors.iter().map(Diagnostic::from_syntax));
        parsed.push((file, f.stdlib));
    }
    if diags.iter().any(Diagnostic::is_error) {
        sort(&mut diags);
        return (None, diags);
    }
    let inputs: Vec<resolve::Input<'_>> = parsed
        .iter()
        .map(|(file, stdlib)| resolve::Input {
            file,
            stdlib: *stdlib,
        })
        .collect();
    let (module, sink) = resolve::resolve(&inputs, schema);
    let (typed, sink) = typeck::check(module, schema, sink);
    diags.extend(sink.diags);
    sort(&mut diags);
    let failed = diags.iter().any(|d| d.is_error() || opts.deny_warnings);
    (if failed { None } else { Some(typed) }, diags)
}

/// Orders diagnostics by file and position (stable: equal positions keep the order found).
fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| {
        (
            d.primary.span.file,
            d.primary.span.start,
            d.primary.span.end,
        )
    });
}

#[cfg(test)]
mod tests {
    use vigil_runtime::types::{Scalar, Ty};

    use super::*;
    use crate::hir::{ExprKind, FieldBase, RuleKind};

    fn check_text(text: &str, schema: &Schema) -> (Option<typeck::Typed>, Vec<Diagnostic>) {
        let mut sources = Sources::with_stdlib();
        sources.add("t.vgl", text);
        check(&sources, schema, &Options::default())
    }

    #[test]
    fn typed_output_carries_what_lowering_needs() {
        let text = r#"
            rule r {
                meta { severity: high, tags: ["a"] }
                on network_connect
                when dest_ip in ["10.0.0.0/8", "1.2.3.4"] and dest_ip != "8.8.8.8"
                emit "to {dest_ip}"
            }
            rule s {
                sequence by pid within 1m {
                    a: process_start when is_shell(event)
                    b: network_connect when a.image != image
                }
            }
        "#;
        let (typed, diags) = check_text(text, &Schema::endpoint());
        assert!(diags.is_empty(), "{diags:?}");
        let typed = typed.expect("clean");
        let m = &typed.module;
        let r = m.rules.iter().find(|r| r.name == "r").expect("rule r");
        assert_eq!(r.meta.severity, vigil_runtime::ir::Severity::High);
        assert_eq!(r.meta.capacity, hir::DEFAULT_CAPACITY);
        assert_eq!(r.meta.other.len(), 1);
        let RuleKind::Single {
            events,
            cond: Some(_),
        } = &r.kind
        else {
            panic!("single rule with a condition");
        };
        assert_eq!(events[0].name, "network_connect");
        // String literals used as ip / cidr were parsed.
        assert!(m.exprs.iter().any(|e| matches!(e.kind, ExprKind::Ip(_))));
        let user_file = FileId(u32::try_from(stdlib::FILES.len()).expect("few files"));
        let user_cidrs = m
            .exprs
            .iter()
            .filter(|e| e.span.file == user_file && matches!(e.kind, ExprKind::Cidr(..)))
            .count();
        assert_eq!(user_cidrs, 2);
        // Field reads carry the schema bounds.
        let dest = m
            .exprs
            .iter()
            .find_map(|e| match &e.kind {
                ExprKind::Field { field, .. } if field.name == "dest_ip" => Some(field),
                _ => None,
            })
            .expect("a dest_ip read");
        assert_eq!(dest.ty, Ty::IP);
        assert_eq!(dest.sources[0].event, "network_connect");
        // Sequences: earlier steps through FieldBase::Step, keys per step.
        let s = m.rules.iter().find(|r| r.name == "s").expect("rule s");
        let RuleKind::Sequence(seq) = &s.kind else {
            panic!("sequence")
        };
        assert_eq!(seq.steps.len(), 2);
        assert_eq!(seq.steps[1].key[0].name, "pid");
        assert!(m.exprs.iter().any(|e| matches!(
            &e.kind,
            ExprKind::Field { base: FieldBase::Step(0), field } if field.name == "image"
        )));
        // The stdlib fn used is marked used; its list is typed.
        let shells = m
            .lists
            .iter()
            .find(|l| l.name == "shells")
            .expect("stdlib list");
        assert!(shells.used);
        assert_eq!(shells.elem, Some(Scalar::Str));
        let nets = m
            .lists
            .iter()
            .find(|l| l.name == "private_nets")
            .expect("stdlib list");
        assert_eq!(nets.elem, Some(Scalar::Cidr));
    }

    #[test]
    fn stdlib_items_are_checked_against_the_schema_only_where_used() {
        // A schema whose process_start lacks `parent_image`: the stdlib's spawned_by_office
        // cannot check, which matters only to rules that call it.
        let toml = r#"
            name = "tiny"
            version = "1.0"
            [events.process_start]
            description = "x"
            fields = [
              { name = "time", type = "int", description = "t" },
              { name = "host", type = "string", max_len = 255, description = "h" },
              { name = "image", type = "string", max_len = 4096, description = "i" },
              { name = "command_line", type = "string", max_len = 4096, description = "c" },
            ]
        "#;
        let schema = Schema::from_toml("tiny.toml", toml).expect("valid schema");
        let (typed, diags) =
            check_text("rule r { on process_start when is_lolbin(event) }", &schema);
        assert!(typed.is_some(), "{diags:?}");
        let (typed, diags) = check_text(
            "rule r { on process_start when spawned_by_office(event) }",
            &schema,
        );
        assert!(typed.is_none());
        assert!(
            diags.iter().any(|d| d.message.contains("parent_image")),
            "{diags:?}"
        );
    }

    #[test]
    fn deny_warnings_withholds_the_program() {
        let text = "list unused = [\"a\"]\nrule r { on process_start }";
        let mut sources = Sources::with_stdlib();
        sources.add("t.vgl", text);
        let (typed, _) = check(
            &sources,
            &Schema::endpoint(),
            &Options {
                deny_warnings: true,
            },
        );
        assert!(typed.is_none());
        let (typed, diags) = check(&sources, &Schema::endpoint(), &Options::default());
        assert!(typed.is_some());
        assert_eq!(diags.len(), 1);
    }
}
