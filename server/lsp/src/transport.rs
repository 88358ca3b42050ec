//! Stdio framing that malformed input cannot stop.
//!
//! tower-lsp-server reads stdin through a framed decoder that ends the stream at the first
//! message it cannot decode, which would end the server on one bad byte. This layer sits between
//! stdio and the LSP service: it reads `Content-Length` frames itself, forwards only messages that
//! are valid JSON-RPC, answers the rest with a JSON-RPC error (`-32700` parse error, `-32600`
//! invalid request), and writes whole frames to stdout so answers never interleave.

use serde_json::{json, Value};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc;

/// Messages larger than this are refused: no LSP message comes near it (a 5 MB file is ~5 MB of
/// JSON), and reading an absurd `Content-Length` would exhaust memory.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;
/// Messages the service works on at once. Completion requests wait for the inference worker; with
/// tower-lsp-server's default of 4, a fifth keystroke's request (and every didChange behind it)
/// would wait for an older request to finish instead of cancelling it. Waiting requests cost only
/// a small future each.
const MAX_MESSAGES_IN_FLIGHT: usize = 1024;
/// Buffer between this layer and the service, in bytes, each way.
const PIPE_BYTES: usize = 1 << 20;

/// What one frame read from the client turned out to be.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// A JSON-RPC request, notification or response: pass it on. `method` is None for responses.
    Message { body: Vec<u8>, method: Option<String> },
    /// Not valid: answer with this error response.
    Invalid(Value),
    /// The client closed its end.
    End,
}

/// Reads the next frame. Bad headers, bad JSON and bad JSON-RPC all yield `Frame::Invalid` and
/// leave the reader at the next frame (for a wrong or missing length, as close as can be guessed).
pub async fn read_frame(reader: &mut (impl AsyncBufRead + Unpin)) -> std::io::Result<Frame> {
    let mut content_length: Option<Result<usize, String>> = None;
    let mut saw_header = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(Frame::End);
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if saw_header {
                break;
            }
            continue;
        }
        saw_header = true;
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                let value = value.trim();
                content_length = Some(
                    value.parse::<usize>().map_err(|_| format!("Content-Length \"{value}\" is not a number")),
                );
            }
        }
    }
    let length = match content_length {
        Some(Ok(length)) if length <= MAX_MESSAGE_BYTES => length,
        Some(Ok(length)) => {
            return Ok(Frame::Invalid(error_response(
                Value::Null,
                -32700,
                &format!("message of {length} bytes is over the {MAX_MESSAGE_BYTES}-byte limit"),
            )))
        }
        Some(Err(why)) => return Ok(Frame::Invalid(error_response(Value::Null, -32700, &why))),
        None => {
            return Ok(Frame::Invalid(error_response(
                Value::Null,
                -32700,
                "message without a Content-Length header",
            )))
        }
    };
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await?;
    Ok(check_body(body))
}

fn check_body(body: Vec<u8>) -> Frame {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(error) => {
            return Frame::Invalid(error_response(Value::Null, -32700, &format!("parse error: {error}")))
        }
    };
    let is_request = serde_json::from_value::<jsonrpc::Request>(value.clone()).is_ok();
    let is_response = !is_request && serde_json::from_value::<jsonrpc::Response>(value.clone()).is_ok();
    if is_request || is_response {
        let method = value.get("method").and_then(Value::as_str).map(str::to_owned);
        return Frame::Message { body, method };
    }
    let id = match value.get("id") {
        Some(id @ (Value::Number(_) | Value::String(_))) => id.clone(),
        _ => Value::Null,
    };
    Frame::Invalid(error_response(
        id,
        -32600,
        "invalid request: expected a JSON-RPC 2.0 object with \"jsonrpc\": \"2.0\" and a \"method\" (or a response with an \"id\")",
    ))
}

fn error_response(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut framed = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    framed.extend_from_slice(body);
    framed
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// A `shutdown` request arrived before the end. Seen here, where messages arrive in order,
    /// rather than in the handler: a client that sends `exit` right behind `shutdown` must still
    /// get exit code 0.
    pub shutdown_received: bool,
}

/// Serves `service` over the given client streams (stdin/stdout in production) through the
/// checking layer. Returns when the service ends (after `exit`) or the client closes its input.
/// The reading loop, the writer and the shutdown bookkeeping share local state, so they stay in
/// one function.
pub async fn serve<S>(
    client_input: impl AsyncRead + Unpin + Send + 'static,
    mut client_output: impl AsyncWrite + Unpin + Send + 'static,
    service: tower_lsp_server::LspService<S>,
    socket: tower_lsp_server::ClientSocket,
) -> Served
where
    S: tower_lsp_server::LanguageServer,
{
    let shutdown_received = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shutdown_seen = std::sync::Arc::clone(&shutdown_received);
    let (to_service, service_input) = tokio::io::duplex(PIPE_BYTES);
    let (service_output, from_service) = tokio::io::duplex(PIPE_BYTES);
    let (errors_sender, mut errors) = mpsc::unbounded_channel::<Vec<u8>>();

    // Client → service: pass valid frames on, answer invalid ones directly.
    let reader = tokio::spawn(async move {
        let mut client_input = BufReader::new(client_input);
        let mut to_service = to_service;
        loop {
            match read_frame(&mut client_input).await {
                Ok(Frame::Message { body, method }) => {
                    if method.as_deref() == Some("shutdown") {
                        shutdown_seen.store(true, std::sync::atomic::Ordering::Release);
                    }
                    if to_service.write_all(&frame(&body)).await.is_err() {
                        return;
                    }
                }
                Ok(Frame::Invalid(response)) => {
                    tracing::warn!("refused a malformed message: {}", response["error"]["message"]);
                    let _ = errors_sender.send(serde_json::to_vec(&response).unwrap_or_default());
                }
                Ok(Frame::End) | Err(_) => return,
            }
        }
    });

    // Service → client, and our own error answers: whole frames only.
    let writer = tokio::spawn(async move {
        let mut from_service = BufReader::new(from_service);
        let (mut service_open, mut errors_open) = (true, true);
        while service_open || errors_open {
            let body = tokio::select! {
                frame_read = read_frame(&mut from_service), if service_open => match frame_read {
                    Ok(Frame::Message { body, .. }) => body,
                    Ok(Frame::Invalid(_)) => continue,
                    Ok(Frame::End) | Err(_) => {
                        service_open = false;
                        // Once the service is gone, answer what is already queued and stop.
                        errors_open = !errors.is_empty();
                        continue;
                    }
                },
                error = errors.recv(), if errors_open => match error {
                    Some(body) => body,
                    None => {
                        errors_open = false;
                        continue;
                    }
                },
            };
            if client_output.write_all(&frame(&body)).await.is_err() || client_output.flush().await.is_err() {
                return;
            }
            if !service_open && errors.is_empty() {
                errors_open = false;
            }
        }
        let _ = client_output.flush().await;
    });

    tower_lsp_server::Server::new(service_input, service_output, socket)
        .concurrency_level(MAX_MESSAGES_IN_FLIGHT)
        .serve(service)
        .await;
    // The service has ended (exit, or the client closed its input): stop reading, let the writer
    // drain what the service wrote.
    reader.abort();
    let _ = writer.await;
    Served { shutdown_received: shutdown_received.load(std::sync::atomic::Ordering::Acquire) }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8]) -> Vec<Frame> {
        let mut reader = BufReader::new(input);
        let mut out = Vec::new();
        loop {
            match read_frame(&mut reader).await.unwrap() {
                Frame::End => return out,
                frame => out.push(frame),
            }
        }
    }

    fn code(frame: &Frame) -> i64 {
        match frame {
            Frame::Invalid(response) => response["error"]["code"].as_i64().unwrap(),
            other => panic!("expected an invalid frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn valid_messages_pass_and_bad_ones_are_answered() {
        let good = br#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#;
        let bad_json = br#"{"jsonrpc":"2.0","id":2,"method":"#;
        let not_rpc = br#"{"id":3,"hello":"world"}"#;
        let mut input = Vec::new();
        for body in [&good[..], &bad_json[..], &not_rpc[..], &good[..]] {
            input.extend(frame(body));
        }
        let frames = frames(&input).await;
        assert_eq!(frames.len(), 4);
        let shutdown = Frame::Message { body: good.to_vec(), method: Some("shutdown".into()) };
        assert_eq!(frames[0], shutdown);
        assert_eq!(code(&frames[1]), -32700);
        assert_eq!(code(&frames[2]), -32600);
        if let Frame::Invalid(response) = &frames[2] {
            assert_eq!(response["id"], json!(3));
        }
        assert_eq!(frames[3], shutdown);
    }

    #[tokio::test]
    async fn bad_headers_are_answered_and_reading_goes_on() {
        let good = br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
        let mut input = b"Content-Length: lots\r\n\r\nContent-Type: x\r\n\r\n".to_vec();
        input.extend(frame(good));
        let frames = frames(&input).await;
        assert_eq!(code(&frames[0]), -32700);
        assert_eq!(code(&frames[1]), -32700);
        assert_eq!(frames[2], Frame::Message { body: good.to_vec(), method: Some("initialized".into()) });
    }
}
