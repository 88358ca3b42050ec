//! Suggestion feedback through the real binary: the accept command, didShowCompletion,
//! didPartiallyAcceptCompletion and wisp/didDismissCompletion land in the store; `wisp stats`
//! and `wisp dataset export` read them back; planted secrets never reach the database; sensitive
//! and `.wispignore`d files get no suggestions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use wisp_tests::client::{first_item, Client};

const DEMO: &str = include_str!("../../examples/demo.rs");

/// A fresh folder under the temp dir.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wisp-e2e-feedback-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn end_of_line(text: &str, line: usize) -> (u32, u32) {
    (line as u32, text.lines().nth(line).unwrap().encode_utf16().count() as u32)
}

/// `wisp <args>` with the database; stdout parsed as JSON when `json`.
fn wisp(args: &[&str]) -> String {
    let output = Command::new(wisp_tests::wisp_binary()).args(args).output().unwrap();
    assert!(output.status.success(), "wisp {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn stats(database: &Path) -> Value {
    serde_json::from_str(&wisp(&["stats", "--json", "--database", database.to_str().unwrap()])).unwrap()
}

/// Everything SQLite has on disk for the database (main file and write-ahead log).
fn database_bytes(database: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(database).unwrap_or_default();
    bytes.extend(std::fs::read(database.with_extension("sqlite3-wal")).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

fn suggestion(client: &mut Client, uri: &str, line: u32, character: u32) -> Value {
    let response = client.inline_completion(uri, line, character);
    let logs = || client.stderr.lock().unwrap().clone();
    first_item(&response).unwrap_or_else(|| panic!("no inline item: {response}\n{}", logs())).clone()
}

#[test]
fn issue_5_accept_show_partial_accept_and_dismiss_arrive_over_stdio_and_land_in_the_store() {
    let data = folder("data");
    let root = folder("workspace");
    let database = data.join("feedback.sqlite3");
    // Planted in the code the prompt is made of: never stored as is.
    let aws_key = format!("AKIA{}", "QWERTYUIOPASDFGH");
    let email = format!("{}@{}", "jane.doe", "example.com");
    let text = format!("// owner: {email}, deploy key {aws_key}\n{DEMO}");
    let uri = format!("file://{}/src/main.rs", root.display());

    let mut client =
        Client::spawn(&[("WISP_DATA_DIR", data.to_str().unwrap()), ("WISP_LOG", "info,wisp_complete=debug")]);
    // Feedback is about what the editor does with a suggestion: whatever the model's confidence in
    // it, it must be shown (`min_confidence` 0).
    let options = json!({
        "telemetry": { "events": true, "content": true, "survival_after_s": [1] },
        "completion": { "min_confidence": 0.0 }
    });
    let result = client.initialize_at(&root, options, json!({}));
    let commands = &result["capabilities"]["executeCommandProvider"]["commands"];
    assert_eq!(commands, &json!(["wisp.acceptCompletion"]), "{result}");
    client.open(&uri, "rust", &text);

    // 1. Shown, then accepted through the command, then typed into the document.
    let (line, character) = end_of_line(&text, 18);
    let first = suggestion(&mut client, &uri, line, character);
    assert_eq!(first["command"]["command"], json!("wisp.acceptCompletion"), "{first}");
    let first_id = first["command"]["arguments"][0].as_str().unwrap().to_owned();
    client.notify("textDocument/didShowCompletion", json!({ "item": first }));
    let inserted = first["insertText"].as_str().unwrap();
    let cursor = json!({ "line": line, "character": character });
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri, "version": 2 },
            "contentChanges": [{ "range": { "start": cursor, "end": cursor }, "text": inserted }],
        }),
    );
    let accepted = client.request(
        "workspace/executeCommand",
        json!({ "command": "wisp.acceptCompletion", "arguments": [first_id] }),
    );
    assert!(accepted.get("error").is_none(), "{accepted}");

    // 2. Shown and partly accepted (3 UTF-16 units).
    // After `    let total = `, the call deleted first, its `;` kept: in front of the call that was
    // there, the model's `total_price(items)` would not parse, and neither would it without the
    // `;` (before the next statement); neither is shown.
    let (line, character) = (17, 16);
    let rest_of_line = "total_price(&items)".len() as u32;
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri, "version": 3 },
            "contentChanges": [{
                "range": { "start": { "line": line, "character": character }, "end": { "line": line, "character": character + rest_of_line } },
                "text": "",
            }],
        }),
    );
    let second = suggestion(&mut client, &uri, line, character);
    client.notify("textDocument/didShowCompletion", json!({ "item": second }));
    client
        .notify("textDocument/didPartiallyAcceptCompletion", json!({ "item": second, "acceptedLength": 3 }));

    // 3. Shown and dismissed by the user.
    // The apple's price deleted, asked for after `price_cents: `. (After `fn total_price(`, in
    // front of the parameters already there, the model's `items: Item[]?) -> u64 {` would not
    // parse, and at the end of `fn main() {` it writes the items again without their `;`: neither
    // is shown.)
    let line = 14;
    let character = text.lines().nth(14).unwrap().find("50 }").unwrap() as u32;
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri, "version": 4 },
            "contentChanges": [{
                "range": { "start": { "line": line, "character": character }, "end": { "line": line, "character": character + 2 } },
                "text": "",
            }],
        }),
    );
    let third = suggestion(&mut client, &uri, line, character);
    client.notify("textDocument/didShowCompletion", json!({ "item": third }));
    client.notify(
        "wisp/didDismissCompletion",
        json!({ "id": third["command"]["arguments"][0], "reason": "escape" }),
    );

    // An unknown id is an error that says what is wrong, and the server stays up.
    let unknown = client.request(
        "workspace/executeCommand",
        json!({ "command": "wisp.acceptCompletion", "arguments": ["no-such-id"] }),
    );
    assert!(unknown["error"]["message"].as_str().unwrap().contains("unknown completion id"), "{unknown}");

    // The survival measurement 1 s after the accept finds the text untouched.
    let deadline = Instant::now() + Duration::from_secs(30);
    let figures = loop {
        let response = client.request("wisp/stats", json!({}));
        let figures = response["result"].clone();
        let all = &figures["groups"][0];
        // Two measurements: the accept and the partial accept.
        if all["kept_ratio"]["1"]["n"] == json!(2) && all["dismissed"] == json!(1) {
            break figures;
        }
        assert!(Instant::now() < deadline, "no survival measurement: {response}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let all = &figures["groups"][0];
    assert_eq!(all["shown"], json!(3), "{figures}");
    assert_eq!(all["accepted"], json!(1), "{figures}");
    assert_eq!(all["partially_accepted"], json!(1), "{figures}");
    assert_eq!(all["dismissed"], json!(1), "{figures}");
    assert_eq!(all["kept_ratio"]["1"]["mean"], json!(1.0), "{figures}");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));

    // The CLI reads the same figures from the database.
    let from_cli = stats(&database);
    assert_eq!(from_cli["groups"][0]["accepted"], json!(1), "{from_cli}");
    assert_eq!(from_cli["groups"][0]["shown"], json!(3), "{from_cli}");

    // The export has the three labelled examples, redacted.
    let exported = wisp(&["dataset", "export", "--database", database.to_str().unwrap()]);
    let rows: Vec<Value> = exported.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let mut labels: Vec<&str> = rows.iter().map(|row| row["label"].as_str().unwrap()).collect();
    labels.sort();
    assert_eq!(labels, ["accepted", "dismissed", "partially_accepted"], "{exported}");
    let partial = rows.iter().find(|row| row["label"] == json!("partially_accepted")).unwrap();
    assert_eq!(partial["kept"].as_str().unwrap().encode_utf16().count(), 3, "{partial}");
    assert!(rows.iter().all(|row| row["prompt"].as_str().unwrap().contains("fn total_price(")), "{exported}");

    for planted in [&aws_key, &email] {
        assert!(!contains(&database_bytes(&database), planted), "{planted} is in the database");
        assert!(!exported.contains(planted.as_str()), "{planted} is in the export");
    }
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn sensitive_and_wispignored_files_get_no_suggestions_and_nothing_is_recorded() {
    let data = folder("private-data");
    let root = folder("private");
    std::fs::write(root.join(".wispignore"), "secret/\n").unwrap();
    // A source file the user marks sensitive (`context.sensitive_files`), imported by another
    // file: its code must not reach that file's prompt.
    std::fs::write(root.join("secrets.py"), "def rotate_api_token(seed):\n    return seed * 7919\n").unwrap();
    let app = "from secrets import rotate_api_token\n\ndef main():\n    token = rotate_api_token(";
    std::fs::write(root.join("app.py"), app).unwrap();
    let mut client = Client::spawn(&[("WISP_DATA_DIR", data.to_str().unwrap())]);
    let options = json!({
        "telemetry": { "events": true, "content": true },
        "context": { "sensitive_files": ["secrets.py"] },
    });
    client.initialize_at(&root, options, json!({}));
    client.wait_for_index(1);
    let app_uri = format!("file://{}/app.py", root.display());
    client.open(&app_uri, "python", app);
    let debug = client.request(
        "wisp/debugPrompt",
        json!({ "textDocument": { "uri": app_uri }, "position": { "line": 3, "character": 29 } }),
    );
    let prompt = debug["result"]["prompt"].as_str().unwrap_or_else(|| panic!("{debug}"));
    assert!(
        !prompt.contains("def rotate_api_token") && !prompt.contains("secrets.py"),
        "a sensitive file is in the prompt:\n{prompt}"
    );
    for (path, language) in [(".env", "dotenv"), ("deploy/id_rsa", "plaintext"), ("secret/keys.rs", "rust")] {
        let uri = format!("file://{}/{path}", root.display());
        client.open(&uri, language, "fn main() {\n    let total = 1 + ");
        let response = client.inline_completion(&uri, 1, 20);
        assert_eq!(response["result"]["items"], json!([]), "{path}: {response}");
    }
    // An ordinary file still gets one, so the refusals above are not a broken server.
    let uri = format!("file://{}/src/main.rs", root.display());
    client.open(&uri, "rust", DEMO);
    let (line, character) = end_of_line(DEMO, 17);
    suggestion(&mut client, &uri, line, character);
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
    let figures = stats(&data.join("feedback.sqlite3"));
    assert_eq!(figures["groups"][0]["completions"], json!(1), "{figures}");
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn an_experiment_variant_with_its_own_model_answers_its_share_and_is_recorded() {
    let data = folder("variant-data");
    let root = folder("variant");
    let mut client = Client::spawn(&[("WISP_DATA_DIR", data.to_str().unwrap())]);
    // All traffic to a variant naming the model by registry id: a second engine, loaded on first
    // use, with a smaller generation budget.
    let options = json!({
        "telemetry": { "events": true },
        "experiment": { "variants": [
            { "name": "twin", "share": 100, "model": "smollm2-135m-instruct-q4_1", "max_tokens": 3 }
        ] },
    });
    client.initialize_at(&root, options, json!({}));
    let uri = format!("file://{}/src/main.rs", root.display());
    client.open(&uri, "rust", DEMO);
    let (line, character) = end_of_line(DEMO, 17);
    let item = suggestion(&mut client, &uri, line, character);
    client.notify("textDocument/didShowCompletion", json!({ "item": item }));
    let response = client.request("wisp/stats", json!({ "by": "variant" }));
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
    let groups = &response["result"]["groups"];
    assert_eq!(groups.as_array().map(Vec::len), Some(1), "{response}");
    assert_eq!(groups[0]["key"], json!("twin"), "{response}");
    let database = data.join("feedback.sqlite3");
    let by_model = stats(&database);
    assert_eq!(by_model["groups"][0]["completions"], json!(1), "{by_model}");
    // The CLI's table names the variant.
    let table = wisp(&["stats", "--by", "variant", "--database", database.to_str().unwrap()]);
    assert!(table.lines().any(|line| line.starts_with("twin")), "{table}");
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&root);
}
