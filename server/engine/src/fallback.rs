//! An engine that answers with a second one while the first cannot: a remote backend that is down
//! (unreachable, failing, its circuit open) hands its requests to a model in-process, loaded the
//! first time it is needed, until the backend answers again.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::{
    ChatMessage, Engine, EngineError, GenerateRequest, Generation, ModelInfo, Piece, Prompt, PromptPart,
    SpecialToken,
};

/// Loads the engine that answers meanwhile.
pub type Loader = Box<dyn Fn() -> Result<Arc<dyn Engine>, EngineError> + Send + Sync>;

pub struct FallbackEngine {
    primary: Arc<dyn Engine>,
    load: Loader,
    /// Loaded on first need; the error when it could not be.
    secondary: Mutex<Option<Result<Arc<dyn Engine>, String>>>,
    /// Why the last request went to the secondary engine; None while the primary answers.
    falling_back: Mutex<Option<String>>,
    warned: AtomicBool,
}

impl FallbackEngine {
    pub fn new(primary: Arc<dyn Engine>, load: Loader) -> FallbackEngine {
        FallbackEngine {
            primary,
            load,
            secondary: Mutex::new(None),
            falling_back: Mutex::new(None),
            warned: AtomicBool::new(false),
        }
    }

    fn secondary(&self) -> Result<Arc<dyn Engine>, String> {
        let mut secondary = self.secondary.lock().unwrap_or_else(|p| p.into_inner());
        if secondary.is_none() {
            tracing::info!("loading the local model to answer while the remote backend cannot");
            *secondary = Some((self.load)().map_err(|error| error.to_string()));
        }
        secondary.clone().expect("just set")
    }

    fn set_falling_back(&self, why: Option<String>) {
        *self.falling_back.lock().unwrap_or_else(|p| p.into_inner()) = why;
    }
}

impl Engine for FallbackEngine {
    fn model(&self) -> &ModelInfo {
        self.primary.model()
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.primary.count_tokens(text)
    }

    fn generate(
        &self,
        request: &GenerateRequest,
        on_piece: &mut dyn FnMut(&Piece) -> ControlFlow<()>,
    ) -> Result<Generation, EngineError> {
        let mut delivered = false;
        let outcome = self.primary.generate(request, &mut |piece| {
            delivered = true;
            on_piece(piece)
        });
        match outcome {
            // Only a request nothing was shown of yet: the local model starts from the prompt.
            Err(EngineError::Remote { why }) if !delivered && !request.cancel.is_cancelled() => {
                let secondary = self.secondary().map_err(|load| EngineError::Remote {
                    why: format!("{why} (and the local model could not load: {load})"),
                })?;
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!("{why}: answering with the local model until the backend answers again");
                }
                self.set_falling_back(Some(why));
                match plain_for(secondary.model(), &request.prompt) {
                    Some(prompt) => {
                        secondary.generate(&GenerateRequest { prompt, ..request.clone() }, on_piece)
                    }
                    None => secondary.generate(request, on_piece),
                }
            }
            Ok(generation) => {
                if self.falling_back.lock().unwrap_or_else(|p| p.into_inner()).take().is_some() {
                    self.warned.store(false, Ordering::Relaxed);
                    tracing::info!("the remote backend answers again");
                }
                Ok(generation)
            }
            other => other,
        }
    }

    fn chat_prompt(&self, messages: &[ChatMessage]) -> Option<Prompt> {
        self.primary.chat_prompt(messages)
    }

    fn warning(&self) -> Option<String> {
        match &*self.falling_back.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(why) => Some(format!("{why} — answering with the local model meanwhile")),
            None => self.primary.warning(),
        }
    }
}

/// The backend's fill-in-the-middle prompt as a plain one, for a local model without FIM tokens:
/// the text before the cursor (other files' code, then this file's), without the suffix. None
/// when `model` reads the prompt as it is.
fn plain_for(model: &ModelInfo, prompt: &Prompt) -> Option<Prompt> {
    if model.fim.is_some() || !prompt.parts.iter().any(|part| matches!(part, PromptPart::Special(_))) {
        return None;
    }
    let mut text = String::new();
    let mut in_suffix = false;
    for part in &prompt.parts {
        match part {
            PromptPart::Special(SpecialToken::FimSuffix) => in_suffix = true,
            PromptPart::Special(_) => in_suffix = false,
            PromptPart::Text(part) | PromptPart::Template(part) if !in_suffix => text.push_str(part),
            _ => {}
        }
    }
    Some(Prompt { parts: vec![PromptPart::Text(text)] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CancelFlag, ScriptedEngine, StopRule};

    /// An engine whose backend is down.
    struct Down(ModelInfo);

    impl Engine for Down {
        fn model(&self) -> &ModelInfo {
            &self.0
        }
        fn count_tokens(&self, text: &str) -> usize {
            text.len()
        }
        fn generate(
            &self,
            _: &GenerateRequest,
            _: &mut dyn FnMut(&Piece) -> ControlFlow<()>,
        ) -> Result<Generation, EngineError> {
            Err(EngineError::Remote { why: "cannot reach the backend".into() })
        }
    }

    fn request() -> GenerateRequest {
        GenerateRequest {
            prompt: Prompt::text("fn main() {"),
            max_tokens: 8,
            stop: StopRule::Line,
            cancel: CancelFlag::new(),
            cache_key: 0,
            time_budget: None,
            background: false,
            sampling: Default::default(),
            healing: String::new(),
            guide: None,
        }
    }

    #[test]
    fn a_backend_that_is_down_hands_requests_to_the_local_model_and_says_so() {
        let local = Arc::new(ScriptedEngine::new(" let x = 1;\n"));
        let down = Arc::new(Down(local.model().clone()));
        let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&loads);
        let engine = FallbackEngine::new(
            down,
            Box::new(move || {
                counted.fetch_add(1, Ordering::Relaxed);
                Ok(local.clone() as Arc<dyn Engine>)
            }),
        );
        assert_eq!(engine.warning(), None);
        for _ in 0..2 {
            let generation = engine.generate(&request(), &mut |_| ControlFlow::Continue(())).unwrap();
            assert_eq!(generation.text, " let x = 1;");
        }
        assert_eq!(loads.load(Ordering::Relaxed), 1, "the local model loads once");
        let warning = engine.warning().unwrap();
        assert!(warning.contains("cannot reach the backend") && warning.contains("local model"), "{warning}");
    }

    #[test]
    fn a_fim_prompt_for_the_backend_reaches_a_plain_local_model_as_the_code_before_the_cursor() {
        let local = ScriptedEngine::new("");
        let special = PromptPart::Special;
        let prompt = Prompt {
            parts: vec![
                special(SpecialToken::FileSeparator),
                PromptPart::Text("src/a.rs\nfn a() {}\n".into()),
                special(SpecialToken::FimPrefix),
                PromptPart::Text("fn b() {".into()),
                special(SpecialToken::FimSuffix),
                PromptPart::Text("}\n".into()),
                special(SpecialToken::FimMiddle),
            ],
        };
        let plain = plain_for(local.model(), &prompt).unwrap();
        assert_eq!(plain.parts, [PromptPart::Text("src/a.rs\nfn a() {}\nfn b() {".into())]);
        assert_eq!(plain_for(local.model(), &Prompt::text("fn main() {")), None);
    }
}
