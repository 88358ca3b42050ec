//! How much of an accepted suggestion is still in the document: the edit distance from the
//! accepted text to its best match in the document near where it was inserted.
//!
//! The match may start and end anywhere in the searched stretch (semi-global alignment), so
//! text typed before or after the suggestion, or lines moved by edits above it, do not count as
//! changes to it.

/// Characters searched on each side of the insertion point, beyond the accepted text's own
/// length: edits elsewhere in the file move the text by a few lines at most in two minutes.
pub const SEARCH_MARGIN_CHARS: usize = 2_000;
/// Accepted text longer than this is measured on its first this-many characters (suggestions
/// are a few lines; this bounds the quadratic alignment to a few milliseconds).
pub const MAX_MEASURED_CHARS: usize = 2_000;

/// Fraction (0–1) of `accepted` still present in `document` around byte `offset`, where it was
/// inserted: 1 − edit distance / length. Empty accepted text counts as fully kept.
pub fn kept_ratio(accepted: &str, document: &str, offset: usize) -> f64 {
    let accepted: Vec<char> = accepted.chars().take(MAX_MEASURED_CHARS).collect();
    if accepted.is_empty() {
        return 1.0;
    }
    let offset = floor_char_boundary(document, offset.min(document.len()));
    let before: Vec<char> = document[..offset].chars().rev().take(SEARCH_MARGIN_CHARS).collect();
    let after_len = accepted.len() * 2 + SEARCH_MARGIN_CHARS;
    let window: Vec<char> =
        before.into_iter().rev().chain(document[offset..].chars().take(after_len)).collect();
    let distance = best_match_distance(&accepted, &window);
    1.0 - distance as f64 / accepted.len() as f64
}

/// Smallest edit distance between `needle` and any substring of `haystack`.
fn best_match_distance(needle: &[char], haystack: &[char]) -> usize {
    // Row i holds the distance of needle[..i] to the best substring ending at each position;
    // row 0 is all zeros, so the match may start anywhere.
    let mut previous = vec![0usize; haystack.len() + 1];
    let mut current = vec![0usize; haystack.len() + 1];
    for (i, &wanted) in needle.iter().enumerate() {
        current[0] = i + 1;
        for (j, &found) in haystack.iter().enumerate() {
            let substitute = previous[j] + usize::from(wanted != found);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous.into_iter().min().unwrap_or(needle.len())
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::kept_ratio;

    #[test]
    fn untouched_text_is_fully_kept_even_when_lines_moved_above_it() {
        let accepted = "let total = a + b;";
        let document = "// a new comment\n// and another\nfn f() {\n    let total = a + b;\n}\n";
        assert_eq!(kept_ratio(accepted, document, 20), 1.0);
    }

    #[test]
    fn edited_text_is_partly_kept() {
        let accepted = "return x * 2;";
        let document = "fn g(x: u32) -> u32 {\n    return x * 3 + 1;\n}\n";
        let ratio = kept_ratio(accepted, document, 26);
        assert!(ratio > 0.6 && ratio < 1.0, "{ratio}");
    }

    #[test]
    fn deleted_text_is_not_kept() {
        let ratio = kept_ratio("println!(\"hello\");", "fn main() {\n}\n", 12);
        assert!(ratio < 0.3, "{ratio}");
    }

    #[test]
    fn offsets_past_the_end_or_inside_a_character_are_safe() {
        assert_eq!(kept_ratio("é", "é", 1), 1.0);
        assert_eq!(kept_ratio("x", "x", 99), 1.0);
        assert_eq!(kept_ratio("", "", 0), 1.0);
    }
}
