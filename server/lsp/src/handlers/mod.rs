//! The protocol handlers, one file per area. Each converts from LSP, calls plain Rust, and
//! converts back.

mod code_action;
mod completion;
mod configuration;
mod debug;
mod feedback;
pub(crate) mod workspace;

pub(crate) use configuration::builtin_sensitive_files;
