//! Scoring one completion against the masked text.

/// How close one completion came to the masked text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Equal once trailing whitespace is trimmed from every line.
    pub exact_match: bool,
    /// The first lines are equal (trailing whitespace trimmed).
    pub first_line_exact: bool,
    /// `1 - levenshtein(chars) / max(length in chars)` of the trimmed texts, in `0.0..=1.0`; 1.0
    /// when both are empty.
    pub edit_similarity: f64,
}

/// Scores `completion` against `expected`.
///
/// Both are compared with trailing whitespace trimmed from every line (`\r` included). A
/// completion with more lines than `expected` (the model went on past the span) is first cut to
/// as many lines as `expected` has: that is what a user accepting line by line would keep, so the
/// extra lines neither help nor hurt.
pub fn score(expected: &str, completion: &str) -> Score {
    let expected_lines: Vec<&str> = expected.split('\n').map(str::trim_end).collect();
    let completion_lines: Vec<&str> =
        completion.split('\n').take(expected_lines.len()).map(str::trim_end).collect();
    let expected = expected_lines.join("\n");
    let completion = completion_lines.join("\n");
    Score {
        exact_match: expected == completion,
        first_line_exact: expected_lines[0] == completion_lines[0],
        edit_similarity: edit_similarity(&expected, &completion),
    }
}

fn edit_similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    1.0 - levenshtein(&a, &b) as f64 / longest as f64
}

/// Insertions, deletions and substitutions turning `a` into `b` (two-row dynamic programming).
fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &a_char) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != b_char);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expected: &str, completion: &str, want: (bool, bool, f64)) {
        let score = score(expected, completion);
        let got = (score.exact_match, score.first_line_exact, score.edit_similarity);
        assert!(
            got.0 == want.0 && got.1 == want.1 && (got.2 - want.2).abs() < 1e-9,
            "score({expected:?}, {completion:?}) = {got:?}, want {want:?}"
        );
    }

    #[test]
    fn exact_and_empty() {
        check("let x = 1;", "let x = 1;", (true, true, 1.0));
        check("", "", (true, true, 1.0));
        check("let x = 1;", "", (false, false, 0.0));
    }

    #[test]
    fn trailing_whitespace_and_crlf_are_ignored() {
        check("foo(a, b);  ", "foo(a, b);", (true, true, 1.0));
        check("a {\r\n    b", "a {  \n    b\t", (true, true, 1.0));
        check("a", "a\n", (true, true, 1.0));
    }

    #[test]
    fn leading_whitespace_counts() {
        check("x", " x", (false, false, 0.5));
    }

    #[test]
    fn a_longer_completion_is_cut_to_the_expected_lines() {
        check("one\ntwo", "one\ntwo\nthree\nfour", (true, true, 1.0));
        check("one", "one\n}\n", (true, true, 1.0));
        // Two lines wanted, one given: the first line matches, the whole does not.
        check("one\ntwo", "one", (false, true, 3.0 / 7.0));
    }

    #[test]
    fn unicode_is_counted_in_characters() {
        // One substitution in four characters, though "é" is two bytes and "😀" four.
        check("é😀ab", "é😀ac", (false, false, 0.75));
        check("名前 = 1", "名前 = 1", (true, true, 1.0));
        check("😀", "", (false, false, 0.0));
    }

    #[test]
    fn levenshtein_counts_each_edit_once() {
        let chars = |text: &str| text.chars().collect::<Vec<_>>();
        assert_eq!(levenshtein(&chars("kitten"), &chars("sitting")), 3);
        assert_eq!(levenshtein(&chars(""), &chars("abc")), 3);
        assert_eq!(levenshtein(&chars("flaw"), &chars("lawn")), 2);
    }
}
