//! A deliberately naive model of a document: a `String` with LSP line and character rules
//! written out by hand, and a fresh tree-sitter parse, for the real [`Document`] to agree with.

use tree_sitter::{Parser, Tree, TreeCursor};
use wisp_syntax::{Document, Language, Position, PositionEncoding};

/// A line of the model: byte offsets of its start and of the end of its text (before the break).
#[derive(Debug, Clone, Copy)]
pub struct Line {
    pub start: usize,
    pub end: usize,
}

/// The lines of `text`, split at "\r\n", "\n" and "\r" as LSP says.
pub fn lines(text: &str) -> Vec<Line> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    let mut index = 0;
    while index < bytes.len() {
        let break_len = match (bytes[index], bytes.get(index + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\r' | b'\n', _) => 1,
            _ => 0,
        };
        if break_len > 0 {
            lines.push(Line { start, end: index });
            index += break_len;
            start = index;
        } else {
            index += 1;
        }
    }
    lines.push(Line { start, end: bytes.len() });
    lines
}

/// How many code units `c` takes in `encoding`.
pub fn units(c: char, encoding: PositionEncoding) -> usize {
    match encoding {
        PositionEncoding::Utf8 => c.len_utf8(),
        PositionEncoding::Utf16 => c.len_utf16(),
    }
}

/// The position of `offset`, which must be a char boundary not inside a line break.
pub fn position(text: &str, offset: usize, encoding: PositionEncoding) -> Position {
    let lines = lines(text);
    let (line_index, line) =
        lines.iter().enumerate().rev().find(|(_, line)| line.start <= offset).expect("some line starts at 0");
    assert!(offset <= line.end, "offset {offset} is inside a line break");
    let character: usize = text[line.start..offset].chars().map(|c| units(c, encoding)).sum();
    Position::new(line_index as u32, character as u32)
}

/// The offset of `position`, clamped as editors expect.
pub fn offset_clamped(text: &str, position: Position, encoding: PositionEncoding) -> usize {
    let lines = lines(text);
    let Some(line) = lines.get(position.line as usize) else {
        return text.len();
    };
    let mut n_units = 0;
    for (index, c) in text[line.start..line.end].char_indices() {
        let width = units(c, encoding);
        if n_units + width > position.character as usize {
            return line.start + index;
        }
        n_units += width;
    }
    line.end
}

/// Whether `offset` is a place an LSP position can name: a char boundary not between "\r" and "\n".
pub fn is_position_offset(text: &str, offset: usize) -> bool {
    text.is_char_boundary(offset)
        && !(offset > 0
            && text.as_bytes()[offset - 1] == b'\r'
            && text.as_bytes().get(offset) == Some(&b'\n'))
}

/// A fresh parse of `text`.
pub fn fresh_tree(text: &str, language: &Language) -> Tree {
    let mut parser = Parser::new();
    parser.set_language(language.grammar()).unwrap();
    parser.parse(text, None).unwrap()
}

/// Asserts that `document` holds `text` and that its tree is the same as a fresh parse of `text`:
/// the same S-expression, and node by node the same kind, byte range and points.
pub fn assert_document_matches(document: &Document, text: &str, context: &str) {
    assert_eq!(document.to_string(), text, "{context}");
    assert_eq!(document.len_bytes(), text.len(), "{context}");
    let Some(language) = document.language() else {
        assert!(document.tree().is_none());
        return;
    };
    let tree = document.tree().expect("a document with a language has a tree");
    let fresh = fresh_tree(text, language);
    assert_eq!(tree.root_node().to_sexp(), fresh.root_node().to_sexp(), "{context}\ntext: {text:?}");
    let n_nodes = assert_same_nodes(&mut tree.walk(), &mut fresh.walk(), text, context);
    assert!(n_nodes > 0);
}

/// Walks both cursors in step, comparing every node; returns the number of nodes.
fn assert_same_nodes(
    incremental: &mut TreeCursor,
    fresh: &mut TreeCursor,
    text: &str,
    context: &str,
) -> usize {
    let mut n_nodes = 0;
    loop {
        let (a, b) = (incremental.node(), fresh.node());
        let describe = |n: tree_sitter::Node| {
            (
                n.kind(),
                n.byte_range(),
                n.start_position(),
                n.end_position(),
                n.is_error(),
                n.is_missing(),
                n.child_count(),
            )
        };
        assert_eq!(describe(a), describe(b), "{context}: incremental vs fresh node\ntext: {text:?}");
        assert_eq!(incremental.field_name(), fresh.field_name(), "{context}");
        n_nodes += 1;
        if incremental.goto_first_child() {
            assert!(fresh.goto_first_child());
            continue;
        }
        loop {
            if incremental.goto_next_sibling() {
                assert!(fresh.goto_next_sibling(), "{context}");
                break;
            }
            assert!(!fresh.goto_next_sibling(), "{context}");
            if !incremental.goto_parent() {
                assert!(!fresh.goto_parent(), "{context}");
                return n_nodes;
            }
            assert!(fresh.goto_parent(), "{context}");
        }
    }
}
