//! Seeing into the server: `wisp/debugPrompt`, `wisp/metrics`, `wisp/stats`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc::{self, ErrorCode};
use tower_lsp_server::ls_types::*;

use crate::feedback;
use crate::server::{error, Server, MODEL_UNAVAILABLE};
use wisp_complete::completion;

impl Server {
    /// `wisp/stats`: the figures of `wisp stats` for the editor. Params (all optional):
    /// `{ "since": "7d", "by": "model" | "language" | "variant" | "trigger" }`.
    pub(crate) async fn stats(&self, params: serde_json::Value) -> jsonrpc::Result<serde_json::Value> {
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

    /// `wisp/metrics`: counters since the server started (requests, cache hits, tokens evaluated),
    /// latency histograms per stage, and what they give (`derived`: tokens/s, KV reuse and cache
    /// hit rates, acceptance, resident memory) — the figures of the Prometheus endpoint.
    pub(crate) async fn metrics(&self, _: serde_json::Value) -> jsonrpc::Result<serde_json::Value> {
        let metrics = &self.state.service.metrics;
        let mut value =
            serde_json::to_value(&**metrics).map_err(|e| error(ErrorCode::InternalError, e.to_string()))?;
        value["derived"] = serde_json::to_value(metrics.derived())
            .map_err(|e| error(ErrorCode::InternalError, e.to_string()))?;
        Ok(value)
    }

    /// `wisp/debugPrompt`: "why did it suggest that?" — the prompt, without running the model.
    ///
    /// Like a completion, it keeps the prompt's window anchored where it started, so consecutive
    /// calls see the prompts consecutive completions would (the replay benchmark relies on it).
    pub(crate) async fn debug_prompt(
        &self,
        params: TextDocumentPositionParams,
    ) -> jsonrpc::Result<DebugPrompt> {
        let uri = params.text_document.uri.clone();
        let gathered = self.gather(&params.text_document.uri, params.position, false)?;
        let prefix_start = gathered.prefix_start;
        let settings = self.config().completion;
        let model_state = Arc::clone(&self.state.model);
        let outcome = self
            .state
            .service
            .worker()
            .run(move || {
                let engine = wisp_complete::service::ready_engine(&model_state)?;
                let (source, healing) = completion::healed(&gathered, settings.token_healing);
                let healing = healing.word.to_owned();
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
                    healing,
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
    /// The partly typed word before the cursor that the prompt leaves out and the model must
    /// spell first (token healing); empty when there is none.
    pub healing: String,
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
