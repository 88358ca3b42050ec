//! The names a repository and its language know, for index-guided decoding (a model writing a
//! name where one is used may only write one of these) and for counting the names a suggestion
//! made up.
//!
//! A [`NameList`] is a sorted set answering "is this a name" and "does a name start with this"
//! by binary search. [`identifiers`] reads the names a syntax tree uses (every identifier leaf);
//! each [`crate::Language`] carries its standard names (keywords, builtins, common standard
//! library names, from `grammars/<lang>/names.txt`) and its declaration keywords. [`name_use`]
//! tells, from the line before a name, whether the name is used there (and so must be known) or
//! may be new (declared, in a string or a comment, a binding).

use std::sync::Arc;

use tree_sitter::Tree;

use crate::Language;

/// A sorted set of names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameList {
    names: Box<[Box<str>]>,
}

impl NameList {
    pub fn new<S: Into<Box<str>>>(names: impl IntoIterator<Item = S>) -> NameList {
        let mut names: Vec<Box<str>> = names.into_iter().map(Into::into).collect();
        names.sort_unstable();
        names.dedup();
        NameList { names: names.into_boxed_slice() }
    }

    /// Whether `name` is in the list.
    pub fn contains(&self, name: &str) -> bool {
        self.names.binary_search_by(|probe| probe.as_ref().cmp(name)).is_ok()
    }

    /// Whether a name in the list starts with `prefix` (or is it).
    pub fn extends(&self, prefix: &str) -> bool {
        let at = self.names.partition_point(|probe| probe.as_ref() < prefix);
        self.names.get(at).is_some_and(|name| name.starts_with(prefix))
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(AsRef::as_ref)
    }

    /// Approximate heap bytes.
    pub fn heap_bytes(&self) -> usize {
        self.names.iter().map(|name| name.len() + std::mem::size_of::<Box<str>>()).sum()
    }
}

/// Whether a leaf of this kind is a name (`identifier`, `field_identifier`, `type_identifier`,
/// `property_identifier`, `primitive_type`, ...).
fn is_name_kind(kind: &str) -> bool {
    kind.ends_with("identifier") || kind == "primitive_type" || kind == "predefined_type"
}

/// The names `tree` uses, in source order, repeated as often as they occur.
pub fn identifiers<'s>(tree: &Tree, source: &'s str) -> Vec<&'s str> {
    identifiers_in(tree, source, 0).into_iter().map(|(_, name)| name).collect()
}

/// The names `tree` uses within `part`, the document's text from byte `start` (the whole text
/// or a line of it), with their document offsets. Only the nodes that overlap `part` are
/// descended into, so a line costs the nodes on its path and their siblings, not the whole
/// document (60 µs against 1 ms for a line of a 2,000-line file, names kept included).
pub fn identifiers_in<'s>(tree: &Tree, part: &'s str, start: usize) -> Vec<(usize, &'s str)> {
    let mut out = Vec::new();
    let mut cursor = tree.walk();
    let range = start..start + part.len();
    loop {
        let node = cursor.node();
        let overlaps = node.start_byte() < range.end && node.end_byte() > range.start
            || node.start_byte() == range.start;
        if !overlaps {
            // Outside the part: neither it nor its children.
        } else if node.child_count() == 0 || node.kind() == "identifier" {
            if is_name_kind(node.kind()) && range.start <= node.start_byte() && node.end_byte() <= range.end {
                if let Some(text) = part.get(node.start_byte() - start..node.end_byte() - start) {
                    if is_identifier(text) {
                        out.push((node.start_byte(), text));
                    }
                }
            }
        } else if cursor.goto_first_child() {
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                return out;
            }
        }
    }
}

/// Whether `byte` may be part of a name (ASCII letters, digits, `_`, and any byte of a non-ASCII
/// character).
pub fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

/// Whether `text` is one name (and not a number).
pub fn is_identifier(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(is_name_byte) && !text.as_bytes()[0].is_ascii_digit()
}

/// The standard names of a language, read from its `names.txt`: names separated by white space,
/// `#` starting a comment line.
pub fn parse_names(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(str::split_whitespace)
        .filter(|name| is_identifier(name))
        .collect()
}

/// How a name that starts after `before` (the text of its line up to it) is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameUse {
    /// Used where an expression, a type or a member is: it must be a name that exists.
    Used,
    /// Anywhere a new name may be written (a declaration, a binding, the start of a statement,
    /// a string or a comment).
    Free,
}

/// Words after which a name is used: the expression keywords of the languages Wisp knows.
const EXPRESSION_KEYWORDS: &[&str] = &[
    "return",
    "if",
    "while",
    "match",
    "in",
    "of",
    "not",
    "and",
    "or",
    "await",
    "yield",
    "case",
    "throw",
    "new",
    "typeof",
    "instanceof",
    "elif",
    "assert",
    "is",
    "go",
    "defer",
    "delete",
    "void",
];

/// Declaration keywords that import: the rest of their statement is free.
const IMPORT_KEYWORDS: &[&str] = &["use", "import", "from", "package", "mod", "extern"];

/// What ends a declaration's names on a line: its value, body or return type starts.
const DECLARATION_ENDS: &[&str] = &["=", "{", "->", ";", " in ", " of ", "=>"];

/// Whether a name starting after `before` is used (see [`NameUse`]), by the rules of `language`:
/// in a string or a comment it is free; after `.`, `::` or `->` it is a member, used; on a line
/// whose declaration keyword (`let`, `fn`, `def`, `const`, …) has not reached its `=`, body or
/// return type yet, free; after an operator, an opening bracket other than `{`, or an expression
/// keyword (`return`, `if`, …), used; elsewhere (the start of a statement, after a name) free.
pub fn name_use(before: &str, language: &Language) -> NameUse {
    let code = match code_before(before, language) {
        Some(code) => code,
        None => return NameUse::Free,
    };
    if in_declaration(code, &language.declaration_keywords) {
        return NameUse::Free;
    }
    let bytes = code.as_bytes();
    if code.ends_with("::") || code.ends_with("->") {
        return NameUse::Used;
    }
    if code.ends_with('.') {
        // Not `..` (a range) nor a number's point.
        let before_dot = bytes.len().checked_sub(2).map(|at| bytes[at]);
        return match before_dot {
            Some(b'.') => NameUse::Used,
            Some(byte) if byte.is_ascii_digit() => {
                // `1.` is a number unless the digit ends a name (`x1.`).
                let without_dot = code.strip_suffix('.').unwrap_or(code);
                let start = without_dot.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_');
                if code[start.len()..].starts_with(|c: char| c.is_ascii_digit()) {
                    NameUse::Free
                } else {
                    NameUse::Used
                }
            }
            _ => NameUse::Used,
        };
    }
    let trimmed = code.trim_end_matches([' ', '\t']);
    let Some(&last) = trimmed.as_bytes().last() else { return NameUse::Free };
    if b"=([,!&+-*/%<>^?:".contains(&last) {
        return NameUse::Used;
    }
    if is_name_byte(last) {
        let word_start = trimmed.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_').len();
        if EXPRESSION_KEYWORDS.contains(&&trimmed[word_start..]) {
            return NameUse::Used;
        }
    }
    NameUse::Free
}

/// The code of `before` when the name after it is neither in a string nor in a comment: the
/// line with strings kept (quotes scanned with their escapes). None inside either.
fn code_before<'a>(before: &'a str, language: &Language) -> Option<&'a str> {
    let comment = language.line_comment.as_deref();
    let single_quote_strings = language.name != "rust";
    let bytes = before.as_bytes();
    let mut quote: Option<u8> = None;
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        match quote {
            Some(open) => {
                if byte == b'\\' {
                    at += 1;
                } else if byte == open {
                    quote = None;
                }
            }
            None => {
                if comment.is_some_and(|comment| before[at..].starts_with(comment))
                    || before[at..].starts_with("/*")
                {
                    return None;
                }
                if byte == b'"' || byte == b'`' || (byte == b'\'' && single_quote_strings) {
                    quote = Some(byte);
                }
            }
        }
        at += 1;
    }
    quote.is_none().then_some(before)
}

/// Whether the last declaration keyword of `code` (a whole word) has no value, body or return
/// type after it yet: the names after it are being declared.
fn in_declaration(code: &str, keywords: &[String]) -> bool {
    let mut last = None;
    for keyword in keywords {
        let mut from = 0;
        while let Some(found) = code[from..].find(keyword.as_str()) {
            let start = from + found;
            let end = start + keyword.len();
            let before_ok = start == 0 || !is_name_byte(code.as_bytes()[start - 1]);
            let after_ok = code.as_bytes().get(end).is_none_or(|&byte| !is_name_byte(byte));
            if before_ok && after_ok && last.is_none_or(|last| end > last) {
                last = Some(end);
            }
            from = end;
        }
    }
    let Some(end) = last else { return false };
    let rest = &code[end..];
    if IMPORT_KEYWORDS
        .contains(&code[..end].rsplit(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or(""))
    {
        // An import's braces group names (`use a::{b, c}`): the whole statement names modules
        // and items, which may come from outside the repository.
        return !rest.contains(';');
    }
    !DECLARATION_ENDS.iter().any(|stop| {
        // `==`, `<=`, `>=` and `!=` compare; they do not end a declaration.
        rest.match_indices(stop).any(|(at, _)| {
            *stop != "="
                || (!rest[..at].ends_with(['=', '<', '>', '!']) && !rest[at + 1..].starts_with(['=', '>']))
        })
    })
}

/// The names a suggestion uses that `knows` does not know: names in used places (see
/// [`name_use`]) of `text`, inserted after `line_before` (the cursor's line up to it), the
/// name the cursor is inside of with its typed part. Each unknown name once, in order.
pub fn unknown_names(
    text: &str,
    line_before: &str,
    language: &Language,
    knows: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut unknown: Vec<String> = Vec::new();
    // The line so far, and where the name being written in it starts (the cursor may be inside
    // a name: `counts.v` + `alues()` uses `values`).
    let mut line = line_before.to_owned();
    let typed = line.len() - line.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_').len();
    let mut name_start = (typed > 0).then(|| line.len() - typed);
    let check = |line: &str, start: usize, unknown: &mut Vec<String>| {
        let name = &line[start..];
        if is_identifier(name)
            && name_use(&line[..start], language) == NameUse::Used
            && !knows(name)
            && !unknown.iter().any(|seen| seen == name)
        {
            unknown.push(name.to_owned());
        }
    };
    for ch in text.chars() {
        let is_name = ch.is_alphanumeric() || ch == '_';
        match (is_name, name_start) {
            (true, None) => name_start = Some(line.len()),
            (false, Some(start)) => {
                check(&line, start, &mut unknown);
                name_start = None;
            }
            _ => {}
        }
        if ch == '\n' {
            line.clear();
        } else {
            line.push(ch);
        }
    }
    if let Some(start) = name_start {
        check(&line, start, &mut unknown);
    }
    unknown
}

/// A language's standard names as one shared list.
pub fn standard_names(names: &[&str]) -> Arc<NameList> {
    Arc::new(NameList::new(names.iter().copied()))
}
