//! Where the agent's event lines come from: the finite inputs (files in order, `-` for stdin,
//! read through the one input layer: gzip and EVTX too, [`open_events`]) and the followed file (`--follow`), each read on its own thread through the bounded
//! [`LineReader`](crate::inputs::lines::LineReader) and handed to the agent loop as [`Msg`]s.
//! The followed file's position ([`FilePos`]) survives log rotation (rename or copytruncate)
//! and restarts (`STATE/follow.json`).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
#[cfg(windows)]
use std::os::windows::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::inputs::lines::{LineReader, Outcome};
use crate::inputs::open_events;

/// Where a followed file was read up to: the end of the last line handed over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FilePos {
    pub(super) dev: u64,
    pub(super) ino: u64,
    pub(super) offset: u64,
    /// Lines read from the file up to `offset`.
    pub(super) line_no: u64,
}

/// What `follow.json` holds.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct FollowRecord {
    pub(super) path: PathBuf,
    #[serde(flatten)]
    pub(super) pos: FilePos,
}

/// One input line (numbered in its file; `at`: the followed file's position after it), or the
/// end of the finite inputs.
pub(super) enum Msg {
    Line {
        line: Vec<u8>,
        file: usize,
        line_no: u64,
        too_long: bool,
        at: Option<FilePos>,
    },
    /// Events of the live source, built already.
    Events(Vec<vigil_runtime::Event<'static>>),
    Done,
}

/// Reads the finite inputs in order, then says `Done`.
pub(super) fn spawn_files(inputs: Vec<PathBuf>, tx: SyncSender<Msg>) {
    std::thread::spawn(move || {
        for (i, path) in inputs.iter().enumerate() {
            // The one input layer: gzip and EVTX by name or magic bytes, stdin for `-`.
            let source = (path.as_os_str() != "-").then_some(path.as_path());
            let reader = open_events(source, Arc::default())
                .map(|r| Box::new(BufReader::new(r)) as Box<dyn BufRead>);
            let mut reader = match reader {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("vigil agent: cannot read `{}`: {e}", path.display());
                    continue;
                }
            };
            let mut lines = LineReader::new();
            let mut line_no = 0u64;
            loop {
                let mut line = Vec::new();
                let too_long = match lines.read(&mut *reader, &mut line) {
                    Ok(Outcome::End) => break,
                    Ok(Outcome::Line { .. } | Outcome::Pending { .. }) => false,
                    Ok(Outcome::TooLong { .. }) => true,
                    Err(e) => {
                        eprintln!("vigil agent: reading `{}`: {e}", path.display());
                        break;
                    }
                };
                line_no += 1;
                let msg = Msg::Line {
                    line,
                    file: i,
                    line_no,
                    too_long,
                    at: None,
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
        }
        let _ = tx.send(Msg::Done);
    });
}

/// The device and inode of a file.
#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// Windows: the standard library gives no file index (it is unstable), so a file is told from
/// its replacement by its creation time. A file created under the same name within seconds of
/// the old one's rename may inherit its creation time (NTFS "tunneling"); such a rotation is
/// then seen as a truncation (the new file is shorter) or not at all.
#[cfg(windows)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    (0, meta.creation_time())
}

/// A followed file, open.
struct Followed {
    reader: BufReader<File>,
    dev: u64,
    ino: u64,
    /// Bytes consumed through `reader` (an unfinished line's included).
    pos: u64,
    line_no: u64,
    lines: LineReader,
}

impl Followed {
    /// Opens `path` at `resume` when it is the same file (device, inode) and not shorter;
    /// otherwise at its start.
    fn open(path: &Path, resume: Option<FilePos>) -> io::Result<Followed> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        let (dev, ino) = identity(&meta);
        let mut f = Followed {
            reader: BufReader::new(file),
            dev,
            ino,
            pos: 0,
            line_no: 0,
            lines: LineReader::following(),
        };
        if let Some(r) = resume.filter(|r| (r.dev, r.ino) == (dev, ino) && r.offset <= meta.len()) {
            f.reader.seek(SeekFrom::Start(r.offset))?;
            f.pos = r.offset;
            f.line_no = r.line_no;
        }
        Ok(f)
    }

    /// The position after the last whole line.
    fn at(&self) -> FilePos {
        FilePos {
            dev: self.dev,
            ino: self.ino,
            offset: self.pos.saturating_sub(self.lines.pending_bytes()),
            line_no: self.line_no,
        }
    }

    /// Reads what there is to read, sending each line; false when the receiver is gone.
    fn drain(&mut self, file: usize, tx: &SyncSender<Msg>) -> io::Result<bool> {
        loop {
            let mut line = Vec::new();
            let too_long = match self.lines.read(&mut self.reader, &mut line)? {
                Outcome::End => return Ok(true),
                Outcome::Pending { consumed } => {
                    self.pos += consumed;
                    return Ok(true);
                }
                Outcome::Line { consumed } => {
                    self.pos += consumed;
                    false
                }
                Outcome::TooLong { consumed } => {
                    self.pos += consumed;
                    true
                }
            };
            self.line_no += 1;
            let msg = Msg::Line {
                line,
                file,
                line_no: self.line_no,
                too_long,
                at: Some(self.at()),
            };
            if tx.send(msg).is_err() {
                return Ok(false);
            }
        }
    }
}

/// Tails `path` from `resume` (or its start): whole lines as they are appended; a rename
/// (another inode at `path`) drains the old file and opens the new one at its start; a
/// truncation below the offset (copytruncate) starts over at 0; waits for the file to exist.
pub(super) fn spawn_follow(
    path: PathBuf,
    file: usize,
    poll: Duration,
    resume: Option<FilePos>,
    tx: SyncSender<Msg>,
) {
    std::thread::spawn(move || {
        let nap = (poll / 4).max(Duration::from_millis(5));
        let mut resume = resume;
        let mut cur: Option<Followed> = None;
        loop {
            let Some(f) = cur.as_mut() else {
                match Followed::open(&path, resume.take()) {
                    Ok(f) => cur = Some(f),
                    Err(_) => std::thread::sleep(nap),
                }
                continue;
            };
            match f.drain(file, &tx) {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    eprintln!("vigil agent: reading `{}`: {e}", path.display());
                    std::thread::sleep(nap);
                    // Start again after the last whole line.
                    let at = f.at();
                    f.lines.reset();
                    f.pos = at.offset;
                    let _ = f.reader.seek(SeekFrom::Start(at.offset));
                    continue;
                }
            }
            // At the end: has the file been replaced (rotated) or truncated?
            match std::fs::metadata(&path) {
                Ok(meta) if identity(&meta) != (f.dev, f.ino) => {
                    // Rotated: what was appended to the old file before the rename is read,
                    // then the new file from its start.
                    if let Ok(false) = f.drain(file, &tx) {
                        return;
                    }
                    // A last line without its newline: the old file will not grow any more.
                    let mut line = Vec::new();
                    if let Some(o) = f.lines.finish_pending(&mut line) {
                        f.line_no += 1;
                        let msg = Msg::Line {
                            line,
                            file,
                            line_no: f.line_no,
                            too_long: matches!(o, Outcome::TooLong { .. }),
                            at: None,
                        };
                        if tx.send(msg).is_err() {
                            return;
                        }
                    }
                    eprintln!(
                        "vigil agent: `{}` was replaced (rotated): reading the new file",
                        path.display()
                    );
                    cur = None;
                }
                Ok(meta) if meta.len() < f.pos => {
                    eprintln!(
                        "vigil agent: `{}` was truncated: reading it from its start",
                        path.display()
                    );
                    f.lines.reset();
                    f.pos = 0;
                    f.line_no = 0;
                    if f.reader.seek(SeekFrom::Start(0)).is_err() {
                        cur = None;
                    }
                }
                _ => std::thread::sleep(nap),
            }
        }
    });
}
