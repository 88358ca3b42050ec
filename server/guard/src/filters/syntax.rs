//! Syntax: the suggestion inserted into the document must not add syntax errors. The document is
//! reparsed incrementally with the suggestion in it; a suggestion that adds an ERROR or MISSING
//! node in the region it changes (compared with the same region without it, so that a document
//! already broken elsewhere is not held against it) is cut back to its longest prefix that adds
//! none, or dropped. A mid-line suggestion that closes what the code after it closes is breaking.
//! No tool in this field checks its suggestions against a parser.
//!
//! A suggestion may be unfinished without being wrong: `while let Some(x) = it.next() {` on its
//! own is the start the user wants, and so are `if ready:` and `let total = sum(items)` before its
//! `;`. It is checked as finished: with the brackets it opened closed after it, a `pass` body after
//! a trailing `:`, and, at the end of a line, the `;` of languages that end statements with one.

use crate::filters::balance_brackets::brackets;
use crate::pipeline::{indent_width, line_starts, Surroundings};

/// Reparses tried for one suggestion, at most: each costs an incremental parse of the document.
const MAX_ATTEMPTS: usize = 12;

/// The longest prefix of `text` that adds no syntax error: all of it, or its longest whole lines
/// and then as much of the next line as parses (to a token in the first line, to a `;` in a later
/// one); all of `text` when the language has no grammar.
pub fn keep(text: &str, around: &Surroundings<'_>) -> usize {
    if around.syntax.is_none() {
        return text.len();
    }
    let attempts = std::cell::Cell::new(0);
    let adds_errors = |length: usize| {
        attempts.set(attempts.get() + 1);
        errors_added(&text[..length], around).is_some_and(|added| added > 0)
    };
    if !adds_errors(text.len()) {
        return text.len();
    }
    // The longest whole lines that parse (each ending before its line break)...
    let line_ends: Vec<usize> = line_starts(text).map(|start| start - 1).collect();
    let mut whole_lines = 0;
    let mut broken_line = (line_ends.last().map_or(0, |end| end + 1), text.len());
    for (index, &end) in line_ends.iter().enumerate().rev() {
        if attempts.get() >= MAX_ATTEMPTS / 2 {
            break;
        }
        if !adds_errors(end) {
            whole_lines = end;
            break;
        }
        broken_line = (if index == 0 { 0 } else { line_ends[index - 1] + 1 }, end);
    }
    // ... then the longest part of the line after them that parses: up to any token in the first
    // line (a mid-line suggestion), up to the end of a statement in a later one (not a fragment).
    let (from, to) = broken_line;
    if from == 0 || from == whole_lines + 1 {
        let line = &text[from..to];
        let mut cuts = token_ends(line);
        if from > 0 {
            cuts.retain(|&cut| line[..cut].ends_with(';'));
        }
        for cut in cuts.into_iter().rev() {
            if attempts.get() >= MAX_ATTEMPTS {
                break;
            }
            if !adds_errors(from + cut) {
                return from + cut;
            }
        }
    }
    whole_lines
}

/// Offsets in `line` where a token ends: after a closing bracket, `;` or `,`, and before a
/// closing bracket or a space that follows a word.
fn token_ends(line: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        if c == ' ' && previous != ' ' {
            ends.push(at);
        }
        if matches!(c, ')' | ']' | '}') && !matches!(previous, '(' | '[' | '{' | ' ') {
            ends.push(at);
        }
        if matches!(c, ')' | ']' | '}' | ';' | ',') {
            ends.push(at + 1);
        }
        previous = c;
    }
    ends.dedup();
    ends
}

/// The syntax errors `text` adds at the cursor, as it is or checked as finished (see the module
/// docs), whichever adds fewer; None without a grammar. In a language that ends statements with
/// `;` (its comments start with `//`), a statement the suggestion leaves without one at the end of
/// a line is unfinished, not wrong.
pub fn errors_added(text: &str, around: &Surroundings<'_>) -> Option<usize> {
    let (document, offset) = around.syntax?;
    // As it is first: the code after the cursor may close what the suggestion opens
    // (`if ready {` before the block's body and its `}`).
    let as_is = document.errors_added_by_insert(offset, text)?;
    if as_is == 0 {
        return Some(0);
    }
    let finished = finished(text, around);
    let added = as_is.min(document.errors_added_by_insert(offset, &finished)?);
    if added == 0 || around.line_comment != Some("//") || !around.line_after_cursor().trim().is_empty() {
        return Some(added);
    }
    let with_semicolon = document.errors_added_by_insert(offset, &format!("{finished};"))?;
    Some(added.min(with_semicolon))
}

/// `text` as if finished: the brackets it opened and left open closed after it (`{` on a line of
/// its own), and a body after a last line that ends in `:` (a Python block).
fn finished(text: &str, around: &Surroundings<'_>) -> String {
    let mut open = Vec::new();
    for (_, bracket) in brackets(text, around.line_comment) {
        match bracket {
            '(' | '[' | '{' => open.push(bracket),
            _ => {
                open.pop();
            }
        }
    }
    let last_line = text.rsplit('\n').next().unwrap_or_default();
    let last_line_indent =
        if text.contains('\n') { indent_width(last_line) } else { indent_width(around.line_before_cursor()) };
    let mut finished = text.to_owned();
    if open.is_empty() && text.trim_end().ends_with(':') {
        finished.push_str(&format!("\n{}pass", " ".repeat(last_line_indent + 4)));
    }
    for bracket in open.iter().rev() {
        match bracket {
            '(' => finished.push(')'),
            '[' => finished.push(']'),
            _ => finished.push_str(&format!("\n{}}}", " ".repeat(last_line_indent))),
        }
    }
    finished
}
