//! `textDocument/inlineCompletion` and `textDocument/completion`: the request converted, the
//! suggestion gathered and computed, the answer converted back (`to_proto`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use tower_lsp_server::jsonrpc::{self, ErrorCode};
use tower_lsp_server::ls_types::*;

use crate::feedback;
use crate::server::{error, Server};
use crate::state::{Metrics, StickyContext, Trigger, MAX_DOCUMENT_BYTES};
use crate::to_proto;
use wisp_complete::completion::{self, Gathered};
use wisp_complete::config::{self, Config};
use wisp_complete::models;
use wisp_complete::worker::panic_message;
use wisp_syntax::PositionEncoding;

impl Server {
    /// Reads what a suggestion at `position` needs, synchronously, under the documents lock.
    pub(crate) fn gather(
        &self,
        uri: &Uri,
        position: Position,
        refresh_context: bool,
    ) -> jsonrpc::Result<Gathered> {
        self.gather_with(uri, position, refresh_context, &self.config())
    }

    pub(crate) fn gather_with(
        &self,
        uri: &Uri,
        position: Position,
        refresh_context: bool,
        config: &Config,
    ) -> jsonrpc::Result<Gathered> {
        let encoding = *self.state.encoding.read().unwrap_or_else(|p| p.into_inner());
        let max_lines = config.completion.max_lines;
        // The document's entry is held only while the window is copied out; the snippets are
        // collected after letting go of it (they read the other documents).
        let (gathered, source) = {
            let open = self.state.documents.get(uri).ok_or_else(|| {
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
            let gathered = catch_unwind(AssertUnwindSafe(|| {
                let mut gathered = completion::gather(&open.document, offset, &open.display_path, max_lines);
                gathered.anchor = open.anchor;
                gathered
            }))
            .map_err(internal_error)?;
            let source = ContextSource {
                document: open.document.clone(),
                display_path: open.display_path.clone(),
                sticky: Arc::clone(&open.context),
                names: Arc::clone(&open.names),
            };
            (gathered, source)
        };
        let mode = wisp_context::ContextMode::from(config.context.mode);
        let snippets = catch_unwind(AssertUnwindSafe(|| {
            self.context_for(uri, &source, gathered.offset, mode, refresh_context)
        }))
        .map_err(internal_error)?;
        // Read on the worker when the model runs (a cached answer needs none).
        let names_source = (config.completion.guide != wisp_complete::config::GuideSetting::Off).then(|| {
            completion::NamesSource {
                document: Arc::clone(&source.names),
                index: Some(self.state.index.read().unwrap_or_else(|p| p.into_inner()).names()),
            }
        });
        Ok(Gathered { snippets, names_source, ..gathered })
    }

    /// The snippets for a cursor. They stay the same while the cursor stays in the same scope:
    /// snippets come before the code in the prompt, so changing them costs re-evaluating the
    /// whole window (seconds on a CPU). They are collected afresh when the cursor enters another
    /// scope, and when `refresh` (the user asked for a suggestion).
    fn context_for(
        &self,
        uri: &Uri,
        source: &ContextSource,
        offset: usize,
        mode: wisp_context::ContextMode,
        refresh: bool,
    ) -> Vec<wisp_context::Snippet> {
        let scope_key = completion::scope_key(&source.document, offset);
        if let Some(previous) = source.sticky.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if !refresh && previous.mode == mode && previous.scope_key == scope_key {
                return previous.snippets.clone();
            }
        }
        let started = std::time::Instant::now();
        // Copies of the other documents (cheap: ropes and trees are shared), so that no entry of
        // the map is held while they are searched.
        let others: Vec<(String, wisp_syntax::Document)> = self
            .state
            .documents
            .iter()
            .filter(|entry| entry.key() != uri && !entry.private)
            .take(completion::MAX_OPEN_DOCUMENTS)
            .map(|entry| (entry.display_path.clone(), entry.document.clone()))
            .collect();
        let open_chunks =
            completion::open_chunks(others.iter().map(|(path, document)| (path.as_str(), document)));
        let recent = self.state.recent.lock().unwrap_or_else(|p| p.into_inner()).chunks();
        let index = self.state.index.read().unwrap_or_else(|p| p.into_inner());
        let workspace = wisp_context::Workspace { index: Some(&index), open: &open_chunks, recent: &recent };
        let snippets = completion::context(&source.document, offset, &source.display_path, &workspace, mode);
        drop(index);
        Metrics::add(&self.state.service.metrics.context_collections, 1);
        Metrics::add(&self.state.service.metrics.context_us, started.elapsed().as_micros() as u64);
        *source.sticky.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(StickyContext { mode, scope_key, snippets: snippets.clone() });
        snippets
    }

    /// `textDocument/inlineCompletion` (LSP 3.18).
    pub(crate) async fn inline_completion(
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
        // One span per request: the stages' events ("model run", "answered") carry its fields.
        let span = tracing::info_span!(
            "completion",
            uri = uri.path().as_str(),
            line = position.line,
            character = position.character,
            trigger = ?trigger
        );
        let items = match tracing::Instrument::instrument(self.answer(&uri, position, trigger), span).await? {
            Some(answer) => {
                let (encoding, line_before) = self.line_before(&uri, position, answer.replace.end);
                let cursor = to_proto::Cursor {
                    position,
                    offset: answer.replace.end,
                    line_before: &line_before,
                    encoding,
                };
                vec![to_proto::inline_item(&cursor, answer.replace, answer.text, answer.tracking)]
            }
            None => vec![],
        };
        Ok(Some(InlineCompletionResponse::List(InlineCompletionList { items })))
    }

    /// A suggestion for the editor, with the completion id its feedback is recorded under (when
    /// `telemetry.events` is on). An experiment variant, if one is drawn for the id, changes the
    /// settings used.
    pub(crate) async fn answer(
        &self,
        uri: &Uri,
        position: Position,
        trigger: Trigger,
    ) -> jsonrpc::Result<Option<Answer>> {
        let started = std::time::Instant::now();
        let mut config = self.config();
        let feedback = &self.state.feedback;
        let id = feedback.next_id();
        let variant = config::apply_variant(&mut config, &id);
        let Some(suggested) = self.suggest(uri, position, trigger, &config).await? else {
            feedback.superseded(uri);
            tracing::debug!(target: "wisp::completion", total_ms = started.elapsed().as_secs_f64() * 1e3, "nothing to show");
            return Ok(None);
        };
        let total_ms = started.elapsed().as_secs_f64() * 1e3;
        self.state.service.metrics.observe(wisp_complete::service::Stage::Total, total_ms);
        tracing::debug!(
            target: "wisp::completion",
            total_ms,
            context_ms = suggested.context_ms,
            source = ?suggested.source,
            chars = suggested.text.len(),
            confidence = suggested.confidence,
            "answered"
        );
        if !feedback.enabled() {
            let tracking = to_proto::Tracking { id: None, confidence: suggested.confidence };
            return Ok(Some(Answer { text: suggested.text, replace: suggested.replace, tracking }));
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
            confidence: suggested.confidence,
            path,
            prompt: suggested.prompt.filter(|_| config.telemetry.content),
        };
        feedback.issue(&id, uri, suggested.replace.start, &suggested.text, metadata);
        let tracking = to_proto::Tracking { id: Some(id), confidence: suggested.confidence };
        Ok(Some(Answer { text: suggested.text, replace: suggested.replace, tracking }))
    }

    /// `textDocument/completion`, for clients without inline completion: the same suggestion as
    /// one item.
    pub(crate) async fn completion_request(
        &self,
        params: CompletionParams,
    ) -> jsonrpc::Result<Option<CompletionResponse>> {
        let position = params.text_document_position.position;
        let uri = params.text_document_position.text_document.uri;
        let Some(answer) = self.answer(&uri, position, Trigger::Invoked).await? else {
            return Ok(Some(CompletionResponse::List(CompletionList { is_incomplete: true, items: vec![] })));
        };
        let (encoding, line_before) = self.line_before(&uri, position, answer.replace.end);
        let cursor =
            to_proto::Cursor { position, offset: answer.replace.end, line_before: &line_before, encoding };
        let item = to_proto::completion_item(&cursor, answer.replace, answer.text, answer.tracking);
        Ok(Some(CompletionResponse::List(CompletionList { is_incomplete: true, items: vec![item] })))
    }

    /// The negotiated encoding and the text of the cursor's line before it, for converting a
    /// suggestion's byte range. Read after the answer: the range's bytes before the cursor are
    /// text the user typed, which is still there when the client applies the item.
    fn line_before(&self, uri: &Uri, position: Position, offset: usize) -> (PositionEncoding, String) {
        let encoding = *self.state.encoding.read().unwrap_or_else(|p| p.into_inner());
        let line_before = self
            .with_document(uri, |open| {
                let document = &open.document;
                let line_start = document
                    .offset_clamped(wisp_syntax::Position { line: position.line, character: 0 }, encoding);
                (line_start <= offset && offset <= document.len_bytes())
                    .then(|| document.slice(line_start..offset))
            })
            .flatten()
            .unwrap_or_default();
        (encoding, line_before)
    }
}

/// A suggestion as the editor gets it, before conversion to an item.
pub(crate) struct Answer {
    text: String,
    /// Document bytes the text replaces, ending at the cursor.
    replace: std::ops::Range<usize>,
    /// Its completion id and confidence.
    tracking: to_proto::Tracking,
}

/// What collecting snippets for a cursor needs from its document, copied out of the map.
struct ContextSource {
    document: wisp_syntax::Document,
    display_path: String,
    sticky: Arc<Mutex<Option<StickyContext>>>,
    names: Arc<completion::DocumentNames>,
}

/// A panic while reading a document, as the error the client gets (the server stays up).
fn internal_error(panic: Box<dyn std::any::Any + Send>) -> jsonrpc::Error {
    error(
        ErrorCode::InternalError,
        format!("internal error while reading the document: {}", panic_message(&panic)),
    )
}
