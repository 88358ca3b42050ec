//! Settings layers and the model: resolving `wisp.toml`, `initializationOptions` and
//! `didChangeConfiguration`, and loading the models they name.

use std::sync::{Arc, RwLock};

use tower_lsp_server::ls_types::*;

use crate::server::Server;
use crate::state::ModelState;
use wisp_complete::config;
use wisp_complete::models;

impl Server {
    /// Loads the configured model on the worker (queued before any later completion job, so
    /// those wait for it instead of failing).
    pub(crate) async fn load_model(&self) {
        let config = self.config().model;
        *self.state.model.write().unwrap_or_else(|p| p.into_inner()) = ModelState::Loading;
        self.status("Normal", "loading model", true).await;
        let model_state = Arc::clone(&self.state.model);
        let model_sha256 = Arc::clone(&self.state.model_sha256);
        let outcome = self
            .state
            .service
            .worker()
            .run(move || {
                let loaded = models::load(&config);
                *model_sha256.write().unwrap_or_else(|p| p.into_inner()) =
                    if loaded.is_ok() { models::sha256(&config).unwrap_or_default() } else { String::new() };
                let (state, outcome) = match loaded {
                    Ok(loaded) => {
                        let info = loaded.engine.model();
                        let message = match loaded.engine.warning() {
                            Some(why) => Err(format!("{} loaded on {}, but {why}", info.id, info.device)),
                            None => Ok(format!(
                                "{} loaded in {} ms on {}",
                                info.id,
                                loaded.load_time.as_millis(),
                                info.device
                            )),
                        };
                        (ModelState::Ready(loaded.engine), Ok(message))
                    }
                    Err(why) => (ModelState::Failed(why.clone()), Err(why)),
                };
                *model_state.write().unwrap_or_else(|p| p.into_inner()) = state;
                outcome
            })
            .await
            .unwrap_or_else(|error| Err(error.to_string()));
        match outcome {
            Ok(Ok(message)) => {
                tracing::info!("{message}");
                self.client.log_message(MessageType::INFO, format!("Wisp: {message}")).await;
                self.status("Normal", message, false).await;
            }
            Ok(Err(warning)) => {
                // Loaded, but its server does not answer yet: suggestions come once it does.
                tracing::warn!("{warning}");
                self.state.degraded.store(true, std::sync::atomic::Ordering::Relaxed);
                self.client.log_message(MessageType::WARNING, format!("Wisp: {warning}")).await;
                self.status("Warning", warning, false).await;
            }
            Err(why) => {
                tracing::error!("model unavailable: {why}");
                self.client.show_message(MessageType::ERROR, format!("Wisp: {why}")).await;
                self.status("Error", why, false).await;
            }
        }
    }

    /// Whether `model` is the configured main model (compared under the lock: this runs per
    /// keystroke, and cloning the whole configuration for it would be waste).
    pub(crate) fn is_main_model(&self, model: &config::ModelConfig) -> bool {
        self.state.config.read().unwrap_or_else(|p| p.into_inner()).model == *model
    }

    /// The model that answers with `model` settings: the main one, or an experiment variant's,
    /// loaded (on the worker) the first time a completion of that variant needs it.
    pub(crate) async fn model_state_for(&self, model: &config::ModelConfig) -> Arc<RwLock<ModelState>> {
        if self.is_main_model(model) {
            return Arc::clone(&self.state.model);
        }
        let (state, load) = {
            let mut variants = self.state.variant_models.lock().unwrap_or_else(|p| p.into_inner());
            match variants.iter().find(|(config, _)| config == model) {
                Some((_, state)) => (Arc::clone(state), false),
                None => {
                    let state = Arc::new(RwLock::new(ModelState::Loading));
                    variants.push((model.clone(), Arc::clone(&state)));
                    (state, true)
                }
            }
        };
        if load {
            let config = model.clone();
            let job_state = Arc::clone(&state);
            let loaded = self
                .state
                .service
                .worker()
                .run(move || {
                    let loaded = match models::load(&config) {
                        Ok(loaded) => ModelState::Ready(loaded.engine),
                        Err(why) => ModelState::Failed(format!("experiment variant model: {why}")),
                    };
                    *job_state.write().unwrap_or_else(|p| p.into_inner()) = loaded;
                })
                .await;
            if let Err(why) = loaded {
                *state.write().unwrap_or_else(|p| p.into_inner()) = ModelState::Failed(why.to_string());
            }
        }
        state
    }

    /// Re-resolves the configuration after a layer changed. A bad layer is reported and left out.
    pub(crate) async fn apply_layers(&self, reload_if_model_changed: bool) {
        let (resolved, problem) = {
            let mut layers = self.state.layers.lock().unwrap_or_else(|p| p.into_inner());
            match layers.resolve() {
                Ok(config) => (config, None),
                Err(why) => {
                    // Drop the newest layer that breaks the configuration, keep the rest.
                    layers.client = None;
                    let fallback = layers.resolve().or_else(|_| {
                        layers.initialization = None;
                        layers.resolve()
                    });
                    (fallback.unwrap_or_default(), Some(why))
                }
            }
        };
        if let Some(why) = problem {
            tracing::error!("{why}");
            self.client.show_message(MessageType::ERROR, format!("Wisp: {why}")).await;
        }
        let model_changed = {
            let mut config = self.state.config.write().unwrap_or_else(|p| p.into_inner());
            let changed = config.model != resolved.model;
            *config = resolved;
            changed
        };
        self.state.service.configure_cache(self.config().completion.cache_entries, model_changed);
        let config = self.config();
        *self.state.sensitive.write().unwrap_or_else(|p| p.into_inner()) =
            wisp_guard::SensitiveFiles::new(&config.context.sensitive_files)
                .unwrap_or_else(|_| builtin_sensitive_files());
        let telemetry = &config.telemetry;
        let database = if telemetry.events { telemetry.database() } else { None };
        if let Err(why) = self.state.feedback.configure(database, telemetry.retention()) {
            let message = format!("suggestion feedback is not recorded: {why}");
            tracing::error!("{message}");
            self.client.show_message(MessageType::WARNING, format!("Wisp: {message}")).await;
        }
        if reload_if_model_changed && model_changed {
            self.load_model().await;
        }
    }
}

/// The built-in sensitive file patterns alone (they are constants, checked by the guard's tests).
pub(crate) fn builtin_sensitive_files() -> wisp_guard::SensitiveFiles {
    wisp_guard::SensitiveFiles::new(&[]).expect("the built-in sensitive file patterns are valid globs")
}
