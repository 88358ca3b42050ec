//! An engine on an inference service a team already runs: llama-server, vLLM, TGI, Ollama or
//! anything else with an OpenAI-compatible `POST /v1/completions`, or llama-server's own
//! `POST /completion` (which keeps a prompt cache per slot).
//!
//! What leaves the machine is redacted first (the caller's redaction rules). Requests stream, so a
//! stop rule or a cancelled request closes the connection and the server stops generating. Failed
//! requests are retried with jittered backoff while nothing has been shown yet; after
//! [`RemoteOptions::breaker_failures`] failures in a row the circuit opens and requests fail at
//! once, saying when the next try is, until one succeeds. At most
//! [`RemoteOptions::max_concurrent`] requests are in flight.
//!
//! Prompts are token ids when Wisp has the served model's vocabulary (a GGUF file of the same
//! model, [`RemoteOptions::vocabulary`]): counts are exact, fill-in-the-middle tokens are ids and
//! code cannot spell a control token. Without it prompts are plain text, budgets are counted by the
//! server's `/tokenize` (cached), or estimated when it has none, and the model gets plain prompts.

mod http;
mod resilience;
mod wire;

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use http::{Endpoint, HttpError, Scheme};
use resilience::{jittered, sleep_unless_cancelled, Breaker, Limit, RETRY_BASE};
pub use wire::RemoteApi;
use wire::{infill_of, Event, Infill, WirePrompt};

use crate::{
    CancelFlag, ChatMessage, Engine, EngineError, GenerateRequest, Generation, ModelInfo, Piece, Prompt,
    PromptPart, StopReason, Stopper, TokenScore,
};

/// Rewrites text before it leaves the machine (secrets and personal data redacted).
pub type Redactor = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// How to reach the service and how patient to be with it.
#[derive(Clone)]
pub struct RemoteOptions {
    /// `http(s)://host:port[/base]`.
    pub url: String,
    /// The API; None asks the server (`GET /props` answers only on llama-server).
    pub api: Option<RemoteApi>,
    /// The model name the server expects in requests (`"model"`); None sends none.
    pub model: Option<String>,
    /// Bearer token; never logged.
    pub token: Option<String>,
    /// Plain HTTP to a host other than this machine (otherwise refused: prompts hold code).
    pub allow_http: bool,
    /// A PEM file of CA certificates trusted besides the web's (a team's own CA).
    pub ca_file: Option<PathBuf>,
    /// A GGUF file of the served model, for its vocabulary only (no weights are loaded).
    pub vocabulary: Option<PathBuf>,
    /// The served model's context window (tokens).
    pub n_ctx: usize,
    pub connect_timeout: Duration,
    /// Longest silence from the server before a request fails.
    pub stall_timeout: Duration,
    /// Tries after the first for a request that failed before anything was shown.
    pub retries: u32,
    pub max_concurrent: usize,
    /// Failures in a row that open the circuit.
    pub breaker_failures: u32,
    /// How long the circuit stays open first (doubling while it keeps failing, up to a minute).
    pub breaker_cooldown: Duration,
}

impl std::fmt::Debug for RemoteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteOptions")
            .field("url", &self.url)
            .field("api", &self.api)
            .field("model", &self.model)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("allow_http", &self.allow_http)
            .field("vocabulary", &self.vocabulary)
            .finish_non_exhaustive()
    }
}

impl RemoteOptions {
    pub fn new(url: impl Into<String>) -> RemoteOptions {
        RemoteOptions {
            url: url.into(),
            api: None,
            model: None,
            token: None,
            allow_http: false,
            ca_file: None,
            vocabulary: None,
            n_ctx: 4096,
            connect_timeout: Duration::from_secs(2),
            stall_timeout: Duration::from_secs(10),
            retries: 2,
            max_concurrent: 4,
            breaker_failures: 3,
            breaker_cooldown: Duration::from_secs(5),
        }
    }
}

/// Counts kept before the memo starts over (`/tokenize` answers cost a round trip each).
const TOKEN_CACHE_ENTRIES: usize = 50_000;
/// Largest error body read.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// An engine whose model runs on another server.
pub struct RemoteEngine {
    info: ModelInfo,
    options: RemoteOptions,
    endpoint: Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
    api: Mutex<Option<RemoteApi>>,
    vocabulary: Option<crate::llama::VocabularyOnly>,
    redact: Redactor,
    breaker: Breaker,
    limit: Limit,
    /// Counts of texts (from the vocabulary or `/tokenize`).
    token_counts: crate::CountMemo,
    /// Whether `/tokenize` answered (None: not asked yet).
    server_tokenizes: Mutex<Option<bool>>,
    /// What is known once the server has answered: its API in the device line, and whether it
    /// lays out fill-in-the-middle itself. Until then (it was down when Wisp started), `info`.
    answered: OnceLock<ModelInfo>,
    /// Why the server did not answer when the engine was prepared; cleared once it does.
    unreachable: Mutex<Option<String>>,
}

impl std::fmt::Debug for RemoteEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEngine").field("info", &self.info).field("options", &self.options).finish()
    }
}

/// Why a request failed, and whether trying again may help.
struct Failure {
    error: EngineError,
    /// The server's fault (unreachable, 5xx, garbage): counts toward the breaker, may be retried.
    server: bool,
    /// Pieces were already handed out: a retry would repeat them.
    delivered: bool,
}

impl RemoteEngine {
    /// Checks the options and prepares the connection; does not need the server to be up (the
    /// first request finds out, and the status says so).
    pub fn connect(options: RemoteOptions, redact: Redactor) -> Result<RemoteEngine, EngineError> {
        let config = |why: String| EngineError::RemoteConfig { why };
        let endpoint = Endpoint::parse(&options.url).map_err(config)?;
        if endpoint.scheme == Scheme::Http && !endpoint.is_loopback() && !options.allow_http {
            return Err(config(format!(
                "{} is plain HTTP to another machine: prompts hold your code — use https://, or set \"model.remote.allow_http = true\" if the network is trusted",
                endpoint.display()
            )));
        }
        let tls = if endpoint.scheme == Scheme::Https {
            let pem = match &options.ca_file {
                Some(path) => Some(std::fs::read(path).map_err(|error| {
                    config(format!("reading model.remote.ca_file {}: {error}", path.display()))
                })?),
                None => None,
            };
            Some(http::tls_config(pem.as_deref()).map_err(config)?)
        } else {
            None
        };
        let vocabulary = match &options.vocabulary {
            Some(path) => Some(crate::llama::VocabularyOnly::load(path)?),
            None => None,
        };
        let id = options.model.clone().unwrap_or_else(|| format!("remote model at {}", endpoint.display()));
        let info = ModelInfo {
            id,
            path: PathBuf::from(endpoint.display()),
            n_ctx: options.n_ctx,
            fim: vocabulary.as_ref().and_then(|vocabulary| vocabulary.fim),
            file_separator: vocabulary.as_ref().and_then(|vocabulary| vocabulary.file_separator),
            fim_suffix_first: vocabulary.as_ref().is_some_and(|vocabulary| vocabulary.fim_suffix_first),
            fim_by_server: false,
            device: format!("{} backend at {}", api_name(options.api), endpoint.display()),
        };
        let breaker = Breaker::new(options.breaker_failures, options.breaker_cooldown, endpoint.display());
        let mut engine = RemoteEngine {
            info,
            api: Mutex::new(options.api),
            options,
            endpoint,
            tls,
            vocabulary,
            redact,
            breaker,
            limit: Limit::default(),
            token_counts: crate::CountMemo::new(TOKEN_CACHE_ENTRIES),
            server_tokenizes: Mutex::new(None),
            answered: OnceLock::new(),
            unreachable: Mutex::new(None),
        };
        match engine.api(&CancelFlag::new()) {
            Ok(api) => {
                let info = engine.learn(api);
                let _ = engine.answered.set(info);
            }
            Err(failure) => {
                *engine.unreachable.get_mut().unwrap_or_else(|p| p.into_inner()) =
                    Some(failure.error.to_string())
            }
        }
        Ok(engine)
    }

    /// The model as the answering server shows it: its API named in the device line, and
    /// fill-in-the-middle through llama-server's /infill when Wisp has no vocabulary to write the
    /// model's FIM tokens itself and the server's model has them.
    fn learn(&self, api: RemoteApi) -> ModelInfo {
        let mut info = self.info.clone();
        info.device = format!("{} backend at {}", api_name(Some(api)), self.endpoint.display());
        info.fim_by_server =
            api == RemoteApi::LlamaServer && self.vocabulary.is_none() && self.serves_infill();
        info
    }

    /// After a request succeeded: a server that was down when Wisp started is learnt now, and
    /// its first warning is over.
    fn note_answered(&self) {
        if self.answered.get().is_none() {
            if let Some(api) = *self.api.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) {
                let _ = self.answered.set(self.learn(api));
            }
        }
        self.unreachable.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("Content-Type", "application/json".to_owned())];
        if let Some(token) = &self.options.token {
            headers.push(("Authorization", format!("Bearer {token}")));
        }
        headers
    }

    fn limits<'a>(&self, cancelled: &'a dyn Fn() -> bool) -> http::Limits<'a> {
        http::Limits { connect: self.options.connect_timeout, stall: self.options.stall_timeout, cancelled }
    }

    /// The API, asking the server the first time: llama-server answers `GET /props`.
    fn api(&self, cancel: &CancelFlag) -> Result<RemoteApi, Failure> {
        if let Some(api) = *self.api.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            return Ok(api);
        }
        let cancelled = || cancel.is_cancelled();
        let limits = self.limits(&cancelled);
        let mut response =
            http::request(&self.endpoint, self.tls.as_ref(), "GET", "/props", &self.headers(), None, &limits)
                .map_err(|error| self.transport_failure(error, false))?;
        let api = if response.status == 200 { RemoteApi::LlamaServer } else { RemoteApi::Openai };
        let _ = response.read_all(MAX_ERROR_BODY, &limits);
        tracing::info!("backend {} speaks the {api:?} API", self.endpoint.display());
        *self.api.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(api);
        Ok(api)
    }

    /// Whether llama-server's `/infill` takes requests: it refuses them (501) for a model
    /// without fill-in-the-middle tokens. Asked once, with an empty infill of one token.
    fn serves_infill(&self) -> bool {
        let never = || false;
        let limits = self.limits(&never);
        let probe = WirePrompt::Infill(Infill::default());
        let body = wire::completion_body(
            RemoteApi::LlamaServer,
            self.options.model.as_deref(),
            &probe,
            1,
            &[],
            crate::Sampling::GREEDY,
        );
        let mut body = body;
        body["stream"] = serde_json::json!(false);
        let body = serde_json::to_vec(&body).expect("a JSON value serializes");
        let Ok(mut response) = http::request(
            &self.endpoint,
            self.tls.as_ref(),
            "POST",
            "/infill",
            &self.headers(),
            Some(&body),
            &limits,
        ) else {
            return false;
        };
        let _ = response.read_all(MAX_ERROR_BODY, &limits);
        let serves = response.status == 200;
        tracing::info!(
            "backend {}: {}",
            self.endpoint.display(),
            if serves {
                "fill-in-the-middle through /infill"
            } else {
                "no /infill for this model: prompts end at the cursor (set model.remote.vocabulary for FIM token ids)"
            }
        );
        serves
    }

    fn transport_failure(&self, error: HttpError, delivered: bool) -> Failure {
        let server = !matches!(error, HttpError::Cancelled);
        let error = match error {
            HttpError::Cancelled => EngineError::Remote { why: "cancelled".into() },
            HttpError::Timeout(after) => EngineError::Remote {
                why: format!(
                    "the backend at {} sent nothing for {:.0} s — is it overloaded? (model.remote.timeout_ms)",
                    self.endpoint.display(),
                    after.as_secs_f64()
                ),
            },
            HttpError::Connect(what) => EngineError::Remote {
                why: format!("cannot reach the backend at {what} — is it running? (model.remote.url)"),
            },
            HttpError::Tls { host, why } => EngineError::Remote {
                why: format!("TLS with {host} failed: {why} — check the certificate, or model.remote.ca_file"),
            },
            other => EngineError::Remote { why: format!("the backend at {}: {other}", self.endpoint.display()) },
        };
        Failure { error, server, delivered }
    }

    fn status_failure(&self, status: u16, body: &str) -> Failure {
        let message = wire::error_message(body);
        let fix = match status {
            401 | 403 => " — check model.remote.token (or the WISP_BACKEND_TOKEN environment variable)",
            404 => " — check model.remote.url and model.remote.api (is this an OpenAI-compatible server?)",
            400 | 422 => " — check model.remote.name and the model's context size (model.n_ctx)",
            _ => "",
        };
        Failure {
            error: EngineError::Remote {
                why: format!(
                    "the backend at {} answered HTTP {status}: {message}{fix}",
                    self.endpoint.display()
                ),
            },
            server: status >= 500 || status == 429,
            delivered: false,
        }
    }

    /// The prompt as sent (redacted), with the typed part of a word put back at its end: the
    /// server cannot constrain its first tokens, so it continues after the word.
    fn wire_prompt(&self, prompt: &Prompt, healing: &str) -> Result<(WirePrompt, usize), EngineError> {
        let mut parts: Vec<PromptPart> = prompt
            .parts
            .iter()
            .map(|part| match part {
                PromptPart::Text(text) => PromptPart::Text((self.redact)(text)),
                other => other.clone(),
            })
            .collect();
        if self.model().fim_by_server && self.vocabulary.is_none() {
            if let Some(infill) = infill_of(&parts, healing) {
                // The server adds the FIM tokens and a file separator (with its path) per file.
                let n_special = 3 + 2 * infill.files.len();
                let n = infill
                    .files
                    .iter()
                    .map(|(path, code)| self.count_tokens(path) + self.count_tokens(code))
                    .sum::<usize>()
                    + self.count_tokens(&infill.prefix)
                    + self.count_tokens(&infill.suffix)
                    + n_special;
                return Ok((WirePrompt::Infill(infill), n));
            }
        }
        if !healing.is_empty() {
            match parts.last_mut() {
                Some(PromptPart::Text(text)) => text.push_str(healing),
                _ => parts.push(PromptPart::Text(healing.to_owned())),
            }
        }
        let prompt = Prompt { parts };
        match &self.vocabulary {
            Some(vocabulary) => {
                let tokens = vocabulary.tokenize(&prompt)?;
                let n = tokens.len();
                Ok((WirePrompt::Tokens(tokens), n))
            }
            None => {
                let mut text = String::new();
                for part in &prompt.parts {
                    match part {
                        PromptPart::Text(part) | PromptPart::Template(part) => text.push_str(part),
                        PromptPart::Special(token) => {
                            return Err(EngineError::MissingSpecialToken { token: *token });
                        }
                    }
                }
                let n = self.count_tokens(&text);
                Ok((WirePrompt::Text(text), n))
            }
        }
    }

    fn stream(
        &self,
        api: RemoteApi,
        request: &GenerateRequest,
        prompt: &WirePrompt,
        n_prompt: usize,
        on_piece: &mut dyn FnMut(&Piece) -> ControlFlow<()>,
    ) -> Result<Generation, Failure> {
        let started = Instant::now();
        // No stop strings for the server: it would drop them from the text, and the stop rule
        // needs to see where a line ends. The rule cuts here and closing the connection stops the
        // server within a token.
        let stop: [&str; 0] = [];
        let body = wire::completion_body(
            api,
            self.options.model.as_deref(),
            prompt,
            request.max_tokens,
            &stop,
            request.sampling,
        );
        let path = prompt.path(api);
        let cancelled = || request.cancel.is_cancelled();
        let limits = self.limits(&cancelled);
        let body = serde_json::to_vec(&body).expect("a JSON value serializes");
        let mut response = http::request(
            &self.endpoint,
            self.tls.as_ref(),
            "POST",
            path,
            &self.headers(),
            Some(&body),
            &limits,
        )
        .map_err(|error| self.transport_failure(error, false))?;
        if response.status != 200 {
            let body = response.read_all(MAX_ERROR_BODY, &limits).unwrap_or_default();
            return Err(self.status_failure(response.status, &String::from_utf8_lossy(&body)));
        }
        let prompt_ms = started.elapsed().as_secs_f64() * 1e3;
        let mut output = Output {
            stopper: Stopper::new(request.stop),
            token_scores: Vec::new(),
            emitted: 0,
            n_generated: 0,
            logprob_sum: 0.0,
        };
        let mut n_prompt_evaluated = None;
        let mut stop_reason = None;
        let mut over_budget = false;
        let mut first = true;
        if !request.healing.is_empty() {
            // The typed part of the word, spelled first as the local engine's healing does.
            stop_reason = output.push(request.healing.clone(), &[], 0, false, on_piece);
        }
        while stop_reason.is_none() {
            let line = match response.read_line(&limits) {
                Ok(Some(line)) => line,
                Ok(None) if first => {
                    return Err(Failure {
                        error: EngineError::Remote {
                            why: format!(
                                "the backend at {} closed the answer without any event",
                                self.endpoint.display()
                            ),
                        },
                        server: true,
                        delivered: false,
                    });
                }
                Ok(None) => {
                    stop_reason = Some(StopReason::EndOfGeneration);
                    break;
                }
                Err(HttpError::Cancelled) => {
                    stop_reason = Some(StopReason::Cancelled);
                    break;
                }
                Err(error) => return Err(self.transport_failure(error, !first)),
            };
            let event = match wire::parse_event(api, &line) {
                Ok(Some(event)) => event,
                Ok(None) => continue,
                Err(why) => {
                    return Err(Failure {
                        error: EngineError::Remote {
                            why: format!("the backend at {}: {why}", self.endpoint.display()),
                        },
                        server: true,
                        delivered: !first,
                    })
                }
            };
            first = false;
            let Event { text, logprobs, done, prompt_evaluated, .. } = event;
            n_prompt_evaluated = prompt_evaluated.or(n_prompt_evaluated);
            if !text.is_empty() {
                let tokens = logprobs.len().max(1) as u32;
                stop_reason = output.push(text, &logprobs, tokens, over_budget, on_piece);
            }
            if stop_reason.is_some() {
                break;
            }
            if done {
                let max_tokens = output.n_generated >= request.max_tokens;
                stop_reason =
                    Some(if max_tokens { StopReason::MaxTokens } else { StopReason::EndOfGeneration });
                break;
            }
            if !over_budget && request.time_budget.is_some_and(|budget| started.elapsed() > budget) {
                over_budget = true;
                output.stopper.stop_at_next_newline();
            }
            if request.cancel.is_cancelled() {
                stop_reason = Some(StopReason::Cancelled);
            }
        }
        drop(response);
        let stop_reason = stop_reason.unwrap_or(StopReason::EndOfGeneration);
        let Output { stopper, token_scores, n_generated, logprob_sum, .. } = output;
        let text = if stop_reason == StopReason::Cancelled { String::new() } else { stopper.finish() };
        Ok(Generation {
            text,
            stop_reason,
            n_prompt_tokens: n_prompt,
            n_prompt_evaluated: n_prompt_evaluated.unwrap_or(n_prompt),
            n_generated,
            n_draft_accepted: 0,
            n_guided: 0,
            guide_ms: 0.0,
            prompt_ms,
            decode_ms: started.elapsed().as_secs_f64() * 1e3 - prompt_ms,
            mean_logprob: if n_generated == 0 { 0.0 } else { logprob_sum / n_generated as f32 },
            token_scores,
        })
    }

    /// Token count from the server's `/tokenize`; None when it has none.
    fn server_count(&self, text: &str) -> Option<usize> {
        if *self.server_tokenizes.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) == Some(false) {
            return None;
        }
        let never = || false;
        let limits = self.limits(&never);
        let body = serde_json::to_vec(&wire::tokenize_body(self.options.model.as_deref(), text)).ok()?;
        let answer = http::request(
            &self.endpoint,
            self.tls.as_ref(),
            "POST",
            "/tokenize",
            &self.headers(),
            Some(&body),
            &limits,
        )
        .ok()
        .and_then(|mut response| {
            let status = response.status;
            let body = response.read_all(16 * 1024 * 1024, &limits).ok()?;
            Some((status, body))
        });
        match answer {
            Some((200, body)) => {
                let count = wire::tokenize_count(&body);
                *self.server_tokenizes.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
                    Some(count.is_some());
                count
            }
            Some((404 | 405 | 501, _)) => {
                tracing::info!(
                    "backend {} has no /tokenize: prompt budgets are estimated (set model.remote.vocabulary for exact counts)",
                    self.endpoint.display()
                );
                *self.server_tokenizes.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(false);
                None
            }
            // Down or failing: estimate this time, ask again next time.
            _ => None,
        }
    }
}

/// How the status names a backend speaking `api`.
fn api_name(api: Option<RemoteApi>) -> &'static str {
    match api {
        Some(RemoteApi::LlamaServer) => "llama-server",
        Some(RemoteApi::Openai) => "OpenAI-compatible",
        None => "remote",
    }
}

/// The text streamed so far, cut by the stop rule, with each piece's score.
struct Output {
    stopper: Stopper,
    token_scores: Vec<TokenScore>,
    emitted: usize,
    n_generated: usize,
    logprob_sum: f32,
}

impl Output {
    /// Hands a piece out; the stop reason when the stop rule or the callback ends the text.
    fn push(
        &mut self,
        text: String,
        logprobs: &[f32],
        tokens: u32,
        over_budget: bool,
        on_piece: &mut dyn FnMut(&Piece) -> ControlFlow<()>,
    ) -> Option<StopReason> {
        let logprob: f32 = logprobs.iter().sum();
        self.n_generated += tokens as usize;
        self.logprob_sum += logprob;
        self.emitted += text.len();
        self.token_scores.push(TokenScore { end: self.emitted, logprob, tokens });
        let piece = Piece { text, logprob };
        let mut stop_reason = None;
        if self.stopper.push(&piece.text).is_break() {
            stop_reason = Some(if over_budget { StopReason::TimeBudget } else { StopReason::StopRule });
        }
        if on_piece(&piece).is_break() && stop_reason.is_none() {
            stop_reason = Some(StopReason::Callback);
        }
        stop_reason
    }
}

/// A conservative estimate of a text's tokens without a tokenizer: code averages 3–4 bytes a
/// token in the vocabularies of code models; 3 keeps prompts inside their budget.
fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(3)
}

impl Engine for RemoteEngine {
    fn model(&self) -> &ModelInfo {
        self.answered.get().unwrap_or(&self.info)
    }

    fn count_tokens(&self, text: &str) -> usize {
        if text.is_empty() {
            return 0;
        }
        if let Some(vocabulary) = &self.vocabulary {
            return self.token_counts.count(text, |text| vocabulary.count(text));
        }
        self.token_counts
            .try_count(text, |text| self.server_count(&(self.redact)(text)))
            .unwrap_or_else(|| estimate_tokens(text))
    }

    fn generate(
        &self,
        request: &GenerateRequest,
        on_piece: &mut dyn FnMut(&Piece) -> ControlFlow<()>,
    ) -> Result<Generation, EngineError> {
        let (prompt, n_prompt) = self.wire_prompt(&request.prompt, &request.healing)?;
        if n_prompt + 1 >= self.info.n_ctx {
            return Err(EngineError::PromptTooLong { n_prompt, n_ctx: self.info.n_ctx });
        }
        let nothing = |stop_reason| Generation::empty(stop_reason, n_prompt);
        if request.max_tokens == 0 {
            // A warm-up: the server keeps its own cache.
            return Ok(nothing(StopReason::MaxTokens));
        }
        let Some(_permit) = self.limit.acquire(self.options.max_concurrent, &request.cancel) else {
            return Ok(nothing(StopReason::Cancelled));
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64)
            ^ request.cache_key;
        let mut attempt = 0u32;
        loop {
            self.breaker.check().map_err(|why| EngineError::Remote { why })?;
            let result = self
                .api(&request.cancel)
                .and_then(|api| self.stream(api, request, &prompt, n_prompt, on_piece));
            match result {
                Ok(generation) => {
                    self.breaker.record(true);
                    self.note_answered();
                    return Ok(generation);
                }
                Err(failure) if request.cancel.is_cancelled() => {
                    tracing::debug!("remote request cancelled: {}", failure.error);
                    return Ok(nothing(StopReason::Cancelled));
                }
                Err(failure) => {
                    if failure.server {
                        self.breaker.record(false);
                    }
                    let retry = failure.server && !failure.delivered && attempt < self.options.retries;
                    tracing::warn!("{}{}", failure.error, if retry { " (trying again)" } else { "" });
                    if !retry {
                        return Err(failure.error);
                    }
                    attempt += 1;
                    let delay =
                        jittered(RETRY_BASE * 2u32.pow(attempt - 1), seed.wrapping_add(attempt as u64));
                    if !sleep_unless_cancelled(delay, &request.cancel) {
                        return Ok(nothing(StopReason::Cancelled));
                    }
                }
            }
        }
    }

    fn chat_prompt(&self, messages: &[ChatMessage]) -> Option<Prompt> {
        self.vocabulary.as_ref()?.chat_prompt(messages)
    }

    fn warning(&self) -> Option<String> {
        self.unreachable.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(url: &str) -> Result<RemoteEngine, EngineError> {
        RemoteEngine::connect(RemoteOptions::new(url), Arc::new(|text: &str| text.to_owned()))
    }

    #[test]
    fn plain_http_to_another_host_is_refused_unless_allowed() {
        let error = engine("http://10.1.2.3:8080").unwrap_err().to_string();
        assert!(error.contains("https://") && error.contains("model.remote.allow_http"), "{error}");
        assert!(engine("http://127.0.0.1:8080").is_ok());
        let mut options = RemoteOptions::new("http://10.1.2.3:8080");
        options.allow_http = true;
        assert!(RemoteEngine::connect(options, Arc::new(|text: &str| text.to_owned())).is_ok());
        assert!(engine("https://gpu.example.com").is_ok());
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let mut options = RemoteOptions::new("http://127.0.0.1:1");
        options.token = Some("sk-very-secret".into());
        let engine = RemoteEngine::connect(options, Arc::new(|text: &str| text.to_owned())).unwrap();
        assert!(!format!("{engine:?}").contains("sk-very-secret"));
    }
}
