//! Code actions over stdio with the real model: what is listed at a function, at a diagnostic, on
//! a selection and on blank lines; each listed action resolved to a `WorkspaceEdit` that parses
//! (or refused with a message that says nothing was changed); a cancelled resolve stops the model.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wisp_syntax::{Document, LanguageRegistry};

use wisp_tests::client::Client;

const URI: &str = "file:///work/actions/src/stats.rs";
const SOURCE: &str = "\
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

pub fn largest(values: &[f64]) -> f64 {
    
}


fn broken() -> u32 {
    let x = 1
    x
}
";

fn position(line: u32, character: u32) -> Value {
    json!({ "line": line, "character": character })
}

fn code_actions(client: &mut Client, range: Value, diagnostics: Value) -> Vec<Value> {
    let response = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": URI }, "range": range, "context": { "diagnostics": diagnostics } }),
    );
    response["result"].as_array().cloned().unwrap_or_else(|| panic!("{response}"))
}

fn titles(actions: &[Value]) -> Vec<String> {
    actions.iter().map(|action| action["title"].as_str().unwrap().to_owned()).collect()
}

/// The document after applying a resolved action's edit to it (UTF-16 positions).
fn applied(edit: &Value) -> String {
    let edits = edit["changes"][URI].as_array().unwrap_or_else(|| panic!("no edit of the document: {edit}"));
    let document = Document::new(SOURCE, None);
    let mut text = SOURCE.to_owned();
    let mut spans: Vec<(usize, usize, &str)> = edits
        .iter()
        .map(|edit| {
            let offset = |position: &Value| {
                let at = wisp_syntax::Position {
                    line: position["line"].as_u64().unwrap() as u32,
                    character: position["character"].as_u64().unwrap() as u32,
                };
                document.offset(at, wisp_syntax::PositionEncoding::Utf16).unwrap()
            };
            (
                offset(&edit["range"]["start"]),
                offset(&edit["range"]["end"]),
                edit["newText"].as_str().unwrap(),
            )
        })
        .collect();
    spans.sort_by_key(|span| std::cmp::Reverse(span.0));
    for (start, end, new_text) in spans {
        text.replace_range(start..end, new_text);
    }
    text
}

fn syntax_errors(text: &str) -> usize {
    let rust = LanguageRegistry::builtin().by_language_id("rust");
    Document::new(text, rust).syntax_errors().unwrap()
}

#[test]
fn actions_are_listed_where_they_apply_and_resolve_to_edits_that_parse() {
    let mut client = Client::spawn(&[]);
    let capabilities = client.initialize(
        json!({ "actions": { "max_tokens": 96 } }),
        json!({ "window": { "workDoneProgress": true } }),
    );
    assert_eq!(
        capabilities["capabilities"]["codeActionProvider"]["resolveProvider"],
        json!(true),
        "{capabilities}"
    );
    client.open(URI, "rust", SOURCE);
    let errors_before = syntax_errors(SOURCE);

    let at_function =
        code_actions(&mut client, json!({ "start": position(0, 8), "end": position(0, 8) }), json!([]));
    assert_eq!(titles(&at_function), ["Wisp: document mean", "Wisp: write tests for mean"]);
    let diagnostic = json!({ "range": { "start": position(10, 13), "end": position(10, 13) }, "message": "expected `;`", "severity": 1 });
    let at_diagnostic = code_actions(
        &mut client,
        json!({ "start": position(10, 13), "end": position(10, 13) }),
        json!([diagnostic]),
    );
    assert_eq!(titles(&at_diagnostic)[0], "Wisp: fix \"expected `;`\"");
    assert_eq!(at_diagnostic[0]["kind"], json!("quickfix"));
    let on_selection =
        code_actions(&mut client, json!({ "start": position(1, 4), "end": position(1, 52) }), json!([]));
    assert_eq!(titles(&on_selection), ["Wisp: explain the selection"]);
    let on_blank_line =
        code_actions(&mut client, json!({ "start": position(7, 0), "end": position(7, 0) }), json!([]));
    assert!(on_blank_line.is_empty(), "nothing applies on a blank line between functions: {on_blank_line:?}");
    let in_empty_body =
        code_actions(&mut client, json!({ "start": position(5, 4), "end": position(5, 4) }), json!([]));
    assert_eq!(titles(&in_empty_body), ["Wisp: complete the body of largest"]);

    let mut resolved = Vec::new();
    for action in at_function.iter().chain(&at_diagnostic).chain(&on_selection).chain(&in_empty_body) {
        assert!(action.get("edit").is_none(), "listed without an edit: {action}");
        let response = client.request("codeAction/resolve", action.clone());
        let title = action["title"].as_str().unwrap();
        if let Some(edit) = response["result"].get("edit") {
            let text = applied(edit).replace("\r\n", "\n");
            if !title.contains("write tests") {
                assert!(
                    syntax_errors(&text) <= errors_before,
                    "{title}: the edit adds syntax errors:\n{text}"
                );
            }
            resolved.push(title.to_owned());
        } else {
            let message =
                response["error"]["message"].as_str().unwrap_or_else(|| panic!("{title}: {response}"));
            assert!(message.contains("nothing was changed"), "{title}: unclear refusal: {message}");
        }
    }
    for title in ["Wisp: document mean", "Wisp: explain the selection"] {
        assert!(resolved.iter().any(|done| done == title), "{title} gave no edit; resolved: {resolved:?}");
    }
    // The client showed progress while the model worked on each.
    for title in ["document mean", "explain the selection"] {
        let begin = client.notification("$/progress", |params| {
            params["value"]["kind"] == json!("begin") && params["value"]["title"] == json!(title)
        });
        let token = begin["params"]["token"].clone();
        client.notification("$/progress", |params| {
            params["token"] == token && params["value"]["kind"] == json!("end")
        });
    }
    client.shutdown_and_exit();
}

#[test]
fn a_cancelled_resolve_stops_the_model() {
    let mut client = Client::spawn(&[]);
    client.initialize(json!({ "actions": { "max_tokens": 512 } }), json!({}));
    client.open(URI, "rust", SOURCE);
    let listed =
        code_actions(&mut client, json!({ "start": position(1, 4), "end": position(1, 52) }), json!([]));
    let started = Instant::now();
    let id = client.send_request("codeAction/resolve", listed[0].clone());
    std::thread::sleep(Duration::from_millis(300));
    client.notify("$/cancelRequest", json!({ "id": id }));
    let response = client.response(id);
    assert_eq!(response["error"]["code"], json!(-32800), "{response}");
    // The model thread is free again: a completion is answered after it, and the action's job
    // ended because its generation was stopped, not because it ran out of tokens.
    let completion = client.inline_completion(URI, 1, 52);
    assert!(completion.get("result").is_some(), "{completion}");
    let metrics = client.metrics();
    assert_eq!(metrics["actionsCancelled"], json!(1), "{metrics}");
    assert_eq!(metrics["actionsResolved"], json!(0), "{metrics}");
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
    client.shutdown_and_exit();
}
