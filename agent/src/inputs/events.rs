//! Event inputs: what `vigil run`, `vigil bench`, `vigil diff`, `vigil agent` and an embedder
//! read events from. An [`Input`] names an [`EventSource`] (a file, a pipe, or stdin);
//! [`collect_inputs`] expands folders (recursively, sorted, `*.jsonl`, `*.ndjson`, `*.json`,
//! `*.evtx` and their `.gz` forms) through the one [`Walker`]; [`Input::open`] gives the
//! input as a stream of JSON lines, which the pipeline cuts into lines with the bounded
//! [`LineReader`](super::lines::LineReader):
//!
//! - gzip is recognised by its magic bytes or a `.gz` name, and decompressed as it is read;
//! - EVTX (Windows event log files) by its magic bytes (`ElfFile\0`) or an `.evtx` name,
//!   also inside gzip and on stdin: each record becomes one JSON line ([`super::evtx`]);
//! - anything else is read as JSON lines.
//!
//! Problems that are not lines (a damaged EVTX chunk) go to the input's [`Issues`].
//! [`make_decoder`] builds the decoder the lines go through (native JSON lines or a field
//! mapping).

use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use vigil_runtime::decode::{Decoder, FieldSet, Mapping};
use vigil_runtime::schema::Schema;

use super::files::{self, read_text, Kind, Walker, MAX_CONFIG_BYTES};
use super::issues::Issues;

/// Where an input's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSource {
    /// The process's standard input (`-` on a command line).
    Stdin,
    /// A file or a pipe (`/dev/fd/N`, a FIFO); devices and sockets are refused when opened.
    File(PathBuf),
}

/// One input of events.
#[derive(Debug, Clone)]
pub struct Input {
    /// The name alerts carry in `source.file`: the path as given (or `-`).
    pub name: String,
    /// Where its bytes come from.
    pub source: EventSource,
}

impl Input {
    /// Stdin, named `-`.
    pub fn stdin() -> Input {
        Input {
            name: "-".to_owned(),
            source: EventSource::Stdin,
        }
    }

    /// A file, named by its path.
    pub fn file(path: PathBuf) -> Input {
        Input {
            name: path.display().to_string(),
            source: EventSource::File(path),
        }
    }

    /// The file, if the input is one.
    pub fn path(&self) -> Option<&Path> {
        match &self.source {
            EventSource::Stdin => None,
            EventSource::File(p) => Some(p),
        }
    }

    /// Opens the input as a stream of JSON lines; `count` counts the bytes read before
    /// decompression ([`open_events`]). EVTX damage is printed on stderr.
    ///
    /// # Errors
    /// The file cannot be opened, is a device or socket, or its first bytes cannot be read.
    pub fn open(&self, count: Arc<AtomicU64>) -> io::Result<Box<dyn Read + Send>> {
        open_events(self.path(), count)
    }

    /// [`Input::open`], reporting problems that are not lines (EVTX damage) to `issues`.
    ///
    /// # Errors
    /// As [`Input::open`].
    pub fn open_with(
        &self,
        count: Arc<AtomicU64>,
        issues: &Issues,
    ) -> io::Result<Box<dyn Read + Send>> {
        open_events_with(self.path(), count, issues)
    }
}

/// Whether a file found in a directory is an events file: `*.jsonl`, `*.ndjson`, `*.json`,
/// `*.evtx`, and their `.gz` forms (any case).
pub fn is_events_file(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".jsonl", ".ndjson", ".json", ".evtx"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Whether a path is named as an EVTX file (`*.evtx`, `*.evtx.gz`, any case).
pub fn is_evtx_name(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.ends_with(".evtx")
}

/// The inputs `paths` name, directories expanded (`-` is stdin, once at most); a note on
/// stderr for a directory without event files.
///
/// # Errors
/// A path that does not exist, a device or socket, or stdin named twice.
pub fn collect_inputs(paths: &[PathBuf]) -> Result<Vec<Input>, String> {
    let mut inputs = Vec::new();
    let mut stdin_seen = false;
    let mut walker = Walker::new();
    for p in paths {
        if p.as_os_str() == "-" {
            if stdin_seen {
                return Err("stdin (`-`) given twice".to_owned());
            }
            stdin_seen = true;
            inputs.push(Input::stdin());
        } else if p.is_dir() {
            let files = walker.walk(p, &is_events_file)?;
            if files.is_empty() {
                eprintln!("note: no event files in `{}`", p.display());
            }
            inputs.extend(files.into_iter().map(Input::file));
        } else if std::fs::symlink_metadata(p).is_ok() {
            // A file or a pipe (`/dev/fd/N`, a FIFO); a device or socket is refused here.
            files::classify(p)?;
            inputs.push(Input::file(p.clone()));
        } else {
            return Err(format!("`{}` does not exist", p.display()));
        }
    }
    Ok(inputs)
}

/// A reader that counts the bytes it hands out (the progress bar reads the count).
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.inner.seek(to)
    }
}

/// A reader whose first read fails with a kept error (a gzip stream whose first bytes are
/// bad: reported by the pipeline as a read error, E0712, like any later one).
struct Failing(Option<io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}

/// The EVTX magic bytes' length: what is read of an input before deciding what it is.
const HEAD_BYTES: usize = 8;

/// Reads up to `n` bytes (fewer only at the end of the input).
fn read_head(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut head = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match r.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    head.truncate(got);
    Ok(head)
}

/// Whether `head` starts an EVTX file.
fn is_evtx_magic(head: &[u8]) -> bool {
    head.starts_with(EVTX_MAGIC)
}

/// The EVTX magic bytes (`ElfFile\0`).
const EVTX_MAGIC: &[u8; 8] = b"ElfFile\0";

/// An EVTX input as JSON lines, from a seekable reader.
#[cfg(feature = "evtx")]
fn evtx_lines<R>(reader: R, name: &str, issues: &Issues) -> Box<dyn Read + Send>
where
    R: Read + Seek + Send + 'static,
{
    Box::new(super::evtx::EvtxLines::new(reader, name, issues.clone()))
}

/// Without EVTX support: an EVTX input is reported (E0726) and gives no line.
#[cfg(not(feature = "evtx"))]
fn evtx_lines<R>(_: R, name: &str, issues: &Issues) -> Box<dyn Read + Send>
where
    R: Read + Seek + Send + 'static,
{
    unsupported(name, issues)
}

/// The E0726 report of an EVTX input in a build without EVTX support.
#[cfg(not(feature = "evtx"))]
fn unsupported(name: &str, issues: &Issues) -> Box<dyn Read + Send> {
    issues.report(
        vigil_runtime::decode::ErrorCode::EvtxUnsupported,
        0,
        format!("`{name}` is an EVTX file, and this build reads none (feature `evtx`)"),
    );
    Box::new(io::empty())
}

/// An EVTX stream (stdin, a pipe, gzip) as JSON lines: copied to a temporary file first
/// ([`super::evtx::spool`]); a copy that fails is reported (E0725) and gives no line.
#[cfg(feature = "evtx")]
fn evtx_stream(
    mut stream: Box<dyn Read + Send>,
    name: &str,
    issues: &Issues,
) -> Box<dyn Read + Send> {
    match super::evtx::spool(&mut stream) {
        Ok(spooled) => evtx_lines(spooled, name, issues),
        Err(e) => {
            issues.report(
                vigil_runtime::decode::ErrorCode::EvtxSpool,
                0,
                format!("`{name}`: cannot copy the EVTX stream to a temporary file: {e}; not read"),
            );
            Box::new(io::empty())
        }
    }
}

/// Without EVTX support: see [`unsupported`].
#[cfg(not(feature = "evtx"))]
fn evtx_stream(_: Box<dyn Read + Send>, name: &str, issues: &Issues) -> Box<dyn Read + Send> {
    unsupported(name, issues)
}

/// Opens an events input (stdin for `None`) as a stream of JSON lines, EVTX damage printed on
/// stderr: see [`open_events_with`].
///
/// # Errors
/// As [`open_events_with`].
pub fn open_events(path: Option<&Path>, count: Arc<AtomicU64>) -> io::Result<Box<dyn Read + Send>> {
    open_events_with(path, count, &Issues::new())
}

/// Opens an events input (stdin for `None`) as a stream of JSON lines: a file or a pipe
/// (checked by [`files::open`]: devices are refused); gzip when it is named `.gz` or starts
/// with the gzip magic bytes; EVTX when it is named `.evtx` (`.evtx.gz`) or starts with the
/// EVTX magic bytes, directly or inside gzip (a stream is copied to a temporary file first).
/// The first bytes are read to tell and put back in front, so pipes work too. `count` counts
/// the bytes read before decompression; EVTX damage goes to `issues`.
///
/// # Errors
/// The file cannot be opened or is a device or socket, or reading its first bytes fails.
pub fn open_events_with(
    path: Option<&Path>,
    count: Arc<AtomicU64>,
    issues: &Issues,
) -> io::Result<Box<dyn Read + Send>> {
    let name = path.map_or_else(|| "-".to_owned(), |p| p.display().to_string());
    let named_gz =
        path.is_some_and(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz")));
    let named_evtx = path.is_some_and(is_evtx_name);
    let raw: Box<dyn Read + Send> = match path {
        None => Box::new(io::stdin()),
        Some(p) => {
            let (mut file, kind) = files::open(p).map_err(io::Error::other)?;
            if matches!(kind, Kind::Regular(_)) && !named_gz {
                // A file can be read where it is: EVTX needs no copy.
                let head = read_head(&mut file, HEAD_BYTES)?;
                file.seek(SeekFrom::Start(0))?;
                if named_evtx || is_evtx_magic(&head) {
                    return Ok(evtx_lines(Counting { inner: file, count }, &name, issues));
                }
            }
            Box::new(file)
        }
    };
    let mut counted = Counting { inner: raw, count };
    let head = read_head(&mut counted, HEAD_BYTES)?;
    let gz = named_gz || head.starts_with(&[0x1f, 0x8b]);
    let whole = io::Cursor::new(head.clone()).chain(counted);
    if gz {
        let mut decoded = MultiGzDecoder::new(BufReader::new(whole));
        let inner = match read_head(&mut decoded, HEAD_BYTES) {
            Ok(h) => h,
            Err(e) => return Ok(Box::new(Failing(Some(e)))),
        };
        let evtx = is_evtx_magic(&inner);
        let decoded = Box::new(io::Cursor::new(inner).chain(decoded));
        return Ok(if evtx {
            evtx_stream(decoded, &name, issues)
        } else {
            decoded
        });
    }
    Ok(if named_evtx || is_evtx_magic(&head) {
        evtx_stream(Box::new(whole), &name, issues)
    } else {
        Box::new(whole)
    })
}

/// The decoder: through `mapping` (a shipped mapping's name or a TOML file; `native`: Vigil's
/// native JSON lines only), or without one, each record's form told by its shape
/// ([`Decoder::auto`]: an `event` key is the native form, `Channel`/`EventID` a Windows record
/// read through the built-in `windows` mapping). With `projection` it decodes only those fields
/// ([`Decoder::project`]): `vigil run` and `vigil bench` pass what the loaded program reads;
/// `vigil agent`, whose bundle can change between events, passes `None`.
///
/// # Errors
/// The mapping cannot be read or compiled against the schema (overlapping routes: E0715).
pub fn make_decoder(
    mapping: Option<&str>,
    schema: &Schema,
    projection: Option<&FieldSet>,
) -> Result<Decoder, String> {
    let is_file = |m: &str| std::fs::symlink_metadata(Path::new(m)).is_ok_and(|m| !m.is_dir());
    let mut decoder = match mapping {
        None => Decoder::auto(schema),
        Some("native") if !is_file("native") => Decoder::native(schema),
        Some(m) => {
            let path = Path::new(m);
            let mapping = if is_file(m) {
                let text = read_text(path, MAX_CONFIG_BYTES, "a mapping file")?;
                Mapping::from_toml(m, &text).map_err(|e| format!("mapping `{m}`: {e}"))?
            } else {
                Mapping::builtin(m).map_err(|e| {
                    format!("`{m}` is neither a mapping file nor a shipped mapping: {e}")
                })?
            };
            Decoder::with_mapping(schema, &mapping).map_err(|e| e.to_string())?
        }
    };
    if let Some(fields) = projection {
        decoder.project(fields);
    }
    Ok(decoder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_files_are_recognised_by_name() {
        assert!(is_events_file(Path::new("a/b.jsonl")));
        assert!(is_events_file(Path::new("a/b.JSONL.gz")));
        assert!(is_events_file(Path::new("b.json")));
        assert!(!is_events_file(Path::new("manifest.tsv")));
        assert!(!is_events_file(Path::new("LICENSE")));
        assert!(is_events_file(Path::new("Security.EVTX")));
        assert!(is_evtx_name(Path::new("a/s.evtx.gz")));
        assert!(!is_evtx_name(Path::new("a/s.jsonl.gz")));
    }
}
