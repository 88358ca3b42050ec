//! From configuration to a loaded engine: which GGUF file, checked how, loaded with which options.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wisp_engine::registry::{self, Registry};
use wisp_engine::{Engine, FallbackEngine, LlamaEngine, RemoteEngine, RemoteOptions};

use crate::config::{ModelConfig, RemoteConfig};

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

/// Chooses, verifies and loads the configured model (or prepares the remote one). Blocking
/// (seconds): run it off the LSP loop.
pub fn load(config: &ModelConfig) -> Result<Loaded, String> {
    let started = Instant::now();
    if let Some(remote) = &config.remote {
        let engine: Arc<dyn Engine> = Arc::new(connect(remote, config.n_ctx)?);
        let engine = if remote.fallback {
            let local = ModelConfig { remote: None, ..config.clone() };
            let load_local: wisp_engine::fallback::Loader = Box::new(move || {
                load(&local).map(|loaded| loaded.engine).map_err(wisp_engine::EngineError::Backend)
            });
            Arc::new(FallbackEngine::new(engine, load_local))
        } else {
            engine
        };
        return Ok(Loaded { engine, load_time: started.elapsed() });
    }
    let choice = choose(config)?;
    if let Some(entry) = &choice.registry_entry {
        let dir = choice.path.parent().map(PathBuf::from).unwrap_or_default();
        registry::verify(entry, &dir).map_err(|error| error.to_string())?;
    }
    let engine = LlamaEngine::load(&choice.path, &choice.id, config.llama_options())
        .map_err(|error| error.to_string())?;
    Ok(Loaded { engine: Arc::new(engine), load_time: started.elapsed() })
}

/// The engine of a remote model: the service's settings, the bearer token from the config or
/// the environment, and Wisp's redaction rules on everything sent.
fn connect(remote: &RemoteConfig, n_ctx: usize) -> Result<RemoteEngine, String> {
    let vocabulary = match &remote.vocabulary {
        Some(value) if looks_like_path(value) => Some(PathBuf::from(value)),
        Some(id) => {
            let registry = Registry::builtin();
            let entry = registry.get(id).map_err(|error| error.to_string())?;
            let dir = registry::models_dir().map_err(|error| error.to_string())?;
            registry::verify(entry, &dir).map_err(|error| error.to_string())?;
            Some(entry.path_in(&dir))
        }
        None => None,
    };
    let token = remote
        .token
        .clone()
        .or_else(|| std::env::var(&remote.token_env).ok().filter(|token| !token.is_empty()));
    let options = RemoteOptions {
        api: remote.api,
        model: remote.name.clone(),
        token,
        allow_http: remote.allow_http,
        ca_file: remote.ca_file.clone(),
        vocabulary,
        n_ctx,
        stall_timeout: Duration::from_millis(remote.timeout_ms),
        retries: remote.retries,
        max_concurrent: remote.max_concurrent,
        ..RemoteOptions::new(remote.url.clone())
    };
    let redactor = wisp_guard::Redactor::new(redaction_key());
    RemoteEngine::connect(options, Arc::new(move |text: &str| redactor.redact(text).text))
        .map_err(|error| error.to_string())
}

/// A key for this process's placeholders of personal data in prompts sent away: stable while it
/// runs (the server's prompt cache keeps working), unknown to the server.
fn redaction_key() -> [u8; 32] {
    use sha2::Digest;
    let seed = format!("{:?}{:?}", std::time::SystemTime::now(), std::process::id());
    sha2::Sha256::digest(seed.as_bytes()).into()
}

/// sha256 of the configured model file, hex: the registry's pinned hash for registry models
/// (already verified on load), else computed from the file (a second or so per GiB).
pub fn sha256(config: &ModelConfig) -> Result<String, String> {
    if let Some(remote) = &config.remote {
        // The service's model is not here to hash: its address and name stand for it.
        use sha2::Digest;
        let name = format!("remote {} {}", remote.url, remote.name.as_deref().unwrap_or_default());
        return Ok(format!("{:x}", sha2::Sha256::digest(name.as_bytes())));
    }
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
