//! One suggestion at a cursor: gather the text around it, build the prompt, run the engine, clean
//! the result. Nothing here knows LSP; the handlers and the `complete` command both call it.

use wisp_context::{
    BuiltPrompt, Chunk, CompletionInput, ContextMode, Cursor, PromptFormat, Snippet, Workspace,
    MAX_PREFIX_BYTES, MAX_SUFFIX_BYTES,
};
use wisp_engine::{
    indentation, CancelFlag, Engine, EngineError, GenerateRequest, Generation, Prompt, StopRule,
};
use wisp_syntax::{Document, Position, PositionEncoding};

use crate::config::CompletionConfig;

/// What the prompt is built from, copied out of the document so the document lock is not held
/// while the model runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gathered {
    /// Path shown to the model (workspace-relative when possible).
    pub path: String,
    pub line_comment: Option<String>,
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
        prefix: document.slice(prefix_start..offset),
        suffix: document.slice(offset..suffix_end),
        stop: stop_rule(&line_before_cursor, &line_after_cursor, max_lines),
        line_after_cursor,
        prefix_start,
        offset,
        document_key: document_key(path),
        anchor: None,
        snippets: Vec::new(),
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

/// A finished suggestion with what it cost.
#[derive(Debug, Clone)]
pub struct Suggestion {
    /// Text to insert at the cursor; empty when there is nothing worth showing.
    pub text: String,
    pub prompt: Prompt,
    pub generation: Generation,
    /// Document byte offset where the prompt's prefix window started (the next anchor).
    pub window_start: usize,
    /// The snippets the prompt holds, in prompt order.
    pub snippets: Vec<Snippet>,
}

/// The prompt layout a model understands.
pub fn prompt_format(model: &wisp_engine::ModelInfo) -> PromptFormat {
    match (model.fim.is_some(), model.fim_suffix_first, model.file_separator.is_some()) {
        (true, true, _) => PromptFormat::FimSuffixFirst,
        (true, false, true) => PromptFormat::FimRepo,
        (true, false, false) => PromptFormat::Fim,
        (false, _, _) => PromptFormat::Plain,
    }
}

/// The prompt for a gathered cursor, in the layout the model understands, within the budget.
pub fn build_prompt(engine: &dyn Engine, gathered: &Gathered, settings: &CompletionConfig) -> BuiltPrompt {
    let format = prompt_format(engine.model());
    let anchor = gathered.anchor.and_then(|anchor| anchor.checked_sub(gathered.prefix_start));
    let input = CompletionInput {
        path: &gathered.path,
        line_comment: gathered.line_comment.as_deref(),
        prefix: &gathered.prefix,
        suffix: &gathered.suffix,
        anchor,
        prefix_start: gathered.prefix_start,
        snippets: &gathered.snippets,
    };
    let counter = |text: &str| engine.count_tokens(text);
    wisp_context::build(&input, format, settings.prompt_tokens, &counter)
}

/// Builds the prompt and runs the engine. Blocking: call it on the inference worker.
pub fn suggest(
    engine: &dyn Engine,
    gathered: &Gathered,
    settings: &CompletionConfig,
    cancel: CancelFlag,
    background: bool,
    on_text: &mut dyn FnMut(&str),
) -> Result<Suggestion, EngineError> {
    let started = std::time::Instant::now();
    // Token healing for whitespace: a prompt ending in spaces splits the tokens the model knows
    // (" .map", "    let") and pushes it off course (a blank line, a stray space). The prompt ends
    // before the spaces typed on the cursor's line; the model writes them again, and they are
    // taken off the suggestion.
    let (prompt_source, blank) = healed(gathered);
    let built = build_prompt(engine, &prompt_source, settings);
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    let window_start = gathered.prefix_start + built.prefix_window_start;
    let time_budget =
        (settings.time_budget_ms > 0).then(|| std::time::Duration::from_millis(settings.time_budget_ms));
    // With a temperature, the same document and cursor draw the same way: asking again gives the
    // same suggestion, as with greedy decoding.
    let sampling_seed = gathered.document_key ^ (gathered.offset as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let request = GenerateRequest {
        prompt: built.prompt,
        max_tokens: settings.max_tokens,
        stop: gathered.stop,
        cancel,
        cache_key: gathered.document_key,
        time_budget,
        background,
        sampling: wisp_engine::Sampling {
            temperature: settings.temperature,
            top_p: settings.top_p,
            seed: sampling_seed,
        },
    };
    let mut unhealed = String::new();
    let mut forwarded = 0;
    let generation = engine.generate(&request, &mut |piece| {
        // Pass on the text after the typed spaces once the leading spaces have ended (what is
        // taken off depends only on them).
        unhealed.push_str(&piece.text);
        if !unhealed.trim_start_matches([' ', '\t']).is_empty() {
            let text = after_typed_blank(&unhealed, blank);
            if text.len() > forwarded {
                on_text(&text[forwarded..]);
                forwarded = text.len();
            }
        }
        std::ops::ControlFlow::Continue(())
    })?;
    tracing::debug!(
        "suggestion: prompt built in {build_ms:.1} ms; {} of {} prompt tokens evaluated in {:.1} ms; {} tokens generated ({} from drafts) in {:.1} ms ({:?})",
        generation.n_prompt_evaluated,
        generation.n_prompt_tokens,
        generation.prompt_ms,
        generation.n_generated,
        generation.n_draft_accepted,
        generation.decode_ms,
        generation.stop_reason,
    );
    let surroundings = wisp_guard::Surroundings { line_after_cursor: &gathered.line_after_cursor };
    let text = after_typed_blank(&generation.text, blank);
    let line_before_cursor = &gathered.prefix[gathered.prefix.rfind('\n').map_or(0, |newline| newline + 1)..];
    let text = if line_before_cursor.trim().is_empty() && gathered.line_after_cursor.trim().is_empty() {
        // On an empty line, blank lines at the start of a suggestion only push the code down.
        after_typed_blank(skip_blank_lines(&generation.text), blank)
    } else {
        text
    };
    let text = without_repeated_indentation(text, line_before_cursor);
    let text = wisp_guard::run(text, &surroundings);
    let text = if text.trim().is_empty() { String::new() } else { text };
    Ok(Suggestion { text, prompt: request.prompt, generation, window_start, snippets: built.snippets })
}

/// A suggestion on a line whose cursor sits after the line's indentation (nothing but spaces or
/// tabs before it), without the indentation written a second time. The model writes the line's
/// whole indentation again (measured on ropey with SmolLM2: 6 of 24 indented blank lines got
/// `"        while …"` after 8 typed spaces, 16 in all once inserted), or one space too many (its
/// tokens carry their leading space, `" let"`: 13 of 20 whole-line suggestions of the eval).
/// Its leading whitespace is read as the line's indentation, as on every later line of a
/// suggestion: the typed indentation comes off it, and what is left is the deeper indentation the
/// model chose. A lone space left over, or whitespace that is only part of the typed indentation,
/// comes off too: the user's indentation stands.
pub fn without_repeated_indentation<'t>(text: &'t str, line_before_cursor: &str) -> &'t str {
    if line_before_cursor.is_empty() || !line_before_cursor.trim().is_empty() {
        return text;
    }
    let code = text.trim_start_matches([' ', '\t']);
    if code.is_empty() || code.starts_with(['\n', '\r']) {
        // A blank first line is not an indentation (blank lines are handled before this).
        return text;
    }
    let written = &text[..text.len() - code.len()];
    let deeper = match written.strip_prefix(line_before_cursor) {
        Some(deeper) => deeper,
        None if line_before_cursor.starts_with(written) => "",
        None => written,
    };
    if deeper == " " {
        code
    } else {
        &text[text.len() - code.len() - deeper.len()..]
    }
}

/// `text` from its first line that is not blank (or empty when all are).
pub fn skip_blank_lines(text: &str) -> &str {
    let mut rest = text;
    while let Some(newline) = rest.find('\n') {
        if !rest[..newline].trim().is_empty() {
            break;
        }
        rest = &rest[newline + 1..];
    }
    rest
}

/// What the prompt is built from, and the spaces typed after code on the cursor's line that the
/// prompt leaves out (token healing: a prompt ending in a space splits the tokens the model knows,
/// " .map", " value", and pushes it off course; the model writes the space again and it is taken
/// off the suggestion).
pub fn healed(gathered: &Gathered) -> (std::borrow::Cow<'_, Gathered>, &str) {
    let blank = trailing_blank(&gathered.prefix);
    if blank.is_empty() {
        return (std::borrow::Cow::Borrowed(gathered), blank);
    }
    let prefix = gathered.prefix[..gathered.prefix.len() - blank.len()].to_owned();
    (std::borrow::Cow::Owned(Gathered { prefix, ..gathered.clone() }), blank)
}

/// Spaces and tabs at the end of `prefix` after code on the cursor's line (`let x = `). The
/// indentation of an otherwise empty line is not included: without it, small models open a
/// blank line instead of writing the line (measured on SmolLM2).
pub fn trailing_blank(prefix: &str) -> &str {
    let line_start = prefix.rfind('\n').map_or(0, |newline| newline + 1);
    let end = prefix.trim_end_matches([' ', '\t']).len();
    if end <= line_start {
        return "";
    }
    &prefix[end..]
}

/// A generated text without the spaces the user already typed (`blank`): when the model wrote
/// them, or fewer of them, they are taken off; other text is left as it is.
pub fn after_typed_blank<'t>(text: &'t str, blank: &str) -> &'t str {
    if blank.is_empty() {
        return text;
    }
    if let Some(rest) = text.strip_prefix(blank) {
        return rest;
    }
    let code = text.trim_start_matches([' ', '\t']);
    if blank.starts_with(&text[..text.len() - code.len()]) {
        code
    } else {
        text
    }
}

/// Evaluates the prompt for a cursor without generating, so the next real request at or after
/// it finds the prompt in the KV cache. Blocking: run it on the worker.
pub fn warm_up(
    engine: &dyn Engine,
    gathered: &Gathered,
    settings: &CompletionConfig,
    cancel: CancelFlag,
) -> Result<Generation, EngineError> {
    let built = build_prompt(engine, gathered, settings);
    let request = GenerateRequest {
        prompt: built.prompt,
        max_tokens: 0,
        stop: gathered.stop,
        cancel,
        cache_key: gathered.document_key,
        time_budget: None,
        background: true,
        sampling: wisp_engine::Sampling::GREEDY,
    };
    engine.generate(&request, &mut |_| std::ops::ControlFlow::Continue(()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use wisp_engine::ScriptedEngine;
    use wisp_syntax::LanguageRegistry;

    fn gather_at(text: &str) -> Gathered {
        let (before, after) = text.split_once("$0").unwrap();
        let language = LanguageRegistry::builtin().by_language_id("rust");
        let document = Document::new(&format!("{before}{after}"), language);
        gather(&document, before.len(), "src/main.rs", 8)
    }

    #[test]
    fn mid_line_cursor_gets_one_line_blank_line_gets_a_block() {
        assert_eq!(gather_at("fn main() {\n    let x = $0;\n}").stop, StopRule::Line);
        assert_eq!(gather_at("fn main() {\n    $0\n}").stop, StopRule::Block { max_lines: 8, indent: 4 });
        assert_eq!(gather_at("fn main() {$0\n}").stop, StopRule::Block { max_lines: 8, indent: 1 });
        assert_eq!(gather_at("let x = 1;$0\n").stop, StopRule::Line);
    }

    #[test]
    fn issue_4_one_space_too_many_after_indentation_is_dropped() {
        assert_eq!(without_repeated_indentation(" let x = 1;", "    "), "let x = 1;");
        assert_eq!(without_repeated_indentation(" let x = 1;\n    y();", "\t"), "let x = 1;\n    y();");
        // After code or at column 0: untouched.
        assert_eq!(without_repeated_indentation(" + 1", "    let x ="), " + 1");
        assert_eq!(without_repeated_indentation(" let", ""), " let");
        assert_eq!(without_repeated_indentation(" \n", "    "), " \n");
    }

    #[test]
    fn issue_10_indentation_written_again_is_not_doubled() {
        let eight = "        ";
        let while_line = "        while let Some(_) = lines.next() {";
        assert_eq!(without_repeated_indentation(while_line, eight), "while let Some(_) = lines.next() {");
        // The indentation and the token's space.
        assert_eq!(without_repeated_indentation("         while", eight), "while");
        // Deeper than typed: the difference is kept.
        assert_eq!(without_repeated_indentation("            x += 1;", eight), "    x += 1;");
        // Part of the typed indentation: the user's stands.
        assert_eq!(without_repeated_indentation("    x += 1;", eight), "x += 1;");
        assert_eq!(without_repeated_indentation("\t\tx();\n\t}", "\t\t"), "x();\n\t}");
        // Tabs written after typed spaces: not an indentation this function can compare.
        assert_eq!(without_repeated_indentation("\tx();", "    "), "\tx();");
        assert_eq!(without_repeated_indentation("x();", eight), "x();");
    }

    #[test]
    fn gather_copies_bounded_windows_and_the_comment_token() {
        let big = "x".repeat(MAX_PREFIX_BYTES * 3);
        let gathered = gather_at(&format!("{big}\nfn a() {{ $0 }}\n{big}"));
        assert!(gathered.prefix.len() <= MAX_PREFIX_BYTES);
        assert!(gathered.suffix.len() <= MAX_SUFFIX_BYTES);
        assert!(gathered.prefix.ends_with("fn a() { "));
        assert_eq!(gathered.line_after_cursor, " }");
        assert_eq!(gathered.line_comment.as_deref(), Some("//"));
    }

    #[test]
    fn windows_never_split_a_character() {
        let emoji = "😀".repeat(MAX_PREFIX_BYTES);
        let gathered = gather_at(&format!("{emoji}$0{emoji}"));
        assert!(gathered.prefix.chars().all(|c| c == '😀'));
        assert!(gathered.suffix.chars().all(|c| c == '😀'));
    }

    #[test]
    fn typed_spaces_are_left_out_of_the_prompt_and_the_suggestion() {
        assert_eq!(trailing_blank("fn main() {\n    "), "", "indentation stays in the prompt");
        assert_eq!(trailing_blank("fn main() {\n    x = "), " ");
        assert_eq!(trailing_blank("let x = "), " ");
        assert_eq!(trailing_blank("let x =\n"), "");
        assert_eq!(trailing_blank("x"), "");
        assert_eq!(after_typed_blank("    let y = 2;", "    "), "let y = 2;");
        assert_eq!(after_typed_blank("  let y = 2;", "    "), "let y = 2;", "fewer spaces than typed");
        assert_eq!(after_typed_blank("let y = 2;", "    "), "let y = 2;");
        assert_eq!(after_typed_blank("\n    next", "    "), "\n    next");
        assert_eq!(after_typed_blank("      deeper", "    "), "  deeper");
        assert_eq!(after_typed_blank(" value", ""), " value");
        assert_eq!(skip_blank_lines("\n  \n    code\nmore"), "    code\nmore");
        assert_eq!(skip_blank_lines("code\n\nmore"), "code\n\nmore");

        let engine: Arc<dyn Engine> = Arc::new(ScriptedEngine::new(" total + 1;\n"));
        let gathered = gather_at("fn main() {\n    let next = $0\n}");
        let settings = CompletionConfig::default();
        let mut streamed = String::new();
        let suggestion =
            suggest(engine.as_ref(), &gathered, &settings, CancelFlag::new(), false, &mut |text| {
                streamed.push_str(text)
            })
            .unwrap();
        assert!(suggestion.prompt.render().ends_with("let next ="), "{}", suggestion.prompt.render());
        assert_eq!(suggestion.text, "total + 1;");
        assert!(!streamed.is_empty() && "total + 1;\n".starts_with(&streamed), "{streamed:?}");
    }

    #[test]
    fn suggestion_passes_through_the_guard() {
        let engine: Arc<dyn Engine> = Arc::new(ScriptedEngine::new("bar)\nmore"));
        let gathered = gather_at("fn main() {\n    foo($0)\n}");
        let settings = CompletionConfig::default();
        let suggestion =
            suggest(engine.as_ref(), &gathered, &settings, CancelFlag::new(), false, &mut |_| {}).unwrap();
        assert_eq!(suggestion.text, "bar");
        assert!(suggestion.prompt.render().starts_with("// src/main.rs\nfn main() {\n    foo("));
    }
}
