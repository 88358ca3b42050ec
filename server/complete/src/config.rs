//! Configuration: defaults, then `wisp.toml` in the workspace root, then the client's
//! `initializationOptions`, then `workspace/didChangeConfiguration`, each layer overriding keys of
//! the ones before. Unknown keys are rejected with their full path, so a typo never silently does
//! nothing.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wisp_engine::{LlamaOptions, SplitMode};

/// Highest accepted sampling temperature: past 2 code turns to noise.
pub const MAX_TEMPERATURE: f32 = 2.0;

/// File read from the workspace root, if present.
pub const CONFIG_FILE_NAME: &str = "wisp.toml";

/// Wisp's settings: `wisp.toml`, the client's `initializationOptions` and
/// `workspace/didChangeConfiguration` all take this tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub model: ModelConfig,
    pub completion: CompletionConfig,
    pub context: ContextConfig,
    pub telemetry: TelemetryConfig,
    pub experiment: ExperimentConfig,
    pub actions: ActionsConfig,
    pub metrics: MetricsConfig,
}

/// `metrics.addr` checked: a socket address on loopback (the figures describe what the user is
/// doing; a scraper elsewhere reaches them through the machine's own agent).
pub fn metrics_addr(addr: &str) -> Result<std::net::SocketAddr, String> {
    let parsed: std::net::SocketAddr = addr.parse().map_err(|_| {
        format!("\"metrics.addr\" is {addr:?}: give an address and port such as \"127.0.0.1:9464\"")
    })?;
    if !parsed.ip().is_loopback() {
        return Err(format!(
            "\"metrics.addr\" is {addr:?}: the metrics endpoint listens on loopback only (127.0.0.1 or [::1])"
        ));
    }
    Ok(parsed)
}

/// Observability: the opt-in Prometheus endpoint. (Logs: `WISP_LOG`, `WISP_LOG_FORMAT=json`,
/// `WISP_LOG_FILE`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// A loopback address (`127.0.0.1:9464`) where `GET /metrics` serves Prometheus' text format;
    /// unset: no endpoint. Read when the server starts.
    pub addr: Option<String>,
}

/// Code actions (the editor's light bulb): each can be turned off. Their edits are computed when
/// chosen, checked with the language's parser, and never applied broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ActionsConfig {
    /// "Complete the body of <function>", inside a function.
    pub complete_body: bool,
    /// "Document <name>", on the first line of a function or type without documentation.
    pub document: bool,
    /// "Write tests for <function>", on the first line of a function.
    pub tests: bool,
    /// "Fix: <diagnostic>", for each diagnostic the editor sends at the cursor.
    pub fix: bool,
    /// "Explain the selection", as a comment above it.
    pub explain: bool,
    /// Tokens the model may write for one action.
    pub max_tokens: usize,
}

impl Default for ActionsConfig {
    fn default() -> ActionsConfig {
        ActionsConfig {
            complete_body: true,
            document: true,
            tests: true,
            fix: true,
            explain: true,
            max_tokens: 256,
        }
    }
}

/// What Wisp records about its suggestions, on this machine only (`wisp stats`, `wisp dataset
/// export`). Nothing is recorded until `events` is turned on, and nothing ever leaves the
/// machine except by an export the user runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Record what happens to each suggestion (shown, accepted, partly accepted, dismissed, kept
    /// after an accept) with its model, variant, language, latency and lengths — no code.
    pub events: bool,
    /// Also keep the prompt and suggestion text, after redaction (secrets and personal data
    /// replaced), for `wisp dataset export`. Needs `events`.
    pub content: bool,
    /// The database file (default: `feedback.sqlite3` in `$WISP_DATA_DIR`, else
    /// `~/.local/share/wisp`).
    pub path: Option<PathBuf>,
    /// Days of history kept.
    pub retention_days: u32,
    /// Size bound of the database in MiB; the oldest records go first.
    pub max_megabytes: u64,
    /// Seconds after an accept at which the share of the accepted text still in the document
    /// is measured.
    pub survival_after_s: Vec<u32>,
}

impl Default for TelemetryConfig {
    fn default() -> TelemetryConfig {
        let retention = wisp_telemetry::Retention::default();
        TelemetryConfig {
            events: false,
            content: false,
            path: None,
            retention_days: retention.max_days,
            max_megabytes: retention.max_bytes >> 20,
            survival_after_s: vec![30, 120],
        }
    }
}

impl TelemetryConfig {
    pub fn retention(&self) -> wisp_telemetry::Retention {
        wisp_telemetry::Retention { max_days: self.retention_days, max_bytes: self.max_megabytes << 20 }
    }

    /// The database file: `path`, else the default under the data directory.
    pub fn database(&self) -> Option<PathBuf> {
        self.path
            .clone()
            .or_else(|| wisp_telemetry::data_dir().map(|dir| dir.join(wisp_telemetry::DATABASE_FILE_NAME)))
    }
}

/// A/B tests and canary rollouts: variants of the settings, each answering a share of the
/// completions (chosen by a hash of the completion id); the rest use the settings outside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentConfig {
    /// Mixed into the assignment hash: change it to reshuffle which completions go where.
    pub salt: String,
    pub variants: Vec<VariantConfig>,
}

/// One variant: its name, its share, and the settings it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantConfig {
    pub name: String,
    /// Percent of completions (0–100). A canary starts small; 0 rolls it back.
    pub share: f64,
    /// Another model: a registry id or a GGUF path (loaded next to the main one when first
    /// needed).
    pub model: Option<String>,
    /// Context strategy: "none", "file" or "full".
    pub context: Option<ContextModeSetting>,
    pub max_tokens: Option<usize>,
    pub max_lines: Option<usize>,
    pub prompt_tokens: Option<usize>,
    /// Sampling: softmax temperature (0 is greedy) and nucleus share.
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
}

/// Applies the experiment variant drawn for `completion_id` to `config`; returns its name, or
/// None for the default settings.
pub fn apply_variant(config: &mut Config, completion_id: &str) -> Option<String> {
    let shares = config.experiment.shares();
    let index = wisp_telemetry::experiment::assign(&shares, completion_id, &config.experiment.salt)?;
    let variant = config.experiment.variants[index].clone();
    if let Some(model) = &variant.model {
        if crate::models::looks_like_path(model) {
            config.model.path = Some(PathBuf::from(model));
            config.model.id = None;
        } else {
            config.model.id = Some(model.clone());
            config.model.path = None;
        }
    }
    if let Some(mode) = variant.context {
        config.context.mode = mode;
    }
    if let Some(max_tokens) = variant.max_tokens {
        config.completion.max_tokens = max_tokens;
    }
    if let Some(max_lines) = variant.max_lines {
        config.completion.max_lines = max_lines;
    }
    if let Some(prompt_tokens) = variant.prompt_tokens {
        config.completion.prompt_tokens = prompt_tokens;
    }
    if let Some(temperature) = variant.temperature {
        config.completion.temperature = temperature;
    }
    if let Some(top_p) = variant.top_p {
        config.completion.top_p = top_p;
    }
    Some(variant.name)
}

impl ExperimentConfig {
    pub fn shares(&self) -> Vec<wisp_telemetry::experiment::Share> {
        self.variants
            .iter()
            .map(|variant| wisp_telemetry::experiment::Share {
                name: variant.name.clone(),
                percent: variant.share,
            })
            .collect()
    }
}

/// Where prompts get context beyond the code around the cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ContextConfig {
    /// "none" (the code around the cursor only), "file" (plus this file's enclosing scopes and
    /// definitions outside the window) or "full" (plus the workspace index, imported files, open
    /// documents and recent edits).
    pub mode: ContextModeSetting,
    /// Index the workspace folder in the background (definitions and imports of every source
    /// file not ignored by `.gitignore` or `.wispignore`).
    pub index: bool,
    /// File-name globs that never reach a prompt, on top of the built-in ones (`.env`, `*.pem`,
    /// `id_rsa*`, …) and `.wispignore`.
    pub sensitive_files: Vec<String>,
}

impl Default for ContextConfig {
    fn default() -> ContextConfig {
        ContextConfig { mode: ContextModeSetting::Full, index: true, sensitive_files: Vec::new() }
    }
}

/// `context.mode` as written in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum ContextModeSetting {
    None,
    File,
    #[default]
    Full,
}

impl From<ContextModeSetting> for wisp_context::ContextMode {
    fn from(setting: ContextModeSetting) -> wisp_context::ContextMode {
        match setting {
            ContextModeSetting::None => wisp_context::ContextMode::None,
            ContextModeSetting::File => wisp_context::ContextMode::File,
            ContextModeSetting::Full => wisp_context::ContextMode::Full,
        }
    }
}

/// The model and how llama.cpp runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Registry id (`wisp models list`); the registry default when neither this nor `path` is set.
    pub id: Option<String>,
    /// A GGUF file to use instead of a registry model.
    pub path: Option<PathBuf>,
    /// Context window in tokens; must hold the prompt budget plus `completion.max_tokens`.
    pub n_ctx: usize,
    /// CPU threads; defaults to the number of cores (more than that collapses decode speed).
    pub threads: Option<usize>,
    /// Layers offloaded to the GPU in a GPU build (0 keeps everything on the CPU; a number past
    /// the model's layer count offloads all of them).
    pub gpu_layers: u32,
    /// Most GPU memory the offloaded layers may take (their weights and KV cache), in MiB: layers
    /// past it stay on the CPU. Unset: the GPUs' free memory.
    pub gpu_memory_mib: Option<u64>,
    /// "none" (one GPU, `main_gpu`), "layer" (whole layers spread over GPUs) or "row".
    pub split_mode: SplitMode,
    /// Index of the GPU that holds the model when `split_mode` is "none".
    pub main_gpu: u32,
    /// Reuse the KV cache of the previous request's common token prefix.
    pub kv_reuse: bool,
    /// Also shift cached text that moved instead of re-evaluating it (faster when code above the
    /// cursor changes; suggestions may differ slightly from a fresh evaluation).
    pub kv_shift: bool,
    /// Tokens guessed from earlier text and checked alongside each generated token (faster
    /// suggestions where code repeats itself; the text is unchanged). 0 turns it off.
    pub draft_tokens: usize,
    /// A shared inference service to use instead of running the model here (llama-server,
    /// vLLM, TGI, Ollama, …): `[model.remote]` with `url = "https://host:port"` is enough.
    pub remote: Option<RemoteConfig>,
}

/// The inference service a team already runs, reached over HTTP(S).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// `https://host:port` (plain `http://` only to this machine, unless `allow_http`).
    pub url: String,
    /// "openai" (`/v1/completions`: vLLM, TGI, Ollama, …) or "llama-server" (`/completion`);
    /// unset: llama-server is recognised by its `/props`, anything else is taken as OpenAI.
    pub api: Option<wisp_engine::RemoteApi>,
    /// The model's name on the server (the `model` field of requests), when it wants one.
    pub name: Option<String>,
    /// Bearer token; better kept in the environment variable `token_env` than in a file.
    pub token: Option<String>,
    /// Environment variable holding the bearer token when `token` is unset.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// Send prompts over plain HTTP to another machine (only on a network you trust).
    #[serde(default)]
    pub allow_http: bool,
    /// PEM file of a CA to trust besides the usual ones (a company's own CA).
    pub ca_file: Option<PathBuf>,
    /// The served model's vocabulary: a registry id or a GGUF file of the same model (only its
    /// vocabulary is read). With it prompts are counted exactly and fill-in-the-middle prompts
    /// work; without it prompts are plain text counted by the server's `/tokenize`.
    pub vocabulary: Option<String>,
    /// Longest wait for the server to say something (ms) before a request fails.
    #[serde(default = "default_remote_timeout_ms")]
    pub timeout_ms: u64,
    /// Tries after the first for a request that failed before anything was shown.
    #[serde(default = "default_remote_retries")]
    pub retries: u32,
    /// Requests in flight at once from this editor.
    #[serde(default = "default_remote_concurrency")]
    pub max_concurrent: usize,
    /// While the service is down, answer with the model in-process (`model.id` or `model.path`,
    /// loaded the first time it is needed) instead of showing nothing.
    #[serde(default)]
    pub fallback: bool,
}

fn default_token_env() -> String {
    "WISP_BACKEND_TOKEN".into()
}

fn default_remote_timeout_ms() -> u64 {
    10_000
}

fn default_remote_retries() -> u32 {
    2
}

fn default_remote_concurrency() -> usize {
    4
}

impl std::fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("url", &self.url)
            .field("api", &self.api)
            .field("name", &self.name)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("token_env", &self.token_env)
            .field("allow_http", &self.allow_http)
            .field("vocabulary", &self.vocabulary)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

impl Default for ModelConfig {
    fn default() -> ModelConfig {
        let defaults = LlamaOptions::default();
        ModelConfig {
            id: None,
            path: None,
            n_ctx: defaults.n_ctx,
            threads: None,
            gpu_layers: defaults.gpu_layers,
            gpu_memory_mib: defaults.gpu_memory_mib,
            split_mode: defaults.split_mode,
            main_gpu: defaults.main_gpu,
            kv_reuse: defaults.kv_reuse,
            kv_shift: defaults.kv_shift,
            draft_tokens: defaults.draft_tokens,
            remote: None,
        }
    }
}

impl ModelConfig {
    pub fn llama_options(&self) -> LlamaOptions {
        let defaults = LlamaOptions::default();
        LlamaOptions {
            n_ctx: self.n_ctx,
            threads: self.threads.unwrap_or(defaults.threads),
            gpu_layers: self.gpu_layers,
            gpu_memory_mib: self.gpu_memory_mib,
            split_mode: self.split_mode,
            main_gpu: self.main_gpu,
            kv_reuse: self.kv_reuse,
            kv_shift: self.kv_shift,
            draft_tokens: self.draft_tokens,
        }
    }
}

/// Inline suggestions: when, how long, and how they are reused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CompletionConfig {
    /// Answer completion requests at all.
    pub enabled: bool,
    /// Generated tokens per suggestion at most. 64 tokens hold a few lines of code; more costs
    /// ~15 ms a token on a 2-core CPU for text the user rarely keeps.
    pub max_tokens: usize,
    /// Lines of a multi-line suggestion at most.
    pub max_lines: usize,
    /// Prompt tokens at most (path header + code before the cursor [+ after it, for FIM models]).
    /// 1024 tokens cost ~2.5 s to evaluate from scratch on 2 cores, but only once: later
    /// keystrokes reuse the cached prefix.
    pub prompt_tokens: usize,
    /// Milliseconds after which generation stops at the next line end. A one-line suggestion
    /// still completes its line; a block is cut to the lines finished so far. 0 turns it off.
    pub time_budget_ms: u64,
    /// As `time_budget_ms`, for a keystroke typed while you are typing (the change before it
    /// came less than 0.4 s earlier): a block is cut to the lines finished in this time, so the
    /// model does not spend a second on eight lines the next keystroke replaces anyway. A
    /// pause, or a suggestion asked for explicitly, gets `time_budget_ms`. 0 turns it off.
    pub typing_budget_ms: u64,
    /// Answer repeated and typed-through requests from earlier suggestions, without the model,
    /// and let a keystroke that agrees with the suggestion still being generated wait for it
    /// instead of cancelling it.
    pub cache: bool,
    /// Suggestions the cache keeps.
    pub cache_entries: usize,
    /// Longest wait, in milliseconds, before running the model for a keystroke typed while the
    /// model is busy. The wait adapts to typing speed and is skipped after a pause, when the
    /// model is idle, and for invoked requests. 0 turns debouncing off.
    pub debounce_max_ms: u64,
    /// Evaluate a document's prompt when it is opened, and compute the next suggestion after an
    /// accept, while the user reads.
    pub prefetch: bool,
    /// Softmax temperature; 0 picks the most likely token every time (greedy: the same code
    /// gives the same suggestion, which the cache and typing-through rely on being stable).
    pub temperature: f32,
    /// With a temperature: sample only among the most likely tokens whose probabilities add up
    /// to this share (nucleus sampling).
    pub top_p: f32,
    /// Suggestions the model was less sure of than this are not shown: the geometric mean of
    /// their tokens' probabilities, 0 to 1. 0 shows every suggestion.
    pub min_confidence: f32,
    /// Index-guided decoding: where a name is used (after `.`, `::` or `->`, in an expression),
    /// the model writes a name the repository or the language knows. `mask`: a name no known
    /// name starts with is replaced by the likeliest known one among the model's top guesses;
    /// `bias`: only by one nearly as likely; `off`: the model's choice stands. A name none of its
    /// guesses makes known is taken as new. Default `mask`.
    pub guide: GuideSetting,
    /// In a document whose prompt is not in the model's cache yet (just opened, a jump far
    /// away), answer first from the lines just before the cursor, in a fraction of the time, and
    /// evaluate the full prompt in the background for the next keystroke.
    pub fast_first_answer: bool,
    /// Token healing: a partly typed word or operator at the cursor is left out of the prompt
    /// and the model must spell it first, so `counts.v` continues to `values` instead of the
    /// model taking `v` for a whole token.
    pub token_healing: bool,
    /// Also consider the continuation of a matching line above the cursor (in the prompt) and
    /// suggest it when the model scores it higher than the line it wrote.
    pub candidates: bool,
}

/// `completion.guide` as written in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum GuideSetting {
    Off,
    Bias,
    // The default: on the dev set (`wisp eval`, SmolLM2-135M, two seeds) it keeps exact match
    // and edit similarity and makes the model write far fewer names that exist nowhere.
    #[default]
    Mask,
}

/// How much less likely (in nats) a known name may be than the model's unknown one and still
/// replace it under `completion.guide = "bias"`: e^1.5 ≈ 4.5 times less likely.
pub const GUIDE_BIAS_MAX_DROP: f32 = 1.5;

impl std::str::FromStr for GuideSetting {
    type Err = String;
    fn from_str(text: &str) -> Result<GuideSetting, String> {
        match text {
            "off" => Ok(GuideSetting::Off),
            "bias" => Ok(GuideSetting::Bias),
            "mask" => Ok(GuideSetting::Mask),
            other => Err(format!("unknown guide setting \"{other}\": use off, bias or mask")),
        }
    }
}

impl GuideSetting {
    pub fn strength(self) -> Option<wisp_engine::GuideStrength> {
        match self {
            GuideSetting::Off => None,
            GuideSetting::Bias => Some(wisp_engine::GuideStrength::Bias { max_drop: GUIDE_BIAS_MAX_DROP }),
            GuideSetting::Mask => Some(wisp_engine::GuideStrength::Mask),
        }
    }
}

/// The default `completion.min_confidence`. On the dev set (`wisp eval`, 240 Rust tasks, two
/// seeds, SmolLM2-135M) no suggestion under 0.45 was an exact match; 0.3 holds back the least
/// sure tenth of them, and more capable models are rarely that unsure.
pub const DEFAULT_MIN_CONFIDENCE: f32 = 0.3;

impl Default for CompletionConfig {
    fn default() -> CompletionConfig {
        CompletionConfig {
            enabled: true,
            max_tokens: 64,
            max_lines: 8,
            prompt_tokens: 1024,
            time_budget_ms: 2000,
            typing_budget_ms: 300,
            cache: true,
            cache_entries: 512,
            debounce_max_ms: 150,
            prefetch: true,
            temperature: 0.0,
            top_p: 1.0,
            min_confidence: DEFAULT_MIN_CONFIDENCE,
            guide: GuideSetting::default(),
            fast_first_answer: true,
            token_healing: true,
            candidates: false,
        }
    }
}

/// The JSON Schema of the settings (`wisp config schema`), which editor clients generate their
/// settings from. Sections and keys are written out in place (no `$ref`), each with its type,
/// default and description.
pub fn schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft07()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator();
    generator.into_root_schema_for::<Config>().to_value()
}

/// The configuration layers, kept so a later layer can change without losing the earlier ones.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    pub file: Option<Value>,
    pub initialization: Option<Value>,
    pub client: Option<Value>,
}

impl Layers {
    /// Merges the layers over the defaults and checks the result.
    pub fn resolve(&self) -> Result<Config, String> {
        let mut merged = Value::Object(Default::default());
        for layer in [&self.file, &self.initialization, &self.client].into_iter().flatten() {
            merge(&mut merged, layer);
        }
        parse(merged)
    }
}

/// Parses one merged JSON value into a checked [`Config`].
pub fn parse(value: Value) -> Result<Config, String> {
    let config: Config = serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." {
            format!("invalid Wisp configuration: {inner}")
        } else {
            format!("invalid Wisp configuration at \"{path}\": {inner}")
        }
    })?;
    config.check()?;
    Ok(config)
}

impl Config {
    fn check(&self) -> Result<(), String> {
        const MIN_N_CTX: usize = 256;
        if self.model.n_ctx < MIN_N_CTX {
            return Err(format!(
                "\"model.n_ctx\" is {}, the least that works is {MIN_N_CTX}",
                self.model.n_ctx
            ));
        }
        if self.completion.prompt_tokens + self.completion.max_tokens >= self.model.n_ctx {
            return Err(format!(
                "\"completion.prompt_tokens\" ({}) + \"completion.max_tokens\" ({}) must be below \"model.n_ctx\" ({}) — lower them or raise \"model.n_ctx\"",
                self.completion.prompt_tokens, self.completion.max_tokens, self.model.n_ctx
            ));
        }
        if self.completion.max_tokens == 0 || self.completion.max_lines == 0 {
            return Err("\"completion.max_tokens\" and \"completion.max_lines\" must be at least 1".into());
        }
        if let Some(remote) = &self.model.remote {
            wisp_engine::remote::Endpoint::parse(&remote.url)
                .map_err(|why| format!("\"model.remote.url\": {why}"))?;
            if remote.timeout_ms == 0 || remote.max_concurrent == 0 {
                return Err(
                    "\"model.remote.timeout_ms\" and \"model.remote.max_concurrent\" must be at least 1"
                        .into(),
                );
            }
        }
        if let Some(addr) = &self.metrics.addr {
            metrics_addr(addr)?;
        }
        if self.model.threads == Some(0) {
            return Err("\"model.threads\" must be at least 1".into());
        }
        let samplings = std::iter::once((self.completion.temperature, self.completion.top_p)).chain(
            self.experiment.variants.iter().map(|variant| {
                (
                    variant.temperature.unwrap_or(self.completion.temperature),
                    variant.top_p.unwrap_or(self.completion.top_p),
                )
            }),
        );
        for (temperature, top_p) in samplings {
            let valid = (0.0..=MAX_TEMPERATURE).contains(&temperature) && top_p > 0.0 && top_p <= 1.0;
            if !valid {
                return Err(format!(
                    "temperature must be 0 to {MAX_TEMPERATURE} and top_p above 0 and at most 1 (got {temperature} and {top_p}) — 0 and 1 mean greedy decoding"
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.completion.min_confidence) {
            return Err(format!(
                "\"completion.min_confidence\" must be 0 to 1 (got {}) — it is a probability; 0 shows every suggestion",
                self.completion.min_confidence
            ));
        }
        if self.telemetry.content && !self.telemetry.events {
            return Err(
                "\"telemetry.content\" needs \"telemetry.events\" — turn both on to keep suggestion text, or content off".into(),
            );
        }
        wisp_guard::SensitiveFiles::new(&self.context.sensitive_files)
            .map_err(|why| format!("\"context.sensitive_files\": {why}"))?;
        wisp_telemetry::experiment::validate(&self.experiment.shares())
            .map_err(|why| format!("\"experiment.variants\": {why}"))?;
        for variant in &self.experiment.variants {
            let prompt = variant.prompt_tokens.unwrap_or(self.completion.prompt_tokens);
            let generated = variant.max_tokens.unwrap_or(self.completion.max_tokens);
            if prompt + generated >= self.model.n_ctx || generated == 0 || variant.max_lines == Some(0) {
                return Err(format!(
                    "experiment variant {:?}: prompt_tokens ({prompt}) + max_tokens ({generated}) must be below \"model.n_ctx\" ({}), and max_tokens and max_lines at least 1",
                    variant.name, self.model.n_ctx
                ));
            }
        }
        Ok(())
    }
}

/// Reads `wisp.toml` from a workspace root. Ok(None) when there is none.
pub fn read_file_layer(root: &Path) -> Result<Option<Value>, String> {
    let path = root.join(CONFIG_FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
    };
    let value: Value =
        toml::from_str(&text).map_err(|error| format!("{} is not valid TOML: {error}", path.display()))?;
    // Check the file on its own so its errors name the file.
    parse(value.clone()).map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(Some(value))
}

/// Settings sent by a client: either `{ "wisp": { … } }` (VS Code style sections) or the Wisp
/// settings themselves. `null` means "no settings".
pub fn client_layer(settings: Value) -> Option<Value> {
    match settings {
        Value::Null => None,
        Value::Object(mut map) if map.contains_key("wisp") => map.remove("wisp"),
        other => Some(other),
    }
}

fn merge(base: &mut Value, layer: &Value) {
    match (base, layer) {
        (Value::Object(base), Value::Object(layer)) => {
            for (key, value) in layer {
                merge(base.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (base, layer) => *base = layer.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::metrics_addr;

    #[test]
    fn the_metrics_endpoint_listens_on_loopback_only() {
        assert!(metrics_addr("127.0.0.1:9464").is_ok());
        assert!(metrics_addr("[::1]:9464").is_ok());
        assert!(metrics_addr("0.0.0.0:9464").unwrap_err().contains("loopback only"));
        assert!(metrics_addr("localhost").unwrap_err().contains("127.0.0.1:9464"));
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn later_layers_override_earlier_ones_key_by_key() {
        let layers = Layers {
            file: Some(json!({ "completion": { "max_tokens": 10, "max_lines": 3 } })),
            initialization: Some(json!({ "completion": { "max_tokens": 20 } })),
            client: None,
        };
        let config = layers.resolve().unwrap();
        assert_eq!(config.completion.max_tokens, 20);
        assert_eq!(config.completion.max_lines, 3);
        assert_eq!(config.model, ModelConfig::default());
    }

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        let error = parse(json!({ "model": { "gpu_layer": 3 } })).unwrap_err();
        assert!(error.contains("model.gpu_layer"), "{error}");
        let error = parse(json!({ "colour": "blue" })).unwrap_err();
        assert!(error.contains("colour"), "{error}");
    }

    #[test]
    fn gpu_knobs_are_checked() {
        let config =
            parse(json!({ "model": { "gpu_layers": 99, "split_mode": "none", "main_gpu": 1 } })).unwrap();
        assert_eq!(config.model.llama_options().split_mode, SplitMode::None);
        assert_eq!(config.model.llama_options().main_gpu, 1);
        let error = parse(json!({ "model": { "split_mode": "diagonal" } })).unwrap_err();
        assert!(error.contains("model.split_mode"), "{error}");
    }

    #[test]
    fn inconsistent_budgets_are_refused_with_the_fix() {
        let error =
            parse(json!({ "model": { "n_ctx": 512 }, "completion": { "prompt_tokens": 500 } })).unwrap_err();
        assert!(error.contains("model.n_ctx"), "{error}");
    }

    #[test]
    fn wisp_toml_is_read_and_its_errors_name_the_file() {
        let root = std::env::temp_dir().join(format!("wisp-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        assert_eq!(read_file_layer(&root), Ok(None));
        std::fs::write(root.join(CONFIG_FILE_NAME), "[completion]\nmax_lines = 2\n").unwrap();
        let layer = read_file_layer(&root).unwrap();
        let layers = Layers { file: layer, ..Layers::default() };
        assert_eq!(layers.resolve().unwrap().completion.max_lines, 2);
        std::fs::write(root.join(CONFIG_FILE_NAME), "[completion]\nmax_line = 2\n").unwrap();
        let error = read_file_layer(&root).unwrap_err();
        assert!(error.contains("wisp.toml") && error.contains("completion.max_line"), "{error}");
        std::fs::write(root.join(CONFIG_FILE_NAME), "[completion\n").unwrap();
        assert!(read_file_layer(&root).unwrap_err().contains("not valid TOML"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn vscode_style_sections_are_unwrapped() {
        assert_eq!(client_layer(json!({ "wisp": { "a": 1 } })), Some(json!({ "a": 1 })));
        assert_eq!(client_layer(json!({ "a": 1 })), Some(json!({ "a": 1 })));
        assert_eq!(client_layer(Value::Null), None);
    }

    #[test]
    fn experiment_variants_change_the_settings_of_their_share_of_completions() {
        let mut config = parse(json!({
            "experiment": { "salt": "s", "variants": [
                { "name": "short", "share": 30, "max_tokens": 8, "context": "none" },
                { "name": "canary", "share": 0, "model": "gemma-3-270m-q4_k_m" },
            ] }
        }))
        .unwrap();
        let base = config.clone();
        let mut drawn = std::collections::HashMap::<Option<String>, usize>::new();
        for i in 0..1_000 {
            let mut settings = base.clone();
            let variant = apply_variant(&mut settings, &format!("wisp-x-{i}"));
            if variant.as_deref() == Some("short") {
                assert_eq!(settings.completion.max_tokens, 8);
                assert_eq!(settings.context.mode, ContextModeSetting::None);
            } else {
                assert_eq!(settings, base);
            }
            *drawn.entry(variant).or_default() += 1;
        }
        // About 30% "short", none for the rolled-back canary, the rest the default settings.
        assert!((250..350).contains(&drawn[&Some("short".to_owned())]), "{drawn:?}");
        assert!(!drawn.contains_key(&Some("canary".to_owned())), "{drawn:?}");
        // The same completion always gets the same variant.
        assert_eq!(apply_variant(&mut config.clone(), "wisp-x-7"), apply_variant(&mut config, "wisp-x-7"));
    }

    #[test]
    fn bad_experiments_and_consent_are_refused_with_the_fix() {
        let error = parse(json!({ "experiment": { "variants": [
            { "name": "a", "share": 70 }, { "name": "b", "share": 40 }
        ] } }))
        .unwrap_err();
        assert!(error.contains("experiment.variants") && error.contains("100% at most"), "{error}");
        let error =
            parse(json!({ "experiment": { "variants": [{ "name": "a", "share": 5, "max_tokens": 5000 }] } }))
                .unwrap_err();
        assert!(error.contains("model.n_ctx"), "{error}");
        let error = parse(
            json!({ "experiment": { "variants": [{ "name": "hot", "share": 5, "temperature": 3.0 }] } }),
        )
        .unwrap_err();
        assert!(error.contains("temperature must be 0 to 2"), "{error}");
        let mut hot = parse(json!({ "experiment": { "variants": [
            { "name": "hot", "share": 100, "temperature": 0.7, "top_p": 0.9 }
        ] } }))
        .unwrap();
        assert_eq!(apply_variant(&mut hot, "any").as_deref(), Some("hot"));
        assert_eq!((hot.completion.temperature, hot.completion.top_p), (0.7, 0.9));
        let error = parse(json!({ "telemetry": { "content": true } })).unwrap_err();
        assert!(error.contains("telemetry.events"), "{error}");
        let error = parse(json!({ "context": { "sensitive_files": ["[oops"] } })).unwrap_err();
        assert!(error.contains("context.sensitive_files"), "{error}");
        assert!(!Config::default().telemetry.events, "feedback is off until the user turns it on");
    }
}
