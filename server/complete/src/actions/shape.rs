//! What the syntax tree says about the code at a cursor: the function or type around it, its name,
//! where its body starts, whether it is documented.

use tree_sitter::Node;
use wisp_syntax::{tree_sitter, Document};

/// Node kinds of functions and methods, across the languages with grammars.
const FUNCTION_KINDS: &[&str] = &[
    "function_item",
    "function_definition",
    "function_declaration",
    "method_declaration",
    "method_definition",
    "generator_function_declaration",
];

/// Node kinds of type definitions.
const TYPE_KINDS: &[&str] = &[
    "struct_item",
    "enum_item",
    "trait_item",
    "class_definition",
    "class_declaration",
    "interface_declaration",
    "type_alias_declaration",
    "type_declaration",
];

/// A function or type definition in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub is_function: bool,
    pub name: String,
    /// The whole definition, in bytes (attributes and decorators not included).
    pub range: std::ops::Range<usize>,
    /// Where its body starts (the `{` or, in Python, the block after `:`), when it has one.
    pub body_start: Option<usize>,
    /// The first byte of its line, and that line's indentation.
    pub line_start: usize,
    pub indentation: String,
    /// It has a doc comment or docstring already.
    pub documented: bool,
    /// Its body holds no statement yet (only braces, `pass`, `todo!()` or comments).
    pub empty_body: bool,
}

/// The innermost function (or type, when `functions_only` is false) whose range holds `offset`.
pub fn definition_at(document: &Document, offset: usize, functions_only: bool) -> Option<Definition> {
    let tree = document.tree()?;
    let mut node = tree.root_node().descendant_for_byte_range(offset, offset)?;
    loop {
        let kind = node.kind();
        let is_function = FUNCTION_KINDS.contains(&kind);
        if is_function || (!functions_only && TYPE_KINDS.contains(&kind)) {
            return Some(describe(document, node, is_function));
        }
        node = node.parent()?;
    }
}

fn describe(document: &Document, node: Node<'_>, is_function: bool) -> Definition {
    let text = |node: Node<'_>| document.slice(node.start_byte()..node.end_byte());
    let name = node
        .child_by_field_name("name")
        .or_else(|| {
            // Go's `type X struct` keeps the name in its type_spec.
            let mut cursor = node.walk();
            let spec = node.named_children(&mut cursor).find(|child| child.kind() == "type_spec");
            spec.and_then(|spec| spec.child_by_field_name("name"))
        })
        .map(text)
        .unwrap_or_default();
    let body = node.child_by_field_name("body");
    let row = node.start_position().row as u32;
    let line_start = document.offset_clamped(
        wisp_syntax::Position { line: row, character: 0 },
        wisp_syntax::PositionEncoding::Utf8,
    );
    let line = document.slice(line_start..node.start_byte().max(line_start));
    let indentation: String = line.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
    Definition {
        is_function,
        name,
        range: node.start_byte()..node.end_byte(),
        body_start: body.map(|body| body.start_byte()),
        line_start,
        indentation,
        documented: has_documentation(document, node, body),
        empty_body: body.is_some_and(|body| is_empty_body(&text(body))),
    }
}

/// A doc comment right above the definition (`///`, `/**`, a Go `//` line, a Python decorator's
/// comment aside), or a docstring first in a Python body.
fn has_documentation(document: &Document, node: Node<'_>, body: Option<Node<'_>>) -> bool {
    if let Some(first) = body.and_then(|body| body.named_child(0)) {
        if first.kind() == "expression_statement"
            && first.named_child(0).is_some_and(|n| n.kind() == "string")
        {
            return true;
        }
    }
    let mut above = node.prev_sibling();
    while let Some(sibling) = above {
        match sibling.kind() {
            "attribute_item" | "decorator" => above = sibling.prev_sibling(),
            kind if kind.contains("comment") => {
                let comment = document.slice(sibling.start_byte()..sibling.end_byte());
                let adjacent = node.start_position().row <= sibling.end_position().row + 2;
                return adjacent
                    && (comment.starts_with("///")
                        || comment.starts_with("/**")
                        || comment.starts_with("//"));
            }
            _ => return false,
        }
    }
    false
}

fn is_empty_body(body: &str) -> bool {
    let inner = body.trim().trim_start_matches('{').trim_end_matches('}').trim();
    inner.lines().all(|line| {
        let line = line.trim();
        line.is_empty()
            || line.starts_with("//")
            || line.starts_with('#')
            || matches!(line, "pass" | "todo!()" | "unimplemented!()" | "...")
    })
}

/// The line holding `offset`: its start and end (before the line break).
pub fn line_around(document: &Document, offset: usize) -> std::ops::Range<usize> {
    let line = document.position(offset, wisp_syntax::PositionEncoding::Utf8).line;
    let start = document
        .offset_clamped(wisp_syntax::Position { line, character: 0 }, wisp_syntax::PositionEncoding::Utf8);
    let end = document.offset_clamped(
        wisp_syntax::Position { line, character: u32::MAX },
        wisp_syntax::PositionEncoding::Utf8,
    );
    start..end.max(start)
}
