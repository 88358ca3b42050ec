//! Drops the end of a suggestion that repeats the text already after the cursor.
//!
//! A model that sees only the prefix often closes brackets or repeats the line's tail, which the
//! editor already shows right after the ghost text (`foo(|)` + suggestion `bar)` would read
//! `foo(bar))`).

/// `suggestion` without a trailing copy of the visible rest of the line.
pub fn trim_suffix_overlap<'a>(suggestion: &'a str, line_after_cursor: &str) -> &'a str {
    let after = line_after_cursor.trim_end();
    if after.is_empty() || suggestion.contains('\n') {
        return suggestion;
    }
    let trimmed = suggestion.trim_end();
    match trimmed.strip_suffix(after) {
        Some(kept) => kept,
        None => suggestion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_line_tail_is_dropped() {
        assert_eq!(trim_suffix_overlap("bar)", ")"), "bar");
        assert_eq!(trim_suffix_overlap("a, b);  ", ");"), "a, b");
    }

    #[test]
    fn suggestions_without_overlap_are_kept() {
        assert_eq!(trim_suffix_overlap("bar", ")"), "bar");
        assert_eq!(trim_suffix_overlap("bar)", ""), "bar)");
        assert_eq!(trim_suffix_overlap("x)\ny)", ")"), "x)\ny)");
    }
}
