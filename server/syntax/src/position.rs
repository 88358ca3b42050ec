//! LSP positions and their conversion to and from byte offsets in a rope.
//!
//! LSP 3.17 says: "A position inside a document (see Position definition below) is expressed as a
//! zero-based line and character offset." Lines are split the LSP way: "To ensure that both client
//! and server split the string into the same line representation the protocol specifies the
//! following end-of-line sequences: '\n', '\r\n' and '\r'." The character offset is counted in the
//! negotiated encoding's code units (UTF-16 by default, or UTF-8 bytes), and "if the character
//! value is greater than the line length it defaults back to the line length" — which we do only in
//! the lenient [`offset_clamped`]; [`offset`] reports such positions as errors.
//!
//! Every conversion is O(log n) through ropey's line, char and UTF-16 indices, independent of the
//! document and line lengths.

use std::fmt;

use ropey::Rope;

/// How the `character` of a [`Position`] is counted, as negotiated in the LSP
/// `general.positionEncodings` capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PositionEncoding {
    /// `character` counts UTF-8 bytes (`"utf-8"`).
    Utf8,
    /// `character` counts UTF-16 code units (`"utf-16"`, the LSP default); a character outside
    /// the Basic Multilingual Plane, such as an emoji, counts two.
    Utf16,
}

impl PositionEncoding {
    /// The plural name of this encoding's code unit, for messages.
    pub fn unit_name(self) -> &'static str {
        match self {
            PositionEncoding::Utf8 => "UTF-8 bytes",
            PositionEncoding::Utf16 => "UTF-16 code units",
        }
    }
}

/// A zero-based line and character, as in LSP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// Zero-based line, where lines end at "\n", "\r\n" or "\r".
    pub line: u32,
    /// Zero-based offset in the line, counted in the [`PositionEncoding`]'s code units.
    pub character: u32,
}

impl Position {
    /// A position at `line` and `character`.
    pub const fn new(line: u32, character: u32) -> Position {
        Position { line, character }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.character)
    }
}

/// A range between two positions; `end` is exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Range {
    /// The first position in the range.
    pub start: Position,
    /// The position just after the range.
    pub end: Position,
}

impl Range {
    /// A range from `start` to `end`.
    pub const fn new(start: Position, end: Position) -> Range {
        Range { start, end }
    }
}

/// Why a position does not name a place in the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    /// The line is past the last line.
    #[error("line {line} is out of range: the document has {n_lines} lines (0 to {last})", last = n_lines.saturating_sub(1))]
    LineOutOfRange {
        /// The requested line.
        line: u32,
        /// How many lines the document has; the last line may be empty.
        n_lines: usize,
    },
    /// The character is past the end of the line.
    #[error("character {character} is past the end of line {line}, which is {line_length} {unit} long", unit = encoding.unit_name())]
    CharacterOutOfRange {
        /// The requested line.
        line: u32,
        /// The requested character.
        character: u32,
        /// The line's length without its line break, in `encoding`'s units.
        line_length: usize,
        /// The encoding `character` and `line_length` are counted in.
        encoding: PositionEncoding,
    },
    /// The character falls inside a character that takes several code units: inside a UTF-16
    /// surrogate pair or inside a multi-byte UTF-8 sequence.
    #[error("character {character} on line {line} falls inside a character that takes several {unit}", unit = encoding.unit_name())]
    InsideCharacter {
        /// The requested line.
        line: u32,
        /// The requested character.
        character: u32,
        /// The encoding `character` is counted in.
        encoding: PositionEncoding,
    },
}

/// The byte span of a line's text, without its line break.
struct LineSpan {
    start: usize,
    end: usize,
}

/// The span of `line`, which must be below `rope.len_lines()`.
fn line_span(rope: &Rope, line: usize) -> LineSpan {
    let start = rope.line_to_byte(line);
    let mut end = rope.line_to_byte(line + 1);
    if end > start && rope.byte(end - 1) == b'\n' {
        end -= 1;
        if end > start && rope.byte(end - 1) == b'\r' {
            end -= 1;
        }
    } else if end > start && rope.byte(end - 1) == b'\r' {
        end -= 1;
    }
    LineSpan { start, end }
}

/// The number of `encoding` code units between the starts of the chars at `from` and `to`, which
/// must be char boundaries with `from <= to`.
fn units_between(rope: &Rope, from: usize, to: usize, encoding: PositionEncoding) -> usize {
    match encoding {
        PositionEncoding::Utf8 => to - from,
        PositionEncoding::Utf16 => {
            rope.char_to_utf16_cu(rope.byte_to_char(to)) - rope.char_to_utf16_cu(rope.byte_to_char(from))
        }
    }
}

/// The byte offset `units` code units after the char boundary `from`, rounded down to a char
/// boundary, and whether it needed rounding.
fn advance_units(rope: &Rope, from: usize, units: usize, encoding: PositionEncoding) -> (usize, bool) {
    match encoding {
        PositionEncoding::Utf8 => {
            let target = from + units;
            let char_start = rope.char_to_byte(rope.byte_to_char(target));
            (char_start, char_start != target)
        }
        PositionEncoding::Utf16 => {
            let target = rope.char_to_utf16_cu(rope.byte_to_char(from)) + units;
            let char_index = rope.utf16_cu_to_char(target);
            let rounded = rope.char_to_utf16_cu(char_index) != target;
            (rope.char_to_byte(char_index), rounded)
        }
    }
}

/// The byte offset of `position`, or why it names no place in the document.
///
/// Strict: a line past the last line, a character past the end of its line (the line break does
/// not count), or a character inside a surrogate pair or multi-byte character is an error.
pub fn offset(rope: &Rope, position: Position, encoding: PositionEncoding) -> Result<usize, PositionError> {
    let n_lines = rope.len_lines();
    let line = position.line as usize;
    if line >= n_lines {
        return Err(PositionError::LineOutOfRange { line: position.line, n_lines });
    }
    let span = line_span(rope, line);
    let line_length = units_between(rope, span.start, span.end, encoding);
    let character = position.character as usize;
    if character > line_length {
        return Err(PositionError::CharacterOutOfRange {
            line: position.line,
            character: position.character,
            line_length,
            encoding,
        });
    }
    let (offset, rounded) = advance_units(rope, span.start, character, encoding);
    if rounded {
        return Err(PositionError::InsideCharacter {
            line: position.line,
            character: position.character,
            encoding,
        });
    }
    Ok(offset)
}

/// The byte offset of `position`, clamped the way editors expect: a line past the last line
/// means the end of the document, a character past the end of its line means the end of the line
/// (before its line break), and a character inside a surrogate pair or multi-byte character means
/// the start of that character.
pub fn offset_clamped(rope: &Rope, position: Position, encoding: PositionEncoding) -> usize {
    let line = position.line as usize;
    if line >= rope.len_lines() {
        return rope.len_bytes();
    }
    let span = line_span(rope, line);
    let line_length = units_between(rope, span.start, span.end, encoding);
    let character = (position.character as usize).min(line_length);
    advance_units(rope, span.start, character, encoding).0
}

/// The position of byte `offset`, which is first clamped to the document's length and rounded down
/// to a char boundary; an offset inside a line break ("\r\n" or otherwise) maps to the end of the
/// line.
pub fn position(rope: &Rope, offset: usize, encoding: PositionEncoding) -> Position {
    let offset = offset.min(rope.len_bytes());
    let offset = rope.char_to_byte(rope.byte_to_char(offset));
    // Between "\r" and "\n", ropey may already count the "\r" as a line break; step back onto it
    // so that the offset belongs to the line that "\r\n" ends.
    let line_probe = if offset > 0 && rope.byte(offset - 1) == b'\r' && rope.get_byte(offset) == Some(b'\n') {
        offset - 1
    } else {
        offset
    };
    let line = rope.byte_to_line(line_probe);
    let span = line_span(rope, line);
    let character = units_between(rope, span.start, offset.min(span.end), encoding);
    Position { line: saturating_u32(line), character: saturating_u32(character) }
}

/// `value` as a `u32`, saturating: LSP positions are `uinteger`s.
fn saturating_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lsp_line_breaks_split_lines() {
        // If a crate in the build enables ropey's `unicode_lines` feature, U+2028, U+0085, form
        // feed and vertical tab become line breaks and every position after them is wrong.
        let rope = Rope::from_str("a\u{2028}b\u{85}c\u{c}d\u{b}e");
        assert_eq!(rope.len_lines(), 1);
        let rope = Rope::from_str("a\nb\r\nc\rd");
        assert_eq!(rope.len_lines(), 4);
    }

    #[test]
    fn position_between_cr_and_lf_is_end_of_line() {
        let rope = Rope::from_str("ab\r\ncd");
        assert_eq!(position(&rope, 3, PositionEncoding::Utf16), Position::new(0, 2));
        assert_eq!(position(&rope, 4, PositionEncoding::Utf16), Position::new(1, 0));
    }
}
