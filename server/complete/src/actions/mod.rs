//! Code actions in plain types: which actions apply at a cursor ([`offers`]), and the edit each
//! one makes ([`resolve`]), computed with the model and checked with the language's parser before
//! it is returned. The language server turns offers into `CodeAction`s and edits into
//! `WorkspaceEdit`s; nothing here knows LSP.
//!
//! Instruction-tuned models get a chat prompt laid out by the template in their GGUF metadata
//! (SmolLM2-Instruct has one); the body of a function is completed like a suggestion, through the
//! completion pipeline and its filters.

mod offer;
mod resolve;
mod shape;

pub use offer::*;
pub use resolve::*;

/// The code actions Wisp offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    CompleteBody,
    Document,
    WriteTests,
    Fix,
    Explain,
}

/// A diagnostic the editor sent with the request, in document bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub range: std::ops::Range<usize>,
    pub message: String,
}
