//! Stop rules: where a suggestion ends.
//!
//! A cursor in the middle of a line gets the rest of that line; a cursor on an empty line gets a
//! bounded block that ends at a blank line, at a line indented less than the cursor, or after a
//! number of lines. The rule is applied while decoding so the model never spends time on text that
//! would be thrown away.

use std::ops::ControlFlow;

/// How far a suggestion may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRule {
    /// Up to the end of the current line (the newline is not part of the suggestion).
    Line,
    /// A block of at most `max_lines` lines, ending before a blank line or before a line indented
    /// less than `indent` columns (the cursor line's indentation).
    Block { max_lines: usize, indent: usize },
    /// Only end-of-generation and `max_tokens` end the text (benchmarks).
    Unbounded,
}

/// Applies a [`StopRule`] to text as it is decoded.
#[derive(Debug, Clone)]
pub struct Stopper {
    rule: StopRule,
    text: String,
    stopped: bool,
    /// Set by [`Stopper::stop_at_next_newline`]: the byte from which a line break ends the text.
    newline_ends_from: Option<usize>,
}

impl Stopper {
    pub fn new(rule: StopRule) -> Stopper {
        Stopper { rule, text: String::new(), stopped: false, newline_ends_from: None }
    }

    /// Adds decoded text; `Break` once the rule says the suggestion is complete. After that the
    /// kept text no longer changes.
    pub fn push(&mut self, piece: &str) -> ControlFlow<()> {
        if self.stopped {
            return ControlFlow::Break(());
        }
        self.text.push_str(piece);
        let line_end =
            self.newline_ends_from.and_then(|from| self.text[from..].find('\n').map(|index| from + index));
        let cut = match self.rule {
            StopRule::Line => self.text.find('\n'),
            StopRule::Block { max_lines, indent } => block_end(&self.text, max_lines, indent),
            StopRule::Unbounded => None,
        };
        let cut = match (cut, line_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (cut, line_end) => cut.or(line_end),
        };
        match cut {
            Some(end) => {
                self.text.truncate(end);
                self.stopped = true;
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        }
    }

    /// From now on, the next line break ends the text (the time budget ran out).
    pub fn stop_at_next_newline(&mut self) {
        self.newline_ends_from.get_or_insert(self.text.len());
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The suggestion: the kept text without trailing line breaks or a trailing `\r`.
    pub fn finish(mut self) -> String {
        let kept = self.text.trim_end_matches(['\n', '\r']).len();
        self.text.truncate(kept);
        if matches!(self.rule, StopRule::Block { .. }) {
            // A block never ends with whitespace-only lines.
            let trimmed = self.text.trim_end();
            let end = trimmed.len();
            if self.text[end..].contains('\n') {
                self.text.truncate(end);
            }
        }
        self.text
    }
}

/// Byte offset where a block suggestion ends, if it has ended. Line 0 continues the cursor line
/// and is never judged by indentation; later lines are judged once they are complete, or once
/// they show their first visible character (enough to see a dedent).
fn block_end(text: &str, max_lines: usize, indent: usize) -> Option<usize> {
    let mut line_start = 0;
    let mut seen_content = false;
    for (index, line) in text.split('\n').enumerate() {
        let complete = line_start + line.len() < text.len();
        let visible = line.trim();
        if index > 0 {
            // The newline that ended the previous line is at `line_start - 1`.
            let before_this_line = line_start - 1;
            if visible.is_empty() && complete && seen_content {
                return Some(before_this_line);
            }
            if !visible.is_empty() && indentation(line) < indent {
                return Some(before_this_line);
            }
            if index >= max_lines {
                return Some(before_this_line);
            }
        }
        seen_content |= !visible.is_empty();
        line_start += line.len() + 1;
    }
    None
}

/// Indentation width in columns (a tab counts as 4).
pub fn indentation(line: &str) -> usize {
    line.chars().take_while(|c| *c == ' ' || *c == '\t').map(|c| if c == '\t' { 4 } else { 1 }).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rule: StopRule, pieces: &[&str]) -> (String, bool) {
        let mut stopper = Stopper::new(rule);
        for piece in pieces {
            if stopper.push(piece).is_break() {
                break;
            }
        }
        let stopped = stopper.is_stopped();
        (stopper.finish(), stopped)
    }

    #[test]
    fn line_rule_stops_at_first_newline() {
        assert_eq!(run(StopRule::Line, &["foo(", "bar)", ";\n", "baz"]), ("foo(bar);".into(), true));
        assert_eq!(run(StopRule::Line, &["a", "b\r\nc"]), ("ab".into(), true));
        assert_eq!(run(StopRule::Line, &["abc"]), ("abc".into(), false));
    }

    #[test]
    fn block_rule_stops_at_dedent() {
        let rule = StopRule::Block { max_lines: 10, indent: 4 };
        let (text, stopped) = run(rule, &["let x = 1;\n", "    let y = 2;\n", "}", "\n"]);
        assert_eq!(text, "let x = 1;\n    let y = 2;");
        assert!(stopped);
    }

    #[test]
    fn block_rule_stops_at_blank_line_after_content() {
        let rule = StopRule::Block { max_lines: 10, indent: 0 };
        assert_eq!(run(rule, &["a\n", "b\n", "\n", "c\n"]), ("a\nb".into(), true));
        // Leading blank lines are not an end.
        assert_eq!(run(rule, &["\n", "\n", "x\n", "y"]), ("\n\nx\ny".into(), false));
    }

    #[test]
    fn out_of_time_the_current_line_is_finished() {
        let mut stopper = Stopper::new(StopRule::Block { max_lines: 10, indent: 0 });
        assert!(stopper.push("a\nb").is_continue());
        stopper.stop_at_next_newline();
        assert!(stopper.push("c").is_continue());
        assert!(stopper.push("d\ne").is_break());
        assert_eq!(stopper.finish(), "a\nbcd");
    }

    #[test]
    fn block_rule_bounds_lines() {
        let rule = StopRule::Block { max_lines: 2, indent: 0 };
        assert_eq!(run(rule, &["a\nb\nc\nd"]), ("a\nb".into(), true));
    }

    #[test]
    fn block_rule_trims_trailing_whitespace_lines() {
        let rule = StopRule::Block { max_lines: 10, indent: 0 };
        assert_eq!(run(rule, &["a\n  "]), ("a".into(), false));
    }
}
