//! Shannon entropy of a string: how random its characters look.
//!
//! Generated secrets (`a8Fk2…`) spread over many characters; words and code (`changeme`,
//! `access_token`) repeat a few. The assignment rules use this to tell them apart.

use std::collections::HashMap;

/// Bits of Shannon entropy per character of `text`, over its `char`s; 0 for an empty string.
pub(crate) fn shannon_entropy(text: &str) -> f64 {
    let mut counts: HashMap<char, usize> = HashMap::new();
    let mut n_chars = 0usize;
    for c in text.chars() {
        *counts.entry(c).or_default() += 1;
        n_chars += 1;
    }
    if n_chars == 0 {
        return 0.0;
    }
    let n_chars = n_chars as f64;
    counts
        .values()
        .map(|&count| {
            let p = count as f64 / n_chars;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_known_strings() {
        assert_eq!(shannon_entropy(""), 0.0);
        assert_eq!(shannon_entropy("aaaa"), 0.0);
        assert_eq!(shannon_entropy("abab"), 1.0);
        assert_eq!(shannon_entropy("abcdefgh"), 3.0);
        assert!((shannon_entropy("changeme") - 2.75).abs() < 1e-9);
    }
}
