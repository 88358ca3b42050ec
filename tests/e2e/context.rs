//! Context beyond the cursor's file: the workspace index, ignored files, `$/progress`, and
//! `wisp/debugPrompt` naming where each snippet came from.

use std::path::{Path, PathBuf};

use serde_json::json;

use wisp_tests::client::Client;

/// A fresh workspace folder with `files` (path, text) in it.
fn workspace(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let root = std::env::temp_dir().join(format!("wisp-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    root
}

fn uri(root: &Path, path: &str) -> String {
    format!("file://{}/{path}", root.display())
}

const GEOMETRY: &str = "\
/// A rectangle on the plane.
pub struct Rectangle {
    pub width: f64,
    pub height: f64,
}

pub fn perimeter_of(rectangle: &Rectangle) -> f64 {
    2.0 * (rectangle.width + rectangle.height)
}
";

const MAIN: &str = "\
mod geometry;
use crate::geometry::Rectangle;

fn main() {
    let shape = Rectangle { width: 3.0, height: 4.0 };
    let p = perimeter_of(&shape);
    let a = shadow_area(&shape);
    ";

#[test]
fn issue_4_a_definition_in_another_file_reaches_the_prompt_and_ignored_files_never_do() {
    let root = workspace(
        "context",
        &[
            ("src/geometry.rs", GEOMETRY),
            ("src/main.rs", MAIN),
            (".wispignore", "generated/\n"),
            (".gitignore", "build/\n"),
            ("generated/hidden.rs", "pub fn shadow_area(r: &Rectangle) -> f64 { IGNORED_MARKER }\n"),
            ("build/out.rs", "pub fn shadow_area(r: &Rectangle) -> f64 { BUILD_MARKER }\n"),
        ],
    );
    let mut client = Client::spawn(&[]);
    client.initialize_at(
        &root,
        json!({ "completion": { "prefetch": false } }),
        json!({ "window": { "workDoneProgress": true } }),
    );
    client.wait_until_ready();
    client.wait_for_index(2);
    // The index reported its progress: a token, then begin and end.
    client.wait_for(|message| message["method"] == json!("window/workDoneProgress/create"));
    client.notification("$/progress", |params| params["value"]["kind"] == json!("begin"));
    client.notification("$/progress", |params| params["value"]["kind"] == json!("end"));
    assert_eq!(client.metrics()["indexedFiles"], json!(2), "ignored files are not indexed");

    let main_uri = uri(&root, "src/main.rs");
    client.open(&main_uri, "rust", MAIN);
    let line = MAIN.lines().count() as u32 - 1;
    let debug = client.request(
        "wisp/debugPrompt",
        json!({ "textDocument": { "uri": main_uri }, "position": { "line": line, "character": 4 } }),
    );
    let result = &debug["result"];
    let prompt = result["prompt"].as_str().unwrap_or_else(|| panic!("{debug}"));
    assert!(prompt.contains("pub struct Rectangle {\n    pub width: f64,"), "{prompt}");
    assert!(prompt.contains("pub fn perimeter_of(rectangle: &Rectangle) -> f64"), "{prompt}");
    assert!(prompt.contains("// src/geometry.rs\n"), "{prompt}");
    let snippets = result["snippets"].as_array().unwrap();
    assert!(
        snippets.iter().any(|snippet| snippet["origin"] == json!("definition of `Rectangle`")
            && snippet["path"] == json!("src/geometry.rs")),
        "{debug}"
    );
    for marker in ["IGNORED_MARKER", "BUILD_MARKER", "generated/hidden.rs", "build/out.rs"] {
        assert!(!prompt.contains(marker), "{marker} leaked into the prompt:\n{prompt}");
    }
    // The prompt ends with the code before the cursor, after the enclosing scope's header.
    assert!(prompt.ends_with("    let a = shadow_area(&shape);\n    "), "{prompt}");

    // A suggestion runs with that context, and the budget holds.
    assert!(result["nTokens"].as_u64().unwrap() <= result["budgetTokens"].as_u64().unwrap());
    let response = client.inline_completion(&main_uri, line, 4);
    assert!(response["result"].is_object(), "{response}");
    // In real tokens too: what the model evaluated, counted by llama.cpp's tokenizer, is within
    // the budget and is what the prompt builder counted.
    let metrics = client.metrics();
    assert_eq!(metrics["generations"], json!(1), "{metrics}");
    let evaluated = metrics["promptTokens"].as_u64().unwrap();
    assert!(evaluated <= result["budgetTokens"].as_u64().unwrap(), "{metrics}");
    assert_eq!(evaluated, result["nTokens"].as_u64().unwrap(), "{metrics} vs {debug}");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn issue_4_saved_and_watched_changes_keep_the_index_fresh() {
    let root = workspace("fresh", &[("src/geometry.rs", GEOMETRY), ("src/main.rs", MAIN)]);
    let mut client = Client::spawn(&[]);
    client.initialize_at(&root, json!({ "completion": { "prefetch": false } }), json!({}));
    client.wait_until_ready();
    client.wait_for_index(2);
    let main_uri = uri(&root, "src/main.rs");
    client.open(&main_uri, "rust", MAIN);
    let line = MAIN.lines().count() as u32 - 1;
    let prompt_at_cursor = |client: &mut Client| {
        let debug = client.request(
            "wisp/debugPrompt",
            json!({ "textDocument": { "uri": main_uri }, "position": { "line": line, "character": 4 } }),
        );
        debug["result"]["prompt"].as_str().unwrap_or_else(|| panic!("{debug}")).to_owned()
    };
    assert!(!prompt_at_cursor(&mut client).contains("fn shadow_area"));

    // A new file appears on disk; the editor's watcher reports it.
    let shapes = root.join("src/shapes.rs");
    std::fs::write(&shapes, "pub fn shadow_area(rectangle: &Rectangle) -> f64 {\n    0.0\n}\n").unwrap();
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": uri(&root, "src/shapes.rs"), "type": 1 }] }),
    );
    // Context is kept while the cursor stays in a scope; an invoked request refreshes it.
    let _ = client.request(
        "textDocument/inlineCompletion",
        json!({
            "textDocument": { "uri": main_uri },
            "position": { "line": line, "character": 4 },
            "context": { "triggerKind": 1 }
        }),
    );
    let prompt = prompt_at_cursor(&mut client);
    assert!(
        prompt.contains("// src/shapes.rs\npub fn shadow_area(rectangle: &Rectangle) -> f64"),
        "{prompt}"
    );

    // Deleted: gone from the index.
    std::fs::remove_file(&shapes).unwrap();
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": uri(&root, "src/shapes.rs"), "type": 3 }] }),
    );
    let _ = client.request(
        "textDocument/inlineCompletion",
        json!({
            "textDocument": { "uri": main_uri },
            "position": { "line": line, "character": 4 },
            "context": { "triggerKind": 1 }
        }),
    );
    assert!(!prompt_at_cursor(&mut client).contains("fn shadow_area"));
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
    let _ = std::fs::remove_dir_all(&root);
}
