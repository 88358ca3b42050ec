//! From Wisp's plain answers to LSP items: the one place that decides what an editor inserts for
//! a suggestion, and how a code action's edit reaches the workspace. The text was made to be inserted at the cursor as it is (the completion
//! pipeline took off the spaces the user typed, the indentation written again and the code after
//! the cursor), so every item replaces the empty range at the cursor with it. Positions stay in
//! the encoding negotiated with the client: the cursor's position is the request's own.

use std::ops::Range;

use tower_lsp_server::ls_types::{
    Command, CompletionItem, CompletionItemKind, CompletionTextEdit, CreateFile, DocumentChangeOperation,
    DocumentChanges, InlineCompletionItem, InsertTextFormat, OneOf, OptionalVersionedTextDocumentIdentifier,
    Position, Range as LspRange, ResourceOp, TextDocumentEdit, TextEdit, Uri, WorkspaceEdit,
};

use wisp_complete::actions::ActionEdit;
use wisp_syntax::{Document, PositionEncoding};

use crate::feedback;

/// Characters of a suggestion's first line shown as a completion item's label.
pub const COMPLETION_LABEL_CHARS: usize = 80;

/// The cursor a suggestion answers: its position as the request gave it (in the negotiated
/// encoding), its byte offset, and the text of its line before it, which is what converting a byte
/// range that ends at the cursor needs.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'l> {
    pub position: Position,
    pub offset: usize,
    pub line_before: &'l str,
    pub encoding: PositionEncoding,
}

impl Cursor<'_> {
    /// The position of document byte `start`, at or before the cursor on its line (clamped to
    /// the line's start).
    fn position_of(&self, start: usize) -> Position {
        let between = &self.line_before[self.index_in_line(start)..];
        let length = match self.encoding {
            PositionEncoding::Utf8 => between.len(),
            PositionEncoding::Utf16 => between.encode_utf16().count(),
        };
        Position {
            line: self.position.line,
            character: self.position.character.saturating_sub(length as u32),
        }
    }

    /// Where document byte `offset` (at or before the cursor) falls in `line_before`: clamped to
    /// the line's start, rounded down to a character boundary.
    fn index_in_line(&self, offset: usize) -> usize {
        let back = self.offset.saturating_sub(offset).min(self.line_before.len());
        let mut index = self.line_before.len() - back;
        while !self.line_before.is_char_boundary(index) {
            index -= 1;
        }
        index
    }
}

/// The inline completion item (ghost text): `text` replaces the document bytes `replace`, which
/// end at the cursor (today always the empty range at it). It carries its completion id in the
/// accept command when feedback is recorded.
pub fn inline_item(
    cursor: &Cursor<'_>,
    replace: Range<usize>,
    text: String,
    tracking: Tracking,
) -> InlineCompletionItem {
    debug_assert_eq!(replace.end, cursor.offset, "a suggestion's range ends at its cursor");
    InlineCompletionItem {
        insert_text: text,
        filter_text: None,
        range: Some(LspRange { start: cursor.position_of(replace.start), end: cursor.position }),
        command: tracking.id.map(|id| accept_command(id, tracking.confidence)),
        insert_text_format: Some(InsertTextFormat::PLAIN_TEXT),
    }
}

/// The `textDocument/completion` item for clients without inline completion: the same edit as
/// [`inline_item`], labelled with its first line. Clients keep only the items that match the word
/// before the cursor (the text from the start of the item's range: eglot's completion-at-point
/// showed "No match" after `a`), so the item's range starts at that word at the latest, and its
/// text repeats what the range covers.
pub fn completion_item(
    cursor: &Cursor<'_>,
    replace: Range<usize>,
    text: String,
    tracking: Tracking,
) -> CompletionItem {
    debug_assert_eq!(replace.end, cursor.offset, "a suggestion's range ends at its cursor");
    let word = word_before_cursor(cursor.line_before);
    let start = replace.start.min(cursor.offset - word.len());
    let kept = &cursor.line_before[cursor.index_in_line(start)..cursor.index_in_line(replace.start)];
    let new_text = format!("{kept}{text}");
    let label: String =
        new_text.trim().lines().next().unwrap_or_default().chars().take(COMPLETION_LABEL_CHARS).collect();
    CompletionItem {
        label,
        kind: Some(CompletionItemKind::TEXT),
        detail: Some("Wisp suggestion".into()),
        filter_text: Some(new_text.clone()),
        insert_text_format: Some(InsertTextFormat::PLAIN_TEXT),
        text_edit: Some(CompletionTextEdit::Edit(TextEdit {
            range: LspRange { start: cursor.position_of(start), end: cursor.position },
            new_text,
        })),
        data: tracking.confidence.map(|confidence| serde_json::json!({ "confidence": confidence })),
        command: tracking.id.map(|id| accept_command(id, tracking.confidence)),
        ..Default::default()
    }
}

/// The identifier characters that end `line_before_cursor` (the word being typed).
fn word_before_cursor(line_before_cursor: &str) -> &str {
    let start = line_before_cursor
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map_or(line_before_cursor.len(), |(index, _)| index);
    &line_before_cursor[start..]
}

/// What an item carries besides its edit: the completion id its feedback is recorded under (when
/// feedback is on) and how sure the model was of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tracking {
    pub id: Option<String>,
    /// The geometric mean of the suggestion's token probabilities, 0 to 1.
    pub confidence: Option<f32>,
}

/// The command an item runs when accepted: its completion id, then `{"confidence": …}` when
/// known (inline items have no `data` field; clients pass the arguments through as they are).
pub fn accept_command(id: String, confidence: Option<f32>) -> Command {
    let mut arguments = vec![serde_json::Value::String(id)];
    if let Some(confidence) = confidence {
        arguments.push(serde_json::json!({ "confidence": confidence }));
    }
    Command {
        title: "Accept suggestion".into(),
        command: feedback::ACCEPT_COMMAND.into(),
        arguments: Some(arguments),
    }
}

/// Document bytes of an LSP range in `encoding` (positions past the end are clamped, a reversed
/// range becomes empty at its start).
pub fn byte_range(document: &Document, range: LspRange, encoding: PositionEncoding) -> Range<usize> {
    let offset = |position: Position| {
        document.offset_clamped(
            wisp_syntax::Position { line: position.line, character: position.character },
            encoding,
        )
    };
    let start = offset(range.start);
    start..offset(range.end).max(start)
}

/// The LSP position of document byte `offset` in `encoding`.
fn position_of(document: &Document, offset: usize, encoding: PositionEncoding) -> Position {
    let position = document.position(offset, encoding);
    Position { line: position.line, character: position.character }
}

/// A code action's edit for the client: a change of the document it was asked in, or a file
/// beside it (created with `documentChanges` when the client can, or added to at its end when it
/// exists already).
pub fn workspace_edit(
    uri: &Uri,
    document: &Document,
    encoding: PositionEncoding,
    edit: ActionEdit,
    client_creates_files: bool,
) -> Result<WorkspaceEdit, String> {
    let Some(path) = edit.file else {
        let range = LspRange {
            start: position_of(document, edit.replace.start, encoding),
            end: position_of(document, edit.replace.end, encoding),
        };
        let changes =
            std::collections::HashMap::from([(uri.clone(), vec![TextEdit { range, new_text: edit.text }])]);
        return Ok(WorkspaceEdit { changes: Some(changes), ..Default::default() });
    };
    let file_uri =
        Uri::from_file_path(&path).ok_or_else(|| format!("{} is not a file path", path.display()))?;
    if let Ok(existing) = std::fs::read_to_string(&path) {
        // Added at the end of the file that is there.
        let there = Document::new(&existing, None);
        let end = position_of(&there, there.len_bytes(), encoding);
        let separator = if existing.is_empty() || existing.ends_with("\n\n") {
            ""
        } else if existing.ends_with('\n') {
            "\n"
        } else {
            "\n\n"
        };
        let text_edit =
            TextEdit { range: LspRange { start: end, end }, new_text: format!("{separator}{}", edit.text) };
        let changes = std::collections::HashMap::from([(file_uri, vec![text_edit])]);
        return Ok(WorkspaceEdit { changes: Some(changes), ..Default::default() });
    }
    if !client_creates_files {
        return Err(format!(
            "the tests go in a new file, {}, and this editor does not apply edits that create files — create it, then ask again",
            path.display()
        ));
    }
    let start = Position { line: 0, character: 0 };
    let operations = vec![
        DocumentChangeOperation::Op(ResourceOp::Create(CreateFile {
            uri: file_uri.clone(),
            options: None,
            annotation_id: None,
        })),
        DocumentChangeOperation::Edit(TextDocumentEdit {
            text_document: OptionalVersionedTextDocumentIdentifier { uri: file_uri, version: None },
            edits: vec![OneOf::Left(TextEdit { range: LspRange { start, end: start }, new_text: edit.text })],
        }),
    ];
    Ok(WorkspaceEdit {
        document_changes: Some(DocumentChanges::Operations(operations)),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    //! Every trigger shape, through the whole pipeline (scripted model output → post-processing →
    //! item), checked by what an editor makes of the item: the line after inserting it.

    use super::*;
    use wisp_complete::completion::{gather, suggest};
    use wisp_complete::config::CompletionConfig;
    use wisp_engine::{CancelFlag, ScriptedEngine};
    use wisp_syntax::{Document, LanguageRegistry};

    /// The cursor's line after an editor applies the item Wisp answers at `$0` when the model
    /// writes `generated`, with positions in `encoding`: from `textDocument/inlineCompletion`,
    /// then from `textDocument/completion` (the two must agree).
    fn line_after_accept(fixture: &str, generated: &str, encoding: PositionEncoding) -> String {
        let (before, after) = fixture.split_once("$0").unwrap();
        let language = LanguageRegistry::builtin().by_language_id("rust");
        let text = format!("{before}{after}");
        let document = Document::new(&text, language.clone());
        let offset = before.len();
        let gathered = gather(&document, offset, "src/lib.rs", 8);
        let suggestion = suggest(
            &ScriptedEngine::new(generated),
            &gathered,
            &CompletionConfig::default(),
            CancelFlag::new(),
            false,
            &mut |_| {},
        )
        .unwrap();
        let cursor = document.position(offset, encoding);
        let cursor = Position { line: cursor.line, character: cursor.character };
        let line = document.position(offset, PositionEncoding::Utf8).line as usize;

        // What an editor does with an item: replace its range with its text.
        let apply = |range: LspRange, new_text: &str| {
            let to_offset = |position: Position| {
                document
                    .offset(
                        wisp_syntax::Position { line: position.line, character: position.character },
                        encoding,
                    )
                    .unwrap()
            };
            let (start, end) = (to_offset(range.start), to_offset(range.end));
            let accepted = format!("{}{new_text}{}", &text[..start], &text[end..]);
            accepted.lines().nth(line).unwrap().to_owned()
        };
        let line_before = &before[before.rfind('\n').map_or(0, |newline| newline + 1)..];
        let cursor = Cursor { position: cursor, offset, line_before, encoding };
        let inline = inline_item(&cursor, offset..offset, suggestion.text.clone(), Tracking::default());
        let from_inline = apply(inline.range.unwrap(), &inline.insert_text);
        let completion = completion_item(&cursor, offset..offset, suggestion.text, Tracking::default());
        let Some(CompletionTextEdit::Edit(edit)) = completion.text_edit else { panic!("no text edit") };
        assert_eq!(apply(edit.range, &edit.new_text), from_inline, "completion and inline items agree");
        from_inline
    }

    #[test]
    fn issue_10_every_trigger_shape_inserts_what_was_meant() {
        const BODY: &str = "fn f(counts: &Map) -> usize {\n    let n = 1;\n        $0\n}\n";
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "after code",
                "    let total = counts$0\n",
                ".values().sum();",
                "    let total = counts.values().sum();",
            ),
            ("after a typed space", "    let next = $0\n", " total + 1;\n", "    let next = total + 1;"),
            (
                "after indentation, written again",
                BODY,
                "        while let Some(_) = lines.next() {",
                "        while let Some(_) = lines.next() {",
            ),
            ("after indentation, with the token's space", BODY, " return n;", "        return n;"),
            ("after indentation, bare", BODY, "return n;", "        return n;"),
            ("after indentation, deeper", BODY, "            return n;", "            return n;"),
            (
                "mid-word",
                "    let total: usize = counts.v$0\n",
                "alues().sum();",
                "    let total: usize = counts.values().sum();",
            ),
            ("before a suffix", "    foo($0)\n", "bar)\nmore", "    foo(bar)"),
            (
                "after wide characters",
                "    let s = \"é😀\"; let t = $0\n",
                " s.len();",
                "    let s = \"é😀\"; let t = s.len();",
            ),
        ];
        for encoding in [PositionEncoding::Utf16, PositionEncoding::Utf8] {
            for (shape, fixture, generated, expected) in cases {
                assert_eq!(
                    line_after_accept(fixture, generated, encoding),
                    *expected,
                    "{shape} ({encoding:?}): the model wrote {generated:?}"
                );
            }
        }
    }

    #[test]
    fn items_carry_the_accept_command_only_with_an_id() {
        let at = Position { line: 3, character: 8 };
        let cursor =
            Cursor { position: at, offset: 40, line_before: "        ", encoding: PositionEncoding::Utf16 };
        let tracking = Tracking { id: Some("c-1".into()), confidence: Some(0.5) };
        let item = inline_item(&cursor, 40..40, "x".into(), tracking.clone());
        let arguments = item.command.unwrap().arguments.unwrap();
        assert_eq!(arguments, vec![serde_json::json!("c-1"), serde_json::json!({ "confidence": 0.5 })]);
        assert!(inline_item(&cursor, 40..40, "x".into(), Tracking::default()).command.is_none());
        let untracked = completion_item(&cursor, 40..40, "x".into(), Tracking::default());
        assert!(untracked.command.is_none() && untracked.data.is_none());
        let completion = completion_item(&cursor, 40..40, "  first line\nsecond".into(), tracking);
        assert_eq!(completion.data, Some(serde_json::json!({ "confidence": 0.5 })));
        assert_eq!(completion.label, "first line");
        let Some(CompletionTextEdit::Edit(edit)) = completion.text_edit else { panic!("no text edit") };
        assert_eq!(edit.range, LspRange { start: at, end: at });
        assert_eq!(edit.new_text, "  first line\nsecond");
    }

    #[test]
    fn completion_items_start_at_the_typed_word_so_clients_keep_them() {
        let at = Position { line: 0, character: 7 };
        let cursor =
            Cursor { position: at, offset: 107, line_before: "let ñam", encoding: PositionEncoding::Utf8 };
        let item = completion_item(&cursor, 107..107, "e = 1;".into(), Tracking::default());
        assert_eq!((item.label.as_str(), item.filter_text.as_deref()), ("ñame = 1;", Some("ñame = 1;")));
        let Some(CompletionTextEdit::Edit(edit)) = item.text_edit else { panic!("no text edit") };
        assert_eq!(edit.range.start, Position { line: 0, character: 3 }, "ñ is 2 bytes");
        let cursor =
            Cursor { position: at, offset: 9, line_before: "let 😀a", encoding: PositionEncoding::Utf16 };
        let item = completion_item(&cursor, 9..9, "b".into(), Tracking::default());
        let Some(CompletionTextEdit::Edit(edit)) = item.text_edit else { panic!("no text edit") };
        assert_eq!(edit.range.start, Position { line: 0, character: 6 }, "only the word, not the emoji");
        assert_eq!(edit.new_text, "ab");
    }

    #[test]
    fn a_range_before_the_cursor_is_replaced_by_both_items() {
        // Text that rewrites what was typed (the last typed character "v" here, as token healing
        // answers): both items replace it, each in its own way.
        let line_before = "    let t = counts.😀v";
        let offset = 1000 + line_before.len();
        for (encoding, v_at) in [(PositionEncoding::Utf16, 21), (PositionEncoding::Utf8, 23)] {
            let position = Position { line: 4, character: v_at + 1 };
            let cursor = Cursor { position, offset, line_before, encoding };
            let inline = inline_item(&cursor, offset - 1..offset, "values()".into(), Tracking::default());
            assert_eq!(inline.range.unwrap().start, Position { line: 4, character: v_at }, "{encoding:?}");
            assert_eq!(inline.insert_text, "values()");
            let item = completion_item(&cursor, offset - 1..offset, "values()".into(), Tracking::default());
            let Some(CompletionTextEdit::Edit(edit)) = item.text_edit else { panic!("no text edit") };
            assert_eq!(edit.range.start, Position { line: 4, character: v_at }, "the word is the range");
            assert_eq!(edit.new_text, "values()");
        }
    }
}
