//! Bad input gets a clear error, and the server keeps answering normal requests afterwards.

use std::path::PathBuf;

use serde_json::{json, Value};
use wisp_engine::registry::{self, Registry};

use wisp_tests::client::{first_item, Client};

const GOOD_URI: &str = "file:///tmp/good.rs";
const GOOD_TEXT: &str = "fn main() {\n    let answer = ";

/// A normal request that must still work after the bad one.
fn assert_still_serving(client: &mut Client) {
    client.open(GOOD_URI, "rust", GOOD_TEXT);
    let response = client.inline_completion(GOOD_URI, 1, 17);
    assert!(response["result"]["items"].is_array(), "the server stopped answering properly: {response}");
    assert!(client.is_running());
}

fn error_message(response: &Value) -> &str {
    response["error"]["message"].as_str().unwrap_or_else(|| panic!("expected an error: {response}"))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wisp-e2e-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn malformed_json_rpc_is_answered_with_a_parse_error() {
    let mut client = Client::spawn(&[]);
    client.initialize(json!({}), json!({}));
    let garbage = "{\"jsonrpc\": \"2.0\", \"id\": 99, \"method\": ";
    client.send_raw(format!("Content-Length: {}\r\n\r\n{garbage}", garbage.len()).as_bytes());
    let response = client.wait_for(|message| message.get("error").is_some() && message["id"].is_null());
    assert_eq!(response["error"]["code"], json!(-32700), "{response}");
    // A request for a method that does not exist is an error too, not a crash.
    let response = client.request("wisp/noSuchMethod", json!({}));
    assert_eq!(response["error"]["code"], json!(-32601), "{response}");
    // Parameters of the wrong shape.
    let response = client.request("textDocument/inlineCompletion", json!({ "position": "here" }));
    assert_eq!(response["error"]["code"], json!(-32602), "{response}");
    assert_still_serving(&mut client);
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

#[test]
fn positions_past_the_end_and_unknown_documents_are_invalid_params() {
    let mut client = Client::spawn(&[]);
    client.initialize(json!({}), json!({}));
    client.open("file:///tmp/short.rs", "rust", "fn a() {}\n");
    let response = client.inline_completion("file:///tmp/short.rs", 40, 0);
    assert_eq!(response["error"]["code"], json!(-32602), "{response}");
    assert!(error_message(&response).contains("line 40"), "{response}");
    let response = client.inline_completion("file:///tmp/short.rs", 0, 500);
    assert_eq!(response["error"]["code"], json!(-32602), "{response}");

    let response = client.inline_completion("file:///tmp/never-opened.rs", 0, 0);
    assert_eq!(response["error"]["code"], json!(-32602), "{response}");
    assert!(error_message(&response).contains("didOpen"), "{response}");
    assert_still_serving(&mut client);
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

#[test]
fn a_five_megabyte_file_is_answered_from_a_bounded_window() {
    let mut client = Client::spawn(&[]);
    client.initialize(json!({}), json!({}));
    let line = "    let value = compute(index, offset) + 1; // keep the numbers flowing\n";
    let mut text = String::from("fn main() {\n");
    while text.len() < 5 * 1024 * 1024 {
        text.push_str(line);
    }
    text.push_str("    let last = ");
    // The same code, 200 lines of it: what a request costs on this machine right now (the other
    // tests run models beside this one).
    let small: String = text.lines().take(200).chain(["    let last = "]).collect::<Vec<_>>().join("\n");
    client.open("file:///tmp/small.rs", "rust", &small);
    let started = std::time::Instant::now();
    let response = client.inline_completion("file:///tmp/small.rs", 200, 15);
    assert!(response["result"]["items"].is_array(), "{response}");
    let small_elapsed = started.elapsed();

    let n_lines = text.lines().count() as u32;
    client.open("file:///tmp/huge.rs", "rust", &text);
    let started = std::time::Instant::now();
    let response = client.inline_completion("file:///tmp/huge.rs", n_lines - 1, 15);
    assert!(response["result"]["items"].is_array(), "{response}");
    let elapsed = started.elapsed();
    assert!(
        elapsed.as_secs() < 60 || elapsed < small_elapsed * 4,
        "a 5 MB file took {elapsed:?}, 200 lines of it {small_elapsed:?}"
    );
    assert_still_serving(&mut client);
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

#[test]
fn binary_content_is_refused_clearly() {
    let mut client = Client::spawn(&[]);
    client.initialize(json!({}), json!({}));
    client.open("file:///tmp/blob.bin", "plaintext", "\u{0}\u{1}ELF\u{0}\u{0}\u{ff}binary");
    let response = client.inline_completion("file:///tmp/blob.bin", 0, 3);
    assert!(error_message(&response).contains("binary"), "{response}");
    assert_still_serving(&mut client);
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

#[test]
fn a_missing_model_is_reported_and_a_good_one_can_be_configured() {
    let mut client = Client::spawn(&[]);
    client.initialize(json!({ "model": { "path": "/nonexistent/wisp/model.gguf" } }), json!({}));
    let status = client.notification("didChangeStatus", |params| params["kind"] == json!("Error"));
    assert!(status["params"]["message"].as_str().unwrap().contains("not found"), "{status}");
    client.open(GOOD_URI, "rust", GOOD_TEXT);
    let response = client.inline_completion(GOOD_URI, 1, 17);
    let message = error_message(&response);
    assert!(
        message.contains("/nonexistent/wisp/model.gguf") && message.contains("wisp models fetch"),
        "{message}"
    );

    // Fixing the configuration brings completions back without a restart.
    client.notify(
        "workspace/didChangeConfiguration",
        json!({ "settings": { "wisp": { "model": { "path": null } } } }),
    );
    let response = client.inline_completion(GOOD_URI, 1, 17);
    assert!(first_item(&response).is_some(), "{response}");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

#[test]
fn a_corrupt_model_is_refused_and_the_server_stays_up() {
    let entry = Registry::builtin().default_model();
    let good = registry::locate(entry).expect("the default model is needed: run \"wisp models fetch\"");
    let bytes = std::fs::read(&good).unwrap();

    // A registry model whose file was truncated: caught by its sha256 before llama.cpp sees it.
    let models_dir = temp_dir("corrupt-registry");
    std::fs::write(entry.path_in(&models_dir), &bytes[..bytes.len() / 3]).unwrap();
    let mut client = Client::spawn(&[("WISP_MODELS_DIR", models_dir.to_str().unwrap())]);
    client.initialize(json!({}), json!({}));
    client.open(GOOD_URI, "rust", GOOD_TEXT);
    let response = client.inline_completion(GOOD_URI, 1, 17);
    assert!(error_message(&response).contains("corrupt or truncated"), "{response}");
    assert!(error_message(&response).contains("wisp models fetch"), "{response}");
    let response = client.request("wisp/noSuchMethod", json!({}));
    assert_eq!(response["error"]["code"], json!(-32601), "still answering: {response}");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));

    // A GGUF file given by path, cut short: llama.cpp refuses it and the server says so.
    let truncated = temp_dir("corrupt-path").join("cut.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let mut client = Client::spawn(&[]);
    client.initialize(json!({ "model": { "path": truncated } }), json!({}));
    client.open(GOOD_URI, "rust", GOOD_TEXT);
    let response = client.inline_completion(GOOD_URI, 1, 17);
    assert!(error_message(&response).contains("truncated or corrupt"), "{response}");
    client.notify("workspace/didChangeConfiguration", json!({ "settings": { "model": { "path": good } } }));
    let response = client.inline_completion(GOOD_URI, 1, 17);
    assert!(first_item(&response).is_some(), "{response}");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
    let _ = std::fs::remove_dir_all(models_dir);
    let _ = std::fs::remove_dir_all(truncated.parent().expect("the file is in its folder"));
}

#[test]
fn bad_configuration_is_named_and_defaults_are_kept() {
    let mut client = Client::spawn(&[]);
    client.initialize(json!({ "model": { "gpu_layer": 3 } }), json!({}));
    let message = client.notification("window/showMessage", |params| params["type"] == json!(1));
    assert!(message["params"]["message"].as_str().unwrap().contains("model.gpu_layer"), "{message}");
    assert_still_serving(&mut client);
    // A bad runtime change is refused the same way and leaves the working configuration alone.
    client.notify(
        "workspace/didChangeConfiguration",
        json!({ "settings": { "wisp": { "completion": { "max_tokens": "many" } } } }),
    );
    let message = client.notification("window/showMessage", |params| params["type"] == json!(1));
    assert!(message["params"]["message"].as_str().unwrap().contains("completion.max_tokens"), "{message}");
    assert_still_serving(&mut client);
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}
