//! Cutting one masked span out of one file: which lines qualify and where each kind of mask
//! starts and ends.

use std::path::Path;

use crate::rng::SplitMix64;
use crate::task::{MaskKind, Task};

/// Lines at the top of a file that are never masked: licence headers and module docs, which say
/// little about completing code.
pub const HEADER_LINES: usize = 10;

/// A line needs at least this many non-space characters to be masked; shorter lines (`}`,
/// `else {`) are trivial to complete.
pub const MIN_NON_SPACE_CHARS: usize = 6;

/// A mid-line cursor needs at least this many characters after it on its line (trailing
/// whitespace not counted), so the task asks for more than closing punctuation.
pub const MIN_MID_LINE_REST_CHARS: usize = 8;

/// Fewest and most lines of a multi-line mask.
pub const MULTI_LINE_MIN_LINES: usize = 2;
pub const MULTI_LINE_MAX_LINES: usize = 4;

/// Extensions whose comments start with `#` (and Python docstrings with quotes).
const HASH_COMMENT_EXTENSIONS: &[&str] =
    &["py", "pyi", "rb", "sh", "bash", "zsh", "pl", "r", "toml", "yaml", "yml", "cmake", "nix", "ex", "exs"];
const HASH_COMMENT_PREFIXES: &[&str] = &["#", "\"\"\"", "'''"];
/// Extensions whose line comments start with `--`.
const DASH_COMMENT_EXTENSIONS: &[&str] = &["lua", "sql", "hs", "elm"];
const DASH_COMMENT_PREFIXES: &[&str] = &["--"];
/// Every other extension: C-like comments, including the `*` that continues a block comment.
const C_COMMENT_PREFIXES: &[&str] = &["//", "/*", "*/", "* ", "<!--"];

/// One line of a file, as byte offsets into the text.
#[derive(Debug, Clone, Copy)]
struct Line {
    /// After the leading spaces and tabs.
    indent_end: usize,
    /// Before the line's `\n` (and a `\r` before it).
    end: usize,
}

/// A file tasks are cut from, remembering which lines are already masked so no line is masked
/// twice.
pub(crate) struct SourceFile<'a> {
    path: &'a str,
    text: &'a str,
    lines: Vec<Line>,
    comment_prefixes: &'static [&'static str],
    used: Vec<bool>,
}

impl<'a> SourceFile<'a> {
    pub(crate) fn new(path: &'a str, text: &'a str) -> SourceFile<'a> {
        let mut lines = Vec::new();
        let mut start = 0;
        for raw in text.split_inclusive('\n') {
            let content = raw.strip_suffix('\n').unwrap_or(raw);
            let content = content.strip_suffix('\r').unwrap_or(content);
            let indent = content.len() - content.trim_start_matches([' ', '\t']).len();
            lines.push(Line { indent_end: start + indent, end: start + content.len() });
            start += raw.len();
        }
        let extension = Path::new(path).extension().and_then(|extension| extension.to_str()).unwrap_or("");
        let comment_prefixes = if HASH_COMMENT_EXTENSIONS.contains(&extension) {
            HASH_COMMENT_PREFIXES
        } else if DASH_COMMENT_EXTENSIONS.contains(&extension) {
            DASH_COMMENT_PREFIXES
        } else {
            C_COMMENT_PREFIXES
        };
        let used = vec![false; lines.len()];
        SourceFile { path, text, lines, comment_prefixes, used }
    }

    /// Masks a span of `kind` at a random qualifying line not masked before; `None` when no line
    /// qualifies.
    pub(crate) fn cut(&mut self, kind: MaskKind, rng: &mut SplitMix64) -> Option<Task> {
        let candidates: Vec<usize> = (0..self.lines.len())
            .filter(|&index| self.is_maskable(index))
            .filter(|&index| match kind {
                MaskKind::WholeLine => true,
                MaskKind::MidLine => !self.mid_line_cursors(index).is_empty(),
                MaskKind::MultiLine => self.multi_line_run(index) >= MULTI_LINE_MIN_LINES,
                MaskKind::MidWord => !self.mid_word_cursors(index).is_empty(),
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let index = candidates[rng.below(candidates.len())];
        let line = self.lines[index];
        let (offset, end, n_lines) = match kind {
            MaskKind::WholeLine => (line.indent_end, line.end, 1),
            MaskKind::MidLine => {
                let cursors = self.mid_line_cursors(index);
                (cursors[rng.below(cursors.len())], line.end, 1)
            }
            MaskKind::MidWord => {
                let cursors = self.mid_word_cursors(index);
                (cursors[rng.below(cursors.len())], line.end, 1)
            }
            MaskKind::MultiLine => {
                let wanted =
                    MULTI_LINE_MIN_LINES + rng.below(MULTI_LINE_MAX_LINES - MULTI_LINE_MIN_LINES + 1);
                let n_lines = wanted.min(self.multi_line_run(index));
                (line.indent_end, self.lines[index + n_lines - 1].end, n_lines)
            }
        };
        self.used[index..index + n_lines].fill(true);
        Some(Task {
            id: format!("{}:{}:{}", self.path, index + 1, kind.name()),
            path: self.path.to_owned(),
            text: self.text.to_owned(),
            offset,
            expected: self.text[offset..end].to_owned(),
            kind,
        })
    }

    fn content(&self, index: usize) -> &'a str {
        let line = self.lines[index];
        &self.text[line.indent_end..line.end]
    }

    fn is_blank(&self, index: usize) -> bool {
        self.content(index).trim().is_empty()
    }

    /// Outside the header, not masked yet, not a comment and long enough.
    fn is_maskable(&self, index: usize) -> bool {
        let content = self.content(index);
        index >= HEADER_LINES
            && !self.used[index]
            && content.chars().filter(|ch| !ch.is_whitespace()).count() >= MIN_NON_SPACE_CHARS
            && !self.comment_prefixes.iter().any(|prefix| content.starts_with(prefix))
    }

    /// How many lines a multi-line mask starting at `index` may span: consecutive non-blank lines
    /// not masked yet, at most [`MULTI_LINE_MAX_LINES`].
    fn multi_line_run(&self, index: usize) -> usize {
        (index..self.lines.len())
            .take(MULTI_LINE_MAX_LINES)
            .take_while(|&next| !self.used[next] && !self.is_blank(next))
            .count()
    }

    /// Byte offsets of the token boundaries inside the line's content (after the first character)
    /// with at least [`MIN_MID_LINE_REST_CHARS`] characters after them.
    fn mid_line_cursors(&self, index: usize) -> Vec<usize> {
        let line = self.lines[index];
        let content = self.content(index);
        let rest_chars = |at: usize| self.text[at..line.end].trim_end().chars().count();
        let mut cursors = Vec::new();
        let mut chars = content.char_indices().peekable();
        while let Some((_, before)) = chars.next() {
            let Some(&(at, after)) = chars.peek() else { break };
            let at = line.indent_end + at;
            if is_token_boundary(before, after) && rest_chars(at) >= MIN_MID_LINE_REST_CHARS {
                cursors.push(at);
            }
        }
        cursors
    }
}

impl SourceFile<'_> {
    /// Byte offsets inside the names of the line (at least [`MID_WORD_MIN_NAME_CHARS`] long, not
    /// numbers), after their first character and before their last, with at least
    /// [`MIN_MID_LINE_REST_CHARS`] characters after them on the line.
    fn mid_word_cursors(&self, index: usize) -> Vec<usize> {
        let line = self.lines[index];
        let content = self.content(index);
        let rest_chars = |at: usize| self.text[at..line.end].trim_end().chars().count();
        let mut cursors = Vec::new();
        let mut chars = content.char_indices().peekable();
        while let Some((start, first)) = chars.next() {
            if char_class(first) != CharClass::Word {
                continue;
            }
            let mut name: Vec<usize> = vec![start];
            while let Some(&(at, ch)) = chars.peek() {
                if char_class(ch) != CharClass::Word {
                    break;
                }
                name.push(at);
                chars.next();
            }
            let is_name = !first.is_ascii_digit();
            let preceded_by_word =
                content[..start].chars().next_back().is_some_and(|ch| char_class(ch) == CharClass::Word);
            if !is_name || preceded_by_word || name.len() < MID_WORD_MIN_NAME_CHARS {
                continue;
            }
            for &at in &name[1..] {
                let at = line.indent_end + at;
                if rest_chars(at) >= MIN_MID_LINE_REST_CHARS {
                    cursors.push(at);
                }
            }
        }
        cursors
    }
}

/// A mid-word cursor sits in a name of at least this many characters: shorter ones are typed
/// faster than a suggestion arrives.
pub const MID_WORD_MIN_NAME_CHARS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CharClass {
    Word,
    Space,
    Punctuation,
}

fn char_class(ch: char) -> CharClass {
    if ch.is_alphanumeric() || ch == '_' {
        CharClass::Word
    } else if ch.is_whitespace() {
        CharClass::Space
    } else {
        CharClass::Punctuation
    }
}

/// Between two characters of different classes, or between two punctuation characters (each is
/// its own token: `)?;`).
fn is_token_boundary(before: char, after: char) -> bool {
    let (before, after) = (char_class(before), char_class(after));
    before != after || (before == CharClass::Punctuation && after == CharClass::Punctuation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with_body(body: &str) -> String {
        format!("{}{body}", "// header\n".repeat(HEADER_LINES))
    }

    #[test]
    fn header_comments_blank_and_short_lines_are_never_masked() {
        let text = file_with_body("// a comment line\n\n}\nelse {\n    let total = 1;\n");
        let mut source = SourceFile::new("a.rs", &text);
        let task = source.cut(MaskKind::WholeLine, &mut SplitMix64::new(1)).unwrap();
        assert_eq!(task.expected, "let total = 1;");
        assert_eq!(task.id, "a.rs:15:line");
        assert_eq!(source.cut(MaskKind::WholeLine, &mut SplitMix64::new(1)), None, "a line is masked once");
    }

    #[test]
    fn hash_comments_count_only_where_the_language_has_them() {
        let body = "# a comment here\n#[derive(Debug)]\n";
        let text = file_with_body(body);
        let mut python = SourceFile::new("a.py", &text);
        assert_eq!(python.cut(MaskKind::WholeLine, &mut SplitMix64::new(0)), None);
        let mut rust = SourceFile::new("a.rs", &text);
        let mut expected: Vec<String> = (0..2)
            .filter_map(|seed| rust.cut(MaskKind::WholeLine, &mut SplitMix64::new(seed)))
            .map(|task| task.expected)
            .collect();
        expected.sort();
        assert_eq!(expected, ["# a comment here", "#[derive(Debug)]"]);
    }

    #[test]
    fn mid_line_cursors_sit_on_token_boundaries_with_enough_left() {
        let text = file_with_body("    let value = compute(a);\n");
        let source = SourceFile::new("a.rs", &text);
        let cursors: Vec<&str> =
            source.mid_line_cursors(HEADER_LINES).into_iter().map(|at| &text[at..text.len() - 1]).collect();
        assert_eq!(
            cursors,
            [
                " value = compute(a);",
                "value = compute(a);",
                " = compute(a);",
                "= compute(a);",
                " compute(a);",
                "compute(a);"
            ]
        );
    }

    #[test]
    fn mid_word_cursors_sit_inside_names() {
        let text = file_with_body("    let value = compute(a, 12345);\n");
        let source = SourceFile::new("a.rs", &text);
        let cursors: Vec<&str> =
            source.mid_word_cursors(HEADER_LINES).into_iter().map(|at| &text[at..text.len() - 1]).collect();
        assert_eq!(
            cursors,
            [
                "et value = compute(a, 12345);",
                "t value = compute(a, 12345);",
                "alue = compute(a, 12345);",
                "lue = compute(a, 12345);",
                "ue = compute(a, 12345);",
                "e = compute(a, 12345);",
                "ompute(a, 12345);",
                "mpute(a, 12345);",
                "pute(a, 12345);",
                "ute(a, 12345);",
                "te(a, 12345);",
                "e(a, 12345);",
            ]
        );
    }

    #[test]
    fn multi_line_masks_stop_at_blank_lines_and_keep_crlf_out() {
        let text = file_with_body("    let first = 1;\r\n    let second = 2;\r\n\r\n    let third = 3;\r\n");
        let mut source = SourceFile::new("a.rs", &text);
        let task = source.cut(MaskKind::MultiLine, &mut SplitMix64::new(3)).unwrap();
        assert_eq!(task.expected, "let first = 1;\r\n    let second = 2;");
        assert_eq!(format!("{}{}{}", task.prefix(), task.expected, task.suffix()), text);
        assert_eq!(source.cut(MaskKind::MultiLine, &mut SplitMix64::new(3)), None, "one line is left");
    }
}
