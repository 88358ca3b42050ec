//! A suggestion being generated, shared by the keystrokes that can use it.
//!
//! At a typing pace a keystroke often arrives while the suggestion for the previous one is still
//! being generated. When the typed characters agree with what the model has produced so far, the
//! newer request *joins* that generation instead of cancelling it: once it finishes, the rest of
//! the suggestion after the typed characters is the answer (as a typed-through cache hit would
//! be), and the work already done is not thrown away. When the model's text and the typed
//! characters disagree, the generation is cancelled at once and the newer request runs its own.
//!
//! A generation runs while at least one request still wants it: each request holds an
//! [`Interest`], released when the request is answered, superseded or cancelled by the client.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use wisp_engine::CancelFlag;

use crate::completion::Gathered;

/// Bytes of the text before the cursor kept to recognise that a later request continues this one.
const PREFIX_TAIL_BYTES: usize = 256;

/// How a generation's text so far relates to the characters typed since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    /// The text so far starts with the typed characters and goes on.
    Ahead,
    /// The typed characters start with the text so far: too early to tell.
    Undecided,
    /// They differ: the generation cannot answer the newer request.
    Diverged,
}

fn hash(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// One running generation for a cursor context.
#[derive(Debug)]
pub struct Flight {
    /// Cancels the generation.
    pub cancel: CancelFlag,
    model: String,
    document: u64,
    offset: usize,
    suffix_hash: u64,
    prefix_tail: String,
    /// Raw text generated so far.
    partial: Mutex<String>,
    /// The finished suggestion (after the guard); `None` until then, or when it was cancelled.
    result: Mutex<Option<String>>,
    finished: AtomicBool,
    interest: AtomicUsize,
}

impl Flight {
    pub fn new(model: &str, gathered: &Gathered) -> Arc<Flight> {
        let prefix = &gathered.prefix;
        let mut start = prefix.len().saturating_sub(PREFIX_TAIL_BYTES);
        while !prefix.is_char_boundary(start) {
            start += 1;
        }
        Arc::new(Flight {
            cancel: CancelFlag::new(),
            model: model.to_owned(),
            document: gathered.document_key,
            offset: gathered.offset,
            suffix_hash: hash(&gathered.suffix),
            prefix_tail: prefix[start..].to_owned(),
            partial: Mutex::default(),
            result: Mutex::default(),
            finished: AtomicBool::new(false),
            interest: AtomicUsize::new(0),
        })
    }

    /// The characters typed since this generation's cursor, when `gathered` is the same place
    /// with only those characters inserted before the cursor (same model, document and suffix).
    pub fn typed_since<'g>(&self, model: &str, gathered: &'g Gathered) -> Option<&'g str> {
        if model != self.model || gathered.document_key != self.document || gathered.offset <= self.offset {
            return None;
        }
        let typed_len = gathered.offset - self.offset;
        let split = gathered.prefix.len().checked_sub(typed_len)?;
        if !gathered.prefix.is_char_boundary(split) || hash(&gathered.suffix) != self.suffix_hash {
            return None;
        }
        let (before, typed) = gathered.prefix.split_at(split);
        before.ends_with(&self.prefix_tail).then_some(typed)
    }

    /// Records generated text.
    pub fn push(&self, piece: &str) {
        self.partial.lock().unwrap_or_else(|p| p.into_inner()).push_str(piece);
    }

    pub fn agreement(&self, typed: &str) -> Agreement {
        agreement(&self.partial.lock().unwrap_or_else(|p| p.into_inner()), typed)
    }

    /// Ends the flight with its suggestion, `None` when it produced none.
    pub fn finish(&self, result: Option<String>) {
        *self.result.lock().unwrap_or_else(|p| p.into_inner()) = result;
        self.finished.store(true, Ordering::Release);
    }

    /// What is left of the finished suggestion after `typed`, when it starts with them.
    pub fn rest_after(&self, typed: &str) -> Option<String> {
        let result = self.result.lock().unwrap_or_else(|p| p.into_inner());
        let rest = result.as_deref()?.strip_prefix(typed)?;
        (!rest.trim().is_empty()).then(|| rest.to_owned())
    }

    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Whether the generation can still answer someone (neither finished nor cancelled).
    pub fn is_running(&self) -> bool {
        !self.is_finished() && !self.cancel.is_cancelled()
    }
}

/// How `generated` relates to `typed`.
pub fn agreement(generated: &str, typed: &str) -> Agreement {
    if generated.len() > typed.len() && generated.starts_with(typed) {
        Agreement::Ahead
    } else if typed.starts_with(generated) {
        Agreement::Undecided
    } else {
        Agreement::Diverged
    }
}

/// A request's claim on a flight: while any claim is held the generation runs; releasing the
/// last one cancels it (unless it already finished). Releasing twice is harmless.
#[derive(Debug)]
pub struct Interest {
    flight: Arc<Flight>,
    released: AtomicBool,
}

impl Interest {
    pub fn new(flight: &Arc<Flight>) -> Arc<Interest> {
        flight.interest.fetch_add(1, Ordering::AcqRel);
        Arc::new(Interest { flight: Arc::clone(flight), released: AtomicBool::new(false) })
    }

    pub fn flight(&self) -> &Arc<Flight> {
        &self.flight
    }

    pub fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel)
            && self.flight.interest.fetch_sub(1, Ordering::AcqRel) == 1
            && !self.flight.is_finished()
        {
            self.flight.cancel.cancel();
        }
    }
}

impl Drop for Interest {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wisp_engine::StopRule;

    fn gathered_at(prefix: &str, suffix: &str) -> Gathered {
        Gathered {
            path: "src/main.rs".into(),
            line_comment: Some("//".into()),
            stop_patterns: Vec::new(),
            document: None,
            prefix: prefix.into(),
            suffix: suffix.into(),
            line_after_cursor: String::new(),
            stop: StopRule::Line,
            prefix_start: 0,
            offset: prefix.len(),
            document_key: 7,
            anchor: None,
            snippets: Vec::new(),
            names: None,
            names_source: None,
        }
    }

    #[test]
    fn a_later_request_continues_a_flight_only_by_typing_at_its_cursor() {
        let flight = Flight::new("m", &gathered_at("fn main() {\n    let x = ", "\n}"));
        assert_eq!(flight.typed_since("m", &gathered_at("fn main() {\n    let x = fo", "\n}")), Some("fo"));
        assert_eq!(flight.typed_since("other", &gathered_at("fn main() {\n    let x = fo", "\n}")), None);
        assert_eq!(flight.typed_since("m", &gathered_at("fn main() {\n    let x = fo", ";\n}")), None);
        assert_eq!(flight.typed_since("m", &gathered_at("fn main() {\n    let y = fo", "\n}")), None);
        assert_eq!(flight.typed_since("m", &gathered_at("fn main() {\n    let x = ", "\n}")), None);
        assert_eq!(flight.typed_since("m", &gathered_at("fn main() {\n    let x", "\n}")), None);
    }

    #[test]
    fn agreement_follows_the_generated_text() {
        assert_eq!(agreement("foo(bar)", "fo"), Agreement::Ahead);
        assert_eq!(agreement("f", "fo"), Agreement::Undecided);
        assert_eq!(agreement("", "fo"), Agreement::Undecided);
        assert_eq!(agreement("fo", "fo"), Agreement::Undecided, "nothing left to show yet");
        assert_eq!(agreement("fa", "fo"), Agreement::Diverged);
        assert_eq!(agreement("x", "fo"), Agreement::Diverged);
    }

    #[test]
    fn the_last_interest_released_cancels_an_unfinished_flight() {
        let flight = Flight::new("m", &gathered_at("a", ""));
        let first = Interest::new(&flight);
        let second = Interest::new(&flight);
        first.release();
        first.release();
        assert!(flight.is_running(), "one request still wants it");
        drop(second);
        assert!(flight.cancel.is_cancelled());

        let finished = Flight::new("m", &gathered_at("a", ""));
        let only = Interest::new(&finished);
        finished.finish(Some("foo(bar)".into()));
        drop(only);
        assert!(!finished.cancel.is_cancelled(), "a finished flight keeps its result");
        assert_eq!(finished.rest_after("fo").as_deref(), Some("o(bar)"));
        assert_eq!(finished.rest_after("fa"), None);
        assert_eq!(finished.rest_after("foo(bar)"), None, "typed all of it");
    }
}
