//! Bracket balance: a suggestion does not close a bracket that the code after the cursor already
//! closes (`foo(|)` + `a, b) + 1` would read `foo(a, b) + 1)`; on a blank line of a block, a `}`
//! of the suggestion's own would close the block the next lines still belong to).

use crate::pipeline::Surroundings;

/// `text` up to its first closing bracket that it did not open, when the code after the cursor
/// closes the same kind of bracket first among those it did not open (then the bracket open at
/// the cursor is closed already), and the suggestion closes more brackets than it opens. A
/// different kind there, such as the function's `}` after `foo(a, |`, closes an outer bracket:
/// the one at the cursor is still open. A suggestion that closes and opens again (`} else {`)
/// leaves the code after it something to close.
pub fn keep(text: &str, around: &Surroundings<'_>) -> usize {
    let Some(closed_after) = first_unmatched_closer(around.suffix, around.line_comment) else {
        return text.len();
    };
    let closes_more_than_it_opens = depth(text, around.line_comment) < 0;
    match first_unmatched_closer(text, around.line_comment) {
        Some(at)
            if closes_more_than_it_opens
                && text[at..].starts_with(&around.suffix[closed_after..closed_after + 1]) =>
        {
            at
        }
        _ => text.len(),
    }
}

/// Brackets opened minus brackets closed in `code`.
fn depth(code: &str, line_comment: Option<&str>) -> i64 {
    brackets(code, line_comment)
        .iter()
        .map(|(_, bracket)| if matches!(bracket, '(' | '[' | '{') { 1 } else { -1 })
        .sum()
}

/// Byte offset of the first closing bracket of `code` that closes nothing opened in `code` before
/// it (or closes the wrong kind), outside strings and line comments.
fn first_unmatched_closer(code: &str, line_comment: Option<&str>) -> Option<usize> {
    let mut open = Vec::new();
    for (at, bracket) in brackets(code, line_comment) {
        match bracket {
            '(' | '[' | '{' => open.push(bracket),
            closer => {
                let opener = match closer {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if open.pop() != Some(opener) {
                    return Some(at);
                }
            }
        }
    }
    None
}

/// The brackets of `code` with their byte offsets, leaving out those in string and character
/// literals and after a line comment token. Strings end at the end of their line, except
/// backtick template strings: a suggestion is a few lines, and a wrong guess must not hide the
/// rest of them.
pub(crate) fn brackets(code: &str, line_comment: Option<&str>) -> Vec<(usize, char)> {
    let mut found = Vec::new();
    let mut quote: Option<char> = None;
    let mut chars = code.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match quote {
            Some(open) => {
                if c == '\\' {
                    chars.next();
                } else if c == open || (c == '\n' && open != '`') {
                    quote = None;
                }
            }
            None => match c {
                '"' | '`' => quote = Some(c),
                '\'' => {
                    // A character literal ('(' or '\n'); a lone quote (a Rust lifetime, an
                    // apostrophe in a Python string of another quote) is left alone.
                    let rest = &code[at + 1..];
                    let length = rest.chars().next().map_or(0, char::len_utf8);
                    let literal = rest.get(length..).is_some_and(|after| after.starts_with('\''))
                        || (rest.starts_with('\\')
                            && rest.get(2..).is_some_and(|after| after.starts_with('\'')));
                    if literal {
                        quote = Some('\'');
                    }
                }
                '(' | '[' | '{' | ')' | ']' | '}' => found.push((at, c)),
                _ => {
                    if line_comment.is_some_and(|token| code[at..].starts_with(token)) {
                        while chars.peek().is_some_and(|(_, c)| *c != '\n') {
                            chars.next();
                        }
                    }
                }
            },
        }
    }
    found
}
