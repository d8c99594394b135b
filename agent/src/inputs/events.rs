//! Event inputs: what `vigil run`, `vigil bench` and an embedder read events from. An
//! [`Input`] names an [`EventSource`] (a file, a pipe, or stdin); [`collect_inputs`] expands
//! folders (recursively, sorted, `*.jsonl`, `*.ndjson`, `*.json` and their `.gz` forms) through
//! the one [`Walker`]; [`Input::open`] gives the decompressed byte stream (gzip recognised by
//! its magic bytes or a `.gz` name), which the pipeline cuts into lines with the bounded
//! [`LineReader`](super::lines::LineReader). [`make_decoder`] builds the decoder the lines go
//! through (native JSON lines or a field mapping). Further sources (EVTX files, live sensors)
//! are further [`EventSource`] variants.

use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use vigil_runtime::decode::{Decoder, FieldSet, Mapping};
use vigil_runtime::schema::Schema;

use super::files::{self, read_text, Walker, MAX_CONFIG_BYTES};

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

    /// Opens the input as a stream of its decompressed bytes; `count` counts the bytes read
    /// before decompression ([`open_events`]).
    ///
    /// # Errors
    /// The file cannot be opened, is a device or socket, or its first bytes cannot be read.
    pub fn open(&self, count: Arc<AtomicU64>) -> io::Result<Box<dyn Read + Send>> {
        open_events(self.path(), count)
    }
}

/// Whether a file found in a directory is an events file.
pub fn is_events_file(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".jsonl", ".ndjson", ".json"]
        .iter()
        .any(|ext| name.ends_with(ext))
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

/// Opens an events input (stdin for `None`) as a stream of its decompressed bytes: a file or a
/// pipe (checked by [`files::open`]: devices are refused), gzip when it is named `.gz` or
/// starts with the gzip magic bytes (read first and put back in front, so pipes work too).
/// `count` counts the bytes read before decompression.
///
/// # Errors
/// The file cannot be opened or is a device or socket, or reading its first bytes fails.
pub fn open_events(path: Option<&Path>, count: Arc<AtomicU64>) -> io::Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = match path {
        None => Box::new(io::stdin()),
        Some(p) => Box::new(files::open(p).map_err(io::Error::other)?.0),
    };
    let mut counted = Counting { inner: raw, count };
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < magic.len() {
        let n = match counted.read(&mut magic[got..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        got += n;
    }
    let named_gz = path.is_some_and(|p| p.extension().is_some_and(|e| e == "gz"));
    let gz = named_gz || (got == 2 && magic == [0x1f, 0x8b]);
    let head = io::Cursor::new(magic.get(..got).unwrap_or_default().to_vec());
    let whole = head.chain(counted);
    Ok(if gz {
        Box::new(MultiGzDecoder::new(BufReader::new(whole)))
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
    }
}
