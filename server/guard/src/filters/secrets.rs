//! Secrets: a suggestion never writes a value the redaction rules match (an API key, a private
//! key, a password, personal data), wherever the model found it. It stops before the line that
//! holds one.

use crate::pipeline::Surroundings;
use crate::redact::find_sensitive;

/// `text` up to the start of the first line holding a sensitive value, read together with the
/// cursor's line before it (a key the user started typing is still a key).
pub fn keep(text: &str, around: &Surroundings<'_>) -> usize {
    let line_before = around.line_before_cursor();
    let joined = format!("{line_before}{text}");
    let Some(finding) =
        find_sensitive(&joined).into_iter().find(|finding| finding.range.end > line_before.len())
    else {
        return text.len();
    };
    let at = finding.range.start.saturating_sub(line_before.len());
    text[..at].rfind('\n').unwrap_or(0)
}
