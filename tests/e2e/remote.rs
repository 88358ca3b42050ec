//! A remote backend: the real `wisp` binary pointed at a real llama-server (built from the
//! llama.cpp of llama-cpp-python's sdist by scripts/build-llama-cpp-tools) serving the default
//! model on loopback, through a proxy that injects the failures a shared service has: HTTP 500,
//! garbage, a stall, an answer cut off, the server killed. Each failure gives a clear error and a
//! "Warning" status; Wisp answers again by itself once the server does.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wisp_engine::registry::{self, Registry};
use wisp_tests::client::{first_item, Client};

/// What the proxy does with the next connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Pass,
    Status500,
    Garbage,
    Stall,
    /// Forwards the request, relays the start of the answer, then closes.
    Cut,
}

fn llama_server_binary() -> PathBuf {
    let path = std::env::var_os("WISP_LLAMA_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| wisp_tests::repo_root().join(".bench/llama.cpp/build/bin/llama-server"));
    assert!(
        path.exists(),
        "{} is missing — run ./scripts/build-llama-cpp-tools (./scripts/test runs it) to build llama-server",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct LlamaServer {
    child: Child,
}

impl LlamaServer {
    fn start(port: u16) -> LlamaServer {
        let registry = Registry::builtin();
        let model = registry.default_model().path_in(&registry::models_dir().unwrap());
        let log =
            std::fs::File::create(std::env::temp_dir().join(format!("wisp-e2e-llama-server-{port}.log")))
                .unwrap();
        let child = Command::new(llama_server_binary())
            .args(["-m", model.to_str().unwrap(), "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["-c", "4096", "-np", "2", "-t", "2"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting llama-server");
        let server = LlamaServer { child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while get_status(port, "/health") != Some(200) {
            assert!(Instant::now() < deadline, "llama-server did not become healthy on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// Reads a request's head and body (by its Content-Length).
fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = bytes.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| {
                    line.strip_prefix("content-length:").map(|value| value.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0usize);
            if bytes.len() >= end + 4 + length {
                return bytes;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return bytes,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A proxy in front of llama-server whose behaviour the test switches.
fn start_proxy(upstream: u16, fault: Arc<Mutex<Fault>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut client) = stream else { continue };
            let fault = *fault.lock().unwrap();
            std::thread::spawn(move || {
                let request = read_request(&mut client);
                match fault {
                    Fault::Status500 => {
                        let body =
                            r#"{"error":{"code":500,"message":"injected failure","type":"server_error"}}"#;
                        let _ = write!(
                            client,
                            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                    }
                    Fault::Garbage => {
                        let _ = client.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: <html>upstream error</html>\n\n",
                        );
                    }
                    Fault::Stall => std::thread::sleep(Duration::from_secs(30)),
                    Fault::Pass | Fault::Cut => {
                        let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream)) else {
                            return; // closed without an answer, as a dead server's balancer does
                        };
                        if upstream.write_all(&request).is_err() {
                            return;
                        }
                        let mut chunk = [0u8; 8192];
                        let mut relayed = 0;
                        loop {
                            match upstream.read(&mut chunk) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    let n = if fault == Fault::Cut { n.min(200) } else { n };
                                    if client.write_all(&chunk[..n]).is_err() {
                                        break;
                                    }
                                    relayed += n;
                                    if fault == Fault::Cut && relayed >= 200 {
                                        break;
                                    }
                                }
                            }
                        }
                    }
                }
                let _ = client.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    port
}

const FILE: &str = "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\npub fn sub(a: i32, b: i32) -> i32 {\n    a - b\n}\n\npub fn mul(a: i32, b: i32) -> i32 {\n    a\n}\n";

/// Asks for a suggestion in a fresh document with the same text each time: with the suggestion
/// cache off and only the file as context, the backend answers every time with the same prompt,
/// and greedy decoding gives the same line.
fn ask(client: &mut Client, name: &str) -> Value {
    let uri = format!("file:///tmp/remote-{name}.rs");
    client.open(&uri, "rust", FILE);
    client.inline_completion(&uri, 9, 5)
}

fn assert_suggests(response: &Value) {
    let text = first_item(response).and_then(|item| item["insertText"].as_str()).unwrap_or_default();
    assert!(!text.trim().is_empty(), "expected a suggestion from the remote model: {response}");
}

fn error_of(response: &Value) -> String {
    response["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error: {response}"))
        .to_owned()
}

fn status(client: &mut Client, kind: &'static str, contains: &'static str) -> String {
    let params = client.notification("didChangeStatus", move |params| {
        params["kind"] == json!(kind)
            && params["message"].as_str().is_some_and(|message| message.contains(contains))
    });
    params["params"]["message"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_remote_llama_server_answers_and_wisp_recovers_from_its_failures() {
    let upstream = free_port();
    let mut server = LlamaServer::start(upstream);
    let fault = Arc::new(Mutex::new(Fault::Pass));
    let proxy = start_proxy(upstream, Arc::clone(&fault));

    let mut client = Client::spawn(&[("WISP_LOG", "wisp_complete=debug,wisp_engine=debug")]);
    // A user's two lines (`[model.remote]`, `url = …`) and a token, plus test settings: no
    // retries (each failure shows), a short stall timeout, and every suggestion shown. The debug
    // log (in a failure's message) shows each request's cost.
    client.initialize(
        json!({
            "model": { "remote": {
                "url": format!("http://127.0.0.1:{proxy}"),
                "token": "sk-test-secret",
                "retries": 0,
                "timeout_ms": 1500
            } },
            "completion": { "min_confidence": 0.0, "cache": false },
            "context": { "mode": "file", "index": false },
            "telemetry": { "events": false }
        }),
        json!({}),
    );
    let ready = status(&mut client, "Normal", "backend at");
    assert!(ready.contains(&format!("llama-server backend at http://127.0.0.1:{proxy}")), "{ready}");

    let answer = ask(&mut client, "pass");
    assert_suggests(&answer);

    let set = |value: Fault| *fault.lock().unwrap() = value;
    for (name, injected, expected) in [
        ("status500", Fault::Status500, "HTTP 500: injected failure"),
        ("garbage", Fault::Garbage, "not JSON"),
        ("stall", Fault::Stall, "sent nothing for 2 s"),
    ] {
        set(injected);
        let response = ask(&mut client, name);
        let error = error_of(&response);
        assert!(error.contains(expected), "{name}: {error}");
        let warning = status(&mut client, "Warning", expected);
        assert!(warning.starts_with("suggestions paused"), "{warning}");
        set(Fault::Pass);
        assert_suggests(&ask(&mut client, &format!("{name}-after")));
        status(&mut client, "Normal", "ready: llama-server backend");
    }

    // An answer cut off mid-stream: an error or what arrived, never a hang, then recovery.
    set(Fault::Cut);
    let cut = ask(&mut client, "cut");
    assert!(cut.get("error").is_some() || cut.get("result").is_some(), "{cut}");
    set(Fault::Pass);
    assert_suggests(&ask(&mut client, "cut-after"));

    // The server is killed: requests fail, then the circuit opens and they fail at once.
    drop(server);
    let mut errors = Vec::new();
    for attempt in 0..4 {
        errors.push(error_of(&ask(&mut client, &format!("dead-{attempt}"))));
    }
    assert!(errors.iter().any(|error| error.contains("times in a row; trying it again in")), "{errors:?}");
    let started = Instant::now();
    assert!(error_of(&ask(&mut client, "dead-open")).contains("trying it again"));
    assert!(started.elapsed() < Duration::from_secs(2), "an open circuit answers at once");

    // It comes back on the same port: Wisp answers again by itself.
    server = LlamaServer::start(upstream);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let response = ask(&mut client, &format!("back-{attempt}"));
        if response.get("result").is_some() {
            assert_suggests(&response);
            break;
        }
        assert!(Instant::now() < deadline, "no answer after the server came back: {response}");
        std::thread::sleep(Duration::from_millis(500));
    }
    status(&mut client, "Normal", "ready: llama-server backend");
    assert!(!client.stderr.lock().unwrap().contains("sk-test-secret"), "the token never reaches the log");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
    drop(server);
}

#[test]
fn with_fallback_the_local_model_answers_while_the_backend_is_down() {
    let upstream = free_port();
    let server = LlamaServer::start(upstream);
    // Failing from the start: the API question (GET /props) fails too, so Wisp takes the server
    // for an OpenAI-compatible one and uses llama-server's /v1/completions once it is back.
    let fault = Arc::new(Mutex::new(Fault::Status500));
    let proxy = start_proxy(upstream, Arc::clone(&fault));

    let mut client = Client::spawn(&[("WISP_LOG", "wisp_complete=debug,wisp_engine=debug")]);
    client.initialize(
        json!({
            "model": { "remote": { "url": format!("http://127.0.0.1:{proxy}"), "retries": 0, "fallback": true } },
            "completion": { "min_confidence": 0.0, "cache": false },
            "context": { "mode": "file", "index": false },
            "telemetry": { "events": false }
        }),
        json!({}),
    );
    status(&mut client, "Normal", "backend at");

    // Down: the model in-process answers, and the status says so.
    assert_suggests(&ask(&mut client, "fallback"));
    let warning = status(&mut client, "Warning", "answering with the local model");
    assert!(warning.contains("HTTP 500"), "{warning}");

    // Back: the backend answers again (through its OpenAI-compatible API), and the status is
    // normal again.
    *fault.lock().unwrap() = Fault::Pass;
    assert_suggests(&ask(&mut client, "fallback-back"));
    let ready = status(&mut client, "Normal", "ready:");
    assert!(ready.contains("OpenAI-compatible backend") || ready.contains("backend at"), "{ready}");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
    drop(server);
}
