//! Redaction of secrets and personal data, for text that is stored (telemetry) or suggested.
//!
//! Secrets (API keys, tokens, private keys, passwords) become a typed placeholder such as
//! `<secret:github-token>`. Personal data (emails, IP addresses, phone numbers, card numbers)
//! becomes a keyed hash such as `<email:3f9a1c0b7d2e>`: the same address maps to the same token
//! across records, however it is spelled (`Alice@Example.com` and `alice@example.com` agree), so
//! statistics can still count distinct users, but nobody without the installation's key can test
//! a guess.
//!
//! Every rule finds candidates by pattern; overlapping candidates are merged into one redaction
//! so no part of either survives. Placeholders already in the text are left alone, and redaction
//! repeats until it finds nothing new, so redacting twice changes nothing.

mod card;
mod entropy;
mod keyed_hash;
mod kind;
mod pii_rules;
mod private_key;
mod secret_rules;
mod value_shape;

use std::fmt;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

pub use keyed_hash::PII_TOKEN_HEX_CHARS;
pub use kind::SensitiveKind;
pub use pii_rules::{
    CARD_DIGITS, MAX_INTERNATIONAL_PHONE_DIGITS, MIN_INTERNATIONAL_PHONE_DIGITS, UNSEPARATED_CARD_DIGITS,
};
pub use private_key::MIN_PRIVATE_KEY_BODY_CHARS;
pub use value_shape::{MIN_IDENTIFIER_WORD_LETTERS, MIN_SECRET_VALUE_CHARS, MIN_SECRET_VALUE_ENTROPY};

/// Replaces secrets and personal data in text; see the [module docs](self).
#[derive(Clone)]
pub struct Redactor {
    key: [u8; 32],
}

/// Text after redaction, and what was replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The text with every finding replaced by its placeholder.
    pub text: String,
    /// What was replaced, in order, without overlaps.
    pub findings: Vec<Finding>,
}

/// One sensitive value found in a text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Finding {
    /// What the value is.
    pub kind: SensitiveKind,
    /// Byte range of the value in the original text.
    pub range: Range<usize>,
}

impl Redactor {
    /// `key`: secret per-installation key; the same value and key always map to the same token.
    pub fn new(key: [u8; 32]) -> Self {
        Redactor { key }
    }

    /// `text` with every secret and piece of personal data replaced.
    pub fn redact(&self, text: &str) -> Redacted {
        redact_until_settled(text, &|kind, value| self.placeholder(kind, value))
    }

    /// `<secret:NAME>` for a secret, `<NAME:HASH>` for personal data.
    fn placeholder(&self, kind: SensitiveKind, value: &str) -> String {
        if kind.is_secret() {
            format!("<secret:{}>", kind.name())
        } else {
            let canonical = keyed_hash::canonical(kind, value);
            format!("<{}:{}>", kind.name(), keyed_hash::keyed_digest(&self.key, &canonical))
        }
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor").field("key", &"<hidden>").finish()
    }
}

/// True when `text` contains any secret (not personal data): used by a guardrail to refuse
/// suggestions that would write a credential into the user's file.
pub fn contains_secret(text: &str) -> bool {
    find_sensitive(text).iter().any(|finding| finding.kind.is_secret())
}

/// Every secret and piece of personal data in `text`, in order and without overlaps: the
/// findings [`Redactor::redact`] replaces.
///
/// Overlapping candidates merge into one finding that covers them all, so nothing of either is
/// left in the redacted text. The merged finding takes the kind of its earliest (then longest)
/// secret, or of its earliest (then longest) personal data when it holds no secret; equal ranges
/// go to the more specific rule (`github-token` over `generic-secret`).
pub fn find_sensitive(text: &str) -> Vec<Finding> {
    // Which values are found depends on where placeholders stand and how long they are, never on
    // their hash, so any key gives the findings `redact` makes.
    let unkeyed = |kind: SensitiveKind, _value: &str| {
        if kind.is_secret() {
            format!("<secret:{}>", kind.name())
        } else {
            format!("<{}:{}>", kind.name(), "0".repeat(PII_TOKEN_HEX_CHARS))
        }
    };
    redact_until_settled(text, &unkeyed).findings
}

/// Redacts `text`, then redacts the result again until nothing new is found, so that redacting
/// the output once more changes nothing.
///
/// A second round can find more because rules look at a value's neighbours: in
/// `ghp_…+44 20 7946 0958` the phone number is glued to the token's last letter and is passed
/// over, but once the token is `<secret:github-token>` the number stands alone. Every round
/// replaces text outside placeholders, so the rounds end.
fn redact_until_settled(text: &str, placeholder: &dyn Fn(SensitiveKind, &str) -> String) -> Redacted {
    let mut findings: Vec<Finding> = Vec::new();
    let mut rendered = render(text, &findings, placeholder);
    loop {
        let new = find_once(&rendered.text);
        if new.is_empty() {
            return Redacted { text: rendered.text, findings };
        }
        for finding in new {
            let range = rendered.to_original(finding.range.start)..rendered.to_original(finding.range.end);
            findings.push(Finding { kind: finding.kind, range });
        }
        findings.sort_by_key(|finding| finding.range.start);
        rendered = render(text, &findings, placeholder);
    }
}

/// The text with some findings replaced, and where each placeholder stands.
struct Rendered {
    text: String,
    /// Each placeholder's range in `text` and the range it replaced in the original, in order.
    spans: Vec<(Range<usize>, Range<usize>)>,
}

impl Rendered {
    /// The original position of `position` in the rendered text, which is outside placeholders.
    fn to_original(&self, position: usize) -> usize {
        let mut shift: isize = 0;
        for (rendered, original) in &self.spans {
            if rendered.end > position {
                break;
            }
            shift += original.len() as isize - rendered.len() as isize;
        }
        position.checked_add_signed(shift).expect("a position maps inside the original text")
    }
}

/// `text` with each of `findings` (ordered, disjoint, in original positions) replaced.
fn render(text: &str, findings: &[Finding], placeholder: &dyn Fn(SensitiveKind, &str) -> String) -> Rendered {
    let mut rendered = String::with_capacity(text.len());
    let mut spans = Vec::with_capacity(findings.len());
    let mut copied_up_to = 0;
    for finding in findings {
        rendered.push_str(&text[copied_up_to..finding.range.start]);
        let start = rendered.len();
        rendered.push_str(&placeholder(finding.kind, &text[finding.range.clone()]));
        spans.push((start..rendered.len(), finding.range.clone()));
        copied_up_to = finding.range.end;
    }
    rendered.push_str(&text[copied_up_to..]);
    Rendered { text: rendered, spans }
}

/// One round of finding: every rule's candidates outside existing placeholders, merged.
fn find_once(text: &str) -> Vec<Finding> {
    let mut candidates = Vec::new();
    secret_rules::find(text, &mut candidates);
    pii_rules::find(text, &mut candidates);
    let placeholders = placeholder_ranges(text);
    candidates.retain(|candidate| !overlaps_any(&candidate.range, &placeholders));
    // A stable sort keeps rule order (specific before generic) among equal ranges.
    candidates.sort_by_key(|candidate| (candidate.range.start, std::cmp::Reverse(candidate.range.end)));
    merge_overlapping(candidates)
}

fn merge_overlapping(sorted: Vec<Finding>) -> Vec<Finding> {
    let mut merged: Vec<Finding> = Vec::new();
    let mut label_is_secret = false;
    for candidate in sorted {
        match merged.last_mut() {
            Some(last) if candidate.range.start < last.range.end => {
                last.range.end = last.range.end.max(candidate.range.end);
                if candidate.kind.is_secret() && !label_is_secret {
                    last.kind = candidate.kind;
                    label_is_secret = true;
                }
            }
            _ => {
                label_is_secret = candidate.kind.is_secret();
                merged.push(candidate);
            }
        }
    }
    merged
}

/// This module's own placeholders: never redacted again, so redaction is idempotent.
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    let personal: Vec<&str> =
        SensitiveKind::ALL.iter().filter(|kind| !kind.is_secret()).map(|kind| kind.name()).collect();
    let pattern =
        format!(r"<secret:[a-z0-9-]+>|<(?:{}):[0-9a-f]{{{PII_TOKEN_HEX_CHARS}}}>", personal.join("|"));
    Regex::new(&pattern).expect("placeholder pattern compiles")
});

fn placeholder_ranges(text: &str) -> Vec<Range<usize>> {
    PLACEHOLDER.find_iter(text).map(|placeholder| placeholder.range()).collect()
}

fn overlaps_any(range: &Range<usize>, others: &[Range<usize>]) -> bool {
    others.iter().any(|other| range.start < other.end && other.start < range.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(kind: SensitiveKind, range: Range<usize>) -> Finding {
        Finding { kind, range }
    }

    #[test]
    fn overlapping_candidates_merge_and_prefer_secrets() {
        use SensitiveKind::*;
        let merged = merge_overlapping(vec![
            finding(Email, 0..10),
            finding(UrlPassword, 5..20),
            finding(Password, 8..25),
            finding(IpAddress, 30..40),
        ]);
        assert_eq!(merged, vec![finding(UrlPassword, 0..25), finding(IpAddress, 30..40)]);
    }

    #[test]
    fn adjacent_candidates_stay_apart() {
        use SensitiveKind::*;
        let merged = merge_overlapping(vec![finding(Email, 0..10), finding(IpAddress, 10..20)]);
        assert_eq!(merged, vec![finding(Email, 0..10), finding(IpAddress, 10..20)]);
    }

    #[test]
    fn rendered_positions_map_back_to_the_original() {
        let text = "a 203.0.113.42 b SECRETVALUE c";
        let findings =
            vec![finding(SensitiveKind::IpAddress, 2..14), finding(SensitiveKind::Password, 17..28)];
        let rendered = render(text, &findings, &|kind, _| format!("<{}>", kind.name()));
        assert_eq!(rendered.text, "a <ip> b <password> c");
        assert_eq!(rendered.to_original(0), 0);
        assert_eq!(rendered.to_original(2), 2);
        assert_eq!(rendered.to_original(6), 14);
        assert_eq!(rendered.to_original(9), 17);
        assert_eq!(rendered.to_original(21), 30);
    }

    #[test]
    fn candidates_overlapping_a_placeholder_are_dropped() {
        // The quoted value would be a password, but it holds a placeholder: redacting it would
        // redact the placeholder again (and break the rounds of `redact_until_settled`).
        let text = "password = \"Xy7q9Lm2Vb4<secret:jwt>\"";
        assert_eq!(find_sensitive(text), vec![]);
        let without_placeholder = "password = \"Xy7q9Lm2Vb4<secret:jwt\"";
        assert_eq!(find_sensitive(without_placeholder).len(), 1);
    }

    #[test]
    fn placeholders_are_recognised() {
        let text = "<secret:github-token> <email:0123456789ab> <card:0123456789ab> <email:short>";
        assert_eq!(placeholder_ranges(text).len(), 3);
    }

    #[test]
    fn debug_hides_the_key() {
        let debug = format!("{:?}", Redactor::new([0xAB; 32]));
        assert!(!debug.contains("171"), "{debug}");
    }
}
