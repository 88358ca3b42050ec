//! Applying LSP content changes: the text follows a `String` model and the tree a fresh parse.

use expect_test::expect;
use wisp_syntax::{Document, EditError, LanguageRegistry, Position, PositionEncoding, Range, TextChange};

use crate::model;

/// A document and its `String` model, edited in parallel.
struct Session {
    document: Document,
    model: String,
    encoding: PositionEncoding,
}

impl Session {
    fn new(language_id: &str, text: &str, encoding: PositionEncoding) -> Session {
        let language = LanguageRegistry::builtin().by_language_id(language_id);
        assert!(language.is_some(), "no language {language_id}");
        let session = Session { document: Document::new(text, language), model: text.to_owned(), encoding };
        model::assert_document_matches(&session.document, &session.model, "new");
        session
    }

    /// Replaces `(start line, start character)..(end line, end character)` with `text`.
    fn edit(&mut self, start: (u32, u32), end: (u32, u32), text: &str) {
        let range = Range::new(Position::new(start.0, start.1), Position::new(end.0, end.1));
        let start = model::offset_clamped(&self.model, range.start, self.encoding);
        let end = model::offset_clamped(&self.model, range.end, self.encoding);
        self.model.replace_range(start..end, text);
        self.document.apply_change(&TextChange::new(range, text), self.encoding).unwrap();
        let context = format!("after replacing {range:?} with {text:?}");
        model::assert_document_matches(&self.document, &self.model, &context);
    }

    fn replace_all(&mut self, text: &str) {
        self.model = text.to_owned();
        self.document.apply_change(&TextChange::full(text), self.encoding).unwrap();
        model::assert_document_matches(&self.document, &self.model, "after replacing all");
    }
}

const RUST: &str = "fn main() {\n    let s = \"😀é中\";\n    println!(\"{s}\");\n}\n";

#[test]
fn inserts_deletes_and_replacements() {
    let mut session = Session::new("rust", RUST, PositionEncoding::Utf16);
    // Insert after the emoji string's closing quote.
    session.edit((1, 18), (1, 18), ".to_owned()");
    assert_eq!(session.document.to_string().lines().nth(1), Some("    let s = \"😀é中\".to_owned();"));
    // Delete the emoji (two UTF-16 code units).
    session.edit((1, 13), (1, 15), "");
    // Replace "main" with "start".
    session.edit((0, 3), (0, 7), "start");
    // Insert at the very start and the very end.
    session.edit((0, 0), (0, 0), "// header\n");
    session.edit((5, 0), (5, 0), "fn other() {}\n");
    expect![[r#"
        // header
        fn start() {
            let s = "é中".to_owned();
            println!("{s}");
        }
        fn other() {}
    "#]]
    .assert_eq(&session.document.to_string());
}

#[test]
fn multi_line_edits() {
    let mut session = Session::new("rust", RUST, PositionEncoding::Utf8);
    // Replace from inside line 1 to inside line 2 with three lines.
    session.edit((1, 8), (2, 12), "a = 1;\n    let b = 2;\n    let c = (a, b);\n    dbg!");
    // Delete whole lines, joining line 0 and the closing brace.
    session.edit((0, 11), (5, 1), "}");
    expect![[r#"
        fn main() {}
    "#]]
    .assert_eq(&session.document.to_string());
    // Insert several lines into the empty body.
    session.edit((0, 11), (0, 11), "\n    let x = [\n        1,\n    ];\n");
}

#[test]
fn crlf_edits() {
    let crlf = RUST.replace('\n', "\r\n");
    let mut session = Session::new("rust", &crlf, PositionEncoding::Utf16);
    session.edit((1, 19), (1, 19), "\r\n    let t = 1;");
    // A character past the end of the line clamps to before "\r\n".
    session.edit((0, 50), (0, 50), " // entry");
    // Join two lines by deleting "\r\n".
    session.edit((1, 19), (2, 0), "");
    // Turn a "\r\n" into a lone "\r" by deleting its "\n" half through a whole-break edit.
    session.edit((0, 20), (1, 0), "\r");
    // Then give the lone "\r" its "\n" back.
    session.edit((1, 0), (1, 0), "\n");
    // Insert "\r" and "\n" separately at the same place.
    session.edit((2, 4), (2, 4), "\r");
    session.edit((3, 0), (3, 0), "\n");
    assert!(session.document.to_string().contains("\r\n"));
}

#[test]
fn cr_inserted_before_lf_makes_one_line_break() {
    let mut session = Session::new("rust", "fn a() {}\nfn b() {}\n", PositionEncoding::Utf16);
    session.edit((0, 9), (0, 9), "\r");
    assert_eq!(session.document.len_lines(), 3);
    session.edit((1, 9), (1, 9), " // b\r");
    session.edit((0, 2), (0, 2), "\r");
    assert_eq!(session.document.len_lines(), 4);
    expect![[r#"
        "fn\r a() {}\r\nfn b() {} // b\r\n"
    "#]]
    .assert_eq(&format!("{:?}\n", session.document.to_string()));
}

#[test]
fn whole_document_replacement() {
    let mut session = Session::new("rust", RUST, PositionEncoding::Utf16);
    session.replace_all("struct S;\r\n");
    session.edit((1, 0), (1, 0), "impl S {}\n");
    session.replace_all("");
    session.edit((0, 0), (0, 0), "const X: u8 = 1;");
}

#[test]
fn edits_past_the_end_clamp() {
    let mut session = Session::new("python", "x = 1\ny = 2\n", PositionEncoding::Utf16);
    session.edit((1, 4), (9, 9), "3\n");
    session.edit((99, 0), (99, 0), "z = 3\n");
    expect![[r#"
        x = 1
        y = 3
        z = 3
    "#]]
    .assert_eq(&session.document.to_string());
}

#[test]
fn reversed_range_is_an_error() {
    let mut document = Document::new("abc\ndef", None);
    let change = TextChange::new(Range::new(Position::new(1, 1), Position::new(0, 1)), "x");
    let error = document.apply_change(&change, PositionEncoding::Utf16).unwrap_err();
    assert_eq!(error, EditError::ReversedRange { start: Position::new(1, 1), end: Position::new(0, 1) });
    expect!["the edited range ends at 0:1 before it starts at 1:1"].assert_eq(&error.to_string());
    assert_eq!(document.to_string(), "abc\ndef");
}

#[test]
fn document_without_language_has_no_tree() {
    let mut document = Document::new("plain text", None);
    assert!(document.tree().is_none());
    document.apply_change(&TextChange::full("more text"), PositionEncoding::Utf8).unwrap();
    assert!(document.tree().is_none());
    document.set_language(LanguageRegistry::builtin().by_language_id("go"));
    model::assert_document_matches(&document, "more text", "after set_language");
}

#[test]
fn slice_clamps_and_rounds_down() {
    let document = Document::new("a😀b", None);
    assert_eq!(document.slice(0..5), "a😀");
    assert_eq!(document.slice(1..3), "");
    assert_eq!(document.slice(3..100), "😀b");
    let (from, to) = (5, 1);
    assert_eq!(document.slice(from..to), "");
}
