//! What is recorded: one [`Completion`] per suggestion answered to the editor, and the typed
//! [`Event`]s that tell its fate.
//!
//! A completion carries everything the events of it share (model, variant, language, latency,
//! lengths, trigger), so each event is small; the store's `event_details` view joins them back.

use serde::{Deserialize, Serialize};

/// A suggestion Wisp answered, with what it takes to compare models and settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// Unique per suggestion; the editor sends it back with the accept command and the
    /// show/partial-accept/dismiss notifications.
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Language id of the document ("rust", "python", …).
    pub language: String,
    pub model_id: String,
    /// sha256 of the model file, hex (empty when unknown).
    pub model_sha256: String,
    /// Fine-tuned adapter applied on top of the model, if any.
    pub adapter_id: Option<String>,
    /// How sure the model was of the suggestion: the geometric mean of its tokens'
    /// probabilities (0 to 1); None when it was not made by the model just now (cache, joined).
    pub confidence: Option<f32>,
    /// Experiment variant that produced it ("default" outside experiments).
    pub variant: String,
    pub trigger: Trigger,
    /// Where the text came from.
    pub source: Source,
    pub latency: Latency,
    pub prompt_tokens: u32,
    pub suggestion_tokens: u32,
    /// Length of the suggestion in UTF-16 code units (the unit of partial accepts).
    pub suggestion_utf16: u32,
    /// Keyed hash of the file's workspace-relative path: groups a file's records (dataset splits)
    /// without storing the path.
    pub file_key: String,
    /// Prompt and suggestion text, present only when the user opted in to content collection.
    /// The store redacts it before writing.
    pub content: Option<Content>,
}

/// Text of a suggestion, kept only with consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// Workspace-relative path of the file.
    pub path: String,
    pub prompt: String,
    pub suggestion: String,
}

/// Why the suggestion was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The user asked explicitly.
    Invoked,
    /// Typing.
    Automatic,
}

/// How the suggestion was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A model run for this request.
    Model,
    /// An earlier suggestion that still fits (repeated or typed-through request).
    Cache,
    /// The generation of an earlier keystroke that the typed text agreed with.
    Joined,
}

/// Where the time of a request went, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Reading the document and collecting context snippets.
    pub context_ms: f64,
    /// Waiting: debounce and the inference queue.
    pub queue_ms: f64,
    /// Evaluating the prompt.
    pub prompt_ms: f64,
    /// Generating the suggestion.
    pub decode_ms: f64,
    /// From the request's arrival to the answer.
    pub total_ms: f64,
}

/// Something that happened to a suggestion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub completion_id: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The editor displayed it.
    Shown,
    /// The user accepted all of it.
    Accepted,
    /// The user accepted its first `accepted_utf16` UTF-16 code units (cumulative: a later
    /// partial accept of the same suggestion reports the total so far).
    PartiallyAccepted { accepted_utf16: u32 },
    /// It went away without being accepted.
    Dismissed { reason: DismissReason },
    /// `after_s` seconds after an accept, `kept_ratio` of the accepted text was still in the
    /// document (1 = untouched, 0 = all gone), by edit distance.
    Survived { after_s: u32, kept_ratio: f64 },
}

impl EventKind {
    /// The name stored in the database.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Shown => "shown",
            EventKind::Accepted => "accepted",
            EventKind::PartiallyAccepted { .. } => "partially_accepted",
            EventKind::Dismissed { .. } => "dismissed",
            EventKind::Survived { .. } => "survived",
        }
    }
}

/// Why a suggestion was dismissed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DismissReason {
    /// The editor said so (Escape, or the user moved away).
    Explicit,
    /// A newer suggestion replaced it while the typed text still agreed with it.
    Superseded,
    /// The user typed or edited something that disagrees with it.
    Contradicted,
}

impl DismissReason {
    pub fn name(self) -> &'static str {
        match self {
            DismissReason::Explicit => "explicit",
            DismissReason::Superseded => "superseded",
            DismissReason::Contradicted => "contradicted",
        }
    }

    pub fn from_name(name: &str) -> Option<DismissReason> {
        [DismissReason::Explicit, DismissReason::Superseded, DismissReason::Contradicted]
            .into_iter()
            .find(|reason| reason.name() == name)
    }
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Invoked => "invoked",
            Trigger::Automatic => "automatic",
        }
    }

    pub fn from_name(name: &str) -> Option<Trigger> {
        [Trigger::Invoked, Trigger::Automatic].into_iter().find(|trigger| trigger.name() == name)
    }
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Model => "model",
            Source::Cache => "cache",
            Source::Joined => "joined",
        }
    }

    pub fn from_name(name: &str) -> Option<Source> {
        [Source::Model, Source::Cache, Source::Joined].into_iter().find(|source| source.name() == name)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_millis() as i64)
        .unwrap_or(0)
}
