//! Which names a span needs from other files (`wisp eval --require cross-file`), and whether the
//! collected snippets show their definitions.

use std::path::Path;

use wisp_context::{collect, cross_file_names, shows_definition, ContextMode, Cursor, Workspace};
use wisp_syntax::index::WorkspaceIndex;
use wisp_syntax::{tags, LanguageRegistry};

const GEOMETRY: &str = "\
pub struct Point {
    pub x: f64,
    pub y: f64,
}

pub fn distance(a: &Point, b: &Point) -> f64 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}
";

const MAIN: &str = "\
mod geometry;

use crate::geometry::{distance, Point};

fn double(value: f64) -> f64 {
    value * 2.0
}

fn main() {
    let origin = Point { x: 0.0, y: 0.0 };
    let d = distance(&origin, &origin);
    let e = double(d).max(1.0);
    let f = build(e);
}
";

/// `build` and the method `new` in four files other than main.rs; the method
/// `poll_ready_soon` in one.
const COMMON: &[(&str, &str)] = &[
    (
        "src/a.rs",
        "pub struct Alpha;\nimpl Alpha {\n    pub fn new() -> Alpha { Alpha }\n    pub fn poll_ready_soon(&self) {}\n}\npub fn build(x: f64) -> f64 { x }\n",
    ),
    ("src/b.rs", "pub struct Beta;\nimpl Beta {\n    pub fn new() -> Beta { Beta }\n}\npub fn build(x: f64) -> f64 { x }\n"),
    ("src/c.rs", "pub struct Gamma;\nimpl Gamma {\n    pub fn new() -> Gamma { Gamma }\n}\npub fn build(x: f64) -> f64 { x }\n"),
    ("src/d.rs", "pub struct Delta;\nimpl Delta {\n    pub fn new() -> Delta { Delta }\n}\npub fn build(x: f64) -> f64 { x }\n"),
];

fn workspace_index(main: &str) -> WorkspaceIndex {
    let registry = LanguageRegistry::builtin();
    let rust = registry.by_path(Path::new("a.rs")).unwrap();
    let mut index = WorkspaceIndex::new();
    index.update("src/geometry.rs", &rust, GEOMETRY);
    index.update("src/main.rs", &rust, main);
    for (path, text) in COMMON {
        index.update(path, &rust, text);
    }
    index
}

/// The cross-file names of the line of `main` that starts with `line` (after its indentation).
fn names_on_line(main: &str, line: &str) -> Vec<String> {
    let registry = LanguageRegistry::builtin();
    let file_tags = tags::extract_from_source(&registry.by_path(Path::new("a.rs")).unwrap(), main);
    let start = main.find(line).unwrap_or_else(|| panic!("no line {line:?}"));
    let end = start + main[start..].find('\n').unwrap();
    cross_file_names("src/main.rs", &file_tags, start..end, &workspace_index(main))
}

#[test]
fn a_line_calling_an_imported_function_needs_another_file() {
    assert_eq!(names_on_line(MAIN, "let d = distance"), ["distance"]);
    assert_eq!(names_on_line(MAIN, "let origin = Point"), ["Point"]);
}

#[test]
fn a_line_using_only_this_file_and_the_standard_library_does_not() {
    // `double` is defined here; `max` nowhere in the workspace.
    assert_eq!(names_on_line(MAIN, "let e = double"), Vec::<String>::new());
}

#[test]
fn a_name_many_files_define_counts_only_when_imported() {
    assert_eq!(names_on_line(MAIN, "let f = build"), Vec::<String>::new(), "four files define it");
    let imports_a = MAIN.replace("mod geometry;", "mod geometry;\nuse crate::a::*;");
    assert_eq!(names_on_line(&imports_a, "let f = build"), ["build"]);
}

#[test]
fn a_method_counts_only_when_its_name_is_distinctive() {
    let calls = MAIN.replace("let f = build(e);", "let f = Alpha::new().poll_ready_soon();");
    // `Alpha` is a type defined in one other file; `new` is only ever a method.
    assert_eq!(names_on_line(&calls, "let f = Alpha::new"), ["Alpha", "poll_ready_soon"]);
}

#[test]
fn collected_definitions_and_import_outlines_show_the_names() {
    let registry = LanguageRegistry::builtin();
    let rust = registry.by_path(Path::new("a.rs")).unwrap();
    let index = workspace_index(MAIN);
    let file_tags = tags::extract_from_source(&rust, MAIN);
    let offset = MAIN.find("let d = ").unwrap() + "let d = ".len();
    let cursor = Cursor { path: "src/main.rs", source: MAIN, offset, tags: &file_tags };
    let workspace = Workspace { index: Some(&index), open: &[], recent: &[] };
    let snippets = collect(&cursor, &workspace, ContextMode::Full);
    let shown =
        |name: &str| snippets.iter().any(|snippet| shows_definition(snippet, name, "src/main.rs", &index));
    assert!(shown("Point"), "{snippets:#?}");
    assert!(!shown("double"), "this file's own definitions are not cross-file");
    let file_only = collect(&cursor, &workspace, ContextMode::File);
    assert!(!file_only.iter().any(|snippet| shows_definition(snippet, "Point", "src/main.rs", &index)));
}

#[test]
fn a_name_imported_from_outside_the_workspace_is_not_the_workspaces() {
    let registry = LanguageRegistry::builtin();
    let rust = registry.by_path(Path::new("a.rs")).unwrap();
    let cell = "pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);\n";
    let uses = |import: &str| {
        format!("{import}\n\nfn make() {{\n    let inner = UnsafeCell::new(1);\n    let near = inner;\n}}\n")
    };
    for (import, expected) in [
        ("use std::cell::UnsafeCell;", Vec::<String>::new()),
        ("use crate::loom::cell::UnsafeCell;", vec!["UnsafeCell".to_owned()]),
    ] {
        let main = uses(import);
        let mut index = WorkspaceIndex::new();
        index.update("src/loom/std/unsafe_cell.rs", &rust, cell);
        index.update("src/main.rs", &rust, &main);
        let file_tags = tags::extract_from_source(&rust, &main);
        let start = main.find("let inner").unwrap();
        let end = start + main[start..].find('\n').unwrap();
        assert_eq!(cross_file_names("src/main.rs", &file_tags, start..end, &index), expected, "{import}");
        // Retrieval agrees: the workspace's `UnsafeCell` is shown only when it is the one imported.
        let offset = main.find("let near").unwrap();
        let cursor = Cursor { path: "src/main.rs", source: &main, offset, tags: &file_tags };
        let workspace = Workspace { index: Some(&index), open: &[], recent: &[] };
        let snippets = collect(&cursor, &workspace, ContextMode::Full);
        let shown =
            snippets.iter().any(|snippet| shows_definition(snippet, "UnsafeCell", "src/main.rs", &index));
        assert_eq!(shown, !expected.is_empty(), "{import}: {snippets:#?}");
    }
}
