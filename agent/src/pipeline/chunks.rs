//! The reader stage: one thread per input reads and decompresses it ([`Input::open`]) and
//! hands whole lines, in [`Chunk`]s of about [`CHUNK_BYTES`], through a bounded channel (which
//! blocks, never drops). Lines longer than the bounded reader's limit are kept as a marker and
//! reported as bad lines (E0709) without being held in memory.

use std::io::{self, BufRead, BufReader};
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use vigil_runtime::decode::{DecodeError, ErrorCode};

use crate::inputs::{Input, Issues};

/// Bytes per chunk handed from a reader thread to the decoding thread.
pub(super) const CHUNK_BYTES: usize = 256 << 10;
/// Chunks in flight between a reader and the decoder.
const CHUNKS_IN_FLIGHT: usize = 8;

/// Whole lines read from an input: `data[ends[i-1]..ends[i]]` is line i.
#[derive(Debug, Default)]
pub(super) struct Chunk {
    pub(super) data: Vec<u8>,
    pub(super) ends: Vec<usize>,
    /// Indexes (into `ends`, ascending) of lines longer than
    /// [`crate::inputs::lines::MAX_LINE_BYTES`]: their data is only a marker, and they are reported as
    /// bad lines ([`ErrorCode::DecodeLineTooLong`]) without decoding.
    pub(super) too_long: Vec<usize>,
}

impl Chunk {
    pub(super) fn is_too_long(&self, li: usize) -> bool {
        self.too_long.binary_search(&li).is_ok()
    }
}

/// The error of a line longer than [`crate::inputs::lines::MAX_LINE_BYTES`].
pub(super) fn too_long_error(line: u64) -> DecodeError {
    DecodeError::new(
        ErrorCode::DecodeLineTooLong,
        line,
        crate::inputs::lines::TOO_LONG,
    )
}

/// Opens `input` and starts its reader thread: whole lines, in chunks, through a bounded
/// channel. Opening errors are returned here; read errors arrive through the channel; what is
/// not a line (EVTX damage) goes to `issues`.
pub(super) fn spawn_reader(
    input: &Input,
    count: Arc<AtomicU64>,
    issues: &Issues,
) -> io::Result<(Receiver<io::Result<Chunk>>, JoinHandle<()>)> {
    let reader: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(
        CHUNK_BYTES,
        input.open_with(count, issues)?,
    ));
    let (tx, rx) = sync_channel(CHUNKS_IN_FLIGHT);
    let handle = std::thread::Builder::new()
        .name("vigil-read".to_owned())
        .spawn(move || {
            let mut reader = reader;
            let mut chunk = Chunk::default();
            loop {
                let start = chunk.data.len();
                match crate::inputs::lines::read_line(&mut reader, &mut chunk.data) {
                    Ok(crate::inputs::lines::Outcome::End) => break,
                    Ok(crate::inputs::lines::Outcome::TooLong { .. }) => {
                        // Not held: a marker stands for the line in the chunk.
                        chunk.data.truncate(start);
                        chunk.data.extend_from_slice(b"<too long>");
                        chunk.too_long.push(chunk.ends.len());
                        chunk.ends.push(chunk.data.len());
                    }
                    Ok(_) => chunk.ends.push(chunk.data.len()),
                    Err(e) => {
                        if !chunk.ends.is_empty() {
                            let _ = tx.send(Ok(std::mem::take(&mut chunk)));
                        }
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
                if chunk.data.len() >= CHUNK_BYTES {
                    let full = std::mem::replace(
                        &mut chunk,
                        Chunk {
                            data: Vec::with_capacity(CHUNK_BYTES + (CHUNK_BYTES >> 2)),
                            ends: Vec::new(),
                            too_long: Vec::new(),
                        },
                    );
                    if tx.send(Ok(full)).is_err() {
                        // The decoder stopped (strict mode): nothing more to read.
                        return;
                    }
                }
            }
            if !chunk.ends.is_empty() {
                let _ = tx.send(Ok(chunk));
            }
        })?;
    Ok((rx, handle))
}
