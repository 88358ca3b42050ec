//! What the server keeps between messages: open documents, the model, the settings, requests in
//! flight, the suggestion cache, counters.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use tower_lsp_server::ls_types::*;
use wisp_context::RecentEdits;
use wisp_engine::{CancelFlag, Engine};
use wisp_syntax::index::WorkspaceIndex;
use wisp_syntax::{Document, LanguageRegistry, PositionEncoding};

use crate::feedback::Feedback;
use wisp_complete::cache::SuggestionCache;
use wisp_complete::config::{self, Config, Layers};
use wisp_complete::worker::InferenceWorker;

use crate::scheduling::*;

/// Documents larger than this are kept in sync but get no suggestions: they are generated or data
/// files, and a clear refusal beats a slow guess. 8 MiB holds any hand-written source file.
pub const MAX_DOCUMENT_BYTES: usize = 8 * 1024 * 1024;

/// Documents larger than this are not parsed with tree-sitter (parsing is linear in size and runs
/// on every change); suggestions still work from the text.
pub const MAX_PARSED_BYTES: usize = 2 * 1024 * 1024;

/// Keystrokes further apart than this, in milliseconds, are a pause: the request after a pause
/// is never debounced (the user is waiting for it).
pub(crate) const TYPING_PAUSE_MS: f64 = 400.0;

/// Weight of the newest sample in the running averages of time between keystrokes and of model
/// latency.
pub(crate) const TYPING_AVERAGE_WEIGHT: f64 = 0.3;

/// Why a suggestion is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// The user asked (inline completion invoked, or a completion menu).
    Invoked,
    /// Typing: debounced when the model is busy and the user types fast.
    Automatic,
    /// Ahead of time, after an accept: yields to any request of the user's.
    Prefetch,
}

/// Counters behind `wisp/metrics`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    /// Completion requests from the editor.
    pub(crate) requests: AtomicU64,
    /// Requests answered with a suggestion.
    pub(crate) suggestions: AtomicU64,
    /// Requests (and prefetches) cancelled or superseded before they finished.
    pub(crate) cancelled: AtomicU64,
    pub(crate) cache_exact_hits: AtomicU64,
    pub(crate) cache_typed_through_hits: AtomicU64,
    /// Requests that waited for the generation of an earlier keystroke instead of cancelling it
    /// (the typed characters agreed with it).
    pub(crate) joined: AtomicU64,
    /// Joining requests answered with the rest of that generation's suggestion.
    pub(crate) joined_hits: AtomicU64,
    /// Prompt tokens of the generations that ran.
    pub(crate) prompt_tokens: AtomicU64,
    /// Prompt tokens the model evaluated for keystrokes and prefetches (the rest came from the
    /// KV cache).
    pub(crate) prompt_tokens_evaluated: AtomicU64,
    /// Prompt tokens evaluated by warm-ups when documents were opened.
    pub(crate) warm_up_tokens: AtomicU64,
    /// Model runs for keystrokes and prefetches (finished or cancelled part-way).
    pub(crate) generations: AtomicU64,
    pub(crate) generated_tokens: AtomicU64,
    /// Milliseconds spent waiting in the debounce, in all.
    pub(crate) debounce_ms: AtomicU64,
    pub(crate) prefetches: AtomicU64,
    pub(crate) warm_ups: AtomicU64,
    /// Times context snippets were collected (the rest reused a document's previous ones).
    pub(crate) context_collections: AtomicU64,
    /// Microseconds spent collecting them, in all.
    pub(crate) context_us: AtomicU64,
    /// Source files in the workspace index.
    pub(crate) indexed_files: AtomicU64,
    pub(crate) indexed_lines: AtomicU64,
    /// Milliseconds the initial indexing took.
    pub(crate) index_ms: AtomicU64,
    /// Approximate bytes the index holds.
    pub(crate) index_bytes: AtomicU64,
}

impl Metrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Counts the model jobs running, for the debounce's "is the model busy?".
pub(crate) struct BusyGuard(Arc<AtomicUsize>);

impl BusyGuard {
    pub(crate) fn enter(busy: &Arc<AtomicUsize>) -> BusyGuard {
        busy.fetch_add(1, Ordering::AcqRel);
        BusyGuard(Arc::clone(busy))
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The last suggestion answered for a document, to recognise its acceptance in a later edit.
#[derive(Debug, Clone)]
pub(crate) struct Shown {
    pub(crate) offset: usize,
    pub(crate) text: String,
}

pub(crate) struct State {
    pub(crate) languages: LanguageRegistry,
    pub(crate) worker: InferenceWorker,
    pub(crate) documents: Mutex<HashMap<Uri, OpenDocument>>,
    pub(crate) encoding: RwLock<PositionEncoding>,
    pub(crate) root: RwLock<Option<PathBuf>>,
    pub(crate) layers: Mutex<Layers>,
    pub(crate) config: RwLock<Config>,
    /// Configuration problems found before the client could be told (during `initialize`).
    pub(crate) pending_messages: Mutex<Vec<String>>,
    pub(crate) model: Arc<RwLock<ModelState>>,
    /// The latest foreground request of each document and the generation it waits on.
    pub(crate) in_flight: Mutex<HashMap<Uri, Latest>>,
    /// Cancel flags of warm-ups and prefetches: any request of the user's cancels them.
    pub(crate) background: Mutex<Vec<CancelFlag>>,
    /// Model jobs running now.
    pub(crate) busy: Arc<AtomicUsize>,
    /// Running average of how long a keystroke's model run takes, in milliseconds.
    pub(crate) model_latency_ms: Mutex<f64>,
    pub(crate) cache: Mutex<SuggestionCache>,
    pub(crate) metrics: Metrics,
    /// Definitions and imports of the workspace's source files.
    pub(crate) index: RwLock<WorkspaceIndex>,
    /// Chunks around the latest edits, across documents.
    pub(crate) recent: Mutex<RecentEdits>,
    /// The client shows `$/progress` (window.workDoneProgress) and registers file watchers.
    pub(crate) client_progress: std::sync::atomic::AtomicBool,
    pub(crate) client_watches_files: std::sync::atomic::AtomicBool,
    /// Set on shutdown: background work (indexing) stops.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
    /// Suggestion feedback (ids, show/accept/dismiss, survival), when `telemetry.events` is on.
    pub(crate) feedback: Feedback,
    /// sha256 of the loaded model file, hex (recorded with feedback).
    pub(crate) model_sha256: Arc<RwLock<String>>,
    /// Models of experiment variants that use another model than the main one.
    pub(crate) variant_models: Mutex<Vec<(config::ModelConfig, Arc<RwLock<ModelState>>)>>,
    /// Files that never reach a prompt (`.env`, keys, …, plus `context.sensitive_files`).
    pub(crate) sensitive: RwLock<wisp_guard::SensitiveFiles>,
}

/// The snippets last collected for a document, kept while the cursor stays in the same scope.
pub(crate) struct StickyContext {
    pub(crate) mode: wisp_context::ContextMode,
    pub(crate) scope_key: Option<String>,
    pub(crate) snippets: Vec<wisp_context::Snippet>,
}

pub(crate) struct OpenDocument {
    pub(crate) document: Document,
    /// The client's language id ("rust", "python", …).
    pub(crate) language_id: String,
    /// A sensitive file (`.env`, a key, …) or one matched by `.wispignore`: never in a prompt.
    pub(crate) private: bool,
    /// Path shown to the model.
    pub(crate) display_path: String,
    /// NUL bytes were seen: not text a model should continue.
    pub(crate) binary: bool,
    /// Byte offset where the last prompt's window started, kept so prompts share their start.
    pub(crate) anchor: Option<usize>,
    pub(crate) last_change: Option<std::time::Instant>,
    /// Milliseconds between the last two changes.
    pub(crate) last_interval_ms: f64,
    /// Running average of the milliseconds between changes while typing.
    pub(crate) typing_interval_ms: f64,
    pub(crate) shown: Option<Shown>,
    pub(crate) context: Mutex<Option<StickyContext>>,
}

impl OpenDocument {
    pub(crate) fn new(document: Document, display_path: String, binary: bool) -> OpenDocument {
        OpenDocument {
            document,
            language_id: String::new(),
            private: false,
            display_path,
            binary,
            anchor: None,
            last_change: None,
            last_interval_ms: f64::INFINITY,
            typing_interval_ms: TYPING_PAUSE_MS,
            shown: None,
            context: Mutex::default(),
        }
    }
}

#[derive(Clone)]
pub(crate) enum ModelState {
    NotLoaded,
    Loading,
    Ready(Arc<dyn Engine>),
    Failed(String),
}
