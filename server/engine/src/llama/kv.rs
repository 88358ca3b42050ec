//! What the KV cache holds and how a request reuses it: one llama.cpp sequence per document
//! (`N_SEQUENCES` at most, the least recently used dropped), the longest common prefix kept and
//! moved runs shifted (`keep_cached`), prompts evaluated in batches into a sequence, and other
//! documents' sequences dropped when the cells run out (`decode`).

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;

use crate::EngineError;

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
pub(super) struct Sequence {
    pub(super) key: Option<u64>,
    pub(super) cached: Vec<LlamaToken>,
    pub(super) last_used: u64,
}

/// The context and what its cache holds.
pub(super) struct Warm<'model> {
    pub(super) context: LlamaContext<'model>,
    pub(super) batch: LlamaBatch<'static>,
    pub(super) sequences: Vec<Sequence>,
    pub(super) clock: u64,
}

impl Warm<'_> {
    /// The sequence for `key`: its own if it has one, else an unused or the least recently used
    /// one, emptied.
    pub(super) fn acquire(&mut self, key: u64) -> usize {
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

    pub(super) fn forget(&mut self, index: usize) {
        let _ = self.context.clear_kv_cache_seq(Some(index as u32), None, None);
        self.sequences[index].cached.clear();
    }

    /// Frees cells for `index` by dropping the least recently used other sequence that holds any.
    pub(super) fn evict_other(&mut self, index: usize) -> bool {
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

    pub(super) fn forget_all(&mut self) {
        self.context.clear_kv_cache();
        for sequence in &mut self.sequences {
            sequence.cached.clear();
        }
    }
}

/// Evaluates `tokens` from `from` on into sequence `seq`, `chunk_tokens` a batch, the last token
/// with logits (its batch stays in `warm.batch`). Checks `cancel` between batches. Returns the
/// position reached and whether it was cancelled.
pub(super) fn evaluate_prompt(
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

/// Which parts of the warm cache a request may use.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reuse {
    /// Keep the longest common prefix.
    pub(super) prefix: bool,
    /// Shift moved runs of at least [`REUSE_MIN_TOKENS`].
    pub(super) shift: bool,
}

/// Evaluates the batch for sequence `seq`. When the cells are full, drops other documents'
/// sequences (least recently used first) and tries again. A failure leaves the cache in an
/// unknown state, so everything is forgotten before the error is reported.
pub(super) fn decode(warm: &mut Warm<'_>, seq: usize) -> Result<(), EngineError> {
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
pub(super) fn keep_cached(warm: &mut Warm<'_>, seq: usize, tokens: &[LlamaToken], reuse: Reuse) -> usize {
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

pub(super) fn add(
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

pub(super) fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
