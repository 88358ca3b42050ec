//! The llama.cpp engine: a GGUF model run in-process through `llama-cpp-2`.
//!
//! One model and one context per engine. The context keeps the tokens it has evaluated, so a
//! request that shares a prefix with the previous one evaluates only the tokens after the common
//! prefix. The prompt is evaluated in small chunks and generation one token at a time, checking
//! the cancel flag in between, so a newer keystroke stops stale work quickly. llama.cpp contexts
//! are not thread-safe: the context sits behind a mutex, and callers run `generate` on a
//! dedicated worker thread, never on the LSP loop.

use std::io::Read;
use std::num::NonZeroU32;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::{LlamaModelParams, LlamaSplitMode};
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::guide::GuideState;
use crate::{
    ChatMessage, Engine, EngineError, GenerateRequest, Generation, ModelInfo, Piece, Prompt, SplitMode,
    StopReason, Stopper, TextScore, TokenScore,
};

mod choice;
mod gpu;
mod vocabulary;

use choice::{greedy, guided, healing_choice, log_probability, sample, SplitMix64};
use gpu::{describe_device, fit_gpu_layers};
pub(crate) use vocabulary::VocabularyOnly;
use vocabulary::{chat_prompt_of, fim_support, tokenize_prompt, VocabularyView};

/// Prompt tokens evaluated per `llama_decode` call. Between chunks the cancel flag is checked, so
/// this bounds how long a cancelled request keeps the CPU: 64 tokens are ~0.3 s at the ~200 tok/s
/// that SmolLM2 evaluates on 2 cores, while costing little throughput against larger batches.
pub const PROMPT_CHUNK_TOKENS: usize = 64;
/// Prompt tokens per `llama_decode` call for background work (warm-ups, prefetches): the same as
/// a request's. llama.cpp's CPU kernels sum in another order for another batch size, so a prompt
/// warmed up in 16- or 32-token chunks held cache entries that differed in their last bits from a
/// cold request's, and the next keystroke's greedy suggestion could differ from the one its own
/// prompt gives from scratch (`let result` against `let mut result`). A keystroke that arrives
/// during a warm-up waits for the chunk in flight: up to ~0.3 s on 2 cores.
pub const BACKGROUND_CHUNK_TOKENS: usize = PROMPT_CHUNK_TOKENS;
/// Default number of guessed tokens checked per decode (see [`LlamaOptions::draft_tokens`]).
pub const DRAFT_MAX_TOKENS: usize = 8;

/// How the model and its context are set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlamaOptions {
    /// Context window in tokens (prompt + generation).
    pub n_ctx: usize,
    /// CPU threads for prompt evaluation and decoding. More threads than free cores collapse
    /// decoding speed (llama.cpp's threads spin), so this defaults to the number of cores.
    pub threads: usize,
    /// Layers offloaded to the GPU (0 = CPU only; ignored by a CPU-only build).
    pub gpu_layers: u32,
    /// Most GPU memory the offloaded layers may take (their weights and KV cache), in MiB; None:
    /// the GPUs' free memory. Layers past it stay on the CPU.
    pub gpu_memory_mib: Option<u64>,
    /// How layers are spread over several GPUs.
    pub split_mode: SplitMode,
    /// The GPU that holds the model with `SplitMode::None` (and the scratch buffers otherwise).
    pub main_gpu: u32,
    /// Keep evaluated tokens between requests and reuse the longest common prefix.
    pub kv_reuse: bool,
    /// Also shift cached runs that moved (llama-server's `--cache-reuse`). Saves re-evaluating
    /// text that moved up or down, but shifted keys are rotated again in 16-bit floats, so a
    /// suggestion can differ from the one computed from scratch: off by default, where reuse is
    /// exact.
    pub kv_shift: bool,
    /// Tokens guessed from earlier text and checked in the same decode as each generated token
    /// (prompt-lookup decoding); 0 turns it off. Greedy output is unchanged: only guesses the
    /// model confirms are kept.
    pub draft_tokens: usize,
}

impl Default for LlamaOptions {
    fn default() -> LlamaOptions {
        LlamaOptions {
            n_ctx: 4096,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()).min(8),
            gpu_layers: 0,
            gpu_memory_mib: None,
            split_mode: SplitMode::Layer,
            main_gpu: 0,
            kv_reuse: true,
            kv_shift: false,
            draft_tokens: DRAFT_MAX_TOKENS,
        }
    }
}

/// llama.cpp's backend may be initialised once per process.
fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|error| error.to_string())
        })
        .as_ref()
        .map_err(|why| EngineError::Backend(why.clone()))
}

/// Documents whose prompts stay warm in the KV cache at once. Each gets its own llama.cpp
/// sequence; the least recently used one is dropped for a new document. Four covers the files a
/// person switches between while typing; they share the context's cells (`n_ctx` in all).
pub const N_SEQUENCES: usize = 4;

/// Cached runs at least this long that moved within the prompt (lines dropped from the top of the
/// window, text deleted above the cursor) are shifted in the KV cache instead of re-evaluated, as
/// llama-server's `--cache-reuse` does. Shorter runs are more likely to match by accident and
/// cost little to evaluate anyway.
pub const REUSE_MIN_TOKENS: usize = 32;

/// One llama.cpp sequence: which document it belongs to and the tokens in its cache.
#[derive(Debug, Default)]
struct Sequence {
    key: Option<u64>,
    cached: Vec<LlamaToken>,
    last_used: u64,
}

/// The context and what its cache holds.
struct Warm<'model> {
    context: LlamaContext<'model>,
    batch: LlamaBatch<'static>,
    sequences: Vec<Sequence>,
    clock: u64,
}

impl Warm<'_> {
    /// The sequence for `key`: its own if it has one, else an unused or the least recently used
    /// one, emptied.
    fn acquire(&mut self, key: u64) -> usize {
        self.clock += 1;
        let index = match self.sequences.iter().position(|sequence| sequence.key == Some(key)) {
            Some(index) => index,
            None => {
                let index = (0..self.sequences.len())
                    .min_by_key(|&index| {
                        (self.sequences[index].key.is_some(), self.sequences[index].last_used)
                    })
                    .unwrap_or(0);
                self.forget(index);
                self.sequences[index].key = Some(key);
                index
            }
        };
        self.sequences[index].last_used = self.clock;
        index
    }

    fn forget(&mut self, index: usize) {
        let _ = self.context.clear_kv_cache_seq(Some(index as u32), None, None);
        self.sequences[index].cached.clear();
    }

    /// Frees cells for `index` by dropping the least recently used other sequence that holds any.
    fn evict_other(&mut self, index: usize) -> bool {
        let victim = (0..self.sequences.len())
            .filter(|&other| other != index && !self.sequences[other].cached.is_empty())
            .min_by_key(|&other| self.sequences[other].last_used);
        match victim {
            Some(victim) => {
                self.forget(victim);
                self.sequences[victim].key = None;
                true
            }
            None => false,
        }
    }

    fn forget_all(&mut self) {
        self.context.clear_kv_cache();
        for sequence in &mut self.sequences {
            sequence.cached.clear();
        }
    }
}

self_cell::self_cell!(
    struct Session {
        owner: Arc<LlamaModel>,
        #[not_covariant]
        dependent: Warm,
    }
);

pub struct LlamaEngine {
    info: ModelInfo,
    options: LlamaOptions,
    can_shift: bool,
    model: Arc<LlamaModel>,
    session: Mutex<Session>,
    /// Every token's text, by token id (control tokens empty), for token healing; read from the
    /// vocabulary the first time a request needs it.
    pieces: std::sync::OnceLock<Vec<Vec<u8>>>,
    /// Token ids by the first byte of their text, for token healing's search.
    starts: std::sync::OnceLock<Vec<Vec<u32>>>,
    /// Why the model runs on the CPU although GPU layers were asked for.
    gpu_fallback: Option<String>,
    counts: crate::CountMemo,
}

impl LlamaEngine {
    /// Loads a GGUF file. `id` names the model in messages (registry id or file stem). When the
    /// GPU cannot take `gpu_layers` (its memory, its largest buffer), the model loads on the CPU
    /// instead and [`Engine::warning`] says so.
    pub fn load(path: &Path, id: &str, options: LlamaOptions) -> Result<LlamaEngine, EngineError> {
        let (options, fit_warning) = fit_gpu_layers(path, id, options)?;
        let mut engine = LlamaEngine::load_checked(path, id, options)?;
        if engine.gpu_fallback.is_none() {
            engine.gpu_fallback = fit_warning;
        }
        Ok(engine)
    }

    /// Loads with `options`; when the GPU refuses its layers, loads on the CPU with a warning.
    fn load_checked(path: &Path, id: &str, options: LlamaOptions) -> Result<LlamaEngine, EngineError> {
        match LlamaEngine::load_with(path, id, options.clone()) {
            Err(error @ (EngineError::LoadFailed { .. } | EngineError::Context { .. }))
                if options.gpu_layers > 0 =>
            {
                tracing::warn!("{} GPU layers did not load ({error}); trying the CPU", options.gpu_layers);
                let cpu = LlamaOptions { gpu_layers: 0, ..options.clone() };
                let mut engine = LlamaEngine::load_with(path, id, cpu)?;
                engine.gpu_fallback = Some(format!(
                    "the GPU could not take {} layers, so the model runs on the CPU — lower \"model.gpu_layers\" (llama.cpp: {error})",
                    options.gpu_layers
                ));
                Ok(engine)
            }
            other => other,
        }
    }

    fn load_with(path: &Path, id: &str, options: LlamaOptions) -> Result<LlamaEngine, EngineError> {
        check_gguf(path, id)?;
        let backend = backend()?;
        let split_mode = match options.split_mode {
            SplitMode::None => LlamaSplitMode::None,
            SplitMode::Layer => LlamaSplitMode::Layer,
            SplitMode::Row => LlamaSplitMode::Row,
        };
        let model_params = LlamaModelParams::default()
            .with_n_gpu_layers(options.gpu_layers)
            .with_split_mode(split_mode)
            .with_main_gpu(options.main_gpu as i32);
        let model = LlamaModel::load_from_file(backend, path, &model_params)
            .map_err(|_| EngineError::LoadFailed { path: path.to_path_buf() })?;
        let model = Arc::new(model);

        let n_ctx = options.n_ctx.clamp(64, model.n_ctx_train() as usize);
        let threads = i32::try_from(options.threads.max(1)).unwrap_or(1);
        let context_params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx as u32))
            .with_n_batch(PROMPT_CHUNK_TOKENS as u32)
            .with_n_ubatch(PROMPT_CHUNK_TOKENS as u32)
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            .with_n_seq_max(N_SEQUENCES as u32)
            // One pool of cells for all sequences: a busy document may use what idle ones leave.
            .with_kv_unified(true)
            // Sliding-window models (Gemma 3) would otherwise drop cache entries that prefix
            // reuse relies on.
            .with_swa_full(true);
        let session = Session::try_new(Arc::clone(&model), |model| {
            let context = model
                .new_context(backend, context_params)
                .map_err(|error| EngineError::Context { n_ctx, why: error.to_string() })?;
            Ok::<_, EngineError>(Warm {
                context,
                batch: LlamaBatch::new(PROMPT_CHUNK_TOKENS, 1),
                sequences: (0..N_SEQUENCES).map(|_| Sequence::default()).collect(),
                clock: 0,
            })
        })?;

        let support = fim_support(&model);
        let fim = support.map(|support| support.tokens);
        let file_separator = support.and_then(|support| support.file_separator);
        let fim_suffix_first = support.is_some_and(|support| support.suffix_first);
        let device = describe_device(backend, &options, model.n_layer(), threads);
        // Shifting cached positions needs RoPE and a plain attention cache.
        let can_shift = model.rope_type().is_some() && !model.is_recurrent() && !model.is_hybrid();
        let info = ModelInfo {
            id: id.to_owned(),
            path: path.to_path_buf(),
            n_ctx,
            fim,
            file_separator,
            fim_suffix_first,
            fim_by_server: false,
            device,
        };
        Ok(LlamaEngine {
            info,
            options,
            can_shift,
            model,
            session: Mutex::new(session),
            pieces: std::sync::OnceLock::new(),
            starts: std::sync::OnceLock::new(),
            gpu_fallback: None,
            counts: crate::CountMemo::default(),
        })
    }

    /// The model's control token spelled `text` (`<|im_start|>`), if `text` is exactly one.
    pub fn control_token(&self, text: &str) -> Option<u32> {
        crate::fim::single_control_token(&VocabularyView(&self.model.vocab()), text)
    }

    fn tokenize(&self, request: &GenerateRequest) -> Result<Vec<LlamaToken>, EngineError> {
        tokenize_prompt(&self.model, self.info.fim, self.info.file_separator, &request.prompt)
    }
}

/// Refuses what is plainly not a GGUF file before llama.cpp sees it.
fn check_gguf(path: &Path, id: &str) -> Result<(), EngineError> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(EngineError::ModelNotFound { path: path.to_path_buf(), id: id.to_owned() })
        }
        Err(error) => return Err(EngineError::NotGguf { path: path.to_path_buf(), why: error.to_string() }),
    };
    let mut magic = [0u8; 4];
    let not_gguf = |why: &str| EngineError::NotGguf { path: path.to_path_buf(), why: why.into() };
    file.read_exact(&mut magic).map_err(|_| not_gguf("shorter than a GGUF header"))?;
    if &magic != b"GGUF" {
        return Err(not_gguf("no GGUF magic at the start"));
    }
    Ok(())
}

impl Engine for LlamaEngine {
    fn model(&self) -> &ModelInfo {
        &self.info
    }

    fn chat_prompt(&self, messages: &[ChatMessage]) -> Option<Prompt> {
        chat_prompt_of(&self.model, messages)
    }

    fn warning(&self) -> Option<String> {
        self.gpu_fallback.clone()
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.counts.count(text, |text| self.model.vocab().tokenize(text.as_bytes(), false, false).len())
    }

    fn generate(
        &self,
        request: &GenerateRequest,
        on_piece: &mut dyn FnMut(&Piece) -> ControlFlow<()>,
    ) -> Result<Generation, EngineError> {
        let tokens = self.tokenize(request)?;
        let n_ctx = self.info.n_ctx;
        if tokens.is_empty() || tokens.len() + 1 >= n_ctx {
            return Err(EngineError::PromptTooLong { n_prompt: tokens.len(), n_ctx });
        }
        let mut session = self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let reuse = Reuse {
            prefix: self.options.kv_reuse,
            shift: self.options.kv_reuse && self.options.kv_shift && self.can_shift,
        };
        let draft_tokens = self.options.draft_tokens;
        let guided = request.guide.is_some() && request.sampling.is_greedy();
        let pieces = (!request.healing.is_empty() || guided).then(|| {
            self.pieces.get_or_init(|| self.model.tokens(false).map(|(_, piece)| piece).collect()).as_slice()
        });
        let starts = pieces.map(|pieces| {
            self.starts
                .get_or_init(|| {
                    let mut starts = vec![Vec::new(); 256];
                    for (token, piece) in pieces.iter().enumerate() {
                        if let Some(&first) = piece.first() {
                            starts[first as usize].push(token as u32);
                        }
                    }
                    starts
                })
                .as_slice()
        });
        session.with_dependent_mut(|model, warm| {
            generate_in(model, warm, &tokens, request, reuse, draft_tokens, pieces.zip(starts), on_piece)
        })
    }

    fn score_continuations(
        &self,
        request: &GenerateRequest,
        continuations: &[&str],
    ) -> Result<Vec<Vec<TokenScore>>, EngineError> {
        let tokens = self.tokenize(request)?;
        let n_ctx = self.info.n_ctx;
        if tokens.is_empty() || tokens.len() + PROMPT_CHUNK_TOKENS >= n_ctx {
            return Err(EngineError::PromptTooLong { n_prompt: tokens.len(), n_ctx });
        }
        let vocab = self.model.vocab();
        // What fits one batch after the prompt; the rest of a longer continuation is not scored.
        let continuations: Vec<Vec<LlamaToken>> = continuations
            .iter()
            .map(|text| {
                let mut tokens = vocab.tokenize(text.as_bytes(), false, false);
                tokens.truncate(PROMPT_CHUNK_TOKENS);
                tokens
            })
            .collect();
        let reuse = Reuse { prefix: self.options.kv_reuse, shift: false };
        let mut session = self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let logprobs = session.with_dependent_mut(|_, warm| {
            score_continuations_in(warm, &tokens, request, reuse, &continuations)
        })?;
        // Each token's score ends where its bytes end.
        Ok(continuations
            .iter()
            .zip(logprobs)
            .map(|(tokens, logprobs)| {
                let mut end = 0;
                tokens
                    .iter()
                    .zip(logprobs)
                    .map(|(token, logprob)| {
                        end += vocab.token_to_piece(*token, false, None).len();
                        TokenScore { end, logprob, tokens: 1 }
                    })
                    .collect()
            })
            .collect())
    }

    fn uncached_tokens(&self, request: &GenerateRequest) -> Option<usize> {
        let tokens = self.tokenize(request).ok()?;
        if !self.options.kv_reuse {
            return Some(tokens.len());
        }
        let session = self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let cached = session.with_dependent(|_, warm| {
            warm.sequences
                .iter()
                .find(|sequence| sequence.key == Some(request.cache_key))
                .map_or(0, |sequence| common_prefix(&sequence.cached, &tokens))
        });
        // The last prompt token is always evaluated: its logits give the first generated token.
        Some(tokens.len() - cached.min(tokens.len().saturating_sub(1)))
    }

    fn score(&self, text: &str) -> Result<TextScore, EngineError> {
        let vocab = self.model.vocab();
        let mut tokens = Vec::new();
        if vocab.should_add_bos() {
            tokens.push(vocab.bos());
        }
        tokens.extend(vocab.tokenize(text.as_bytes(), false, false));
        // What fits the context window is scored; the rest of a long text is left out.
        tokens.truncate(self.info.n_ctx.saturating_sub(1));
        if tokens.len() < 2 {
            return Ok(TextScore { n_tokens: 0, negative_log_likelihood: 0.0 });
        }
        let mut session = self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (nll, n_scored) = session.with_dependent_mut(|_, warm| score_in(warm, &tokens))?;
        Ok(TextScore { n_tokens: n_scored, negative_log_likelihood: nll })
    }
}

/// The KV sequence key used for scoring text (`Engine::score`); never a document's.
const SCORE_CACHE_KEY: u64 = u64::MAX;

/// Runs `tokens` through the model from scratch and sums each token's negative log-probability
/// given the ones before it. Returns the sum (nats) and how many tokens were scored.
fn score_in(warm: &mut Warm<'_>, tokens: &[LlamaToken]) -> Result<(f64, usize), EngineError> {
    let seq = warm.acquire(SCORE_CACHE_KEY);
    keep_cached(warm, seq, tokens, Reuse { prefix: false, shift: false });
    let (mut nll, mut n_scored, mut position) = (0.0f64, 0usize, 0usize);
    for chunk in tokens.chunks(PROMPT_CHUNK_TOKENS) {
        warm.batch.clear();
        for (offset, token) in chunk.iter().enumerate() {
            add(&mut warm.batch, *token, position + offset, seq, true)?;
        }
        decode(warm, seq)?;
        for row in 0..chunk.len() {
            let Some(next) = tokens.get(position + row + 1) else { break };
            nll -= log_probability(warm.context.get_logits_ith(row as i32), *next);
            n_scored += 1;
        }
        warm.sequences[seq].cached.extend_from_slice(chunk);
        position += chunk.len();
    }
    Ok((nll, n_scored))
}

/// Evaluates `tokens` from `from` on into sequence `seq`, `chunk_tokens` a batch, the last token
/// with logits (its batch stays in `warm.batch`). Checks `cancel` between batches. Returns the
/// position reached and whether it was cancelled.
fn evaluate_prompt(
    warm: &mut Warm<'_>,
    seq: usize,
    tokens: &[LlamaToken],
    from: usize,
    chunk_tokens: usize,
    cancel: Option<&crate::CancelFlag>,
) -> Result<(usize, bool), EngineError> {
    let mut position = from;
    for chunk in tokens[from..].chunks(chunk_tokens) {
        if cancel.is_some_and(crate::CancelFlag::is_cancelled) {
            return Ok((position, true));
        }
        warm.batch.clear();
        for (offset, token) in chunk.iter().enumerate() {
            let is_last = position + offset + 1 == tokens.len();
            add(&mut warm.batch, *token, position + offset, seq, is_last)?;
        }
        decode(warm, seq)?;
        warm.sequences[seq].cached.extend_from_slice(chunk);
        position += chunk.len();
    }
    Ok((position, false))
}

/// Evaluates the prompt `tokens` into the sequence of `request.cache_key` (keeping what its cache
/// already holds), then scores each continuation after it: its first token under the prompt's
/// last logits, the others in one batch, whose cells are dropped again.
fn score_continuations_in(
    warm: &mut Warm<'_>,
    tokens: &[LlamaToken],
    request: &GenerateRequest,
    reuse: Reuse,
    continuations: &[Vec<LlamaToken>],
) -> Result<Vec<Vec<f32>>, EngineError> {
    let seq = warm.acquire(request.cache_key);
    let n_keep = keep_cached(warm, seq, tokens, reuse);
    let (position, _) = evaluate_prompt(warm, seq, tokens, n_keep, PROMPT_CHUNK_TOKENS, None)?;
    let prompt_logits = warm.context.get_logits_ith(warm.batch.n_tokens() - 1).to_vec();
    let mut scores = Vec::with_capacity(continuations.len());
    for continuation in continuations {
        let Some(&first) = continuation.first() else {
            scores.push(Vec::new());
            continue;
        };
        let mut logprobs = vec![log_probability(&prompt_logits, first) as f32];
        if continuation.len() > 1 {
            warm.batch.clear();
            for (offset, token) in continuation[..continuation.len() - 1].iter().enumerate() {
                add(&mut warm.batch, *token, position + offset, seq, true)?;
            }
            decode(warm, seq)?;
            for (row, next) in continuation[1..].iter().enumerate() {
                logprobs.push(log_probability(warm.context.get_logits_ith(row as i32), *next) as f32);
            }
            // The cache keeps the prompt only.
            let _ = warm.context.clear_kv_cache_seq(Some(seq as u32), Some(position as u32), None);
        }
        scores.push(logprobs);
    }
    Ok(scores)
}

/// Which parts of the warm cache a request may use.
#[derive(Debug, Clone, Copy)]
struct Reuse {
    /// Keep the longest common prefix.
    prefix: bool,
    /// Shift moved runs of at least [`REUSE_MIN_TOKENS`].
    shift: bool,
}

/// Every token's text by id, and token ids by the first byte of their text (token healing and
/// index-guided decoding).
type Vocabulary<'a> = (&'a [Vec<u8>], &'a [Vec<u32>]);

#[allow(clippy::too_many_arguments)] // The parts of one generation, each from another owner.
fn generate_in(
    model: &LlamaModel,
    warm: &mut Warm<'_>,
    tokens: &[LlamaToken],
    request: &GenerateRequest,
    reuse: Reuse,
    draft_tokens: usize,
    vocabulary: Option<Vocabulary<'_>>,
    on_piece: &mut dyn FnMut(&Piece) -> ControlFlow<()>,
) -> Result<Generation, EngineError> {
    let pieces = vocabulary.map(|(pieces, _)| pieces);
    let n_ctx = warm.context.n_ctx() as usize;
    let prompt_started = Instant::now();
    let seq = warm.acquire(request.cache_key);
    let n_keep = keep_cached(warm, seq, tokens, reuse);

    let chunk_tokens = if request.background { BACKGROUND_CHUNK_TOKENS } else { PROMPT_CHUNK_TOKENS };
    let (mut position, cancelled) =
        evaluate_prompt(warm, seq, tokens, n_keep, chunk_tokens, Some(&request.cancel))?;
    let mut stop_reason = cancelled.then_some(StopReason::Cancelled);
    let n_prompt_evaluated = position - n_keep;
    let prompt_ms = prompt_started.elapsed().as_secs_f64() * 1e3;
    if request.max_tokens == 0 && stop_reason.is_none() {
        // A warm-up: the prompt is in the cache now, nothing to generate.
        stop_reason = Some(StopReason::MaxTokens);
    }

    let decode_started = Instant::now();
    let vocab = model.vocab();
    let mut stopper = Stopper::new(request.stop);
    let mut pending_bytes: Vec<u8> = Vec::new();
    let mut pending_logprob = 0.0f32;
    let mut pending_tokens = 0u32;
    let mut token_scores = Vec::new();
    let mut emitted_bytes = 0usize;
    let mut logprob_sum = 0.0f32;
    let mut n_generated = 0usize;
    let mut n_draft_accepted = 0usize;
    let mut n_guided = 0usize;
    let mut guide_ms = 0.0f64;
    let mut over_budget = false;
    // Which row of the last batch's logits predicts the next token.
    let mut logits_row = warm.batch.n_tokens() - 1;
    // Draft tokens the model confirmed: greedy, already in the KV cache, not yet emitted.
    let mut verified: std::collections::VecDeque<(LlamaToken, f32)> = std::collections::VecDeque::new();
    let mut rng = SplitMix64(request.sampling.seed);
    // Token healing: the bytes of `request.healing` not spelled yet.
    let mut to_spell: &[u8] = if pieces.is_some() { request.healing.as_bytes() } else { &[] };
    // Index-guided decoding: the guide and the line it has seen.
    let guide = request.guide.as_ref().filter(|_| request.sampling.is_greedy()).zip(pieces);
    let mut guide_state = guide.map(|(guide, _)| GuideState::new(guide));
    while stop_reason.is_none() {
        let (token, logprob, in_cache) = match verified.pop_front() {
            Some((token, logprob)) => (token, logprob, true),
            None => {
                let logits = warm.context.get_logits_ith(logits_row);
                let known = |piece: &[u8]| match (guide, &guide_state) {
                    (Some((guide, _)), Some(state)) => state.unknown_name(guide, piece).is_none(),
                    _ => true,
                };
                let (token, logprob) = match vocabulary.filter(|_| !to_spell.is_empty()) {
                    Some((pieces, starts)) => {
                        match healing_choice(logits, pieces, starts, to_spell, &known) {
                            Some(choice) => choice,
                            None => {
                                // No token spells it (not in a byte-level vocabulary): give up.
                                stop_reason = Some(StopReason::EndOfGeneration);
                                break;
                            }
                        }
                    }
                    None if request.sampling.is_greedy() => {
                        let model_choice = greedy(logits);
                        let guide_started = Instant::now();
                        let choice = guided(logits, guide, guide_state.as_ref(), model_choice);
                        if guide.is_some() {
                            guide_ms += guide_started.elapsed().as_secs_f64() * 1e3;
                        }
                        n_guided += usize::from(choice.0 != model_choice.0);
                        choice
                    }
                    None => sample(logits, &request.sampling, &mut rng),
                };
                (token, logprob, false)
            }
        };
        if let Some(pieces) = pieces.filter(|_| !to_spell.is_empty()) {
            let spelled = pieces[token.0 as usize].len().min(to_spell.len());
            to_spell = &to_spell[spelled..];
        }
        if let (Some((guide, pieces)), Some(state)) = (guide, guide_state.as_mut()) {
            let started = Instant::now();
            state.push(guide, &pieces[token.0 as usize]);
            guide_ms += started.elapsed().as_secs_f64() * 1e3;
        }
        if vocab.is_eog(token) {
            stop_reason = Some(StopReason::EndOfGeneration);
            break;
        }
        n_generated += 1;
        logprob_sum += logprob;
        pending_logprob += logprob;
        pending_tokens += 1;
        pending_bytes.extend(vocab.token_to_piece(token, false, None));
        if let Some(text) = take_utf8(&mut pending_bytes) {
            emitted_bytes += text.len();
            token_scores.push(TokenScore {
                end: emitted_bytes,
                logprob: pending_logprob,
                tokens: pending_tokens,
            });
            let piece = Piece { text, logprob: pending_logprob };
            pending_logprob = 0.0;
            pending_tokens = 0;
            if stopper.push(&piece.text).is_break() {
                stop_reason = Some(if over_budget { StopReason::TimeBudget } else { StopReason::StopRule });
            }
            if on_piece(&piece).is_break() && stop_reason.is_none() {
                stop_reason = Some(StopReason::Callback);
            }
        }
        if stop_reason.is_some() {
            break;
        }
        if !over_budget && request.time_budget.is_some_and(|budget| prompt_started.elapsed() > budget) {
            // Out of time: finish the line being written, then stop.
            over_budget = true;
            stopper.stop_at_next_newline();
        }
        if n_generated >= request.max_tokens {
            stop_reason = Some(StopReason::MaxTokens);
            break;
        }
        if position + 1 >= n_ctx {
            stop_reason = Some(StopReason::ContextFull);
            break;
        }
        if request.cancel.is_cancelled() {
            stop_reason = Some(StopReason::Cancelled);
            break;
        }
        if in_cache {
            continue;
        }
        // Decode the token together with a guess of what follows it, copied from earlier in the
        // text; the logits tell which guessed tokens greedy decoding would have produced anyway.
        let room = (request.max_tokens - n_generated).min(n_ctx.saturating_sub(position + 2));
        // Guesses are checked against greedy choices: with sampling there is nothing to check.
        // While the typed word is spelled (token healing), the next token is not greedy's either.
        let n_draft = if request.sampling.is_greedy() && to_spell.is_empty() {
            draft_tokens.min(room.saturating_sub(1))
        } else {
            0
        };
        let draft = lookup_draft(&warm.sequences[seq].cached, token, n_draft);
        warm.batch.clear();
        add(&mut warm.batch, token, position, seq, true)?;
        for (offset, guess) in draft.iter().enumerate() {
            add(&mut warm.batch, *guess, position + 1 + offset, seq, true)?;
        }
        decode(warm, seq)?;
        warm.sequences[seq].cached.push(token);
        position += 1;
        let mut row = 0;
        // What the guide will have seen when each guess comes up.
        let mut guess_state = guide_state.clone();
        for guess in &draft {
            let logits = warm.context.get_logits_ith(row);
            let model_choice = greedy(logits);
            let guide_started = guide.is_some().then(Instant::now);
            let (predicted, logprob) = guided(logits, guide, guess_state.as_ref(), model_choice);
            if let Some(started) = guide_started {
                guide_ms += started.elapsed().as_secs_f64() * 1e3;
            }
            if predicted != *guess {
                break;
            }
            n_guided += usize::from(predicted != model_choice.0);
            if let (Some((guide, pieces)), Some(state)) = (guide, guess_state.as_mut()) {
                state.push(guide, &pieces[guess.0 as usize]);
            }
            warm.sequences[seq].cached.push(*guess);
            verified.push_back((*guess, logprob));
            position += 1;
            row += 1;
        }
        if (row as usize) < draft.len() {
            // Forget the guesses the model did not confirm.
            let _ = warm.context.clear_kv_cache_seq(Some(seq as u32), Some(position as u32), None);
        }
        n_draft_accepted += row as usize;
        logits_row = row;
    }
    let decode_ms = decode_started.elapsed().as_secs_f64() * 1e3;
    let stop_reason = stop_reason.unwrap_or(StopReason::EndOfGeneration);
    let text = if stop_reason == StopReason::Cancelled { String::new() } else { stopper.finish() };
    Ok(Generation {
        text,
        stop_reason,
        n_prompt_tokens: tokens.len(),
        n_prompt_evaluated,
        n_generated,
        n_draft_accepted,
        n_guided,
        guide_ms,
        prompt_ms,
        decode_ms,
        mean_logprob: if n_generated == 0 { 0.0 } else { logprob_sum / n_generated as f32 },
        token_scores,
    })
}

/// Tokens that must match before the text after an earlier occurrence is guessed: three tokens
/// rarely repeat by accident in code, and shorter keys guess wrong more often than they help.
const DRAFT_KEY_TOKENS: usize = 3;

/// Prompt-lookup drafting: if the last tokens (`history` + `next`) occurred earlier, the tokens
/// that followed them there, at most `max`. Code repeats itself (names, calls, whole lines), and
/// checking a guess costs little more than decoding one token, because decoding is bound by
/// reading the weights, not by the number of tokens in the batch.
fn lookup_draft(history: &[LlamaToken], next: LlamaToken, max: usize) -> Vec<LlamaToken> {
    let n = history.len();
    if max == 0 || n < DRAFT_KEY_TOKENS {
        return Vec::new();
    }
    let key = [history[n - 2], history[n - 1], next];
    // The most recent earlier occurrence with something after it.
    (0..n - DRAFT_KEY_TOKENS + 1)
        .rev()
        .find(|&start| history[start..start + DRAFT_KEY_TOKENS] == key && start + DRAFT_KEY_TOKENS < n)
        .map(|start| {
            let from = start + DRAFT_KEY_TOKENS;
            history[from..(from + max).min(n)].to_vec()
        })
        .unwrap_or_default()
}

/// Evaluates the batch for sequence `seq`. When the cells are full, drops other documents'
/// sequences (least recently used first) and tries again. A failure leaves the cache in an
/// unknown state, so everything is forgotten before the error is reported.
fn decode(warm: &mut Warm<'_>, seq: usize) -> Result<(), EngineError> {
    loop {
        match warm.context.decode(&mut warm.batch) {
            Ok(()) => return Ok(()),
            Err(llama_cpp_2::DecodeError::NoKvCacheSlot) if warm.evict_other(seq) => continue,
            Err(error) => {
                warm.forget_all();
                return Err(EngineError::Decode(error.to_string()));
            }
        }
    }
}

/// Prepares sequence `seq` for `tokens` and returns how many leading tokens are already in its
/// cache at their positions. Keeps the longest common prefix, then (with `reuse.shift`) shifts
/// later cached runs that reappear right after it, as llama-server's `--cache-reuse` does.
/// Always leaves the last prompt token to evaluate: its logits give the first generated token.
fn keep_cached(warm: &mut Warm<'_>, seq: usize, tokens: &[LlamaToken], reuse: Reuse) -> usize {
    let seq_id = seq as i32;
    let limit = tokens.len() - 1;
    let cached = std::mem::take(&mut warm.sequences[seq].cached);
    let mut n_keep = if reuse.prefix { common_prefix(&cached, tokens).min(limit) } else { 0 };
    let mut kept: Vec<LlamaToken> = cached[..n_keep].to_vec();
    if reuse.shift {
        let (mut head_cache, mut head_prompt) = (n_keep, n_keep);
        while head_cache < cached.len() && head_prompt < limit {
            let n_match = common_prefix(&cached[head_cache..], &tokens[head_prompt..limit]);
            if n_match >= REUSE_MIN_TOKENS {
                let shift = head_prompt as i32 - head_cache as i32;
                let removed =
                    warm.context.kv_cache_seq_rm(seq_id, Some(head_prompt as u32), Some(head_cache as u32));
                let added = warm.context.kv_cache_seq_add(
                    seq_id,
                    Some(head_cache as u32),
                    Some((head_cache + n_match) as u32),
                    shift,
                );
                if removed.is_err() || added.is_err() {
                    break;
                }
                kept.extend_from_slice(&cached[head_cache..head_cache + n_match]);
                head_cache += n_match;
                head_prompt += n_match;
                n_keep = head_prompt;
            } else {
                head_cache += 1;
            }
        }
    }
    // Drop whatever is cached past the kept tokens. The cache must then hold exactly them
    // (sliding-window models can lose cells); otherwise start from nothing.
    let removed = warm.context.clear_kv_cache_seq(Some(seq as u32), Some(n_keep as u32), None);
    let intact = removed.unwrap_or(false)
        && (n_keep == 0 || warm.context.kv_cache_seq_pos_max(seq_id) == n_keep as i32 - 1);
    if !intact {
        let _ = warm.context.clear_kv_cache_seq(Some(seq as u32), None, None);
        kept.clear();
        n_keep = 0;
    }
    warm.sequences[seq].cached = kept;
    n_keep
}

fn add(
    batch: &mut LlamaBatch<'_>,
    token: LlamaToken,
    position: usize,
    seq: usize,
    logits: bool,
) -> Result<(), EngineError> {
    batch
        .add(token, position as i32, &[seq as i32], logits)
        .map_err(|error| EngineError::Decode(error.to_string()))
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Takes the longest complete UTF-8 text from the front of `bytes`; invalid bytes become U+FFFD.
/// Returns None while only the start of a multi-byte character is buffered.
fn take_utf8(bytes: &mut Vec<u8>) -> Option<String> {
    let valid = match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(error) if error.error_len().is_none() => error.valid_up_to(),
        Err(_) => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            bytes.clear();
            return Some(text);
        }
    };
    if valid == 0 {
        return None;
    }
    let rest = bytes.split_off(valid);
    let text = String::from_utf8(std::mem::replace(bytes, rest)).ok()?;
    Some(text)
}

impl std::fmt::Debug for LlamaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaEngine").field("info", &self.info).field("options", &self.options).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_copy_what_followed_the_last_occurrence_of_the_key() {
        let t = |ids: &[i32]| ids.iter().map(|&id| LlamaToken(id)).collect::<Vec<_>>();
        let history = t(&[1, 2, 3, 4, 5, 9, 1, 2]);
        assert_eq!(lookup_draft(&history, LlamaToken(3), 8), t(&[4, 5, 9, 1, 2]));
        assert_eq!(lookup_draft(&history, LlamaToken(3), 2), t(&[4, 5]));
        assert_eq!(lookup_draft(&history, LlamaToken(7), 8), t(&[]));
        assert_eq!(lookup_draft(&history, LlamaToken(3), 0), t(&[]));
        // The most recent occurrence wins.
        let history = t(&[1, 2, 3, 7, 1, 2, 3, 8, 1, 2]);
        assert_eq!(lookup_draft(&history, LlamaToken(3), 1), t(&[8]));
    }

    #[test]
    fn take_utf8_waits_for_whole_characters() {
        let mut bytes = "é".as_bytes()[..1].to_vec();
        assert_eq!(take_utf8(&mut bytes), None);
        bytes.extend_from_slice(&"é".as_bytes()[1..]);
        bytes.extend_from_slice(b"x");
        assert_eq!(take_utf8(&mut bytes).as_deref(), Some("éx"));
        assert!(bytes.is_empty());
    }
}
