//! Where a name is used, which names a tree uses, and the names a suggestion made up.

use wisp_syntax::names::{identifiers, name_use, unknown_names, NameList, NameUse};
use wisp_syntax::{tags, LanguageRegistry};

fn language(name: &str) -> std::sync::Arc<wisp_syntax::Language> {
    LanguageRegistry::builtin().by_name(name).unwrap()
}

#[test]
fn a_name_list_answers_whole_names_and_prefixes() {
    let list = NameList::new(["values", "value_of", "len", "len"]);
    assert_eq!(list.len(), 3);
    assert!(list.contains("len") && !list.contains("le"));
    assert!(list.extends("val") && list.extends("values") && list.extends(""));
    assert!(!list.extends("valuez") && !list.extends("x"));
}

#[test]
fn names_are_used_after_members_operators_and_expression_keywords() {
    let rust = language("rust");
    let used = |before: &str| name_use(before, &rust) == NameUse::Used;
    for before in [
        "    let total = counts.",
        "    std::",
        "    x = a->",
        "    f(",
        "    f(a, ",
        "    if ",
        "    return ",
        "    x += ",
    ] {
        assert!(used(before), "{before:?}");
    }
    for before in [
        "    ",
        "    let ",
        "    let mut ",
        "    let (a, ",
        "fn ",
        "fn total(items: &[Item], ",
        "    for ",
        "    for (i, ",
        "use std::collections::",
        "pub use rwlock::{RwLock, ",
        "    let s = \"hello ",
        "    // the ",
        "    let x = 1.",
        "    foo ",
        "    let n: ",
    ] {
        assert!(!used(before), "{before:?}");
    }
    // A declaration ends where its value starts: names after `=`, `in` or `->` are used.
    assert!(used("    let total = "));
    assert!(used("    for item in "));
    assert!(used("fn total(items: &[Item]) -> "));
    assert!(used("    if let Some(x) = "));
    assert!(used("    let same = a == "), "`==` compares");
    let python = language("python");
    assert_eq!(name_use("    def ", &python), NameUse::Free);
    assert_eq!(name_use("    x = os.", &python), NameUse::Used);
    assert_eq!(name_use("    s = 'it is ", &python), NameUse::Free, "in a string");
    assert_eq!(name_use("    # see ", &python), NameUse::Free, "in a comment");
    let typescript = language("typescript");
    assert_eq!(name_use("const total = items.", &typescript), NameUse::Used);
    assert_eq!(name_use("function total(", &typescript), NameUse::Free);
}

#[test]
fn a_tree_gives_the_names_it_uses_outside_strings_and_comments() {
    let rust = language("rust");
    let source = "// a comment word\nfn total(items: &[Item]) -> u32 {\n    let s = \"text word\";\n    items.iter().map(|item| item.price).sum()\n}\n";
    let tree = tags::parse(&rust, source).unwrap();
    let mut names = identifiers(&tree, source);
    names.sort_unstable();
    names.dedup();
    assert_eq!(names, ["Item", "item", "items", "iter", "map", "price", "s", "sum", "total", "u32"]);
}

#[test]
fn made_up_names_are_the_used_ones_nothing_knows() {
    let rust = language("rust");
    let known = NameList::new(["counts", "values", "sum", "total"]);
    let knows = |name: &str| known.contains(name) || rust.standard_names.contains(name);
    let unknown = |text: &str, line: &str| unknown_names(text, line, &rust, &knows);
    assert_eq!(unknown("counts.values().sum();", "    let total = "), Vec::<String>::new());
    assert_eq!(unknown("counts.valeus().summ();", "    let total = "), ["valeus", "summ"]);
    // The name the cursor is in counts whole: `v` + `alue` is `value`.
    assert_eq!(unknown("alue();", "    let total = counts.v"), ["value"]);
    assert_eq!(unknown("alues();", "    let total = counts.v"), Vec::<String>::new());
    // Declared names are new, not made up; strings and comments are free.
    assert_eq!(unknown("grand_total = total; // sums them", "    let "), Vec::<String>::new());
    assert_eq!(unknown("\"hello wrld\"", "    let s = "), Vec::<String>::new());
    // Standard names are known: `Vec::new()`, `println!`.
    assert_eq!(unknown("Vec::new(); println!(\"{}\", total);", "    let v = "), Vec::<String>::new());
}

#[test]
fn the_index_knows_every_name_of_every_file_until_the_file_goes() {
    let rust = language("rust");
    let mut index = wisp_syntax::index::WorkspaceIndex::new();
    index.update("a.rs", &rust, "fn alpha() { shared(); }\n");
    index.update("b.rs", &rust, "fn beta() { shared(); }\n");
    let names = index.names();
    assert!(names.contains("alpha") && names.contains("beta") && names.contains("shared"));
    index.remove("a.rs");
    let names = index.names();
    assert!(!names.contains("alpha") && names.contains("shared"), "counted per file");
    index.update("b.rs", &rust, "fn gamma() {}\n");
    let names = index.names();
    assert!(!names.contains("beta") && !names.contains("shared") && names.contains("gamma"));
}

#[test]
fn every_builtin_language_has_standard_names_and_declaration_keywords() {
    for language in LanguageRegistry::builtin().languages() {
        assert!(language.standard_names.len() > 50, "{}: {}", language.name, language.standard_names.len());
        assert!(!language.declaration_keywords.is_empty(), "{}", language.name);
    }
    assert!(language("tsx").standard_names.contains("Promise"), "shared from typescript");
    assert!(language("tsx").standard_names.contains("useState"), "and its own");
    assert!(language("javascript").standard_names.contains("console"));
}
