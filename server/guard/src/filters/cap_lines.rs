//! Cap lines: at most `completion.max_lines` lines (whatever engine wrote the text).

use crate::pipeline::{line_starts, Surroundings};

/// The first `around.max_lines` lines of `text` (at least one).
pub fn keep(text: &str, around: &Surroundings<'_>) -> usize {
    line_starts(text).nth(around.max_lines.max(1) - 1).unwrap_or(text.len())
}
