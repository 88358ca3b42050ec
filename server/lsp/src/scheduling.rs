//! The protocol's side of the completion service (`wisp_complete::service`): a request for a
//! URI and position becomes a gathered cursor and a [`Request`]; the [`Outcome`] updates the open
//! document (its last shown suggestion and its prompt anchor) and becomes an answer or an LSP error.

use std::sync::Arc;

use tower_lsp_server::jsonrpc::{self, ErrorCode};
use tower_lsp_server::ls_types::*;
use wisp_complete::completion::Gathered;
use wisp_complete::config::Config;
use wisp_complete::metrics::Metrics;
use wisp_complete::service::{Outcome, Request, SuggestError, Suggested, Trigger, Typing};

use crate::feedback;
use crate::server::{error, Server, MODEL_UNAVAILABLE};
use crate::state::Shown;

impl Server {
    /// The suggestion at a position, or None when there is nothing to show (disabled, superseded,
    /// or the model had nothing useful). Errors say what was wrong with the request or the model.
    pub(crate) async fn suggest(
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
        self.state.service.metrics.observe(wisp_complete::service::Stage::Context, context_ms);
        let suggested = self.suggest_gathered(uri, gathered, trigger, config).await?;
        Ok(suggested.map(|suggested| Suggested { context_ms, ..suggested }))
    }

    /// Runs the completion service for a gathered cursor of `uri` and applies its outcome to the
    /// open document.
    pub(crate) async fn suggest_gathered(
        &self,
        uri: &Uri,
        gathered: Gathered,
        trigger: Trigger,
        config: &Config,
    ) -> jsonrpc::Result<Option<Suggested>> {
        let model = self.model_state_for(&config.model).await;
        let typing = self.with_document(uri, |open| Typing {
            last_interval_ms: open.last_interval_ms,
            typical_interval_ms: open.typing_interval_ms,
        });
        let offset = gathered.offset;
        let grow_from = config.completion.fast_first_answer.then(|| (gathered.clone(), Arc::clone(&model)));
        let request = Request { gathered, trigger, config, model, typing };
        let outcome = if trigger == Trigger::Prefetch {
            self.state.service.suggest(request).await
        } else {
            self.while_busy(self.state.service.suggest(request)).await
        };
        self.note_model_health(&outcome).await;
        let Outcome { suggested, remember_shown, window_start, grow } = match outcome {
            Ok(outcome) => outcome,
            Err(SuggestError::ModelUnavailable(why)) => {
                Metrics::add(&self.state.service.metrics.unanswered, 1);
                if trigger == Trigger::Invoked || !self.model_ready() {
                    // Asked for explicitly, or no model at all (missing, corrupt: the fix is in
                    // the error).
                    return Err(error(ErrorCode::ServerError(MODEL_UNAVAILABLE), why));
                }
                // While typing, a backend that is down or behind is said in the status (above),
                // not as an error for every keystroke: the editor would log or pop up each one,
                // and the keystroke shows nothing either way.
                tracing::debug!(target: "wisp::completion", "no suggestion: {why}");
                return Ok(None);
            }
            Err(SuggestError::Internal(why)) => return Err(error(ErrorCode::InternalError, why)),
        };
        if let (true, Some((gathered, model))) = (grow, grow_from) {
            // The answer came from a short prompt: evaluate the full one while the user reads it.
            let state = Arc::clone(&self.state);
            let settings = config.completion.clone();
            tokio::spawn(async move { state.service.warm_up(gathered, &settings, model).await });
        }
        self.with_document(uri, |open| {
            if let Some(window_start) = window_start {
                open.anchor = Some(window_start);
            }
            if let Some(suggested) = suggested.as_ref().filter(|_| remember_shown) {
                open.shown = Some(Shown { offset, text: suggested.text.clone() });
            }
        });
        Ok(suggested)
    }

    /// Tells the editor when the model stops answering (a remote backend down, the circuit
    /// open) and when it answers again: "Warning" with the reason, then "Normal".
    async fn note_model_health(&self, outcome: &Result<Outcome, SuggestError>) {
        use std::sync::atomic::Ordering;
        match outcome {
            Err(SuggestError::ModelUnavailable(why)) if self.model_ready() => {
                if !self.state.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!("the model stopped answering: {why}");
                }
                self.status("Warning", format!("suggestions paused: {why}"), false).await;
            }
            Ok(_) => {
                // A remote backend may answer through its fallback, the local model: that is
                // said too.
                let (device, warning) = match &*self.state.model.read().unwrap_or_else(|p| p.into_inner()) {
                    wisp_complete::service::ModelState::Ready(engine) => {
                        (engine.model().device.clone(), engine.warning())
                    }
                    _ => return,
                };
                match warning {
                    Some(warning) if !self.state.degraded.swap(true, Ordering::Relaxed) => {
                        self.status("Warning", warning, false).await;
                    }
                    Some(_) => {}
                    None if self.state.degraded.swap(false, Ordering::Relaxed) => {
                        tracing::info!("the model answers again ({device})");
                        self.status("Normal", format!("ready: {device}"), false).await;
                    }
                    None => {}
                }
            }
            _ => {}
        }
    }

    /// Runs `work` (a suggestion); if it takes longer than [`SLOW_REQUEST`], the status shows
    /// busy until it ends (or is cancelled): a spinner while the user waits, no flicker for the
    /// answers that come at once.
    async fn while_busy<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        if let Ok(done) = tokio::time::timeout(SLOW_REQUEST, &mut work).await {
            return done;
        }
        let first = {
            let mut now = self.state.status.lock().unwrap_or_else(|p| p.into_inner());
            now.slow_requests += 1;
            now.slow_requests == 1
        };
        let _busy = SlowRequest(self.clone());
        if first {
            self.status_again().await;
        }
        work.await
    }

    /// Whether a model is loaded (embedded, or a remote backend configured), however it is
    /// answering right now.
    fn model_ready(&self) -> bool {
        matches!(
            &*self.state.model.read().unwrap_or_else(|p| p.into_inner()),
            wisp_complete::service::ModelState::Ready(_)
        )
    }

    /// Computes the suggestion at a position in the background and keeps it in the cache, so the
    /// request the editor sends next is answered at once.
    pub(crate) async fn prefetch(self, uri: Uri, position: Position) {
        let config = self.config();
        if let Ok(gathered) = self.gather(&uri, position, false) {
            let _ = self.suggest_gathered(&uri, gathered, Trigger::Prefetch, &config).await;
        }
    }

    /// Evaluates the prompt for the end of a freshly opened document while the user reads it; for
    /// files that fit the prompt budget that is every cursor's prompt prefix.
    pub(crate) async fn warm_up(self, uri: Uri) {
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
        self.state.service.warm_up(gathered, &config.completion, Arc::clone(&self.state.model)).await;
    }

    /// Stops all model work before the process exits: cancels every request and background job
    /// and waits for the inference worker to end (a job stops within one small batch).
    pub fn quiesce(&self, limit: std::time::Duration) -> bool {
        self.state.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
        self.state.service.abort_all();
        // Feedback queued by an editor that exits without `shutdown` is still stored.
        self.state.feedback.flush(feedback::FLUSH_TIMEOUT);
        self.state.service.stop(limit)
    }

    /// The document key the service knows `uri` by (the same as its gathered cursors').
    pub(crate) fn document_key(&self, uri: &Uri) -> u64 {
        wisp_complete::completion::document_key(&self.display_path(uri))
    }
}

/// After this long, a suggestion shows as busy in the editor's status.
const SLOW_REQUEST: std::time::Duration = std::time::Duration::from_millis(300);

/// A slow suggestion in progress: when the last one ends (answered, superseded or dropped with
/// its cancelled request), the status stops showing busy.
struct SlowRequest(Server);

impl Drop for SlowRequest {
    fn drop(&mut self) {
        let last = {
            let mut now = self.0.state.status.lock().unwrap_or_else(|p| p.into_inner());
            now.slow_requests = now.slow_requests.saturating_sub(1);
            now.slow_requests == 0
        };
        if last {
            let server = self.0.clone();
            tokio::spawn(async move { server.status_again().await });
        }
    }
}
