//! Block scope: a suggestion stays inside the block the cursor is in. Its indentation says where
//! that block ends: a later line indented less than the block's lines leaves it (the code after
//! the cursor already goes on from there).

use crate::pipeline::{indent_width, line_starts, Surroundings};

/// `text` up to its first later line that leaves the cursor's block: a line indented less than
/// the cursor's line. When the cursor's line opens a block (code before the cursor, and the line
/// ends in `{`, `(`, `[` or `:` with the suggestion's first line), the suggestion writes that
/// block: one line back at the line's indentation that closes it (`}`, `)`) is kept and ends it.
pub fn keep(text: &str, around: &Surroundings<'_>) -> usize {
    let line_before = around.line_before_cursor();
    let opening_indent = indent_width(line_before);
    let first_line = &text[..text.find('\n').unwrap_or(text.len())];
    let opens_block = !line_before.trim().is_empty()
        && format!("{line_before}{first_line}").trim_end().ends_with(['{', '(', '[', ':']);
    let mut closed = false;
    for start in line_starts(text) {
        let line = &text[start..text[start..].find('\n').map_or(text.len(), |end| start + end)];
        if line.trim().is_empty() {
            continue;
        }
        let indent = indent_width(line);
        if closed || indent < opening_indent {
            return start;
        }
        if opens_block && indent == opening_indent {
            // The line that closes the block the suggestion opened (`}`, `)`): kept, and the
            // suggestion ends with it.
            if line.trim_start().starts_with(['}', ')', ']']) {
                closed = true;
            } else {
                return start;
            }
        }
    }
    text.len()
}
