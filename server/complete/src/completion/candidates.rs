//! Candidates scored by the model: besides the line the model wrote, the continuation of the line
//! above (in the prompt's window or snippets) whose text matches the cursor's line — what "copy
//! the pattern from above" would insert. Both are scored by the model in one batch each (the
//! log-probability of each token of the line, its end included, after the prompt) and the one
//! with the higher mean log-probability per token is suggested. Greedy decoding picks each token by itself; a line copied from above can be the
//! likelier line as a whole, and small models often drift off one they had in their prompt.

use wisp_engine::{Engine, EngineError, GenerateRequest, Generation, StopReason, TokenScore};

/// A pattern must match at least this many characters of the cursor's line (up to the cursor),
/// among them a letter: shorter matches (`) {`, `    x`) are coincidences.
pub const MIN_PATTERN_CHARS: usize = 6;

/// Lines searched for a pattern at most (the closest ones): bounds the cost per request.
pub const MAX_PATTERN_LINES: usize = 400;

/// Which candidate a suggestion's first line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidate {
    /// The model's own line (greedy, or guided).
    Model,
    /// The continuation of a matching line from the prompt.
    Pattern,
}

impl Candidate {
    pub fn name(self) -> &'static str {
        match self {
            Candidate::Model => "model",
            Candidate::Pattern => "pattern",
        }
    }
}

/// The rest of the line in `sources` (texts, searched from the last line of the last text
/// backwards) whose text before it matches the longest end of `line_before` (the cursor's line up
/// to the cursor, indentation aside); None without a match of [`MIN_PATTERN_CHARS`] or with
/// nothing after it.
pub fn pattern_continuation(line_before: &str, sources: &[&str]) -> Option<String> {
    let key = line_before.trim_start();
    if key.chars().count() < MIN_PATTERN_CHARS {
        return None;
    }
    // (matched length, rest), the longest match first, the closest line among equals.
    let mut best: Option<(usize, &str)> = None;
    let lines = sources.iter().rev().flat_map(|text| text.lines().rev()).take(MAX_PATTERN_LINES);
    for line in lines {
        let line = line.trim_end();
        let longest = best.map_or(MIN_PATTERN_CHARS, |(length, _)| length + 1);
        // The longest end of `key` that occurs in `line` with text after it.
        for (start, _) in key.char_indices() {
            let end_of_key = &key[start..];
            if end_of_key.len() < longest {
                break;
            }
            if !end_of_key.chars().any(char::is_alphabetic) {
                break;
            }
            let found = line
                .match_indices(end_of_key)
                .map(|(at, _)| &line[at + end_of_key.len()..])
                .find(|rest| !rest.trim().is_empty());
            if let Some(rest) = found {
                best = Some((end_of_key.len(), rest));
                break;
            }
        }
    }
    best.map(|(_, rest)| rest.to_owned())
}

/// Replaces the first line of `generation` by `pattern` (the continuation of the prompt a
/// pattern gives, the typed word or spaces first: `typed` bytes of it) when the model scores the
/// pattern's line higher per token than its own, the typed part aside (both spell it); says which
/// candidate stands. An engine that cannot score keeps the model's line.
pub fn choose(
    engine: &dyn Engine,
    request: &GenerateRequest,
    generation: &mut Generation,
    pattern: &str,
    typed: usize,
) -> Result<Candidate, EngineError> {
    let first_line = generation.text.split('\n').next().unwrap_or_default();
    if first_line == pattern || matches!(generation.stop_reason, StopReason::Cancelled) {
        return Ok(Candidate::Model);
    }
    let own = format!("{first_line}\n");
    let copied = format!("{pattern}\n");
    let scores = match engine.score_continuations(request, &[&own, &copied]) {
        Ok(scores) => scores,
        Err(EngineError::Unsupported { .. }) => return Ok(Candidate::Model),
        Err(error) => return Err(error),
    };
    let [own_scores, copied_scores] = &scores[..] else { return Ok(Candidate::Model) };
    // The mean log-probability of the tokens after the typed part: a total favours short lines
    // (a pattern cut short, `e;`, always wins by it), and the typed part is the same in both.
    let per_token = |scores: &[TokenScore]| {
        let after: Vec<f32> =
            scores.iter().filter(|score| score.end > typed).map(|score| score.logprob).collect();
        after.iter().sum::<f32>() / after.len().max(1) as f32
    };
    let (own_score, copied_score) = (per_token(own_scores), per_token(copied_scores));
    tracing::debug!(
        "candidates: the model's line {first_line:?} scores {own_score:.2} a token, the pattern {pattern:?} {copied_score:.2}"
    );
    if copied_score <= own_score {
        return Ok(Candidate::Model);
    }
    generation.text = pattern.to_owned();
    generation.stop_reason = StopReason::StopRule;
    generation.token_scores =
        copied_scores.iter().copied().filter(|score| score.end <= pattern.len()).collect();
    Ok(Candidate::Pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_matching_end_of_the_line_gives_the_rest_of_the_line_above() {
        let above = "    let total: usize = counts.values().sum();\n    let first = counts.keys().next();\n";
        assert_eq!(
            pattern_continuation("    let all = counts.v", &[above]).as_deref(),
            Some("alues().sum();")
        );
        assert_eq!(
            pattern_continuation("    let all = counts.k", &[above]).as_deref(),
            Some("eys().next();")
        );
        // `counts.` matches both lines: the closest one (the last) wins.
        assert_eq!(pattern_continuation("    let n = counts.", &[above]).as_deref(), Some("keys().next();"));
        assert_eq!(pattern_continuation("    x = y", &[above]), None, "too short to be a pattern");
        assert_eq!(pattern_continuation("    let other = nothing_like(", &[above]), None);
        // A longer match in an earlier source beats a shorter one in a later source.
        let snippet = "fn sum(counts: &Counts) -> usize { counts.values().sum() }";
        assert_eq!(
            pattern_continuation("    counts.values", &[snippet, "let values = 1;\n"]).as_deref(),
            Some("().sum() }")
        );
    }
}
