//! Wisp's completion service in plain Rust types: what a suggestion at a cursor needs, from the
//! settings to the text to insert. Nothing here knows LSP or JSON-RPC; the protocol crate
//! (`server/lsp`) and the command line (`wisp complete`, `wisp eval`) both call it.
//!
//! - [`config`]: the settings (`wisp.toml`, the editor's), their layers, checks and schema.
//! - [`models`]: from settings to a loaded engine.
//! - [`completion`]: gather the text around a cursor, build the prompt, generate, post-process.
//! - [`cache`] and [`flight`]: reuse — earlier suggestions, and generations a later keystroke joins.
//! - [`service`]: which request runs the model, and when (reuse, supersede, debounce, record).
//! - [`worker`]: the one thread that runs the model.
//! - [`actions`]: code actions — where each applies, and its edit, checked with the parser.

#![deny(clippy::print_stdout)]

pub mod actions;
pub mod cache;
pub mod completion;
pub mod config;
pub mod flight;
pub mod metrics;
pub mod models;
pub mod service;
pub mod worker;
