//! The language server: LSP handlers over the documents, the configuration and the model.
//!
//! Handlers convert from LSP, call plain Rust ([`completion`], [`models`], `wisp_syntax`), and
//! convert back. Document notifications are applied synchronously, before the handler's first
//! await, so they take effect strictly in the order they arrived. Inference runs on the
//! [`InferenceWorker`], never on the LSP loop.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use dashmap::DashMap;

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc::{self, ErrorCode};
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService};
use wisp_syntax::{Document, LanguageRegistry, PositionEncoding};

use crate::feedback::{self, Feedback};
use crate::handlers::builtin_sensitive_files;
use crate::state::{CompletionService, ModelState, OpenDocument, State, MAX_PARSED_BYTES};
use wisp_complete::config::{self, Config};

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

#[derive(Clone)]
pub struct Server {
    pub(crate) client: Client,
    pub(crate) state: Arc<State>,
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

pub(crate) fn error(code: ErrorCode, message: impl Into<String>) -> jsonrpc::Error {
    jsonrpc::Error { code, message: message.into().into(), data: None }
}

impl Server {
    pub(crate) fn new(client: Client) -> Server {
        let state = State {
            languages: LanguageRegistry::builtin(),
            documents: DashMap::default(),
            encoding: RwLock::new(PositionEncoding::Utf16),
            root: RwLock::default(),
            layers: Mutex::default(),
            config: RwLock::default(),
            pending_messages: Mutex::default(),
            model: Arc::new(RwLock::new(ModelState::NotLoaded)),
            service: CompletionService::default(),
            index: RwLock::default(),
            recent: Mutex::default(),
            client_progress: Default::default(),
            client_watches_files: Default::default(),
            client_creates_files: Default::default(),
            stopping: Default::default(),
            feedback: Feedback::default(),
            model_sha256: Arc::default(),
            variant_models: Mutex::default(),
            sensitive: RwLock::new(builtin_sensitive_files()),
            degraded: Default::default(),
            status: Mutex::default(),
        };
        Server { client, state: Arc::new(state) }
    }

    pub(crate) fn config(&self) -> Config {
        self.state.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends the status; `busy` for the model's own work (loading). A suggestion that takes long
    /// shows as busy too, whatever else is said meanwhile (see `while_busy`).
    pub(crate) async fn status(&self, kind: &str, message: impl Into<String>, busy: bool) {
        let params = {
            let mut now = self.state.status.lock().unwrap_or_else(|p| p.into_inner());
            now.kind = kind.to_owned();
            now.message = message.into();
            now.busy = busy;
            StatusParams {
                kind: now.kind.clone(),
                message: now.message.clone(),
                busy: busy || now.slow_requests > 0,
            }
        };
        self.client.send_notification::<DidChangeStatus>(params).await;
    }

    /// Sends the last status again with what is busy now (a slow suggestion started or ended).
    pub(crate) async fn status_again(&self) {
        let params = {
            let now = self.state.status.lock().unwrap_or_else(|p| p.into_inner());
            StatusParams {
                kind: now.kind.clone(),
                message: now.message.clone(),
                busy: now.busy || now.slow_requests > 0,
            }
        };
        self.client.send_notification::<DidChangeStatus>(params).await;
    }

    pub(crate) fn with_document<T>(&self, uri: &Uri, f: impl FnOnce(&mut OpenDocument) -> T) -> Option<T> {
        // `f` must not touch the documents map: the entry's shard is locked while it runs.
        self.state.documents.get_mut(uri).map(|mut open| f(&mut open))
    }

    /// Keeps what the client can do (position encodings, progress, file watching, edits that
    /// create files) in the state; returns the position encoding chosen.
    fn note_client_capabilities(&self, capabilities: &ClientCapabilities) -> PositionEncodingKind {
        let offers_utf8 = capabilities
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
            capabilities.window.as_ref().and_then(|window| window.work_done_progress).unwrap_or(false);
        self.state.client_progress.store(progress, Ordering::Relaxed);
        let watches = capabilities
            .workspace
            .as_ref()
            .and_then(|workspace| workspace.did_change_watched_files.as_ref())
            .and_then(|watched| watched.dynamic_registration)
            .unwrap_or(false);
        self.state.client_watches_files.store(watches, Ordering::Relaxed);
        let creates_files = capabilities
            .workspace
            .as_ref()
            .and_then(|workspace| workspace.workspace_edit.as_ref())
            .is_some_and(|edit| {
                edit.document_changes == Some(true)
                    && edit
                        .resource_operations
                        .as_ref()
                        .is_some_and(|operations| operations.contains(&ResourceOperationKind::Create))
            });
        self.state.client_creates_files.store(creates_files, Ordering::Relaxed);
        encoding_kind
    }
}

impl LanguageServer for Server {
    async fn initialize(&self, params: InitializeParams) -> jsonrpc::Result<InitializeResult> {
        let encoding_kind = self.note_client_capabilities(&params.capabilities);
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
            code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
                code_action_kinds: Some(vec![CodeActionKind::QUICKFIX, CodeActionKind::REFACTOR_REWRITE]),
                resolve_provider: Some(true),
                work_done_progress_options: Default::default(),
            })),
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
        if let Some(addr) = self.config().metrics.addr {
            match crate::prometheus::serve(&addr, std::sync::Arc::clone(&self.state.service.metrics)) {
                Ok(bound) => tracing::info!("Prometheus metrics on http://{bound}/metrics"),
                Err(why) => {
                    tracing::error!("{why}");
                    self.client.show_message(MessageType::ERROR, format!("Wisp: {why}")).await;
                }
            }
        }
        self.load_model().await;
    }

    async fn shutdown(&self) -> jsonrpc::Result<()> {
        self.state.stopping.store(true, Ordering::Relaxed);
        self.state.service.abort_all();
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
        self.state.documents.insert(item.uri.clone(), open);
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
        self.state.documents.remove(&uri);
        self.state.service.abort(self.document_key(&uri));
        // Unsaved changes are gone with the editor's buffer: the file on disk is the truth again.
        if let Some(path) = uri.to_file_path() {
            self.reindex_path(&path, false);
        }
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> jsonrpc::Result<Option<LSPAny>> {
        self.accept_command_handler(params).await
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        self.state.layers.lock().unwrap_or_else(|p| p.into_inner()).client =
            config::client_layer(params.settings);
        self.apply_layers(true).await;
    }

    async fn completion(&self, params: CompletionParams) -> jsonrpc::Result<Option<CompletionResponse>> {
        self.completion_request(params).await
    }

    async fn code_action(&self, params: CodeActionParams) -> jsonrpc::Result<Option<CodeActionResponse>> {
        self.code_action_request(params).await
    }

    async fn code_action_resolve(&self, action: CodeAction) -> jsonrpc::Result<CodeAction> {
        self.code_action_resolve_request(action).await
    }
}
