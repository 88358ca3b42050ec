//! Open documents and the languages they are written in.
//!
//! A [`Document`] holds the text of one open file in a rope, converts LSP positions (UTF-8 or
//! UTF-16, lines split at "\n", "\r\n" and "\r") to and from byte offsets, applies LSP content
//! changes, and keeps a tree-sitter tree up to date by incremental reparsing. The
//! [`LanguageRegistry`] finds a document's [`Language`] by LSP `languageId` or file extension, from
//! the `grammars/<lang>/language.toml` files built into the binary. [`tags`] runs each language's
//! `tags.scm` query to find a file's definitions, references, imports and scopes.
//!
//! This crate knows LSP's position rules but not its JSON: `server/lsp` converts protocol types to
//! these.

mod document;
pub mod index;
mod language;
pub mod names;
mod position;
pub mod tags;

/// The rope and tree-sitter crates whose types this API returns. Use these re-exports rather than
/// depending on ropey directly: its default `unicode_lines` feature, once enabled anywhere in the
/// build, would make U+2028 and friends line breaks and shift every LSP position after them.
pub use ropey;
pub use tree_sitter;

pub use document::{Document, EditError, TextChange};
pub use language::{Language, LanguageConfigError, LanguageFiles, LanguageRegistry};
pub use position::{Position, PositionEncoding, PositionError, Range};
pub use tags::{Definition, DefinitionKind, FileTags, Import, Reference, Scope};
