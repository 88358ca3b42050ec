//! Confidence: how sure the model was of the text it suggests, from the log-probabilities of the
//! tokens behind that text (after post-processing and the filters cut it). A guess the model gave
//! little probability to is suppressed below `completion.min_confidence`; the score travels with
//! the suggestion to the editor and the feedback store, so acceptance can be studied against it.

use std::ops::Range;

use wisp_engine::TokenScore;

/// How sure the model was of a suggestion, as probabilities (0 to 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Confidence {
    /// The geometric mean of its tokens' probabilities (the exponential of their mean
    /// log-probability): the score that is compared with the threshold.
    pub mean: f32,
    /// The probability of its least likely token.
    pub min: f32,
}

/// The confidence of the generated text's bytes `span`, from the tokens that overlap it; None when
/// no token does (an empty span).
pub fn confidence(scores: &[TokenScore], span: Range<usize>) -> Option<Confidence> {
    let mut start = 0;
    let (mut sum, mut tokens, mut min) = (0.0f32, 0u32, f32::INFINITY);
    for score in scores {
        let piece = start..score.end;
        start = score.end;
        if piece.end <= span.start || piece.start >= span.end || score.tokens == 0 {
            continue;
        }
        sum += score.logprob;
        tokens += score.tokens;
        min = min.min(score.logprob / score.tokens as f32);
    }
    (tokens > 0).then(|| Confidence { mean: (sum / tokens as f32).exp(), min: min.exp() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(end: usize, probability: f32) -> TokenScore {
        TokenScore { end, logprob: probability.ln(), tokens: 1 }
    }

    #[test]
    fn only_the_tokens_behind_the_shown_text_count() {
        // " let" (0..4) sure, " x" (4..6) unsure, " = 1;" (6..11) sure, "\nmore" (11..16) unsure.
        let scores = [score(4, 0.9), score(6, 0.1), score(11, 0.9), score(16, 0.01)];
        let all = confidence(&scores, 0..16).unwrap();
        assert!((all.min - 0.01).abs() < 1e-6);
        let shown = confidence(&scores, 1..11).unwrap();
        assert!((shown.mean - (0.9f32 * 0.1 * 0.9).powf(1.0 / 3.0)).abs() < 1e-5, "{shown:?}");
        assert!((shown.min - 0.1).abs() < 1e-6);
        assert_eq!(confidence(&scores, 16..16), None);
    }

    #[test]
    fn a_character_split_across_tokens_counts_each_token() {
        let scores = [TokenScore { end: 4, logprob: (0.5f32 * 0.5).ln(), tokens: 2 }];
        let whole = confidence(&scores, 0..4).unwrap();
        assert!((whole.mean - 0.5).abs() < 1e-6 && (whole.min - 0.5).abs() < 1e-6, "{whole:?}");
    }
}
