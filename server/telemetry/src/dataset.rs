//! `wisp dataset export`: consented, redacted suggestions and their labels as JSONL, for
//! fine-tuning and evaluation.
//!
//! One JSON object per line ([`DatasetRow`], documented field by field). Only completions stored
//! with content (the user opted in) and with an outcome (accepted, partially accepted,
//! dismissed) are exported; redaction is applied again with the current rules; exact duplicates
//! (same prompt, completion, label and kept text) are written once. Each row's split comes from
//! a hash of its file's key, so all rows of one file land in the same split.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use sha2::{Digest, Sha256};
use wisp_guard::Redactor;

use crate::store::CompletionOutcome;

/// Percent of files in the train and validation splits; the rest is test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitShares {
    pub train: u32,
    pub validation: u32,
}

impl Default for SplitShares {
    fn default() -> SplitShares {
        SplitShares { train: 80, validation: 10 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    Validation,
    Test,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// Accepted whole.
    Accepted,
    /// Partly accepted: `kept` holds the accepted part.
    PartiallyAccepted,
    /// Dismissed, or replaced by a newer suggestion, without any accept.
    Dismissed,
}

/// One exported example.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetRow {
    /// Completion id (joins with the feedback database).
    pub id: String,
    /// The prompt exactly as the model saw it (after redaction).
    pub prompt: String,
    /// The suggestion (after redaction).
    pub completion: String,
    pub label: Label,
    /// The accepted text: all of `completion` when accepted, its accepted beginning when
    /// partially accepted, absent when dismissed.
    pub kept: Option<String>,
    /// Mean kept ratio (0–1) by seconds after the accept, when measured.
    pub survival: BTreeMap<u32, f64>,
    pub model_id: String,
    pub model_sha256: String,
    pub variant: String,
    pub language: String,
    pub split: Split,
}

/// The split of a file, from its key.
pub fn split_of(file_key: &str, shares: SplitShares) -> Split {
    let digest = Sha256::digest(file_key.as_bytes());
    let bucket = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 100;
    if bucket < shares.train {
        Split::Train
    } else if bucket < shares.train + shares.validation {
        Split::Validation
    } else {
        Split::Test
    }
}

/// The rows to export, in the order of `outcomes`.
pub fn rows(outcomes: &[CompletionOutcome], redactor: &Redactor, shares: SplitShares) -> Vec<DatasetRow> {
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for outcome in outcomes {
        let completion = &outcome.completion;
        let Some(content) = &completion.content else { continue };
        let (label, kept) = if outcome.accepted {
            (Label::Accepted, Some(content.suggestion.clone()))
        } else if outcome.partially_accepted_utf16 > 0 {
            let kept = utf16_prefix(&content.suggestion, outcome.partially_accepted_utf16 as usize);
            (Label::PartiallyAccepted, Some(kept.to_owned()))
        } else if outcome.dismissed.is_some() {
            (Label::Dismissed, None)
        } else {
            continue;
        };
        let prompt = redactor.redact(&content.prompt).text;
        let suggestion = redactor.redact(&content.suggestion).text;
        let kept = kept.map(|kept| redactor.redact(&kept).text);
        if !seen.insert((prompt.clone(), suggestion.clone(), label, kept.clone())) {
            continue;
        }
        let mut survival: BTreeMap<u32, (f64, u32)> = BTreeMap::new();
        for &(after_s, ratio) in &outcome.survival {
            let entry = survival.entry(after_s).or_default();
            entry.0 += ratio;
            entry.1 += 1;
        }
        rows.push(DatasetRow {
            id: completion.id.clone(),
            prompt,
            completion: suggestion,
            label,
            kept,
            survival: survival.into_iter().map(|(after_s, (sum, n))| (after_s, sum / f64::from(n))).collect(),
            model_id: completion.model_id.clone(),
            model_sha256: completion.model_sha256.clone(),
            variant: completion.variant.clone(),
            language: completion.language.clone(),
            split: split_of(&completion.file_key, shares),
        });
    }
    rows
}

/// The longest prefix of `text` of at most `units` UTF-16 code units (never splitting a
/// character).
pub fn utf16_prefix(text: &str, units: usize) -> &str {
    let mut counted = 0;
    for (offset, character) in text.char_indices() {
        counted += character.len_utf16();
        if counted > units {
            return &text[..offset];
        }
    }
    text
}
