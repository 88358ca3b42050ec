//! Gather: what a suggestion at a cursor needs, copied out of the document (the text around the
//! cursor, the stop rule, the context snippets), so that no lock is held while the model runs.

use wisp_context::{Chunk, ContextMode, Cursor, Snippet, Workspace, MAX_PREFIX_BYTES, MAX_SUFFIX_BYTES};
use wisp_engine::{indentation, StopRule};
use wisp_syntax::{Document, Position, PositionEncoding};

/// What the prompt is built from, copied out of the document so the document lock is not held
/// while the model runs.
#[derive(Debug, Clone)]
pub struct Gathered {
    /// Path shown to the model (workspace-relative when possible).
    pub path: String,
    pub line_comment: Option<String>,
    /// Line starts that begin a new top-level item in the language (see `wisp_guard`'s filters).
    pub stop_patterns: Vec<String>,
    /// At most [`MAX_PREFIX_BYTES`] before the cursor, cut at a character boundary.
    pub prefix: String,
    /// At most [`MAX_SUFFIX_BYTES`] after the cursor.
    pub suffix: String,
    /// The rest of the cursor's line.
    pub line_after_cursor: String,
    pub stop: StopRule,
    /// Document byte offset where `prefix` starts.
    pub prefix_start: usize,
    /// Document byte offset of the cursor.
    pub offset: usize,
    /// Identifies the document for the engine's warm cache and the suggestion cache.
    pub document_key: u64,
    /// Document byte offset where the previous prompt's window started, if known.
    pub anchor: Option<usize>,
    /// Context beyond the window, best first (see [`context`]).
    pub snippets: Vec<Snippet>,
    /// The document as it was, when its language has a syntax tree: the syntax check inserts the
    /// suggestion into it. A copy shares the rope and the tree, so this costs no copy of the text.
    pub document: Option<Document>,
    /// The names a suggestion here may use where a name is used (see [`known_names`]); None
    /// turns index-guided decoding off for it.
    pub names: Option<std::sync::Arc<super::KnownNames>>,
    /// Where to read `names` from when the model runs, if they are not given (a server leaves
    /// them to the model run, so a cached answer costs no reading of the tree).
    pub names_source: Option<super::NamesSource>,
}

/// Collects what a suggestion at byte `offset` needs. Cost is bounded by the window sizes, not by
/// the document: a 5 MB file costs the same as a small one.
pub fn gather(document: &Document, offset: usize, path: &str, max_lines: usize) -> Gathered {
    let line = document.position(offset, PositionEncoding::Utf8).line;
    let line_start = document.offset_clamped(Position { line, character: 0 }, PositionEncoding::Utf8);
    let line_end = document.offset_clamped(Position { line, character: u32::MAX }, PositionEncoding::Utf8);
    let line_before_cursor = document.slice(line_start..offset);
    let line_after_cursor = document.slice(offset..line_end.max(offset));

    let prefix_start = char_floor(document, offset.saturating_sub(MAX_PREFIX_BYTES));
    let suffix_end = char_floor(document, (offset + MAX_SUFFIX_BYTES).min(document.len_bytes()));
    Gathered {
        path: path.to_owned(),
        line_comment: document.language().and_then(|language| language.line_comment.clone()),
        stop_patterns: document.language().map(|language| language.stop_patterns.clone()).unwrap_or_default(),
        prefix: document.slice(prefix_start..offset),
        suffix: document.slice(offset..suffix_end),
        stop: stop_rule(&line_before_cursor, &line_after_cursor, max_lines),
        line_after_cursor,
        prefix_start,
        offset,
        document_key: document_key(path),
        anchor: None,
        snippets: Vec::new(),
        document: document.tree().is_some().then(|| document.clone()),
        names: None,
        names_source: None,
    }
}

/// The snippets for a cursor in `document` (see `wisp_context::collect`).
pub fn context(
    document: &Document,
    offset: usize,
    path: &str,
    workspace: &Workspace<'_>,
    mode: ContextMode,
) -> Vec<Snippet> {
    if mode == ContextMode::None {
        return Vec::new();
    }
    let (Some(language), Some(tree)) = (document.language(), document.tree()) else { return Vec::new() };
    let source = document.slice(0..document.len_bytes());
    let tags = wisp_syntax::tags::extract(language, tree, &source);
    let cursor = Cursor { path, source: &source, offset, tags: &tags };
    wisp_context::collect(&cursor, workspace, mode)
}

/// The most recent chunks of other open documents, for similarity search.
pub fn open_chunks<'d>(documents: impl Iterator<Item = (&'d str, &'d Document)>) -> Vec<Chunk> {
    documents
        .take(MAX_OPEN_DOCUMENTS)
        .map(|(path, document)| {
            let end = char_floor(document, document.len_bytes().min(MAX_OPEN_DOCUMENT_BYTES));
            Chunk { path: path.to_owned(), text: document.slice(0..end) }
        })
        .collect()
}

/// What identifies the scope around the cursor — the first lines of its top-level item and of
/// the innermost function or method around it — for keeping context while the cursor stays in
/// it. `None` at the top level or without a syntax tree.
pub fn scope_key(document: &Document, offset: usize) -> Option<String> {
    let tree = document.tree()?;
    let mut node = tree.root_node().descendant_for_byte_range(offset, offset)?;
    let first_line = |node: &wisp_syntax::tree_sitter::Node<'_>| {
        let row = node.start_position().row as u32;
        let start = document
            .offset_clamped(wisp_syntax::Position { line: row, character: 0 }, PositionEncoding::Utf8);
        let end = document
            .offset_clamped(wisp_syntax::Position { line: row, character: u32::MAX }, PositionEncoding::Utf8);
        document.slice(start..end.max(start))
    };
    let mut function = None;
    let mut top = None;
    while let Some(parent) = node.parent() {
        if function.is_none() && (node.kind().contains("function") || node.kind().contains("method")) {
            function = Some(first_line(&node));
        }
        if parent.parent().is_none() {
            top = Some(first_line(&node));
        }
        node = parent;
    }
    let top = top?;
    Some(match function {
        Some(function) => format!("{top}\n{function}"),
        None => top,
    })
}

/// Other open documents searched for similar code, at most.
pub const MAX_OPEN_DOCUMENTS: usize = 8;

/// Bytes of each open document searched (from its start): bounds the cost per request.
pub const MAX_OPEN_DOCUMENT_BYTES: usize = 32 * 1024;

/// A stable key for a document path.
pub fn document_key(path: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut hasher);
    hasher.finish()
}

/// Rounds a byte offset down to a character boundary of the document.
pub fn char_floor(document: &Document, offset: usize) -> usize {
    let text = document.text();
    text.char_to_byte(text.byte_to_char(offset.min(text.len_bytes())))
}

/// A cursor with code after it on the line gets the rest of the line. A cursor on a blank line,
/// or at the end of a line that opens a block, gets a bounded block of lines.
pub fn stop_rule(line_before_cursor: &str, line_after_cursor: &str, max_lines: usize) -> StopRule {
    if !line_after_cursor.trim().is_empty() {
        return StopRule::Line;
    }
    let indent = indentation(line_before_cursor);
    let before = line_before_cursor.trim_end();
    if before.is_empty() {
        StopRule::Block { max_lines, indent }
    } else if before.ends_with(['{', '(', '[', ':']) {
        // Lines of the new block are indented deeper; a line back at this indentation closes it.
        StopRule::Block { max_lines, indent: indent + 1 }
    } else {
        StopRule::Line
    }
}

/// Removes sensitive files (`secrets.py`, …) from an index: they never lend their text to another
/// file's prompt.
pub fn drop_sensitive_files(
    index: &mut wisp_syntax::index::WorkspaceIndex,
    sensitive: &wisp_guard::SensitiveFiles,
) {
    let private: Vec<String> = index
        .files()
        .filter(|file| sensitive.is_sensitive(std::path::Path::new(&file.path)))
        .map(|file| file.path.clone())
        .collect();
    for path in private {
        index.remove(&path);
    }
}
