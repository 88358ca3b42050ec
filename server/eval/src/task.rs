//! A masked-completion task: a file with a span cut out at the cursor, and the span to produce.

use std::fmt;

/// How the masked span was chosen; see the crate docs for the rules of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MaskKind {
    /// The rest of a line after its indentation.
    WholeLine,
    /// The rest of a line from a token boundary inside it.
    MidLine,
    /// Two to four consecutive lines from the indentation of the first.
    MultiLine,
    /// The rest of a line from inside a name, after its first characters (the user is typing
    /// it: `counts.v` for `counts.values().sum();`).
    MidWord,
}

impl MaskKind {
    /// Every kind, in the order tasks cycle through them and reports list them.
    pub const ALL: [MaskKind; 4] =
        [MaskKind::WholeLine, MaskKind::MidLine, MaskKind::MultiLine, MaskKind::MidWord];

    /// The short name used in task ids ("src/lib.rs:120:mid") and reports.
    pub fn name(self) -> &'static str {
        match self {
            MaskKind::WholeLine => "line",
            MaskKind::MidLine => "mid",
            MaskKind::MultiLine => "multi",
            MaskKind::MidWord => "word",
        }
    }
}

impl fmt::Display for MaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One masked-completion task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Stable id: path, 1-based line of the cursor and kind, e.g. "src/lib.rs:120:mid".
    pub id: String,
    /// Path relative to the repository root, with `/` separators.
    pub path: String,
    /// The file's full text (the masked span included), so the runner can open it.
    pub text: String,
    /// Byte offset of the cursor (start of the masked span) in `text`.
    pub offset: usize,
    /// The masked text the model should produce.
    pub expected: String,
    pub kind: MaskKind,
}

impl Task {
    /// The text before the cursor.
    pub fn prefix(&self) -> &str {
        &self.text[..self.offset]
    }

    /// The text after the masked span.
    pub fn suffix(&self) -> &str {
        &self.text[self.offset + self.expected.len()..]
    }

    /// What the editor holds when the completion is requested: prefix and suffix, span removed.
    pub fn text_without_span(&self) -> String {
        let mut text = String::with_capacity(self.text.len() - self.expected.len());
        text.push_str(self.prefix());
        text.push_str(self.suffix());
        text
    }

    /// The 1-based line and 0-based UTF-16 column of the cursor, as editors and LSP count them.
    pub fn line_and_utf16_column(&self) -> (usize, usize) {
        let prefix = self.prefix();
        let line_start = prefix.rfind('\n').map_or(0, |newline| newline + 1);
        let line = prefix.matches('\n').count() + 1;
        (line, prefix[line_start..].encode_utf16().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_span_and_suffix_split_the_text() {
        let task = Task {
            id: "a.rs:2:mid".into(),
            path: "a.rs".into(),
            text: "fn f() {\n    let é = g(1);\n}\n".into(),
            offset: 22,
            expected: "g(1);".into(),
            kind: MaskKind::MidLine,
        };
        assert_eq!(task.prefix(), "fn f() {\n    let é = ");
        assert_eq!(task.suffix(), "\n}\n");
        assert_eq!(task.text_without_span(), "fn f() {\n    let é = \n}\n");
        assert_eq!(task.line_and_utf16_column(), (2, 12));
    }
}
