//! The JetBrains template (`editors/jetbrains/template`, imported by LSP4IJ as a user-defined
//! language server): its files are checked against the fields LSP4IJ reads, and its command line,
//! initialization options and settings are run against the real `wisp` the way LSP4IJ 0.20 sends
//! them (string request ids, UTF-16 positions only, `context.triggerKind` always Automatic).
//!
//! No JetBrains IDE can run here (none is installable from the registries this project may use),
//! so LSP4IJ's side is reproduced from its sources: `ServerTemplateJsonDeserializer` and
//! `LanguageServerTemplateDeserializer` (which keys it reads), `CommandUtils.createCommands` (how
//! it splits the command line), `ClientCapabilitiesFactory` (what it offers in `initialize`),
//! `LanguageClientImpl.triggerChangeConfiguration` (settings.json as
//! `workspace/didChangeConfiguration`) and `LSPInlineCompletionSupport` (the request it sends).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// The top-level keys LSP4IJ reads from a language server's `template.json`.
const TEMPLATE_KEYS: &[&str] = &[
    "id",
    "name",
    "url",
    "dev",
    "programArgs",
    "workingDir",
    "env",
    "expandConfiguration",
    "disablePromotionFor",
    "fileTypeMappings",
    "languageMappings",
];

/// The operating system keys of `programArgs` (`ServerTemplate.OS_KEY`, then `default`).
const PROGRAM_ARGS_KEYS: &[&str] = &["default", "windows", "mac", "unix"];

/// The files LSP4IJ reads from a template folder; any other file there is ignored by it, so a
/// misspelt name would silently do nothing.
const TEMPLATE_FILES: &[&str] = &[
    "template.json",
    "settings.json",
    "settings.schema.json",
    "initializationOptions.json",
    "experimental.json",
    "clientSettings.json",
    "installer.json",
    "workspaceFolderSettings.json",
    "README.md",
];

/// How long the whole session with the server may take (a cold model load on a busy machine).
const SESSION_TIMEOUT: Duration = Duration::from_secs(180);

fn template_dir() -> PathBuf {
    wisp_tests::repo_root().join("editors").join("jetbrains").join("template")
}

fn read_json(name: &str) -> Value {
    let path = template_dir().join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|why| panic!("reading {}: {why}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|why| panic!("{} is not valid JSON: {why}", path.display()))
}

/// One language of `grammars/*/language.toml`: its LSP language ids and file extensions.
struct Language {
    name: String,
    language_ids: Vec<String>,
    file_extensions: Vec<String>,
}

/// The string list on the line `key = [...]` of a language.toml (the files keep each list on one
/// line; the test fails loudly if one ever does not).
fn toml_string_list(text: &str, key: &str, path: &Path) -> Vec<String> {
    let line = text
        .lines()
        .find(|line| line.trim_start().starts_with(key) && line.contains('='))
        .unwrap_or_else(|| panic!("{} has no {key}", path.display()));
    let list = line.split_once('=').unwrap().1.trim();
    let inner = list
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or_else(|| panic!("{} writes {key} over several lines", path.display()));
    inner
        .split(',')
        .map(|item| item.trim().trim_matches('"').to_string())
        .filter(|item| !item.is_empty())
        .collect()
}

/// The languages Wisp serves, from `grammars/*/language.toml`.
fn served_languages() -> Vec<Language> {
    let grammars = wisp_tests::repo_root().join("grammars");
    let mut languages = Vec::new();
    for entry in std::fs::read_dir(&grammars).expect("reading grammars/") {
        let path = entry.unwrap().path().join("language.toml");
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        languages.push(Language {
            name: path.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned(),
            language_ids: toml_string_list(&text, "language_ids", &path),
            file_extensions: toml_string_list(&text, "file_extensions", &path),
        });
    }
    assert!(!languages.is_empty(), "no grammars/*/language.toml found");
    languages
}

/// LSP4IJ's split of a command line: spaces separate arguments except inside double quotes, and
/// the quotes themselves are dropped (there is no escaping).
fn lsp4ij_split(command_line: &str) -> Vec<String> {
    let mut arguments = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for character in command_line.chars() {
        match character {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !current.trim().is_empty() {
                    arguments.push(current.trim().to_string());
                }
                current.clear();
            }
            _ => current.push(character),
        }
    }
    if !current.trim().is_empty() {
        arguments.push(current.trim().to_string());
    }
    arguments
}

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

#[test]
fn template_json_has_the_fields_lsp4ij_reads() {
    let template = read_json("template.json");
    let template = template.as_object().expect("template.json is a JSON object");
    for key in template.keys() {
        assert!(TEMPLATE_KEYS.contains(&key.as_str()), "template.json: LSP4IJ does not read the key {key:?}");
    }
    // An id without a url makes LSP4IJ link to docs/user-defined-ls/<id>.md in its own repository,
    // which only exists for the templates it ships.
    if let Some(id) = template.get("id") {
        assert!(id.as_str().is_some_and(|id| !id.is_empty()), "template.json: id must be a non-empty string");
        assert!(template.get("url").is_some_and(Value::is_string), "template.json: an id needs a url");
    }
    assert_eq!(template["name"], json!("Wisp"), "template.json: name");
    if let Some(expand) = template.get("expandConfiguration") {
        assert!(expand.is_boolean(), "template.json: expandConfiguration must be a boolean");
    }

    // LSP4IJ calls getAsJsonObject on programArgs unconditionally: it is required.
    let program_args = template
        .get("programArgs")
        .and_then(Value::as_object)
        .expect("template.json: programArgs must be an object (LSP4IJ requires it)");
    assert!(program_args.contains_key("default"), "template.json: programArgs needs a default command line");
    for (os, command_line) in program_args {
        assert!(
            PROGRAM_ARGS_KEYS.contains(&os.as_str()),
            "template.json: programArgs key {os:?} is not an OS LSP4IJ knows"
        );
        let command_line =
            command_line.as_str().unwrap_or_else(|| panic!("programArgs.{os} must be a string"));
        let arguments = lsp4ij_split(command_line);
        assert!(
            arguments.iter().any(|argument| argument.split(' ').any(|word| word == "serve")),
            "programArgs.{os} = {command_line:?} does not start `wisp serve` once LSP4IJ splits it: {arguments:?}"
        );
    }

    let languages = served_languages();
    let served_ids: BTreeSet<&str> =
        languages.iter().flat_map(|language| language.language_ids.iter().map(String::as_str)).collect();
    let mappings = template
        .get("fileTypeMappings")
        .and_then(Value::as_array)
        .expect("template.json: fileTypeMappings must be an array");
    let mut patterns_by_id: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for mapping in mappings {
        let mapping = mapping.as_object().expect("a fileTypeMappings entry is an object");
        for key in mapping.keys() {
            assert!(
                ["fileType", "languageId"].contains(&key.as_str()),
                "fileTypeMappings: unknown key {key:?}"
            );
        }
        let language_id =
            mapping["languageId"].as_str().expect("a fileTypeMappings entry needs a languageId string");
        assert!(
            served_ids.contains(language_id),
            "fileTypeMappings: Wisp does not serve the languageId {language_id:?}"
        );
        let file_type =
            mapping["fileType"].as_object().expect("a fileTypeMappings entry needs a fileType object");
        for key in file_type.keys() {
            assert!(["name", "patterns"].contains(&key.as_str()), "fileType: unknown key {key:?}");
        }
        assert!(
            file_type.contains_key("name") || file_type.contains_key("patterns"),
            "fileType for {language_id} needs a name or patterns"
        );
        if let Some(name) = file_type.get("name") {
            assert!(name.is_string(), "fileType.name must be a string");
        }
        for pattern in file_type.get("patterns").and_then(Value::as_array).into_iter().flatten() {
            let pattern = pattern.as_str().expect("fileType.patterns holds strings");
            patterns_by_id.entry(language_id.to_string()).or_default().insert(pattern.to_string());
        }
    }
    for mapping in template.get("languageMappings").and_then(Value::as_array).into_iter().flatten() {
        let mapping = mapping.as_object().expect("a languageMappings entry is an object");
        for key in mapping.keys() {
            assert!(
                ["language", "languageId"].contains(&key.as_str()),
                "languageMappings: unknown key {key:?}"
            );
        }
        assert!(mapping["language"].is_string(), "languageMappings: language must be a string");
        let language_id =
            mapping["languageId"].as_str().expect("languageMappings: languageId must be a string");
        assert!(
            served_ids.contains(language_id),
            "languageMappings: Wisp does not serve the languageId {language_id:?}"
        );
    }

    // Every language Wisp serves is mapped, by exactly its file extensions.
    for language in &languages {
        let mapped: BTreeSet<String> = language
            .language_ids
            .iter()
            .flat_map(|id| patterns_by_id.get(id).cloned().unwrap_or_default())
            .collect();
        let expected: BTreeSet<String> =
            language.file_extensions.iter().map(|extension| format!("*.{extension}")).collect();
        assert_eq!(
            mapped, expected,
            "fileTypeMappings patterns for {} (grammars/{}/language.toml)",
            language.name, language.name
        );
    }
}

#[test]
fn the_template_folder_holds_only_files_lsp4ij_reads() {
    for entry in std::fs::read_dir(template_dir()).expect("reading editors/jetbrains/template") {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(TEMPLATE_FILES.contains(&name.as_str()), "LSP4IJ ignores {name} in a template folder");
    }
    assert!(
        read_json("initializationOptions.json").is_object(),
        "initializationOptions.json must be an object"
    );
    assert!(read_json("settings.json").is_object(), "settings.json must be an object");
    let readme = std::fs::read_to_string(template_dir().join("README.md"))
        .expect("template/README.md (LSP4IJ's help)");
    assert!(readme.contains("wisp serve"), "template/README.md should say how the server is started");
}

#[test]
fn settings_schema_is_the_servers_own() {
    let output = Command::new(wisp_tests::wisp_binary())
        .args(["config", "schema"])
        .output()
        .expect("running wisp config schema");
    assert!(
        output.status.success(),
        "wisp config schema failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let served: Value = serde_json::from_slice(&output.stdout).expect("wisp config schema prints JSON");
    assert!(
        read_json("settings.schema.json") == served,
        "editors/jetbrains/template/settings.schema.json is stale; regenerate it with\n  \
         target/debug/wisp config schema > editors/jetbrains/template/settings.schema.json"
    );
}

/// Every leaf of `settings` equals the schema's default at the same path, so importing the
/// template changes nothing until the user edits it.
fn assert_defaults(settings: &Map<String, Value>, schema: &Value, path: &str) {
    for (key, value) in settings {
        let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        let property = schema
            .get("properties")
            .and_then(|properties| properties.get(key))
            .unwrap_or_else(|| panic!("settings.json: {here} is not a Wisp setting"));
        match value {
            Value::Object(inner) => assert_defaults(inner, property, &here),
            leaf => {
                let default = property
                    .get("default")
                    .or_else(|| schema.get("default").and_then(|defaults| defaults.get(key)))
                    .unwrap_or_else(|| panic!("the schema gives no default for {here}"));
                assert_eq!(leaf, default, "settings.json: {here} differs from the server's default");
            }
        }
    }
}

#[test]
fn settings_json_states_the_servers_defaults() {
    let schema = read_json("settings.schema.json");
    let settings = read_json("settings.json");
    assert_defaults(settings.as_object().unwrap(), &schema, "");
}

/// A language server process driven the way LSP4IJ drives it: LSP4J's string request ids, and
/// the server's requests answered.
struct Session {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    seen: Vec<Value>,
    stderr: Arc<Mutex<String>>,
    next_id: u64,
    deadline: Instant,
}

impl Session {
    fn start(arguments: &[String], env: &[(&str, &Path)]) -> Session {
        let mut command = Command::new(&arguments[0]);
        command.args(&arguments[1..]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap_or_else(|why| panic!("starting {arguments:?}: {why}"));
        let stdout = child.stdout.take().unwrap();
        let stderr_pipe = child.stderr.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let (sender, messages) = mpsc::channel();
        std::thread::spawn(move || wisp_tests::client::read_messages(stdout, sender));
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Session {
            child,
            stdin,
            messages,
            seen: Vec::new(),
            stderr,
            next_id: 1,
            deadline: Instant::now() + SESSION_TIMEOUT,
        }
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request with a string id, as LSP4J does, and waits for its response.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id.to_string();
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        self.wait_for(&format!("the response to {method}"), |message| {
            message.get("id") == Some(&json!(id)) && message.get("method").is_none()
        })
    }

    /// Waits for a message matching `predicate`, keeping the others in `seen`.
    fn wait_for(&mut self, what: &str, predicate: impl Fn(&Value) -> bool) -> Value {
        if let Some(index) = self.seen.iter().position(&predicate) {
            return self.seen.remove(index);
        }
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            let message = self
                .messages
                .recv_timeout(left)
                .unwrap_or_else(|why| panic!("waiting for {what}: {why:?}; wisp's log:\n{}", self.log()));
            if message.get("method").is_some() && message.get("id").is_some() {
                // LSP4IJ accepts the server's requests (progress tokens, registrations).
                self.send(json!({ "jsonrpc": "2.0", "id": message["id"], "result": null }));
            }
            if predicate(&message) {
                return message;
            }
            self.seen.push(message);
        }
    }

    /// The `window/showMessage` errors and warnings received so far.
    fn complaints(&self) -> Vec<&Value> {
        self.seen
            .iter()
            .filter(|message| {
                message["method"] == json!("window/showMessage")
                    && message["params"]["type"].as_u64().is_some_and(|kind| kind <= 2)
            })
            .collect()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The command LSP4IJ would run on this machine (`programArgs.unix`, else `default`), with the
/// program `wisp` replaced by this checkout's binary.
fn template_command_line(binary: &Path) -> Vec<String> {
    let template = read_json("template.json");
    let command_line = template["programArgs"]
        .get("unix")
        .or_else(|| template["programArgs"].get("default"))
        .and_then(Value::as_str)
        .expect("programArgs.default")
        .to_string();
    let binary = binary.to_str().expect("the binary path is UTF-8");
    assert!(!binary.contains(['"', '\'', ' ']), "the binary path {binary} needs quoting");
    lsp4ij_split(&command_line)
        .into_iter()
        .map(|argument| match argument.strip_prefix("wisp") {
            Some("") => binary.to_string(),
            Some(rest) if rest.starts_with(' ') => format!("{binary}{rest}"),
            _ => argument,
        })
        .collect()
}

/// What LSP4IJ 0.20 offers in `initialize` (the parts Wisp looks at, as `ClientCapabilitiesFactory`
/// writes them).
fn lsp4ij_capabilities() -> Value {
    json!({
        "general": { "positionEncodings": ["utf-16"] },
        "workspace": {
            "applyEdit": true,
            "configuration": true,
            "didChangeConfiguration": { "dynamicRegistration": true },
            "didChangeWatchedFiles": { "dynamicRegistration": true },
            "executeCommand": { "dynamicRegistration": true },
            "workspaceFolders": true
        },
        "textDocument": {
            "synchronization": { "didSave": true, "willSave": true, "willSaveWaitUntil": true },
            "completion": {
                "dynamicRegistration": true,
                "completionItem": { "snippetSupport": true, "insertReplaceSupport": true },
                "completionList": { "itemDefaults": ["editRange"] }
            },
            "inlineCompletion": { "dynamicRegistration": true }
        },
        "window": { "workDoneProgress": true, "showMessage": {} }
    })
}

#[test]
fn wisp_answers_the_template_as_lsp4ij_sends_it() {
    let started = Instant::now();
    let binary = wisp_tests::wisp_binary();
    let scratch = wisp_tests::scratch_dir("jetbrains");
    let workspace = scratch.join("workspace");
    let data = scratch.join("data");
    std::fs::create_dir_all(workspace.join("src")).unwrap();
    std::fs::create_dir_all(&data).unwrap();

    let arguments = template_command_line(binary);
    let mut session = Session::start(&arguments, &[("WISP_DATA_DIR", &data)]);
    let initialization_options = read_json("initializationOptions.json");
    let initialize = session.request(
        "initialize",
        json!({
            "processId": std::process::id(),
            "clientInfo": { "name": "IntelliJ IDEA", "version": "2026.1" },
            "rootUri": file_uri(&workspace),
            "workspaceFolders": [{ "uri": file_uri(&workspace), "name": "workspace" }],
            "capabilities": lsp4ij_capabilities(),
            "initializationOptions": initialization_options,
        }),
    );
    assert!(
        initialize.get("error").is_none(),
        "initialize failed: {initialize}\nwisp's log:\n{}",
        session.log()
    );
    let capabilities = &initialize["result"]["capabilities"];
    assert!(
        capabilities.get("inlineCompletionProvider").is_some_and(|provider| provider != &json!(false)),
        "no inlineCompletionProvider: {initialize}"
    );
    assert_eq!(capabilities["positionEncoding"], json!("utf-16"), "LSP4IJ only speaks UTF-16");
    session.notify("initialized", json!({}));
    // LSP4IJ pushes the Configuration tab (settings.json) once the server has started.
    session.notify("workspace/didChangeConfiguration", json!({ "settings": read_json("settings.json") }));

    // Opened as LSP4IJ maps *.rs: with the template's languageId for it.
    let template = read_json("template.json");
    let language_id = template["fileTypeMappings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|mapping| {
            mapping["fileType"]["patterns"]
                .as_array()
                .is_some_and(|patterns| patterns.contains(&json!("*.rs")))
        })
        .and_then(|mapping| mapping["languageId"].as_str())
        .expect("the template maps *.rs")
        .to_string();
    let text = "/// Adds two numbers.\nfn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\n/// Multiplies two numbers.\nfn mul(a: i32, b: i32) -> i32 {\n    \n}\n";
    let path = workspace.join("src").join("main.rs");
    std::fs::write(&path, text).unwrap();
    let uri = file_uri(&path);
    session.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": language_id, "version": 1, "text": text } }),
    );
    session.wait_for("the model to load (didChangeStatus Normal)", |message| {
        message["method"] == json!("didChangeStatus")
            && message["params"]["kind"] == json!("Normal")
            && message["params"]["busy"] == json!(false)
    });
    let loaded = started.elapsed();

    // The body of `mul`, after its indentation: line 7, UTF-16 column 4.
    let (line, character) = (7, 4);
    let asked = Instant::now();
    let response = session.request(
        "textDocument/inlineCompletion",
        json!({
            "textDocument": { "uri": uri },
            "position": { "line": line, "character": character },
            "context": { "triggerKind": 2 }
        }),
    );
    assert!(
        response.get("error").is_none(),
        "inlineCompletion failed: {response}\nwisp's log:\n{}",
        session.log()
    );
    let result = &response["result"];
    let items = result.get("items").or(Some(result)).and_then(Value::as_array).cloned().unwrap_or_default();
    let item = items
        .first()
        .unwrap_or_else(|| panic!("no inline completion: {response}\nwisp's log:\n{}", session.log()));
    let insert_text =
        item["insertText"].as_str().expect("insertText is a plain string (LSP4IJ also takes a snippet)");
    // LSP4IJ drops blank suggestions (`isNullOrBlank`): a blank one would show nothing.
    assert!(!insert_text.trim().is_empty(), "the suggestion is blank, LSP4IJ would show nothing: {item}");
    if let Some(range) = item.get("range") {
        let cursor = json!({ "line": line, "character": character });
        assert_eq!(
            range["start"], cursor,
            "LSP4IJ shows insertText from the cursor only for a range starting there"
        );
        assert_eq!(range["end"], cursor, "a range past the cursor makes LSP4IJ skip document text");
    }
    println!("suggestion after {:?}: {insert_text:?} (model ready after {loaded:?})", asked.elapsed());

    let complaints: Vec<Value> = session.complaints().into_iter().cloned().collect();
    assert!(complaints.is_empty(), "wisp complained about the template's settings: {complaints:?}");

    let shutdown = session.request("shutdown", Value::Null);
    assert_eq!(shutdown.get("result"), Some(&Value::Null), "shutdown: {shutdown}");
    session.notify("exit", Value::Null);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = session.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "wisp (started through {arguments:?}) did not exit after exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "wisp exited with {status}; log:\n{}", session.log());
    println!("whole session: {:?}", started.elapsed());
}
