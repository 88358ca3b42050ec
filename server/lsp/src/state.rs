//! What the server keeps between messages: open documents, the model, the settings, requests in
//! flight, the suggestion cache, counters.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use dashmap::DashMap;
use tower_lsp_server::ls_types::*;
use wisp_context::RecentEdits;
use wisp_syntax::index::WorkspaceIndex;
use wisp_syntax::{Document, LanguageRegistry, PositionEncoding};

use crate::feedback::Feedback;
use wisp_complete::config::{self, Config, Layers};

pub(crate) use wisp_complete::service::{
    CompletionService, Metrics, ModelState, Trigger, TYPING_AVERAGE_WEIGHT, TYPING_PAUSE_MS,
};

/// Documents larger than this are kept in sync but get no suggestions: they are generated or data
/// files, and a clear refusal beats a slow guess. 8 MiB holds any hand-written source file.
pub const MAX_DOCUMENT_BYTES: usize = 8 * 1024 * 1024;

/// Documents larger than this are not parsed with tree-sitter (parsing is linear in size and runs
/// on every change); suggestions still work from the text.
pub const MAX_PARSED_BYTES: usize = 2 * 1024 * 1024;

/// The last suggestion answered for a document, to recognise its acceptance in a later edit.
#[derive(Debug, Clone)]
pub(crate) struct Shown {
    pub(crate) offset: usize,
    pub(crate) text: String,
}

pub(crate) struct State {
    pub(crate) languages: LanguageRegistry,
    /// Open documents. Sharded: a keystroke in one document does not wait for a request reading
    /// another. Never hold an entry while touching the map again (a shard's lock is not
    /// reentrant): copy out what is needed ([`Document`] clones cheaply) and let go.
    pub(crate) documents: DashMap<Uri, OpenDocument>,
    pub(crate) encoding: RwLock<PositionEncoding>,
    pub(crate) root: RwLock<Option<PathBuf>>,
    pub(crate) layers: Mutex<Layers>,
    pub(crate) config: RwLock<Config>,
    /// Configuration problems found before the client could be told (during `initialize`).
    pub(crate) pending_messages: Mutex<Vec<String>>,
    pub(crate) model: Arc<RwLock<ModelState>>,
    /// Reuse, scheduling and the model thread, in plain types.
    pub(crate) service: CompletionService,
    /// Definitions and imports of the workspace's source files.
    pub(crate) index: RwLock<WorkspaceIndex>,
    /// Chunks around the latest edits, across documents.
    pub(crate) recent: Mutex<RecentEdits>,
    /// The client shows `$/progress` (window.workDoneProgress) and registers file watchers.
    pub(crate) client_progress: std::sync::atomic::AtomicBool,
    pub(crate) client_watches_files: std::sync::atomic::AtomicBool,
    /// The client applies workspace edits that create files (tests beside a source file).
    pub(crate) client_creates_files: std::sync::atomic::AtomicBool,
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
    /// The status says the model failed to answer (a remote backend down); the next answer
    /// clears it.
    pub(crate) degraded: std::sync::atomic::AtomicBool,
    /// The status last sent, and the suggestions taking long enough to show as busy.
    pub(crate) status: Mutex<StatusNow>,
}

/// What the editor's status shows now: the last kind and message sent, and whether it shows a
/// request at work (see `Server::while_busy`).
#[derive(Debug, Default)]
pub(crate) struct StatusNow {
    pub(crate) kind: String,
    pub(crate) message: String,
    /// The model's own work (loading) marked busy.
    pub(crate) busy: bool,
    /// Suggestions running past `SLOW_REQUEST`.
    pub(crate) slow_requests: usize,
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
    /// Shared so that a request can keep it after letting go of the document's entry.
    pub(crate) context: Arc<Mutex<Option<StickyContext>>>,
    /// The document's names outside the cursor's line, for index-guided decoding.
    pub(crate) names: Arc<wisp_complete::completion::DocumentNames>,
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
            context: Arc::default(),
            names: Arc::default(),
        }
    }
}
