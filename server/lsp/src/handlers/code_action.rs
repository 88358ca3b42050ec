//! `textDocument/codeAction` and `codeAction/resolve`: the list is computed from the syntax tree
//! at once (`wisp_complete::actions::offers`); the edit of the action the user picks is computed on
//! resolve, on the model thread, with `$/progress` while it runs, and stops when the client
//! cancels the request.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc::{self, ErrorCode};
use tower_lsp_server::ls_types::*;

use tower_lsp_server::{NotCancellable, OngoingProgress, Unbounded};

use crate::handlers::workspace::PROGRESS_CREATE_TIMEOUT;
use crate::server::{error, Server, MODEL_UNAVAILABLE};
use crate::state::{Metrics, ModelState};
use crate::to_proto;
use wisp_complete::actions::{self, ActionEdit, ActionError, ActionKind, ActionRequest, Diagnostic};
use wisp_complete::service::ready_engine;
use wisp_engine::CancelFlag;

/// What a listed action carries to its resolve.
#[derive(Debug, Serialize, Deserialize)]
struct ActionData {
    kind: ActionKind,
    uri: Uri,
    range: Range,
    /// The diagnostic's message, for a fix; its range is `range`.
    message: Option<String>,
}

impl Server {
    /// `textDocument/codeAction`: the actions that apply at the cursor or selection, without edits.
    pub(crate) async fn code_action_request(
        &self,
        params: CodeActionParams,
    ) -> jsonrpc::Result<Option<CodeActionResponse>> {
        let config = self.config();
        let uri = params.text_document.uri;
        let encoding = *self.state.encoding.read().unwrap_or_else(|p| p.into_inner());
        let Some(document) = self
            .with_document(&uri, |open| (!open.private && !open.binary).then(|| open.document.clone()))
            .flatten()
        else {
            return Ok(None);
        };
        let to_bytes = |range: Range| to_proto::byte_range(&document, range, encoding);
        let selection = to_bytes(params.range);
        let diagnostics: Vec<(Diagnostic, tower_lsp_server::ls_types::Diagnostic)> = params
            .context
            .diagnostics
            .into_iter()
            .map(|diagnostic| {
                (
                    Diagnostic { range: to_bytes(diagnostic.range), message: diagnostic.message.clone() },
                    diagnostic,
                )
            })
            .collect();
        let plain: Vec<Diagnostic> = diagnostics.iter().map(|(plain, _)| plain.clone()).collect();
        let offers = actions::offers(&document, selection, &plain, &config.actions);
        let listed = offers
            .into_iter()
            .map(|offer| {
                let lsp_diagnostic = offer.diagnostic.as_ref().and_then(|plain| {
                    diagnostics.iter().find(|(candidate, _)| candidate == plain).map(|(_, lsp)| lsp.clone())
                });
                let data = ActionData {
                    kind: offer.kind,
                    uri: uri.clone(),
                    range: lsp_diagnostic.as_ref().map_or(params.range, |diagnostic| diagnostic.range),
                    message: offer.diagnostic.map(|diagnostic| diagnostic.message),
                };
                CodeActionOrCommand::CodeAction(CodeAction {
                    title: offer.title,
                    kind: Some(if offer.kind == ActionKind::Fix {
                        CodeActionKind::QUICKFIX
                    } else {
                        CodeActionKind::REFACTOR_REWRITE
                    }),
                    diagnostics: lsp_diagnostic.map(|diagnostic| vec![diagnostic]),
                    data: serde_json::to_value(data).ok(),
                    ..Default::default()
                })
            })
            .collect();
        Ok(Some(listed))
    }

    /// `codeAction/resolve`: the edit of a listed action, computed now. A failed or invalid
    /// generation is an error that says so; the client shows it and changes nothing.
    pub(crate) async fn code_action_resolve_request(
        &self,
        mut action: CodeAction,
    ) -> jsonrpc::Result<CodeAction> {
        let data: ActionData =
            action.data.clone().and_then(|data| serde_json::from_value(data).ok()).ok_or_else(|| {
                error(
                    ErrorCode::InvalidParams,
                    "the code action has no Wisp data — send it back as Wisp listed it",
                )
            })?;
        let config = self.config();
        let encoding = *self.state.encoding.read().unwrap_or_else(|p| p.into_inner());
        let (document, display_path) = self
            .with_document(&data.uri, |open| (open.document.clone(), open.display_path.clone()))
            .ok_or_else(|| {
                error(
                    ErrorCode::InvalidParams,
                    format!("document {} is not open — open it and ask again", data.uri.as_str()),
                )
            })?;
        let selection = to_proto::byte_range(&document, data.range, encoding);
        let file = data.uri.to_file_path().map(|path| path.into_owned());
        let cancel = CancelFlag::new();
        // Dropping this future (the client cancelled the request) stops the model.
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        self.state.service.cancel_background();
        let progress = self.begin_progress(&action.title).await;
        let job = ActionJob {
            kind: data.kind,
            document: document.clone(),
            file: file.clone(),
            display_path,
            diagnostic: data.message.map(|message| Diagnostic { range: selection.clone(), message }),
            selection,
            config,
            cancel,
        };
        let model = std::sync::Arc::clone(&self.state.model);
        let metrics = std::sync::Arc::clone(&self.state.service.metrics);
        let outcome = self.state.service.worker().run(move || job.run(&model, &metrics)).await;
        if let Some(progress) = progress {
            progress.finish().await;
        }
        let edit = match outcome {
            Ok(Ok(edit)) => edit,
            Ok(Err(ActionError::Cancelled)) => return Err(jsonrpc::Error::request_cancelled()),
            Ok(Err(ActionError::Model(why))) => {
                return Err(error(ErrorCode::ServerError(MODEL_UNAVAILABLE), why))
            }
            Ok(Err(why)) => return Err(error(ErrorCode::ServerError(ACTION_FAILED), why.to_string())),
            Err(job_error) => return Err(error(ErrorCode::InternalError, job_error.to_string())),
        };
        let creates_files = self.state.client_creates_files.load(Ordering::Relaxed);
        action.edit = Some(
            to_proto::workspace_edit(&data.uri, &document, encoding, edit, creates_files)
                .map_err(|why| error(ErrorCode::ServerError(ACTION_FAILED), why))?,
        );
        Ok(action)
    }

    /// `$/progress` for an action while the model works, when the client shows progress.
    async fn begin_progress(&self, title: &str) -> Option<OngoingProgress<Unbounded, NotCancellable>> {
        if !self.state.client_progress.load(Ordering::Relaxed) {
            return None;
        }
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let token = ProgressToken::String(format!("wisp/action/{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        let created = tokio::time::timeout(
            PROGRESS_CREATE_TIMEOUT,
            self.client.create_work_done_progress(token.clone()),
        )
        .await;
        match created {
            Ok(Ok(())) => {
                Some(self.client.progress(token, title.trim_start_matches("Wisp: ").to_owned()).begin().await)
            }
            _ => None,
        }
    }
}

/// An action to resolve on the model thread, with everything it reads.
struct ActionJob {
    kind: ActionKind,
    document: wisp_syntax::Document,
    file: Option<std::path::PathBuf>,
    display_path: String,
    diagnostic: Option<Diagnostic>,
    selection: std::ops::Range<usize>,
    config: wisp_complete::config::Config,
    cancel: CancelFlag,
}

impl ActionJob {
    /// Resolves the action with the model loaded now (read on the model thread, after a load
    /// queued before it), counting how it ended: after a cancel, nobody awaits the job's end.
    fn run(
        self,
        model: &std::sync::RwLock<ModelState>,
        metrics: &Metrics,
    ) -> Result<ActionEdit, ActionError> {
        let engine = ready_engine(model).map_err(ActionError::Model)?;
        let request = ActionRequest {
            kind: self.kind,
            document: &self.document,
            file: self.file.as_deref(),
            display_path: &self.display_path,
            selection: self.selection,
            diagnostic: self.diagnostic,
            config: &self.config,
            cancel: self.cancel,
        };
        let outcome = actions::resolve(engine.as_ref(), &request);
        let counter = match &outcome {
            Ok(_) => &metrics.actions_resolved,
            Err(ActionError::Cancelled) => &metrics.actions_cancelled,
            Err(why) => {
                tracing::info!("code action {:?} refused: {why}", self.kind);
                &metrics.actions_refused
            }
        };
        Metrics::add(counter, 1);
        outcome
    }
}

/// The error code of an action that produced no edit (the message says why).
pub const ACTION_FAILED: i64 = -32002;

struct CancelOnDrop(CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
