//! Typing-speed behaviour: caches, the latest request winning, a flood of keystrokes.

use serde_json::json;

use wisp_tests::client::{first_item, inline_params, Client};

fn change(uri: &str, version: i32, line: u32, character: u32, text: &str) -> serde_json::Value {
    let at = json!({ "line": line, "character": character });
    json!({
        "textDocument": { "uri": uri, "version": version },
        "contentChanges": [{ "range": { "start": at, "end": at }, "text": text }]
    })
}

#[test]
fn repeated_and_typed_through_requests_are_answered_from_the_cache() {
    let mut client = Client::spawn(&[]);
    client.initialize(json!({ "completion": { "prefetch": false } }), json!({}));
    let uri = "file:///tmp/cache.rs";
    let text = "fn main() {\n    let greeting = ";
    client.open(uri, "rust", text);
    let response = client.inline_completion(uri, 1, 19);
    let suggestion = first_item(&response).unwrap_or_else(|| panic!("{response}"))["insertText"]
        .as_str()
        .unwrap()
        .to_owned();
    // The same place again: an exact hit, the same text.
    let again = client.inline_completion(uri, 1, 19);
    assert_eq!(first_item(&again).unwrap()["insertText"], json!(suggestion));
    let metrics = client.metrics();
    assert_eq!(metrics["cacheExactHits"], json!(1), "{metrics}");

    // Type the first character of the suggestion: the rest comes from the cache.
    let head: String = suggestion.chars().take(1).collect();
    if suggestion.chars().count() > 1 {
        client.notify("textDocument/didChange", change(uri, 2, 1, 19, &head));
        let column = 19 + head.encode_utf16().count() as u32;
        let typed = client.inline_completion(uri, 1, column);
        let rest = &suggestion[head.len()..];
        assert_eq!(first_item(&typed).unwrap()["insertText"], json!(rest), "{typed}");
        assert_eq!(client.metrics()["cacheTypedThroughHits"], json!(1));
    }
    // Another model: the cache does not answer for it.
    client.notify(
        "workspace/didChangeConfiguration",
        json!({ "settings": { "model": { "id": "gemma3-270m-q4_k_m", "path": null } } }),
    );
    let before = client.metrics();
    let _ = client.inline_completion(uri, 1, 19);
    let after = client.metrics();
    assert_eq!(after["cacheExactHits"], before["cacheExactHits"], "{after}");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

#[test]
fn issue_3_a_flood_of_keystrokes_leaves_one_generation_and_answers_the_last() {
    let mut client = Client::spawn(&[]);
    // Without the cache every keystroke needs the model (with it, most of this flood is
    // answered typed-through), so this measures cancellation alone.
    client.initialize(json!({ "completion": { "prefetch": false, "cache": false } }), json!({}));
    client.wait_until_ready();
    let uri = "file:///tmp/flood.rs";
    client.open(uri, "rust", "fn main() {\n    let total = 0;\n    ");
    let warm = client.inline_completion(uri, 2, 4);
    assert!(warm["result"].is_object(), "{warm}");
    let rss_before = client.rss_bytes();

    let typed = "let value = compute(total, 42) + offset; ";
    let mut ids = Vec::new();
    let mut column = 4u32;
    for index in 0..1000 {
        let ch = typed.chars().nth(index % typed.len()).unwrap();
        client.notify("textDocument/didChange", change(uri, index as i32 + 2, 2, column, &ch.to_string()));
        column += 1;
        ids.push(client.send_request("textDocument/inlineCompletion", inline_params(uri, 2, column)));
    }
    let mut n_with_items = 0;
    let mut last = json!(null);
    for id in &ids {
        let response = client.response(*id);
        assert!(response["result"]["items"].is_array(), "every request gets an answer: {response}");
        n_with_items += usize::from(first_item(&response).is_some());
        last = response;
    }
    let metrics = client.metrics();
    // Superseded requests were cancelled, not computed: only a handful of generations ran.
    let cancelled = metrics["cancelled"].as_u64().unwrap();
    assert!(cancelled >= 900, "{metrics}");
    assert!(n_with_items <= 100, "{n_with_items} stale suggestions were computed");
    let generated = metrics["generatedTokens"].as_u64().unwrap();
    assert!(generated <= 64 * 100, "{metrics}");
    assert!(first_item(&last).is_some(), "the last request was answered with a suggestion: {last}");
    let growth = client.rss_bytes().saturating_sub(rss_before);
    assert!(growth < 64 << 20, "memory grew by {} MiB during the flood", growth >> 20);
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

#[test]
fn issue_3_a_keystroke_that_agrees_with_the_generation_in_flight_joins_it() {
    // Enough code above the cursor that the first request is still evaluating its (cold) prompt
    // when the next keystroke arrives.
    let preamble: String =
        (0..24).map(|i| format!("fn helper_{i}(x: u32) -> u32 {{\n    x * {i} + 1\n}}\n\n")).collect();
    let text = format!("{preamble}fn helper_24(x: u32) -> u32 {{\n    ");
    let line = text.lines().count() as u32 - 1;
    let uri = "file:///tmp/join.rs";
    // Joining is about the generation in flight, whatever the model's confidence in its text
    // (`min_confidence` 0: the cold first request runs out of time after a line of 2 tokens),
    // and about a slow cold prompt: no fast first answer from a short window.
    let settings =
        json!({ "completion": { "prefetch": false, "min_confidence": 0.0, "fast_first_answer": false } });

    // What the model suggests at the cursor, from a server of its own.
    let mut reference = Client::spawn(&[]);
    reference.initialize(settings.clone(), json!({}));
    reference.open(uri, "rust", &text);
    let response = reference.inline_completion(uri, line, 4);
    let suggestion = first_item(&response).unwrap_or_else(|| panic!("{response}"))["insertText"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(reference.shutdown_and_exit().code(), Some(0));
    let head: String = suggestion.chars().take(1).collect();
    assert!(
        suggestion.trim().len() > head.len(),
        "the fixture needs a suggestion of 2+ characters: {suggestion:?}"
    );

    // Ask, then type the suggestion's first character and ask again without waiting.
    let mut client = Client::spawn(&[]);
    client.initialize(settings, json!({}));
    client.wait_until_ready();
    client.open(uri, "rust", &text);
    let first = client.send_request("textDocument/inlineCompletion", inline_params(uri, line, 4));
    client.notify("textDocument/didChange", change(uri, 2, line, 4, &head));
    let column = 4 + head.encode_utf16().count() as u32;
    let second = client.send_request("textDocument/inlineCompletion", inline_params(uri, line, column));
    let second = client.response(second);
    let _ = client.response(first);
    assert_eq!(first_item(&second).unwrap()["insertText"], json!(&suggestion[head.len()..]), "{second}");
    let metrics = client.metrics();
    assert_eq!(metrics["joinedHits"], json!(1), "{metrics}");
    assert_eq!(metrics["generations"], json!(1), "one model run answered both: {metrics}");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}
