//! A scripted engine for fast tests of the logic around the model.
//!
//! It "continues" any prompt with a fixed reply, word by word, honouring the stop rule, the
//! callback and the cancel flag exactly as the real engine does. It never stands in for the model
//! in tests of suggestion quality; those use the real default model.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

use crate::{
    Engine, EngineError, GenerateRequest, Generation, ModelInfo, Piece, StopReason, Stopper, TokenScore,
};

#[derive(Debug)]
pub struct ScriptedEngine {
    info: ModelInfo,
    reply: String,
    /// Time spent per generated piece, to exercise cancellation.
    delay_per_piece: Duration,
    /// The log-probability of every piece.
    logprob: f32,
}

impl ScriptedEngine {
    pub fn new(reply: impl Into<String>) -> ScriptedEngine {
        let info = ModelInfo {
            id: "scripted".into(),
            path: PathBuf::from("scripted"),
            n_ctx: 4096,
            fim: None,
            file_separator: None,
            fim_suffix_first: false,
            fim_by_server: false,
            device: "scripted".into(),
        };
        ScriptedEngine { info, reply: reply.into(), delay_per_piece: Duration::ZERO, logprob: -0.1 }
    }

    /// Every piece gets the natural-log probability `logprob` (-0.1 by default: a sure model).
    pub fn with_logprob(mut self, logprob: f32) -> ScriptedEngine {
        self.logprob = logprob;
        self
    }

    pub fn with_delay_per_piece(mut self, delay: Duration) -> ScriptedEngine {
        self.delay_per_piece = delay;
        self
    }
}

impl Engine for ScriptedEngine {
    fn model(&self) -> &ModelInfo {
        &self.info
    }

    /// A ChatML layout (as SmolLM2-Instruct's template), so code actions can be tested with
    /// scripted replies.
    fn chat_prompt(&self, messages: &[crate::ChatMessage]) -> Option<crate::Prompt> {
        let rendered: String = messages
            .iter()
            .enumerate()
            .map(|(index, message)| {
                format!("<|im_start|>{}\n{}<|im_end|>\n", message.role, crate::chat_placeholder(index))
            })
            .chain(["<|im_start|>assistant\n".to_owned()])
            .collect();
        crate::chat_prompt_from_rendered(&rendered, messages)
    }

    /// Whitespace-separated words and punctuation runs, a rough stand-in for a tokenizer.
    fn count_tokens(&self, text: &str) -> usize {
        text.split_inclusive(char::is_whitespace).count()
    }

    fn generate(
        &self,
        request: &GenerateRequest,
        on_piece: &mut dyn FnMut(&Piece) -> ControlFlow<()>,
    ) -> Result<Generation, EngineError> {
        let mut stopper = Stopper::new(request.stop);
        let mut stop_reason = StopReason::EndOfGeneration;
        let mut n_generated = 0;
        let mut token_scores = Vec::new();
        let mut emitted_bytes = 0;
        let started = std::time::Instant::now();
        let mut over_budget = false;
        // The reply is what follows the cursor: with token healing, the typed part of the word
        // comes first, as the real model spells it.
        let healing = (!self.reply.starts_with(&request.healing)).then_some(request.healing.as_str());
        for word in healing.into_iter().chain(self.reply.split_inclusive(char::is_whitespace)) {
            if request.cancel.is_cancelled() {
                stop_reason = StopReason::Cancelled;
                break;
            }
            if n_generated >= request.max_tokens {
                stop_reason = StopReason::MaxTokens;
                break;
            }
            std::thread::sleep(self.delay_per_piece);
            n_generated += 1;
            let piece = Piece { text: word.to_owned(), logprob: self.logprob };
            emitted_bytes += word.len();
            token_scores.push(TokenScore { end: emitted_bytes, logprob: self.logprob, tokens: 1 });
            if stopper.push(word).is_break() {
                stop_reason = if over_budget { StopReason::TimeBudget } else { StopReason::StopRule };
                break;
            }
            if on_piece(&piece).is_break() {
                stop_reason = StopReason::Callback;
                break;
            }
            // As the real engine: past the time budget, the line being written is the last.
            if !over_budget && request.time_budget.is_some_and(|budget| started.elapsed() > budget) {
                over_budget = true;
                stopper.stop_at_next_newline();
            }
        }
        let n_prompt_tokens = self.count_tokens(&request.prompt.render());
        let text = if stop_reason == StopReason::Cancelled { String::new() } else { stopper.finish() };
        Ok(Generation {
            text,
            stop_reason,
            n_prompt_tokens,
            n_prompt_evaluated: n_prompt_tokens,
            n_generated,
            n_draft_accepted: 0,
            n_guided: 0,
            guide_ms: 0.0,
            prompt_ms: 0.0,
            decode_ms: 0.0,
            mean_logprob: self.logprob,
            token_scores,
        })
    }
}
