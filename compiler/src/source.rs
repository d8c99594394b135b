//! The source map: file names, texts and line starts, for rendering diagnostics.
//!
//! Owns the translation of byte spans ([`Span`]) into 1-based lines and columns (columns count
//! characters, not bytes). It holds the text as it is shown to people: a file that is not valid
//! UTF-8 is kept with U+FFFD in place of the bad bytes. It knows nothing of syntax or types.

use vigil_grammar::span::{FileId, Span};

/// One file of the source map.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The name shown in diagnostics, e.g. `rules/powershell.vgl`.
    pub name: String,
    /// The text (lossy UTF-8).
    pub text: String,
    /// Byte offset of the start of each line; the first is 0.
    line_starts: Vec<u32>,
}

/// A 1-based line and column (the column counts characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineCol {
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub column: u32,
}

/// Every file compiled together, indexed by [`FileId`].
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceFile {
    fn new(name: String, text: String) -> Self {
        let mut line_starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(u32::try_from(i + 1).unwrap_or(u32::MAX));
            }
        }
        SourceFile {
            name,
            text,
            line_starts,
        }
    }

    /// The line and column of byte `offset` (clamped to the text, moved back to a character
    /// boundary).
    pub fn line_col(&self, offset: u32) -> LineCol {
        let len = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        let mut offset = offset.min(len) as usize;
        while offset > 0 && !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let offset32 = u32::try_from(offset).unwrap_or(u32::MAX);
        let line_index = match self.line_starts.binary_search(&offset32) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let line_start = self.line_starts.get(line_index).copied().unwrap_or(0) as usize;
        let column = self
            .text
            .get(line_start..offset)
            .map_or(0, |s| s.chars().count());
        LineCol {
            line: u32::try_from(line_index + 1).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        }
    }
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        SourceMap::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(SourceFile::new(name.into(), text.into()));
        id
    }

    /// The file with id `id`.
    pub fn file(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// Every file's name, in id order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|f| f.name.as_str())
    }

    /// The file's name, or `<unknown>`.
    pub fn name(&self, id: FileId) -> &str {
        self.file(id).map_or("<unknown>", |f| f.name.as_str())
    }

    /// The file's text, or `""`.
    pub fn text(&self, id: FileId) -> &str {
        self.file(id).map_or("", |f| f.text.as_str())
    }

    /// The number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file was added.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Line and column of the start of `span`.
    pub fn start(&self, span: Span) -> LineCol {
        self.file(span.file)
            .map_or(LineCol { line: 1, column: 1 }, |f| f.line_col(span.start))
    }

    /// Line and column just past the end of `span` (exclusive end, like the span).
    pub fn end(&self, span: Span) -> LineCol {
        self.file(span.file)
            .map_or(LineCol { line: 1, column: 1 }, |f| f.line_col(span.end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let mut map = SourceMap::new();
        let id = map.add("a.vgl", "ab\nçd e\n");
        let f = map.file(id).expect("added");
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(f.line_col(3), LineCol { line: 2, column: 1 });
        // `ç` is two bytes: `d` at byte 5 is column 2.
        assert_eq!(f.line_col(5), LineCol { line: 2, column: 2 });
        // Inside a character: moved back.
        assert_eq!(f.line_col(4), LineCol { line: 2, column: 1 });
        assert_eq!(f.line_col(1000), LineCol { line: 3, column: 1 });
    }
}
