//! Reading what the command line names, safely: every whole-file read of the CLI and the run
//! pipeline (rule sources, bundles, schema, mapping, key and revocation files, Sigma YAML,
//! event files) and every folder walk (rule folders, event folders, Sigma folders) goes
//! through this module.
//!
//! - **File types are checked before reading** ([`classify`]): a regular file is read up to a
//!   cap, and one larger than the cap is refused before a byte is read; a pipe or FIFO (`-`,
//!   `/dev/fd/N`, `<(...)`) is read as a stream, still through the cap; a character or block
//!   device (`/dev/zero`), a socket or a directory is refused with an error naming the path.
//!   The type is checked again on the open file, so a path swapped between the two is caught.
//! - **Bundles** ([`read_bundle`]): the magic bytes are read first; a file that does not start
//!   with them is not read further (the bundle decoder then reports its coded error on what
//!   was read), and no more than the bundle format's maximum size is ever read.
//! - **Walks** ([`Walker`]): one visited set of (device, inode) for directories and files, so a
//!   symlink loop (`a/up -> ..`, `me -> .`) is entered once and skipped with a note on stderr,
//!   and a file reached through several paths is loaded once. Entries are visited in sorted
//!   order (the first path to a file wins, the same on every run). Non-regular files whose
//!   names match (FIFOs, sockets, devices) are skipped with a note. On Windows, whose standard
//!   library gives no file index, a file's identity is its canonical path ([`FileId`]).

use std::collections::HashSet;
use std::fs::{File, Metadata};
use std::io::{self, Read};
#[cfg(unix)]
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use vigil_runtime::bundle::format::SIGNATURE_BYTES;
use vigil_runtime::bundle::{MAGIC, MAX_HEADER_BYTES, MAX_SECTION_BYTES};

/// Largest rule source file (`*.vgl`).
pub const MAX_SOURCE_BYTES: u64 = 64 << 20;
/// Largest schema, mapping, key or revocation file.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;
/// Largest bundle the format allows: magic and version, the header, four sections and the
/// signature, each with its 5-byte frame.
pub const MAX_BUNDLE_BYTES: u64 =
    (MAGIC.len() + 2 + 5 + MAX_HEADER_BYTES + 4 * (5 + MAX_SECTION_BYTES) + 5 + SIGNATURE_BYTES)
        as u64;

/// What a path is, for reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file of this many bytes.
    Regular(u64),
    /// A pipe or FIFO: read as a stream.
    Stream,
}

/// `1 MiB`, `64 MiB`, or bytes.
fn size(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

/// The kind of a file from its metadata, or why it is refused.
fn kind_of(path: &Path, meta: &Metadata) -> Result<Kind, String> {
    let ty = meta.file_type();
    if ty.is_file() {
        Ok(Kind::Regular(meta.len()))
    } else if is_fifo(&ty) {
        Ok(Kind::Stream)
    } else {
        Err(format!(
            "`{}` is {}, not a file or a pipe; refused",
            path.display(),
            type_name(meta)
        ))
    }
}

/// Whether a file is a pipe or FIFO.
#[cfg(unix)]
fn is_fifo(ty: &std::fs::FileType) -> bool {
    ty.is_fifo()
}

/// Windows: a named pipe has no file type of its own in the standard library.
#[cfg(not(unix))]
fn is_fifo(_: &std::fs::FileType) -> bool {
    false
}

/// `a directory`, `a character device`, ...: what a file is, for messages.
#[cfg(unix)]
fn type_name(meta: &Metadata) -> &'static str {
    let ty = meta.file_type();
    if ty.is_file() {
        "a regular file"
    } else if ty.is_fifo() {
        "a FIFO"
    } else if ty.is_dir() {
        "a directory"
    } else if ty.is_char_device() {
        "a character device"
    } else if ty.is_block_device() {
        "a block device"
    } else if ty.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// `a directory` or `a special file`: what a file is, for messages (Windows).
#[cfg(not(unix))]
fn type_name(meta: &Metadata) -> &'static str {
    let ty = meta.file_type();
    if ty.is_file() {
        "a regular file"
    } else if ty.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// What `path` is (symlinks followed), or why it cannot be read.
pub fn classify(path: &Path) -> Result<Kind, String> {
    let meta = std::fs::metadata(path).map_err(|e| cannot(path, &e))?;
    kind_of(path, &meta)
}

/// `cannot read `path`: error`.
fn cannot(path: &Path, e: &io::Error) -> String {
    format!("cannot read `{}`: {e}", path.display())
}

/// Opens `path` for reading after checking its type (before opening, so a device is never
/// opened, and again on the open file).
pub fn open(path: &Path) -> Result<(File, Kind), String> {
    classify(path)?;
    let file = File::open(path).map_err(|e| cannot(path, &e))?;
    let meta = file.metadata().map_err(|e| cannot(path, &e))?;
    let kind = kind_of(path, &meta)?;
    Ok((file, kind))
}

/// Reads at most `limit` bytes from `reader`; more is an error naming `path` and `what`.
fn read_capped(reader: impl Read, path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| cannot(path, &e))?;
    if buf.len() as u64 > limit {
        return Err(too_large(path, limit, what));
    }
    Ok(buf)
}

/// The error for a file over its cap.
fn too_large(path: &Path, limit: u64, what: &str) -> String {
    format!(
        "`{}` is larger than {}, the limit for {what}; refused",
        path.display(),
        size(limit)
    )
}

/// Reads a whole file (or stream) of at most `limit` bytes; `what` names it in errors
/// (`a rule file`).
pub fn read_all(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, String> {
    let (file, kind) = open(path)?;
    if let Kind::Regular(len) = kind {
        if len > limit {
            return Err(too_large(path, limit, what));
        }
    }
    read_capped(file, path, limit, what)
}

/// [`read_all`], as UTF-8 text.
pub fn read_text(path: &Path, limit: u64, what: &str) -> Result<String, String> {
    let bytes = read_all(path, limit, what)?;
    String::from_utf8(bytes).map_err(|_| {
        format!(
            "cannot read `{}`: stream did not contain valid UTF-8",
            path.display()
        )
    })
}

/// Reads a bundle: its magic bytes first, and only when they are right the rest, up to
/// [`MAX_BUNDLE_BYTES`]. A file that does not start with the magic is returned as the bytes
/// read so far, for the bundle decoder to refuse with its coded error.
pub fn read_bundle(path: &Path) -> Result<Vec<u8>, String> {
    let (mut file, kind) = open(path)?;
    if let Kind::Regular(len) = kind {
        if len > MAX_BUNDLE_BYTES {
            return Err(too_large(path, MAX_BUNDLE_BYTES, "a bundle"));
        }
    }
    let mut head = Vec::with_capacity(MAGIC.len());
    (&mut file)
        .take(MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(|e| cannot(path, &e))?;
    if head.as_slice() != MAGIC.as_slice() {
        return Ok(head);
    }
    let rest = MAX_BUNDLE_BYTES - MAGIC.len() as u64;
    file.take(rest + 1)
        .read_to_end(&mut head)
        .map_err(|e| cannot(path, &e))?;
    if head.len() as u64 > MAX_BUNDLE_BYTES {
        return Err(too_large(path, MAX_BUNDLE_BYTES, "a bundle"));
    }
    Ok(head)
}

/// What tells a file from another: (device, inode) on Unix, the canonical path on Windows
/// (symlinks and junctions resolved; there, two hard links to one file count as two files).
#[cfg(unix)]
pub type FileId = (u64, u64);
/// What tells a file from another: (device, inode) on Unix, the canonical path on Windows
/// (symlinks and junctions resolved; there, two hard links to one file count as two files).
#[cfg(not(unix))]
pub type FileId = PathBuf;

/// The identity of the file at `path`, whose metadata is `meta`.
#[cfg(unix)]
pub fn id_of(_path: &Path, meta: &Metadata) -> FileId {
    (meta.dev(), meta.ino())
}

/// The identity of the file at `path` (its canonical path; the path itself when it cannot be
/// resolved).
#[cfg(not(unix))]
pub fn id_of(path: &Path, _meta: &Metadata) -> FileId {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A folder walker with one visited set for everything it has been given: see the module
/// documentation.
#[derive(Debug, Default)]
pub struct Walker {
    /// The identity of every directory entered and file kept.
    visited: HashSet<FileId>,
    /// The notes printed (for tests of this module).
    pub notes: Vec<String>,
    /// Whether notes go to stderr.
    quiet: bool,
}

impl Walker {
    /// A walker that prints its notes on stderr.
    pub fn new() -> Walker {
        Walker::default()
    }

    /// Prints (and keeps) a note.
    fn note(&mut self, note: String) {
        if !self.quiet {
            eprintln!("note: {note}");
        }
        self.notes.push(note);
    }

    /// Marks a file named on the command line as seen; false when it was already loaded
    /// (through another path or a walk), then it is skipped with a note. Paths that cannot be
    /// read are kept, for the reader to report.
    pub fn add_file(&mut self, path: &Path) -> bool {
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_dir() => {
                if self.visited.insert(id_of(path, &meta)) {
                    true
                } else {
                    self.note(format!(
                        "skipping `{}`: the same file was already loaded",
                        path.display()
                    ));
                    false
                }
            }
            _ => true,
        }
    }

    /// The files under `dir` (recursively, symlinks followed, in sorted order) whose path
    /// `wanted` accepts: each file once, each directory entered once. An unreadable top
    /// directory is an error; an unreadable subdirectory is skipped with a note.
    pub fn walk(
        &mut self,
        dir: &Path,
        wanted: &dyn Fn(&Path) -> bool,
    ) -> Result<Vec<PathBuf>, String> {
        let mut found = Vec::new();
        let top = std::fs::metadata(dir)
            .map_err(|e| format!("cannot read directory `{}`: {e}", dir.display()))?;
        if !self.visited.insert(id_of(dir, &top)) {
            self.note(format!(
                "skipping `{}`: this directory was already read",
                dir.display()
            ));
            return Ok(found);
        }
        let mut first = true;
        // Directories to read, last first (pushed in reverse so they come out sorted).
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let entries = match std::fs::read_dir(&d) {
                Ok(rd) => rd
                    .map(|e| e.map(|e| e.path()))
                    .collect::<io::Result<Vec<_>>>(),
                Err(e) => Err(e),
            };
            let mut entries = match entries {
                Ok(e) => e,
                Err(e) if first => {
                    return Err(format!("cannot read directory `{}`: {e}", d.display()))
                }
                Err(e) => {
                    self.note(format!("skipping directory `{}`: {e}", d.display()));
                    continue;
                }
            };
            first = false;
            entries.sort();
            let mut subdirs = Vec::new();
            for path in entries {
                let meta = match std::fs::metadata(&path) {
                    Ok(m) => m,
                    Err(_) => {
                        // A dangling symlink or a vanished file: the reader reports it.
                        if wanted(&path) {
                            found.push(path);
                        }
                        continue;
                    }
                };
                let ty = meta.file_type();
                if ty.is_dir() {
                    if self.visited.insert(id_of(&path, &meta)) {
                        subdirs.push(path);
                    } else {
                        self.note(format!(
                            "skipping `{}`: a symlink loop or a directory already read",
                            path.display()
                        ));
                    }
                } else if wanted(&path) {
                    if !ty.is_file() {
                        let what = type_name(&meta);
                        self.note(format!(
                            "skipping `{}`: {what}, not a regular file",
                            path.display()
                        ));
                    } else if self.visited.insert(id_of(&path, &meta)) {
                        found.push(path);
                    } else {
                        self.note(format!(
                            "skipping `{}`: the same file was already loaded",
                            path.display()
                        ));
                    }
                }
            }
            stack.extend(subdirs.into_iter().rev());
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vigil_input_{name}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch");
        dir
    }

    #[test]
    fn walks_end_on_symlink_loops_and_load_each_file_once() {
        let dir = scratch("loops");
        std::fs::create_dir_all(dir.join("a")).expect("a");
        std::fs::write(dir.join("a/r.vgl"), "x").expect("r");
        std::os::unix::fs::symlink("..", dir.join("a/up")).expect("up");
        std::os::unix::fs::symlink(".", dir.join("me")).expect("me");
        let mut w = Walker::new();
        w.quiet = true;
        let vgl = |p: &Path| p.extension().is_some_and(|e| e == "vgl");
        let found = w.walk(&dir, &vgl).expect("walk");
        assert_eq!(found, vec![dir.join("a/r.vgl")]);
        assert_eq!(w.notes.len(), 2, "{:?}", w.notes);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn devices_are_refused_and_caps_hold() {
        let e = read_all(Path::new("/dev/zero"), 10, "a test").unwrap_err();
        assert!(e.contains("/dev/zero") && e.contains("device"), "{e}");
        let dir = scratch("caps");
        let f = dir.join("big");
        std::fs::write(&f, [0u8; 11]).expect("big");
        let e = read_all(&f, 10, "a test").unwrap_err();
        assert!(e.contains("larger than 10 bytes"), "{e}");
        assert_eq!(read_all(&f, 11, "a test").map(|b| b.len()), Ok(11));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bundles_are_not_read_past_wrong_magic() {
        let dir = scratch("magic");
        let f = dir.join("x.vglb");
        std::fs::write(&f, vec![b'x'; 1 << 20]).expect("x");
        assert_eq!(read_bundle(&f).map(|b| b.len()), Ok(MAGIC.len()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
