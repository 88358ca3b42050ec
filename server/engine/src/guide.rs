//! Index-guided decoding: while the model writes a name where a name is used (after `.`, `::`
//! or `->`, where an expression starts), it may only choose tokens that continue a name the
//! repository or the language knows.
//!
//! The engine asks a [`NameOracle`] (built by the caller from the workspace index, the document,
//! the prompt's snippets and the language's standard names) two questions: whether a name is
//! known (or starts one), and whether a name at a place of the line must be known. The check
//! runs on the token the model would choose; only when that token writes or ends an unknown name
//! are the [`GUIDE_TOP_K`] most likely tokens searched for one that does not. When none of them
//! does, the model is writing a new name (`let new_name`, a new function) and the guide lets it:
//! the name is *lifted* until it ends.

use std::sync::Arc;

/// Tokens searched, most likely first, for one that continues a known name when the model's own
/// choice does not. A name the repository knows is nearly always among the model's first few
/// dozen guesses when it fits at all; further down lie tokens the model finds implausible, and
/// forcing one of them writes a known name where none belongs.
pub const GUIDE_TOP_K: usize = 40;

/// What the guide needs to know about names.
pub trait NameOracle: Send + Sync {
    /// Whether a known name is `word` (`whole`) or starts with it (not `whole`).
    fn knows(&self, word: &str, whole: bool) -> bool;
    /// Whether a name that starts after `before` (its line up to it) is used there, and so must
    /// be a known one; false where a new name may be written.
    fn is_used_at(&self, before: &str) -> bool;
}

/// How strongly known names are preferred.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GuideStrength {
    /// A token that writes an unknown name is replaced by the most likely of the top tokens
    /// that does not.
    Mask,
    /// As `Mask`, but only by a token at most `max_drop` nats less likely than the model's
    /// choice: a soft preference that leaves a confident model alone.
    Bias { max_drop: f32 },
}

/// Index-guided decoding for one generation.
#[derive(Clone)]
pub struct Guide {
    pub names: Arc<dyn NameOracle>,
    /// The prompt's last line: the text before the first generated token on its line.
    pub line: String,
    pub strength: GuideStrength,
}

impl std::fmt::Debug for Guide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guide").field("line", &self.line).field("strength", &self.strength).finish()
    }
}

/// Whether `byte` may be part of a name (ASCII letters, digits, `_`, any byte of a non-ASCII
/// character).
fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

/// The line being written, and the name the guide let through as new, while decoding.
#[derive(Debug, Clone)]
pub struct GuideState {
    line: Vec<u8>,
    /// Where in `line` a name starts that no known name extends and the model wrote anyway.
    lifted: Option<usize>,
}

impl GuideState {
    pub fn new(guide: &Guide) -> GuideState {
        GuideState { line: guide.line.as_bytes().to_vec(), lifted: None }
    }

    /// Where the first name that `piece` writes or ends starts, when that name is used where it
    /// stands and no known name is it (an ended name) or starts with it; None when `piece` is
    /// fine.
    pub fn unknown_name(&self, guide: &Guide, piece: &[u8]) -> Option<usize> {
        let n = self.line.len();
        let mut combined = Vec::with_capacity(n + piece.len());
        combined.extend_from_slice(&self.line);
        combined.extend_from_slice(piece);
        // The name the line ends in, if any, goes on or ends with this piece.
        let mut at = n - self.line.iter().rev().take_while(|&&byte| is_name_byte(byte)).count();
        while at < combined.len() {
            if !is_name_byte(combined[at]) {
                if combined[at] == b'\n' {
                    return None;
                }
                at += 1;
                continue;
            }
            let start = at;
            while at < combined.len() && is_name_byte(combined[at]) {
                at += 1;
            }
            let whole = at < combined.len();
            if at == n && !whole {
                break;
            }
            if self.lifted == Some(start) || combined[start].is_ascii_digit() {
                continue;
            }
            let (Ok(word), Ok(before)) =
                (std::str::from_utf8(&combined[start..at]), std::str::from_utf8(&combined[..start]))
            else {
                // A character split between tokens: judged once it is whole.
                continue;
            };
            if guide.names.is_used_at(before) && !guide.names.knows(word, whole) {
                return Some(start);
            }
        }
        None
    }

    /// Takes `piece` as written: a name it writes that is not known is lifted.
    pub fn push(&mut self, guide: &Guide, piece: &[u8]) {
        if let Some(start) = self.unknown_name(guide, piece) {
            self.lifted = Some(start);
        }
        match piece.iter().rposition(|&byte| byte == b'\n') {
            Some(newline) => {
                self.line = piece[newline + 1..].to_vec();
                self.lifted = None;
            }
            None => self.line.extend_from_slice(piece),
        }
    }

    /// Whether `piece` may replace a choice that wrote an unknown name starting at `start`: it
    /// writes no unknown name, and a name still starts there (a name for a name, not a bracket
    /// or an empty member).
    fn replaces(&self, guide: &Guide, piece: &[u8], start: usize) -> bool {
        let n = self.line.len();
        let at_start = if start < n { Some(self.line[start]) } else { piece.get(start - n).copied() };
        !piece.is_empty()
            && at_start.is_some_and(|byte| is_name_byte(byte) && !byte.is_ascii_digit())
            && self.unknown_name(guide, piece).is_none()
    }
}

/// The token to take instead of `chosen` (the model's choice, with its natural-log probability)
/// under the guide: `chosen` itself when it writes no unknown name; else the most likely of the
/// [`GUIDE_TOP_K`] most likely tokens that does not (within `max_drop` of `chosen` under
/// [`GuideStrength::Bias`]); else `chosen` (a new name). `pieces` holds each token's text.
pub fn guided_choice(
    logits: &[f32],
    pieces: &[Vec<u8>],
    guide: &Guide,
    state: &GuideState,
    chosen: (usize, f32),
) -> (usize, f32) {
    let Some(start) = pieces.get(chosen.0).and_then(|piece| state.unknown_name(guide, piece)) else {
        return chosen;
    };
    let floor = match guide.strength {
        GuideStrength::Mask => f32::NEG_INFINITY,
        GuideStrength::Bias { max_drop } => chosen.1 - max_drop,
    };
    let log_sum = log_sum_exp(logits);
    for token in top_k(logits, GUIDE_TOP_K) {
        let logprob = logits[token] - log_sum;
        if logprob < floor {
            break;
        }
        if token != chosen.0 && pieces.get(token).is_some_and(|piece| state.replaces(guide, piece, start)) {
            return (token, logprob);
        }
    }
    chosen
}

/// The `k` most likely tokens, most likely first: one pass that keeps the best `k` seen (a
/// compare per logit; Gemma's vocabulary has 262k of them).
fn top_k(logits: &[f32], k: usize) -> Vec<usize> {
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
    let mut floor = f32::NEG_INFINITY;
    for (index, &logit) in logits.iter().enumerate() {
        if best.len() == k && logit <= floor {
            continue;
        }
        let at = best.partition_point(|&(kept, _)| kept >= logit);
        best.insert(at, (logit, index));
        if best.len() > k {
            best.pop();
        }
        if best.len() == k {
            floor = best[k - 1].0;
        }
    }
    best.into_iter().map(|(_, index)| index).collect()
}

/// Logits this far below the best add less than e^-20 each to the softmax sum: skipping their
/// `exp` leaves a compare per logit.
const LOGIT_WINDOW: f32 = 20.0;

fn log_sum_exp(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let floor = max - LOGIT_WINDOW;
    let sum: f32 = logits.iter().filter(|&&logit| logit > floor).map(|&logit| (logit - max).exp()).sum();
    max + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known names; a name is used after `.`, `::`, `=` or `(`, and free after `let `.
    struct Fixture(Vec<&'static str>);

    impl NameOracle for Fixture {
        fn knows(&self, word: &str, whole: bool) -> bool {
            self.0.iter().any(|name| if whole { *name == word } else { name.starts_with(word) })
        }
        fn is_used_at(&self, before: &str) -> bool {
            let code = before.trim_end();
            !before.trim_start().starts_with("let ") || code.contains('=') && !code.ends_with("let")
        }
    }

    fn guide(line: &str, strength: GuideStrength) -> Guide {
        Guide {
            names: Arc::new(Fixture(vec!["values", "value_of", "len", "counts", "std", "io"])),
            line: line.into(),
            strength,
        }
    }

    /// A fixture vocabulary and logits that rank its tokens in the order given.
    fn vocabulary(ranked: &[&str]) -> (Vec<Vec<u8>>, Vec<f32>) {
        let pieces = ranked.iter().map(|piece| piece.as_bytes().to_vec()).collect();
        let logits = (0..ranked.len()).map(|rank| -(rank as f32)).collect();
        (pieces, logits)
    }

    /// Decodes greedily under the guide: each step ranks the fixture tokens as `steps` says.
    fn decode(guide: &Guide, steps: &[&[&str]]) -> String {
        let mut state = GuideState::new(guide);
        let mut out = String::new();
        for ranked in steps {
            let (pieces, logits) = vocabulary(ranked);
            let (token, _) =
                guided_choice(&logits, &pieces, guide, &state, (0, logits[0] - log_sum_exp(&logits)));
            state.push(guide, &pieces[token]);
            out.push_str(ranked[token]);
        }
        out
    }

    #[test]
    fn a_half_written_name_continues_only_to_a_known_name() {
        let guide = guide("    let total = counts.", GuideStrength::Mask);
        // The model would write `value()`: `value` is no known name, `values` is.
        assert_eq!(decode(&guide, &[&["v", "("], &["alue", "("], &["(", "s"], &["()", "x"]]), "values()");
        // A name that is known as written is left alone.
        assert_eq!(decode(&guide, &[&["len", "v"], &["()", "alues"]]), "len()");
        // An empty member is not a name: `(` cannot replace `valu`.
        assert_eq!(decode(&guide, &[&["valu", "("], &["(", "es"]]), "values");
    }

    #[test]
    fn a_fresh_let_binding_stays_free() {
        let guide = guide("    let ", GuideStrength::Mask);
        assert_eq!(decode(&guide, &[&["tot", "val"], &["al", "ues"], &[" =", "ues"]]), "total =");
    }

    #[test]
    fn a_name_no_top_token_makes_known_lifts_the_mask_until_it_ends() {
        let guide = guide("    x = ", GuideStrength::Mask);
        // `serde` is known nowhere and no other token starts a known name: it is written, and
        // its continuation too; the next name after `::` is guided again.
        assert_eq!(
            decode(&guide, &[&["ser", "(", "1"], &["de", "("], &["::", "("], &["jso", "len"]]),
            "serde::len"
        );
    }

    #[test]
    fn bias_replaces_only_a_nearly_as_likely_token() {
        let close = guide("x = counts.", GuideStrength::Bias { max_drop: 1.5 });
        assert_eq!(decode(&close, &[&["vals", "values"]]), "values", "one nat less likely");
        let far = guide("x = counts.", GuideStrength::Bias { max_drop: 0.5 });
        assert_eq!(decode(&far, &[&["vals", "values"]]), "vals");
    }

    #[test]
    fn top_k_keeps_the_most_likely_in_order() {
        let logits = [0.5, 3.0, -1.0, 2.0, 3.0, 0.0];
        assert_eq!(top_k(&logits, 3), [1, 4, 3]);
        assert_eq!(top_k(&logits, 10).len(), 6);
        assert!((log_sum_exp(&[0.0, 0.0]) - 2f32.ln()).abs() < 1e-6);
    }

    #[test]
    fn a_new_line_starts_a_new_line_of_names() {
        let guide = guide("x = ", GuideStrength::Mask);
        assert_eq!(decode(&guide, &[&["foo", "len"], &["\nlet ", "("], &["bar", "len"]]), "len\nlet bar");
    }
}
