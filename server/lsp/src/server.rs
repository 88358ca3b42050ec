//! The language server: LSP handlers over the documents, the configuration and the model.
//!
//! Handlers convert from LSP, call plain Rust ([`completion`], [`models`], `wisp_syntax`), and
//! convert back. Document notifications are applied synchronously, before the handler's first
//! await, so they take effect strictly in the order they arrived. Inference runs on the
//! [`InferenceWorker`], never on the LSP loop.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc::{self, ErrorCode};
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService};
use wisp_context::RecentEdits;
use wisp_engine::{CancelFlag, Engine, StopReason};
use wisp_syntax::index::WorkspaceIndex;
use wisp_syntax::{Document, LanguageRegistry, PositionEncoding};

use crate::feedback::{self, Feedback};
use crate::to_proto;
use wisp_complete::cache::{self, SuggestionCache};
use wisp_complete::completion::{self, Gathered};
use wisp_complete::config::{self, CompletionConfig, Config, Layers};
use wisp_complete::flight::{self, Flight, Interest};
use wisp_complete::models;
use wisp_complete::worker::{panic_message, InferenceWorker};

/// Documents larger than this are kept in sync but get no suggestions: they are generated or data
/// files, and a clear refusal beats a slow guess. 8 MiB holds any hand-written source file.
pub const MAX_DOCUMENT_BYTES: usize = 8 * 1024 * 1024;
/// Documents larger than this are not parsed with tree-sitter (parsing is linear in size and runs
/// on every change); suggestions still work from the text.
pub const MAX_PARSED_BYTES: usize = 2 * 1024 * 1024;
/// JSON-RPC error code (implementation-defined range) for "no model is available".
pub const MODEL_UNAVAILABLE: i64 = -32001;

pub fn service() -> (LspService<Server>, tower_lsp_server::ClientSocket) {
    LspService::build(Server::new)
        .custom_method("textDocument/inlineCompletion", Server::inline_completion)
        .custom_method("wisp/debugPrompt", Server::debug_prompt)
        .custom_method("wisp/metrics", Server::metrics)
        .custom_method("wisp/stats", Server::stats)
        .custom_method("textDocument/didShowCompletion", Server::did_show_completion)
        .custom_method("textDocument/didPartiallyAcceptCompletion", Server::did_partially_accept_completion)
        .custom_method("wisp/didDismissCompletion", Server::did_dismiss_completion)
        .finish()
}

/// Keystrokes further apart than this, in milliseconds, are a pause: the request after a pause
/// is never debounced (the user is waiting for it).
const TYPING_PAUSE_MS: f64 = 400.0;
/// Weight of the newest sample in the running averages of time between keystrokes and of model
/// latency.
const TYPING_AVERAGE_WEIGHT: f64 = 0.3;
/// How long the client may take to accept a progress token before indexing goes on without it.
const PROGRESS_CREATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// How often indexing progress is reported to the client.
const INDEX_PROGRESS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);
/// Bytes around an edit copied for the recent-edits buffer (it keeps a few lines of them).
const RECENT_WINDOW_BYTES: usize = 2048;
/// How often a request that joined an earlier keystroke's generation checks on it.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(2);

#[derive(Clone)]
pub struct Server {
    client: Client,
    state: Arc<State>,
}

/// Why a suggestion is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
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
    requests: AtomicU64,
    /// Requests answered with a suggestion.
    suggestions: AtomicU64,
    /// Requests (and prefetches) cancelled or superseded before they finished.
    cancelled: AtomicU64,
    cache_exact_hits: AtomicU64,
    cache_typed_through_hits: AtomicU64,
    /// Requests that waited for the generation of an earlier keystroke instead of cancelling it
    /// (the typed characters agreed with it).
    joined: AtomicU64,
    /// Joining requests answered with the rest of that generation's suggestion.
    joined_hits: AtomicU64,
    /// Prompt tokens of the generations that ran.
    prompt_tokens: AtomicU64,
    /// Prompt tokens the model evaluated for keystrokes and prefetches (the rest came from the
    /// KV cache).
    prompt_tokens_evaluated: AtomicU64,
    /// Prompt tokens evaluated by warm-ups when documents were opened.
    warm_up_tokens: AtomicU64,
    /// Model runs for keystrokes and prefetches (finished or cancelled part-way).
    generations: AtomicU64,
    generated_tokens: AtomicU64,
    /// Milliseconds spent waiting in the debounce, in all.
    debounce_ms: AtomicU64,
    prefetches: AtomicU64,
    warm_ups: AtomicU64,
    /// Times context snippets were collected (the rest reused a document's previous ones).
    context_collections: AtomicU64,
    /// Microseconds spent collecting them, in all.
    context_us: AtomicU64,
    /// Source files in the workspace index.
    indexed_files: AtomicU64,
    indexed_lines: AtomicU64,
    /// Milliseconds the initial indexing took.
    index_ms: AtomicU64,
    /// Approximate bytes the index holds.
    index_bytes: AtomicU64,
}

impl Metrics {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Counts the model jobs running, for the debounce's "is the model busy?".
struct BusyGuard(Arc<AtomicUsize>);

impl BusyGuard {
    fn enter(busy: &Arc<AtomicUsize>) -> BusyGuard {
        busy.fetch_add(1, Ordering::AcqRel);
        BusyGuard(Arc::clone(busy))
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A suggestion and how it was made (recorded with feedback).
struct Suggested {
    text: String,
    model_id: String,
    source: wisp_telemetry::Source,
    prompt_tokens: u32,
    suggestion_tokens: u32,
    context_ms: f64,
    queue_ms: f64,
    prompt_ms: f64,
    decode_ms: f64,
    /// The prompt as the model saw it, when `telemetry.content` is on.
    prompt: Option<String>,
    /// Byte offset of the cursor.
    offset: usize,
}

impl Suggested {
    /// An earlier generation's text answering this request without a model run.
    fn reused(text: String, model_id: &str, source: wisp_telemetry::Source) -> Suggested {
        Suggested {
            text,
            model_id: model_id.to_owned(),
            source,
            prompt_tokens: 0,
            suggestion_tokens: 0,
            context_ms: 0.0,
            queue_ms: 0.0,
            prompt_ms: 0.0,
            decode_ms: 0.0,
            prompt: None,
            offset: 0,
        }
    }
}

/// The last suggestion answered for a document, to recognise its acceptance in a later edit.
#[derive(Debug, Clone)]
struct Shown {
    offset: usize,
    text: String,
}

struct State {
    languages: LanguageRegistry,
    worker: InferenceWorker,
    documents: Mutex<HashMap<Uri, OpenDocument>>,
    encoding: RwLock<PositionEncoding>,
    root: RwLock<Option<PathBuf>>,
    layers: Mutex<Layers>,
    config: RwLock<Config>,
    /// Configuration problems found before the client could be told (during `initialize`).
    pending_messages: Mutex<Vec<String>>,
    model: Arc<RwLock<ModelState>>,
    /// The latest foreground request of each document and the generation it waits on.
    in_flight: Mutex<HashMap<Uri, Latest>>,
    /// Cancel flags of warm-ups and prefetches: any request of the user's cancels them.
    background: Mutex<Vec<CancelFlag>>,
    /// Model jobs running now.
    busy: Arc<AtomicUsize>,
    /// Running average of how long a keystroke's model run takes, in milliseconds.
    model_latency_ms: Mutex<f64>,
    cache: Mutex<SuggestionCache>,
    metrics: Metrics,
    /// Definitions and imports of the workspace's source files.
    index: RwLock<WorkspaceIndex>,
    /// Chunks around the latest edits, across documents.
    recent: Mutex<RecentEdits>,
    /// The client shows `$/progress` (window.workDoneProgress) and registers file watchers.
    client_progress: std::sync::atomic::AtomicBool,
    client_watches_files: std::sync::atomic::AtomicBool,
    /// Set on shutdown: background work (indexing) stops.
    stopping: std::sync::atomic::AtomicBool,
    /// Suggestion feedback (ids, show/accept/dismiss, survival), when `telemetry.events` is on.
    feedback: Feedback,
    /// sha256 of the loaded model file, hex (recorded with feedback).
    model_sha256: Arc<RwLock<String>>,
    /// Models of experiment variants that use another model than the main one.
    variant_models: Mutex<Vec<(config::ModelConfig, Arc<RwLock<ModelState>>)>>,
    /// Files that never reach a prompt (`.env`, keys, …, plus `context.sensitive_files`).
    sensitive: RwLock<wisp_guard::SensitiveFiles>,
}

/// The snippets last collected for a document, kept while the cursor stays in the same scope.
struct StickyContext {
    mode: wisp_context::ContextMode,
    scope_key: Option<String>,
    snippets: Vec<wisp_context::Snippet>,
}

struct OpenDocument {
    document: Document,
    /// The client's language id ("rust", "python", …).
    language_id: String,
    /// A sensitive file (`.env`, a key, …) or one matched by `.wispignore`: never in a prompt.
    private: bool,
    /// Path shown to the model.
    display_path: String,
    /// NUL bytes were seen: not text a model should continue.
    binary: bool,
    /// Byte offset where the last prompt's window started, kept so prompts share their start.
    anchor: Option<usize>,
    last_change: Option<std::time::Instant>,
    /// Milliseconds between the last two changes.
    last_interval_ms: f64,
    /// Running average of the milliseconds between changes while typing.
    typing_interval_ms: f64,
    shown: Option<Shown>,
    context: Mutex<Option<StickyContext>>,
}

impl OpenDocument {
    fn new(document: Document, display_path: String, binary: bool) -> OpenDocument {
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
enum ModelState {
    NotLoaded,
    Loading,
    Ready(Arc<dyn Engine>),
    Failed(String),
}

/// Copilot-compatible status notification, so existing clients show Wisp's state.
enum DidChangeStatus {}

#[derive(Debug, Serialize, Deserialize)]
struct StatusParams {
    /// "Normal", "Warning", "Error" or "Inactive".
    kind: String,
    message: String,
    busy: bool,
}

impl Notification for DidChangeStatus {
    type Params = StatusParams;
    const METHOD: &'static str = "didChangeStatus";
}

fn error(code: ErrorCode, message: impl Into<String>) -> jsonrpc::Error {
    jsonrpc::Error { code, message: message.into().into(), data: None }
}

impl Server {
    fn new(client: Client) -> Server {
        let state = State {
            languages: LanguageRegistry::builtin(),
            worker: InferenceWorker::spawn(),
            documents: Mutex::default(),
            encoding: RwLock::new(PositionEncoding::Utf16),
            root: RwLock::default(),
            layers: Mutex::default(),
            config: RwLock::default(),
            pending_messages: Mutex::default(),
            model: Arc::new(RwLock::new(ModelState::NotLoaded)),
            in_flight: Mutex::default(),
            background: Mutex::default(),
            busy: Arc::default(),
            model_latency_ms: Mutex::new(0.0),
            cache: Mutex::new(SuggestionCache::new(CompletionConfig::default().cache_entries)),
            metrics: Metrics::default(),
            index: RwLock::default(),
            recent: Mutex::default(),
            client_progress: Default::default(),
            client_watches_files: Default::default(),
            stopping: Default::default(),
            feedback: Feedback::default(),
            model_sha256: Arc::default(),
            variant_models: Mutex::default(),
            sensitive: RwLock::new(builtin_sensitive_files()),
        };
        Server { client, state: Arc::new(state) }
    }

    fn config(&self) -> Config {
        self.state.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    async fn status(&self, kind: &str, message: impl Into<String>, busy: bool) {
        let params = StatusParams { kind: kind.into(), message: message.into(), busy };
        self.client.send_notification::<DidChangeStatus>(params).await;
    }

    /// Loads the configured model on the worker (queued before any later completion job, so
    /// those wait for it instead of failing).
    async fn load_model(&self) {
        let config = self.config().model;
        *self.state.model.write().unwrap_or_else(|p| p.into_inner()) = ModelState::Loading;
        self.status("Normal", "loading model", true).await;
        let model_state = Arc::clone(&self.state.model);
        let model_sha256 = Arc::clone(&self.state.model_sha256);
        let outcome = self
            .state
            .worker
            .run(move || {
                let loaded = models::load(&config);
                *model_sha256.write().unwrap_or_else(|p| p.into_inner()) =
                    if loaded.is_ok() { models::sha256(&config).unwrap_or_default() } else { String::new() };
                let (state, outcome) = match loaded {
                    Ok(loaded) => {
                        let info = loaded.engine.model();
                        let message = format!(
                            "{} loaded in {} ms on {}",
                            info.id,
                            loaded.load_time.as_millis(),
                            info.device
                        );
                        (ModelState::Ready(loaded.engine), Ok(message))
                    }
                    Err(why) => (ModelState::Failed(why.clone()), Err(why)),
                };
                *model_state.write().unwrap_or_else(|p| p.into_inner()) = state;
                outcome
            })
            .await
            .unwrap_or_else(|error| Err(error.to_string()));
        match outcome {
            Ok(message) => {
                tracing::info!("{message}");
                self.client.log_message(MessageType::INFO, format!("Wisp: {message}")).await;
                self.status("Normal", message, false).await;
            }
            Err(why) => {
                tracing::error!("model unavailable: {why}");
                self.client.show_message(MessageType::ERROR, format!("Wisp: {why}")).await;
                self.status("Error", why, false).await;
            }
        }
    }

    /// Reads what a suggestion at `position` needs, synchronously, under the documents lock.
    fn gather(&self, uri: &Uri, position: Position, refresh_context: bool) -> jsonrpc::Result<Gathered> {
        self.gather_with(uri, position, refresh_context, &self.config())
    }

    fn gather_with(
        &self,
        uri: &Uri,
        position: Position,
        refresh_context: bool,
        config: &Config,
    ) -> jsonrpc::Result<Gathered> {
        let encoding = *self.state.encoding.read().unwrap_or_else(|p| p.into_inner());
        let max_lines = config.completion.max_lines;
        let documents = self.state.documents.lock().unwrap_or_else(|p| p.into_inner());
        let open = documents.get(uri).ok_or_else(|| {
            error(
                ErrorCode::InvalidParams,
                format!(
                    "document {} is not open — send textDocument/didOpen before asking for completions",
                    uri.as_str()
                ),
            )
        })?;
        if open.binary {
            return Err(error(
                ErrorCode::InvalidRequest,
                format!(
                    "{} looks binary (it contains NUL bytes); Wisp only completes text files",
                    uri.as_str()
                ),
            ));
        }
        if open.document.len_bytes() > MAX_DOCUMENT_BYTES {
            return Err(error(
                ErrorCode::InvalidRequest,
                format!(
                    "{} is {} MiB; Wisp completes documents up to {} MiB",
                    uri.as_str(),
                    open.document.len_bytes() >> 20,
                    MAX_DOCUMENT_BYTES >> 20
                ),
            ));
        }
        let position = wisp_syntax::Position { line: position.line, character: position.character };
        let offset = open.document.offset(position, encoding).map_err(|why| {
            error(
                ErrorCode::InvalidParams,
                format!(
                    "position {}:{} is not in {}: {why}",
                    position.line,
                    position.character,
                    uri.as_str()
                ),
            )
        })?;
        let mode = wisp_context::ContextMode::from(config.context.mode);
        catch_unwind(AssertUnwindSafe(|| {
            let mut gathered = completion::gather(&open.document, offset, &open.display_path, max_lines);
            gathered.anchor = open.anchor;
            gathered.snippets = self.context_for(&documents, uri, offset, mode, refresh_context);
            gathered
        }))
        .map_err(|panic| {
            error(
                ErrorCode::InternalError,
                format!("internal error while reading the document: {}", panic_message(&panic)),
            )
        })
    }

    /// Indexes the workspace folder in the background, reporting `$/progress` to clients that
    /// show it, and then asks the client to report file changes.
    async fn index_workspace(self) {
        let Some(root) = self.state.root.read().unwrap_or_else(|p| p.into_inner()).clone() else { return };
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(usize, usize)>();
        let languages = self.state.languages.clone();
        let walk_root = root.clone();
        let server = self.clone();
        let job = tokio::task::spawn_blocking(move || {
            let mut last_report = std::time::Instant::now();
            let mut progress = |done: usize, total: usize| {
                if last_report.elapsed() >= INDEX_PROGRESS_INTERVAL || done == total {
                    last_report = std::time::Instant::now();
                    let _ = sender.send((done, total));
                }
            };
            let cancelled = || server.state.stopping.load(Ordering::Relaxed);
            wisp_syntax::index::index_workspace(&walk_root, &languages, &mut progress, &cancelled)
        });
        let progress = if self.state.client_progress.load(Ordering::Relaxed) {
            let token = ProgressToken::String("wisp/index".into());
            let created = tokio::time::timeout(
                PROGRESS_CREATE_TIMEOUT,
                self.client.create_work_done_progress(token.clone()),
            );
            match created.await {
                Ok(Ok(())) => {
                    Some(self.client.progress(token, "Wisp: indexing").with_percentage(0).begin().await)
                }
                _ => None,
            }
        } else {
            None
        };
        while let Some((done, total)) = receiver.recv().await {
            if let Some(progress) = &progress {
                let percentage = (done * 100).checked_div(total).unwrap_or(100) as u32;
                progress.report_with_message(format!("{done}/{total} files"), percentage).await;
            }
        }
        let Ok((mut index, report)) = job.await else {
            tracing::error!("indexing {} failed; completions use open documents only", root.display());
            return;
        };
        completion::drop_sensitive_files(
            &mut index,
            &self.state.sensitive.read().unwrap_or_else(|p| p.into_inner()),
        );
        let stats = index.stats();
        {
            // Files opened or saved during the walk are newer in the editor than on disk.
            let mut shared = self.state.index.write().unwrap_or_else(|p| p.into_inner());
            let newer: Vec<_> = shared.files().cloned().collect();
            *shared = index;
            for file in newer {
                shared.insert(file);
            }
        }
        let metrics = &self.state.metrics;
        metrics.indexed_files.store(stats.n_files as u64, Ordering::Relaxed);
        metrics.indexed_lines.store(stats.n_lines as u64, Ordering::Relaxed);
        metrics.index_ms.store(report.elapsed.as_millis() as u64, Ordering::Relaxed);
        metrics.index_bytes.store(stats.heap_bytes as u64, Ordering::Relaxed);
        let message = format!(
            "indexed {} files ({} lines, {} definitions) in {:.1} s; {} skipped, {} walk errors",
            stats.n_files,
            stats.n_lines,
            stats.n_definitions,
            report.elapsed.as_secs_f64(),
            report.skipped.values().sum::<usize>(),
            report.errors.len()
        );
        tracing::info!("{message}");
        if let Some(progress) = progress {
            progress.finish_with_message(message).await;
        }
        if self.state.client_watches_files.load(Ordering::Relaxed) {
            let options = DidChangeWatchedFilesRegistrationOptions {
                watchers: vec![FileSystemWatcher {
                    glob_pattern: GlobPattern::String("**/*".into()),
                    kind: None,
                }],
            };
            let registration = Registration {
                id: "wisp/watch".into(),
                method: "workspace/didChangeWatchedFiles".into(),
                register_options: serde_json::to_value(options).ok(),
            };
            if let Err(why) = self.client.register_capability(vec![registration]).await {
                tracing::warn!("the client refused file watching ({why}); the index follows saves only");
            }
        }
    }

    /// Re-indexes an open document from its text (on save).
    fn reindex_open(&self, uri: &Uri) {
        let documents = self.state.documents.lock().unwrap_or_else(|p| p.into_inner());
        let Some(open) = documents.get(uri).filter(|open| !open.private) else { return };
        let Some(language) = open.document.language() else { return };
        if open.binary || open.document.len_bytes() as u64 > wisp_syntax::index::MAX_INDEXED_FILE_BYTES {
            return;
        }
        let Some(root) = self.state.root.read().unwrap_or_else(|p| p.into_inner()).clone() else { return };
        let Some(path) = uri.to_file_path() else { return };
        let Some(relative) = wisp_syntax::index::relative_path(&root, &path) else { return };
        let text = open.document.slice(0..open.document.len_bytes());
        self.state.index.write().unwrap_or_else(|p| p.into_inner()).update(&relative, language, &text);
    }

    /// Re-reads a file of the workspace into the index, or drops it (deleted, no longer a source
    /// file, or ignored).
    fn reindex_path(&self, path: &std::path::Path, deleted: bool) {
        if !self.config().context.index {
            return;
        }
        let Some(root) = self.state.root.read().unwrap_or_else(|p| p.into_inner()).clone() else { return };
        let Some(relative) = wisp_syntax::index::relative_path(&root, path) else { return };
        let language = self.state.languages.by_path(path);
        let ignored = wisp_syntax::index::is_ignored(&root, path)
            || self.state.sensitive.read().unwrap_or_else(|p| p.into_inner()).is_sensitive(path);
        let source = match (deleted || ignored, &language) {
            (false, Some(_)) => wisp_syntax::index::read_source(path).ok(),
            _ => None,
        };
        let mut index = self.state.index.write().unwrap_or_else(|p| p.into_inner());
        match (source, language) {
            (Some(source), Some(language)) => index.update(&relative, &language, &source),
            _ => index.remove(&relative),
        }
    }

    /// The snippets for a cursor. They stay the same while the cursor stays in the same scope:
    /// snippets come before the code in the prompt, so changing them costs re-evaluating the
    /// whole window (seconds on a CPU). They are collected afresh when the cursor enters another
    /// scope, and when `refresh` (the user asked for a suggestion).
    fn context_for(
        &self,
        documents: &HashMap<Uri, OpenDocument>,
        uri: &Uri,
        offset: usize,
        mode: wisp_context::ContextMode,
        refresh: bool,
    ) -> Vec<wisp_context::Snippet> {
        let Some(open) = documents.get(uri) else { return Vec::new() };
        let scope_key = completion::scope_key(&open.document, offset);
        let mut sticky = open.context.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(previous) = sticky.as_ref() {
            if !refresh && previous.mode == mode && previous.scope_key == scope_key {
                return previous.snippets.clone();
            }
        }
        let started = std::time::Instant::now();
        let others = documents
            .iter()
            .filter(|(other, document)| *other != uri && !document.private)
            .map(|(_, other)| (other.display_path.as_str(), &other.document));
        let open_chunks = completion::open_chunks(others);
        let recent = self.state.recent.lock().unwrap_or_else(|p| p.into_inner()).chunks();
        let index = self.state.index.read().unwrap_or_else(|p| p.into_inner());
        let workspace = wisp_context::Workspace { index: Some(&index), open: &open_chunks, recent: &recent };
        let snippets = completion::context(&open.document, offset, &open.display_path, &workspace, mode);
        Metrics::add(&self.state.metrics.context_collections, 1);
        Metrics::add(&self.state.metrics.context_us, started.elapsed().as_micros() as u64);
        *sticky = Some(StickyContext { mode, scope_key, snippets: snippets.clone() });
        snippets
    }

    /// The suggestion at a position, or None when there is nothing to show (disabled, superseded,
    /// or the model had nothing useful). Errors say what was wrong with the request or the model.
    async fn suggest(
        &self,
        uri: &Uri,
        position: Position,
        trigger: Trigger,
        config: &Config,
    ) -> jsonrpc::Result<Option<Suggested>> {
        if !config.completion.enabled || self.with_document(uri, |open| open.private).unwrap_or(false) {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let gathered = self.gather_with(uri, position, trigger == Trigger::Invoked, config)?;
        let context_ms = started.elapsed().as_secs_f64() * 1e3;
        let offset = gathered.offset;
        let suggested = self.suggest_gathered(uri, gathered, trigger, config).await?;
        Ok(suggested.map(|suggested| Suggested { context_ms, offset, ..suggested }))
    }

    async fn suggest_gathered(
        &self,
        uri: &Uri,
        gathered: Gathered,
        trigger: Trigger,
        config: &Config,
    ) -> jsonrpc::Result<Option<Suggested>> {
        let metrics = &self.state.metrics;
        let foreground = trigger != Trigger::Prefetch;
        if foreground {
            Metrics::add(&metrics.requests, 1);
        }
        let model_state = self.model_state_for(&config.model).await;
        let model_id = match &*model_state.read().unwrap_or_else(|p| p.into_inner()) {
            ModelState::Ready(engine) => engine.model().id.clone(),
            _ => String::new(),
        };
        // Suggestions are reused only under the settings that made them (experiment variants
        // change length limits and sampling, not only the model).
        let reuse_key = reuse_key_of(&model_id, config);
        if config.completion.cache && !model_id.is_empty() {
            if let Some(text) = self.cached(&reuse_key, &gathered, foreground) {
                self.remember_shown(uri, &gathered, &text);
                return Ok(Some(Suggested::reused(text, &model_id, wisp_telemetry::Source::Cache)));
            }
        }

        // The user's request comes first: background work yields, and the latest request for a
        // document supersedes the one before it. Dropping this future ($/cancelRequest) cancels
        // it. A generation still running for the previous keystroke is joined rather than
        // cancelled when the typed characters agree with it (see `flight`).
        let request = CancelFlag::new();
        let _cancel_on_drop = CancelOnDrop(request.clone());
        if foreground {
            self.cancel_background();
            let joined = self.supersede(uri, &request, |latest| {
                if !config.completion.cache {
                    return None;
                }
                let flight = latest.interest.as_ref()?.flight();
                let typed = flight.typed_since(&reuse_key, &gathered)?;
                (flight.is_running() && flight.agreement(typed) != flight::Agreement::Diverged)
                    .then(|| (Interest::new(flight), typed.to_owned()))
            });
            if let Some((interest, typed)) = joined {
                Metrics::add(&metrics.joined, 1);
                let _release = ReleaseOnDrop(Arc::clone(&interest));
                self.follow(&interest, &typed, &request).await;
                interest.release();
                if request.is_cancelled() {
                    Metrics::add(&metrics.cancelled, 1);
                    return Ok(None);
                }
                if let Some(text) = interest.flight().rest_after(&typed) {
                    Metrics::add(&metrics.joined_hits, 1);
                    Metrics::add(&metrics.suggestions, 1);
                    self.remember_shown(uri, &gathered, &text);
                    return Ok(Some(Suggested::reused(text, &model_id, wisp_telemetry::Source::Joined)));
                }
            }
        }
        if trigger == Trigger::Automatic {
            self.debounce(uri, &config.completion, &request).await;
        }

        let flight = Flight::new(&reuse_key, &gathered);
        let interest = Interest::new(&flight);
        let _release = ReleaseOnDrop(Arc::clone(&interest));
        if foreground {
            let mut in_flight = self.in_flight();
            match in_flight.get_mut(uri) {
                Some(latest) if latest.request.same_as(&request) => {
                    latest.interest = Some(Arc::clone(&interest))
                }
                _ => request.cancel(),
            }
        } else {
            self.state.background.lock().unwrap_or_else(|p| p.into_inner()).push(flight.cancel.clone());
        }
        if request.is_cancelled() {
            Metrics::add(&metrics.cancelled, 1);
            return Ok(None);
        }

        let busy = Arc::clone(&self.state.busy);
        let job_flight = Arc::clone(&flight);
        let settings = config.completion.clone();
        let job_gathered = gathered.clone();
        let keep_prompt = config.telemetry.content;
        let queued = std::time::Instant::now();
        let outcome = self
            .state
            .worker
            .run(move || {
                let flight = job_flight;
                if flight.cancel.is_cancelled() {
                    return Ok(None);
                }
                let engine = ready_engine(&model_state)?;
                let _busy = BusyGuard::enter(&busy);
                let mut on_text = |piece: &str| flight.push(piece);
                let cancel = flight.cancel.clone();
                completion::suggest(
                    engine.as_ref(),
                    &job_gathered,
                    &settings,
                    cancel,
                    !foreground,
                    &mut on_text,
                )
                .map(|suggestion| {
                    let prompt = keep_prompt.then(|| suggestion.prompt.render());
                    Some((suggestion, engine.model().id.clone(), prompt))
                })
                .map_err(|error| error.to_string())
            })
            .await;
        let waited_ms = queued.elapsed().as_secs_f64() * 1e3;
        let result = match &outcome {
            Ok(Ok(Some((suggestion, _, _))))
                if suggestion.generation.stop_reason != StopReason::Cancelled
                    && !suggestion.text.is_empty() =>
            {
                Some(suggestion.text.clone())
            }
            _ => None,
        };
        flight.finish(result);

        if foreground {
            let mut in_flight = self.in_flight();
            if in_flight.get(uri).is_some_and(|latest| latest.request.same_as(&request)) {
                in_flight.remove(uri);
            }
        }
        let finished = match outcome {
            Ok(Ok(finished)) => finished,
            Ok(Err(why)) => return Err(error(ErrorCode::ServerError(MODEL_UNAVAILABLE), why)),
            Err(job_error) => return Err(error(ErrorCode::InternalError, job_error.to_string())),
        };
        let Some((suggestion, model_id, prompt)) = finished else {
            Metrics::add(&metrics.cancelled, 1);
            return Ok(None);
        };
        let generation = &suggestion.generation;
        Metrics::add(&metrics.generations, 1);
        if foreground && generation.stop_reason != StopReason::Cancelled {
            let mut latency = self.state.model_latency_ms.lock().unwrap_or_else(|p| p.into_inner());
            let run_ms = generation.prompt_ms + generation.decode_ms;
            *latency = *latency * (1.0 - TYPING_AVERAGE_WEIGHT) + run_ms * TYPING_AVERAGE_WEIGHT;
        }
        Metrics::add(&metrics.prompt_tokens, generation.n_prompt_tokens as u64);
        Metrics::add(&metrics.prompt_tokens_evaluated, generation.n_prompt_evaluated as u64);
        Metrics::add(&metrics.generated_tokens, generation.n_generated as u64);
        if !foreground {
            Metrics::add(&metrics.prefetches, 1);
        }
        if generation.stop_reason == StopReason::Cancelled {
            Metrics::add(&metrics.cancelled, 1);
            return Ok(None);
        }
        // A finished suggestion answers its own cursor context even when the request was
        // superseded: requests that joined it, and later ones, find it in the cache.
        self.with_document(uri, |open| open.anchor = Some(suggestion.window_start));
        if config.completion.cache && !suggestion.text.is_empty() {
            let mut cache = self.state.cache.lock().unwrap_or_else(|p| p.into_inner());
            // The model that ran (it may have finished loading after this request came in).
            cache.insert(
                &reuse_key_of(&model_id, config),
                gathered.document_key,
                &gathered.prefix,
                &gathered.suffix,
                &suggestion.text,
            );
        }
        if request.is_cancelled() {
            Metrics::add(&metrics.cancelled, 1);
            return Ok(None);
        }
        if suggestion.text.is_empty() {
            return Ok(None);
        }
        if foreground {
            Metrics::add(&metrics.suggestions, 1);
            self.remember_shown(uri, &gathered, &suggestion.text);
        }
        let generation = &suggestion.generation;
        Ok(Some(Suggested {
            model_id,
            source: wisp_telemetry::Source::Model,
            prompt_tokens: generation.n_prompt_tokens as u32,
            suggestion_tokens: generation.n_generated as u32,
            prompt_ms: generation.prompt_ms,
            decode_ms: generation.decode_ms,
            queue_ms: (waited_ms - generation.prompt_ms - generation.decode_ms).max(0.0),
            prompt,
            context_ms: 0.0,
            offset: gathered.offset,
            text: suggestion.text,
        }))
    }

    /// Makes `request` the latest for the document, superseding the one before it. `join` sees
    /// the previous request's entry first and may claim its generation.
    fn supersede<T>(
        &self,
        uri: &Uri,
        request: &CancelFlag,
        join: impl FnOnce(&Latest) -> Option<(Arc<Interest>, T)>,
    ) -> Option<(Arc<Interest>, T)> {
        let mut in_flight = self.in_flight();
        let joined = in_flight.get(uri).and_then(join);
        let latest = Latest {
            request: request.clone(),
            interest: joined.as_ref().map(|(interest, _)| Arc::clone(interest)),
        };
        if let Some(previous) = in_flight.insert(uri.clone(), latest) {
            previous.supersede();
        }
        joined
    }

    /// Waits while the joined generation runs and still agrees with the typed characters; stops
    /// early when it diverges (cancelling it when no one else wants it) or `request` is superseded.
    async fn follow(&self, interest: &Interest, typed: &str, request: &CancelFlag) {
        let flight = interest.flight();
        while !request.is_cancelled() && flight.is_running() {
            if flight.agreement(typed) == flight::Agreement::Diverged {
                interest.release();
                return;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }

    /// Whether `model` is the configured main model (compared under the lock: this runs per
    /// keystroke, and cloning the whole configuration for it would be waste).
    fn is_main_model(&self, model: &config::ModelConfig) -> bool {
        self.state.config.read().unwrap_or_else(|p| p.into_inner()).model == *model
    }

    /// The model that answers with `model` settings: the main one, or an experiment variant's,
    /// loaded (on the worker) the first time a completion of that variant needs it.
    async fn model_state_for(&self, model: &config::ModelConfig) -> Arc<RwLock<ModelState>> {
        if self.is_main_model(model) {
            return Arc::clone(&self.state.model);
        }
        let (state, load) = {
            let mut variants = self.state.variant_models.lock().unwrap_or_else(|p| p.into_inner());
            match variants.iter().find(|(config, _)| config == model) {
                Some((_, state)) => (Arc::clone(state), false),
                None => {
                    let state = Arc::new(RwLock::new(ModelState::Loading));
                    variants.push((model.clone(), Arc::clone(&state)));
                    (state, true)
                }
            }
        };
        if load {
            let config = model.clone();
            let job_state = Arc::clone(&state);
            let loaded = self
                .state
                .worker
                .run(move || {
                    let loaded = match models::load(&config) {
                        Ok(loaded) => ModelState::Ready(loaded.engine),
                        Err(why) => ModelState::Failed(format!("experiment variant model: {why}")),
                    };
                    *job_state.write().unwrap_or_else(|p| p.into_inner()) = loaded;
                })
                .await;
            if let Err(why) = loaded {
                *state.write().unwrap_or_else(|p| p.into_inner()) = ModelState::Failed(why.to_string());
            }
        }
        state
    }

    /// An earlier suggestion of `model_id` that still answers this request.
    fn cached(&self, model_id: &str, gathered: &Gathered, foreground: bool) -> Option<String> {
        let hit = self.state.cache.lock().unwrap_or_else(|p| p.into_inner()).lookup(
            model_id,
            gathered.document_key,
            &gathered.prefix,
            &gathered.suffix,
        )?;
        let metrics = &self.state.metrics;
        let text = match hit {
            cache::Hit::Exact(text) => {
                if foreground {
                    Metrics::add(&metrics.cache_exact_hits, 1);
                }
                text
            }
            cache::Hit::TypedThrough(text) => {
                if foreground {
                    Metrics::add(&metrics.cache_typed_through_hits, 1);
                }
                text
            }
        };
        if foreground {
            Metrics::add(&metrics.suggestions, 1);
        }
        Some(text)
    }

    /// Waits before running the model for a keystroke typed fast while the model is busy: the
    /// next keystroke is likely to come first and cancel this request anyway. No wait after a
    /// pause, or when the model is idle.
    async fn debounce(&self, uri: &Uri, settings: &CompletionConfig, cancel: &CancelFlag) {
        if settings.debounce_max_ms == 0 || self.state.busy.load(Ordering::Acquire) == 0 {
            return;
        }
        let typing = self.with_document(uri, |open| (open.last_interval_ms, open.typing_interval_ms));
        let Some((last_interval, typical_interval)) = typing else { return };
        let typical_latency = *self.state.model_latency_ms.lock().unwrap_or_else(|p| p.into_inner());
        if last_interval > TYPING_PAUSE_MS || typical_interval > typical_latency {
            // A pause, or the model usually answers before the next keystroke: waiting only adds
            // to what the user sees.
            return;
        }
        let wait_ms = (typical_interval * 1.5).min(settings.debounce_max_ms as f64);
        let started = std::time::Instant::now();
        while started.elapsed().as_secs_f64() * 1e3 < wait_ms && !cancel.is_cancelled() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Metrics::add(&self.state.metrics.debounce_ms, started.elapsed().as_millis() as u64);
    }

    fn remember_shown(&self, uri: &Uri, gathered: &Gathered, text: &str) {
        self.with_document(uri, |open| {
            open.shown = Some(Shown { offset: gathered.offset, text: text.to_owned() })
        });
    }

    fn with_document<T>(&self, uri: &Uri, f: impl FnOnce(&mut OpenDocument) -> T) -> Option<T> {
        self.state.documents.lock().unwrap_or_else(|p| p.into_inner()).get_mut(uri).map(f)
    }

    fn cancel_background(&self) {
        for cancel in self.state.background.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            cancel.cancel();
        }
    }

    /// Computes the suggestion at a position in the background and keeps it in the cache, so the
    /// request the editor sends next is answered at once.
    async fn prefetch(self, uri: Uri, position: Position) {
        let config = self.config();
        if let Ok(gathered) = self.gather(&uri, position, false) {
            let _ = self.suggest_gathered(&uri, gathered, Trigger::Prefetch, &config).await;
        }
    }

    /// Evaluates the prompt for the end of a freshly opened document while the user reads it; for
    /// files that fit the prompt budget that is every cursor's prompt prefix.
    async fn warm_up(self, uri: Uri) {
        let config = self.config();
        let encoding = *self.state.encoding.read().unwrap_or_else(|p| p.into_inner());
        let Some(end) =
            self.with_document(&uri, |open| open.document.position(open.document.len_bytes(), encoding))
        else {
            return;
        };
        let Ok(gathered) = self.gather(&uri, Position { line: end.line, character: end.character }, false)
        else {
            return;
        };
        let cancel = CancelFlag::new();
        self.state.background.lock().unwrap_or_else(|p| p.into_inner()).push(cancel.clone());
        let model_state = Arc::clone(&self.state.model);
        let busy = Arc::clone(&self.state.busy);
        let settings = config.completion.clone();
        let outcome = self
            .state
            .worker
            .run(move || {
                let engine = ready_engine(&model_state)?;
                if cancel.is_cancelled() {
                    return Ok(None);
                }
                let _busy = BusyGuard::enter(&busy);
                completion::warm_up(engine.as_ref(), &gathered, &settings, cancel)
                    .map(Some)
                    .map_err(|e| e.to_string())
            })
            .await;
        if let Ok(Ok(Some(generation))) = outcome {
            let metrics = &self.state.metrics;
            Metrics::add(&metrics.warm_ups, 1);
            Metrics::add(&metrics.warm_up_tokens, generation.n_prompt_evaluated as u64);
        }
    }

    /// Stops all model work before the process exits: cancels every request and background job
    /// and waits for the inference worker to end (a job stops within one small batch).
    pub fn quiesce(&self, limit: std::time::Duration) -> bool {
        self.state.stopping.store(true, Ordering::Relaxed);
        for (_, latest) in self.in_flight().drain() {
            latest.abort();
        }
        self.cancel_background();
        // Feedback queued by an editor that exits without `shutdown` is still stored.
        self.state.feedback.flush(feedback::FLUSH_TIMEOUT);
        self.state.worker.stop(limit)
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<Uri, Latest>> {
        self.state.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `textDocument/inlineCompletion` (LSP 3.18).
    async fn inline_completion(
        &self,
        params: InlineCompletionParams,
    ) -> jsonrpc::Result<Option<InlineCompletionResponse>> {
        let position = params.text_document_position.position;
        let uri = params.text_document_position.text_document.uri;
        let trigger = if params.context.trigger_kind == InlineCompletionTriggerKind::INVOKED {
            Trigger::Invoked
        } else {
            Trigger::Automatic
        };
        let items = match self.answer(&uri, position, trigger).await? {
            Some((text, id)) => vec![to_proto::inline_item(position, text, id)],
            None => vec![],
        };
        Ok(Some(InlineCompletionResponse::List(InlineCompletionList { items })))
    }

    /// A suggestion for the editor, with the completion id its feedback is recorded under (when
    /// `telemetry.events` is on). An experiment variant, if one is drawn for the id, changes the
    /// settings used.
    async fn answer(
        &self,
        uri: &Uri,
        position: Position,
        trigger: Trigger,
    ) -> jsonrpc::Result<Option<(String, Option<String>)>> {
        let started = std::time::Instant::now();
        let mut config = self.config();
        let feedback = &self.state.feedback;
        let id = feedback.next_id();
        let variant = config::apply_variant(&mut config, &id);
        let Some(suggested) = self.suggest(uri, position, trigger, &config).await? else {
            feedback.superseded(uri);
            return Ok(None);
        };
        if !feedback.enabled() {
            return Ok(Some((suggested.text, None)));
        }
        let (language, path) = self
            .with_document(uri, |open| (open.language_id.clone(), open.display_path.clone()))
            .unwrap_or_default();
        let metadata = feedback::Metadata {
            language,
            model_sha256: if self.is_main_model(&config.model) {
                self.state.model_sha256.read().unwrap_or_else(|p| p.into_inner()).clone()
            } else {
                // A variant's registry model has a pinned hash; hashing a file per request would
                // cost too much.
                models::choose(&config.model)
                    .ok()
                    .and_then(|choice| choice.registry_entry)
                    .map(|entry| entry.sha256)
                    .unwrap_or_default()
            },
            model_id: suggested.model_id.clone(),
            variant: variant.unwrap_or_else(|| wisp_telemetry::experiment::DEFAULT_VARIANT.to_owned()),
            trigger: match trigger {
                Trigger::Invoked => wisp_telemetry::Trigger::Invoked,
                Trigger::Automatic | Trigger::Prefetch => wisp_telemetry::Trigger::Automatic,
            },
            source: suggested.source,
            latency: wisp_telemetry::Latency {
                context_ms: suggested.context_ms,
                queue_ms: suggested.queue_ms,
                prompt_ms: suggested.prompt_ms,
                decode_ms: suggested.decode_ms,
                total_ms: started.elapsed().as_secs_f64() * 1e3,
            },
            prompt_tokens: suggested.prompt_tokens,
            suggestion_tokens: suggested.suggestion_tokens,
            path,
            prompt: suggested.prompt.filter(|_| config.telemetry.content),
        };
        feedback.issue(&id, uri, suggested.offset, &suggested.text, metadata);
        Ok(Some((suggested.text, Some(id))))
    }

    /// `textDocument/didShowCompletion` (as Copilot's language server): `{ item }`.
    async fn did_show_completion(&self, params: serde_json::Value) {
        let outcome = item_id(&params["item"]).and_then(|id| self.state.feedback.shown(&id));
        if let Err(why) = outcome {
            tracing::warn!("didShowCompletion: {why}");
        }
    }

    /// `textDocument/didPartiallyAcceptCompletion`: `{ item, acceptedLength }`, the length in
    /// UTF-16 code units accepted so far.
    async fn did_partially_accept_completion(&self, params: serde_json::Value) {
        let outcome = item_id(&params["item"]).and_then(|id| {
            let length = params["acceptedLength"].as_u64().ok_or_else(|| {
                "acceptedLength is missing or not a number — send the accepted length in UTF-16 code units".to_owned()
            })?;
            self.state.feedback.partially_accepted(&id, u32::try_from(length).unwrap_or(u32::MAX))
        });
        match outcome {
            Ok(survival) => self.measure_survival(survival),
            Err(why) => tracing::warn!("didPartiallyAcceptCompletion: {why}"),
        }
    }

    /// `wisp/didDismissCompletion`: `{ id, reason? }` — the user dismissed the suggestion;
    /// `reason` is "typed" (or "contradicted"), "superseded", or anything else for explicit.
    async fn did_dismiss_completion(&self, params: serde_json::Value) {
        // What the client saw: typing that disagreed with the suggestion, or a newer one taking
        // its place; anything else (Escape, leaving insert mode, moving away) is explicit.
        let reason = match params["reason"].as_str() {
            Some("typed" | "contradicted") => wisp_telemetry::DismissReason::Contradicted,
            Some("superseded") => wisp_telemetry::DismissReason::Superseded,
            _ => wisp_telemetry::DismissReason::Explicit,
        };
        let outcome = match params["id"].as_str() {
            Some(id) => self.state.feedback.dismissed(id, reason),
            None => Err("wisp/didDismissCompletion needs the completion id: { \"id\": … }".to_owned()),
        };
        if let Err(why) = outcome {
            tracing::warn!("didDismissCompletion: {why}");
        }
    }

    /// Measures, at each `telemetry.survival_after_s`, how much of the accepted text is still in
    /// the document, and records it.
    fn measure_survival(&self, survival: feedback::Survival) {
        let mut delays = self.config().telemetry.survival_after_s;
        delays.sort_unstable();
        let server = self.clone();
        tokio::spawn(async move {
            let accepted_at = tokio::time::Instant::now();
            for after_s in delays {
                tokio::time::sleep_until(accepted_at + std::time::Duration::from_secs(u64::from(after_s)))
                    .await;
                let open_text = server
                    .with_document(&survival.uri, |open| open.document.slice(0..open.document.len_bytes()));
                // A closed document is measured from the file it was saved to.
                let Some(text) = open_text.or_else(|| {
                    survival.uri.to_file_path().and_then(|path| std::fs::read_to_string(path).ok())
                }) else {
                    continue;
                };
                let (accepted, offset) = (survival.accepted.clone(), survival.offset);
                let kept = tokio::task::spawn_blocking(move || {
                    wisp_telemetry::survival::kept_ratio(&accepted, &text, offset)
                })
                .await;
                if let Ok(kept) = kept {
                    server.state.feedback.survived(&survival, after_s, kept);
                }
            }
        });
    }

    /// `wisp/stats`: the figures of `wisp stats` for the editor. Params (all optional):
    /// `{ "since": "7d", "by": "model" | "language" | "variant" | "trigger" }`.
    async fn stats(&self, params: serde_json::Value) -> jsonrpc::Result<serde_json::Value> {
        let since = params["since"].as_str().map(str::to_owned);
        let by = params["by"].as_str().map(str::to_owned);
        let database = self.config().telemetry.database();
        let server = self.clone();
        let computed = tokio::task::spawn_blocking(move || {
            // Everything recorded before this request counts.
            server.state.feedback.flush(feedback::FLUSH_TIMEOUT);
            let database = database.ok_or("no data directory — set \"telemetry.path\"")?;
            wisp_telemetry::report::compute(&database, since.as_deref(), by.as_deref())
        })
        .await
        .map_err(|join| error(ErrorCode::InternalError, join.to_string()))?;
        computed.map_err(|why| error(ErrorCode::InvalidParams, why))
    }

    /// `wisp/metrics`: counters since the server started (requests, cache hits, tokens evaluated).
    async fn metrics(&self, _: serde_json::Value) -> jsonrpc::Result<serde_json::Value> {
        serde_json::to_value(&self.state.metrics).map_err(|e| error(ErrorCode::InternalError, e.to_string()))
    }

    /// `wisp/debugPrompt`: "why did it suggest that?" — the prompt, without running the model.
    ///
    /// Like a completion, it keeps the prompt's window anchored where it started, so consecutive
    /// calls see the prompts consecutive completions would (the replay benchmark relies on it).
    async fn debug_prompt(&self, params: TextDocumentPositionParams) -> jsonrpc::Result<DebugPrompt> {
        let uri = params.text_document.uri.clone();
        let gathered = self.gather(&params.text_document.uri, params.position, false)?;
        let prefix_start = gathered.prefix_start;
        let settings = self.config().completion;
        let model_state = Arc::clone(&self.state.model);
        let outcome = self
            .state
            .worker
            .run(move || {
                let engine = ready_engine(&model_state)?;
                let (source, _) = completion::healed(&gathered);
                let built = completion::build_prompt(engine.as_ref(), &source, &settings);
                let window_start = prefix_start + built.prefix_window_start;
                let debug = DebugPrompt {
                    prompt: built.prompt.render(),
                    format: match completion::prompt_format(engine.model()) {
                        wisp_context::PromptFormat::Plain => "plain",
                        wisp_context::PromptFormat::Fim => "fim",
                        wisp_context::PromptFormat::FimRepo => "fim-repo",
                        wisp_context::PromptFormat::FimSuffixFirst => "fim-suffix-first",
                    }
                    .into(),
                    n_tokens: built.n_tokens,
                    budget_tokens: settings.prompt_tokens,
                    model: engine.model().id.clone(),
                    snippets: built
                        .snippets
                        .iter()
                        .map(|snippet| DebugSnippet {
                            path: snippet.path.clone(),
                            origin: snippet.origin.to_string(),
                            text: snippet.text.clone(),
                        })
                        .collect(),
                };
                Ok::<_, String>((debug, window_start))
            })
            .await;
        match outcome {
            Ok(Ok((debug, window_start))) => {
                self.with_document(&uri, |open| open.anchor = Some(window_start));
                Ok(debug)
            }
            Ok(Err(why)) => Err(error(ErrorCode::ServerError(MODEL_UNAVAILABLE), why)),
            Err(job_error) => Err(error(ErrorCode::InternalError, job_error.to_string())),
        }
    }

    /// Applies a didChange in order. Returns where to prefetch when the change accepted the
    /// suggestion last shown for this document (typed in as a whole, or a line or word of it).
    fn apply_changes(&self, params: DidChangeTextDocumentParams) -> Option<Position> {
        let encoding = *self.state.encoding.read().unwrap_or_else(|p| p.into_inner());
        let uri = params.text_document.uri;
        let mut documents = self.state.documents.lock().unwrap_or_else(|p| p.into_inner());
        let Some(open) = documents.get_mut(&uri) else {
            tracing::warn!("didChange for {} which is not open; ignored", uri.as_str());
            return None;
        };
        let now = std::time::Instant::now();
        if let Some(last) = open.last_change {
            open.last_interval_ms = now.duration_since(last).as_secs_f64() * 1e3;
            if open.last_interval_ms < TYPING_PAUSE_MS {
                open.typing_interval_ms = open.typing_interval_ms * (1.0 - TYPING_AVERAGE_WEIGHT)
                    + open.last_interval_ms * TYPING_AVERAGE_WEIGHT;
            }
        }
        open.last_change = Some(now);
        let n_changes = params.content_changes.len();
        let mut accepted_at = None;
        let mut last_edit = None;
        for change in params.content_changes {
            open.binary |= change.text.contains('\0');
            let change = wisp_syntax::TextChange {
                range: change.range.map(|range| wisp_syntax::Range {
                    start: wisp_syntax::Position { line: range.start.line, character: range.start.character },
                    end: wisp_syntax::Position { line: range.end.line, character: range.end.character },
                }),
                text: change.text,
            };
            let start = change.range.map_or(0, |range| open.document.offset_clamped(range.start, encoding));
            let is_insertion = change.range.is_some_and(|range| range.start == range.end);
            let end = change
                .range
                .map_or(open.document.len_bytes(), |range| open.document.offset_clamped(range.end, encoding));
            self.state.feedback.changed(&uri, start, end.saturating_sub(start), &change.text);
            if open.anchor.is_some_and(|anchor| start < anchor) || change.range.is_none() {
                // Text above the window moved it: the next prompt chooses a new start.
                open.anchor = None;
            }
            let accepted = n_changes == 1
                && is_insertion
                && change.text.chars().nth(1).is_some()
                && open
                    .shown
                    .as_ref()
                    .is_some_and(|shown| shown.offset == start && shown.text.starts_with(&change.text));
            match catch_unwind(AssertUnwindSafe(|| open.document.apply_change(&change, encoding))) {
                Ok(Ok(())) => {}
                Ok(Err(why)) => tracing::warn!("didChange for {}: {why}", uri.as_str()),
                Err(panic) => {
                    tracing::error!(
                        "didChange for {} failed: {}; the document is dropped until it is reopened",
                        uri.as_str(),
                        panic_message(&panic)
                    );
                    documents.remove(&uri);
                    return None;
                }
            }
            if accepted {
                let end = open.document.position(start + change.text.len(), encoding);
                accepted_at = Some(Position { line: end.line, character: end.character });
            }
            last_edit = Some(start + change.text.len());
        }
        if let Some(offset) = last_edit.filter(|_| !open.binary && !open.private) {
            // Only the lines around the edit are copied (recording is cheap next to a keystroke).
            let from = open.document.len_bytes().min(offset.saturating_sub(RECENT_WINDOW_BYTES));
            let to = open.document.len_bytes().min(offset + RECENT_WINDOW_BYTES);
            let from = completion::char_floor(&open.document, from);
            let to = completion::char_floor(&open.document, to);
            let around = open.document.slice(from..to);
            let mut recent = self.state.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent.record(&open.display_path, &around, offset - from);
        }
        open.shown = None;
        accepted_at
    }

    fn display_path(&self, uri: &Uri) -> String {
        let Some(path) = uri.to_file_path() else {
            return uri.as_str().to_owned();
        };
        let root = self.state.root.read().unwrap_or_else(|p| p.into_inner());
        match root.as_deref().and_then(|root| path.strip_prefix(root).ok()) {
            Some(relative) => relative.display().to_string(),
            None => path.display().to_string(),
        }
    }

    /// Re-resolves the configuration after a layer changed. A bad layer is reported and left out.
    async fn apply_layers(&self, reload_if_model_changed: bool) {
        let (resolved, problem) = {
            let mut layers = self.state.layers.lock().unwrap_or_else(|p| p.into_inner());
            match layers.resolve() {
                Ok(config) => (config, None),
                Err(why) => {
                    // Drop the newest layer that breaks the configuration, keep the rest.
                    layers.client = None;
                    let fallback = layers.resolve().or_else(|_| {
                        layers.initialization = None;
                        layers.resolve()
                    });
                    (fallback.unwrap_or_default(), Some(why))
                }
            }
        };
        if let Some(why) = problem {
            tracing::error!("{why}");
            self.client.show_message(MessageType::ERROR, format!("Wisp: {why}")).await;
        }
        let model_changed = {
            let mut config = self.state.config.write().unwrap_or_else(|p| p.into_inner());
            let changed = config.model != resolved.model;
            *config = resolved;
            changed
        };
        {
            let capacity = self.config().completion.cache_entries;
            let mut cache = self.state.cache.lock().unwrap_or_else(|p| p.into_inner());
            if model_changed {
                cache.clear();
            }
            cache.set_capacity(capacity);
        }
        let config = self.config();
        *self.state.sensitive.write().unwrap_or_else(|p| p.into_inner()) =
            wisp_guard::SensitiveFiles::new(&config.context.sensitive_files)
                .unwrap_or_else(|_| builtin_sensitive_files());
        let telemetry = &config.telemetry;
        let database = if telemetry.events { telemetry.database() } else { None };
        if let Err(why) = self.state.feedback.configure(database, telemetry.retention()) {
            let message = format!("suggestion feedback is not recorded: {why}");
            tracing::error!("{message}");
            self.client.show_message(MessageType::WARNING, format!("Wisp: {message}")).await;
        }
        if reload_if_model_changed && model_changed {
            self.load_model().await;
        }
    }

    /// A file that must never reach a prompt: a sensitive name (`.env`, keys, …) or matched by a
    /// `.wispignore`.
    fn is_private(&self, uri: &Uri) -> bool {
        let Some(path) = uri.to_file_path() else { return false };
        if self.state.sensitive.read().unwrap_or_else(|p| p.into_inner()).is_sensitive(&path) {
            return true;
        }
        let root = self.state.root.read().unwrap_or_else(|p| p.into_inner()).clone();
        root.is_some_and(|root| wisp_syntax::index::is_wispignored(&root, &path))
    }
}

/// What a reused suggestion must have been made with: the model and the settings that shape
/// the text (an experiment variant may change them).
fn reuse_key_of(model_id: &str, config: &Config) -> String {
    let completion = &config.completion;
    format!(
        "{model_id}|{}|{}|{}|{:?}|{}|{}",
        completion.max_tokens,
        completion.max_lines,
        completion.prompt_tokens,
        config.context.mode,
        completion.temperature,
        completion.top_p
    )
}

/// The completion id of an item sent back by the client (the accept command's argument).
fn item_id(item: &serde_json::Value) -> Result<String, String> {
    item["command"]["arguments"][0].as_str().map(str::to_owned).ok_or_else(|| {
        "the item has no completion id — send the item as Wisp answered it, with its command".to_owned()
    })
}

/// The loaded engine, or why there is none. Called on the worker, after any queued load.
fn ready_engine(model_state: &RwLock<ModelState>) -> Result<Arc<dyn Engine>, String> {
    match &*model_state.read().unwrap_or_else(|p| p.into_inner()) {
        ModelState::Ready(engine) => Ok(Arc::clone(engine)),
        ModelState::Failed(why) => Err(why.clone()),
        ModelState::Loading | ModelState::NotLoaded => {
            Err("the model is not loaded yet — the client must send \"initialized\"".into())
        }
    }
}

/// The answer to `wisp/debugPrompt`: the exact prompt a completion at that position would use.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DebugPrompt {
    /// The prompt, special tokens shown as `<FimPrefix>` etc.
    pub prompt: String,
    /// "plain" (path header + prefix), "fim", "fim-repo" (FIM with file separators) or
    /// "fim-suffix-first" (Codestral).
    pub format: String,
    /// Prompt tokens as counted by the model's tokenizer.
    pub n_tokens: usize,
    pub budget_tokens: usize,
    pub model: String,
    /// The snippets in the prompt, in prompt order, with where each came from.
    pub snippets: Vec<DebugSnippet>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DebugSnippet {
    pub path: String,
    /// Why it is there ("definition of `Foo`", "enclosing scope", ...).
    pub origin: String,
    pub text: String,
}

struct CancelOnDrop(CancelFlag);

struct ReleaseOnDrop(Arc<Interest>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// The latest foreground request of a document.
struct Latest {
    /// Set when the request is superseded or cancelled by the client.
    request: CancelFlag,
    /// Its claim on the generation it runs or joined.
    interest: Option<Arc<Interest>>,
}

impl Latest {
    /// A newer request came: this one gives up its answer and its claim on the generation, which
    /// stops unless the newer request joined it.
    fn supersede(&self) {
        self.request.cancel();
        if let Some(interest) = &self.interest {
            interest.release();
        }
    }

    /// Stops the request and its generation, whoever else waits on it.
    fn abort(&self) {
        self.supersede();
        if let Some(interest) = &self.interest {
            interest.flight().cancel.cancel();
        }
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl LanguageServer for Server {
    async fn initialize(&self, params: InitializeParams) -> jsonrpc::Result<InitializeResult> {
        let offers_utf8 = params
            .capabilities
            .general
            .as_ref()
            .and_then(|general| general.position_encodings.as_ref())
            .is_some_and(|encodings| encodings.contains(&PositionEncodingKind::UTF8));
        let (encoding, encoding_kind) = if offers_utf8 {
            (PositionEncoding::Utf8, PositionEncodingKind::UTF8)
        } else {
            (PositionEncoding::Utf16, PositionEncodingKind::UTF16)
        };
        *self.state.encoding.write().unwrap_or_else(|p| p.into_inner()) = encoding;
        let progress =
            params.capabilities.window.as_ref().and_then(|window| window.work_done_progress).unwrap_or(false);
        self.state.client_progress.store(progress, Ordering::Relaxed);
        let watches = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|workspace| workspace.did_change_watched_files.as_ref())
            .and_then(|watched| watched.dynamic_registration)
            .unwrap_or(false);
        self.state.client_watches_files.store(watches, Ordering::Relaxed);
        let client_inline = params
            .capabilities
            .text_document
            .as_ref()
            .is_some_and(|text_document| text_document.inline_completion.is_some());

        #[allow(deprecated)]
        let root = params
            .workspace_folders
            .as_ref()
            .and_then(|folders| folders.first())
            .map(|folder| &folder.uri)
            .or(params.root_uri.as_ref())
            .and_then(|uri| uri.to_file_path())
            .map(|path| path.into_owned());
        {
            let mut layers = self.state.layers.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(root) = &root {
                match config::read_file_layer(root) {
                    Ok(layer) => layers.file = layer,
                    Err(why) => {
                        self.state.pending_messages.lock().unwrap_or_else(|p| p.into_inner()).push(why)
                    }
                }
            }
            layers.initialization = params.initialization_options.and_then(config::client_layer);
        }
        *self.state.root.write().unwrap_or_else(|p| p.into_inner()) = root;
        self.apply_layers(false).await;

        let capabilities = ServerCapabilities {
            position_encoding: Some(encoding_kind),
            text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                ..Default::default()
            })),
            inline_completion_provider: Some(OneOf::Left(true)),
            // A client that shows inline completions would otherwise also put the same suggestion
            // in its completion menu, running the model twice per keystroke (LSP4IJ asks both).
            completion_provider: (!client_inline).then(CompletionOptions::default),
            execute_command_provider: Some(ExecuteCommandOptions {
                commands: vec![feedback::ACCEPT_COMMAND.into()],
                work_done_progress_options: Default::default(),
            }),
            ..Default::default()
        };
        Ok(InitializeResult {
            capabilities,
            server_info: Some(ServerInfo {
                name: "wisp".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let pending: Vec<String> =
            std::mem::take(&mut *self.state.pending_messages.lock().unwrap_or_else(|p| p.into_inner()));
        for message in pending {
            tracing::error!("{message}");
            self.client.show_message(MessageType::ERROR, format!("Wisp: {message}")).await;
        }
        if self.config().context.index {
            tokio::spawn(self.clone().index_workspace());
        }
        self.load_model().await;
    }

    async fn shutdown(&self) -> jsonrpc::Result<()> {
        self.state.stopping.store(true, Ordering::Relaxed);
        for (_, latest) in self.in_flight().drain() {
            latest.abort();
        }
        self.cancel_background();
        let server = self.clone();
        let _ =
            tokio::task::spawn_blocking(move || server.state.feedback.flush(feedback::FLUSH_TIMEOUT)).await;
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let item = params.text_document;
        let display_path = self.display_path(&item.uri);
        let language = self
            .state
            .languages
            .by_language_id(&item.language_id)
            .or_else(|| item.uri.to_file_path().and_then(|path| self.state.languages.by_path(&path)));
        let binary = item.text.contains('\0');
        let language = if binary || item.text.len() > MAX_PARSED_BYTES { None } else { language };
        let document = Document::new(&item.text, language);
        let mut open = OpenDocument::new(document, display_path, binary);
        open.language_id = item.language_id.clone();
        open.private = self.is_private(&item.uri);
        self.state.documents.lock().unwrap_or_else(|p| p.into_inner()).insert(item.uri.clone(), open);
        let config = self.config();
        if config.completion.prefetch && config.completion.enabled && !binary {
            tokio::spawn(self.clone().warm_up(item.uri));
        }
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri.clone();
        if let Some(position) = self.apply_changes(params) {
            if self.config().completion.prefetch {
                tokio::spawn(self.clone().prefetch(uri, position));
            }
        }
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        self.reindex_open(&params.text_document.uri);
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        for change in params.changes {
            let Some(path) = change.uri.to_file_path() else { continue };
            self.reindex_path(&path, change.typ == FileChangeType::DELETED);
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.state.documents.lock().unwrap_or_else(|p| p.into_inner()).remove(&uri);
        if let Some(latest) = self.in_flight().remove(&uri) {
            latest.abort();
        }
        // Unsaved changes are gone with the editor's buffer: the file on disk is the truth again.
        if let Some(path) = uri.to_file_path() {
            self.reindex_path(&path, false);
        }
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> jsonrpc::Result<Option<LSPAny>> {
        if params.command != feedback::ACCEPT_COMMAND {
            return Err(error(
                ErrorCode::InvalidParams,
                format!("unknown command {:?} — Wisp runs {:?}", params.command, feedback::ACCEPT_COMMAND),
            ));
        }
        let Some(id) = params.arguments.first().and_then(|argument| argument.as_str()) else {
            return Err(error(
                ErrorCode::InvalidParams,
                format!("{} takes the completion id as its argument", feedback::ACCEPT_COMMAND),
            ));
        };
        if !self.state.feedback.enabled() {
            return Ok(None);
        }
        let (seq, survival) =
            self.state.feedback.accepted(id).map_err(|why| error(ErrorCode::InvalidParams, why))?;
        if let Some(seq) = seq {
            // Answer once the event is stored: the client's accept is then durable.
            let server = self.clone();
            let _ = tokio::task::spawn_blocking(move || server.state.feedback.wait_stored(seq)).await;
        }
        self.measure_survival(survival);
        Ok(None)
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        self.state.layers.lock().unwrap_or_else(|p| p.into_inner()).client =
            config::client_layer(params.settings);
        self.apply_layers(true).await;
    }

    async fn completion(&self, params: CompletionParams) -> jsonrpc::Result<Option<CompletionResponse>> {
        let position = params.text_document_position.position;
        let uri = params.text_document_position.text_document.uri;
        let Some((text, id)) = self.answer(&uri, position, Trigger::Invoked).await? else {
            return Ok(Some(CompletionResponse::List(CompletionList { is_incomplete: true, items: vec![] })));
        };
        let encoding = *self.state.encoding.read().unwrap_or_else(|p| p.into_inner());
        let line_before_cursor = self
            .with_document(&uri, |open| {
                let document = &open.document;
                let cursor = wisp_syntax::Position { line: position.line, character: position.character };
                let offset = document.offset(cursor, encoding).ok()?;
                let line_start =
                    document.offset_clamped(wisp_syntax::Position { character: 0, ..cursor }, encoding);
                Some(document.slice(line_start..offset))
            })
            .flatten()
            .unwrap_or_default();
        let item = to_proto::completion_item(position, &line_before_cursor, encoding, text, id);
        Ok(Some(CompletionResponse::List(CompletionList { is_incomplete: true, items: vec![item] })))
    }
}

/// The built-in sensitive file patterns alone (they are constants, checked by the guard's tests).
fn builtin_sensitive_files() -> wisp_guard::SensitiveFiles {
    wisp_guard::SensitiveFiles::new(&[]).expect("the built-in sensitive file patterns are valid globs")
}
