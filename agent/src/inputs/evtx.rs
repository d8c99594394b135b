//! Windows event log files (`.evtx`) as event inputs: [`EvtxLines`] reads one with the `evtx`
//! crate, chunk by chunk, and hands out one flat JSON line per record, the same line the
//! corpus's converter writes for it (`shared/corpus/README.md`, "Event format"), so the
//! decoder, the mappings (`--mapping windows`) and the run pipeline read it like any JSON-lines
//! input.
//!
//! **The line** ([`flatten`]): `EventID, Channel, Provider_Name, Computer, Security_UserID,
//! EventRecordID, TimeCreated, Level, Task, Opcode, Keywords, Version` (null when the record
//! lacks one), then every `EventData` field by name (unnamed `<Data>` items under `Data`, a
//! string or a list; `Binary` as its hex text), or for a record with `UserData` the children
//! of its element. An `EventData` field with the name of one of those System keys wins, and
//! the System value is kept as `System_<key>`. Values keep the JSON type the parser gives them
//! (integers, booleans, strings, null). `TimeCreated` is the parser's text, to the 100 ns of a
//! Windows FILETIME (the corpus's lines, written with an older version of the parser, stop at
//! the microsecond).
//!
//! **Memory** stays bounded: one 64 KiB chunk and the lines of its records at a time, whatever
//! the file's size. The parser needs to seek, so a stream (stdin, a pipe, gzip) holding EVTX is
//! copied to a temporary file first ([`spool`], at most [`MAX_SPOOL_BYTES`]).
//!
//! **Damage** is reported to the input's [`Issues`] with a code naming the file and the place,
//! and reading goes on: a bad file header (E0720, nothing read), a checksum mismatch (E0721,
//! the chunk is still read), an unreadable chunk (E0722, skipped), an unreadable record (E0723,
//! skipped), a file cut inside a chunk (E0724: the records wholly before the cut are read).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use evtx::err::EvtxError;
use evtx::{EvtxChunkData, EvtxParser, IntoIterChunks, ParserSettings};
use serde_json::{Map, Value};
use vigil_runtime::decode::ErrorCode;

use super::issues::Issues;

/// The first bytes of an EVTX file.
pub const MAGIC: &[u8; 8] = b"ElfFile\0";
/// Most bytes of EVTX copied from a stream to a temporary file (4 GiB, the size of the largest
/// logs Windows keeps by default many times over).
pub const MAX_SPOOL_BYTES: u64 = 4 << 30;
/// The size of the file header block.
const HEADER_BYTES: u64 = 4096;
/// The size of a chunk.
const CHUNK_BYTES: u64 = 65536;
/// The System keys of a line, in order.
pub const SYSTEM_KEYS: [&str; 12] = [
    "EventID",
    "Channel",
    "Provider_Name",
    "Computer",
    "Security_UserID",
    "EventRecordID",
    "TimeCreated",
    "Level",
    "Task",
    "Opcode",
    "Keywords",
    "Version",
];

/// A reader that gives the file as if it ended on a whole chunk: zeros past its real end, so
/// the parser reads the records of a chunk that was cut (the ones wholly before the cut are
/// kept, see [`EvtxLines`]).
struct Padded<R> {
    inner: R,
    /// The real length.
    len: u64,
    /// The length given: `len` rounded up to the end of its chunk.
    padded: u64,
    pos: u64,
}

impl<R: Read + Seek> Read for Padded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.padded || buf.is_empty() {
            return Ok(0);
        }
        let n = if self.pos < self.len {
            let room = usize::try_from(self.len - self.pos).unwrap_or(usize::MAX);
            let want = buf.len().min(room);
            let n = self.inner.read(&mut buf[..want])?;
            if n == 0 {
                // The file shrank under the reader: the rest reads as zeros.
                self.len = self.pos;
                return self.read(buf);
            }
            n
        } else {
            let room = usize::try_from(self.padded - self.pos).unwrap_or(usize::MAX);
            let n = buf.len().min(room);
            buf[..n].fill(0);
            n
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for Padded<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.padded.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target =
            target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before 0"))?;
        self.inner.seek(SeekFrom::Start(target.min(self.len)))?;
        self.pos = target;
        Ok(target)
    }
}

/// An EVTX input as JSON lines, one per record, read chunk by chunk. See the module docs.
pub struct EvtxLines<R: Read + Seek> {
    /// The chunks still to read (`None` when the header could not be read).
    chunks: Option<IntoIterChunks<Padded<R>>>,
    settings: Arc<ParserSettings>,
    /// The input's name, in messages.
    name: String,
    issues: Issues,
    /// Where the file was cut: (chunk number, offset in that chunk), when it ends inside one.
    cut: Option<(u64, u64)>,
    /// Lines of the current chunk not handed out yet: `out[pos..]`.
    out: Vec<u8>,
    pos: usize,
    /// Lines (records) made so far.
    lines: u64,
}

impl<R: Read + Seek> EvtxLines<R> {
    /// Reads the file header of `reader` (from its start); a bad one is reported (E0720) and
    /// the input then gives no line.
    pub fn new(mut reader: R, name: &str, issues: Issues) -> EvtxLines<R> {
        let mut lines = EvtxLines {
            chunks: None,
            settings: Arc::new(ParserSettings::new().validate_checksums(false)),
            name: name.to_owned(),
            issues,
            cut: None,
            out: Vec::new(),
            pos: 0,
            lines: 0,
        };
        let len = match reader
            .seek(SeekFrom::End(0))
            .and_then(|len| reader.seek(SeekFrom::Start(0)).map(|_| len))
        {
            Ok(len) => len,
            Err(e) => {
                lines.report(ErrorCode::EvtxHeader, format!("cannot seek: {e}"));
                return lines;
            }
        };
        let padded = if len <= HEADER_BYTES {
            HEADER_BYTES
        } else {
            HEADER_BYTES + (len - HEADER_BYTES).div_ceil(CHUNK_BYTES) * CHUNK_BYTES
        };
        if padded != len && len > HEADER_BYTES {
            let chunk = (len - HEADER_BYTES) / CHUNK_BYTES;
            lines.cut = Some((chunk, (len - HEADER_BYTES) % CHUNK_BYTES));
        }
        let padded = Padded {
            inner: reader,
            len,
            padded,
            pos: 0,
        };
        let parser = match EvtxParser::from_read_seek(padded) {
            Ok(p) => p,
            Err(e) => {
                lines.report(
                    ErrorCode::EvtxHeader,
                    format!("no EVTX file header ({})", chain(&e)),
                );
                return lines;
            }
        };
        if len < HEADER_BYTES {
            lines.report(
                ErrorCode::EvtxTruncated,
                format!("the file ends at byte {len}, inside its 4096-byte header: no chunk"),
            );
        }
        let header = parser.header();
        let whole = len.saturating_sub(HEADER_BYTES) / CHUNK_BYTES;
        if lines.cut.is_none() && len >= HEADER_BYTES && u64::from(header.chunk_count) > whole {
            lines.report(
                ErrorCode::EvtxTruncated,
                format!(
                    "the file header names {} chunks, the file holds {whole}: it was cut short",
                    header.chunk_count
                ),
            );
        }
        if !header.validate_checksum() {
            lines.report(
                ErrorCode::EvtxChecksum,
                format!(
                    "file header: CRC32 {:#010x} stored, {:#010x} computed; its chunks are read all the same",
                    header.checksum, header.computed_checksum
                ),
            );
        }
        let parser = parser.with_configuration((*lines.settings).clone());
        lines.chunks = Some(parser.into_chunks());
        lines
    }

    /// Lines (records) made so far.
    pub fn records(&self) -> u64 {
        self.lines
    }

    /// Reports an issue at the current line.
    fn report(&self, code: ErrorCode, what: String) {
        self.issues
            .report(code, self.lines, format!("`{}`: {what}", self.name));
    }

    /// Reads chunks until one gives lines (or the chunks end: false).
    fn fill(&mut self) -> bool {
        self.out.clear();
        self.pos = 0;
        while self.out.is_empty() {
            let Some(next) = self.chunks.as_mut().and_then(Iterator::next) else {
                self.chunks = None;
                return false;
            };
            match next {
                Ok(data) => self.chunk(data),
                Err(e) => {
                    let (code, number) = match &e {
                        EvtxError::FailedToParseChunk { chunk_id, .. } => {
                            let code = if self.cut.is_some_and(|(c, _)| c == *chunk_id) {
                                ErrorCode::EvtxTruncated
                            } else {
                                ErrorCode::EvtxChunkUnreadable
                            };
                            (code, Some(*chunk_id))
                        }
                        _ => (ErrorCode::EvtxChunkUnreadable, None),
                    };
                    let place = number.map_or_else(String::new, |n| format!("{}: ", at_chunk(n)));
                    self.report(code, format!("{place}{}; skipped", chain(&e)));
                }
            }
        }
        true
    }

    /// Renders the records of one chunk into `out`.
    fn chunk(&mut self, mut data: EvtxChunkData) {
        let number = data.number.unwrap_or(0);
        let ids = (
            data.header.first_event_record_id,
            data.header.last_event_record_id,
        );
        let cut = self.cut.filter(|(c, _)| *c == number).map(|(_, at)| at);
        if let Some(at) = cut {
            self.report(
                ErrorCode::EvtxTruncated,
                format!(
                    "the file ends {at} bytes into {} (records {}..={}): the records wholly before the end are read",
                    at_chunk(number),
                    ids.0,
                    ids.1
                ),
            );
        } else if !data.validate_checksum() {
            self.report(
                ErrorCode::EvtxChecksum,
                format!(
                    "{} (records {}..={}): CRC32 mismatch; its records are read all the same",
                    at_chunk(number),
                    ids.0,
                    ids.1
                ),
            );
        }
        let mut chunk = match data.parse(self.settings.clone()) {
            Ok(c) => c,
            Err(e) => {
                let code = if cut.is_some() {
                    ErrorCode::EvtxTruncated
                } else {
                    ErrorCode::EvtxChunkUnreadable
                };
                self.report(
                    code,
                    format!("{}: {e}; its records are skipped", at_chunk(number)),
                );
                return;
            }
        };
        let mut issues = Vec::new();
        let mut made = 0u64;
        for record in chunk.iter() {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    issues.push((made, record_error(number, &e)));
                    continue;
                }
            };
            let id = record.event_record_id;
            // The record and the copy of its size that ends it.
            let end = record.binxml_offset + u64::from(record.binxml_size) + 4;
            if let Some(at) = cut.filter(|at| end > *at) {
                issues.push((
                    made,
                    format!(
                        "record {id} ({}, bytes {}..{end}) is cut at byte {at}; skipped",
                        at_chunk(number),
                        record.binxml_offset
                    ),
                ));
                continue;
            }
            match record.into_json_value() {
                Ok(r) => {
                    let line = Value::Object(flatten(r.data));
                    if serde_json::to_writer(&mut self.out, &line).is_ok() {
                        self.out.push(b'\n');
                        made += 1;
                    }
                }
                Err(e) => issues.push((
                    made,
                    format!("record {id} ({}): {}; skipped", at_chunk(number), chain(&e)),
                )),
            }
        }
        let code = if cut.is_some() {
            ErrorCode::EvtxTruncated
        } else {
            ErrorCode::EvtxRecordUnreadable
        };
        for (before, message) in issues {
            self.issues.report(
                code,
                self.lines + before,
                format!("`{}`: {message}", self.name),
            );
        }
        self.lines += made;
    }
}

impl<R: Read + Seek> Read for EvtxLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.out.len() && !self.fill() {
            return Ok(0);
        }
        let rest = self.out.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// `chunk 3 (file offset 0x31000)`.
fn at_chunk(number: u64) -> String {
    let offset = number
        .saturating_mul(CHUNK_BYTES)
        .saturating_add(HEADER_BYTES);
    format!("chunk {number} (file offset {offset:#x})")
}

/// An error and its sources: `a: b: c`.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

/// The message of a record the parser could not read.
fn record_error(chunk: u64, e: &EvtxError) -> String {
    match e {
        EvtxError::FailedToParseRecord { record_id, .. } => {
            format!(
                "record {record_id} ({}): {}; skipped",
                at_chunk(chunk),
                chain(e)
            )
        }
        _ => format!("{}: {}; skipped", at_chunk(chunk), chain(e)),
    }
}

/// The value of an element: its `#text` when it has attributes, else itself.
fn text_of(v: Value) -> Value {
    match v {
        Value::Object(mut m) if m.contains_key("#text") => m.remove("#text").unwrap_or(Value::Null),
        Value::Object(m) if m.keys().all(|k| k == "#attributes") => Value::Null,
        v => v,
    }
}

/// An attribute of an element: `v["#attributes"][name]`.
fn attribute(v: Option<&Value>, name: &str) -> Value {
    v.and_then(|v| v.get("#attributes"))
        .and_then(|a| a.get(name))
        .cloned()
        .unwrap_or(Value::Null)
}

/// A record as the `evtx` crate renders it (`{"Event": {"System": ..., "EventData": ...}}`),
/// flattened into one line's keys. See the module docs.
pub fn flatten(record: Value) -> Map<String, Value> {
    let mut out = Map::new();
    let mut event = match record {
        Value::Object(mut m) => match m.remove("Event") {
            Some(Value::Object(e)) => e,
            _ => Map::new(),
        },
        _ => Map::new(),
    };
    let system = match event.remove("System") {
        Some(Value::Object(s)) => s,
        _ => Map::new(),
    };
    let field = |key: &str| system.get(key).cloned().map_or(Value::Null, text_of);
    for key in SYSTEM_KEYS {
        let value = match key {
            "Provider_Name" => attribute(system.get("Provider"), "Name"),
            "Security_UserID" => attribute(system.get("Security"), "UserID"),
            "TimeCreated" => attribute(system.get("TimeCreated"), "SystemTime"),
            _ => field(key),
        };
        out.insert(key.to_owned(), value);
    }
    let data = match (event.remove("EventData"), event.remove("UserData")) {
        (Some(Value::Object(d)), _) => d,
        (_, Some(Value::Object(u))) => {
            // UserData holds one element (`<LogFileCleared xmlns=...>`): its children.
            let mut children = Map::new();
            for (_, v) in u {
                if let Value::Object(inner) = v {
                    children.extend(inner);
                }
            }
            children
        }
        _ => Map::new(),
    };
    for (key, value) in data {
        if key == "#attributes" {
            continue;
        }
        let value = text_of(value);
        if SYSTEM_KEYS.contains(&key.as_str()) {
            let system = out.insert(key.clone(), value).unwrap_or(Value::Null);
            out.insert(format!("System_{key}"), system);
        } else {
            out.insert(key, value);
        }
    }
    out
}

/// A stream holding EVTX copied to an unnamed temporary file (at most [`MAX_SPOOL_BYTES`]),
/// rewound: the parser needs to seek. The file is removed at once (on Unix; elsewhere when
/// it is dropped).
pub struct Spool {
    file: File,
    path: Option<PathBuf>,
}

impl Read for Spool {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Seek for Spool {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.file.seek(to)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Copies `stream` to a temporary file (see [`Spool`]).
///
/// # Errors
/// The temporary file cannot be made or written, or the stream is longer than
/// [`MAX_SPOOL_BYTES`].
pub fn spool(stream: &mut dyn Read) -> io::Result<Spool> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    let mut made = None;
    for _ in 0..16 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!(
            "vigil-evtx-{}-{}-{nanos}.spool",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => {
                made = Some((f, path));
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    let (file, path) = made.ok_or_else(|| io::Error::other("no free temporary file name"))?;
    // On Unix the open file outlives its name: nothing is left behind, whatever happens.
    let path = if cfg!(unix) && std::fs::remove_file(&path).is_ok() {
        None
    } else {
        Some(path)
    };
    let mut spool = Spool { file, path };
    let mut writer = io::BufWriter::new(&mut spool.file);
    let copied = io::copy(&mut stream.take(MAX_SPOOL_BYTES + 1), &mut writer)?;
    // Flushed here, not when dropped, so a full disk is an error rather than a short copy.
    writer.flush()?;
    drop(writer);
    if copied > MAX_SPOOL_BYTES {
        return Err(io::Error::other(format!(
            "more than {} GiB of EVTX on a stream; give the file by name",
            MAX_SPOOL_BYTES >> 30
        )));
    }
    spool.file.seek(SeekFrom::Start(0))?;
    Ok(spool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_flatten_to_the_corpus_keys() {
        let record = json!({"Event": {"#attributes": {"xmlns": "x"}, "System": {
            "Provider": {"#attributes": {"Name": "P", "Guid": "{g}"}},
            "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7036},
            "Level": 4, "Task": 0, "Keywords": "0x80", "TimeCreated": {"#attributes": {"SystemTime": "2020-01-01T00:00:00.1234567Z"}},
            "EventRecordID": 9, "Channel": "System", "Computer": "pc",
            "Security": {"#attributes": {"UserID": "S-1-5-18"}}},
            "EventData": {"Data": {"#text": ["a", "b"]}, "Channel": "Other", "Binary": "00"}}});
        let line = flatten(record);
        let keys: Vec<&str> = line.keys().map(String::as_str).collect();
        assert_eq!(&keys[..12], &SYSTEM_KEYS[..]);
        assert_eq!(&keys[12..], ["Data", "System_Channel", "Binary"]);
        assert_eq!(line["EventID"], json!(7036));
        assert_eq!(line["Provider_Name"], json!("P"));
        assert_eq!(line["Security_UserID"], json!("S-1-5-18"));
        assert_eq!(line["Opcode"], Value::Null);
        assert_eq!(line["Channel"], json!("Other"));
        assert_eq!(line["System_Channel"], json!("System"));
        assert_eq!(line["Data"], json!(["a", "b"]));
    }

    #[test]
    fn user_data_children_are_fields() {
        let record = json!({"Event": {"System": {"EventID": 1102},
            "UserData": {"LogFileCleared": {"#attributes": {"xmlns": "x"}, "SubjectUserName": "bob"}}}});
        let line = flatten(record);
        assert_eq!(line["SubjectUserName"], json!("bob"));
        assert!(!line.contains_key("#attributes"));
    }

    #[test]
    fn garbage_gives_an_error_not_a_panic() {
        let issues = Issues::quiet();
        let mut lines = EvtxLines::new(
            io::Cursor::new(b"ElfFile\0garbage".to_vec()),
            "g",
            issues.clone(),
        );
        let mut out = Vec::new();
        assert!(lines.read_to_end(&mut out).is_ok());
        assert!(out.is_empty());
        assert!(issues.count() > 0, "{:?}", issues.first());
    }
}
