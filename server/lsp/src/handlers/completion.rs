//! `textDocument/inlineCompletion` and `textDocument/completion`: the request converted, the
//! suggestion gathered and computed, the answer converted back (`to_proto`).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use tower_lsp_server::jsonrpc::{self, ErrorCode};
use tower_lsp_server::ls_types::*;

use crate::feedback;
use crate::server::{error, Server};
use crate::state::{Metrics, OpenDocument, StickyContext, Trigger, MAX_DOCUMENT_BYTES};
use crate::to_proto;
use wisp_complete::completion::{self, Gathered};
use wisp_complete::config::{self, Config};
use wisp_complete::models;
use wisp_complete::worker::panic_message;

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

    /// The snippets for a cursor. They stay the same while the cursor stays in the same scope:
    /// snippets come before the code in the prompt, so changing them costs re-evaluating the
    /// whole window (seconds on a CPU). They are collected afresh when the cursor enters another
    /// scope, and when `refresh` (the user asked for a suggestion).
    pub(crate) fn context_for(
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
        Metrics::add(&self.state.service.metrics.context_collections, 1);
        Metrics::add(&self.state.service.metrics.context_us, started.elapsed().as_micros() as u64);
        *sticky = Some(StickyContext { mode, scope_key, snippets: snippets.clone() });
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
        let items = match self.answer(&uri, position, trigger).await? {
            Some((text, id)) => vec![to_proto::inline_item(position, text, id)],
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

    /// `textDocument/completion`, for clients without inline completion: the same suggestion as
    /// one item.
    pub(crate) async fn completion_request(
        &self,
        params: CompletionParams,
    ) -> jsonrpc::Result<Option<CompletionResponse>> {
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
