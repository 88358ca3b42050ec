//! Counters since the server started (`wisp/metrics`): requests, reuse, tokens, indexing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

/// Counters behind `wisp/metrics`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    /// Completion requests from the editor.
    pub requests: AtomicU64,
    /// Requests answered with a suggestion.
    pub suggestions: AtomicU64,
    /// Requests (and prefetches) cancelled or superseded before they finished.
    pub cancelled: AtomicU64,
    pub cache_exact_hits: AtomicU64,
    pub cache_typed_through_hits: AtomicU64,
    /// Requests that waited for the generation of an earlier keystroke instead of cancelling it
    /// (the typed characters agreed with it).
    pub joined: AtomicU64,
    /// Joining requests answered with the rest of that generation's suggestion.
    pub joined_hits: AtomicU64,
    /// Prompt tokens of the generations that ran.
    pub prompt_tokens: AtomicU64,
    /// Prompt tokens the model evaluated for keystrokes and prefetches (the rest came from the
    /// KV cache).
    pub prompt_tokens_evaluated: AtomicU64,
    /// Prompt tokens evaluated by warm-ups when documents were opened.
    pub warm_up_tokens: AtomicU64,
    /// Model runs for keystrokes and prefetches (finished or cancelled part-way).
    pub generations: AtomicU64,
    pub generated_tokens: AtomicU64,
    /// Milliseconds spent waiting in the debounce, in all.
    pub debounce_ms: AtomicU64,
    pub prefetches: AtomicU64,
    pub warm_ups: AtomicU64,
    /// Times context snippets were collected (the rest reused a document's previous ones).
    pub context_collections: AtomicU64,
    /// Microseconds spent collecting them, in all.
    pub context_us: AtomicU64,
    /// Source files in the workspace index.
    pub indexed_files: AtomicU64,
    pub indexed_lines: AtomicU64,
    /// Milliseconds the initial indexing took.
    pub index_ms: AtomicU64,
    /// Approximate bytes the index holds.
    pub index_bytes: AtomicU64,
    /// Model suggestions each filter cut (`wisp_guard::FILTERS`, and `confidence`).
    pub cut_by: Mutex<BTreeMap<String, u64>>,
    /// Model suggestions nothing was left of after the filters.
    pub suppressed: AtomicU64,
    /// Code actions resolved with an edit, refused (the model's answer was empty or did not
    /// parse), and stopped part-way because the client cancelled.
    pub actions_resolved: AtomicU64,
    pub actions_refused: AtomicU64,
    pub actions_cancelled: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a model suggestion the filters `cut_by` changed, `suppressed` when nothing was left.
    pub fn filtered(&self, cut_by: &[&str], suppressed: bool) {
        let mut counts = self.cut_by.lock().unwrap_or_else(|p| p.into_inner());
        for filter in cut_by {
            *counts.entry((*filter).to_owned()).or_default() += 1;
        }
        if suppressed {
            Metrics::add(&self.suppressed, 1);
        }
    }
}
