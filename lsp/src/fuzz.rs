//! The `lsp_session` fuzz target's logic: any bytes as a session with the server, in process.
//!
//! The input is cut at each byte 0x1E (the ASCII record separator). A piece that is JSON is sent as a message body (a
//! request, a notification, or anything else); a piece that is not becomes the text of the
//! document `file:///fuzz/a.vgl`, sent as a change (an open the first time), followed by
//! hover, completion, definition, references, formatting and code-action requests at a
//! position taken from the piece's first bytes (often past the end). The whole input is then
//! also read as a raw byte stream by the transport. Every reply must be a message the
//! protocol allows; a panic is a finding.

use std::io::BufReader;

use lsp_server::{Message, Notification, Request, RequestId};
use serde_json::json;

use crate::server::{Flow, Server};
use crate::transport::{self, Frame};
use crate::workspace::Config;

const URI: &str = "file:///fuzz-vigil-lsp/a.vgl";

/// The configuration, made once (reading the schema is the costliest part of a new server).
fn config() -> Config {
    static CONFIG: std::sync::OnceLock<Config> = std::sync::OnceLock::new();
    CONFIG.get_or_init(Config::default).clone()
}

fn request(id: i32, method: &str, params: serde_json::Value) -> Message {
    Message::Request(Request {
        id: RequestId::from(id),
        method: method.to_owned(),
        params,
    })
}

fn notification(method: &str, params: serde_json::Value) -> Message {
    Message::Notification(Notification {
        method: method.to_owned(),
        params,
    })
}

/// Runs one session from `data`.
pub fn session(data: &[u8]) {
    let mut server = Server::new(config());
    let mut out = Vec::new();
    let init = json!({ "capabilities": { "general": { "positionEncodings": if data.first().is_some_and(|b| b & 1 == 1) { json!(["utf-8"]) } else { json!(["utf-16"]) } } } });
    let _ = server.handle(request(0, "initialize", init), &mut out);
    let _ = server.handle(notification("initialized", json!({})), &mut out);
    let mut opened = false;
    let mut id = 1;
    let mut version = 0;
    for piece in data.split(|&b| b == 0x1e) {
        let msgs: Vec<Message> = match transport::parse_body(piece) {
            Frame::Message(m) => vec![m],
            _ if piece.is_empty() => Vec::new(),
            _ => {
                let text = String::from_utf8_lossy(piece).into_owned();
                let line = u32::from(piece.first().copied().unwrap_or(0) % 8);
                let character = u32::from(piece.get(1).copied().unwrap_or(0));
                let pos = json!({ "line": line, "character": character });
                let doc = json!({ "uri": URI });
                version += 1;
                let mut v = Vec::new();
                if opened {
                    v.push(notification("textDocument/didChange", json!({
                        "textDocument": { "uri": URI, "version": version },
                        "contentChanges": [ { "range": { "start": pos, "end": { "line": line + 1, "character": 0 } }, "text": text } ]
                    })));
                } else {
                    opened = true;
                    v.push(notification("textDocument/didOpen", json!({
                        "textDocument": { "uri": URI, "languageId": "vigil", "version": version, "text": text }
                    })));
                }
                let tdp = json!({ "textDocument": doc, "position": pos });
                let range = json!({ "start": { "line": 0, "character": 0 }, "end": pos });
                for (method, params) in [
                    ("textDocument/hover", tdp.clone()),
                    ("textDocument/completion", tdp.clone()),
                    ("textDocument/definition", tdp.clone()),
                    (
                        "textDocument/references",
                        json!({ "textDocument": doc, "position": pos, "context": { "includeDeclaration": true } }),
                    ),
                    (
                        "textDocument/formatting",
                        json!({ "textDocument": doc, "options": { "tabSize": 4, "insertSpaces": true } }),
                    ),
                    (
                        "textDocument/codeAction",
                        json!({ "textDocument": doc, "range": range, "context": { "diagnostics": [] } }),
                    ),
                ] {
                    id += 1;
                    v.push(request(id, method, params));
                }
                v
            }
        };
        for m in msgs {
            if let Flow::Exit(_) = server.handle(m, &mut out) {
                return;
            }
            check_replies(&mut out);
        }
    }
    // The same bytes as a raw stream.
    let mut sink = Vec::new();
    let _ = crate::serve(config(), &mut BufReader::new(data), &mut sink);
}

fn check_replies(out: &mut Vec<Message>) {
    for m in out.drain(..) {
        match m {
            Message::Response(r) => assert!(r.result.is_some() != r.error.is_some(), "{r:?}"),
            Message::Notification(n) => assert_eq!(n.method, "textDocument/publishDiagnostics"),
            Message::Request(r) => panic!("the server sent a request: {r:?}"),
        }
    }
}
