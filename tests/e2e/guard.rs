//! Suggestions the user can trust, with the real model over stdio: a secret in the code is never
//! suggested (while the same shape of value without a secret is copied), and the model's
//! confidence travels with each item and suppresses guesses below the threshold.

use serde_json::json;

use wisp_tests::client::{first_item, Client};

/// A Python file that sets a value twice and starts a third assignment: the model copies it.
fn copied_value(name: &str, value: &str) -> (String, u32, u32) {
    let text = format!(
        "import os\n\nPRIMARY_{name} = \"{value}\"\nSECONDARY_{name} = \"{value}\"\nBACKUP_{name} = \"\n"
    );
    let character = format!("BACKUP_{name} = \"").len() as u32;
    (text, 4, character)
}

#[test]
fn a_secret_planted_in_the_workspace_is_never_suggested() {
    let mut client = Client::spawn(&[]);
    client.initialize(json!({ "context": { "mode": "none" } }), json!({}));

    // The control: an ordinary value in the same place is copied, so this shape does draw the
    // model to repeat what it sees.
    let (labels, line, character) = copied_value("LABEL", "blue-harbor-lantern-seven");
    client.open("file:///work/guard/labels.py", "python", &labels);
    let response = client.inline_completion("file:///work/guard/labels.py", line, character);
    let copied = first_item(&response).and_then(|item| item["insertText"].as_str()).unwrap_or_default();
    assert!(copied.starts_with("blue-harbor-lantern-seven"), "the control value was not copied: {response}");

    let secret = "sk-proj-Q8vX2mN4pL7rT1wZ9yB3cD6fH0jK5sA8eG2uV4iO7nM1qR3t";
    let (keys, line, character) = copied_value("KEY", secret);
    client.open("file:///work/guard/keys.py", "python", &keys);
    let response = client.inline_completion("file:///work/guard/keys.py", line, character);
    let suggested = first_item(&response).and_then(|item| item["insertText"].as_str()).unwrap_or_default();
    assert!(!suggested.contains("Q8vX2mN4"), "the secret was suggested: {response}");
    let metrics = client.metrics();
    assert!(metrics["cutBy"]["secrets"].as_u64() >= Some(1), "the secrets filter cut nothing: {metrics}");

    client.shutdown_and_exit();
}

#[test]
fn items_carry_the_models_confidence_and_unsure_guesses_are_not_shown() {
    let data = std::env::temp_dir().join(format!("wisp-e2e-guard-confidence-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let mut client = Client::spawn(&[("WISP_DATA_DIR", data.to_str().unwrap())]);
    client.initialize(json!({ "context": { "mode": "none" }, "telemetry": { "events": true } }), json!({}));
    let (labels, line, character) = copied_value("LABEL", "blue-harbor-lantern-seven");
    let uri = "file:///work/guard/labels.py";
    client.open(uri, "python", &labels);
    let response = client.inline_completion(uri, line, character);
    let item = first_item(&response).unwrap_or_else(|| panic!("no suggestion: {response}"));
    let confidence = item["command"]["arguments"][1]["confidence"].as_f64();
    assert!(confidence.is_some_and(|c| c > 0.0 && c < 1.0), "no confidence below 1 in the item: {item}");

    // A threshold no guess reaches: the suggestion is held back, and counted.
    client.notify(
        "workspace/didChangeConfiguration",
        json!({ "settings": { "wisp": { "completion": { "min_confidence": 1.0, "cache": false } } } }),
    );
    let response = client.inline_completion(uri, line, character);
    assert!(first_item(&response).is_none(), "shown below the threshold: {response}");
    let metrics = client.metrics();
    assert!(metrics["cutBy"]["confidence"].as_u64() >= Some(1), "{metrics}");

    client.shutdown_and_exit();
    let _ = std::fs::remove_dir_all(&data);
}
