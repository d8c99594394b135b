//! The files the server knows and their diagnostics: each open file's folder (its sibling
//! `.vgl` files, read from disk, with open buffers laid over them), an index of which file
//! declares and uses which names, and the checks.
//!
//! A check is the compiler's whole pipeline (`vigil_compiler::compile::compile`: parse,
//! resolve, types, lowering, binding, the verifier), as `vigil check` runs it, over a set of
//! files. A full check takes a folder's every file (on open and on save); a change re-checks
//! the changed file with what can affect its diagnostics only: the files declaring the names it
//! uses (transitively), the files using or redeclaring what it declares, and, when its
//! declarations changed, the files that use them, whose diagnostics are then replaced too.
//! Findings about a whole folder (the verifier's per-event-type budget, a bundle's state)
//! come from full checks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use vigil_compiler::compile::compile;
use vigil_compiler::diag::Diagnostic;
use vigil_compiler::{Options, Sources};
use vigil_grammar::span::FileId;
use vigil_runtime::budget::Budget;
use vigil_runtime::schema::Schema;

use crate::analysis::{self, Summary};
use crate::position::LineIndex;

/// The most `.vgl` files read from one folder.
pub const MAX_FOLDER_FILES: usize = 20_000;

/// What checks run against.
#[derive(Clone, Debug)]
pub struct Config {
    /// The schema rules are checked against.
    pub schema: Schema,
    /// The verifier's budget.
    pub budget: Budget,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            schema: vigil_compiler::stdlib::schema(),
            budget: Budget::default(),
        }
    }
}

/// A place in a file: bytes `start..end`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The file.
    pub path: PathBuf,
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

/// One diagnostic of one file, its places resolved to files.
#[derive(Clone, Debug)]
pub struct Found {
    /// The compiler's diagnostic (its spans' file ids are those of the check that found it).
    pub diag: Diagnostic,
    /// Where its primary span is (in this file).
    pub start: u32,
    /// One past the end of its primary span.
    pub end: u32,
    /// Its secondary labels' places and messages.
    pub labels: Vec<(Place, String)>,
    /// Its fix, when it is in this file: bytes and replacement.
    pub fix: Option<(u32, u32, String)>,
}

/// A file the server knows.
#[derive(Debug)]
pub struct File {
    /// Its bytes (an open buffer's text, or the file on disk).
    pub bytes: Vec<u8>,
    /// The text (lossy UTF-8: what spans count in).
    pub text: String,
    /// Line starts of `text`.
    pub lines: LineIndex,
    /// What it declares and uses.
    pub summary: Summary,
    /// The folder it belongs to (its parent; for a document without a path, itself).
    pub folder: PathBuf,
    /// Open in the editor: the URI the client named it by and the buffer's version.
    pub open: Option<(lsp_types::Uri, i32)>,
    /// Its diagnostics from the last check that covered it.
    pub found: Vec<Found>,
}

/// Every known file, and the name index.
#[derive(Debug, Default)]
pub struct Workspace {
    /// The schema and budget.
    pub config: Config,
    /// Files by path.
    pub files: BTreeMap<PathBuf, File>,
    folders: BTreeSet<PathBuf>,
    /// Name → files declaring it.
    declares: HashMap<String, BTreeSet<PathBuf>>,
    /// Name → files using it.
    uses: HashMap<String, BTreeSet<PathBuf>>,
}

impl Workspace {
    /// An empty workspace.
    pub fn new(config: Config) -> Self {
        Workspace {
            config,
            ..Workspace::default()
        }
    }

    /// Sets a file's bytes (adding it when new), re-reading what it declares and uses.
    /// Returns whether its declarations changed.
    fn set_bytes(&mut self, path: &Path, folder: PathBuf, bytes: Vec<u8>) -> bool {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let summary = analysis::summarize_text(&text, &self.config.schema);
        let old = self.files.get(path).map(|f| f.summary.decl_key);
        self.unindex(path);
        for n in summary.declared_names() {
            self.declares
                .entry(n.to_owned())
                .or_default()
                .insert(path.to_owned());
        }
        for n in summary.used_names() {
            self.uses
                .entry(n.to_owned())
                .or_default()
                .insert(path.to_owned());
        }
        let changed = old != Some(summary.decl_key);
        let lines = LineIndex::new(&text);
        match self.files.get_mut(path) {
            Some(f) => {
                f.bytes = bytes;
                f.text = text;
                f.lines = lines;
                f.summary = summary;
            }
            None => {
                self.files.insert(
                    path.to_owned(),
                    File {
                        bytes,
                        text,
                        lines,
                        summary,
                        folder,
                        open: None,
                        found: Vec::new(),
                    },
                );
            }
        }
        changed
    }

    fn unindex(&mut self, path: &Path) {
        let Some(f) = self.files.get(path) else {
            return;
        };
        for (map, names) in [
            (
                &mut self.declares,
                f.summary.declared_names().collect::<Vec<_>>(),
            ),
            (&mut self.uses, f.summary.used_names().collect::<Vec<_>>()),
        ] {
            for n in names {
                if let Some(set) = map.get_mut(n) {
                    set.remove(path);
                    if set.is_empty() {
                        map.remove(n);
                    }
                }
            }
        }
    }

    /// Reads a folder's `.vgl` files that are not known yet (once per folder). Unreadable
    /// files and files over the source size limit are left out.
    fn load_folder(&mut self, folder: &Path) {
        if !self.folders.insert(folder.to_owned()) {
            return;
        }
        let Ok(entries) = std::fs::read_dir(folder) else {
            return;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "vgl"))
            .collect();
        paths.sort();
        paths.truncate(MAX_FOLDER_FILES);
        for p in paths {
            if self.files.contains_key(&p) {
                continue;
            }
            let ok = std::fs::metadata(&p)
                .is_ok_and(|m| m.is_file() && m.len() <= vigil_grammar::MAX_SOURCE_BYTES as u64);
            if !ok {
                continue;
            }
            if let Ok(bytes) = std::fs::read(&p) {
                self.set_bytes(&p, folder.to_owned(), bytes);
            }
        }
    }

    /// The folder of a path: its parent, or (for a document without one) itself.
    fn folder_of(path: &Path, on_disk: bool) -> PathBuf {
        match path.parent() {
            Some(p) if on_disk && !p.as_os_str().is_empty() => p.to_owned(),
            _ => path.to_owned(),
        }
    }

    /// A document was opened: its folder is read (the first time) and checked. Returns the
    /// files whose diagnostics were replaced.
    pub fn open(
        &mut self,
        path: &Path,
        on_disk: bool,
        uri: lsp_types::Uri,
        version: i32,
        bytes: Vec<u8>,
    ) -> Vec<PathBuf> {
        let folder = Self::folder_of(path, on_disk);
        let new_folder = on_disk && !self.folders.contains(&folder);
        let old = self.declared(path);
        let changed = self.set_bytes(path, folder.clone(), bytes);
        if let Some(f) = self.files.get_mut(path) {
            f.open = Some((uri, version));
        }
        if on_disk {
            self.load_folder(&folder);
        }
        if new_folder || !on_disk {
            self.check_folder(&folder, path)
        } else {
            self.recheck(path, changed, &old)
        }
    }

    /// The names a known file declares.
    fn declared(&self, path: &Path) -> Vec<String> {
        self.files
            .get(path)
            .map(|f| f.summary.declared_names().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// An open document's text changed: re-checks what the change can affect.
    pub fn change(&mut self, path: &Path, version: i32, bytes: Vec<u8>) -> Vec<PathBuf> {
        let Some(folder) = self.files.get(path).map(|f| f.folder.clone()) else {
            return Vec::new();
        };
        let old = self.declared(path);
        let changed = self.set_bytes(path, folder, bytes);
        if let Some(f) = self.files.get_mut(path) {
            if let Some((_, v)) = &mut f.open {
                *v = version;
            }
        }
        self.recheck(path, changed, &old)
    }

    /// A document was saved: its folder is checked whole.
    pub fn save(&mut self, path: &Path) -> Vec<PathBuf> {
        match self.files.get(path).map(|f| f.folder.clone()) {
            Some(folder) => self.check_folder(&folder, path),
            None => Vec::new(),
        }
    }

    /// A document was closed: the file on disk replaces the buffer (or, when there is none,
    /// the file is forgotten), and what depends on it is checked again.
    pub fn close(&mut self, path: &Path) -> Vec<PathBuf> {
        let Some(f) = self.files.get_mut(path) else {
            return Vec::new();
        };
        f.open = None;
        f.found.clear();
        let folder = f.folder.clone();
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() <= vigil_grammar::MAX_SOURCE_BYTES => {
                let old = self.declared(path);
                let changed = self.set_bytes(path, folder, bytes);
                if changed {
                    self.recheck(path, true, &old)
                } else {
                    Vec::new()
                }
            }
            _ => {
                self.unindex(path);
                self.files.remove(path);
                Vec::new()
            }
        }
    }

    /// Checks a folder's every file. Returns them.
    pub fn check_folder(&mut self, folder: &Path, focus: &Path) -> Vec<PathBuf> {
        let all: BTreeSet<PathBuf> = self
            .files
            .iter()
            .filter(|(_, f)| f.folder == folder)
            .map(|(p, _)| p.clone())
            .collect();
        self.check_and_store(&all, &all, focus)
    }

    /// Re-checks `path` after a change (and, when its declarations changed, the files using
    /// them). Returns the files whose diagnostics were replaced.
    pub fn recheck(
        &mut self,
        path: &Path,
        decls_changed: bool,
        old_names: &[String],
    ) -> Vec<PathBuf> {
        let Some(file) = self.files.get(path) else {
            return Vec::new();
        };
        let folder = file.folder.clone();
        let in_folder = |p: &PathBuf| self.files.get(p).is_some_and(|f| f.folder == folder);
        let mut publish: BTreeSet<PathBuf> = BTreeSet::new();
        publish.insert(path.to_owned());
        if decls_changed {
            // Every file that uses a name this one declares or declared.
            let mut declared: Vec<String> =
                file.summary.declared_names().map(str::to_owned).collect();
            declared.extend(old_names.iter().cloned());
            for n in &declared {
                if let Some(users) = self.uses.get(n) {
                    publish.extend(users.iter().filter(|p| in_folder(p)).cloned());
                }
            }
        }
        let set = self.closure(&publish, &folder);
        self.check_and_store(&set, &publish, path)
    }

    /// The files whose contents `publish`'s diagnostics depend on: `publish`, the files using
    /// or redeclaring their declarations, and everything the lot uses, transitively.
    fn closure(&self, publish: &BTreeSet<PathBuf>, folder: &Path) -> BTreeSet<PathBuf> {
        let in_folder = |p: &PathBuf| self.files.get(p).is_some_and(|f| f.folder == folder);
        let mut set = publish.clone();
        for p in publish {
            let Some(f) = self.files.get(p) else { continue };
            for n in f.summary.declared_names() {
                for map in [&self.uses, &self.declares] {
                    if let Some(files) = map.get(n) {
                        set.extend(files.iter().filter(|q| in_folder(q)).cloned());
                    }
                }
            }
        }
        let mut queue: Vec<PathBuf> = set.iter().cloned().collect();
        while let Some(p) = queue.pop() {
            let Some(f) = self.files.get(&p) else {
                continue;
            };
            for n in f.summary.used_names() {
                let Some(decls) = self.declares.get(n) else {
                    continue;
                };
                for d in decls {
                    if in_folder(d) && set.insert(d.clone()) {
                        queue.push(d.clone());
                    }
                }
            }
        }
        set
    }

    /// Checks the files of `set` together and stores the diagnostics of those in `publish`.
    /// Diagnostics located outside the files (in the standard library) go to `focus`.
    fn check_and_store(
        &mut self,
        set: &BTreeSet<PathBuf>,
        publish: &BTreeSet<PathBuf>,
        focus: &Path,
    ) -> Vec<PathBuf> {
        let mut results = check_files(
            &self.config,
            set.iter()
                .filter_map(|p| self.files.get(p).map(|f| (p.as_path(), f.bytes.as_slice()))),
            focus,
        );
        let mut out = Vec::new();
        for p in publish {
            if let Some(f) = self.files.get_mut(p) {
                f.found = results.remove(p).unwrap_or_default();
                out.push(p.clone());
            }
        }
        out
    }
}

/// Runs the compiler over `files` (with the standard library) and sorts its diagnostics by
/// the file of their primary span.
pub fn check_files<'a>(
    config: &Config,
    files: impl IntoIterator<Item = (&'a Path, &'a [u8])>,
    focus: &Path,
) -> HashMap<PathBuf, Vec<Found>> {
    let mut sources = Sources::with_stdlib();
    let mut paths: HashMap<FileId, PathBuf> = HashMap::new();
    for (path, bytes) in files {
        let id = sources.add(path.display().to_string(), bytes.to_vec());
        paths.insert(id, path.to_owned());
    }
    let diags = match compile(
        &sources,
        &config.schema,
        &Options::default(),
        &config.budget,
    ) {
        Ok(compiled) => compiled.warnings,
        Err(diags) => diags,
    };
    let mut out: HashMap<PathBuf, Vec<Found>> = HashMap::new();
    for d in diags {
        let (path, start, end) = match paths.get(&d.primary.span.file) {
            Some(p) => (p.clone(), d.primary.span.start, d.primary.span.end),
            // In the standard library: shown at the start of the file in focus.
            None => (focus.to_owned(), 0, 0),
        };
        let labels = d
            .labels
            .iter()
            .filter_map(|l| {
                let p = paths.get(&l.span.file)?;
                Some((
                    Place {
                        path: p.clone(),
                        start: l.span.start,
                        end: l.span.end,
                    },
                    l.message.clone(),
                ))
            })
            .collect();
        let fix = d
            .fix
            .as_ref()
            .filter(|f| paths.get(&f.span.file) == Some(&path))
            .map(|f| (f.span.start, f.span.end, f.replacement.clone()));
        out.entry(path).or_default().push(Found {
            diag: d,
            start,
            end,
            labels,
            fix,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn names(set: &BTreeSet<PathBuf>) -> Vec<String> {
        set.iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect()
    }

    /// A change re-checks the changed file with what it depends on, not the folder; a
    /// changed declaration reaches the files using it.
    #[test]
    fn a_change_checks_what_it_can_affect() {
        let dir = std::env::temp_dir().join(format!("vigil-lsp-ws-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let files = [
            ("lists.vgl", "list ws_tools = [\"a.exe\"]\nfn ws_tool(p: process_start) -> bool { basename(p.image) iin ws_tools }\n"),
            ("a.vgl", "rule a { on process_start when ws_tool(event) }\n"),
            ("b.vgl", "rule b { on process_start when image == \"b\" }\n"),
            ("c.vgl", "rule c { on process_start when image iin ws_tools }\ntest a { process_start { image: \"a.exe\" } => fires }\n"),
        ];
        for (n, t) in files {
            std::fs::write(dir.join(n), t).expect("write");
        }
        let mut ws = Workspace::new(Config::default());
        let a = dir.join("a.vgl");
        let uri = crate::uri::from_path(&a)
            .unwrap_or_else(|| lsp_types::Uri::from_str("file:///x").expect("uri"));
        let touched = ws.open(&a, true, uri, 1, files[1].1.as_bytes().to_vec());
        // The first open checks the whole folder.
        assert_eq!(touched.len(), 4);
        assert!(
            ws.files.values().all(|f| f.found.is_empty()),
            "{:?}",
            ws.files.values().map(|f| &f.found).collect::<Vec<_>>()
        );

        let one = |p: &str| BTreeSet::from([dir.join(p)]);
        // a uses lists' fn (which uses its list); c's test names rule a: c is checked with a.
        assert_eq!(
            names(&ws.closure(&one("a.vgl"), &dir)),
            vec!["a.vgl", "c.vgl", "lists.vgl"]
        );
        assert_eq!(names(&ws.closure(&one("b.vgl"), &dir)), vec!["b.vgl"]);
        // An edit of a's condition: a is re-checked and published alone.
        let t = ws.change(
            &a,
            2,
            b"rule a { on process_start when ws_tool(event) and pid > 1 }\n".to_vec(),
        );
        assert_eq!(names(&t.into_iter().collect()), vec!["a.vgl"]);
        // Renaming the list changes the file's declarations: the users of what it declares
        // (the fn's caller a, the list's user c) are re-checked, and c now fails; b is not.
        let lists = dir.join("lists.vgl");
        let t = ws.change(
            &lists,
            2,
            files[0].1.replace("ws_tools", "ws_tool_list").into_bytes(),
        );
        assert_eq!(
            names(&t.into_iter().collect()),
            vec!["a.vgl", "c.vgl", "lists.vgl"]
        );
        let c = &ws.files[&dir.join("c.vgl")];
        assert!(c.found.iter().any(|d| d.diag.is_error()), "{:?}", c.found);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
