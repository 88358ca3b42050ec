//! Scoring with the model: the log-likelihood of a text (`Engine::score`) and of continuations
//! after a prompt (`Engine::score_continuations`, the candidates of `completion.candidates`).

use llama_cpp_2::token::LlamaToken;

use super::choice::log_probability;
use super::kv::{add, decode, evaluate_prompt, keep_cached, Reuse, Warm};
use super::PROMPT_CHUNK_TOKENS;
use crate::{EngineError, GenerateRequest};

/// The KV sequence key used for scoring text (`Engine::score`); never a document's.
const SCORE_CACHE_KEY: u64 = u64::MAX;

/// Runs `tokens` through the model from scratch and sums each token's negative log-probability
/// given the ones before it. Returns the sum (nats) and how many tokens were scored.
pub(super) fn score_in(warm: &mut Warm<'_>, tokens: &[LlamaToken]) -> Result<(f64, usize), EngineError> {
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

/// Evaluates the prompt `tokens` into the sequence of `request.cache_key` (keeping what its cache
/// already holds), then scores each continuation after it: its first token under the prompt's
/// last logits, the others in one batch, whose cells are dropped again.
pub(super) fn score_continuations_in(
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
