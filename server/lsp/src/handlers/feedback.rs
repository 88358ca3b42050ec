//! The feedback messages of the protocol: shown, accepted (`wisp.acceptCompletion`), partly
//! accepted, dismissed, and the survival measurements after an accept.

use tower_lsp_server::jsonrpc::{self, ErrorCode};
use tower_lsp_server::ls_types::*;

use crate::feedback;
use crate::server::{error, Server};

impl Server {
    /// `textDocument/didShowCompletion` (as Copilot's language server): `{ item }`.
    pub(crate) async fn did_show_completion(&self, params: serde_json::Value) {
        wisp_complete::service::Metrics::add(&self.state.service.metrics.shown, 1);
        let outcome = item_id(&params["item"]).and_then(|id| self.state.feedback.shown(&id));
        if let Err(why) = outcome {
            tracing::warn!("didShowCompletion: {why}");
        }
    }

    /// `textDocument/didPartiallyAcceptCompletion`: `{ item, acceptedLength }`, the length in
    /// UTF-16 code units accepted so far.
    pub(crate) async fn did_partially_accept_completion(&self, params: serde_json::Value) {
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
    pub(crate) async fn did_dismiss_completion(&self, params: serde_json::Value) {
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
    pub(crate) fn measure_survival(&self, survival: feedback::Survival) {
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

    /// `workspace/executeCommand` `wisp.acceptCompletion [id]`: the suggestion was accepted. Answers
    /// once the event is stored.
    pub(crate) async fn accept_command_handler(
        &self,
        params: ExecuteCommandParams,
    ) -> jsonrpc::Result<Option<LSPAny>> {
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
        wisp_complete::service::Metrics::add(&self.state.service.metrics.accepted, 1);
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
}

/// The completion id of an item sent back by the client (the accept command's argument).
pub(crate) fn item_id(item: &serde_json::Value) -> Result<String, String> {
    item["command"]["arguments"][0].as_str().map(str::to_owned).ok_or_else(|| {
        "the item has no completion id — send the item as Wisp answered it, with its command".to_owned()
    })
}
