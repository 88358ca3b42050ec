//! The completion service: which request runs the model, and when. In the order a request meets
//! them: reuse of an earlier suggestion (the cache), joining the generation still running for the
//! previous keystroke, the latest request per document superseding the one before, background work
//! yielding, typing bursts debounced, the job on the inference worker, and what is kept afterwards
//! (cache, metrics). Documents are known by their key ([`Gathered::document_key`]); the caller
//! keeps the documents and applies what an [`Outcome`] says about them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use wisp_engine::{CancelFlag, Engine, Generation, StopReason};

use crate::cache::{self, SuggestionCache};
use crate::completion::{self, Gathered, Suggestion};
use crate::config::{CompletionConfig, Config};
use crate::flight::{self, Flight, Interest};
pub use crate::metrics::{Metrics, Stage};
use crate::worker::{InferenceWorker, JobError};

/// Keystrokes further apart than this, in milliseconds, are a pause: the request after a pause
/// is never debounced (the user is waiting for it).
pub const TYPING_PAUSE_MS: f64 = 400.0;
/// Weight of the newest sample in the running averages of time between keystrokes and of model
/// latency.
pub const TYPING_AVERAGE_WEIGHT: f64 = 0.3;
/// How often a request that joined an earlier keystroke's generation checks on it.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(2);

/// Why a suggestion is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The user asked (inline completion invoked, or a completion menu).
    Invoked,
    /// Typing: debounced when the model is busy and the user types fast.
    Automatic,
    /// Ahead of time, after an accept: yields to any request of the user's.
    Prefetch,
}

/// A model as the service sees it: loading, ready, or why not.
#[derive(Clone)]
pub enum ModelState {
    NotLoaded,
    Loading,
    Ready(Arc<dyn Engine>),
    Failed(String),
}

/// How the user is typing in a document, for the debounce.
#[derive(Debug, Clone, Copy)]
pub struct Typing {
    /// Milliseconds between the document's last two changes.
    pub last_interval_ms: f64,
    /// Running average of the milliseconds between changes while typing.
    pub typical_interval_ms: f64,
}

/// One request for a suggestion.
pub struct Request<'r> {
    pub gathered: Gathered,
    pub trigger: Trigger,
    pub config: &'r Config,
    /// The model that answers (the main one, or an experiment variant's).
    pub model: Arc<RwLock<ModelState>>,
    /// None when the document's typing is unknown (never debounced then).
    pub typing: Option<Typing>,
}

/// What a request came to.
#[derive(Default)]
pub struct Outcome {
    /// The suggestion to show, if any.
    pub suggested: Option<Suggested>,
    /// The suggested text is now the document's last shown suggestion (to recognise its
    /// acceptance in a later edit), at the request's cursor.
    pub remember_shown: bool,
    /// Where the prompt's window started when the model ran to the end: the document's next
    /// anchor (kept so later prompts share their start), even when the request was superseded.
    pub window_start: Option<usize>,
    /// The answer came from a short prompt because the full one was cold
    /// (`completion.fast_first_answer`): warm the full prompt up for the next keystroke.
    pub grow: bool,
}

/// Why a request got no answer at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuggestError {
    /// The model is not loaded, failed to load, or failed while generating.
    ModelUnavailable(String),
    /// The inference worker is gone or the job panicked.
    Internal(String),
}

/// A suggestion and how it was made (recorded with feedback).
#[derive(Debug, Clone)]
pub struct Suggested {
    pub text: String,
    pub model_id: String,
    pub source: wisp_telemetry::Source,
    pub prompt_tokens: u32,
    pub suggestion_tokens: u32,
    pub context_ms: f64,
    pub queue_ms: f64,
    pub prompt_ms: f64,
    pub decode_ms: f64,
    /// The prompt as the model saw it, when `telemetry.content` is on.
    pub prompt: Option<String>,
    /// How sure the model was of the text (the geometric mean of its tokens' probabilities, 0
    /// to 1); None when it was reused (cache, joined generation).
    pub confidence: Option<f32>,
    /// The document bytes the text replaces; they end at the cursor. Today always the empty
    /// range at the cursor: the pipeline already took off what the user typed.
    pub replace: std::ops::Range<usize>,
}

impl Suggested {
    /// An earlier generation's text answering this request without a model run.
    fn reused(text: String, offset: usize, model_id: &str, source: wisp_telemetry::Source) -> Suggested {
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
            confidence: None,
            replace: offset..offset,
        }
    }
}

/// The service: one per server.
pub struct CompletionService {
    worker: InferenceWorker,
    /// One lock for the whole cache: its capacity and eviction order span all documents.
    cache: Mutex<SuggestionCache>,
    /// Shared with jobs on the model thread that count what they did (code actions).
    pub metrics: Arc<Metrics>,
    /// The latest foreground request of each document and the generation it waits on. Sharded:
    /// requests for different documents do not wait for each other. An entry is never held while
    /// the map is touched again.
    in_flight: DashMap<u64, Latest>,
    /// Cancel flags of warm-ups and prefetches: any request of the user's cancels them.
    background: Mutex<Vec<CancelFlag>>,
    /// Model jobs running now.
    busy: Arc<AtomicUsize>,
    /// Running average of how long a keystroke's model run takes, in milliseconds.
    model_latency_ms: Mutex<f64>,
}

impl Default for CompletionService {
    fn default() -> CompletionService {
        CompletionService {
            worker: InferenceWorker::spawn(),
            cache: Mutex::new(SuggestionCache::new(CompletionConfig::default().cache_entries)),
            metrics: Arc::default(),
            in_flight: DashMap::default(),
            background: Mutex::default(),
            busy: Arc::default(),
            model_latency_ms: Mutex::new(0.0),
        }
    }
}

/// A model run's outcome: the suggestion, the id of the model that made it, and the prompt as
/// text when `telemetry.content` keeps it.
type Generated = (Suggestion, String, Option<String>);

/// What a model run was for, as [`CompletionService::record`] needs it.
struct Run<'r> {
    gathered: &'r Gathered,
    request: &'r CancelFlag,
    /// Milliseconds from queueing the job to its end.
    waited_ms: f64,
    config: &'r Config,
    foreground: bool,
}

impl CompletionService {
    /// The one thread that runs models (model loads go through it too, so that completions
    /// queued after a load wait for it).
    pub fn worker(&self) -> &InferenceWorker {
        &self.worker
    }

    /// After the settings changed: a new model's suggestions must not be answered from the old
    /// one's, and the cache keeps `capacity` of them.
    pub fn configure_cache(&self, capacity: usize, model_changed: bool) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if model_changed {
            cache.clear();
        }
        cache.set_capacity(capacity);
    }

    /// The pipeline for one gathered cursor, in order: reuse an earlier suggestion (cache), join
    /// the generation still running for the previous keystroke, supersede older requests and
    /// debounce, run the model on the worker, then record the result (cache, metrics).
    pub async fn suggest(&self, request: Request<'_>) -> Result<Outcome, SuggestError> {
        let Request { gathered, trigger, config, model: model_state, typing } = request;
        let metrics = &self.metrics;
        let foreground = trigger != Trigger::Prefetch;
        if foreground {
            Metrics::add(&metrics.requests, 1);
        }
        let model_id = match &*model_state.read().unwrap_or_else(|p| p.into_inner()) {
            ModelState::Ready(engine) => engine.model().id.clone(),
            _ => String::new(),
        };
        // Suggestions are reused only under the settings that made them (experiment variants
        // change length limits and sampling, not only the model).
        let reuse_key = reuse_key_of(&model_id, config);
        if config.completion.cache && !model_id.is_empty() {
            if let Some(text) = self.cached(&reuse_key, &gathered, foreground) {
                let suggested =
                    Suggested::reused(text, gathered.offset, &model_id, wisp_telemetry::Source::Cache);
                return Ok(Outcome {
                    suggested: Some(suggested),
                    remember_shown: true,
                    ..Outcome::default()
                });
            }
        }

        // The user's request comes first: background work yields, and the latest request for a
        // document supersedes the one before it. Dropping this future (the client cancelled)
        // cancels it.
        let request = CancelFlag::new();
        let _cancel_on_drop = CancelOnDrop(request.clone());
        if foreground {
            self.cancel_background();
            if let Some(joined) = self.join_running(&request, &reuse_key, &gathered, config).await {
                let suggested = joined.map(|text| {
                    Suggested::reused(text, gathered.offset, &model_id, wisp_telemetry::Source::Joined)
                });
                let remember_shown = suggested.is_some();
                return Ok(Outcome { suggested, remember_shown, ..Outcome::default() });
            }
        }
        if trigger == Trigger::Automatic {
            self.debounce(typing, &config.completion, &request).await;
        }

        let flight = Flight::new(&reuse_key, &gathered);
        let interest = Interest::new(&flight);
        let _release = ReleaseOnDrop(Arc::clone(&interest));
        self.register(gathered.document_key, &request, &flight, &interest, foreground);
        if request.is_cancelled() {
            Metrics::add(&metrics.cancelled, 1);
            return Ok(Outcome::default());
        }

        let queued = std::time::Instant::now();
        let typing_fast = trigger == Trigger::Automatic
            && typing.is_some_and(|typing| typing.last_interval_ms <= TYPING_PAUSE_MS);
        let outcome = self.generate(model_state, &flight, &gathered, config, foreground, typing_fast).await;
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
            self.in_flight.remove_if(&gathered.document_key, |_, latest| latest.request.same_as(&request));
        }
        let finished = match outcome {
            Ok(Ok(finished)) => finished,
            Ok(Err(why)) => return Err(SuggestError::ModelUnavailable(why)),
            Err(job_error) => return Err(SuggestError::Internal(job_error.to_string())),
        };
        let Some(generated) = finished else {
            Metrics::add(&metrics.cancelled, 1);
            return Ok(Outcome::default());
        };
        let run = Run { gathered: &gathered, request: &request, waited_ms, config, foreground };
        Ok(self.record(&run, generated))
    }

    /// Joins the generation still running for the previous keystroke when the characters typed
    /// since agree with it (see `flight`), and makes `request` the document's latest either way.
    /// `Some(answer)` when the joined generation decided this request (its rest after the typed
    /// text, or None when the request was cancelled meanwhile); None when nothing was joined or
    /// the generation went another way.
    async fn join_running(
        &self,
        request: &CancelFlag,
        reuse_key: &str,
        gathered: &Gathered,
        config: &Config,
    ) -> Option<Option<String>> {
        let metrics = &self.metrics;
        let joined = self.supersede(gathered.document_key, request, |latest| {
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
        Some(Some(text))
    }

    /// Makes the new generation findable: by the next keystroke of the same document (to join
    /// it) when `foreground`, else among the background jobs that any user request cancels. A
    /// request superseded meanwhile is cancelled here.
    fn register(
        &self,
        document: u64,
        request: &CancelFlag,
        flight: &Arc<Flight>,
        interest: &Arc<Interest>,
        foreground: bool,
    ) {
        if foreground {
            match self.in_flight.get_mut(&document) {
                Some(mut latest) if latest.request.same_as(request) => {
                    latest.interest = Some(Arc::clone(interest))
                }
                _ => request.cancel(),
            }
        } else {
            self.background.lock().unwrap_or_else(|p| p.into_inner()).push(flight.cancel.clone());
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
        typing_fast: bool,
    ) -> Result<Result<Option<Generated>, String>, JobError> {
        let busy = Arc::clone(&self.busy);
        let job_flight = Arc::clone(flight);
        let mut settings = config.completion.clone();
        if typing_fast {
            settings.time_budget_ms = typing_budget(&settings);
        }
        let job_gathered = gathered.clone();
        let keep_prompt = config.telemetry.content;
        self.worker
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

    /// After a model run: metrics, the typing-latency average and the cache (a finished
    /// suggestion answers its own cursor even when its request was superseded), then the answer
    /// unless the request was cancelled.
    fn record(&self, run: &Run<'_>, generated: Generated) -> Outcome {
        let (suggestion, model_id, prompt) = generated;
        let metrics = &self.metrics;
        let generation = &suggestion.generation;
        Metrics::add(&metrics.generations, 1);
        if run.foreground && generation.stop_reason != StopReason::Cancelled {
            let mut latency = self.model_latency_ms.lock().unwrap_or_else(|p| p.into_inner());
            let run_ms = generation.prompt_ms + generation.decode_ms;
            *latency = *latency * (1.0 - TYPING_AVERAGE_WEIGHT) + run_ms * TYPING_AVERAGE_WEIGHT;
        }
        metrics.observe(Stage::PromptBuild, suggestion.build_ms);
        if generation.n_prompt_evaluated > 0 {
            metrics.observe(Stage::PromptEval, generation.prompt_ms);
        }
        if generation.n_generated > 0 {
            metrics.observe(Stage::Decode, generation.decode_ms);
            metrics.observe(Stage::Filters, suggestion.filters_ms);
        }
        if run.foreground {
            let model_ms =
                suggestion.build_ms + generation.prompt_ms + generation.decode_ms + suggestion.filters_ms;
            metrics.observe(Stage::Queue, (run.waited_ms - model_ms).max(0.0));
        }
        tracing::debug!(
            target: "wisp::completion",
            prompt_build_ms = suggestion.build_ms,
            prompt_tokens = generation.n_prompt_tokens,
            prompt_evaluated = generation.n_prompt_evaluated,
            prompt_eval_ms = generation.prompt_ms,
            generated = generation.n_generated,
            decode_ms = generation.decode_ms,
            filters_ms = suggestion.filters_ms,
            cut_by = ?suggestion.cut_by,
            stop = ?generation.stop_reason,
            foreground = run.foreground,
            "model run"
        );
        Metrics::add(&metrics.prompt_tokens, generation.n_prompt_tokens as u64);
        Metrics::add(&metrics.prompt_tokens_evaluated, generation.n_prompt_evaluated as u64);
        Metrics::add(&metrics.generated_tokens, generation.n_generated as u64);
        if !run.foreground {
            Metrics::add(&metrics.prefetches, 1);
        }
        if generation.stop_reason == StopReason::Cancelled {
            Metrics::add(&metrics.cancelled, 1);
            return Outcome::default();
        }
        let gathered = run.gathered;
        let window_start = Some(suggestion.window_start);
        let grow = suggestion.first_answer;
        metrics.filtered(
            &suggestion.cut_by,
            suggestion.text.is_empty() && !suggestion.unfiltered.trim().is_empty(),
        );
        if run.config.completion.cache && !suggestion.text.is_empty() {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
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
            return Outcome { window_start, grow, ..Outcome::default() };
        }
        if suggestion.text.is_empty() {
            return Outcome { window_start, grow, ..Outcome::default() };
        }
        if run.foreground {
            Metrics::add(&metrics.suggestions, 1);
        }
        let generation = &suggestion.generation;
        let suggested = Suggested {
            model_id,
            source: wisp_telemetry::Source::Model,
            prompt_tokens: generation.n_prompt_tokens as u32,
            suggestion_tokens: generation.n_generated as u32,
            prompt_ms: generation.prompt_ms,
            decode_ms: generation.decode_ms,
            queue_ms: (run.waited_ms - generation.prompt_ms - generation.decode_ms).max(0.0),
            prompt,
            context_ms: 0.0,
            replace: gathered.offset..gathered.offset,
            confidence: suggestion.confidence.map(|confidence| confidence.mean),
            text: suggestion.text,
        };
        Outcome { suggested: Some(suggested), remember_shown: run.foreground, window_start, grow }
    }

    /// Makes `request` the latest for the document, superseding the one before it. `join` sees
    /// the previous request's entry first and may claim its generation.
    fn supersede<T>(
        &self,
        document: u64,
        request: &CancelFlag,
        join: impl FnOnce(&Latest) -> Option<(Arc<Interest>, T)>,
    ) -> Option<(Arc<Interest>, T)> {
        // The entry stays locked from reading the previous request to inserting this one, so two
        // keystrokes of one document cannot both take the previous generation.
        let (joined, previous) = match self.in_flight.entry(document) {
            Entry::Occupied(mut entry) => {
                let joined = join(entry.get());
                let latest = Latest {
                    request: request.clone(),
                    interest: joined.as_ref().map(|(interest, _)| Arc::clone(interest)),
                };
                (joined, Some(entry.insert(latest)))
            }
            Entry::Vacant(entry) => {
                entry.insert(Latest { request: request.clone(), interest: None });
                (None, None)
            }
        };
        if let Some(previous) = previous {
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

    /// An earlier suggestion of `model_id` that still answers this request.
    fn cached(&self, model_id: &str, gathered: &Gathered, foreground: bool) -> Option<String> {
        let hit = self.cache.lock().unwrap_or_else(|p| p.into_inner()).lookup(
            model_id,
            gathered.document_key,
            &gathered.prefix,
            &gathered.suffix,
        )?;
        let metrics = &self.metrics;
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
    async fn debounce(&self, typing: Option<Typing>, settings: &CompletionConfig, cancel: &CancelFlag) {
        if settings.debounce_max_ms == 0 || self.busy.load(Ordering::Acquire) == 0 {
            return;
        }
        let Some(typing) = typing else { return };
        let typical_latency = *self.model_latency_ms.lock().unwrap_or_else(|p| p.into_inner());
        if typing.last_interval_ms > TYPING_PAUSE_MS || typing.typical_interval_ms > typical_latency {
            // A pause, or the model usually answers before the next keystroke: waiting only adds
            // to what the user sees.
            return;
        }
        let wait_ms = (typing.typical_interval_ms * 1.5).min(settings.debounce_max_ms as f64);
        let started = std::time::Instant::now();
        while started.elapsed().as_secs_f64() * 1e3 < wait_ms && !cancel.is_cancelled() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Metrics::add(&self.metrics.debounce_ms, started.elapsed().as_millis() as u64);
        self.metrics.observe(Stage::Debounce, started.elapsed().as_secs_f64() * 1e3);
    }

    /// Cancels warm-ups and prefetches: a request of the user's comes first.
    pub fn cancel_background(&self) {
        for cancel in self.background.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            cancel.cancel();
        }
    }

    /// Evaluates the prompt for `gathered` without generating, so the next real request at or
    /// after it finds the prompt in the KV cache. Gives way to any request of the user's.
    pub async fn warm_up(
        &self,
        gathered: Gathered,
        settings: &CompletionConfig,
        model: Arc<RwLock<ModelState>>,
    ) {
        let cancel = CancelFlag::new();
        self.background.lock().unwrap_or_else(|p| p.into_inner()).push(cancel.clone());
        let busy = Arc::clone(&self.busy);
        let settings = settings.clone();
        let outcome = self
            .worker
            .run(move || -> Result<Option<Generation>, String> {
                let engine = ready_engine(&model)?;
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
            Metrics::add(&self.metrics.warm_ups, 1);
            Metrics::add(&self.metrics.warm_up_tokens, generation.n_prompt_evaluated as u64);
        }
    }

    /// The client cancelled the document's request in flight, or closed the document.
    pub fn abort(&self, document: u64) {
        if let Some((_, latest)) = self.in_flight.remove(&document) {
            latest.abort();
        }
    }

    /// Cancels every request and background job (shutdown, exit).
    pub fn abort_all(&self) {
        let documents: Vec<u64> = self.in_flight.iter().map(|entry| *entry.key()).collect();
        for document in documents {
            self.abort(document);
        }
        self.cancel_background();
    }

    /// Stops all model work before the process exits and waits for the worker to end (a job
    /// stops within one small batch). False when it was still busy after `limit`.
    pub fn stop(&self, limit: std::time::Duration) -> bool {
        self.abort_all();
        self.worker.stop(limit)
    }
}

/// The time budget of a keystroke typed while typing: `typing_budget_ms` when it is the tighter
/// one (0, no budget, is the loosest).
fn typing_budget(settings: &CompletionConfig) -> u64 {
    match (settings.time_budget_ms, settings.typing_budget_ms) {
        (budget, 0) | (0, budget) => budget,
        (budget, typing) => budget.min(typing),
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

/// The loaded engine, or why there is none. Called on the worker, after any queued load.
pub fn ready_engine(model_state: &RwLock<ModelState>) -> Result<Arc<dyn Engine>, String> {
    match &*model_state.read().unwrap_or_else(|p| p.into_inner()) {
        ModelState::Ready(engine) => Ok(Arc::clone(engine)),
        ModelState::Failed(why) => Err(why.clone()),
        ModelState::Loading | ModelState::NotLoaded => {
            Err("the model is not loaded yet — the client must send \"initialized\"".into())
        }
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

struct CancelOnDrop(CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_typing_budget_is_the_tighter_of_the_two_and_zero_is_none() {
        let with = |time_budget_ms, typing_budget_ms| {
            typing_budget(&CompletionConfig {
                time_budget_ms,
                typing_budget_ms,
                ..CompletionConfig::default()
            })
        };
        assert_eq!(with(2000, 300), 300);
        assert_eq!(with(200, 300), 200);
        assert_eq!(with(2000, 0), 2000);
        assert_eq!(with(0, 300), 300);
        assert_eq!(with(0, 0), 0);
    }
}
