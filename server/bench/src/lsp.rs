//! A minimal LSP client over a child's stdio: `Content-Length` framing, a reader thread that
//! timestamps every message as it arrives, and waits that always end (with the server's log path
//! in the error).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::process::ChildGuard;

/// Messages larger than this (bytes) are refused: no answer the benchmark asks for comes close,
/// so a bigger length means a broken stream.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// JSON-RPC "method not found".
pub const METHOD_NOT_FOUND: i64 = -32601;

/// Encodes one message with its `Content-Length` header.
pub fn encode(message: &Value) -> Vec<u8> {
    let body = message.to_string();
    let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    frame.extend_from_slice(body.as_bytes());
    frame
}

/// Reads one framed message; `Ok(None)` at a clean end of stream (between messages).
pub fn read_message(reader: &mut impl BufRead) -> anyhow::Result<Option<Value>> {
    let mut content_length = None;
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        if reader.read_line(&mut line).context("reading a message header")? == 0 {
            if first {
                return Ok(None);
            }
            bail!("the stream ended inside a message header");
        }
        first = false;
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            bail!("malformed header line {header:?}");
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            let length: usize =
                value.trim().parse().with_context(|| format!("bad Content-Length {value:?}"))?;
            content_length = Some(length);
        }
    }
    let length = content_length.context("a message without Content-Length")?;
    if length > MAX_MESSAGE_BYTES {
        bail!("a message of {length} bytes (more than {MAX_MESSAGE_BYTES})");
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).context("the stream ended inside a message body")?;
    serde_json::from_slice(&body).context("a message body that is not JSON")
}

/// A JSON-RPC error answer.
#[derive(Debug, Clone)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

/// An answer to one of our requests, with the time it was read.
#[derive(Debug, Clone)]
pub struct Response {
    pub arrived: Instant,
    pub outcome: Result<Value, RpcError>,
}

enum Incoming {
    Message { arrived: Instant, message: Value },
    Closed(String),
}

/// The server's `didChangeStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub kind: String,
    pub message: String,
    pub busy: bool,
}

/// A language server process and the conversation with it.
pub struct LspServer {
    label: String,
    log_path: PathBuf,
    stdin: ChildStdin,
    incoming: Receiver<Incoming>,
    next_id: i64,
    responses: HashMap<i64, Response>,
    /// The latest `didChangeStatus`.
    pub status: Option<Status>,
    /// `window/showMessage` errors, in order.
    pub error_messages: Vec<String>,
    // Last, so the pipes close before the guard waits for the process.
    child: ChildGuard,
}

impl LspServer {
    /// Starts `binary serve` with its stderr going to `log_path`.
    pub fn spawn(binary: &Path, label: &str, log_path: PathBuf) -> anyhow::Result<LspServer> {
        let log = File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new(binary)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| {
                format!("starting {} serve — build it with cargo build --release", binary.display())
            })?;
        let mut child = ChildGuard::new(child);
        let stdin = child.child_mut().stdin.take().context("the child has no stdin")?;
        let stdout = child.child_mut().stdout.take().context("the child has no stdout")?;
        let (sender, incoming) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let event = match read_message(&mut reader) {
                    Ok(Some(message)) => Incoming::Message { arrived: Instant::now(), message },
                    Ok(None) => Incoming::Closed("its output ended".into()),
                    Err(error) => Incoming::Closed(format!("{error:#}")),
                };
                let closed = matches!(event, Incoming::Closed(_));
                if sender.send(event).is_err() || closed {
                    break;
                }
            }
        });
        Ok(LspServer {
            label: label.to_owned(),
            log_path,
            stdin,
            incoming,
            next_id: 1,
            responses: HashMap::new(),
            status: None,
            error_messages: Vec::new(),
            child,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    fn write(&mut self, message: &Value) -> anyhow::Result<()> {
        let frame = encode(message);
        self.stdin.write_all(&frame).and_then(|()| self.stdin.flush()).with_context(|| {
            format!("writing to {} (did it exit? see {})", self.label, self.log_path.display())
        })
    }

    pub fn notify(&mut self, method: &str, params: Value) -> anyhow::Result<()> {
        self.write(&json!({ "jsonrpc": "2.0", "method": method, "params": params }))
    }

    /// Sends a request without waiting; returns its id and the moment it was written.
    pub fn request(&mut self, method: &str, params: Value) -> anyhow::Result<(i64, Instant)> {
        let id = self.next_id;
        self.next_id += 1;
        self.write(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))?;
        Ok((id, Instant::now()))
    }

    /// Files incoming messages until `deadline`.
    pub fn pump_until(&mut self, deadline: Instant) -> anyhow::Result<()> {
        while self.pump_once(deadline)? {}
        Ok(())
    }

    /// Files at most one incoming message, waiting for it until `deadline`; false when none came.
    fn pump_once(&mut self, deadline: Instant) -> anyhow::Result<bool> {
        let wait = deadline.saturating_duration_since(Instant::now());
        let event = match self.incoming.recv_timeout(wait) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => return Ok(false),
            Err(RecvTimeoutError::Disconnected) => Incoming::Closed("its output ended".into()),
        };
        match event {
            Incoming::Message { arrived, message } => self.file(arrived, message)?,
            Incoming::Closed(why) => {
                bail!("{} stopped talking: {why}; see its log {}", self.label, self.log_path.display())
            }
        }
        Ok(true)
    }

    fn file(&mut self, arrived: Instant, message: Value) -> anyhow::Result<()> {
        let method = message.get("method").and_then(Value::as_str);
        match (method, message.get("id")) {
            (None, Some(id)) => {
                let Some(id) = id.as_i64() else { return Ok(()) };
                let outcome = match message.get("error") {
                    Some(error) => Err(RpcError {
                        code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                        message: error.get("message").and_then(Value::as_str).unwrap_or("").to_owned(),
                    }),
                    None => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
                };
                self.responses.insert(id, Response { arrived, outcome });
            }
            (Some(_), Some(id)) => {
                // A request from the server (registerCapability, workDoneProgress/create…): accept.
                let id = id.clone();
                self.write(&json!({ "jsonrpc": "2.0", "id": id, "result": null }))?;
            }
            (Some("didChangeStatus"), None) => {
                let params = message.get("params").cloned().unwrap_or(Value::Null);
                self.status = Some(Status {
                    kind: params.get("kind").and_then(Value::as_str).unwrap_or("").to_owned(),
                    message: params.get("message").and_then(Value::as_str).unwrap_or("").to_owned(),
                    busy: params.get("busy").and_then(Value::as_bool).unwrap_or(false),
                });
            }
            (Some("window/showMessage"), None) => {
                let params = message.get("params");
                // MessageType 1 is Error.
                if params.and_then(|params| params.get("type")).and_then(Value::as_i64) == Some(1) {
                    let text =
                        params.and_then(|params| params.get("message")).and_then(Value::as_str).unwrap_or("");
                    self.error_messages.push(text.to_owned());
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Waits for the answer to `id`; `what` names it in the timeout error.
    pub fn wait_response(&mut self, id: i64, timeout: Duration, what: &str) -> anyhow::Result<Response> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(response) = self.responses.remove(&id) {
                return Ok(response);
            }
            if !self.pump_once(deadline)? {
                bail!(self.timeout_error(timeout, what));
            }
        }
    }

    /// The response with this id if it arrives within `timeout`; None otherwise.
    pub fn try_response(&mut self, id: i64, timeout: Duration) -> anyhow::Result<Option<Response>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(response) = self.responses.remove(&id) {
                return Ok(Some(response));
            }
            if !self.pump_once(deadline)? {
                return Ok(None);
            }
        }
    }

    /// Waits until `done` holds, filing messages meanwhile.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&LspServer) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            if !self.pump_once(deadline)? {
                bail!(self.timeout_error(timeout, what));
            }
        }
        Ok(())
    }

    fn timeout_error(&self, timeout: Duration, what: &str) -> String {
        format!(
            "timed out after {} s waiting for {what} from {}; see its log {}",
            timeout.as_secs(),
            self.label,
            self.log_path.display()
        )
    }

    /// `shutdown`, `exit`, and waits for the process (killing it after `timeout`).
    pub fn shut_down(mut self, timeout: Duration) -> anyhow::Result<()> {
        let (id, _) = self.request("shutdown", Value::Null)?;
        self.wait_response(id, timeout, "the shutdown answer")?;
        self.notify("exit", Value::Null)?;
        if self.child.wait_or_kill(timeout)?.is_none() {
            bail!(
                "{} did not exit within {} s of exit; killed it (see {})",
                self.label,
                timeout.as_secs(),
                self.log_path.display()
            );
        }
        Ok(())
    }
}

/// `file://` URI of an absolute path, percent-encoding what is not unreserved.
pub fn file_uri(path: &Path) -> anyhow::Result<String> {
    let text = path.to_str().with_context(|| format!("{} is not UTF-8", path.display()))?;
    let mut uri = String::from("file://");
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                uri.push(byte as char)
            }
            other => uri.push_str(&format!("%{other:02X}")),
        }
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_split_on_content_length() {
        let first = json!({ "jsonrpc": "2.0", "id": 1, "result": { "text": "é😀" } });
        let second = json!({ "jsonrpc": "2.0", "method": "didChangeStatus", "params": { "busy": false } });
        let mut bytes = encode(&first);
        // Other headers are allowed, and the header name is case-insensitive.
        bytes.extend_from_slice(b"content-length: ");
        let body = second.to_string();
        bytes.extend_from_slice(
            format!(
                "{}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        let mut reader = &bytes[..];
        assert_eq!(read_message(&mut reader).unwrap(), Some(first));
        assert_eq!(read_message(&mut reader).unwrap(), Some(second));
        assert_eq!(read_message(&mut reader).unwrap(), None);
    }

    #[test]
    fn truncated_or_headerless_frames_are_errors() {
        let frame = encode(&json!({ "id": 1 }));
        let mut truncated = &frame[..frame.len() - 1];
        assert!(read_message(&mut truncated).is_err());
        let mut headerless = &b"\r\n{}"[..];
        assert!(read_message(&mut headerless).is_err());
        let mut huge = &b"Content-Length: 99999999999\r\n\r\n"[..];
        assert!(read_message(&mut huge).is_err());
    }

    #[test]
    fn file_uris_percent_encode() {
        assert_eq!(file_uri(Path::new("/a b/ü.rs")).unwrap(), "file:///a%20b/%C3%BC.rs");
    }
}
