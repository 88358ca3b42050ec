//! Positions as LSP counts them (zero-based lines, UTF-16 code units within a line) and applying
//! an incremental change to a text, so the replay can compute exactly what an editor would send.

use anyhow::{bail, Context};
use serde::Serialize;

/// An LSP `Position`: the client offers no `positionEncoding`, so characters are UTF-16 code units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    pub line: u32,
    pub character: u32,
}

/// An LSP `Range`, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Range {
    pub start: Position,
    pub end: Position,
}

fn to_u32(value: usize) -> u32 {
    // Documents are at most a few hundred KB (see `history::MAX_FILE_BYTES`), far below u32::MAX.
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// The position of the byte `offset` of `text`. `offset` must lie on a char boundary.
pub fn position_at(text: &str, offset: usize) -> Position {
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let line = before.bytes().filter(|&byte| byte == b'\n').count();
    let character = before[line_start..].encode_utf16().count();
    Position { line: to_u32(line), character: to_u32(character) }
}

/// The byte offset of `position` in `text`, or `None` when it lies past the end of its line, past
/// the last line, or inside a surrogate pair.
pub fn offset_at(text: &str, position: Position) -> Option<usize> {
    let mut line_start = 0;
    for _ in 0..position.line {
        line_start += text[line_start..].find('\n')? + 1;
    }
    let line_end = text[line_start..].find('\n').map_or(text.len(), |newline| line_start + newline);
    let wanted = position.character as usize;
    let mut units = 0;
    for (index, ch) in text[line_start..line_end].char_indices() {
        if units == wanted {
            return Some(line_start + index);
        }
        units += ch.len_utf16();
        if units > wanted {
            return None;
        }
    }
    (units == wanted).then_some(line_end)
}

/// Replaces `range` of `text` with `new_text`, as a server applies an incremental `didChange`.
pub fn apply_change(text: &mut String, range: Range, new_text: &str) -> anyhow::Result<()> {
    let start = offset_at(text, range.start)
        .with_context(|| format!("start {:?} is not in the text", range.start))?;
    let end =
        offset_at(text, range.end).with_context(|| format!("end {:?} is not in the text", range.end))?;
    if end < start {
        bail!("range {range:?} ends before it starts");
    }
    text.replace_range(start..end, new_text);
    Ok(())
}

/// The byte offset where zero-based line `line` starts; the text's length when `line` is one past
/// the last line (or further).
pub fn line_start(text: &str, line: usize) -> usize {
    if line == 0 {
        return 0;
    }
    text.match_indices('\n').nth(line - 1).map_or(text.len(), |(newline, _)| newline + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_utf16_positions_count_emoji_as_two_units() {
        let text = "a😀b\nx";
        // 'a' is 1 unit, the emoji 2 units (4 bytes), so 'b' sits at character 3, byte 5.
        assert_eq!(position_at(text, 5), Position { line: 0, character: 3 });
        assert_eq!(offset_at(text, Position { line: 0, character: 3 }), Some(5));
        assert_eq!(offset_at(text, Position { line: 0, character: 2 }), None, "inside the surrogate pair");
        assert_eq!(offset_at(text, Position { line: 0, character: 4 }), Some(6), "end of line");
        assert_eq!(offset_at(text, Position { line: 0, character: 5 }), None, "past the end of line");
        assert_eq!(position_at(text, text.len()), Position { line: 1, character: 1 });
        assert_eq!(offset_at(text, Position { line: 2, character: 0 }), None);
    }

    #[test]
    fn applying_a_change_after_an_emoji_edits_the_right_bytes() {
        let mut text = String::from("let s = \"😀\";\n");
        let after_emoji = Position { line: 0, character: 11 };
        apply_change(&mut text, Range { start: after_emoji, end: after_emoji }, "!").unwrap();
        assert_eq!(text, "let s = \"😀!\";\n");
        let whole_line =
            Range { start: Position { line: 0, character: 0 }, end: Position { line: 1, character: 0 } };
        apply_change(&mut text, whole_line, "").unwrap();
        assert_eq!(text, "");
    }

    #[test]
    fn line_starts_past_the_end_clamp_to_the_length() {
        let text = "a\nbc\n";
        assert_eq!(line_start(text, 0), 0);
        assert_eq!(line_start(text, 1), 2);
        assert_eq!(line_start(text, 2), 5);
        assert_eq!(line_start(text, 7), 5);
    }
}
