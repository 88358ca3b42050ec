//! An engine that answers with a second one while the first cannot: a remote backend that is down
//! (unreachable, failing, its circuit open) hands its requests to a model in-process, loaded the
//! first time it is needed, until the backend answers again.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::{ChatMessage, Engine, EngineError, GenerateRequest, Generation, ModelInfo, Piece, Prompt};

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
                secondary.generate(request, on_piece)
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
}
