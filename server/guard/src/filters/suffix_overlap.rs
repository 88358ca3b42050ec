//! Suffix overlap: the end of a suggestion that repeats the text already after the cursor.
//!
//! A model that sees only the prefix often closes brackets or repeats the line's tail, which the
//! editor already shows right after the ghost text (`foo(|)` + suggestion `bar)` would read
//! `foo(bar))`); on a blank line it writes again the lines that follow (the block's `}`).

use crate::pipeline::{line_starts, Surroundings};

/// Lines after the cursor's line compared with a suggestion's last lines, at most.
const MAX_LINES_COMPARED: usize = 8;

/// `text` without a trailing copy of the rest of the line (a one-line suggestion), or of the lines
/// that follow the cursor's line, indentation included (a suggestion of several lines).
pub fn keep(text: &str, around: &Surroundings<'_>) -> usize {
    let after = around.line_after_cursor().trim_end();
    if !text.contains('\n') {
        if after.is_empty() {
            return text.len();
        }
        return text.trim_end().strip_suffix(after).map_or(text.len(), str::len);
    }
    if !after.is_empty() {
        return text.len();
    }
    let following: Vec<&str> = around
        .suffix
        .lines()
        .skip(1)
        .map(str::trim_end)
        .filter(|line| !line.is_empty())
        .take(MAX_LINES_COMPARED)
        .collect();
    let whole_first_line = around.line_before_cursor().trim().is_empty();
    let starts = std::iter::once(0).filter(|_| whole_first_line).chain(line_starts(text));
    for start in starts {
        let first_indentation = if start == 0 { around.line_before_cursor() } else { "" };
        let rest: Vec<String> = text[start..]
            .lines()
            .enumerate()
            .map(|(i, line)| if i == 0 { format!("{first_indentation}{line}") } else { line.to_owned() })
            .map(|line| line.trim_end().to_owned())
            .filter(|line| !line.is_empty())
            .collect();
        if !rest.is_empty()
            && rest.len() <= following.len()
            && rest.iter().zip(&following).all(|(a, b)| a == b)
        {
            return start;
        }
    }
    text.len()
}
