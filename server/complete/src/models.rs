//! From configuration to a loaded engine: which GGUF file, checked how, loaded with which options.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wisp_engine::registry::{self, Registry};
use wisp_engine::{Engine, LlamaEngine};

use crate::config::ModelConfig;

/// The model file a configuration names, and the id to show for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChoice {
    pub id: String,
    pub path: PathBuf,
    /// Registry models are checked against their sha256 before loading.
    pub registry_entry: Option<registry::ModelEntry>,
}

/// Resolves `model.path` / `model.id` / the registry default.
pub fn choose(config: &ModelConfig) -> Result<ModelChoice, String> {
    if let Some(path) = &config.path {
        return Ok(ModelChoice {
            id: registry::id_from_path(path),
            path: path.clone(),
            registry_entry: None,
        });
    }
    let registry = Registry::builtin();
    let entry = match &config.id {
        Some(id) => registry.get(id).map_err(|error| error.to_string())?,
        None => registry.default_model(),
    };
    let dir = registry::models_dir().map_err(|error| error.to_string())?;
    Ok(ModelChoice { id: entry.id.clone(), path: entry.path_in(&dir), registry_entry: Some(entry.clone()) })
}

/// A loaded engine and how long loading took.
pub struct Loaded {
    pub engine: Arc<dyn Engine>,
    pub load_time: Duration,
}

/// Chooses, verifies and loads the configured model. Blocking (seconds): run it off the LSP loop.
pub fn load(config: &ModelConfig) -> Result<Loaded, String> {
    let started = Instant::now();
    let choice = choose(config)?;
    if let Some(entry) = &choice.registry_entry {
        let dir = choice.path.parent().map(PathBuf::from).unwrap_or_default();
        registry::verify(entry, &dir).map_err(|error| error.to_string())?;
    }
    let engine = LlamaEngine::load(&choice.path, &choice.id, config.llama_options())
        .map_err(|error| error.to_string())?;
    Ok(Loaded { engine: Arc::new(engine), load_time: started.elapsed() })
}

/// sha256 of the configured model file, hex: the registry's pinned hash for registry models
/// (already verified on load), else computed from the file (a second or so per GiB).
pub fn sha256(config: &ModelConfig) -> Result<String, String> {
    let choice = choose(config)?;
    if let Some(entry) = &choice.registry_entry {
        return Ok(entry.sha256.clone());
    }
    registry::sha256_file(&choice.path).map_err(|error| error.to_string())
}

/// Whether a `--model` value or a variant's `model` names a file rather than a registry id.
pub fn looks_like_path(value: &str) -> bool {
    value.contains('/') || value.ends_with(".gguf") || std::path::Path::new(value).is_file()
}
