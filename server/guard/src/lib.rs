//! Post-processing filters applied to a suggestion before it is shown, and the privacy guards
//! around what Wisp stores and suggests.
//!
//! Each filter is a plain function in its own file under [`filters`]; [`pipeline::run`] applies
//! them in the order written there ([`FILTERS`]). Filters only cut: what is shown is always a
//! prefix of what the model wrote.
//!
//! [`redact`] finds secrets (API keys, tokens, private keys, passwords) and personal data (emails,
//! IP addresses, phone numbers, card numbers) and replaces them — before telemetry stores a
//! prompt, and so a guardrail can refuse suggestions that contain a secret. [`sensitive`] names
//! the files that hold credentials (`.env`, `id_rsa`, `*.pem`, …), so callers can keep their
//! contents out of prompts and telemetry altogether.

pub mod filters;
pub mod pipeline;
pub mod redact;
pub mod sensitive;

pub use pipeline::{run, Filtered, Surroundings, FILTERS};
pub use redact::{contains_secret, find_sensitive, Finding, Redacted, Redactor, SensitiveKind};
pub use sensitive::{SensitiveFiles, SensitiveFilesError, DEFAULT_SENSITIVE_PATTERNS};
