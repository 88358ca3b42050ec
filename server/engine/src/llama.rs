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
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::{
    Engine, EngineError, FimTokens, GenerateRequest, Generation, ModelInfo, Piece, PromptPart, SpecialToken,
    StopReason, Stopper,
};

/// Prompt tokens evaluated per `llama_decode` call. Between chunks the cancel flag is checked, so
/// this bounds how long a cancelled request keeps the CPU: 64 tokens are ~0.3 s at the ~200 tok/s
/// that SmolLM2 evaluates on 2 cores, while costing little throughput against larger batches.
pub const PROMPT_CHUNK_TOKENS: usize = 64;

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
    /// Keep evaluated tokens between requests and reuse the longest common prefix.
    pub kv_reuse: bool,
}

impl Default for LlamaOptions {
    fn default() -> LlamaOptions {
        LlamaOptions {
            n_ctx: 4096,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()).min(8),
            gpu_layers: 0,
            kv_reuse: true,
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

/// The context and what it holds: the tokens whose keys and values are in its cache.
struct Slot<'model> {
    context: LlamaContext<'model>,
    cached: Vec<LlamaToken>,
    batch: LlamaBatch<'static>,
}

self_cell::self_cell!(
    struct Session {
        owner: Arc<LlamaModel>,
        #[not_covariant]
        dependent: Slot,
    }
);

pub struct LlamaEngine {
    info: ModelInfo,
    options: LlamaOptions,
    model: Arc<LlamaModel>,
    session: Mutex<Session>,
}

impl LlamaEngine {
    /// Loads a GGUF file. `id` names the model in messages (registry id or file stem).
    pub fn load(path: &Path, id: &str, options: LlamaOptions) -> Result<LlamaEngine, EngineError> {
        check_gguf(path, id)?;
        let backend = backend()?;
        let model_params = LlamaModelParams::default().with_n_gpu_layers(options.gpu_layers);
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
            // Sliding-window models (Gemma 3) would otherwise drop cache entries that prefix
            // reuse relies on.
            .with_swa_full(true);
        let session = Session::try_new(Arc::clone(&model), |model| {
            let context = model
                .new_context(backend, context_params)
                .map_err(|error| EngineError::Context { n_ctx, why: error.to_string() })?;
            Ok::<_, EngineError>(Slot {
                context,
                cached: Vec::new(),
                batch: LlamaBatch::new(PROMPT_CHUNK_TOKENS, 1),
            })
        })?;

        let vocab = model.vocab();
        let (pre, suf, mid) = (vocab.fim_pre(), vocab.fim_suf(), vocab.fim_mid());
        let fim = (pre.0 >= 0 && suf.0 >= 0 && mid.0 >= 0).then(|| FimTokens {
            prefix: pre.0 as u32,
            suffix: suf.0 as u32,
            middle: mid.0 as u32,
        });
        let device = if backend.supports_gpu_offload() && options.gpu_layers > 0 {
            let n_layer = model.n_layer();
            format!("gpu, {}/{} layers offloaded", options.gpu_layers.min(n_layer), n_layer)
        } else {
            format!("cpu, {threads} threads")
        };
        let info = ModelInfo { id: id.to_owned(), path: path.to_path_buf(), n_ctx, fim, device };
        Ok(LlamaEngine { info, options, model, session: Mutex::new(session) })
    }

    fn tokenize(&self, request: &GenerateRequest) -> Result<Vec<LlamaToken>, EngineError> {
        let vocab = self.model.vocab();
        let mut tokens = Vec::new();
        if vocab.should_add_bos() {
            tokens.push(vocab.bos());
        }
        for part in &request.prompt.parts {
            match part {
                PromptPart::Text(text) => {
                    tokens.extend(vocab.tokenize(text.as_bytes(), false, false));
                }
                PromptPart::Special(special) => {
                    let fim = self.info.fim.ok_or(EngineError::MissingSpecialToken { token: *special })?;
                    let id = match special {
                        SpecialToken::FimPrefix => fim.prefix,
                        SpecialToken::FimSuffix => fim.suffix,
                        SpecialToken::FimMiddle => fim.middle,
                    };
                    tokens.push(LlamaToken(id as i32));
                }
            }
        }
        Ok(tokens)
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

    fn count_tokens(&self, text: &str) -> usize {
        self.model.vocab().tokenize(text.as_bytes(), false, false).len()
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
        session.with_dependent_mut(|model, slot| {
            generate_in_slot(model, slot, &tokens, request, self.options.kv_reuse, on_piece)
        })
    }
}

fn generate_in_slot(
    model: &LlamaModel,
    slot: &mut Slot<'_>,
    tokens: &[LlamaToken],
    request: &GenerateRequest,
    kv_reuse: bool,
    on_piece: &mut dyn FnMut(&Piece) -> ControlFlow<()>,
) -> Result<Generation, EngineError> {
    let n_ctx = slot.context.n_ctx() as usize;
    let prompt_started = Instant::now();

    // Keep the longest common prefix, but always evaluate at least the last prompt token: its
    // logits give the first generated token.
    let mut n_keep = if kv_reuse { common_prefix(&slot.cached, tokens) } else { 0 };
    n_keep = n_keep.min(tokens.len() - 1);
    if !remove_from(slot, n_keep) {
        n_keep = 0;
        slot.context.clear_kv_cache();
        slot.cached.clear();
    }

    let decode_error = |error: llama_cpp_2::DecodeError| EngineError::Decode(error.to_string());
    let mut position = n_keep;
    let mut stop_reason = None;
    for chunk in tokens[n_keep..].chunks(PROMPT_CHUNK_TOKENS) {
        if request.cancel.is_cancelled() {
            stop_reason = Some(StopReason::Cancelled);
            break;
        }
        slot.batch.clear();
        for token in chunk {
            let is_last = position + 1 == tokens.len();
            add(&mut slot.batch, *token, position, is_last)?;
            position += 1;
        }
        // A failed decode leaves the cache in an unknown state: forget it before reporting.
        if let Err(error) = slot.context.decode(&mut slot.batch) {
            slot.context.clear_kv_cache();
            slot.cached.clear();
            return Err(decode_error(error));
        }
        slot.cached.extend_from_slice(chunk);
    }
    let n_prompt_evaluated = position - n_keep;
    let prompt_ms = prompt_started.elapsed().as_secs_f64() * 1e3;

    let decode_started = Instant::now();
    let vocab = model.vocab();
    let mut stopper = Stopper::new(request.stop);
    let mut pending_bytes: Vec<u8> = Vec::new();
    let mut pending_logprob = 0.0f32;
    let mut logprob_sum = 0.0f32;
    let mut n_generated = 0usize;
    while stop_reason.is_none() {
        let logits = slot.context.get_logits_ith(slot.batch.n_tokens() - 1);
        let (token, logprob) = greedy(logits);
        if vocab.is_eog(token) {
            stop_reason = Some(StopReason::EndOfGeneration);
            break;
        }
        n_generated += 1;
        logprob_sum += logprob;
        pending_logprob += logprob;
        pending_bytes.extend(vocab.token_to_piece(token, false, None));
        if let Some(text) = take_utf8(&mut pending_bytes) {
            let piece = Piece { text, logprob: pending_logprob };
            pending_logprob = 0.0;
            if stopper.push(&piece.text).is_break() {
                stop_reason = Some(StopReason::StopRule);
            }
            if on_piece(&piece).is_break() && stop_reason.is_none() {
                stop_reason = Some(StopReason::Callback);
            }
        }
        if stop_reason.is_some() {
            break;
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
        slot.batch.clear();
        add(&mut slot.batch, token, position, true)?;
        if let Err(error) = slot.context.decode(&mut slot.batch) {
            slot.context.clear_kv_cache();
            slot.cached.clear();
            return Err(decode_error(error));
        }
        slot.cached.push(token);
        position += 1;
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
        prompt_ms,
        decode_ms,
        mean_logprob: if n_generated == 0 { 0.0 } else { logprob_sum / n_generated as f32 },
    })
}

/// Drops cached tokens from `n_keep` on. False when llama.cpp could not remove a partial range, or
/// the cache no longer holds exactly the kept prefix (sliding-window models can lose it); the
/// caller then starts from an empty cache.
fn remove_from(slot: &mut Slot<'_>, n_keep: usize) -> bool {
    let Ok(removed) = slot.context.clear_kv_cache_seq(Some(0), Some(n_keep as u32), None) else {
        return false;
    };
    slot.cached.truncate(n_keep);
    if !removed {
        return false;
    }
    let expected_max = n_keep as i32 - 1;
    n_keep == 0 || slot.context.kv_cache_seq_pos_max(0) == expected_max
}

fn add(
    batch: &mut LlamaBatch<'_>,
    token: LlamaToken,
    position: usize,
    logits: bool,
) -> Result<(), EngineError> {
    batch.add(token, position as i32, &[0], logits).map_err(|error| EngineError::Decode(error.to_string()))
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Logits this far below the best add less than `exp(-20)` ≈ 2e-9 each to the softmax sum: even
/// all 262k of a Gemma vocabulary move the log-probability by under 1e-3. Skipping their `exp`
/// keeps the per-token cost of scoring a 49k-token vocabulary to a compare per logit.
const LOGIT_WINDOW: f32 = 20.0;

/// The most likely token and its natural-log probability (log-softmax of the logits).
fn greedy(logits: &[f32]) -> (LlamaToken, f32) {
    let mut best = 0usize;
    let mut best_logit = f32::NEG_INFINITY;
    for (index, &logit) in logits.iter().enumerate() {
        if logit > best_logit {
            best = index;
            best_logit = logit;
        }
    }
    let floor = best_logit - LOGIT_WINDOW;
    let sum: f32 =
        logits.iter().filter(|&&logit| logit > floor).map(|&logit| (logit - best_logit).exp()).sum();
    (LlamaToken(best as i32), -sum.ln())
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
    fn take_utf8_waits_for_whole_characters() {
        let mut bytes = "é".as_bytes()[..1].to_vec();
        assert_eq!(take_utf8(&mut bytes), None);
        bytes.extend_from_slice(&"é".as_bytes()[1..]);
        bytes.extend_from_slice(b"x");
        assert_eq!(take_utf8(&mut bytes).as_deref(), Some("éx"));
        assert!(bytes.is_empty());
    }

    #[test]
    fn greedy_picks_the_largest_logit_with_its_log_probability() {
        let (token, logprob) = greedy(&[0.0, 2.0, 0.0]);
        assert_eq!(token, LlamaToken(1));
        let expected = 2.0 - (2.0f32.exp() + 2.0).ln();
        assert!((logprob - expected).abs() < 1e-5);
    }
}
