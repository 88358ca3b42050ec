//! Which names a span of code needs from other files of the workspace, and whether context shows
//! their definitions.
//!
//! CrossCodeEval and RepoBench measure repository context on code that uses an API defined in
//! another file, because code that only uses its own file's names (or the standard library's)
//! cannot show what cross-file context is worth. [`cross_file_names`] applies that criterion to a
//! span (`wisp eval --require cross-file` keeps the tasks whose expected text has such names), and
//! [`shows_definition`] tells whether a snippet in the prompt defines one: the retrieval hit rate
//! that separates "retrieval missed" from "the model did not use what it was shown".

use std::collections::HashSet;
use std::ops::Range;

use wisp_syntax::index::WorkspaceIndex;
use wisp_syntax::tags::{DefinitionKind, FileTags};

use crate::collect::{
    imported_from_outside, imports_from, is_multi_word, Origin, Snippet, MAX_FILES_PER_NAME, MIN_NAME_CHARS,
};

/// The names referenced in `span` (byte range) of the file at `path`, whose tags are `tags`, that
/// the file does not define and another file of `index` does; in order of first use, each once.
///
/// Names are what retrieval looks up: references captured by the language's `tags.scm` (calls,
/// type names, constructors, macros — never keywords or local variables) with at least
/// [`MIN_NAME_CHARS`] alphanumeric characters. A name that more than [`MAX_FILES_PER_NAME`] files
/// define (`new`, `fmt`, `clone`, `len`) counts only when this file imports one of them: such names
/// are mostly trait methods and the standard library's, which no file of the workspace is needed
/// to know. A name that other files define only as methods (`.len()`, `.ok()`) counts only when
/// it is one definition of a multi-word name (`.poll_acquire()`): a method name alone says
/// nothing of whose it is. A name this file imports by name from outside the workspace
/// (`use std::cell::UnsafeCell` where the workspace has its own `UnsafeCell`) does not count.
/// Retrieval follows the same three rules.
pub fn cross_file_names(
    path: &str,
    tags: &FileTags,
    span: Range<usize>,
    index: &WorkspaceIndex,
) -> Vec<String> {
    let defined_here: HashSet<&str> =
        tags.definitions.iter().map(|definition| definition.name.as_str()).collect();
    let mut seen = HashSet::new();
    let mut names = Vec::new();
    let mut references: Vec<_> = tags
        .references
        .iter()
        .filter(|reference| span.start <= reference.range.start && reference.range.end <= span.end)
        .collect();
    references.sort_by_key(|reference| reference.range.start);
    for reference in references {
        let name = reference.name.as_str();
        if name.chars().filter(|c| c.is_alphanumeric()).count() < MIN_NAME_CHARS
            || defined_here.contains(name)
            || !seen.insert(name)
        {
            continue;
        }
        let elsewhere: Vec<_> = index.definitions_named(name).filter(|(file, _)| file.path != path).collect();
        let attributable = if elsewhere.is_empty()
            || imported_from_outside(
                &tags.imports,
                name,
                elsewhere.iter().map(|(file, _)| file.path.as_str()),
            ) {
            false
        } else if elsewhere.iter().all(|(_, definition)| definition.kind == DefinitionKind::Method) {
            is_multi_word(name) && elsewhere.len() == 1
        } else if index.n_files_defining(name) > MAX_FILES_PER_NAME {
            elsewhere
                .iter()
                .any(|(file, _)| tags.imports.iter().any(|import| imports_from(import, &file.path, name)))
        } else {
            true
        };
        if attributable {
            names.push(name.to_owned());
        }
    }
    names
}

/// Whether `snippet` shows a definition of `name` from a file other than `path`: it is the
/// definition collected for `name`, or an outline of an imported file that lists it.
pub fn shows_definition(snippet: &Snippet, name: &str, path: &str, index: &WorkspaceIndex) -> bool {
    if snippet.path == path {
        return false;
    }
    match &snippet.origin {
        Origin::Definition { name: defined } => defined == name,
        Origin::Import { .. } => index.file(&snippet.path).is_some_and(|file| {
            file.definitions.iter().any(|definition| {
                definition.name == name && snippet.text.contains(definition.header.as_str())
            })
        }),
        Origin::EnclosingScope | Origin::RecentEdit | Origin::OpenDocument => false,
    }
}
