//! A remote backend: the real `wisp` binary pointed at a real llama-server (built from the
//! llama.cpp of llama-cpp-python's sdist by scripts/build-llama-cpp-tools) serving the default
//! model on loopback, through a proxy that injects the failures a shared service has: HTTP 500,
//! garbage, a stall, an answer cut off, the server killed. Each failure gives a "Warning" status
//! with the reason (and, for a request the user asked for explicitly, the error itself; typing
//! just shows nothing); Wisp answers again by itself once the server does.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wisp_engine::registry::{self, Registry};
use wisp_tests::client::{first_item, inline_params, Client};

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

fn default_model() -> PathBuf {
    let registry = Registry::builtin();
    registry.default_model().path_in(&registry::models_dir().unwrap())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct LlamaServer {
    child: Child,
}

impl LlamaServer {
    fn start(port: u16) -> LlamaServer {
        LlamaServer::start_with(port, &default_model())
    }

    fn start_with(port: u16, model: &std::path::Path) -> LlamaServer {
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
fn read_request(stream: &mut impl Read) -> Vec<u8> {
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

/// A proxy in front of llama-server whose behaviour the test switches. Returns its port and the
/// requests it saw (head and body, as text).
fn start_proxy(upstream: u16, fault: Arc<Mutex<Fault>>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut client) = stream else { continue };
            let fault = *fault.lock().unwrap();
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                let request = read_request(&mut client);
                seen.lock().unwrap().push(String::from_utf8_lossy(&request).into_owned());
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
    (port, requests)
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

/// The same, asked for explicitly (`triggerKind` 1, a user's shortcut): the user waits for
/// this one, so a failure is an error with the reason.
fn ask_invoked(client: &mut Client, name: &str) -> Value {
    let uri = format!("file:///tmp/remote-{name}.rs");
    client.open(&uri, "rust", FILE);
    let mut params = inline_params(&uri, 9, 5);
    params["context"]["triggerKind"] = json!(1);
    client.request("textDocument/inlineCompletion", params)
}

/// While typing, a failing backend shows nothing (the status bar says why): no error per
/// keystroke.
fn assert_quiet(response: &Value) {
    assert!(response.get("error").is_none(), "typing gets no error: {response}");
    assert!(first_item(response).is_none(), "nothing to show: {response}");
}

/// A test's settings for a backend: `remote` as `model.remote`; every suggestion shown, no
/// suggestion cache (each request reaches the backend), only the file as context, no feedback.
fn settings(remote: Value) -> Value {
    json!({
        "model": { "remote": remote },
        "completion": { "min_confidence": 0.0, "cache": false },
        "context": { "mode": "file", "index": false },
        "telemetry": { "events": false }
    })
}

/// Asks again every half second (fresh documents) until the backend suggests: after it comes
/// back, the circuit may still be open for seconds, and typing gets empty answers meanwhile.
fn ask_until_suggested(client: &mut Client, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for attempt in 1.. {
        let response = ask(client, &format!("{name}-{attempt}"));
        if first_item(&response).is_some() {
            assert_suggests(&response);
            return;
        }
        assert!(Instant::now() < deadline, "no suggestion once the backend was up: {response}");
        std::thread::sleep(Duration::from_millis(500));
    }
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
    let (proxy, _) = start_proxy(upstream, Arc::clone(&fault));

    let mut client = Client::spawn(&[("WISP_LOG", "wisp_complete=debug,wisp_engine=debug")]);
    // A user's two lines (`[model.remote]`, `url = …`) and a token, plus test settings: no
    // retries (each failure shows), a short stall timeout, and every suggestion shown. The debug
    // log (in a failure's message) shows each request's cost.
    client.initialize(
        settings(json!({
            "url": format!("http://127.0.0.1:{proxy}"),
            "token": "sk-test-secret",
            "retries": 0,
            "timeout_ms": 1500
        })),
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
        assert_quiet(&ask(&mut client, name));
        let warning = status(&mut client, "Warning", expected);
        assert!(warning.starts_with("suggestions paused"), "{warning}");
        let error = error_of(&ask_invoked(&mut client, &format!("{name}-invoked")));
        assert!(error.contains(expected), "{name}: {error}");
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
        errors.push(error_of(&ask_invoked(&mut client, &format!("dead-{attempt}"))));
    }
    assert!(errors.iter().any(|error| error.contains("times in a row; trying it again in")), "{errors:?}");
    let started = Instant::now();
    assert!(error_of(&ask_invoked(&mut client, "dead-open")).contains("trying it again"));
    assert!(started.elapsed() < Duration::from_secs(2), "an open circuit answers at once");
    // Typing meanwhile: nothing shown, no error, and the status still says why.
    let started = Instant::now();
    assert_quiet(&ask(&mut client, "dead-typing"));
    assert!(started.elapsed() < Duration::from_secs(2), "an open circuit answers typing at once");
    status(&mut client, "Warning", "trying it again");

    // It comes back on the same port: Wisp answers again by itself.
    server = LlamaServer::start(upstream);
    ask_until_suggested(&mut client, "back");
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
    let (proxy, _) = start_proxy(upstream, Arc::clone(&fault));

    let mut client = Client::spawn(&[("WISP_LOG", "wisp_complete=debug,wisp_engine=debug")]);
    client.initialize(
        settings(json!({ "url": format!("http://127.0.0.1:{proxy}"), "retries": 0, "fallback": true })),
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

/// A team's own CA, and a certificate it issued for "localhost": what `ca_file` is for.
struct TestPki {
    ca_pem: String,
    leaf: rustls::pki_types::CertificateDer<'static>,
    leaf_key: rustls::pki_types::PrivateKeyDer<'static>,
}

fn test_pki() -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "Wisp test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf =
        CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&leaf_key, &ca).unwrap();
    TestPki {
        ca_pem: ca.pem(),
        leaf: leaf.der().clone(),
        leaf_key: rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into(),
    }
}

/// A TLS-terminating front (as a team's balancer is) for llama-server: decrypts each request,
/// passes it on, and encrypts the answer as it streams. Keeps each request's head, to check
/// what arrived.
fn start_tls_front(upstream: u16, pki: &TestPki, heads: Arc<Mutex<Vec<String>>>) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.leaf.clone()], pki.leaf_key.clone_key())
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(socket) = stream else { continue };
            let config = Arc::clone(&config);
            let heads = Arc::clone(&heads);
            std::thread::spawn(move || {
                let connection = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, socket);
                // A client that refuses the certificate ends the handshake: nothing is read.
                let request = read_request(&mut tls);
                if request.is_empty() {
                    return;
                }
                let head_end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(request.len());
                heads.lock().unwrap().push(String::from_utf8_lossy(&request[..head_end]).into_owned());
                let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
                if upstream.write_all(&request).is_err() {
                    return;
                }
                let mut chunk = [0u8; 8192];
                while let Ok(n @ 1..) = upstream.read(&mut chunk) {
                    if tls.write_all(&chunk[..n]).and_then(|_| tls.flush()).is_err() {
                        return;
                    }
                }
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    port
}

#[test]
fn a_backend_behind_tls_is_trusted_through_the_teams_ca_file() {
    let upstream = free_port();
    let server = LlamaServer::start(upstream);
    let pki = test_pki();
    let dir = std::env::temp_dir().join(format!("wisp-e2e-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("team-ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let front = start_tls_front(upstream, &pki, Arc::clone(&heads));
    let url = format!("https://localhost:{front}");

    // With the team's CA: the backend is recognised through TLS, answers, and the token
    // travels in the (encrypted) request.
    let mut client = Client::spawn(&[("WISP_BACKEND_TOKEN", "sk-tls-secret")]);
    client.initialize(settings(json!({ "url": url, "ca_file": ca_file, "retries": 0 })), json!({}));
    let ready = status(&mut client, "Normal", "backend at");
    assert!(ready.contains(&format!("llama-server backend at {url}")), "{ready}");
    assert_suggests(&ask(&mut client, "tls"));
    let heads_seen = heads.lock().unwrap().clone();
    assert!(
        heads_seen.iter().any(|head| head.contains("Authorization: Bearer sk-tls-secret")),
        "the token is sent over TLS: {heads_seen:?}"
    );
    assert!(!client.stderr.lock().unwrap().contains("sk-tls-secret"), "the token never reaches the log");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));

    // Without it, the certificate is not trusted: nothing is sent, and the error names the fix.
    heads.lock().unwrap().clear();
    let mut client = Client::spawn(&[]);
    client.initialize(settings(json!({ "url": url, "retries": 0 })), json!({}));
    let warning = status(&mut client, "Warning", "model.remote.ca_file");
    assert!(warning.contains("invalid peer certificate"), "{warning}");
    let error = error_of(&ask_invoked(&mut client, "untrusted"));
    assert!(error.contains("TLS with localhost failed") && error.contains("model.remote.ca_file"), "{error}");
    assert!(heads.lock().unwrap().is_empty(), "no request crossed an untrusted connection");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// The default model with fill-in-the-middle token ids in its metadata, as a code model has
/// them: SmolLM2's own `<file_sep>` and `<repo_name>`, and three of its unused special tokens
/// for prefix, suffix and middle. llama-server then serves `/infill` for it.
fn fim_model(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("smollm2-with-fim.gguf");
    wisp_tests::gguf_edit::with_u32_metadata(
        &default_model(),
        &path,
        &[
            ("tokenizer.ggml.fim_pre_token_id", 8),
            ("tokenizer.ggml.fim_suf_token_id", 9),
            ("tokenizer.ggml.fim_mid_token_id", 10),
            ("tokenizer.ggml.fim_sep_token_id", 5),
            ("tokenizer.ggml.fim_rep_token_id", 3),
        ],
    );
    path
}

const SHAPES: &str = "pub struct Circle {\n    pub radius: f64,\n}\n\npub fn circle_area(circle: &Circle) -> f64 {\n    3.14159 * circle.radius * circle.radius\n}\n";
const USES_SHAPES: &str = "mod shapes;\nuse crate::shapes::Circle;\n\nfn main() {\n    let c = Circle { radius: 2.0 };\n    let area = \n    println!(\"{area}\");\n}\n";

#[test]
fn a_fim_model_on_llama_server_gets_the_suffix_and_other_files_through_infill() {
    let dir = std::env::temp_dir().join(format!("wisp-e2e-infill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in [("src/shapes.rs", SHAPES), ("src/main.rs", USES_SHAPES)] {
        std::fs::create_dir_all(dir.join(path).parent().unwrap()).unwrap();
        std::fs::write(dir.join(path), text).unwrap();
    }
    let model = fim_model(&dir);
    let upstream = free_port();
    let server = LlamaServer::start_with(upstream, &model);
    let (proxy, seen) = start_proxy(upstream, Arc::new(Mutex::new(Fault::Pass)));

    // Two lines of configuration, no vocabulary: Wisp finds that the server lays out FIM itself.
    let mut client = Client::spawn(&[]);
    client.initialize_at(
        &dir,
        json!({
            "model": { "remote": { "url": format!("http://127.0.0.1:{proxy}") } },
            "completion": { "min_confidence": 0.0, "cache": false, "prefetch": false },
            "telemetry": { "events": false }
        }),
        json!({}),
    );
    status(&mut client, "Normal", "llama-server backend at");
    client.wait_for_index(2);
    let uri = format!("file://{}/src/main.rs", dir.display());
    client.open(&uri, "rust", USES_SHAPES);
    seen.lock().unwrap().clear();
    let response = client.inline_completion(&uri, 5, 15);
    assert!(response.get("result").is_some(), "the backend answered: {response}");

    // The model was not trained for FIM, so its text proves nothing; what went over the wire does.
    let requests = seen.lock().unwrap().clone();
    let infill = requests
        .iter()
        .find(|request| request.starts_with("POST /infill "))
        .unwrap_or_else(|| panic!("no /infill request: {requests:#?}"));
    let body: Value = serde_json::from_str(&infill[infill.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert!(
        body["input_prefix"].as_str().unwrap().ends_with("let c = Circle { radius: 2.0 };\n    let area ="),
        "{body}"
    );
    assert!(body["input_suffix"].as_str().unwrap().starts_with("\n    println!(\"{area}\");"), "{body}");
    let extra = body["input_extra"].as_array().unwrap();
    assert!(
        extra.iter().any(|file| file["filename"] == json!("src/shapes.rs")
            && file["text"].as_str().unwrap().contains("pub fn circle_area(circle: &Circle) -> f64")),
        "the definition in another file goes as a file of its own: {body}"
    );
    assert!(!requests.iter().any(|request| request.starts_with("POST /completion ")), "{requests:#?}");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_backend_down_when_wisp_starts_is_learnt_and_used_once_it_is_up() {
    let upstream = free_port();
    let mut client = Client::spawn(&[]);
    client.initialize(
        settings(json!({ "url": format!("http://127.0.0.1:{upstream}"), "retries": 0 })),
        json!({}),
    );
    // Nothing listens yet: the status says so, and typing shows nothing.
    let warning = status(&mut client, "Warning", "cannot reach the backend");
    assert!(warning.contains("model.remote.url"), "{warning}");
    assert_quiet(&ask(&mut client, "down"));

    // The server comes up: Wisp answers by itself, learns which API it speaks, and the warning
    // from the start is over.
    let server = LlamaServer::start(upstream);
    ask_until_suggested(&mut client, "up");
    let ready = status(&mut client, "Normal", "ready:");
    assert!(ready.contains(&format!("llama-server backend at http://127.0.0.1:{upstream}")), "{ready}");
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
    drop(server);
}
