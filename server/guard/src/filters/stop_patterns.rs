//! Stop patterns: a suggestion that goes on into the next top-level item (a second function, a
//! test module) stops before it. Each language lists the line starts that begin an item
//! (`stop_patterns` in its `grammars/<lang>/language.toml`).

use crate::pipeline::{line_starts, Surroundings};

/// `text` up to the first of its later lines that starts, at column 0, with one of the language's
/// stop patterns. The first line is the user's to choose.
pub fn keep(text: &str, around: &Surroundings<'_>) -> usize {
    line_starts(text)
        .find(|&start| around.stop_patterns.iter().any(|pattern| text[start..].starts_with(pattern.as_str())))
        .unwrap_or(text.len())
}
