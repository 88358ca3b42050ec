//! The filters a suggestion passes before it is shown, in the order they run ([`FILTERS`]).
//!
//! Every filter only cuts: it answers how much of the text to keep, from its start. No filter can
//! add text the model did not write, and what reaches the user is a prefix of the model's text.
//! After a cut, the whitespace left at the end goes too; a suggestion with nothing but whitespace
//! left is dropped (the editor shows nothing).

use wisp_syntax::Document;

use crate::filters::{
    balance_brackets, block_scope, cap_lines, repetition, secrets, stop_patterns, suffix_overlap, syntax,
};

/// What a filter may look at around the cursor.
#[derive(Debug, Clone, Copy)]
pub struct Surroundings<'a> {
    /// Text before the cursor: a window of the document that ends at the cursor.
    pub prefix: &'a str,
    /// Text after the cursor: a window of the document that starts at the cursor.
    pub suffix: &'a str,
    /// The language's line comment token (`//`, `#`), if it has one.
    pub line_comment: Option<&'a str>,
    /// Line starts that begin a new top-level item in the language (`fn `, `def `, …): a
    /// suggestion stops before a later line that starts with one at column 0.
    pub stop_patterns: &'a [String],
    /// Lines a suggestion may have at most.
    pub max_lines: usize,
    /// The document and the cursor's byte offset in it, when its language has a grammar: the
    /// syntax check inserts the suggestion there and reparses.
    pub syntax: Option<(&'a Document, usize)>,
    /// The model was stopped in the middle of the suggestion's last line (by the token limit):
    /// that line is unfinished, not wrong.
    pub truncated: bool,
}

impl<'a> Surroundings<'a> {
    /// Surroundings with only the text around the cursor (no language, no syntax tree).
    pub fn text(prefix: &'a str, suffix: &'a str, max_lines: usize) -> Surroundings<'a> {
        Surroundings {
            prefix,
            suffix,
            line_comment: None,
            stop_patterns: &[],
            max_lines,
            syntax: None,
            truncated: false,
        }
    }

    /// The cursor's line before the cursor.
    pub fn line_before_cursor(&self) -> &'a str {
        &self.prefix[self.prefix.rfind('\n').map_or(0, |newline| newline + 1)..]
    }

    /// The rest of the cursor's line after the cursor (without its line break).
    pub fn line_after_cursor(&self) -> &'a str {
        let line = &self.suffix[..self.suffix.find('\n').unwrap_or(self.suffix.len())];
        line.strip_suffix('\r').unwrap_or(line)
    }
}

/// A filter: how many bytes of `text` to keep (a prefix, at a character boundary).
pub type Filter = fn(text: &str, around: &Surroundings<'_>) -> usize;

/// The filters in the order they run, by name. Cheap, local checks come first; the syntax check,
/// which reparses the document, runs last on what is left.
pub const FILTERS: &[(&str, Filter)] = &[
    ("suffix_overlap", suffix_overlap::keep),
    ("stop_patterns", stop_patterns::keep),
    ("block_scope", block_scope::keep),
    ("repetition", repetition::keep),
    ("balance_brackets", balance_brackets::keep),
    ("cap_lines", cap_lines::keep),
    ("secrets", secrets::keep),
    ("syntax", syntax::keep),
];

/// A suggestion after the filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    /// What to show; empty when nothing is.
    pub text: String,
    /// The filters that cut something, in order.
    pub cut_by: Vec<&'static str>,
}

/// Runs every filter of [`FILTERS`] over `suggestion`.
pub fn run(suggestion: &str, around: &Surroundings<'_>) -> Filtered {
    run_only(suggestion, around, FILTERS)
}

/// Runs `filters` over `suggestion`, in their order (tests run one filter alone).
pub fn run_only(suggestion: &str, around: &Surroundings<'_>, filters: &[(&'static str, Filter)]) -> Filtered {
    let mut kept = suggestion;
    let mut cut_by = Vec::new();
    for (name, filter) in filters {
        if kept.trim().is_empty() {
            break;
        }
        let mut keep = filter(kept, around).min(kept.len());
        while !kept.is_char_boundary(keep) {
            keep -= 1;
        }
        if keep < kept.len() {
            kept = kept[..keep].trim_end();
            cut_by.push(*name);
        }
    }
    let text = if kept.trim().is_empty() { String::new() } else { kept.to_owned() };
    Filtered { text, cut_by }
}

/// Byte offsets where each line of `text` after the first starts.
pub(crate) fn line_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.match_indices('\n').map(|(newline, _)| newline + 1)
}

/// Columns of a line's indentation (a tab counts 4).
pub(crate) fn indent_width(line: &str) -> usize {
    line.chars().take_while(|c| *c == ' ' || *c == '\t').map(|c| if c == '\t' { 4 } else { 1 }).sum()
}
