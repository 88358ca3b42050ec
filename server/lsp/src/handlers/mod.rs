//! The protocol handlers, one file per area. Each converts from LSP, calls plain Rust, and
//! converts back.

mod completion;
mod configuration;
mod debug;
mod feedback;
mod workspace;

pub(crate) use configuration::builtin_sensitive_files;
