//! Gathering what a completion should see besides the code around the cursor: the headers of the
//! enclosing scopes, the definitions of the names used near the cursor and of the names this file
//! imports, the files this one imports, and similar code the user recently edited or has open.
//!
//! [`collect`] reads the current file's tags and the workspace index and returns snippets in rank
//! order; [`crate::build`] decides which fit the budget. Every snippet says where it came from, so
//! "why did it suggest that?" has an answer (`wisp/debugPrompt`, `wisp complete --explain`).

use std::collections::HashSet;
use std::ops::Range;

use wisp_syntax::index::WorkspaceIndex;
use wisp_syntax::tags::{DefinitionKind, FileTags, Import};

/// Names referenced this many bytes before the cursor are candidates for definition lookup; the
/// nearest come first. About the last 40 lines of code.
pub const REFERENCE_WINDOW_BEFORE_BYTES: usize = 2048;
/// ... and this many bytes after it (the rest of the scope often uses what is being written).
pub const REFERENCE_WINDOW_AFTER_BYTES: usize = 512;
/// Names shorter than this (`_`, `x`, `i`) are not looked up: they are locals or placeholders.
pub const MIN_NAME_CHARS: usize = 2;
/// At most this many definition snippets: past the nearest names, relevance drops fast.
pub const MAX_DEFINITION_SNIPPETS: usize = 8;
/// A name defined in more files than this is too common (`new`, `get`, `run`) to guess which one
/// is meant, unless this file imports one of them.
pub const MAX_FILES_PER_NAME: usize = 3;
/// At most this many definitions of names the file imports (`use super::ReadBuf`) but the code
/// near the cursor does not mention: ranked after the nearby names' definitions, so they fill
/// what budget those leave.
pub const MAX_IMPORTED_NAME_SNIPPETS: usize = 4;
/// At most this many imported files are outlined.
pub const MAX_IMPORT_SNIPPETS: usize = 3;
/// An imported file's outline lists at most this many top-level definitions.
pub const MAX_OUTLINE_ITEMS: usize = 12;
/// Lines per chunk when comparing open documents and recent edits with the cursor region.
pub const CHUNK_LINES: usize = 12;
/// A chunk joins the prompt only when at least this share of identifiers (Jaccard) matches the
/// cursor region: below it, it is mostly noise.
pub const MIN_CHUNK_SIMILARITY: f64 = 0.2;
/// At most this many similar chunks.
pub const MAX_CHUNK_SNIPPETS: usize = 2;

/// How much context to collect (`wisp eval --context`, `context.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextMode {
    /// The code around the cursor only (prompt v1).
    None,
    /// Plus what this file holds outside the window: enclosing scope headers, definitions.
    File,
    /// Plus the workspace: definitions in other files, imported files, open and edited code.
    #[default]
    Full,
}

impl std::str::FromStr for ContextMode {
    type Err = String;
    fn from_str(text: &str) -> Result<ContextMode, String> {
        match text {
            "none" => Ok(ContextMode::None),
            "file" => Ok(ContextMode::File),
            "full" => Ok(ContextMode::Full),
            other => Err(format!("unknown context mode \"{other}\": use none, file or full")),
        }
    }
}

/// Why a snippet is in the prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The header of a scope around the cursor (function signature, impl or class line).
    EnclosingScope,
    /// The definition of a name used near the cursor.
    Definition { name: String },
    /// The outline of a file this one imports.
    Import { source: String },
    /// Code the user edited recently.
    RecentEdit,
    /// Code in an open document that resembles the cursor region.
    OpenDocument,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::EnclosingScope => write!(f, "enclosing scope"),
            Origin::Definition { name } => write!(f, "definition of `{name}`"),
            Origin::Import { source } => write!(f, "imported `{source}`"),
            Origin::RecentEdit => write!(f, "recently edited"),
            Origin::OpenDocument => write!(f, "similar code in an open file"),
        }
    }
}

/// A piece of context for the prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// Workspace-relative path it comes from.
    pub path: String,
    pub text: String,
    pub origin: Origin,
    /// Byte range in the current document, for snippets taken from it: the prompt drops them
    /// when its window already shows that code.
    pub range: Option<Range<usize>>,
}

/// Some text of another file (open, or recently edited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub path: String,
    pub text: String,
}

/// The cursor and the file around it.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    pub path: &'a str,
    /// The whole document.
    pub source: &'a str,
    /// Byte offset of the cursor in `source`.
    pub offset: usize,
    /// The document's tags (definitions, references, imports, scopes).
    pub tags: &'a FileTags,
}

/// What else the editor has: open documents and recent edits of other files.
#[derive(Debug, Clone, Copy, Default)]
pub struct Workspace<'a> {
    pub index: Option<&'a WorkspaceIndex>,
    pub open: &'a [Chunk],
    pub recent: &'a [Chunk],
}

/// The snippets for a cursor, best first.
pub fn collect(cursor: &Cursor<'_>, workspace: &Workspace<'_>, mode: ContextMode) -> Vec<Snippet> {
    if mode == ContextMode::None {
        return Vec::new();
    }
    let mut snippets = enclosing_scopes(cursor);
    snippets.extend(definitions(cursor, workspace, mode));
    if mode == ContextMode::Full {
        let imported = imported_definitions(cursor, workspace, &snippets);
        snippets.extend(imported);
        let outlines = imports(cursor, workspace, &snippets);
        snippets.extend(outlines);
        snippets.extend(similar_chunks(cursor, workspace));
    }
    let mut seen = HashSet::new();
    snippets.retain(|snippet| seen.insert((snippet.path.clone(), snippet.text.clone())));
    snippets
}

fn enclosing_scopes(cursor: &Cursor<'_>) -> Vec<Snippet> {
    cursor
        .tags
        .enclosing_scopes(cursor.offset)
        .into_iter()
        .filter_map(|scope| {
            let start = line_start(cursor.source, scope.range.start);
            let end = line_end(cursor.source, scope.body_start);
            let text = cursor.source.get(start..end)?.trim_end();
            (!text.trim().is_empty()).then(|| Snippet {
                path: cursor.path.to_owned(),
                text: text.to_owned(),
                origin: Origin::EnclosingScope,
                range: Some(start..end),
            })
        })
        .collect()
}

/// Names referenced around the cursor, nearest first, each once.
fn nearby_names(cursor: &Cursor<'_>) -> Vec<String> {
    let from = cursor.offset.saturating_sub(REFERENCE_WINDOW_BEFORE_BYTES);
    let to = cursor.offset + REFERENCE_WINDOW_AFTER_BYTES;
    let mut nearby: Vec<(usize, &str)> = cursor
        .tags
        .references
        .iter()
        .filter(|reference| reference.range.start >= from && reference.range.end <= to)
        .filter(|reference| reference.range.end != cursor.offset) // the word being typed
        .filter(|reference| reference.name.chars().filter(|c| c.is_alphanumeric()).count() >= MIN_NAME_CHARS)
        .map(|reference| (reference.range.start.abs_diff(cursor.offset), reference.name.as_str()))
        .collect();
    nearby.sort();
    let mut seen = HashSet::new();
    nearby.into_iter().filter(|(_, name)| seen.insert(*name)).map(|(_, name)| name.to_owned()).collect()
}

fn definitions(cursor: &Cursor<'_>, workspace: &Workspace<'_>, mode: ContextMode) -> Vec<Snippet> {
    let mut snippets = Vec::new();
    for name in nearby_names(cursor) {
        if snippets.len() >= MAX_DEFINITION_SNIPPETS {
            break;
        }
        snippets.extend(definition_of(&name, cursor, workspace, mode));
    }
    snippets
}

/// The workspace's definitions of the names this file imports by name (`use super::ReadBuf`,
/// `from .models import User`, `import { parse } from "./parser"`) that `given` does not show yet,
/// in import order: the other files' API this file works with, which the code being written is
/// likely to use next even where the code near the cursor does not mention it yet.
fn imported_definitions(cursor: &Cursor<'_>, workspace: &Workspace<'_>, given: &[Snippet]) -> Vec<Snippet> {
    let shown = |name: &str| {
        given
            .iter()
            .any(|snippet| matches!(&snippet.origin, Origin::Definition { name: shown } if shown == name))
    };
    let mut seen = HashSet::new();
    let mut snippets = Vec::new();
    for name in cursor.tags.imports.iter().flat_map(|import| &import.names) {
        if snippets.len() >= MAX_IMPORTED_NAME_SNIPPETS {
            break;
        }
        if name.chars().filter(|c| c.is_alphanumeric()).count() < MIN_NAME_CHARS
            || shown(name)
            || !seen.insert(name.as_str())
        {
            continue;
        }
        snippets.extend(
            definition_of(name, cursor, workspace, ContextMode::Full)
                .filter(|snippet| snippet.path != cursor.path),
        );
    }
    snippets
}

/// The snippet of the definition `name` most likely means at the cursor: this file's own, else
/// the workspace's (in `full` mode), preferring what this file imports, then what lives nearby.
fn definition_of(
    name: &str,
    cursor: &Cursor<'_>,
    workspace: &Workspace<'_>,
    mode: ContextMode,
) -> Option<Snippet> {
    let imports_name =
        |path: &str, name: &str| cursor.tags.imports.iter().any(|import| imports_from(import, path, name));
    // This file's definitions outside the one being written, then the workspace's.
    let local: Vec<&wisp_syntax::tags::Definition> = cursor
        .tags
        .definitions
        .iter()
        .filter(|definition| definition.name == name && !definition.range.contains(&cursor.offset))
        .collect();
    let mut remote: Vec<_> = match (mode, workspace.index) {
        (ContextMode::Full, Some(index)) => {
            index.definitions_named(name).filter(|(file, _)| file.path != cursor.path).collect()
        }
        _ => Vec::new(),
    };
    // A method name (`.len()`, `.new()`) says nothing of which type is meant, and short
    // one-word names are mostly the standard library's: a method is taken only when it is
    // the one definition of a multi-word name (`rest_after`, `typedSince`). Other names
    // defined in many files need an import.
    let n_candidates = local.len() + remote.len();
    let distinctive = is_multi_word(name) && n_candidates == 1;
    let is_method = |kind: DefinitionKind| kind == DefinitionKind::Method && !distinctive;
    if let Some(definition) = local.iter().find(|definition| !is_method(definition.kind)) {
        return Some(Snippet {
            path: cursor.path.to_owned(),
            text: wisp_syntax::index::definition_snippet(cursor.source, definition, &cursor.tags.definitions),
            origin: Origin::Definition { name: name.to_owned() },
            range: Some(definition.range.clone()),
        });
    }
    remote.retain(|(_, definition)| !is_method(definition.kind));
    if imported_from_outside(&cursor.tags.imports, name, remote.iter().map(|(file, _)| file.path.as_str())) {
        remote.clear();
    }
    if workspace.index.is_some_and(|index| index.n_files_defining(name) > MAX_FILES_PER_NAME) {
        remote.retain(|(file, _)| imports_name(&file.path, name));
    }
    // Prefer what this file imports, then what lives nearby.
    remote.sort_by_key(|(file, _)| {
        (!imports_name(&file.path, name), usize::MAX - shared_dirs(cursor.path, &file.path))
    });
    remote.first().map(|(file, definition)| Snippet {
        path: file.path.clone(),
        text: definition.snippet.clone(),
        origin: Origin::Definition { name: name.to_owned() },
        range: None,
    })
}

/// Whether `import` brings `name` of the file at `path` into scope: by name (`use a::b::Name`,
/// `from a.b import Name`), or with its whole module (`import a.b`, `use a::b::*`, Go's
/// packages, or `use a::b;` and `from a import b` naming the module itself). Importing some
/// names of a file does not import its others: `use a::b::load` says nothing of a `validate`.
pub(crate) fn imports_from(import: &Import, path: &str, name: &str) -> bool {
    let Some(source) = import.source.as_deref() else { return false };
    if import_matches(source, path) {
        return import.names.is_empty() || import.names.iter().any(|imported| imported == name);
    }
    import.names.iter().any(|module| import_matches(&format!("{source}/{module}"), path))
}

/// Outlines of the files this one imports, leaving out what `given` (the definition snippets)
/// already shows of them.
fn imports(cursor: &Cursor<'_>, workspace: &Workspace<'_>, given: &[Snippet]) -> Vec<Snippet> {
    let Some(index) = workspace.index else { return Vec::new() };
    let mut snippets = Vec::new();
    for import in &cursor.tags.imports {
        if snippets.len() >= MAX_IMPORT_SNIPPETS {
            break;
        }
        let Some(source) = import.source.as_deref() else { continue };
        let target = index
            .files()
            .filter(|file| file.path != cursor.path && import_matches(source, &file.path))
            .max_by_key(|file| (shared_dirs(cursor.path, &file.path), std::cmp::Reverse(file.path.clone())));
        let Some(file) = target else { continue };
        let outline: Vec<&str> = file
            .definitions
            .iter()
            .filter(|definition| definition.kind != DefinitionKind::Method)
            .filter(|definition| {
                !given.iter().any(|snippet| {
                    snippet.path == file.path
                        && matches!(&snippet.origin, Origin::Definition { name } if *name == definition.name)
                })
            })
            .take(MAX_OUTLINE_ITEMS)
            .map(|definition| definition.header.as_str())
            .collect();
        if outline.is_empty() {
            continue;
        }
        snippets.push(Snippet {
            path: file.path.clone(),
            text: outline.join("\n"),
            origin: Origin::Import { source: source.to_owned() },
            range: None,
        });
    }
    snippets
}

/// Whether this file imports `name` by name from a module outside the workspace: an absolute
/// module path (`use std::cell::UnsafeCell`, `from typing import Protocol`) that names none of
/// `defining` (the workspace files defining `name`). Then the workspace's `name` is another thing
/// of the same name (tokio's own `UnsafeCell`), and showing it would mislead. Relative paths
/// (`crate::`, `self::`, `super::`, `./`, `.`) are never outside: they may reach the definition
/// through a re-export that file paths do not show.
pub(crate) fn imported_from_outside<'p>(
    imports: &[Import],
    name: &str,
    mut defining: impl Iterator<Item = &'p str> + Clone,
) -> bool {
    imports.iter().any(|import| {
        let Some(source) = import.source.as_deref() else { return false };
        let relative = source.starts_with('.')
            || ["crate", "self", "super"]
                .iter()
                .any(|keyword| source == *keyword || source.starts_with(&format!("{keyword}::")));
        !relative
            && import.names.iter().any(|imported| imported == name)
            && !defining.clone().any(|path| import_matches(source, path))
    }) && defining.next().is_some()
}

/// Whether an import's module path names the file at `path` (`crate::index::tags` and
/// `src/index/tags.rs`, `./utils` and `src/utils.ts`, `pkg.mod` and `pkg/mod.py`).
pub fn import_matches(source: &str, path: &str) -> bool {
    let segments: Vec<&str> = source
        .split([':', '.', '/', '\\'])
        .filter(|segment| !segment.is_empty() && !matches!(*segment, "crate" | "self" | "super" | "@"))
        .collect();
    let Some(stem_path) = path.rsplit_once('.').map(|(stem, _)| stem) else { return false };
    let mut file_segments: Vec<&str> = stem_path.split('/').collect();
    if matches!(file_segments.last(), Some(&("mod" | "index" | "__init__" | "lib")))
        && file_segments.len() > 1
    {
        file_segments.pop();
    }
    // The module path's last segments name the file, or the file plus one item inside it
    // (`use crate::a::Thing` names `a.rs`).
    let matches_tail = |segments: &[&str]| {
        !segments.is_empty()
            && segments.len() <= file_segments.len()
            && file_segments[file_segments.len() - segments.len()..] == *segments
    };
    matches_tail(&segments) || (segments.len() > 1 && matches_tail(&segments[..segments.len() - 1]))
}

/// `snake_case` or `camelCase`: several words, so unlikely to be a standard library name.
pub(crate) fn is_multi_word(name: &str) -> bool {
    let trimmed = name.trim_matches('_');
    trimmed.contains('_') || trimmed.chars().skip(1).any(|c| c.is_uppercase())
}

/// How many leading folders two paths share.
fn shared_dirs(a: &str, b: &str) -> usize {
    let dirs = |path: &str| -> Vec<String> {
        let mut parts: Vec<String> = path.split('/').map(str::to_owned).collect();
        parts.pop();
        parts
    };
    dirs(a).iter().zip(dirs(b).iter()).take_while(|(x, y)| x == y).count()
}

fn identifiers(text: &str) -> HashSet<&str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| word.len() >= 2 && !word.chars().all(|c| c.is_ascii_digit()))
        .collect()
}

fn jaccard(a: &HashSet<&str>, b: &HashSet<&str>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

/// Chunks of open documents and recent edits that resemble the lines before the cursor.
fn similar_chunks(cursor: &Cursor<'_>, workspace: &Workspace<'_>) -> Vec<Snippet> {
    let before = &cursor.source[..cursor.offset.min(cursor.source.len())];
    let region_start = before.rmatch_indices('\n').nth(CHUNK_LINES).map_or(0, |(index, _)| index + 1);
    let region = identifiers(&before[region_start..]);
    if region.is_empty() {
        return Vec::new();
    }
    let mut scored: Vec<(f64, Snippet)> = Vec::new();
    let sources = workspace
        .recent
        .iter()
        .map(|chunk| (chunk, Origin::RecentEdit))
        .chain(workspace.open.iter().map(|chunk| (chunk, Origin::OpenDocument)));
    for (chunk, origin) in sources {
        if chunk.path == cursor.path {
            continue;
        }
        let lines: Vec<&str> = chunk.text.lines().collect();
        let step = (CHUNK_LINES / 2).max(1);
        let mut start = 0;
        while start < lines.len() {
            let end = (start + CHUNK_LINES).min(lines.len());
            let text = lines[start..end].join("\n");
            let similarity = jaccard(&region, &identifiers(&text));
            if similarity >= MIN_CHUNK_SIMILARITY && !text.trim().is_empty() {
                let snippet = Snippet { path: chunk.path.clone(), text, origin: origin.clone(), range: None };
                scored.push((similarity, snippet));
            }
            if end == lines.len() {
                break;
            }
            start += step;
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut taken: Vec<Snippet> = Vec::new();
    for (_, snippet) in scored {
        if taken.len() >= MAX_CHUNK_SNIPPETS {
            break;
        }
        // Overlapping windows of one file: keep the best.
        if taken.iter().any(|other| other.path == snippet.path) {
            continue;
        }
        taken.push(snippet);
    }
    taken
}

fn line_start(source: &str, offset: usize) -> usize {
    let offset = offset.min(source.len());
    source[..offset].rfind('\n').map_or(0, |newline| newline + 1)
}

fn line_end(source: &str, offset: usize) -> usize {
    let offset = offset.min(source.len());
    source[offset..].find('\n').map_or(source.len(), |newline| offset + newline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_paths_name_files() {
        assert!(import_matches("crate::index::tags", "server/syntax/src/index/tags.rs"));
        assert!(import_matches("crate::tags::Definition", "src/tags.rs"));
        assert!(import_matches("./utils", "src/utils.ts"));
        assert!(import_matches("../lib/api", "web/lib/api/index.ts"));
        assert!(import_matches("pkg.models", "pkg/models.py"));
        assert!(import_matches("pkg.models", "pkg/models/__init__.py"));
        assert!(!import_matches("crate::index", "src/tags.rs"));
        assert!(!import_matches("fmt", "src/format.go"));
        assert!(!import_matches("", "src/a.rs"));
    }

    #[test]
    fn importing_some_names_of_a_file_does_not_import_the_others() {
        let import = |source: &str, names: &[&str]| Import {
            range: 0..0,
            source: Some(source.to_owned()),
            names: names.iter().map(|name| name.to_string()).collect(),
        };
        let by_name = import("crate::config", &["load"]);
        assert!(imports_from(&by_name, "src/config.rs", "load"));
        assert!(!imports_from(&by_name, "src/config.rs", "validate"));
        // The whole module: a glob, a Python `import a.b`, a Go package, `use crate::config;`.
        assert!(imports_from(&import("crate::config", &[]), "src/config.rs", "validate"));
        assert!(imports_from(&import("crate", &["config"]), "src/config.rs", "validate"));
        assert!(imports_from(&import("models", &["user"]), "models/user.py", "User"));
        assert!(!imports_from(&import("crate", &["cache"]), "src/config.rs", "validate"));
    }

    #[test]
    fn similarity_is_shared_identifiers_over_all() {
        let a = identifiers("let total = items.len();");
        let b = identifiers("total += items.len() * 2");
        assert!((jaccard(&a, &b) - 3.0 / 4.0).abs() < 1e-9, "{}", jaccard(&a, &b));
        assert_eq!(jaccard(&identifiers(""), &identifiers("")), 0.0);
    }
}
