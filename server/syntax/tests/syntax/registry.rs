//! The language registry and `language.toml` files.

use std::path::Path;

use expect_test::expect;
use wisp_syntax::{Document, LanguageConfigError, LanguageFiles, LanguageRegistry};

#[test]
fn builtin_loads_every_shipped_language() {
    let registry = LanguageRegistry::builtin();
    let summary: String = registry
        .languages()
        .map(|language| {
            format!(
                "{} (grammar {}): ids {:?}, extensions {:?}, line comment {:?}\n",
                language.name,
                language.grammar_name(),
                language.language_ids,
                language.file_extensions,
                language.line_comment
            )
        })
        .collect();
    expect![[r##"
        rust (grammar rust): ids ["rust"], extensions ["rs"], line comment Some("//")
        python (grammar python): ids ["python"], extensions ["py", "pyi"], line comment Some("#")
        typescript (grammar typescript): ids ["typescript"], extensions ["ts", "mts", "cts"], line comment Some("//")
        tsx (grammar tsx): ids ["typescriptreact"], extensions ["tsx"], line comment Some("//")
        javascript (grammar javascript): ids ["javascript", "javascriptreact"], extensions ["js", "mjs", "cjs", "jsx"], line comment Some("//")
        go (grammar go): ids ["go"], extensions ["go"], line comment Some("//")
        c (grammar c): ids ["c"], extensions ["c", "h"], line comment Some("//")
        cpp (grammar cpp): ids ["cpp"], extensions ["cpp", "cc", "cxx", "c++", "hpp", "hh", "hxx", "h++", "ipp", "tpp"], line comment Some("//")
        java (grammar java): ids ["java"], extensions ["java"], line comment Some("//")
    "##]]
    .assert_eq(&summary);
}

#[test]
fn every_shipped_language_toml_is_built_in() {
    // A folder under grammars/ that is not embedded would silently do nothing.
    let grammars = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../grammars");
    let registry = LanguageRegistry::builtin();
    let mut n_folders = 0;
    for entry in std::fs::read_dir(&grammars).unwrap() {
        let path = entry.unwrap().path();
        if path.join("language.toml").is_file() {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert!(registry.by_name(name).is_some(), "{name} is not built in");
            n_folders += 1;
        }
    }
    assert_eq!(n_folders, registry.languages().count());
}

#[test]
fn every_shipped_tags_query_is_built_in() {
    // A tags.scm that is not embedded would silently give no tags.
    let grammars = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../grammars");
    let registry = LanguageRegistry::builtin();
    for language in registry.languages() {
        let has_file = grammars.join(&language.name).join("tags.scm").is_file();
        assert_eq!(language.tags_query().is_some(), has_file, "{}", language.name);
    }
}

#[test]
fn every_language_parses() {
    let registry = LanguageRegistry::builtin();
    let cases = [
        ("rust", "fn main() {}", "source_file"),
        ("python", "def f(): pass", "module"),
        ("typescript", "let x: number = 1;", "program"),
        ("typescriptreact", "const a = <div />;", "program"),
        ("javascript", "const a = 1;", "program"),
        ("javascriptreact", "const a = <div />;", "program"),
        ("go", "package main", "source_file"),
        ("c", "int main(void) { return 0; }", "translation_unit"),
        ("cpp", "namespace a { class B {}; }", "translation_unit"),
        ("java", "class A { void f() {} }", "program"),
    ];
    for (id, source, root_kind) in cases {
        let document = Document::new(source, registry.by_language_id(id));
        let tree = document.tree().expect("a language with a grammar gives a tree");
        assert_eq!(tree.root_node().kind(), root_kind, "{id}");
        assert!(!tree.root_node().has_error(), "{id}: {}", tree.root_node().to_sexp());
    }
}

#[test]
fn finds_languages_by_id_and_path() {
    let registry = LanguageRegistry::builtin();
    let name_by_id = |id: &str| registry.by_language_id(id).map(|l| l.name.clone());
    assert_eq!(name_by_id("rust").as_deref(), Some("rust"));
    assert_eq!(name_by_id("typescriptreact").as_deref(), Some("tsx"));
    assert_eq!(name_by_id("javascriptreact").as_deref(), Some("javascript"));
    assert_eq!(name_by_id("cobol"), None);

    let name_by_path = |path: &str| registry.by_path(Path::new(path)).map(|l| l.name.clone());
    assert_eq!(name_by_path("src/main.rs").as_deref(), Some("rust"));
    assert_eq!(name_by_path("/x/y/module.mts").as_deref(), Some("typescript"));
    assert_eq!(name_by_path("App.TSX").as_deref(), Some("tsx"));
    assert_eq!(name_by_path("lib/util.cjs").as_deref(), Some("javascript"));
    assert_eq!(name_by_path("main.go").as_deref(), Some("go"));
    assert_eq!(name_by_path("stubs.pyi").as_deref(), Some("python"));
    assert_eq!(name_by_path("src/vector.h").as_deref(), Some("c"));
    assert_eq!(name_by_path("src/shape.hpp").as_deref(), Some("cpp"));
    assert_eq!(name_by_path("Main.java").as_deref(), Some("java"));
    assert_eq!(name_by_path("Makefile"), None);
    assert_eq!(name_by_path("notes.txt"), None);
}

/// Loads one `language.toml` text and returns the error's message.
fn load_error(toml_text: &str) -> String {
    LanguageRegistry::from_tomls(&[("grammars/x/language.toml", toml_text)]).unwrap_err().to_string()
}

#[test]
fn unknown_key_is_an_error_naming_it() {
    let message = load_error(
        r#"
name = "x"
grammar = "rust"
language_ids = ["x"]
line_coment = "//"
"#,
    );
    assert!(message.contains("line_coment"), "{message}");
    expect![[r#"
        grammars/x/language.toml: TOML parse error at line 5, column 1
          |
        5 | line_coment = "//"
          | ^^^^^^^^^^^
        unknown field `line_coment`, expected one of `name`, `grammar`, `language_ids`, `file_extensions`, `line_comment`, `stop_patterns`, `declaration_keywords`, `standard_names`, `standard_names_from`
    "#]]
    .assert_eq(&message);
}

#[test]
fn unknown_grammar_is_an_error_listing_the_known_ones() {
    let message = load_error("name = \"x\"\ngrammar = \"cobol\"\nlanguage_ids = [\"x\"]\n");
    expect![[r#"grammars/x/language.toml: unknown grammar "cobol"; the known grammars are rust, python, typescript, tsx, javascript, go, c, cpp, java"#]]
        .assert_eq(&message);
    assert!(matches!(
        LanguageRegistry::from_tomls(&[("a", "name = \"x\"\ngrammar = \"cobol\"\nlanguage_ids = []")]),
        Err(LanguageConfigError::UnknownGrammar { .. })
    ));
}

#[test]
fn missing_key_and_dotted_extension_are_errors() {
    let message = load_error("name = \"x\"\nlanguage_ids = [\"x\"]\n");
    assert!(message.contains("missing field `grammar`"), "{message}");
    let message =
        load_error("name = \"x\"\ngrammar = \"go\"\nlanguage_ids = [\"x\"]\nfile_extensions = [\".x\"]\n");
    expect![[r#"grammars/x/language.toml: file extension ".x" starts with a dot; write it without the dot"#]]
        .assert_eq(&message);
}

#[test]
fn languages_cannot_claim_the_same_id_or_extension() {
    let first = "name = \"a\"\ngrammar = \"go\"\nlanguage_ids = [\"a\"]\nfile_extensions = [\"x\"]\n";
    let same_id = "name = \"b\"\ngrammar = \"go\"\nlanguage_ids = [\"b\", \"a\"]\n";
    let same_extension =
        "name = \"c\"\ngrammar = \"go\"\nlanguage_ids = [\"c\"]\nfile_extensions = [\"X\"]\n";
    let error = LanguageRegistry::from_tomls(&[("a", first), ("b", same_id)]).unwrap_err();
    expect![[r#"language id "a" is claimed by both a and b"#]].assert_eq(&error.to_string());
    let error = LanguageRegistry::from_tomls(&[("a", first), ("c", same_extension)]).unwrap_err();
    expect![[r#"file extension "X" is claimed by both a and c"#]].assert_eq(&error.to_string());
}

/// Loads a Rust language whose `tags.scm` is `query_text` and returns the error's message.
fn tags_query_error(query_text: &str) -> String {
    let files = LanguageFiles {
        toml_name: "grammars/x/language.toml",
        toml_text: "name = \"x\"\ngrammar = \"rust\"\nlanguage_ids = [\"x\"]\n",
        tags: Some(("grammars/x/tags.scm", query_text)),
    };
    LanguageRegistry::from_files(&[files]).unwrap_err().to_string()
}

#[test]
fn an_invalid_tags_query_is_an_error_naming_the_file_and_place() {
    expect![[r#"grammars/x/tags.scm:2:2 (byte 63): the grammar has no node type "fn_item""#]].assert_eq(
        &tags_query_error(
            "(function_item name: (identifier) @name) @definition.function\n(fn_item) @scope\n",
        ),
    );
    expect![[r#"grammars/x/tags.scm:2:3 (byte 17): the grammar has no field "nme""#]]
        .assert_eq(&tags_query_error("(function_item\n  nme: (identifier) @name) @definition.function\n"));
    expect!["grammars/x/tags.scm:2:1 (byte 40): syntax error: Unexpected EOF"]
        .assert_eq(&tags_query_error("(function_item name: (identifier) @name\n"));
    assert!(matches!(
        LanguageRegistry::from_files(&[LanguageFiles {
            toml_name: "a",
            toml_text: "name = \"x\"\ngrammar = \"go\"\nlanguage_ids = []",
            tags: Some(("b", "(nope) @name")),
        }]),
        Err(LanguageConfigError::Query { line: 1, .. })
    ));
}

#[test]
fn a_tags_query_with_an_undocumented_capture_is_an_error() {
    expect!["grammars/x/tags.scm: unknown capture @definition.fn; the known captures are definition.function, definition.method, definition.type, definition.interface, definition.constant, definition.module, name, body, reference, import, import.source, import.name, scope (names starting with _ are free for predicates)"].assert_eq(&tags_query_error("(function_item name: (identifier) @name) @definition.fn\n"));
    // Captures starting with `_` are the query's own, for predicates.
    let files = LanguageFiles {
        toml_name: "grammars/x/language.toml",
        toml_text: "name = \"x\"\ngrammar = \"rust\"\nlanguage_ids = [\"x\"]\n",
        tags: Some(("grammars/x/tags.scm", "((identifier) @_id @reference (#eq? @_id \"x\"))")),
    };
    assert!(LanguageRegistry::from_files(&[files]).is_ok());
}
