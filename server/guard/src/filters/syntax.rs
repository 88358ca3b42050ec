//! Syntax: the suggestion inserted into the document must not add syntax errors. The document is
//! reparsed incrementally with the suggestion in it; a suggestion that adds an ERROR or MISSING
//! node in the region it changes (compared with the same region without it, so that a document
//! already broken elsewhere is not held against it) is cut back to its longest prefix that adds
//! none, or dropped. A mid-line suggestion that closes what the code after it closes is breaking.
//! No tool in this field checks its suggestions against a parser.
//!
//! One kind of unfinished suggestion is not wrong: one that ends by opening a block,
//! `while let Some(x) = it.next() {` or `if ready:`, is the start the user wants, and its body
//! comes next. Such a suggestion is checked as finished, with the brackets it opened closed after
//! it and a `pass` body after a trailing `:`. Anything else is checked as it would be inserted: a
//! statement without its `;`, a call left open or a block cut off in its middle (by the line cap or
//! the token limit) is cut back to the lines before it.
//!
//! A line the token limit stopped the model in the middle of is unfinished by Wisp, not by the
//! model: alone, it loses its last word (perhaps cut in two) and is checked as finished (brackets
//! closed, and the `;` of languages that end statements with one), so the start of a long line is
//! still shown; after whole lines, it goes.

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
    // Cut off by the token limit: the last line goes after whole lines; alone, it loses the word it
    // may have been cut off in the middle of.
    let text = match text.rfind('\n') {
        Some(last_break) if around.truncated => &text[..last_break],
        None if around.truncated => text.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_'),
        _ => text,
    };
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
/// closing bracket or a space that follows a word, a number or a closing quote (not an operator:
/// `1 <<` may parse before the next line and is no answer).
fn token_ends(line: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        if c == ' ' && (previous.is_alphanumeric() || matches!(previous, '_' | '"' | '\'' | ')' | ']' | '}'))
        {
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

/// The syntax errors `text` adds at the cursor as it would be inserted, or, when it ends by
/// opening a block or is one line the token limit cut off (see the module docs), as if finished,
/// whichever adds fewer; None without a grammar.
pub fn errors_added(text: &str, around: &Surroundings<'_>) -> Option<usize> {
    let (document, offset) = around.syntax?;
    // As it is first: the code after the cursor may close what the suggestion opens
    // (`if ready {` before the block's body and its `}`).
    let as_is = document.errors_added_by_insert(offset, text)?;
    let cut_off = around.truncated && !text.contains('\n');
    if as_is == 0 || !(cut_off || opens_block(text, around)) {
        return Some(as_is);
    }
    let finished = finished(text, around);
    let added = as_is.min(document.errors_added_by_insert(offset, &finished)?);
    if added == 0
        || !cut_off
        || around.line_comment != Some("//")
        || !around.line_after_cursor().trim().is_empty()
    {
        return Some(added);
    }
    Some(added.min(document.errors_added_by_insert(offset, &format!("{finished};"))?))
}

/// Whether `text` ends by opening one block whose body is still to be written: its last line
/// ends in `{` (or in `:`, in a language whose blocks start with one: comments start with `#`)
/// and that is the only bracket it leaves open; nothing follows the cursor on a one-line
/// suggestion's line; and the code after the cursor is the end of the enclosing block (a line
/// less indented than the opening one) or of the file. Before code as deep as the opening line,
/// the new block would swallow it; before deeper code, that code is its body: either way the
/// suggestion is checked as it is. A suggestion that leaves more blocks open was cut off in
/// their middle.
fn opens_block(text: &str, around: &Surroundings<'_>) -> bool {
    let trimmed = text.trim_end();
    let colon_block = around.line_comment == Some("#") && trimmed.ends_with(':');
    let open = open_brackets(text, around);
    let opener = match open.as_slice() {
        ['{'] => trimmed.ends_with('{'),
        [] => colon_block,
        _ => false,
    };
    if !opener || (!text.contains('\n') && !around.line_after_cursor().trim().is_empty()) {
        return false;
    }
    let opener_indent = opener_indent(text, around);
    let next_line = around.suffix.split('\n').skip(1).find(|line| !line.trim().is_empty());
    next_line.is_none_or(|line| indent_width(line) < opener_indent)
}

/// The brackets `text` opens and leaves open, in order.
fn open_brackets(text: &str, around: &Surroundings<'_>) -> Vec<char> {
    let mut open = Vec::new();
    for (_, bracket) in brackets(text, around.line_comment) {
        match bracket {
            '(' | '[' | '{' => open.push(bracket),
            _ => {
                open.pop();
            }
        }
    }
    open
}

/// The indentation of the line `text` ends on, once inserted at the cursor.
fn opener_indent(text: &str, around: &Surroundings<'_>) -> usize {
    match text.rsplit_once('\n') {
        Some((_, last_line)) => indent_width(last_line),
        None => indent_width(around.line_before_cursor()),
    }
}

/// `text` as if finished: the brackets it opened and left open closed after it (`{` on a line of
/// its own), and a body after a last line that ends in `:` (a Python block).
fn finished(text: &str, around: &Surroundings<'_>) -> String {
    let open = open_brackets(text, around);
    let last_line_indent = opener_indent(text, around);
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

#[cfg(test)]
mod tests {
    use super::token_ends;

    #[test]
    fn a_line_is_cut_after_operands_and_brackets_never_after_an_operator() {
        fn cuts(line: &str) -> Vec<&str> {
            token_ends(line).into_iter().map(|end| &line[..end]).collect()
        }
        assert_eq!(cuts("1 << n"), ["1"]);
        assert_eq!(cuts("f(a, b) + 1;"), ["f(a,", "f(a, b", "f(a, b)", "f(a, b) + 1;"]);
        assert_eq!(cuts("x = \"a\" or"), ["x", "x = \"a\""]);
    }
}
