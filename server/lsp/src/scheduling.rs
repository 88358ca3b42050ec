//! Which request runs the model, and when: reuse of earlier suggestions (cache, joined
//! generations), the latest request per document superseding the one before, background work
//! yielding, typing bursts debounced, and the job on the inference worker. (To move into
//! `wisp-complete` with plain document keys.)

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use tower_lsp_server::jsonrpc::{self, ErrorCode};
use tower_lsp_server::ls_types::*;
use wisp_engine::{CancelFlag, Engine, StopReason};

use crate::feedback::{self};
use wisp_complete::cache::{self};
use wisp_complete::completion::{self, Gathered};
use wisp_complete::config::{CompletionConfig, Config};
use wisp_complete::flight::{self, Flight, Interest};
use wisp_complete::worker::JobError;

use crate::server::*;
use crate::state::*;

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
        let offset = gathered.offset;
        let suggested = self.suggest_gathered(uri, gathered, trigger, config).await?;
        Ok(suggested.map(|suggested| Suggested { context_ms, offset, ..suggested }))
    }

    /// The pipeline for one gathered cursor, in order: reuse an earlier suggestion (cache), join
    /// the generation still running for the previous keystroke, supersede older requests and
    /// debounce, run the model on the worker, then record the result (cache, metrics, anchor).
    pub(crate) async fn suggest_gathered(
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
        // it.
        let request = CancelFlag::new();
        let _cancel_on_drop = CancelOnDrop(request.clone());
        if foreground {
            self.cancel_background();
            if let Some(joined) = self.join_running(uri, &request, &reuse_key, &gathered, config).await {
                return Ok(
                    joined.map(|text| Suggested::reused(text, &model_id, wisp_telemetry::Source::Joined))
                );
            }
        }
        if trigger == Trigger::Automatic {
            self.debounce(uri, &config.completion, &request).await;
        }

        let flight = Flight::new(&reuse_key, &gathered);
        let interest = Interest::new(&flight);
        let _release = ReleaseOnDrop(Arc::clone(&interest));
        self.register(uri, &request, &flight, &interest, foreground);
        if request.is_cancelled() {
            Metrics::add(&metrics.cancelled, 1);
            return Ok(None);
        }

        let queued = std::time::Instant::now();
        let outcome = self.generate(model_state, &flight, &gathered, config, foreground).await;
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
        let Some(generated) = finished else {
            Metrics::add(&metrics.cancelled, 1);
            return Ok(None);
        };
        let run = Run { gathered: &gathered, request: &request, waited_ms, config, foreground };
        Ok(self.record(uri, &run, generated))
    }

    /// Joins the generation still running for the previous keystroke when the characters typed
    /// since agree with it (see `flight`), and makes `request` the document's latest either way.
    /// `Some(answer)` when the joined generation decided this request (its rest after the typed
    /// text, or None when the request was cancelled meanwhile); None when nothing was joined or
    /// the generation went another way.
    async fn join_running(
        &self,
        uri: &Uri,
        request: &CancelFlag,
        reuse_key: &str,
        gathered: &Gathered,
        config: &Config,
    ) -> Option<Option<String>> {
        let metrics = &self.state.metrics;
        let joined = self.supersede(uri, request, |latest| {
            if !config.completion.cache {
                return None;
            }
            let flight = latest.interest.as_ref()?.flight();
            let typed = flight.typed_since(reuse_key, gathered)?;
            (flight.is_running() && flight.agreement(typed) != flight::Agreement::Diverged)
                .then(|| (Interest::new(flight), typed.to_owned()))
        });
        let (interest, typed) = joined?;
        Metrics::add(&metrics.joined, 1);
        let _release = ReleaseOnDrop(Arc::clone(&interest));
        self.follow(&interest, &typed, request).await;
        interest.release();
        if request.is_cancelled() {
            Metrics::add(&metrics.cancelled, 1);
            return Some(None);
        }
        let text = interest.flight().rest_after(&typed)?;
        Metrics::add(&metrics.joined_hits, 1);
        Metrics::add(&metrics.suggestions, 1);
        self.remember_shown(uri, gathered, &text);
        Some(Some(text))
    }

    /// Makes the new generation findable: by the next keystroke of the same document (to join
    /// it) when `foreground`, else among the background jobs that any user request cancels. A
    /// request superseded meanwhile is cancelled here.
    fn register(
        &self,
        uri: &Uri,
        request: &CancelFlag,
        flight: &Arc<Flight>,
        interest: &Arc<Interest>,
        foreground: bool,
    ) {
        if foreground {
            let mut in_flight = self.in_flight();
            match in_flight.get_mut(uri) {
                Some(latest) if latest.request.same_as(request) => {
                    latest.interest = Some(Arc::clone(interest))
                }
                _ => request.cancel(),
            }
        } else {
            self.state.background.lock().unwrap_or_else(|p| p.into_inner()).push(flight.cancel.clone());
        }
    }

    /// Runs the model for `gathered` on the inference worker, streaming the text into `flight`
    /// (so that later keystrokes can join it).
    async fn generate(
        &self,
        model_state: Arc<RwLock<ModelState>>,
        flight: &Arc<Flight>,
        gathered: &Gathered,
        config: &Config,
        foreground: bool,
    ) -> Result<Result<Option<Generated>, String>, JobError> {
        let busy = Arc::clone(&self.state.busy);
        let job_flight = Arc::clone(flight);
        let settings = config.completion.clone();
        let job_gathered = gathered.clone();
        let keep_prompt = config.telemetry.content;
        self.state
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
            .await
    }

    /// After a model run: metrics, the typing-latency average, the document's prompt anchor and
    /// the cache (a finished suggestion answers its own cursor even when its request was
    /// superseded), then the answer unless the request was cancelled.
    fn record(&self, uri: &Uri, run: &Run<'_>, generated: Generated) -> Option<Suggested> {
        let (suggestion, model_id, prompt) = generated;
        let metrics = &self.state.metrics;
        let generation = &suggestion.generation;
        Metrics::add(&metrics.generations, 1);
        if run.foreground && generation.stop_reason != StopReason::Cancelled {
            let mut latency = self.state.model_latency_ms.lock().unwrap_or_else(|p| p.into_inner());
            let run_ms = generation.prompt_ms + generation.decode_ms;
            *latency = *latency * (1.0 - TYPING_AVERAGE_WEIGHT) + run_ms * TYPING_AVERAGE_WEIGHT;
        }
        Metrics::add(&metrics.prompt_tokens, generation.n_prompt_tokens as u64);
        Metrics::add(&metrics.prompt_tokens_evaluated, generation.n_prompt_evaluated as u64);
        Metrics::add(&metrics.generated_tokens, generation.n_generated as u64);
        if !run.foreground {
            Metrics::add(&metrics.prefetches, 1);
        }
        if generation.stop_reason == StopReason::Cancelled {
            Metrics::add(&metrics.cancelled, 1);
            return None;
        }
        let gathered = run.gathered;
        self.with_document(uri, |open| open.anchor = Some(suggestion.window_start));
        if run.config.completion.cache && !suggestion.text.is_empty() {
            let mut cache = self.state.cache.lock().unwrap_or_else(|p| p.into_inner());
            // The model that ran (it may have finished loading after this request came in).
            cache.insert(
                &reuse_key_of(&model_id, run.config),
                gathered.document_key,
                &gathered.prefix,
                &gathered.suffix,
                &suggestion.text,
            );
        }
        if run.request.is_cancelled() {
            Metrics::add(&metrics.cancelled, 1);
            return None;
        }
        if suggestion.text.is_empty() {
            return None;
        }
        if run.foreground {
            Metrics::add(&metrics.suggestions, 1);
            self.remember_shown(uri, gathered, &suggestion.text);
        }
        let generation = &suggestion.generation;
        Some(Suggested {
            model_id,
            source: wisp_telemetry::Source::Model,
            prompt_tokens: generation.n_prompt_tokens as u32,
            suggestion_tokens: generation.n_generated as u32,
            prompt_ms: generation.prompt_ms,
            decode_ms: generation.decode_ms,
            queue_ms: (run.waited_ms - generation.prompt_ms - generation.decode_ms).max(0.0),
            prompt,
            context_ms: 0.0,
            offset: gathered.offset,
            text: suggestion.text,
        })
    }

    /// Makes `request` the latest for the document, superseding the one before it. `join` sees
    /// the previous request's entry first and may claim its generation.
    pub(crate) fn supersede<T>(
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
    pub(crate) async fn follow(&self, interest: &Interest, typed: &str, request: &CancelFlag) {
        let flight = interest.flight();
        while !request.is_cancelled() && flight.is_running() {
            if flight.agreement(typed) == flight::Agreement::Diverged {
                interest.release();
                return;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }

    /// An earlier suggestion of `model_id` that still answers this request.
    pub(crate) fn cached(&self, model_id: &str, gathered: &Gathered, foreground: bool) -> Option<String> {
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
    pub(crate) async fn debounce(&self, uri: &Uri, settings: &CompletionConfig, cancel: &CancelFlag) {
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

    pub(crate) fn remember_shown(&self, uri: &Uri, gathered: &Gathered, text: &str) {
        self.with_document(uri, |open| {
            open.shown = Some(Shown { offset: gathered.offset, text: text.to_owned() })
        });
    }

    pub(crate) fn cancel_background(&self) {
        for cancel in self.state.background.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            cancel.cancel();
        }
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

    pub(crate) fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<Uri, Latest>> {
        self.state.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How often a request that joined an earlier keystroke's generation checks on it.
pub(crate) const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(2);

/// A suggestion and how it was made (recorded with feedback).
/// A model run's outcome: the suggestion, the id of the model that made it, and the prompt as
/// text when `telemetry.content` keeps it.
type Generated = (completion::Suggestion, String, Option<String>);

/// What a model run was for, as [`Server::record`] needs it.
struct Run<'r> {
    gathered: &'r Gathered,
    request: &'r CancelFlag,
    /// Milliseconds from queueing the job to its end.
    waited_ms: f64,
    config: &'r Config,
    foreground: bool,
}

pub(crate) struct Suggested {
    pub(crate) text: String,
    pub(crate) model_id: String,
    pub(crate) source: wisp_telemetry::Source,
    pub(crate) prompt_tokens: u32,
    pub(crate) suggestion_tokens: u32,
    pub(crate) context_ms: f64,
    pub(crate) queue_ms: f64,
    pub(crate) prompt_ms: f64,
    pub(crate) decode_ms: f64,
    /// The prompt as the model saw it, when `telemetry.content` is on.
    pub(crate) prompt: Option<String>,
    /// Byte offset of the cursor.
    pub(crate) offset: usize,
}

impl Suggested {
    /// An earlier generation's text answering this request without a model run.
    pub(crate) fn reused(text: String, model_id: &str, source: wisp_telemetry::Source) -> Suggested {
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

/// What a reused suggestion must have been made with: the model and the settings that shape
/// the text (an experiment variant may change them).
pub(crate) fn reuse_key_of(model_id: &str, config: &Config) -> String {
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

/// The loaded engine, or why there is none. Called on the worker, after any queued load.
pub(crate) fn ready_engine(model_state: &RwLock<ModelState>) -> Result<Arc<dyn Engine>, String> {
    match &*model_state.read().unwrap_or_else(|p| p.into_inner()) {
        ModelState::Ready(engine) => Ok(Arc::clone(engine)),
        ModelState::Failed(why) => Err(why.clone()),
        ModelState::Loading | ModelState::NotLoaded => {
            Err("the model is not loaded yet — the client must send \"initialized\"".into())
        }
    }
}

pub(crate) struct CancelOnDrop(pub(crate) CancelFlag);

pub(crate) struct ReleaseOnDrop(pub(crate) Arc<Interest>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// The latest foreground request of a document.
pub(crate) struct Latest {
    /// Set when the request is superseded or cancelled by the client.
    pub(crate) request: CancelFlag,
    /// Its claim on the generation it runs or joined.
    pub(crate) interest: Option<Arc<Interest>>,
}

impl Latest {
    /// A newer request came: this one gives up its answer and its claim on the generation, which
    /// stops unless the newer request joined it.
    pub(crate) fn supersede(&self) {
        self.request.cancel();
        if let Some(interest) = &self.interest {
            interest.release();
        }
    }

    /// Stops the request and its generation, whoever else waits on it.
    pub(crate) fn abort(&self) {
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
