//! Positions: byte offsets in a document's text ↔ LSP line/character positions, in the
//! encoding negotiated at `initialize` (UTF-16 code units by default, UTF-8 bytes when the
//! client offers it).
//!
//! Every conversion clamps: a line past the end is the end of the text, a character past the
//! end of its line is the end of that line, an offset inside a character moves back to its
//! start. No input position can make these functions fail or panic.

use lsp_types::{Position, Range};

/// How a position's `character` counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-16 code units: the protocol's default.
    #[default]
    Utf16,
    /// Bytes of UTF-8.
    Utf8,
}

/// The line starts of one text, for converting positions.
#[derive(Clone, Debug, Default)]
pub struct LineIndex {
    /// Byte offset of the start of each line; the first is 0.
    starts: Vec<usize>,
    /// The text's length in bytes.
    len: usize,
}

impl LineIndex {
    /// The index of `text`. Lines end at `\n` (a `\r` before it stays part of the line, as
    /// editors count it: it is never inside a character position the client sends).
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex {
            starts,
            len: text.len(),
        }
    }

    /// The line holding byte `offset` (clamped) and that line's start.
    fn line_of(&self, offset: usize) -> (usize, usize) {
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        (line, self.starts.get(line).copied().unwrap_or(0))
    }

    /// The byte range of line `line` without its line break, or `None` past the last line.
    fn line_range(&self, text: &str, line: usize) -> Option<(usize, usize)> {
        let start = *self.starts.get(line)?;
        let mut end = self.starts.get(line + 1).map_or(self.len, |&n| n - 1);
        if end > start && text.as_bytes().get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        Some((start, end.max(start)))
    }

    /// The position of byte `offset` of `text` (clamped to the text and moved back to a
    /// character boundary).
    pub fn position(&self, text: &str, offset: usize, enc: Encoding) -> Position {
        let mut offset = offset.min(text.len());
        while offset > 0 && !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let (line, start) = self.line_of(offset);
        let prefix = text.get(start..offset).unwrap_or("");
        let character = match enc {
            Encoding::Utf8 => prefix.len(),
            Encoding::Utf16 => prefix.chars().map(char::len_utf16).sum(),
        };
        Position {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            character: u32::try_from(character).unwrap_or(u32::MAX),
        }
    }

    /// The byte offset of `pos` in `text`: a line past the end is the end of the text, a
    /// character past the end of the line is the line's end, a position inside a character
    /// (half a surrogate pair, a byte inside a UTF-8 sequence) is that character's start.
    pub fn offset(&self, text: &str, pos: Position, enc: Encoding) -> usize {
        let Some((start, end)) = self.line_range(text, pos.line as usize) else {
            return text.len();
        };
        let line = text.get(start..end).unwrap_or("");
        let want = pos.character as usize;
        let mut units = 0usize;
        for (i, c) in line.char_indices() {
            let w = match enc {
                Encoding::Utf8 => c.len_utf8(),
                Encoding::Utf16 => c.len_utf16(),
            };
            if units + w > want {
                return start + i;
            }
            units += w;
        }
        end
    }

    /// The range of bytes `start..end` of `text`.
    pub fn range(&self, text: &str, start: usize, end: usize, enc: Encoding) -> Range {
        Range {
            start: self.position(text, start, enc),
            end: self.position(text, end.max(start), enc),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, character: u32) -> Position {
        Position { line, character }
    }

    #[test]
    fn positions_round_trip_in_both_encodings() {
        // `é` is 2 bytes and 1 UTF-16 unit; `𝄞` is 4 bytes and 2 UTF-16 units.
        let text = "ab\r\né𝄞x\n\nlast";
        let ix = LineIndex::new(text);
        let cases = [
            // (byte offset, utf-16 position, utf-8 position)
            (0, pos(0, 0), pos(0, 0)),
            (2, pos(0, 2), pos(0, 2)),
            (4, pos(1, 0), pos(1, 0)),
            (6, pos(1, 1), pos(1, 2)),
            (10, pos(1, 3), pos(1, 6)),
            (11, pos(1, 4), pos(1, 7)),
            (13, pos(3, 0), pos(3, 0)),
            (17, pos(3, 4), pos(3, 4)),
        ];
        for (offset, p16, p8) in cases {
            assert_eq!(ix.position(text, offset, Encoding::Utf16), p16, "{offset}");
            assert_eq!(ix.position(text, offset, Encoding::Utf8), p8, "{offset}");
            assert_eq!(ix.offset(text, p16, Encoding::Utf16), offset, "{p16:?}");
            assert_eq!(ix.offset(text, p8, Encoding::Utf8), offset, "{p8:?}");
        }
    }

    #[test]
    fn positions_past_the_end_or_inside_a_character_clamp() {
        let text = "ab\r\né𝄞x\n";
        let ix = LineIndex::new(text);
        // Past the end of a line: the line's end (before `\r\n`).
        assert_eq!(ix.offset(text, pos(0, 99), Encoding::Utf16), 2);
        // Past the last line: the end of the text.
        assert_eq!(ix.offset(text, pos(99, 0), Encoding::Utf16), text.len());
        assert_eq!(
            ix.offset(text, pos(u32::MAX, u32::MAX), Encoding::Utf8),
            text.len()
        );
        // Half a surrogate pair, a byte inside `é`: the character's start.
        assert_eq!(ix.offset(text, pos(1, 2), Encoding::Utf16), 6);
        assert_eq!(ix.offset(text, pos(1, 1), Encoding::Utf8), 4);
        // Offsets past the end or inside a character.
        assert_eq!(ix.position(text, 999, Encoding::Utf16), pos(2, 0));
        assert_eq!(ix.position(text, 5, Encoding::Utf8), pos(1, 0));
        let empty = LineIndex::new("");
        assert_eq!(empty.offset("", pos(5, 5), Encoding::Utf16), 0);
        assert_eq!(empty.position("", 5, Encoding::Utf16), pos(0, 0));
    }
}
