//! The one bounded line reader of the CLI: `vigil run` and `vigil agent` read JSON-lines input
//! through it, so both count lines the same way.
//!
//! A line is at most [`MAX_LINE_BYTES`] (16 MiB) long, its newline excluded. A longer line is
//! never held in memory: its first [`MAX_LINE_BYTES`] bytes are kept (so `vigil run` can show
//! where it starts), the rest is skipped up to its newline, and the outcome is
//! [`Outcome::TooLong`], one line, reported as [`TOO_LONG`]. What was skipped still counts in
//! the bytes consumed, so a caller that tracks file offsets stays right.
//!
//! [`LineReader`] also serves a file that is still being written (`vigil agent --follow`): at
//! the end of the input, an unfinished line is kept and [`Outcome::Pending`] returned, so the
//! next call completes it once the writer has appended its end.

use std::io::{self, BufRead};

/// Longest line read, its newline excluded.
pub const MAX_LINE_BYTES: u64 = 16 << 20;

/// What an over-long line is reported as.
pub const TOO_LONG: &str = "line longer than 16 MiB";

/// What one read gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A whole line (with its newline, if any) was appended to the buffer; `consumed` bytes of
    /// input were read for it.
    Line {
        /// Bytes of input read.
        consumed: u64,
    },
    /// A line longer than [`MAX_LINE_BYTES`]: its first [`MAX_LINE_BYTES`] bytes were
    /// appended to the buffer and the rest skipped, up to and with its newline.
    TooLong {
        /// Bytes of input read (the skipped ones included).
        consumed: u64,
    },
    /// Follow mode only: the input ended inside a line; call again when it has grown.
    Pending {
        /// Bytes of input read by this call.
        consumed: u64,
    },
    /// The end of the input, nothing read.
    End,
}

/// A bounded line reader with room for a line still being written. See the module docs.
#[derive(Debug, Default)]
pub struct LineReader {
    /// The unfinished line so far (follow mode).
    partial: Vec<u8>,
    /// Bytes of the unfinished line read so far, skipped ones included.
    partial_len: u64,
    /// Whether the unfinished line is already over the limit (its rest is being skipped).
    skipping: bool,
    /// Whether an unfinished line at the end of the input is kept for later ([`Outcome::Pending`])
    /// rather than returned as the last line.
    follow: bool,
}

impl LineReader {
    /// A reader of a finite input: an unfinished last line is a line.
    pub fn new() -> LineReader {
        LineReader::default()
    }

    /// A reader of an input that grows: an unfinished last line waits ([`Outcome::Pending`]).
    pub fn following() -> LineReader {
        LineReader {
            follow: true,
            ..LineReader::default()
        }
    }

    /// Bytes of an unfinished line read so far (follow mode), which the caller's offset has
    /// passed although no line was returned for them.
    pub fn pending_bytes(&self) -> u64 {
        self.partial_len
    }

    /// Follow mode: hands an unfinished line over as it is, when its file will not grow any
    /// more (it was rotated away): `None` when there is none. Its bytes were counted as
    /// consumed already.
    pub fn finish_pending(&mut self, buf: &mut Vec<u8>) -> Option<Outcome> {
        if self.partial_len == 0 {
            return None;
        }
        Some(self.finish(buf, 0))
    }

    /// Forgets an unfinished line (the file was truncated or replaced).
    pub fn reset(&mut self) {
        self.partial.clear();
        self.partial_len = 0;
        self.skipping = false;
    }

    /// Reads the next line from `reader`, appending it to `buf`. See [`Outcome`].
    pub fn read(&mut self, reader: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<Outcome> {
        let mut consumed = 0u64;
        loop {
            let avail = match reader.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                if self.partial_len == 0 {
                    return Ok(if consumed == 0 {
                        Outcome::End
                    } else {
                        Outcome::Pending { consumed }
                    });
                }
                if self.follow {
                    return Ok(Outcome::Pending { consumed });
                }
                return Ok(self.finish(buf, consumed));
            }
            let (take, newline) = match avail.iter().position(|b| *b == b'\n') {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            if !self.skipping {
                let room =
                    usize::try_from(MAX_LINE_BYTES.saturating_sub(self.partial.len() as u64))
                        .unwrap_or(usize::MAX);
                let content = if newline { take - 1 } else { take };
                if content > room {
                    self.partial.extend_from_slice(&avail[..room]);
                    self.skipping = true;
                } else {
                    self.partial.extend_from_slice(&avail[..take]);
                }
            }
            reader.consume(take);
            consumed += take as u64;
            self.partial_len += take as u64;
            if newline {
                return Ok(self.finish(buf, consumed));
            }
        }
    }

    /// Hands the line over and starts the next.
    fn finish(&mut self, buf: &mut Vec<u8>, consumed: u64) -> Outcome {
        buf.append(&mut self.partial);
        let too_long = self.skipping;
        self.reset();
        if too_long {
            Outcome::TooLong { consumed }
        } else {
            Outcome::Line { consumed }
        }
    }
}

/// Reads one line of a finite input into `buf` (see [`LineReader`]): 0 consumed at the end.
pub fn read_line(reader: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<Outcome> {
    LineReader::new().read(reader, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(data: &[u8], follow: bool) -> Vec<(Outcome, Vec<u8>)> {
        let mut r = io::Cursor::new(data.to_vec());
        let mut lr = if follow {
            LineReader::following()
        } else {
            LineReader::new()
        };
        let mut out = Vec::new();
        loop {
            let mut buf = Vec::new();
            match lr.read(&mut r, &mut buf) {
                Ok(Outcome::End) | Err(_) => return out,
                Ok(o @ Outcome::Pending { .. }) => {
                    out.push((o, buf));
                    return out;
                }
                Ok(o) => out.push((o, buf)),
            }
        }
    }

    #[test]
    fn lines_and_the_last_unfinished_one() {
        let got = all(b"a\n\nbc", false);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (Outcome::Line { consumed: 2 }, b"a\n".to_vec()));
        assert_eq!(got[1], (Outcome::Line { consumed: 1 }, b"\n".to_vec()));
        assert_eq!(got[2], (Outcome::Line { consumed: 2 }, b"bc".to_vec()));
    }

    #[test]
    fn an_overlong_line_is_one_line_cut_and_skipped() {
        let mut data = vec![b'x'; (MAX_LINE_BYTES as usize) + 10];
        data.extend_from_slice(b"\nnext\n");
        let got = all(&data, false);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].0,
            Outcome::TooLong {
                consumed: MAX_LINE_BYTES + 11
            }
        );
        assert_eq!(got[0].1.len() as u64, MAX_LINE_BYTES);
        assert_eq!(got[1], (Outcome::Line { consumed: 5 }, b"next\n".to_vec()));
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_a_line() {
        let mut data = vec![b'x'; MAX_LINE_BYTES as usize];
        data.push(b'\n');
        let got = all(&data, false);
        assert_eq!(
            got[0].0,
            Outcome::Line {
                consumed: MAX_LINE_BYTES + 1
            }
        );
    }

    #[test]
    fn follow_mode_waits_for_the_end_of_a_line() {
        let mut lr = LineReader::following();
        let mut buf = Vec::new();
        let mut r = io::Cursor::new(b"ab".to_vec());
        assert_eq!(
            lr.read(&mut r, &mut buf).ok(),
            Some(Outcome::Pending { consumed: 2 })
        );
        assert!(buf.is_empty());
        assert_eq!(lr.pending_bytes(), 2);
        let mut r = io::Cursor::new(b"c\n".to_vec());
        assert_eq!(
            lr.read(&mut r, &mut buf).ok(),
            Some(Outcome::Line { consumed: 2 })
        );
        assert_eq!(buf, b"abc\n");
        assert_eq!(lr.pending_bytes(), 0);
        // A last line without its newline, in a file rotated away.
        let mut r = io::Cursor::new(b"de".to_vec());
        buf.clear();
        assert_eq!(
            lr.read(&mut r, &mut buf).ok(),
            Some(Outcome::Pending { consumed: 2 })
        );
        assert_eq!(
            lr.finish_pending(&mut buf),
            Some(Outcome::Line { consumed: 0 })
        );
        assert_eq!(buf, b"de");
        assert_eq!(lr.finish_pending(&mut buf), None);
    }
}
