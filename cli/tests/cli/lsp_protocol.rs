//! `vigil lsp` over stdio, as an editor speaks to it: JSON-RPC with `Content-Length` framing.
//! Every request the server offers (initialize, hover, completion, definition, references,
//! formatting, codeAction, shutdown) and the notifications (didOpen/didChange/didSave/didClose
//! → publishDiagnostics, exit), then bad input: malformed frames and JSON, unknown methods,
//! requests before `initialize`, non-UTF-8 files, half-typed and huge documents, positions past
//! the end, a client that goes away. Every read has a timeout, so a server that stops
//! answering fails the test instead of hanging it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{bin, scratch, text};

const WAIT: Duration = Duration::from_secs(30);

/// A running `vigil lsp` and the messages it sent.
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    from_server: Receiver<Value>,
    next_id: i64,
}

fn read_frame(r: &mut impl BufRead) -> Option<Value> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length:") {
            len = v.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; len?];
    r.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

impl Session {
    fn start() -> Session {
        let mut child = Command::new(bin())
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vigil lsp starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            while let Some(v) = read_frame(&mut r) {
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Session {
            stdin: child.stdin.take(),
            child,
            from_server: rx,
            next_id: 0,
        }
    }

    fn raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write to the server");
        stdin.flush().expect("flush");
    }

    fn send(&mut self, msg: &Value) {
        let body = msg.to_string();
        self.raw(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    }

    fn recv(&self) -> Value {
        self.from_server
            .recv_timeout(WAIT)
            .expect("the server answers in time")
    }

    /// Sends a request and returns its response (notifications before it are dropped).
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let m = self.recv();
            if m["id"] == json!(id) {
                return m;
            }
        }
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&self, uri: &str) -> Vec<Value> {
        loop {
            let m = self.recv();
            if m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri {
                return m["params"]["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
        }
    }

    fn initialize(&mut self, encodings: &[&str]) -> Value {
        let r = self.request(
            "initialize",
            json!({"capabilities": {"general": {"positionEncodings": encodings}}}),
        );
        self.notify("initialized", json!({}));
        r
    }

    fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "vigil", "version": 1, "text": text}}),
        );
    }

    /// Closes stdin after `shutdown` and `exit` (or not) and returns the status and stderr.
    fn finish(mut self, shutdown: bool) -> (Option<i32>, String) {
        if shutdown {
            let r = self.request("shutdown", Value::Null);
            assert_eq!(r["result"], Value::Null, "{r}");
            self.notify("exit", Value::Null);
        }
        drop(self.stdin.take());
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(start.elapsed() < WAIT, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status.code(), err)
    }
}

fn uri(p: &Path) -> String {
    format!("file://{}", p.display())
}

fn pos(line: u32, character: u32) -> Value {
    json!({"line": line, "character": character})
}

fn at(uri: &str, line: u32, character: u32) -> Value {
    json!({"textDocument": {"uri": uri}, "position": pos(line, character)})
}

const LISTS: &str = "list desk_apps = [\"winword.exe\", \"excel.exe\"]\n\nfn from_office(p: process_start) -> bool {\n    basename(p.parent_image) iin desk_apps\n}\n";

const RULES: &str = "rule office_child {\n    meta { id: \"p-1\", severity: hgh }\n    on process_start\n    when from_office(event) and basename(image) iin desk_apps and comand_line contains \"é𝄞\"\n}\n";

#[test]
fn every_request_over_stdio() {
    let dir = scratch("lsp", "every_request");
    std::fs::write(dir.join("lists.vgl"), LISTS).expect("write");
    std::fs::write(dir.join("rules.vgl"), RULES).expect("write");
    let rules = uri(&dir.join("rules.vgl"));
    let lists = uri(&dir.join("lists.vgl"));
    let mut s = Session::start();

    // UTF-8 positions when offered.
    let init = s.initialize(&["utf-8", "utf-16"]);
    let caps = &init["result"]["capabilities"];
    assert_eq!(caps["positionEncoding"], "utf-8", "{init}");
    for cap in [
        "hoverProvider",
        "definitionProvider",
        "referencesProvider",
        "documentFormattingProvider",
    ] {
        assert_eq!(caps[cap], true, "{cap}: {init}");
    }

    // Diagnostics on open: the misspelt severity and field, with code, range and help; the
    // sibling file's list and fn resolve (no unknown-name errors).
    s.open(&rules, RULES);
    let diags = s.diagnostics(&rules);
    let codes: Vec<&str> = diags.iter().filter_map(|d| d["code"].as_str()).collect();
    assert_eq!(codes, vec!["E0313", "E0302"], "{diags:#?}");
    let field = &diags[1];
    let col = RULES
        .lines()
        .nth(3)
        .and_then(|l| l.find("comand_line"))
        .expect("in line 4") as u64;
    assert_eq!(
        field["range"]["start"],
        json!({"line": 3, "character": col})
    );
    assert_eq!(
        field["range"]["end"],
        json!({"line": 3, "character": col + 11})
    );
    assert_eq!(field["severity"], 1);
    assert!(
        field["message"]
            .as_str()
            .is_some_and(|m| m.contains("help: did you mean `command_line`?")),
        "{field}"
    );

    // Code actions: the severity's and the field's fixes.
    let whole = json!({"start": pos(0, 0), "end": pos(9, 0)});
    let actions = s.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": rules}, "range": whole, "context": {"diagnostics": []}}),
    );
    let edits: Vec<(String, Value)> = actions["result"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            assert_eq!(a["kind"], "quickfix");
            let e = &a["edit"]["changes"][rules.as_str()][0];
            (
                e["newText"].as_str().unwrap_or("").to_owned(),
                e["range"].clone(),
            )
        })
        .collect();
    assert_eq!(edits.len(), 2, "{actions}");
    assert_eq!(edits[0].0, "high");
    assert_eq!(edits[1].0, "command_line");
    assert_eq!(edits[1].1, field["range"]);

    // A change: the fixes applied (full text); the errors go away.
    let fixed = RULES
        .replace("hgh", "high")
        .replace("comand_line", "command_line");
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": rules, "version": 2}, "contentChanges": [{"text": fixed}]}),
    );
    assert_eq!(s.diagnostics(&rules), Vec::<Value>::new());

    // An incremental change: the field misspelt again, by a range edit after the non-ASCII
    // string (UTF-8 columns).
    let line3 = fixed.lines().nth(3).expect("line 4");
    let c = line3.find("command_line").expect("field") as u32;
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": rules, "version": 3}, "contentChanges": [
            {"range": {"start": pos(3, c), "end": pos(3, c + 3)}, "text": "cmo"}]}),
    );
    let d = s.diagnostics(&rules);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0]["code"], "E0302");
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": rules, "version": 4}, "contentChanges": [{"text": fixed}]}),
    );
    assert_eq!(s.diagnostics(&rules), Vec::<Value>::new());

    // Hover: a field, a list (with its items), a builtin (signature, cost, example), a fn,
    // a meta key, a severity.
    let find = |needle: &str| -> (u32, u32) {
        for (i, l) in fixed.lines().enumerate() {
            if let Some(c) = l.find(needle) {
                return (i as u32, c as u32 + 1);
            }
        }
        panic!("{needle} not in the file");
    };
    let cases = [
        ("command_line", "process_start.command_line: string"),
        ("desk_apps", "\"winword.exe\""),
        ("basename", "Cost: "),
        ("from_office", "fn from_office(p: process_start) -> bool"),
        ("severity", "meta severity"),
        ("high", "severity `high`"),
        ("process_start", "event process_start"),
    ];
    for (needle, want) in cases {
        let (l, c) = find(needle);
        let h = s.request("textDocument/hover", at(&rules, l, c));
        let v = h["result"]["contents"]["value"]
            .as_str()
            .unwrap_or_default();
        assert!(v.contains(want), "hover on `{needle}`: {h}");
    }
    let (l, c) = find("basename");
    let h = s.request("textDocument/hover", at(&rules, l, c));
    assert!(
        h["result"]["contents"]["value"]
            .as_str()
            .is_some_and(|v| v.contains("Examples:")),
        "{h}"
    );

    // Completion: in the condition (fields, lists, fns, builtins, keywords); in meta (keys);
    // after `severity:` (severities); after `on` (event types).
    let labels = |s: &mut Session, l: u32, c: u32| -> Vec<String> {
        let r = s.request("textDocument/completion", at(&rules, l, c));
        r["result"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|i| i["label"].as_str().map(str::to_owned))
            .collect()
    };
    let (l, c) = find("when ");
    let got = labels(&mut s, l, c + 4);
    for want in [
        "command_line",
        "desk_apps",
        "from_office",
        "basename",
        "not",
    ] {
        assert!(got.iter().any(|g| g == want), "no `{want}` in {got:?}");
    }
    let (l, c) = find("meta { ");
    assert!(labels(&mut s, l, c + 6).iter().any(|g| g == "severity"));
    let (l, c) = find("high");
    let sev = labels(&mut s, l, c - 1);
    assert!(
        sev.iter().any(|g| g == "critical") && !sev.iter().any(|g| g == "image"),
        "{sev:?}"
    );
    let (l, c) = find("process_start");
    assert!(labels(&mut s, l, c - 1)
        .iter()
        .any(|g| g == "network_connect"));

    // Definition and references of the sibling file's list.
    let (l, c) = find("desk_apps");
    let def = s.request("textDocument/definition", at(&rules, l, c));
    assert_eq!(def["result"][0]["uri"], lists.as_str(), "{def}");
    assert_eq!(def["result"][0]["range"]["start"], pos(0, 5), "{def}");
    let mut params = at(&rules, l, c);
    params["context"] = json!({"includeDeclaration": true});
    let refs = s.request("textDocument/references", params);
    let mut found: Vec<String> = refs["result"]
        .as_array()
        .expect("locations")
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r["uri"]
                    .as_str()
                    .unwrap_or("")
                    .rsplit('/')
                    .next()
                    .unwrap_or(""),
                r["range"]["start"]["line"]
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec!["lists.vgl:0", "lists.vgl:3", "rules.vgl:3"],
        "{refs}"
    );

    // Formatting: one edit to the canonical layout; none for a file that does not parse.
    let f = s.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": rules}, "options": {"tabSize": 4, "insertSpaces": true}}),
    );
    let want = vigil_compiler::fmt::format_source(&fixed).expect("parses");
    let edits = f["result"].as_array().expect("edits");
    if want == fixed {
        assert!(edits.is_empty(), "{f}");
    } else {
        assert_eq!(edits[0]["newText"], want.as_str(), "{f}");
    }

    // A change to the list file's declarations reaches the rules file: rename the list.
    s.open(&lists, LISTS);
    let _ = s.diagnostics(&lists);
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": lists, "version": 2}, "contentChanges": [{"text": LISTS.replace("desk_apps", "desk_aps")}]}),
    );
    // Both files are published; the rules file now names a list nobody declares.
    let mut rules_diags = None;
    for _ in 0..4 {
        let m = s.recv();
        if m["params"]["uri"] == rules.as_str() {
            rules_diags = Some(m["params"]["diagnostics"].clone());
            break;
        }
    }
    let rd = rules_diags.expect("the rules file re-checked");
    assert!(
        rd.as_array().is_some_and(|d| d.iter().any(|x| x["message"]
            .as_str()
            .is_some_and(|m| m.contains("`desk_apps`") && m.contains("did you mean `desk_aps`?")))),
        "{rd}"
    );

    // Save runs the full check; close clears the diagnostics.
    s.notify(
        "textDocument/didSave",
        json!({"textDocument": {"uri": rules}}),
    );
    let _ = s.diagnostics(&rules);
    s.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": rules}}),
    );
    assert_eq!(s.diagnostics(&rules), Vec::<Value>::new());

    let (code, err) = s.finish(true);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(err, "");
}

#[test]
fn bad_input_gets_errors_or_is_ignored_and_the_server_lives_on() {
    let dir = scratch("lsp", "bad_input");
    std::fs::write(dir.join("latin1.vgl"), b"list l = [\"caf\xe9\"]\n").expect("write");
    let doc = uri(&dir.join("a.vgl"));
    let mut s = Session::start();

    // Before initialize: ServerNotInitialized.
    let r = s.request("textDocument/hover", at(&doc, 0, 0));
    assert_eq!(r["error"]["code"], -32002, "{r}");
    let init = s.initialize(&[]);
    assert_eq!(init["result"]["capabilities"]["positionEncoding"], "utf-16");

    // Malformed frames and JSON: ParseError / InvalidRequest, id null.
    for (bytes, code) in [
        (b"Content-Length: 5\r\n\r\n{oops".to_vec(), -32700),
        (b"Content-Length: 2\r\n\r\n\xff\xfe".to_vec(), -32700),
        (b"Content-Length: 5\r\n\r\n[1,2]".to_vec(), -32600),
        (b"Content-Length: nope\r\n\r\n".to_vec(), -32700),
        (b"X-Nothing: 1\r\n\r\n".to_vec(), -32700),
        (
            b"Content-Length: 33\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":true,\"x\":1}".to_vec(),
            -32600,
        ),
    ] {
        s.raw(&bytes);
        let m = s.recv();
        assert_eq!(m["error"]["code"], code, "{m} for {}", text(&bytes));
        assert_eq!(m["id"], Value::Null, "{m}");
    }

    // Unknown request: MethodNotFound; unknown notification: nothing (the next answer is
    // the next request's).
    let r = s.request("vigil/unknown", json!({}));
    assert_eq!(r["error"]["code"], -32601, "{r}");
    s.notify("vigil/unknownNotification", json!({"x": 1}));
    // Parameters that do not fit: InvalidParams for a request, ignored for a notification.
    let r = s.request("textDocument/hover", json!({"nope": 1}));
    assert_eq!(r["error"]["code"], -32602, "{r}");
    s.notify("textDocument/didOpen", json!([1, 2, 3]));
    // A second initialize: an error.
    let r = s.request("initialize", json!({"capabilities": {}}));
    assert_eq!(r["error"]["code"], -32600, "{r}");

    // A half-typed document, beside a file that is not UTF-8: diagnostics, no crash, and
    // every request at positions in it and past its end answers.
    let half = "list a = [\"x\"\nrule r {\n    meta { severity: \n    on process_start\n    when image ieq \"é\" and comand";
    s.open(&doc, half);
    let d = s.diagnostics(&doc);
    assert!(
        d.iter()
            .any(|x| x["code"].as_str().is_some_and(|c| c.starts_with("E01"))),
        "{d:#?}"
    );
    for (line, character) in [(0, 0), (4, 40), (4, 1000), (1000, 0), (u32::MAX, u32::MAX)] {
        for method in [
            "textDocument/hover",
            "textDocument/completion",
            "textDocument/definition",
        ] {
            let r = s.request(method, at(&doc, line, character));
            assert!(
                r.get("result").is_some(),
                "{method} at {line}:{character}: {r}"
            );
        }
        let mut p = at(&doc, line, character);
        p["context"] = json!({"includeDeclaration": false});
        assert!(s
            .request("textDocument/references", p)
            .get("result")
            .is_some());
        let range = json!({"start": pos(line, character), "end": pos(line, character)});
        let r = s.request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": doc}, "range": range, "context": {"diagnostics": []}}),
        );
        assert!(r.get("result").is_some(), "{r}");
        // An edit at that position: clamped, not a crash.
        s.notify("textDocument/didChange", json!({"textDocument": {"uri": doc, "version": 2}, "contentChanges": [{"range": {"start": pos(line, character), "end": pos(0, 0)}, "text": "x"}]}));
        let _ = s.diagnostics(&doc);
    }
    // Formatting a file that does not parse: no edit.
    let f = s.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": doc}, "options": {"tabSize": 4, "insertSpaces": true}}),
    );
    assert_eq!(f["result"], Value::Null, "{f}");
    // Requests about a document never opened answer null.
    let r = s.request("textDocument/hover", at("file:///nowhere/x.vgl", 0, 0));
    assert_eq!(r["result"], Value::Null, "{r}");
    let r = s.request("textDocument/hover", at("untitled:Untitled-1", 0, 0));
    assert_eq!(r["result"], Value::Null, "{r}");

    // A huge document (over the compiler's 16 MiB source limit): one diagnostic, quickly.
    let huge = format!(
        "rule r {{ on process_start when image == \"{}\" }}\n",
        "a".repeat(17 * 1024 * 1024)
    );
    s.open(&uri(&dir.join("huge.vgl")), &huge);
    let d = s.diagnostics(&uri(&dir.join("huge.vgl")));
    assert_eq!(d.len(), 1, "{d:#?}");

    // After shutdown, requests are refused; exit gives 0.
    let r = s.request("shutdown", Value::Null);
    assert_eq!(r["result"], Value::Null);
    let r = s.request("textDocument/hover", at(&doc, 0, 0));
    assert_eq!(r["error"]["code"], -32600, "{r}");
    s.notify("exit", Value::Null);
    let (code, err) = s.finish(false);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(err, "");
}

#[test]
fn a_client_that_goes_away_or_exits_without_shutdown_ends_the_session_cleanly() {
    // Disconnect in the middle of a frame.
    let mut s = Session::start();
    s.initialize(&[]);
    s.raw(b"Content-Length: 100\r\n\r\n{\"jsonrpc\"");
    let (code, err) = s.finish(false);
    assert_eq!(code, Some(1));
    assert_eq!(err, "");
    // `exit` without `shutdown`: status 1.
    let mut s = Session::start();
    s.initialize(&[]);
    s.notify("exit", Value::Null);
    let (code, err) = s.finish(false);
    assert_eq!(code, Some(1));
    assert_eq!(err, "");
}
