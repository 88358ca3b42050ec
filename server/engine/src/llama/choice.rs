//! Choosing the next token from the logits: greedy, sampled, under token healing or the
//! index guide, and the log-probabilities reported with it.

use llama_cpp_2::token::LlamaToken;

use crate::guide::GuideState;
use crate::{Guide, Sampling};

/// Natural-log probability of `token` under `logits` (log-softmax, computed stably; logits more
/// than [`LOGIT_WINDOW`] below the best are left out of the sum).
pub(super) fn log_probability(logits: &[f32], token: LlamaToken) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let floor = max - LOGIT_WINDOW as f64;
    let sum: f64 = logits
        .iter()
        .map(|&logit| logit as f64)
        .filter(|&logit| logit > floor)
        .map(|logit| (logit - max).exp())
        .sum();
    let logit = logits.get(token.0 as usize).copied().unwrap_or(f32::NEG_INFINITY) as f64;
    logit - max - sum.ln()
}

/// Logits this far below the best add less than `exp(-20)` ≈ 2e-9 each to the softmax sum: even
/// all 262k of a Gemma vocabulary move the log-probability by under 1e-3. Skipping their `exp`
/// keeps the per-token cost of scoring a 49k-token vocabulary to a compare per logit.
pub(super) const LOGIT_WINDOW: f32 = 20.0;

/// Token healing's choice: the most likely token that spells the next part of `to_spell` (or all
/// of it and more), with its natural-log probability under the whole distribution; None when no
/// token does. Tokens `known` accepts (the guide's known names) come first.
pub(super) fn healing_choice(
    logits: &[f32],
    pieces: &[Vec<u8>],
    starts: &[Vec<u32>],
    to_spell: &[u8],
    known: &dyn Fn(&[u8]) -> bool,
) -> Option<(LlamaToken, f32)> {
    // Only tokens that start with the next byte can spell it (`starts`, by first byte).
    let first = *to_spell.first()?;
    let best = |also: &dyn Fn(&[u8]) -> bool| {
        starts[first as usize]
            .iter()
            .map(|&token| token as usize)
            .filter(|&token| crate::spells(&pieces[token], to_spell) && also(&pieces[token]))
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
    };
    let best = best(known).or_else(|| best(&|_| true))?;
    let token = LlamaToken(best as i32);
    Some((token, log_probability(logits, token) as f32))
}

/// `chosen` under index-guided decoding (see [`crate::guide::guided_choice`]); itself without a
/// guide.
pub(super) fn guided(
    logits: &[f32],
    guide: Option<(&Guide, &[Vec<u8>])>,
    state: Option<&GuideState>,
    chosen: (LlamaToken, f32),
) -> (LlamaToken, f32) {
    match (guide, state) {
        (Some((guide, pieces)), Some(state)) => {
            let (token, logprob) =
                crate::guide::guided_choice(logits, pieces, guide, state, (chosen.0 .0 as usize, chosen.1));
            if token != chosen.0 .0 as usize {
                tracing::debug!(
                    "guide: {:?} (logprob {:.2}) for {:?} (logprob {:.2}), which writes a name nothing knows",
                    String::from_utf8_lossy(&pieces[token]),
                    logprob,
                    String::from_utf8_lossy(&pieces[chosen.0 .0 as usize]),
                    chosen.1
                );
            }
            (LlamaToken(token as i32), logprob)
        }
        _ => chosen,
    }
}

/// The most likely token and its natural-log probability (log-softmax of the logits).
pub(super) fn greedy(logits: &[f32]) -> (LlamaToken, f32) {
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

/// A token drawn from `logits` at the sampling's temperature, among the nucleus of `top_p`
/// probability, with its natural-log probability under the model (untempered), like
/// [`greedy`]'s.
pub(super) fn sample(logits: &[f32], sampling: &Sampling, rng: &mut SplitMix64) -> (LlamaToken, f32) {
    let best_logit = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // Tokens further than the window below the best have negligible probability at any
    // temperature Wisp allows; leaving them out keeps this a pass over the vocabulary.
    let floor = best_logit - LOGIT_WINDOW * sampling.temperature.max(1.0);
    let mut candidates: Vec<(usize, f32)> = logits
        .iter()
        .enumerate()
        .filter(|(_, &logit)| logit > floor)
        .map(|(index, &logit)| (index, ((logit - best_logit) / sampling.temperature).exp()))
        .collect();
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f32 = candidates.iter().map(|(_, weight)| weight).sum();
    let mut kept = 0.0;
    let mut n_kept = 0;
    for (_, weight) in &candidates {
        kept += weight;
        n_kept += 1;
        if kept >= sampling.top_p.clamp(0.0, 1.0) * total {
            break;
        }
    }
    candidates.truncate(n_kept.max(1));
    let nucleus: f32 = candidates.iter().map(|(_, weight)| weight).sum();
    let mut target = rng.next_unit() as f32 * nucleus;
    let mut chosen = candidates[candidates.len() - 1].0;
    for (index, weight) in &candidates {
        if target < *weight {
            chosen = *index;
            break;
        }
        target -= weight;
    }
    let untempered_floor = best_logit - LOGIT_WINDOW;
    let sum: f32 = logits
        .iter()
        .filter(|&&logit| logit > untempered_floor)
        .map(|&logit| (logit - best_logit).exp())
        .sum();
    (LlamaToken(chosen as i32), logits[chosen] - best_logit - sum.ln())
}

/// SplitMix64: a small, fast generator; seeded, it gives the same choices on every platform.
pub(super) struct SplitMix64(pub(super) u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_follows_the_temperature_and_the_nucleus() {
        let logits = [0.0, 2.0, 1.0, -30.0];
        let mut rng = SplitMix64(7);
        let hot = Sampling { temperature: 1.0, top_p: 1.0, seed: 7 };
        let mut counts = [0usize; 4];
        for _ in 0..10_000 {
            counts[sample(&logits, &hot, &mut rng).0 .0 as usize] += 1;
        }
        // Softmax of (0, 2, 1): 0.090, 0.665, 0.245; the -30 logit is never drawn.
        assert!((counts[1] as f64 / 1e4 - 0.665).abs() < 0.02, "{counts:?}");
        assert!((counts[2] as f64 / 1e4 - 0.245).abs() < 0.02, "{counts:?}");
        assert_eq!(counts[3], 0);
        // A nucleus of 0.7 keeps only the top token (0.665 < 0.7 needs the second: 0.91).
        let narrow = Sampling { temperature: 1.0, top_p: 0.5, seed: 7 };
        assert!((0..1_000).all(|_| sample(&logits, &narrow, &mut rng).0 .0 == 1));
        // The reported log-probability is the model's, as greedy reports it.
        let (token, logprob) = sample(&logits, &narrow, &mut rng);
        assert_eq!((token, logprob), greedy(&logits));
    }

    #[test]
    fn greedy_picks_the_largest_logit_with_its_log_probability() {
        let (token, logprob) = greedy(&[0.0, 2.0, 0.0]);
        assert_eq!(token, LlamaToken(1));
        let expected = 2.0 - (2.0f32.exp() + 2.0).ln();
        assert!((logprob - expected).abs() < 1e-5);
    }
}
