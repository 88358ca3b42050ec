//! Repetition: small models loop, writing a line they just wrote (or the line above the cursor)
//! again. A suggestion stops before the first line that repeats one of the lines just before it.

use crate::pipeline::Surroundings;

/// Lines before a line that it is compared with.
const LOOKBACK_LINES: usize = 3;
/// Characters other than spaces a line needs before a repeat of it counts (`}`, `end`, `break;`,
/// `x += 1;` repeat in good code).
const MIN_REPEATED_CHARS: usize = 10;

/// `text` up to its first line that equals (spaces aside) one of the [`LOOKBACK_LINES`] lines
/// before it, in the suggestion or, for its first line when that is a whole line (the cursor
/// after indentation, nothing after it), above the cursor.
pub fn keep(text: &str, around: &Surroundings<'_>) -> usize {
    let line_before = around.line_before_cursor();
    let whole_first_line = line_before.trim().is_empty() && around.line_after_cursor().trim().is_empty();
    let above_text = &around.prefix[..around.prefix.len() - line_before.len()];
    let mut recent: Vec<&str> = above_text.lines().rev().take(LOOKBACK_LINES).collect();
    recent.reverse();
    let mut start = 0;
    for (index, line) in text.split('\n').enumerate() {
        let substance = line.chars().filter(|c| !c.is_whitespace()).count();
        let comparable = index > 0 || whole_first_line;
        if comparable
            && substance >= MIN_REPEATED_CHARS
            && recent.iter().rev().take(LOOKBACK_LINES).any(|earlier| earlier.trim() == line.trim())
        {
            return start;
        }
        recent.push(line);
        start += line.len() + 1;
    }
    text.len()
}
