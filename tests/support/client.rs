//! A minimal LSP client that drives the real `wisp` binary over stdio.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Long enough for a cold model load and a prompt evaluation on a busy 2-core machine.
pub const TIMEOUT: Duration = Duration::from_secs(120);

pub struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    messages: Receiver<Value>,
    /// Notifications and server requests seen while waiting for responses.
    pub notifications: Vec<Value>,
    /// Everything the server wrote to stderr (its logs), for failure messages.
    pub stderr: Arc<Mutex<String>>,
    next_id: i64,
}

impl Client {
    /// Starts `wisp serve` with extra environment variables.
    pub fn spawn(env: &[(&str, &str)]) -> Client {
        let mut command = Command::new(crate::wisp_binary());
        command.arg("serve").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("starting the wisp binary");
        let stdout = child.stdout.take().unwrap();
        let stderr_pipe = child.stderr.take().unwrap();
        let (sender, messages) = mpsc::channel();
        std::thread::spawn(move || read_messages(stdout, sender));
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                let mut sink = stderr_sink.lock().unwrap();
                sink.push_str(&line);
                sink.push('\n');
            }
        });
        let stdin = child.stdin.take();
        Client { child, stdin, messages, notifications: Vec::new(), stderr, next_id: 1 }
    }

    /// `initialize` + `initialized`; returns the initialize result.
    pub fn initialize(&mut self, initialization_options: Value, capabilities: Value) -> Value {
        self.initialize_at(crate::repo_root().join("tests").as_path(), initialization_options, capabilities)
    }

    /// `initialize` + `initialized` with `root` as the workspace folder.
    pub fn initialize_at(
        &mut self,
        root: &std::path::Path,
        initialization_options: Value,
        capabilities: Value,
    ) -> Value {
        let root = root.display();
        let result = self.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": format!("file://{root}"),
                "capabilities": capabilities,
                "initializationOptions": initialization_options,
            }),
        );
        let result = result.get("result").cloned().unwrap_or_else(|| panic!("initialize failed: {result}"));
        self.notify("initialized", json!({}));
        result
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    fn send(&mut self, message: &Value) {
        let body = serde_json::to_string(message).unwrap();
        self.send_raw(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request without waiting; returns its id.
    pub fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        id
    }

    /// Waits for the response with this id (the whole message, with "result" or "error").
    pub fn response(&mut self, id: i64) -> Value {
        self.wait_for(|message| message.get("id") == Some(&json!(id)) && message.get("method").is_none())
    }

    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        self.response(id)
    }

    /// Waits for a message matching `predicate`; other messages are kept in `notifications`.
    pub fn wait_for(&mut self, predicate: impl Fn(&Value) -> bool) -> Value {
        if let Some(index) = self.notifications.iter().position(&predicate) {
            return self.notifications.remove(index);
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let received = self.messages.recv_timeout(left);
            if let Ok(message) = &received {
                // Requests from the server (progress tokens, registrations): an editor accepts them.
                if message.get("method").is_some() && message.get("id").is_some() {
                    self.send(&json!({ "jsonrpc": "2.0", "id": message["id"], "result": null }));
                }
            }
            match received {
                Ok(message) if predicate(&message) => return message,
                Ok(message) => self.notifications.push(message),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no matching message in {TIMEOUT:?}; server log:\n{}", self.stderr.lock().unwrap())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the server closed stdout; server log:\n{}", self.stderr.lock().unwrap())
                }
            }
        }
    }

    /// Waits for a notification with this method whose params match `predicate`.
    pub fn notification(&mut self, method: &str, predicate: impl Fn(&Value) -> bool) -> Value {
        self.wait_for(|message| {
            message.get("method") == Some(&json!(method)) && predicate(&message["params"])
        })
    }

    pub fn open(&mut self, uri: &str, language_id: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": language_id, "version": 1, "text": text } }),
        );
    }

    pub fn inline_completion(&mut self, uri: &str, line: u32, character: u32) -> Value {
        self.request("textDocument/inlineCompletion", inline_params(uri, line, character))
    }

    /// `shutdown`, then `exit`; returns the exit status, failing if the process lingers.
    pub fn shutdown_and_exit(mut self) -> ExitStatus {
        let response = self.request("shutdown", Value::Null);
        assert_eq!(response.get("result"), Some(&Value::Null), "{response}");
        self.notify("exit", Value::Null);
        drop(self.stdin.take());
        self.wait_exit(Duration::from_secs(10))
    }

    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("wisp did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's resident memory in bytes (VmRSS).
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    }

    /// Counters from `wisp/metrics`.
    pub fn metrics(&mut self) -> Value {
        let response = self.request("wisp/metrics", json!({}));
        response.get("result").cloned().unwrap_or_else(|| panic!("wisp/metrics failed: {response}"))
    }

    /// Waits until the workspace index holds at least `n_files` files (`wisp/metrics`).
    pub fn wait_for_index(&mut self, n_files: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let metrics = self.metrics();
            if metrics["indexedFiles"].as_u64() >= Some(n_files) {
                return;
            }
            assert!(Instant::now() < deadline, "the index never reached {n_files} files: {metrics}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the model is loaded (the status says so).
    pub fn wait_until_ready(&mut self) {
        self.notification("didChangeStatus", |params| {
            params["busy"] == json!(false) && params["kind"] == json!("Normal")
        });
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn inline_params(uri: &str, line: u32, character: u32) -> Value {
    json!({
        "textDocument": { "uri": uri },
        "position": { "line": line, "character": character },
        "context": { "triggerKind": 2 }
    })
}

/// Reads LSP messages (Content-Length framed JSON) from `stdout` until it closes, sending each on.
pub fn read_messages(stdout: impl Read, sender: mpsc::Sender<Value>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut content_length = None;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some(value) = header.strip_prefix("Content-Length: ") {
                content_length = value.parse::<usize>().ok();
            }
        }
        let Some(length) = content_length else { return };
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let message: Value = serde_json::from_slice(&body).expect("the server wrote invalid JSON on stdout");
        if sender.send(message).is_err() {
            return;
        }
    }
}

/// The first inline item of a response, if any.
pub fn first_item(response: &Value) -> Option<&Value> {
    response["result"]["items"].as_array().and_then(|items| items.first())
}
