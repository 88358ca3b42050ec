//! The main path: initialize, open, inline completion, completion fallback, cancel, exit.

use serde_json::{json, Value};

use wisp_tests::client::{first_item, inline_params, Client};

const DEMO: &str = include_str!("../../examples/demo.rs");
const DEMO_URI: &str = "file:///work/example/src/main.rs";

/// Line and UTF-16 column just after the last character of line `line` of the demo.
fn end_of_line(text: &str, line: usize) -> (u32, u32) {
    let content = text.lines().nth(line).unwrap();
    (line as u32, content.encode_utf16().count() as u32)
}

#[test]
fn inline_completion_end_to_end() {
    let mut client = Client::spawn(&[]);
    let result = client.initialize(json!({}), json!({}));
    let capabilities = &result["capabilities"];
    assert_eq!(capabilities["inlineCompletionProvider"], json!(true), "{result}");
    assert!(capabilities["completionProvider"].is_object(), "{result}");
    assert_eq!(capabilities["textDocumentSync"]["change"], json!(2), "incremental sync: {result}");
    assert_eq!(capabilities["positionEncoding"], json!("utf-16"), "{result}");
    assert_eq!(result["serverInfo"]["name"], json!("wisp"));

    client.open(DEMO_URI, "rust", DEMO);
    // `    println!("The total is {} cents", ` — mid-statement, so a one-line suggestion.
    let (line, character) = end_of_line(DEMO, 17);
    let response = client.inline_completion(DEMO_URI, line, character);
    let item = first_item(&response).unwrap_or_else(|| panic!("no inline item: {response}"));
    let text = item["insertText"].as_str().unwrap();
    assert!(!text.trim().is_empty(), "{response}");
    assert!(!text.contains('\n'), "a mid-line cursor gets one line: {text:?}");
    let cursor = json!({ "line": line, "character": character });
    assert_eq!(item["range"], json!({ "start": cursor, "end": cursor }), "{response}");

    // The status notification said the model is ready.
    let status = client.notification("didChangeStatus", |params| params["busy"] == json!(false));
    assert_eq!(status["params"]["kind"], json!("Normal"), "{status}");

    // Clients without inline completion get the same text as a completion item.
    let response = client.request("textDocument/completion", inline_params(DEMO_URI, line, character));
    let items = response["result"]["items"].as_array().unwrap_or_else(|| panic!("{response}"));
    assert_eq!(items.len(), 1, "{response}");
    assert_eq!(items[0]["textEdit"]["newText"], json!(text), "{response}");
    assert_eq!(items[0]["textEdit"]["range"], json!({ "start": cursor, "end": cursor }));

    // The same request twice gives the same (greedy) suggestion.
    let again = client.inline_completion(DEMO_URI, line, character);
    assert_eq!(first_item(&again).unwrap()["insertText"], json!(text));

    let status = client.shutdown_and_exit();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_blank_line_gets_a_bounded_block() {
    let mut client = Client::spawn(&[]);
    client.initialize(json!({ "completion": { "max_lines": 3 } }), json!({}));
    let text = "fn main() {\n    let numbers = vec![1, 2, 3];\n    \n}\n";
    client.open("file:///tmp/block.rs", "rust", text);
    let response = client.inline_completion("file:///tmp/block.rs", 2, 4);
    if let Some(item) = first_item(&response) {
        let suggestion = item["insertText"].as_str().unwrap();
        assert!(suggestion.lines().count() <= 3, "{suggestion:?}");
        for later in suggestion.lines().skip(1).filter(|line| !line.trim().is_empty()) {
            assert!(later.starts_with("    "), "the block ran past its scope: {suggestion:?}");
        }
    } else {
        assert_eq!(response["result"]["items"], json!([]), "{response}");
    }
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

#[test]
fn utf8_is_chosen_when_the_client_offers_it_and_positions_follow() {
    let mut client = Client::spawn(&[]);
    let capabilities = json!({ "general": { "positionEncodings": ["utf-8", "utf-16"] } });
    let result = client.initialize(json!({}), capabilities);
    assert_eq!(result["capabilities"]["positionEncoding"], json!("utf-8"));
    // "😀" is 4 UTF-8 bytes: the end of line 1 is character 4 + the rest.
    let text = "// emoji\nlet s = \"😀\"; let t = ";
    client.open("file:///tmp/emoji.rs", "rust", text);
    let utf8_end = "let s = \"😀\"; let t = ".len() as u32;
    let response = client.inline_completion("file:///tmp/emoji.rs", 1, utf8_end);
    assert!(response.get("result").is_some(), "{response}");
    // One past the end of the line is out of range in UTF-8 units.
    let response = client.inline_completion("file:///tmp/emoji.rs", 1, utf8_end + 1);
    assert_eq!(response["error"]["code"], json!(-32602), "{response}");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

#[test]
fn changes_apply_in_order_and_the_prompt_shows_the_result() {
    let mut client = Client::spawn(&[]);
    client.initialize(json!({}), json!({}));
    let uri = "file:///tmp/order.py";
    client.open(uri, "python", "def greet(name):\n    return ");
    // Type a word character by character, then delete and retype part of it, all without waiting.
    let mut column = 11u32;
    let mut version = 1;
    for ch in "\"hello, \" + nmae".chars() {
        version += 1;
        let change = json!({ "range": { "start": { "line": 1, "character": column }, "end": { "line": 1, "character": column } }, "text": ch.to_string() });
        client.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [change] }),
        );
        column += 1;
    }
    version += 1;
    let fix = json!({ "range": { "start": { "line": 1, "character": column - 3 }, "end": { "line": 1, "character": column } }, "text": "ame" });
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [fix] }),
    );
    let response = client.request(
        "wisp/debugPrompt",
        json!({ "textDocument": { "uri": uri }, "position": { "line": 1, "character": column } }),
    );
    let prompt = response["result"]["prompt"].as_str().unwrap_or_else(|| panic!("{response}"));
    // The typed word is left out of the prompt: the model spells it first (token healing).
    assert_eq!(prompt, "# /tmp/order.py\ndef greet(name):\n    return \"hello, \" +", "{response}");
    assert_eq!(response["result"]["healing"], json!(" name"), "{response}");
    assert_eq!(response["result"]["format"], json!("plain"));
    let n_tokens = response["result"]["nTokens"].as_u64().unwrap();
    assert!(n_tokens > 5 && n_tokens <= 1024, "{response}");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

#[test]
fn cancel_request_is_honoured_and_the_latest_request_wins() {
    let mut client = Client::spawn(&[]);
    // No warm-up on open: the request below must find the prompt cold, so it is slow to cancel.
    client.initialize(json!({ "completion": { "prefetch": false, "cache": false } }), json!({}));
    // A long prompt (~1000 tokens) keeps the model busy long enough to cancel it.
    let mut text = String::new();
    for index in 0..120 {
        text.push_str(&format!("fn helper_{index}(value: u64) -> u64 {{ value * {index} + 1 }}\n"));
    }
    text.push_str("fn main() {\n    let total = helper_1(2) + ");
    let uri = "file:///tmp/long.rs";
    client.open(uri, "rust", &text);
    let line = 121;
    let character = "    let total = helper_1(2) + ".len() as u32;

    // Wait for the model first, so the request below is slow because of its prompt.
    client.notification("didChangeStatus", |params| params["busy"] == json!(false));
    let id = client.send_request("textDocument/inlineCompletion", inline_params(uri, line, character));
    client.notify("$/cancelRequest", json!({ "id": id }));
    let response = client.response(id);
    assert_eq!(response["error"]["code"], json!(-32800), "expected RequestCancelled: {response}");

    // Two requests in a row: the first is superseded (answered empty), the second answered.
    let first = client.send_request("textDocument/inlineCompletion", inline_params(uri, line, character));
    let second = client.send_request("textDocument/inlineCompletion", inline_params(uri, line, character));
    let first = client.response(first);
    let second = client.response(second);
    assert_eq!(first["result"]["items"], json!([]), "the superseded request: {first}");
    assert!(first_item(&second).is_some(), "the latest request: {second}");
    // The cold prompt took seconds: the status showed the model at work meanwhile (not the model
    // loading), and not once it answered.
    let busy = client.notification("didChangeStatus", |params| {
        params["busy"] == json!(true) && !params["message"].as_str().unwrap_or_default().contains("loading")
    });
    assert_eq!(busy["params"]["kind"], json!("Normal"), "{busy}");
    client.notification("didChangeStatus", |params| params["busy"] == json!(false));
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

#[test]
fn exit_without_shutdown_ends_with_code_1() {
    let mut client = Client::spawn(&[]);
    client.initialize(json!({}), json!({}));
    client.notify("exit", Value::Null);
    let status = client.wait_exit(std::time::Duration::from_secs(10));
    assert_eq!(status.code(), Some(1));
}

#[test]
fn exit_sent_right_behind_shutdown_still_ends_with_code_0() {
    let mut client = Client::spawn(&[]);
    client.initialize(json!({}), json!({}));
    client.send_request("shutdown", Value::Null);
    client.notify("exit", Value::Null);
    let status = client.wait_exit(std::time::Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn exit_while_the_model_is_working_still_ends_cleanly() {
    let mut client = Client::spawn(&[]);
    client.initialize(json!({}), json!({}));
    client.wait_until_ready();
    // Opening a long document starts a warm-up of its prompt (seconds of work on this machine).
    let text: String =
        (0..150).map(|index| format!("fn helper_{index}(x: u64) -> u64 {{ x * {index} }}\n")).collect();
    client.open("file:///tmp/busy.rs", "rust", &text);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let status = client.shutdown_and_exit();
    assert_eq!(status.code(), Some(0), "the process must not die under llama.cpp: {status:?}");
}

#[test]
fn a_client_with_inline_completion_is_not_offered_the_completion_menu_too() {
    let mut client = Client::spawn(&[]);
    let capabilities = json!({ "textDocument": { "inlineCompletion": { "dynamicRegistration": false } } });
    let result = client.initialize(json!({}), capabilities);
    assert_eq!(result["capabilities"]["inlineCompletionProvider"], json!(true), "{result}");
    assert!(result["capabilities"].get("completionProvider").is_none(), "{result}");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

/// Indented lines of one of Wisp's own files, each blanked to its indentation and asked for at
/// the end of it, as a user on a fresh line would. Many of the small model's lines there do not
/// parse and are not shown: a third of them answered is enough to check the indentation.
const INDENTED_BLANK_LINES: usize = 9;

#[test]
fn issue_10_suggestions_on_indented_blank_lines_do_not_repeat_the_indentation() {
    let source =
        std::fs::read_to_string(wisp_tests::repo_root().join("server/syntax/src/document.rs")).unwrap();
    let lines: Vec<&str> = source.lines().collect();
    let indented: Vec<usize> = (0..lines.len())
        .filter(|&n| {
            let indent = lines[n].len() - lines[n].trim_start().len();
            indent >= 8 && !lines[n].trim_start().starts_with("//")
        })
        .collect();
    let step = indented.len() / INDENTED_BLANK_LINES;
    let mut client = Client::spawn(&[]);
    client.initialize(
        // Every suggestion is checked for its indentation, however unsure the model is of it.
        json!({
            "context": { "index": false },
            "completion": { "prompt_tokens": 384, "max_tokens": 24, "min_confidence": 0.0 }
        }),
        json!({}),
    );
    let mut answered = 0;
    for (n, &line) in indented.iter().step_by(step).take(INDENTED_BLANK_LINES).enumerate() {
        let indentation = &lines[line][..lines[line].len() - lines[line].trim_start().len()];
        let mut blanked = lines.clone();
        blanked[line] = indentation;
        let uri = format!("file:///tmp/indented-{n}.rs");
        client.open(&uri, "rust", &blanked.join("\n"));
        let response = client.inline_completion(&uri, line as u32, indentation.len() as u32);
        let Some(item) = first_item(&response) else { continue };
        answered += 1;
        let text = item["insertText"].as_str().unwrap();
        let inserted = format!("{indentation}{}", text.lines().next().unwrap_or_default());
        let inserted_indent = inserted.len() - inserted.trim_start().len();
        assert!(
            !text.starts_with(indentation) && inserted_indent < 2 * indentation.len(),
            "line {}: {} typed spaces, the item {text:?} makes it {inserted:?}",
            line + 1,
            indentation.len()
        );
    }
    assert!(
        answered >= INDENTED_BLANK_LINES / 3,
        "only {answered} of {INDENTED_BLANK_LINES} lines were answered"
    );
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}
