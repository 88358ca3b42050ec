//! The workspace index over real folders: what it takes in, what it leaves out, and that hostile
//! content (huge, binary, invalid UTF-8, symlink loops) never stops it.

use std::path::PathBuf;

use wisp_syntax::index::{index_workspace, is_ignored, IndexedFile, Skipped, WorkspaceIndex};
use wisp_syntax::tags::DefinitionKind;
use wisp_syntax::LanguageRegistry;

fn folder(name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let root = std::env::temp_dir().join(format!("wisp-index-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (path, bytes) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    root
}

#[test]
fn issue_4_hostile_files_are_skipped_and_the_walk_completes() {
    let root = folder(
        "hostile",
        &[
            ("src/lib.rs", b"pub struct Kept { pub field: u32 }\npub fn kept_fn() {}\n"),
            ("src/binary.rs", b"fn a() {}\0\x01\x02 binary"),
            ("src/latin1.py", b"def caf\xe9():\n    pass\n"),
            ("data/notes.txt", b"not source"),
        ],
    );
    // 50 MB of source-looking text: too large to index.
    let huge = "fn generated() {}\n".repeat(50 * 1024 * 1024 / 18);
    std::fs::write(root.join("src/huge.rs"), huge).unwrap();
    // A symlink loop and a dangling link.
    std::os::unix::fs::symlink(&root, root.join("src/loop")).unwrap();
    std::os::unix::fs::symlink(root.join("nowhere"), root.join("src/dangling.rs")).unwrap();

    let registry = LanguageRegistry::builtin();
    let mut calls = 0;
    let (index, report) = index_workspace(&root, &registry, &mut |_, _| calls += 1, &|| false);
    assert_eq!(report.n_indexed, 1, "{report:?}");
    assert_eq!(report.skipped.get(&Skipped::TooLarge), Some(&1), "{report:?}");
    assert_eq!(report.skipped.get(&Skipped::Binary), Some(&1), "{report:?}");
    assert_eq!(report.skipped.get(&Skipped::NotUtf8), Some(&1), "{report:?}");
    assert!(calls >= 1);
    let file = index.file("src/lib.rs").expect("the good file is indexed");
    let names: Vec<(&str, DefinitionKind)> =
        file.definitions.iter().map(|d| (d.name.as_str(), d.kind)).collect();
    assert_eq!(names, [("Kept", DefinitionKind::Type), ("kept_fn", DefinitionKind::Function)]);
    assert_eq!(file.definitions[0].snippet, "pub struct Kept { pub field: u32 }");
    assert_eq!(index.stats().n_files, 1);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn issue_4_ignore_files_keep_files_out() {
    let root = folder(
        "ignored",
        &[
            (".gitignore", b"target/\n*.gen.ts\n"),
            (".wispignore", b"secret/\n"),
            ("src/main.rs", b"fn main() {}\n"),
            ("target/debug/build.rs", b"fn build_output() {}\n"),
            ("web/api.gen.ts", b"export function generatedApi() {}\n"),
            ("web/app.ts", b"export function app() {}\n"),
            ("secret/keys.py", b"def private_keys():\n    pass\n"),
            (".hidden/tool.go", b"package tool\nfunc Hidden() {}\n"),
        ],
    );
    let registry = LanguageRegistry::builtin();
    let (index, _) = index_workspace(&root, &registry, &mut |_, _| {}, &|| false);
    let mut paths: Vec<&str> = index.files().map(|file| file.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["src/main.rs", "web/app.ts"]);
    assert!(is_ignored(&root, &root.join("secret/keys.py")));
    assert!(is_ignored(&root, &root.join("web/api.gen.ts")));
    assert!(is_ignored(&root, &root.join(".hidden/tool.go")));
    assert!(!is_ignored(&root, &root.join("web/app.ts")));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn updating_a_file_replaces_its_definitions_by_name() {
    let registry = LanguageRegistry::builtin();
    let rust = registry.by_name("rust").unwrap();
    let mut index = WorkspaceIndex::new();
    index.update("a.rs", &rust, "pub fn shared() {}\npub fn only_a() {}\n");
    index.update("b.rs", &rust, "pub fn shared() {}\n");
    assert_eq!(index.n_files_defining("shared"), 2);
    assert_eq!(index.definitions_named("only_a").count(), 1);
    index.update("a.rs", &rust, "pub fn renamed() {}\n");
    assert_eq!(index.n_files_defining("shared"), 1);
    assert_eq!(index.definitions_named("only_a").count(), 0);
    let (file, definition): (&IndexedFile, _) = index.definitions_named("renamed").next().unwrap();
    assert_eq!(
        (file.path.as_str(), definition.line, definition.header.as_str()),
        ("a.rs", 0, "pub fn renamed()")
    );
    index.remove("a.rs");
    assert_eq!(index.definitions_named("renamed").count(), 0);
    assert!(index.stats().heap_bytes > 0);
}

#[test]
fn a_long_class_is_shown_as_an_outline_of_its_methods() {
    let registry = LanguageRegistry::builtin();
    let python = registry.by_name("python").unwrap();
    let methods: String = (0..6)
        .map(|index| format!("    def method_{index}(self, value: int) -> int:\n        total = value * {index}\n        return total\n\n"))
        .collect();
    let source = format!("class Ledger:\n    \"\"\"Keeps totals.\"\"\"\n\n{methods}");
    let mut index = WorkspaceIndex::new();
    index.update("ledger.py", &python, &source);
    let (_, ledger) = index.definitions_named("Ledger").next().unwrap();
    let expected = "class Ledger:\n    \"\"\"Keeps totals.\"\"\"\n".to_owned()
        + &(0..6)
            .map(|index| format!("    def method_{index}(self, value: int) -> int:"))
            .collect::<Vec<_>>()
            .join("\n");
    assert_eq!(ledger.snippet, expected);
}
