//! The definitions, references, imports and scopes of a source file, found by running its
//! language's `tags.scm` query (the capture names are an API, documented in `grammars/README.md`).
//!
//! The completion engine uses them to put the signatures of what the code near the cursor uses,
//! and the header of the scope the cursor is in, into the prompt. Extraction never fails: a file
//! with syntax errors gives what its well-formed parts define, and a language without a query
//! gives empty tags.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use tree_sitter::{Node, Parser, QueryCursor, QueryMatch, StreamingIterator, Tree};

use crate::language::Language;

/// The longest header kept, in bytes. A signature longer than this (a function with dozens of
/// parameters, a minified line) is cut at a char boundary: the prompt wants the start of a
/// signature, not all of it.
pub const MAX_HEADER_BYTES: usize = 512;

/// How many partial matches the query cursor tracks at once before it drops the oldest.
/// Tree-sitter's default is unlimited, which lets a deeply nested or pathological file take
/// memory and time without bound; helix uses this value for the same queries.
const MATCH_LIMIT: u32 = 256;

/// What a definition defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DefinitionKind {
    /// A free function (or a function-valued constant in JavaScript and TypeScript).
    Function,
    /// A function inside an `impl`, class, trait or interface (constructors too), or a Go method.
    Method,
    /// A struct, class, enum, union, record or type alias.
    Type,
    /// A trait, interface or protocol.
    Interface,
    /// A constant, static or module-level constant.
    Constant,
    /// A module or namespace.
    Module,
}

impl DefinitionKind {
    /// When two patterns capture the same node, the kind with the higher specificity is kept:
    /// a method over a function, an interface over a type, and a function over a constant
    /// (`const parse = (text) => ..` in JavaScript).
    fn specificity(self) -> u8 {
        match self {
            DefinitionKind::Constant => 0,
            DefinitionKind::Function | DefinitionKind::Type | DefinitionKind::Module => 1,
            DefinitionKind::Method | DefinitionKind::Interface => 2,
        }
    }

    /// The kind in lowercase, as the capture name spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DefinitionKind::Function => "function",
            DefinitionKind::Method => "method",
            DefinitionKind::Type => "type",
            DefinitionKind::Interface => "interface",
            DefinitionKind::Constant => "constant",
            DefinitionKind::Module => "module",
        }
    }
}

/// Something the file defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The defined name, such as `"add"`.
    pub name: String,
    /// What it defines.
    pub kind: DefinitionKind,
    /// Byte range of the whole definition in the source.
    pub range: Range<usize>,
    /// Byte range of the name.
    pub name_range: Range<usize>,
    /// Byte offset where the body starts (None: no body captured).
    pub body_start: Option<usize>,
    /// The signature: source text from `range.start` up to the body start (else the first line),
    /// whitespace-trimmed at the end, at most [`MAX_HEADER_BYTES`] cut at a char boundary.
    pub header: String,
}

/// A use of a name worth looking up: a call, a type in an annotation, a constructor, a macro.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The name as written, such as `"push"` in `items.push(x)`.
    pub name: String,
    /// Byte range of the name.
    pub range: Range<usize>,
}

/// An import, `use`, `#include` or `require`-like statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Byte range of the whole statement; of the module's own clause where one statement imports
    /// several modules (Python's `import a, b`, Go's `import ( .. )`).
    pub range: Range<usize>,
    /// The module imported from, without quotes or angle brackets: `crate::a::b`, `.x`,
    /// `./utils`, `fmt`, `java.util`, `stdio.h`.
    pub source: Option<String>,
    /// The names imported, as the source module defines them (not local aliases; a default
    /// import gives its local name), in source order.
    pub names: Vec<String>,
}

/// A piece of code whose header is worth showing while the cursor is inside it: a function, a
/// method, an `impl` or trait block, a class, a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Byte range of the whole scope.
    pub range: Range<usize>,
    /// Byte offset where the body starts.
    pub body_start: usize,
    /// Byte range of the inside of the body, where code goes: the body without its enclosing
    /// brackets, or all of it when it has none (Python's indented blocks); it starts earlier
    /// when a syntax error between the header and the body holds the code being typed.
    pub inside: Range<usize>,
    /// The source text from `range.start` up to the body, as for [`Definition::header`].
    pub header: String,
}

/// Everything the tags query found in one file, each list sorted by position (outer before
/// inner where two start together).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileTags {
    /// The definitions, one per node; a node captured as two kinds keeps the more specific.
    pub definitions: Vec<Definition>,
    /// The references, one per name node; a definition's own name is not a reference.
    pub references: Vec<Reference>,
    /// The imports, one per statement (or per module, see [`Import::range`]).
    pub imports: Vec<Import>,
    /// The scopes, one per node.
    pub scopes: Vec<Scope>,
}

impl FileTags {
    /// Scopes enclosing byte `offset`, outermost first (offset strictly inside the body).
    ///
    /// "Inside" is between the body's brackets, both ends included: in `fn f() {}` the offset
    /// between the braces is inside, the offsets before `{` and after `}` are not.
    pub fn enclosing_scopes(&self, offset: usize) -> Vec<&Scope> {
        self.scopes
            .iter()
            .filter(|scope| scope.inside.start <= offset && offset <= scope.inside.end)
            .collect()
    }
}

/// Runs the language's tags query over a parsed tree of `source`.
pub fn extract(language: &Language, tree: &Tree, source: &str) -> FileTags {
    let Some(query) = language.tags_query() else {
        return FileTags::default();
    };
    let roles: Vec<Option<CaptureRole>> =
        query.capture_names().iter().map(|name| CaptureRole::from_capture_name(name)).collect();
    let mut collected = Collected::default();
    let mut cursor = QueryCursor::new();
    cursor.set_match_limit(MATCH_LIMIT);
    let mut matches = cursor.matches(query, tree.root_node(), source.as_bytes());
    while let Some(query_match) = matches.next() {
        collected.add(query_match, &roles, source);
    }
    if cursor.did_exceed_match_limit() {
        tracing::debug!(language = %language.name, "tags query exceeded its match limit; some tags may be missing");
    }
    collected.finish()
}

/// Parses `source` with the language's grammar and extracts (for files not open in the editor).
pub fn extract_from_source(language: &Language, source: &str) -> FileTags {
    if language.tags_query().is_none() {
        return FileTags::default();
    }
    match parse(language, source) {
        Some(tree) => extract(language, &tree, source),
        None => FileTags::default(),
    }
}

/// Parses `source` from scratch with the language's grammar.
pub fn parse(language: &Language, source: &str) -> Option<tree_sitter::Tree> {
    let mut parser = Parser::new();
    if let Err(error) = parser.set_language(language.grammar()) {
        // The registry checks every grammar when it loads, so this is a bug.
        tracing::error!(language = %language.name, %error, "cannot use the grammar");
        return None;
    }
    let tree = parser.parse(source, None);
    if tree.is_none() {
        // Only cancellation or a timeout stop a parse, and we set neither.
        tracing::error!(language = %language.name, "tree-sitter returned no tree");
    }
    tree
}

/// What a capture name of the tags query means; see `grammars/README.md`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CaptureRole {
    Definition(DefinitionKind),
    Name,
    Body,
    Reference,
    Import,
    ImportSource,
    ImportName,
    Scope,
}

/// The capture names a tags query may use, documented in `grammars/README.md`, with what each
/// means. Captures whose name starts with `_` are the query's own, for predicates.
pub(crate) const CAPTURES: &[(&str, CaptureRole)] = &[
    ("definition.function", CaptureRole::Definition(DefinitionKind::Function)),
    ("definition.method", CaptureRole::Definition(DefinitionKind::Method)),
    ("definition.type", CaptureRole::Definition(DefinitionKind::Type)),
    ("definition.interface", CaptureRole::Definition(DefinitionKind::Interface)),
    ("definition.constant", CaptureRole::Definition(DefinitionKind::Constant)),
    ("definition.module", CaptureRole::Definition(DefinitionKind::Module)),
    ("name", CaptureRole::Name),
    ("body", CaptureRole::Body),
    ("reference", CaptureRole::Reference),
    ("import", CaptureRole::Import),
    ("import.source", CaptureRole::ImportSource),
    ("import.name", CaptureRole::ImportName),
    ("scope", CaptureRole::Scope),
];

impl CaptureRole {
    /// The role of a capture name; `None` for the query's own `@_names`, used by predicates.
    fn from_capture_name(name: &str) -> Option<CaptureRole> {
        CAPTURES.iter().find(|(capture_name, _)| *capture_name == name).map(|(_, role)| *role)
    }
}

/// The tags found so far, keyed by node range so that several patterns (or several matches of
/// one pattern) that capture the same node give one tag.
#[derive(Default)]
struct Collected {
    definitions: HashMap<(usize, usize), Definition>,
    references: HashMap<(usize, usize), Reference>,
    imports: HashMap<(usize, usize), CollectedImport>,
    scopes: HashMap<(usize, usize), Scope>,
}

/// An import being put together: each match may bring its source or some of its names.
struct CollectedImport {
    range: Range<usize>,
    source: Option<String>,
    /// The names with the offsets they start at, to sort them into source order.
    names: Vec<(usize, String)>,
}

impl Collected {
    /// Adds the tags of one match; `roles` is indexed by capture index.
    fn add(&mut self, query_match: &QueryMatch<'_, '_>, roles: &[Option<CaptureRole>], source: &str) {
        let mut definition: Option<(DefinitionKind, Node<'_>)> = None;
        let mut name = None;
        let mut body = None;
        let mut scope = None;
        let mut import = None;
        let mut import_source = None;
        let mut import_names = Vec::new();
        for capture in query_match.captures {
            let node = capture.node;
            match roles.get(capture.index as usize).copied().flatten() {
                Some(CaptureRole::Definition(kind)) => definition = Some((kind, node)),
                Some(CaptureRole::Name) => name = Some(node),
                Some(CaptureRole::Body) => body = Some(node),
                Some(CaptureRole::Scope) => scope = Some(node),
                Some(CaptureRole::Import) => import = Some(node),
                Some(CaptureRole::ImportSource) => import_source = Some(node),
                Some(CaptureRole::ImportName) => import_names.push(node),
                // A zero-width identifier is one that error recovery made up.
                Some(CaptureRole::Reference) if node.byte_range().is_empty() => {}
                Some(CaptureRole::Reference) => {
                    let key = (node.start_byte(), node.end_byte());
                    self.references.entry(key).or_insert_with(|| Reference {
                        name: node_text(source, node).to_owned(),
                        range: key.0..key.1,
                    });
                }
                None => {}
            }
        }
        if let (Some((kind, node)), Some(name)) = (definition, name) {
            if !name.byte_range().is_empty() {
                self.add_definition(kind, node, name, body, source);
            }
        }
        if let (Some(node), Some(body)) = (scope, body) {
            let key = (node.start_byte(), node.end_byte());
            self.scopes.entry(key).or_insert_with(|| Scope {
                range: node.byte_range(),
                body_start: body.start_byte(),
                inside: body_inside(source, node, body),
                header: header(source, node, Some(body)),
            });
        }
        if let Some(node) = import {
            let key = (node.start_byte(), node.end_byte());
            let collected = self.imports.entry(key).or_insert_with(|| CollectedImport {
                range: node.byte_range(),
                source: None,
                names: Vec::new(),
            });
            if let (None, Some(source_node)) = (&collected.source, import_source) {
                collected.source = Some(unquote(node_text(source, source_node)).to_owned());
            }
            for name in import_names {
                collected.names.push((name.start_byte(), node_text(source, name).to_owned()));
            }
        }
    }

    fn add_definition(
        &mut self,
        kind: DefinitionKind,
        node: Node<'_>,
        name: Node<'_>,
        body: Option<Node<'_>>,
        source: &str,
    ) {
        let key = (node.start_byte(), node.end_byte());
        if let Some(existing) = self.definitions.get(&key) {
            // A more specific pattern may capture a body that the other does not, so the winner
            // replaces the whole definition; between equals, a captured body wins.
            let more_specific = kind.specificity() > existing.kind.specificity();
            let adds_body = kind.specificity() == existing.kind.specificity()
                && existing.body_start.is_none()
                && body.is_some();
            if !more_specific && !adds_body {
                return;
            }
        }
        let body_start = body.map(|body| body.start_byte());
        self.definitions.insert(
            key,
            Definition {
                name: node_text(source, name).to_owned(),
                kind,
                range: node.byte_range(),
                name_range: name.byte_range(),
                body_start,
                header: header(source, node, body),
            },
        );
    }

    /// The tags, deduplicated and sorted by position.
    fn finish(self) -> FileTags {
        /// Sorts by start, and the longer (enclosing) range first among those that start together.
        fn by_position(range: &Range<usize>) -> (usize, std::cmp::Reverse<usize>) {
            (range.start, std::cmp::Reverse(range.end))
        }
        let mut definitions: Vec<Definition> = self.definitions.into_values().collect();
        definitions.sort_by_key(|definition| (by_position(&definition.range), definition.kind));
        // A pattern such as `(type_identifier) @reference` also captures the names that the file
        // defines, which are not uses.
        let defined_names: HashSet<(usize, usize)> = definitions
            .iter()
            .map(|definition| (definition.name_range.start, definition.name_range.end))
            .collect();
        let mut references: Vec<Reference> = self
            .references
            .into_values()
            .filter(|reference| !defined_names.contains(&(reference.range.start, reference.range.end)))
            .collect();
        references.sort_by_key(|reference| by_position(&reference.range));
        let mut imports: Vec<Import> = self
            .imports
            .into_values()
            .map(|mut import| {
                import.names.sort();
                import.names.dedup();
                Import {
                    range: import.range,
                    source: import.source,
                    names: import.names.into_iter().map(|(_, name)| name).collect(),
                }
            })
            .collect();
        imports.sort_by_key(|import| by_position(&import.range));
        let mut scopes: Vec<Scope> = self.scopes.into_values().collect();
        scopes.sort_by_key(|scope| by_position(&scope.range));
        FileTags { definitions, references, imports, scopes }
    }
}

/// The text of `node`, or "" when the node does not lie on char boundaries of `source` (a tree
/// that was parsed from other text).
fn node_text<'source>(source: &'source str, node: Node<'_>) -> &'source str {
    source.get(node.byte_range()).unwrap_or_default()
}

/// The header of a definition or scope `node`: the text up to its body when it has one, else its
/// first line; trimmed at the end and cut to [`MAX_HEADER_BYTES`]. In code being typed it also
/// stops at the first syntax error, which holds the half-written statement.
fn header(source: &str, node: Node<'_>, body: Option<Node<'_>>) -> String {
    let range = node.byte_range();
    let body_start = body.map(|body| body.start_byte());
    let end = first_error_before(node, body_start.unwrap_or(range.end)).or(body_start).unwrap_or(range.end);
    let text = source.get(range.start..end.clamp(range.start, range.end)).unwrap_or_default();
    let mut text = cut_at_char_boundary(text, MAX_HEADER_BYTES);
    if body.is_none() {
        text = text.split('\n').next().unwrap_or_default();
    }
    text.trim_end().to_owned()
}

/// The start of the first syntax error among `node`'s children before byte `limit`. In
/// `def load(self):\n    return read(` tree-sitter puts the unfinished statement in an error
/// between the parameters and an empty body.
fn first_error_before(node: Node<'_>, limit: usize) -> Option<usize> {
    let mut cursor = node.walk();
    let first_error = node.children(&mut cursor).find(|child| child.is_error() && child.start_byte() < limit);
    first_error.map(|error| error.start_byte())
}

/// The longest prefix of `text` of at most `max_bytes` bytes that ends at a char boundary.
fn cut_at_char_boundary(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The inside of the body of scope `node`: the body without its brackets when it starts with an
/// opening one and ends with the matching closing one, else the whole body (an indented block, or
/// a brace block whose `}` is missing because the file is being typed). A syntax error between
/// the header and the body is code being typed, so it is inside too.
fn body_inside(source: &str, node: Node<'_>, body: Node<'_>) -> Range<usize> {
    let range = body.byte_range();
    let text = node_text(source, body).as_bytes();
    let bracketed = matches!(
        (text.first(), text.last()),
        (Some(b'{'), Some(b'}')) | (Some(b'('), Some(b')')) | (Some(b'['), Some(b']'))
    );
    let inside = if bracketed && text.len() >= 2 { range.start + 1..range.end - 1 } else { range };
    match first_error_before(node, body.start_byte()) {
        Some(error_start) => error_start.min(inside.start)..inside.end,
        None => inside,
    }
}

/// `text` without one pair of enclosing quotes or angle brackets: `"./utils"` is `./utils`,
/// `<stdio.h>` is `stdio.h`.
fn unquote(text: &str) -> &str {
    for (open, close) in [('"', '"'), ('\'', '\''), ('`', '`'), ('<', '>')] {
        if let Some(inner) = text.strip_prefix(open).and_then(|rest| rest.strip_suffix(close)) {
            return inner;
        }
    }
    text
}
