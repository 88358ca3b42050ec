//! Which files hold credentials, by name: `.env`, `id_rsa`, `*.pem`, `.npmrc`, ….
//!
//! A pattern without `/` is a glob over the file name (`*.pem` matches `certs/server.pem`). A
//! pattern with `/` is a glob over the whole path; unless it starts with `/` or `**/` it may
//! match at any depth (`.aws/credentials` matches `/home/me/.aws/credentials`). Matching ignores
//! case, because on case-insensitive file systems `ID_RSA` is the same file as `id_rsa`.
//!
//! Committed templates of secret files (`.env.example`, `.env.sample`, `id_rsa.pub`) are exempt
//! from the default patterns ([`DEFAULT_EXCEPTIONS`]): they are meant to be shared and are
//! useful context. A user pattern that names one of them still marks it sensitive.

use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Files that hold credentials, as file-name globs (or path globs where they contain `/`).
pub const DEFAULT_SENSITIVE_PATTERNS: &[&str] = &[
    // Environment files: `.env`, `.env.local`, `.env.production`, `prod.env`, direnv's `.envrc`.
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    // Private keys and key bundles: PEM, raw keys, PKCS#12, Apple's PKCS#8 `.p8`.
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.p8",
    // SSH private keys (their `.pub` halves are exempt, see `DEFAULT_EXCEPTIONS`).
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    // Tool credential files: machine logins, npm and PyPI tokens, git's stored passwords,
    // PostgreSQL passwords, Apache basic-auth users, HashiCorp Vault's token.
    ".netrc",
    "_netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".pgpass",
    ".htpasswd",
    ".vault-token",
    // Cloud credentials: Google service accounts and OAuth clients, gcloud's default login.
    "credentials.json",
    "client_secret*.json",
    "application_default_credentials.json",
    // Per-user cloud and cluster configuration that embeds keys or tokens.
    ".aws/credentials",
    ".docker/config.json",
    ".kube/config",
    // Application secret stores (Rails `secrets.yml`, Kubernetes/Helm `secrets.yaml`).
    "secrets.yml",
    "secrets.yaml",
    "secrets.json",
    "secrets.toml",
    // Password manager databases (KeePass).
    "*.kdbx",
    "*.kdb",
    // Java key stores.
    "*.keystore",
    "*.jks",
    // Kerberos keytabs and OpenVPN profiles (which embed the client key).
    "*.keytab",
    "*.ovpn",
    // Terraform state, which records every secret a configuration created, in plain text.
    "*.tfstate",
    "*.tfstate.backup",
];

/// Files matched by [`DEFAULT_SENSITIVE_PATTERNS`] that are nonetheless not sensitive: templates
/// committed for others to copy, and public keys.
pub const DEFAULT_EXCEPTIONS: &[&str] =
    &[".env.example", ".env.sample", ".env.template", ".env.dist", "id_*.pub"];

/// Why the user's sensitive-file patterns cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SensitiveFilesError {
    /// One pattern is not a valid glob.
    #[error("invalid sensitive-file pattern \"{pattern}\": {source} — fix the glob or remove it")]
    InvalidPattern { pattern: String, source: globset::Error },
    /// Every pattern is valid, but together they are too large to match at once.
    #[error("the sensitive-file patterns could not be combined: {source} — use fewer or simpler patterns")]
    TooManyPatterns { source: globset::Error },
}

/// The set of file patterns that mark a file as sensitive.
#[derive(Debug, Clone)]
pub struct SensitiveFiles {
    defaults: Patterns,
    exceptions: Patterns,
    extra: Patterns,
}

impl SensitiveFiles {
    /// The default patterns plus the user's `extra` ones.
    pub fn new(extra: &[String]) -> Result<Self, SensitiveFilesError> {
        Ok(SensitiveFiles {
            defaults: Patterns::new(DEFAULT_SENSITIVE_PATTERNS.iter().copied())?,
            exceptions: Patterns::new(DEFAULT_EXCEPTIONS.iter().copied())?,
            extra: Patterns::new(extra.iter().map(String::as_str))?,
        })
    }

    /// True when `path` names a file that holds credentials.
    pub fn is_sensitive(&self, path: &Path) -> bool {
        let Some(name) = path.file_name() else { return false };
        let name = name.to_string_lossy();
        let full_path = path.to_string_lossy().replace('\\', "/");
        self.extra.matches(&name, &full_path)
            || (self.defaults.matches(&name, &full_path) && !self.exceptions.matches(&name, &full_path))
    }
}

/// Globs split by what they match: the file name, or the whole path.
#[derive(Debug, Clone)]
struct Patterns {
    names: GlobSet,
    paths: GlobSet,
}

impl Patterns {
    fn new<'a>(patterns: impl Iterator<Item = &'a str>) -> Result<Self, SensitiveFilesError> {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        for pattern in patterns {
            let invalid =
                |source| SensitiveFilesError::InvalidPattern { pattern: pattern.to_owned(), source };
            // Parsed as written first, so an error quotes the user's pattern.
            let parsed = glob(pattern).map_err(invalid)?;
            if pattern.contains('/') {
                let anchored = if pattern.starts_with('/') || pattern.starts_with("**/") {
                    pattern.to_owned()
                } else {
                    format!("**/{pattern}")
                };
                paths.add(glob(&anchored).map_err(invalid)?);
            } else {
                names.add(parsed);
            }
        }
        let build = |builder: GlobSetBuilder| {
            builder.build().map_err(|source| SensitiveFilesError::TooManyPatterns { source })
        };
        Ok(Patterns { names: build(names)?, paths: build(paths)? })
    }

    fn matches(&self, name: &str, full_path: &str) -> bool {
        self.names.is_match(name) || self.paths.is_match(full_path)
    }
}

fn glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(pattern).case_insensitive(true).literal_separator(true).build()
}
