//! The message handler: one [`Server`] holds the session's state (initialized, shut down, the
//! negotiated position encoding, the [`Workspace`]) and turns each incoming message into the
//! messages to send back. It does no I/O, so the stdio loop ([`crate::serve`]), the tests and
//! the fuzz target drive the same code.
//!
//! The protocol rules it keeps: requests before `initialize` get `ServerNotInitialized`,
//! requests after `shutdown` get `InvalidRequest`, unknown requests `MethodNotFound`, requests
//! whose parameters do not fit the method `InvalidParams`; notifications it does not know or
//! cannot read are ignored; `exit` ends the session (status 0 after `shutdown`, 1 before).

use std::path::{Path, PathBuf};

use lsp_server::{ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{self as notif, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOptions, CodeActionOrCommand, CodeActionParams,
    CodeActionProviderCapability, CompletionOptions, CompletionParams, CompletionResponse,
    DiagnosticRelatedInformation, DiagnosticSeverity, DidChangeTextDocumentParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DidSaveTextDocumentParams,
    DocumentFormattingParams, GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents,
    HoverParams, HoverProviderCapability, InitializeParams, InitializeResult, Location,
    MarkupContent, MarkupKind, NumberOrString, OneOf, Position, PositionEncodingKind,
    PublishDiagnosticsParams, Range, ReferenceParams, SaveOptions, ServerCapabilities, ServerInfo,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions, TextEdit, Uri, WorkspaceEdit,
};
use serde::de::DeserializeOwned;

use crate::analysis::{self, Summary, Sym};
use crate::position::{Encoding, LineIndex};
use crate::workspace::{Config, File, Found, Workspace};
use crate::{complete, docs, uri};

/// What to do after a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read the next message.
    Continue,
    /// The session is over: exit with this status.
    Exit(i32),
}

/// The server's state.
#[derive(Debug)]
pub struct Server {
    initialized: bool,
    shut_down: bool,
    encoding: Encoding,
    /// The files and their diagnostics.
    pub workspace: Workspace,
    /// The standard library's declarations (for hover and completion).
    stdlib: Vec<Summary>,
}

type Out = Vec<Message>;

fn err(id: RequestId, code: ErrorCode, message: impl Into<String>) -> Message {
    Message::Response(Response::new_err(id, code as i32, message.into()))
}

fn ok<T: serde::Serialize>(id: RequestId, result: T) -> Message {
    match serde_json::to_value(result) {
        Ok(v) => Message::Response(Response {
            id,
            result: Some(v),
            error: None,
        }),
        Err(e) => err(id, ErrorCode::InternalError, e.to_string()),
    }
}

/// The path a URI is kept under, and whether it is a file on disk.
fn path_of(u: &Uri) -> (PathBuf, bool) {
    match uri::to_path(u) {
        Some(p) => (p, true),
        None => (PathBuf::from(u.as_str()), false),
    }
}

impl Server {
    /// A server that checks against `config`.
    pub fn new(config: Config) -> Self {
        let stdlib = vigil_compiler::stdlib::FILES
            .iter()
            .map(|(_, text)| analysis::summarize_text(text, &config.schema))
            .collect();
        Server {
            initialized: false,
            shut_down: false,
            encoding: Encoding::Utf16,
            workspace: Workspace::new(config),
            stdlib,
        }
    }

    /// The encoding positions are exchanged in.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Handles one message; the messages to send go to `out`.
    pub fn handle(&mut self, msg: Message, out: &mut Out) -> Flow {
        match msg {
            Message::Request(r) => {
                self.request(r, out);
                Flow::Continue
            }
            Message::Notification(n) => self.notification(n, out),
            // The server sends no requests, so a response answers nothing: ignored.
            Message::Response(_) => Flow::Continue,
        }
    }

    fn request(&mut self, r: Request, out: &mut Out) {
        let Request { id, method, params } = r;
        if method == req::Initialize::METHOD {
            if self.initialized {
                out.push(err(id, ErrorCode::InvalidRequest, "already initialized"));
                return;
            }
            match parse::<InitializeParams>(params) {
                Ok(p) => {
                    self.initialized = true;
                    out.push(ok(id, self.initialize(&p)));
                }
                Err(e) => out.push(err(id, ErrorCode::InvalidParams, e)),
            }
            return;
        }
        if !self.initialized {
            out.push(err(id, ErrorCode::ServerNotInitialized, "initialize first"));
            return;
        }
        if self.shut_down {
            out.push(err(
                id,
                ErrorCode::InvalidRequest,
                "the server is shut down",
            ));
            return;
        }
        let reply = match method.as_str() {
            req::Shutdown::METHOD => {
                self.shut_down = true;
                Ok(serde_json::Value::Null)
            }
            req::HoverRequest::METHOD => parse(params).map(|p| json(self.hover(&p))),
            req::Completion::METHOD => parse(params).map(|p| json(self.completion(&p))),
            req::GotoDefinition::METHOD => parse(params).map(|p| json(self.definition(&p))),
            req::References::METHOD => parse(params).map(|p| json(self.references(&p))),
            req::Formatting::METHOD => parse(params).map(|p| json(self.formatting(&p))),
            req::CodeActionRequest::METHOD => parse(params).map(|p| json(self.code_actions(&p))),
            _ => {
                out.push(err(
                    id,
                    ErrorCode::MethodNotFound,
                    format!("no method `{method}`"),
                ));
                return;
            }
        };
        out.push(match reply {
            Ok(v) => ok(id, v),
            Err(e) => err(id, ErrorCode::InvalidParams, e),
        });
    }

    fn notification(&mut self, n: Notification, out: &mut Out) -> Flow {
        let Notification { method, params } = n;
        if method == notif::Exit::METHOD {
            return Flow::Exit(if self.shut_down { 0 } else { 1 });
        }
        if !self.initialized || self.shut_down {
            return Flow::Continue;
        }
        let touched = match method.as_str() {
            notif::DidOpenTextDocument::METHOD => {
                match parse::<DidOpenTextDocumentParams>(params) {
                    Ok(p) => {
                        let (path, on_disk) = path_of(&p.text_document.uri);
                        let bytes = p.text_document.text.into_bytes();
                        self.workspace.open(
                            &path,
                            on_disk,
                            p.text_document.uri,
                            p.text_document.version,
                            bytes,
                        )
                    }
                    Err(_) => Vec::new(),
                }
            }
            notif::DidChangeTextDocument::METHOD => {
                match parse::<DidChangeTextDocumentParams>(params) {
                    Ok(p) => self.did_change(p),
                    Err(_) => Vec::new(),
                }
            }
            notif::DidSaveTextDocument::METHOD => {
                match parse::<DidSaveTextDocumentParams>(params) {
                    Ok(p) => {
                        let (path, _) = path_of(&p.text_document.uri);
                        if let Some(text) = p.text {
                            let version = self.version(&path);
                            let _ = self.workspace.change(&path, version, text.into_bytes());
                        }
                        self.workspace.save(&path)
                    }
                    Err(_) => Vec::new(),
                }
            }
            notif::DidCloseTextDocument::METHOD => {
                match parse::<DidCloseTextDocumentParams>(params) {
                    Ok(p) => {
                        let (path, _) = path_of(&p.text_document.uri);
                        // Clear what the editor shows for it.
                        out.push(publish(p.text_document.uri.clone(), Vec::new(), None));
                        self.workspace.close(&path)
                    }
                    Err(_) => Vec::new(),
                }
            }
            // `initialized`, `$/cancelRequest`, `$/setTrace`, configuration changes and any
            // notification the server does not know: nothing to do.
            _ => Vec::new(),
        };
        self.publish(&touched, out);
        Flow::Continue
    }

    fn version(&self, path: &Path) -> i32 {
        self.workspace
            .files
            .get(path)
            .and_then(|f| f.open.as_ref().map(|(_, v)| *v))
            .unwrap_or(0)
    }

    fn initialize(&mut self, p: &InitializeParams) -> InitializeResult {
        let utf8 = p
            .capabilities
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_ref())
            .is_some_and(|e| e.contains(&PositionEncodingKind::UTF8));
        self.encoding = if utf8 {
            Encoding::Utf8
        } else {
            Encoding::Utf16
        };
        InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(if utf8 {
                    PositionEncodingKind::UTF8
                } else {
                    PositionEncodingKind::UTF16
                }),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                            include_text: Some(false),
                        })),
                        ..TextDocumentSyncOptions::default()
                    },
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(vec![".".to_owned()]),
                    ..CompletionOptions::default()
                }),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                document_formatting_provider: Some(OneOf::Left(true)),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
                        ..CodeActionOptions::default()
                    },
                )),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "vigil".to_owned(),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            }),
        }
    }

    fn did_change(&mut self, p: DidChangeTextDocumentParams) -> Vec<PathBuf> {
        let (path, _) = path_of(&p.text_document.uri);
        let enc = self.encoding;
        let Some(file) = self.workspace.files.get(&path) else {
            return Vec::new();
        };
        if file.open.is_none() {
            return Vec::new();
        }
        let mut text = file.text.clone();
        for change in p.content_changes {
            match change.range {
                None => text = change.text,
                Some(range) => {
                    let lines = LineIndex::new(&text);
                    let a = lines.offset(&text, range.start, enc);
                    let b = lines.offset(&text, range.end, enc).max(a);
                    text.replace_range(a..b, &change.text);
                }
            }
            if text.len() > vigil_grammar::MAX_SOURCE_BYTES.saturating_mul(2) {
                // Far over what the compiler reads: keep the prefix it will report on.
                let mut cut = vigil_grammar::MAX_SOURCE_BYTES + 1;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
        }
        self.workspace
            .change(&path, p.text_document.version, text.into_bytes())
    }

    /// Publishes the diagnostics of the open files among `paths`.
    fn publish(&self, paths: &[PathBuf], out: &mut Out) {
        for p in paths {
            let Some(f) = self.workspace.files.get(p) else {
                continue;
            };
            let Some((uri, version)) = &f.open else {
                continue;
            };
            let diags = f.found.iter().map(|d| self.lsp_diagnostic(f, d)).collect();
            out.push(publish(uri.clone(), diags, Some(*version)));
        }
    }

    fn uri_of(&self, path: &Path) -> Option<Uri> {
        match self.workspace.files.get(path).and_then(|f| f.open.as_ref()) {
            Some((u, _)) => Some(u.clone()),
            None => uri::from_path(path),
        }
    }

    fn range_in(&self, f: &File, start: u32, end: u32) -> Range {
        f.lines
            .range(&f.text, start as usize, end as usize, self.encoding)
    }

    /// A compiler diagnostic as the protocol's: code, severity, range, the help and notes
    /// in the message, secondary labels as related information.
    pub fn lsp_diagnostic(&self, f: &File, d: &Found) -> lsp_types::Diagnostic {
        let mut message = d.diag.message.clone();
        if !d.diag.primary.message.is_empty() {
            message.push_str(&format!(" ({})", d.diag.primary.message));
        }
        if let Some(h) = &d.diag.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        for n in &d.diag.notes {
            message.push_str(&format!("\nnote: {n}"));
        }
        let related: Vec<DiagnosticRelatedInformation> = d
            .labels
            .iter()
            .filter_map(|(place, msg)| {
                let file = self.workspace.files.get(&place.path)?;
                Some(DiagnosticRelatedInformation {
                    location: Location {
                        uri: self.uri_of(&place.path)?,
                        range: self.range_in(file, place.start, place.end),
                    },
                    message: msg.clone(),
                })
            })
            .collect();
        lsp_types::Diagnostic {
            range: self.range_in(f, d.start, d.end),
            severity: Some(if d.diag.is_error() {
                DiagnosticSeverity::ERROR
            } else {
                DiagnosticSeverity::WARNING
            }),
            code: Some(NumberOrString::String(d.diag.code.to_string())),
            source: Some("vigil".to_owned()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            ..lsp_types::Diagnostic::default()
        }
    }

    /// The open (or known) file at `u` and the byte offset of `pos` in it.
    fn locate(&self, u: &Uri, pos: Position) -> Option<(&Path, &File, u32)> {
        let (path, _) = path_of(u);
        let (path, f) = self.workspace.files.get_key_value(&path)?;
        let off = f.lines.offset(&f.text, pos, self.encoding);
        Some((path.as_path(), f, u32::try_from(off).unwrap_or(u32::MAX)))
    }

    fn folder_files<'a>(&'a self, f: &'a File) -> impl Iterator<Item = (&'a PathBuf, &'a File)> {
        self.workspace
            .files
            .iter()
            .filter(move |(_, g)| g.folder == f.folder)
    }

    fn hover(&self, p: &HoverParams) -> Option<Hover> {
        let tp = &p.text_document_position_params;
        let (_, f, off) = self.locate(&tp.text_document.uri, tp.position)?;
        let hit = f.summary.at(off)?;
        let text = docs::hover(&hit.sym, &self.workspace.config.schema, self.summaries(f))?;
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: text,
            }),
            range: Some(self.range_in(f, hit.span.start, hit.span.end)),
        })
    }

    /// The summaries names resolve in from `f`: its folder's files, then the standard library.
    fn summaries<'a>(&'a self, f: &'a File) -> Vec<&'a Summary> {
        let mut v: Vec<&Summary> = self.folder_files(f).map(|(_, g)| &g.summary).collect();
        v.extend(self.stdlib.iter());
        v
    }

    fn completion(&self, p: &CompletionParams) -> Option<CompletionResponse> {
        let tp = &p.text_document_position;
        let (_, f, off) = self.locate(&tp.text_document.uri, tp.position)?;
        let items = complete::items(
            &f.text,
            off as usize,
            &f.summary,
            &self.workspace.config.schema,
            &self.summaries(f),
        );
        Some(CompletionResponse::Array(items))
    }

    /// The list, fn or rule name at a position.
    fn name_at(&self, u: &Uri, pos: Position) -> Option<(&File, String)> {
        let (_, f, off) = self.locate(u, pos)?;
        let name = match &f.summary.at(off)?.sym {
            Sym::Global(n) | Sym::Call(n) | Sym::Rule(n) => n.clone(),
            _ => return None,
        };
        Some((f, name))
    }

    fn definition(&self, p: &GotoDefinitionParams) -> Option<GotoDefinitionResponse> {
        let tp = &p.text_document_position_params;
        let (f, name) = self.name_at(&tp.text_document.uri, tp.position)?;
        let mut locs = Vec::new();
        for (path, g) in self.folder_files(f) {
            let s = &g.summary;
            let spans = s.lists.iter().filter(|l| l.name == name).map(|l| l.span);
            let spans = spans.chain(s.fns.iter().filter(|x| x.name == name).map(|x| x.span));
            let spans = spans.chain(s.rules.iter().filter(|r| r.name == name).map(|r| r.span));
            for span in spans {
                if let Some(uri) = self.uri_of(path) {
                    locs.push(Location {
                        uri,
                        range: self.range_in(g, span.start, span.end),
                    });
                }
            }
        }
        (!locs.is_empty()).then_some(GotoDefinitionResponse::Array(locs))
    }

    fn references(&self, p: &ReferenceParams) -> Option<Vec<Location>> {
        let tp = &p.text_document_position;
        let (f, name) = self.name_at(&tp.text_document.uri, tp.position)?;
        let with_decl = p.context.include_declaration;
        let mut locs = Vec::new();
        for (path, g) in self.folder_files(f) {
            let Some(uri) = self.uri_of(path) else {
                continue;
            };
            for h in &g.summary.hits {
                let same =
                    matches!(&h.sym, Sym::Global(n) | Sym::Call(n) | Sym::Rule(n) if *n == name);
                if same && (with_decl || !h.decl) {
                    locs.push(Location {
                        uri: uri.clone(),
                        range: self.range_in(g, h.span.start, h.span.end),
                    });
                }
            }
        }
        Some(locs)
    }

    fn formatting(&self, p: &DocumentFormattingParams) -> Option<Vec<TextEdit>> {
        let (path, _) = path_of(&p.text_document.uri);
        let f = self.workspace.files.get(&path)?;
        // A file that does not parse (or is not UTF-8) is not formatted: no edit.
        let text = std::str::from_utf8(&f.bytes).ok()?;
        let formatted = vigil_compiler::fmt::format_source(text).ok()?;
        if formatted == text {
            return Some(Vec::new());
        }
        Some(vec![TextEdit {
            range: self.range_in(f, 0, u32::try_from(text.len()).unwrap_or(u32::MAX)),
            new_text: formatted,
        }])
    }

    #[expect(
        clippy::mutable_key_type,
        reason = "lsp-types' WorkspaceEdit is keyed by Uri, which hashes and compares by its text"
    )]
    fn code_actions(&self, p: &CodeActionParams) -> Option<Vec<CodeActionOrCommand>> {
        let (path, _) = path_of(&p.text_document.uri);
        let f = self.workspace.files.get(&path)?;
        let lines = &f.lines;
        let a = lines.offset(&f.text, p.range.start, self.encoding) as u32;
        let b = lines.offset(&f.text, p.range.end, self.encoding) as u32;
        let mut actions = Vec::new();
        for d in &f.found {
            let Some((start, end, replacement)) = &d.fix else {
                continue;
            };
            // The diagnostic's span meets the range asked about.
            if d.end < a || d.start > b.max(a) {
                continue;
            }
            let edit = TextEdit {
                range: self.range_in(f, *start, *end),
                new_text: replacement.clone(),
            };
            let mut changes = std::collections::HashMap::new();
            changes.insert(p.text_document.uri.clone(), vec![edit]);
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: format!("replace with `{replacement}`"),
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![self.lsp_diagnostic(f, d)]),
                edit: Some(WorkspaceEdit::new(changes)),
                is_preferred: Some(true),
                ..CodeAction::default()
            }));
        }
        Some(actions)
    }
}

fn publish(uri: Uri, diagnostics: Vec<lsp_types::Diagnostic>, version: Option<i32>) -> Message {
    let params = PublishDiagnosticsParams {
        uri,
        diagnostics,
        version,
    };
    Message::Notification(Notification::new(
        notif::PublishDiagnostics::METHOD.to_owned(),
        params,
    ))
}

fn parse<T: DeserializeOwned>(params: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(params).map_err(|e| format!("invalid parameters: {e}"))
}

fn json<T: serde::Serialize>(v: T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}
