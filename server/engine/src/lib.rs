//! Engines that continue a prompt.
//!
//! An [`Engine`] is a loaded model: it counts tokens and continues a [`Prompt`] greedily, pushing
//! each decoded [`Piece`] to a callback that may stop it. Two engines live here: [`LlamaEngine`]
//! runs a GGUF model in-process through llama.cpp, and [`ScriptedEngine`] replays canned text for
//! fast tests of the logic around the model. [`registry`] knows which models exist, where they are
//! stored and how to fetch and verify them.

#![deny(clippy::print_stdout)]

mod counts;
pub mod fallback;
pub mod fim;
pub mod gguf;
pub mod guide;
mod llama;
pub mod registry;
pub mod remote;
mod scripted;
mod stop;

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use counts::CountMemo;
pub use fallback::FallbackEngine;
pub use guide::{Guide, GuideStrength, NameOracle};
pub use llama::{
    LlamaEngine, LlamaOptions, BACKGROUND_CHUNK_TOKENS, DRAFT_MAX_TOKENS, N_SEQUENCES, PROMPT_CHUNK_TOKENS,
    REUSE_MIN_TOKENS,
};
pub use remote::{RemoteApi, RemoteEngine, RemoteOptions};
pub use scripted::ScriptedEngine;
pub use stop::{indentation, StopRule, Stopper};

/// A loaded model that can continue a prompt.
///
/// The engine drives decoding and pushes each piece to `on_piece`; returning
/// `ControlFlow::Break(())` stops decoding (stop sequences, guardrails, cancellation).
pub trait Engine: Send + Sync {
    fn model(&self) -> &ModelInfo;
    fn count_tokens(&self, text: &str) -> usize;
    fn generate(
        &self,
        request: &GenerateRequest,
        on_piece: &mut dyn FnMut(&Piece) -> ControlFlow<()>,
    ) -> Result<Generation, EngineError>;

    /// How many of the prompt tokens of `request` a generation would evaluate: the rest are in
    /// the warm cache of its `cache_key`. None when the engine cannot tell.
    fn uncached_tokens(&self, request: &GenerateRequest) -> Option<usize> {
        let _ = request;
        None
    }

    /// The log-probability of each token of each of `continuations` right after the prompt of
    /// `request` (as [`Generation::token_scores`] gives them, one per token):
    /// the prompt is evaluated into the warm cache of its `cache_key` as [`Engine::generate`]
    /// would, then each continuation is scored in one batch and dropped from the cache again.
    /// Engines that cannot say return [`EngineError::Unsupported`].
    fn score_continuations(
        &self,
        request: &GenerateRequest,
        continuations: &[&str],
    ) -> Result<Vec<Vec<TokenScore>>, EngineError> {
        let _ = (request, continuations);
        Err(EngineError::Unsupported { what: "scoring continuations".into() })
    }

    /// How well the model predicts `text` (from its start, up to the context size): for
    /// perplexity on held-out code. Engines that cannot say return [`EngineError::Unsupported`].
    fn score(&self, text: &str) -> Result<TextScore, EngineError> {
        let _ = text;
        Err(EngineError::Unsupported { what: "scoring text (perplexity)".into() })
    }

    /// A prompt asking an instruction-tuned model for its reply to `messages`, laid out by the
    /// chat template in its GGUF metadata; None when the model has no template. The messages'
    /// contents stay plain text: code that spells a control token cannot inject it.
    fn chat_prompt(&self, messages: &[ChatMessage]) -> Option<Prompt> {
        let _ = messages;
        None
    }

    /// What the user should know although the engine loaded: a remote server that does not
    /// answer yet, GPU layers that did not fit. None when all is as configured.
    fn warning(&self) -> Option<String> {
        None
    }
}

/// A chat prompt from `rendered`, the chat template applied to messages whose contents were
/// replaced by [`chat_placeholder`]s: the template's text between them as [`PromptPart::Template`],
/// each message's content as plain text. None when a placeholder is missing (a template that
/// rewrites contents).
pub fn chat_prompt_from_rendered(rendered: &str, messages: &[ChatMessage]) -> Option<Prompt> {
    let mut parts = Vec::new();
    let mut rest = rendered;
    for (index, message) in messages.iter().enumerate() {
        let placeholder = chat_placeholder(index);
        let at = rest.find(&placeholder)?;
        if at > 0 {
            parts.push(PromptPart::Template(rest[..at].to_owned()));
        }
        parts.push(PromptPart::Text(message.content.clone()));
        rest = &rest[at + placeholder.len()..];
    }
    if !rest.is_empty() {
        parts.push(PromptPart::Template(rest.to_owned()));
    }
    Some(Prompt { parts })
}

/// What stands for message `index`'s content while the chat template is applied: private-use
/// characters no template or tokenizer treats specially.
pub fn chat_placeholder(index: usize) -> String {
    format!("\u{E000}wisp-message-{index}\u{E001}")
}

/// The model's fit to a text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextScore {
    /// Tokens predicted (the first token has nothing before it and is not scored).
    pub n_tokens: usize,
    /// Sum over those tokens of -ln p(token | tokens before it).
    pub negative_log_likelihood: f64,
}

impl TextScore {
    /// exp(mean negative log-likelihood); 1.0 for nothing scored.
    pub fn perplexity(&self) -> f64 {
        if self.n_tokens == 0 {
            return 1.0;
        }
        (self.negative_log_likelihood / self.n_tokens as f64).exp()
    }
}

/// What the rest of Wisp needs to know about a loaded model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// Registry id, or the file stem for a model given by path.
    pub id: String,
    pub path: PathBuf,
    /// Tokens the context was created with; prompt + generation must fit.
    pub n_ctx: usize,
    /// Fill-in-the-middle tokens when the model's vocabulary has them.
    pub fim: Option<FimTokens>,
    /// The repository-level file separator token, when the model has one (FIM models only).
    pub file_separator: Option<u32>,
    /// FIM prompts put the suffix first and mark other files with `+++++ path` (Codestral).
    pub fim_suffix_first: bool,
    /// The server lays out fill-in-the-middle prompts with its model's own tokens (llama-server's
    /// `/infill`): prompts are built in the repository-level FIM layout, and `fim` and
    /// `file_separator` hold no ids (Wisp does not know them).
    pub fim_by_server: bool,
    /// A human-readable account of where the model runs ("cpu, 2 threads", "cuda0, 30/30 layers").
    pub device: String,
}

/// Token ids of a model's fill-in-the-middle markers, read from its GGUF metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FimTokens {
    pub prefix: u32,
    pub suffix: u32,
    pub middle: u32,
}

/// How a model is spread over several GPUs (llama.cpp's `split_mode`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SplitMode {
    /// One GPU (`main_gpu`) holds everything.
    None,
    /// Whole layers go to different GPUs.
    #[default]
    Layer,
    /// Rows of each layer are split over the GPUs (tensor parallelism).
    Row,
}

/// A special token named by its role, resolved to an id by the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialToken {
    FimPrefix,
    FimSuffix,
    FimMiddle,
    /// Separates files in a repository-level prompt (`<|file_sep|>`, `<file_sep>`).
    FileSeparator,
}

/// One part of a prompt. Text is tokenized as plain text, never parsed for special tokens, so code
/// that happens to contain `<|endoftext|>` cannot inject control tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptPart {
    Text(String),
    Special(SpecialToken),
    /// Text of the model's own chat template (`<|im_start|>assistant\n`): its special tokens are
    /// parsed. Never built from the user's code or a model's output.
    Template(String),
}

/// One message of a chat with an instruction-tuned model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// "system", "user" or "assistant".
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: impl Into<String>) -> ChatMessage {
        ChatMessage { role: role.to_owned(), content: content.into() }
    }
}

/// The input of one generation: parts in order, beginning-of-sequence handled by the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompt {
    pub parts: Vec<PromptPart>,
}

impl Prompt {
    pub fn text(text: impl Into<String>) -> Prompt {
        Prompt { parts: vec![PromptPart::Text(text.into())] }
    }

    /// The prompt as one string, special tokens shown in angle brackets (for logs and debugging).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                PromptPart::Text(text) | PromptPart::Template(text) => out.push_str(text),
                PromptPart::Special(token) => out.push_str(&format!("<{token:?}>")),
            }
        }
        out
    }
}

/// A shared flag that asks a running generation to stop at the next check (between prompt chunks
/// and between generated tokens).
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> CancelFlag {
        CancelFlag::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
    /// Whether both handles are the same flag (not merely in the same state).
    pub fn same_as(&self, other: &CancelFlag) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub prompt: Prompt,
    /// Upper bound on generated tokens.
    pub max_tokens: usize,
    pub stop: StopRule,
    pub cancel: CancelFlag,
    /// Requests with the same key (one per document) share a warm KV-cache sequence.
    pub cache_key: u64,
    /// Past this time since the request started, generation ends at the next line break
    /// (a one-line suggestion still completes its line).
    pub time_budget: Option<std::time::Duration>,
    /// Work nobody is waiting for (warm-up, prefetch): evaluated in smaller chunks, so a request
    /// of the user's that cancels it waits less.
    pub background: bool,
    /// How each token is chosen: greedy by default.
    pub sampling: Sampling,
    /// Token healing: text the generation must start with, the part of a word the user typed and
    /// the prompt leaves out (a prompt ending in `counts.v` makes the model take `v` for a whole
    /// token and write `();`). Until it is spelled, only tokens that spell the next part of it, or
    /// all of it and more (`values`), may be chosen, the most likely of them; the generation's
    /// text starts with it. Empty: no constraint.
    pub healing: String,
    /// Index-guided decoding: names written where a name is used must be known ones (see
    /// [`guide`]). Greedy decoding only; None: the model's choice stands.
    pub guide: Option<Guide>,
}

/// Whether a token whose text is `piece` may come next while `to_spell` is still to be spelled
/// (token healing, [`GenerateRequest::healing`]): it spells the start of it, or all of it and
/// goes on.
pub fn spells(piece: &[u8], to_spell: &[u8]) -> bool {
    !piece.is_empty() && (to_spell.starts_with(piece) || piece.starts_with(to_spell))
}

/// How the next token is chosen from the model's distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Softmax temperature; 0 (or less) picks the most likely token (greedy, deterministic).
    pub temperature: f32,
    /// Nucleus sampling: only the most likely tokens whose probabilities add up to this share
    /// are candidates (1 keeps them all). Ignored when greedy.
    pub top_p: f32,
    /// Seed of the random choices: the same seed, prompt and settings give the same text.
    pub seed: u64,
}

impl Sampling {
    pub const GREEDY: Sampling = Sampling { temperature: 0.0, top_p: 1.0, seed: 0 };

    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }
}

impl Default for Sampling {
    fn default() -> Sampling {
        Sampling::GREEDY
    }
}

/// A decoded piece of text: one token's worth, or several when a UTF-8 character spans tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub text: String,
    /// Natural-log probability of the token(s) behind this piece.
    pub logprob: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced an end-of-generation token.
    EndOfGeneration,
    /// The stop rule ended the suggestion (line end, block end).
    StopRule,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The callback asked to stop.
    Callback,
    /// The cancel flag was raised.
    Cancelled,
    /// The context window is full.
    ContextFull,
    /// The time budget ran out and the current line was finished.
    TimeBudget,
}

/// The result of one generation with its costs.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The suggestion, already cut by the stop rule.
    pub text: String,
    pub stop_reason: StopReason,
    /// Tokens in the prompt.
    pub n_prompt_tokens: usize,
    /// Prompt tokens actually evaluated (the rest came from the warm KV cache).
    pub n_prompt_evaluated: usize,
    pub n_generated: usize,
    /// Generated tokens that came from confirmed prompt-lookup drafts.
    pub n_draft_accepted: usize,
    /// Tokens index-guided decoding chose instead of the model's own choice.
    pub n_guided: usize,
    /// Time spent by index-guided decoding's checks and replacements, in milliseconds: what the
    /// guide adds to `decode_ms`.
    pub guide_ms: f64,
    pub prompt_ms: f64,
    pub decode_ms: f64,
    /// Mean natural-log probability of the generated tokens (0 when none).
    pub mean_logprob: f32,
    /// The log-probability of each piece of the generated text, in order: spans of the text
    /// before the stop rule's cut (`text` is a prefix of it).
    pub token_scores: Vec<TokenScore>,
}

impl Generation {
    /// A generation that wrote nothing and evaluated nothing (a warm-up left to a server, a
    /// request cancelled before it ran): the base the engines fill in.
    pub fn empty(stop_reason: StopReason, n_prompt_tokens: usize) -> Generation {
        Generation {
            text: String::new(),
            stop_reason,
            n_prompt_tokens,
            n_prompt_evaluated: 0,
            n_generated: 0,
            n_draft_accepted: 0,
            n_guided: 0,
            guide_ms: 0.0,
            prompt_ms: 0.0,
            decode_ms: 0.0,
            mean_logprob: 0.0,
            token_scores: Vec::new(),
        }
    }
}

/// The log-probability of the tokens behind one piece of the generated text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenScore {
    /// Byte offset in the generated text where the piece ends (it starts where the one before
    /// it ends).
    pub end: usize,
    /// Sum of the natural-log probabilities of its tokens.
    pub logprob: f32,
    /// Tokens behind the piece (more than one when a character spans tokens).
    pub tokens: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine cannot do this (e.g. a scripted engine asked for perplexity).
    #[error("this engine does not support {what}")]
    Unsupported { what: String },
    /// Registry models are checked (and reported with their fetch command) before loading, so
    /// this is a file named by `model.path`: the fix is the path, or the default model.
    #[error(
        "model file not found at {path} — set \"model.path\" to an existing GGUF file, or remove it to use the default model (\"wisp models fetch\" downloads it)"
    )]
    ModelNotFound { path: PathBuf, id: String },
    #[error("{path} is not a GGUF model file ({why}) — point \"model.path\" at a .gguf file")]
    NotGguf { path: PathBuf, why: String },
    #[error(
        "llama.cpp could not load {path}: the file is truncated or corrupt — run \"wisp models verify\", or fetch it again with \"wisp models fetch\""
    )]
    LoadFailed { path: PathBuf },
    #[error("could not create a llama.cpp context of {n_ctx} tokens: {why} — lower \"model.n_ctx\"")]
    Context { n_ctx: usize, why: String },
    #[error("the prompt ({n_prompt} tokens) does not fit the context ({n_ctx} tokens) with room to generate — lower the prompt budget or raise \"model.n_ctx\"")]
    PromptTooLong { n_prompt: usize, n_ctx: usize },
    #[error("the model has no {token:?} token, so this prompt format cannot be used with it")]
    MissingSpecialToken { token: SpecialToken },
    #[error("llama.cpp failed to evaluate tokens: {0}")]
    Decode(String),
    #[error("llama.cpp backend: {0}")]
    Backend(String),
    /// A remote backend failed (unreachable, an HTTP error, a garbled answer, the circuit open);
    /// the message says what to check.
    #[error("{why}")]
    Remote { why: String },
    /// The `backend` settings cannot work (a bad URL, plain HTTP to another host, a CA file).
    #[error("backend settings: {why}")]
    RemoteConfig { why: String },
}
