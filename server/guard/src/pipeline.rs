//! The order in which filters run.

use crate::trim_suffix_overlap::trim_suffix_overlap;

/// What a filter may look at around the cursor.
#[derive(Debug, Clone, Copy)]
pub struct Surroundings<'a> {
    /// The rest of the cursor's line after the cursor.
    pub line_after_cursor: &'a str,
}

/// Runs every filter over `suggestion`; an empty result means "show nothing".
pub fn run(suggestion: &str, surroundings: &Surroundings<'_>) -> String {
    let text = trim_suffix_overlap(suggestion, surroundings.line_after_cursor);
    text.to_owned()
}
