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
mod kv;
mod score;
mod vocabulary;

use choice::{greedy, guided, healing_choice, sample, SplitMix64};
use gpu::{describe_device, fit_gpu_layers};
use kv::{add, common_prefix, decode, evaluate_prompt, keep_cached, Reuse, Sequence, Warm};
pub use kv::{N_SEQUENCES, REUSE_MIN_TOKENS};
use score::{score_continuations_in, score_in};
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
